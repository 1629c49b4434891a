/* op-version.c - ops on one dataset version: "dataset.show",
 * "dataset.lineage", "dataset.tag"
 *
 * Each takes a ref (ref.h) and answers from the versions, version_shards
 * and tags tables inside one read transaction, so a concurrent import or
 * tag move is seen whole or not at all. dataset.tag writes: a tag is a
 * movable name, so tagging again points the tag at the new version.
 * Everything runs on a DB worker (ops.h).
 */
#include "ops.h"

#include "ref.h"
#include "review.h"
#include "sql.h"
#include "store.h"

#include <sqlite3.h>
#include <string.h>

/* The string args.key, or NULL after filling err. */
static const char *
arg_string(const cJSON *args, const char *key, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!cJSON_IsString(v)) {
        nh_errorf(err, NH_EINVAL, "'args.%s' must be a string", key);
        return NULL;
    }
    return v->valuestring;
}

/* Resolve args.ref into *rv inside an open transaction. */
static int
arg_ref(sqlite3 *db, const cJSON *args, struct ref_version *rv,
        struct nh_error *err)
{
    const char *ref = arg_string(args, "ref", err);

    if (!ref)
        return NH_EINVAL;
    return ref_resolve(db, ref, rv, err);
}

/* Add the shards of version id to obj as "shards". */
static int
show_shards(sqlite3 *db, const char *id, cJSON *obj, struct nh_error *err)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "shards"), *o;
    sqlite3_stmt *st = NULL;
    int rc, src = SQLITE_DONE;

    if (!arr)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = sql_prepare(db,
                     "SELECT object, docs, bytes FROM version_shards"
                     " WHERE version_id = ?1 ORDER BY seq",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (!sql_add_column(o, "object", st, 0) ||
            !sql_add_column(o, "docs", st, 1) ||
            !sql_add_column(o, "bytes", st, 2))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read version shards");
    sqlite3_finalize(st);
    return rc;
}

/* Add "parents": every parent of version id in order (version_parents,
 * for a mixture), or [parent] / [] for a version with one or none. */
static int
show_parents(sqlite3 *db, const char *id, cJSON *obj, struct nh_error *err)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "parents");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "parent");
    sqlite3_stmt *st = NULL;
    int rc, src;

    if (!arr)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = sql_prepare(db,
                     "SELECT parent FROM version_parents WHERE version_id = ?1"
                     " ORDER BY seq",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        if (!cJSON_AddItemToArray(
                arr,
                cJSON_CreateString((const char *)sqlite3_column_text(st, 0)))) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read version parents");
    sqlite3_finalize(st);
    if (rc == 0 && cJSON_GetArraySize(arr) == 0 && cJSON_IsString(p) &&
        !cJSON_AddItemToArray(arr, cJSON_CreateString(p->valuestring)))
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    return rc;
}

/* Add "mix": the report of the mix job that made version id, if one did. */
static int
show_mix(sqlite3 *db, const char *id, cJSON *obj, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sql_prepare(db,
                         "SELECT j.stats FROM versions v JOIN jobs j"
                         " ON j.id = v.job_id WHERE v.id = ?1"
                         " AND j.kind = 'mix' AND j.stats IS NOT NULL",
                         &st, err);

    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *m = cJSON_Parse((const char *)sqlite3_column_text(st, 0));

        if (m && !cJSON_AddItemToObject(obj, "mix", m)) {
            cJSON_Delete(m);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int
show(sqlite3 *db, const struct dbq_job *job, cJSON **out, struct nh_error *err)
{
    const cJSON *args = job->args;
    struct ref_version rv;
    sqlite3_stmt *st = NULL;
    cJSON *r = NULL, *tags, *review = NULL;
    int rc, src;

    rc = arg_ref(db, args, &rv, err);
    if (rc < 0)
        return rc;
    rc = sql_prepare(db,
                     "SELECT parent, job_id, config_hash, tool_version, docs,"
                     " bytes, created FROM versions WHERE id = ?1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, rv.version, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = sql_fail(db, err, "cannot read versions");
        goto out;
    }
    r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "dataset", rv.dataset) ||
        !cJSON_AddStringToObject(r, "version", rv.version) ||
        !sql_add_column(r, "parent", st, 0) ||
        !sql_add_column(r, "job", st, 1) ||
        !sql_add_column(r, "config_hash", st, 2) ||
        !sql_add_column(r, "tool_version", st, 3) ||
        !sql_add_column(r, "docs", st, 4) ||
        !sql_add_column(r, "bytes", st, 5) ||
        !sql_add_column(r, "created", st, 6) ||
        !(tags = cJSON_AddArrayToObject(r, "tags"))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = ref_version_tags(db, rv.version, tags, err);
    if (rc == 0)
        rc = show_shards(db, rv.version, r, err);
    if (rc == 0 &&
        (rc = review_of_version(db, rv.version, &review, err)) == 0 &&
        !cJSON_AddItemToObject(r, "review",
                               review ? review : cJSON_CreateNull())) {
        cJSON_Delete(review);
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0 && (rc = show_parents(db, rv.version, r, err)) == 0)
        rc = show_mix(db, rv.version, r, err);
    if (rc == 0) {
        *out = r;
        r = NULL;
    }
out:
    cJSON_Delete(r);
    sqlite3_finalize(st);
    return rc;
}

/* o.parents: column col (a JSON array of version_parents), or when that
 * is empty [column pcol] or []. false when out of memory. */
static bool
add_parents(cJSON *o, sqlite3_stmt *st, int col, int pcol)
{
    const char *j = (const char *)sqlite3_column_text(st, col);
    cJSON *arr = j ? cJSON_Parse(j) : NULL;

    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        arr = cJSON_CreateArray();
    }
    if (arr && !cJSON_GetArraySize(arr) &&
        sqlite3_column_type(st, pcol) == SQLITE_TEXT &&
        !cJSON_AddItemToArray(
            arr,
            cJSON_CreateString((const char *)sqlite3_column_text(st, pcol)))) {
        cJSON_Delete(arr);
        return false;
    }
    return arr && cJSON_AddItemToObject(o, "parents", arr);
}

/* o.runs: the train jobs (op-train.c) on version id, oldest first. */
static int
version_runs(sqlite3 *db, const char *id, cJSON *o, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *runs = cJSON_AddArrayToObject(o, "runs"), *r;
    int rc, src;

    if (!runs)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = sql_prepare(db,
                     "SELECT r.job_id, j.state, r.tokenizer_hash, r.tokens,"
                     " r.last_step, r.last_loss, r.restarts"
                     " FROM train_runs r JOIN jobs j ON j.id = r.job_id"
                     " WHERE r.version_id = ?1 ORDER BY r.job_id",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        r = cJSON_CreateObject();
        if (!r || !cJSON_AddItemToArray(runs, r)) {
            cJSON_Delete(r);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (!sql_add_column(r, "job", st, 0) ||
            !sql_add_column(r, "state", st, 1) ||
            !sql_add_column(r, "tokenizer_hash", st, 2) ||
            !sql_add_column(r, "tokens", st, 3) ||
            !sql_add_column(r, "last_step", st, 4) ||
            !sql_add_column(r, "last_loss", st, 5) ||
            !sql_add_column(r, "restarts", st, 6)) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read runs");
    sqlite3_finalize(st);
    return rc;
}

/* Every version of the ref's dataset and all their ancestors (through
 * every parent of a mixture), oldest first. */
static int
lineage(sqlite3 *db, const struct dbq_job *job, cJSON **out,
        struct nh_error *err)
{
    const cJSON *args = job->args;
    struct ref_version rv;
    sqlite3_stmt *st = NULL;
    cJSON *r = NULL, *nodes, *o, *tags;
    int rc, src = SQLITE_DONE;

    rc = arg_ref(db, args, &rv, err);
    if (rc < 0)
        return rc;
    r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "root", rv.version) ||
        !(nodes = cJSON_AddArrayToObject(r, "nodes"))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    rc = sql_prepare(
        db,
        "WITH RECURSIVE anc(id) AS ("
        " SELECT id FROM versions WHERE dataset_id = ?1"
        " UNION SELECT v.parent FROM versions v JOIN anc a ON v.id = a.id"
        "  WHERE v.parent IS NOT NULL"
        " UNION SELECT p.parent FROM version_parents p"
        "  JOIN anc a ON p.version_id = a.id) "
        "SELECT v.id, d.name, v.parent, v.job_id, v.config_hash, v.docs,"
        " v.bytes, v.created, (SELECT json_group_array(parent) FROM"
        "  (SELECT parent FROM version_parents WHERE version_id = v.id"
        "   ORDER BY seq)) FROM anc JOIN versions v ON v.id = anc.id"
        " JOIN datasets d ON d.id = v.dataset_id ORDER BY v.created, v.id",
        &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(st, 1, rv.dataset_id);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(nodes, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (!sql_add_column(o, "id", st, 0) ||
            !sql_add_column(o, "dataset", st, 1) ||
            !sql_add_column(o, "parent", st, 2) ||
            !sql_add_column(o, "job", st, 3) ||
            !sql_add_column(o, "config_hash", st, 4) ||
            !sql_add_column(o, "docs", st, 5) ||
            !sql_add_column(o, "bytes", st, 6) ||
            !sql_add_column(o, "created", st, 7) || !add_parents(o, st, 8, 2) ||
            !(tags = cJSON_AddArrayToObject(o, "tags")))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        else if ((rc = ref_version_tags(
                      db, (const char *)sqlite3_column_text(st, 0), tags,
                      err)) == 0)
            rc = version_runs(db, (const char *)sqlite3_column_text(st, 0), o,
                              err);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot read versions");
    if (rc == 0) {
        *out = r;
        r = NULL;
    }
out:
    cJSON_Delete(r);
    sqlite3_finalize(st);
    return rc;
}

/* Point args.tag of the ref's dataset at the ref's version. */
static int
tag(sqlite3 *db, const struct dbq_job *job, cJSON **out, struct nh_error *err)
{
    const cJSON *args = job->args;
    struct ref_version rv;
    sqlite3_stmt *st = NULL;
    const char *name;
    cJSON *r = NULL;
    int rc;

    name = arg_string(args, "tag", err);
    if (!name)
        return NH_EINVAL;
    if (!ref_tag_valid(name))
        return nh_errorf(err, NH_EINVAL,
                         "bad tag '%.200s': 1-%d bytes of [A-Za-z0-9._-], not "
                         "%d or more hex digits only",
                         name, REF_TAG_MAX, REF_PREFIX_MIN);
    rc = arg_ref(db, args, &rv, err);
    if (rc < 0)
        return rc;
    rc = sql_prepare(db,
                     "INSERT INTO tags (dataset_id, name, version_id)"
                     " VALUES (?1, ?2, ?3) ON CONFLICT (dataset_id, name)"
                     " DO UPDATE SET version_id = excluded.version_id",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, rv.dataset_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rv.version, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, err, "cannot set tag");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "dataset", rv.dataset) ||
        !cJSON_AddStringToObject(r, "tag", name) ||
        !cJSON_AddStringToObject(r, "version", rv.version)) {
        cJSON_Delete(r);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

void
op_dataset_show(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    ops_run(s, job, res, show, OPS_TXN_READ);
}

void
op_dataset_lineage(struct store *s, const struct dbq_job *job,
                   struct dbq_result *res)
{
    ops_run(s, job, res, lineage, OPS_TXN_READ);
}

void
op_dataset_tag(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    ops_run(s, job, res, tag, OPS_TXN_WRITE);
}
