/* op-dataset.c - the dataset ops: "dataset.import", ".list", ".versions"
 *
 * dataset.import hands server-side JSONL shards (or finished uploads,
 * op-upload.c) to version_commit()
 * (version.h), which stores them, writes the manifest and records the
 * version on top of the dataset's newest one. Importing the same shards
 * on top of the same parent gives the same id (the id is the manifest's
 * hash), so a repeated import returns the existing version and adds no
 * rows.
 *
 * "Newest" is defined once, in ref.h. Everything here runs on a DB
 * worker (ops.h) with that worker's store.
 */
#include "ops.h"

#include "ref.h"
#include "sql.h"
#include "store.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check args: *name points into args, *list at "paths" or "uploads"
 * (exactly one of them; *uploads says which). */
static int
import_args(const cJSON *args, const char **name, const cJSON **list,
            bool *uploads, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "name");
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(args, "paths");
    const cJSON *ups = cJSON_GetObjectItemCaseSensitive(args, "uploads");
    const char *key = ups ? "uploads" : "paths";
    const cJSON *p;
    int i = 0;

    if (!cJSON_IsString(v) || !ref_dataset_name_valid(v->valuestring))
        return nh_errorf(err, NH_EINVAL,
                         "'args.name' must be a string of 1-%d bytes without "
                         "spaces, '@' or '/'",
                         REF_DATASET_NAME_MAX);
    *name = v->valuestring;
    if (paths && ups)
        return nh_errorf(err, NH_EINVAL,
                         "give 'args.paths' or 'args.uploads', not both");
    *uploads = ups != NULL;
    *list = ups ? ups : paths;
    if (!cJSON_IsArray(*list) || cJSON_GetArraySize(*list) < 1 ||
        cJSON_GetArraySize(*list) > VERSION_MAX_SHARDS)
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s' must be an array of 1-%d %s", key,
                         VERSION_MAX_SHARDS, ups ? "upload ids" : "paths");
    cJSON_ArrayForEach(p, *list)
    {
        if (!cJSON_IsString(p) || !p->valuestring[0] ||
            (ups && !objstore_hash_valid(p->valuestring)))
            return nh_errorf(err, NH_EINVAL, "'args.%s[%d]' must be %s", key, i,
                             ups ? "an upload id" : "a non-empty string");
        i++;
    }
    return 0;
}

/* The object of each finished upload in ids (n of them), in objects
 * (n hashes in one block); labels[i] is "upload ID". */
static int
import_uploads(sqlite3 *db, const char **ids, size_t n,
               char (*objects)[OBJSTORE_HASH_LEN + 1], char (*labels)[48],
               struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc, src;

    rc = sql_prepare(db, "SELECT object FROM uploads WHERE id = ?1", &st, err);
    for (i = 0; i < n && rc == 0; i++) {
        snprintf(labels[i], sizeof(labels[i]), "upload %s", ids[i]);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            rc = nh_errorf(err, NH_ENOENT, "no upload '%s'", ids[i]);
        else if (src != SQLITE_ROW)
            rc = sql_fail(db, err, "cannot read uploads");
        else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            rc = nh_errorf(err, NH_EINVAL, "upload '%s' is not finished",
                           ids[i]);
        else if (!sql_column_hash(st, 0, objects[i]))
            rc = nh_errorf(err, NH_ECORRUPT, "bad object hash in database");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The result of an import: the version's totals from its rows. */
static int
import_result(sqlite3 *db, const char *name, const char *id, cJSON **out,
              struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *r = NULL;
    int rc, src;

    rc = sql_prepare(db,
                     "SELECT docs, bytes, (SELECT count(*) FROM version_shards"
                     " WHERE version_id = ?1) FROM versions WHERE id = ?1",
                     &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = sql_fail(db, err, "cannot read versions");
        goto out;
    }
    r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "dataset", name) ||
        !cJSON_AddStringToObject(r, "version", id) ||
        !cJSON_AddNumberToObject(r, "docs",
                                 (double)sqlite3_column_int64(st, 0)) ||
        !cJSON_AddNumberToObject(r, "bytes",
                                 (double)sqlite3_column_int64(st, 1)) ||
        !cJSON_AddNumberToObject(r, "shards",
                                 (double)sqlite3_column_int64(st, 2))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = r;
    r = NULL;
out:
    cJSON_Delete(r);
    sqlite3_finalize(st);
    return rc;
}

/* Resolve a server path for import into out (PATH_MAX): it must lie
 * under job->import_root and not in the data directory (the database,
 * admin.token, objects), whatever symlinks say. */
static int
import_path(const struct dbq_job *job, const char *path, char *out,
            struct nh_error *err)
{
    char data[PATH_MAX];
    size_t rl = job->import_root ? strlen(job->import_root) : 0;
    size_t dl;

    if (!job->import_root)
        return nh_errorf(err, NH_EINVAL,
                         "imports from server paths are off (nhd "
                         "--import-root); upload the files instead");
    if (!realpath(path, out))
        return nh_errorf(err, NH_ENOENT, "cannot read '%s': %s", path,
                         strerror(errno));
    if (strncmp(out, job->import_root, rl) ||
        (out[rl] != '/' && !(rl == 1 && out[0] == '/')))
        return nh_errorf(err, NH_EINVAL, "'%s' is outside the import root '%s'",
                         path, job->import_root);
    if (realpath(job->data_dir, data) && (dl = strlen(data)) &&
        !strncmp(out, data, dl) && (out[dl] == '/' || out[dl] == '\0'))
        return nh_errorf(err, NH_EINVAL, "'%s' is inside nhd's data directory",
                         path);
    return 0;
}

void
op_dataset_import(struct store *s, const struct dbq_job *job,
                  struct dbq_result *res)
{
    char id[OBJSTORE_HASH_LEN + 1];
    char(*objects)[OBJSTORE_HASH_LEN + 1] = NULL;
    char(*real)[PATH_MAX] = NULL;
    const char **reals = NULL;
    char(*labels)[48] = NULL;
    const char **names = NULL, **objs = NULL, **labs = NULL;
    struct version_spec spec = {0};
    struct nh_error err = {0};
    const cJSON *arr = NULL, *p;
    cJSON *result = NULL;
    bool uploads = false;
    size_t i = 0;
    int rc;

    rc = import_args(job->args, &spec.dataset, &arr, &uploads, &err);
    if (rc == 0) {
        spec.n = (size_t)cJSON_GetArraySize(arr);
        names = calloc(spec.n, sizeof(*names));
        if (!names)
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        cJSON_ArrayForEach(p, arr) names[i++] = p->valuestring;
        if (uploads) {
            objects = calloc(spec.n, sizeof(*objects));
            labels = calloc(spec.n, sizeof(*labels));
            objs = calloc(spec.n, sizeof(*objs));
            labs = calloc(spec.n, sizeof(*labs));
            if (!objects || !labels || !objs || !labs)
                rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            if (rc == 0)
                rc = import_uploads(store_db(s), names, spec.n, objects, labels,
                                    &err);
            for (i = 0; rc == 0 && i < spec.n; i++) {
                objs[i] = objects[i];
                labs[i] = labels[i];
            }
            spec.objects = objs;
            spec.labels = labs;
        } else {
            real = calloc(spec.n, sizeof(*real));
            reals = calloc(spec.n, sizeof(*reals));
            if (!real || !reals)
                rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            for (i = 0; rc == 0 && i < spec.n; i++) {
                rc = import_path(job, names[i], real[i], &err);
                reals[i] = real[i];
            }
            spec.paths = reals;
            spec.labels = names;
        }
    }
    if (rc == 0)
        rc = version_commit(store_db(s), job->data_dir, &spec, id, &err);
    if (rc == 0)
        rc = import_result(store_db(s), spec.dataset, id, &result, &err);
    free(names);
    free(real);
    free(reals);
    free(objects);
    free(labels);
    free(objs);
    free(labs);
    ops_reply(job, res, rc, result, &err);
}

/* The statements of dataset.list and dataset.versions, kept prepared by
 * the worker's store (store_stmt): parsing them cost more than running
 * them. */
static const char sql_datasets[] =
    "SELECT id, name FROM datasets ORDER BY name";
static const char sql_list_newest[] =
    "SELECT v.id, v.docs, v.bytes,"
    " (SELECT count(*) FROM versions WHERE dataset_id = ?1)"
    " FROM versions v WHERE v.dataset_id = ?1" REF_NEWEST_FIRST " LIMIT 1";
/* One row per version of dataset ?1 (by name), newest first; one row of
 * NULLs for a dataset without versions, none for no such dataset. */
static const char sql_versions[] =
    "SELECT v.id, v.parent, v.docs, v.bytes, v.created, v.job_id"
    " FROM datasets d LEFT JOIN versions v ON v.dataset_id = d.id"
    " WHERE d.name = ?1" REF_NEWEST_FIRST;
static const char sql_tags[] = REF_TAGS_SQL;

/* Add {"name", "versions", "latest", "docs", "bytes"} for dataset ds. */
static int
list_one(struct store *s, int64_t ds, const char *name, cJSON *arr,
         struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    cJSON *o = cJSON_CreateObject();
    int rc, src = SQLITE_DONE;

    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (!cJSON_AddStringToObject(o, "name", name))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = store_stmt(s, sql_list_newest, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, ds);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (!cJSON_AddNumberToObject(o, "versions",
                                     (double)sqlite3_column_int64(st, 3)) ||
            !cJSON_AddStringToObject(
                o, "latest", (const char *)sqlite3_column_text(st, 0)) ||
            !cJSON_AddNumberToObject(o, "docs",
                                     (double)sqlite3_column_int64(st, 1)) ||
            !cJSON_AddNumberToObject(o, "bytes",
                                     (double)sqlite3_column_int64(st, 2)))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        if (!cJSON_AddNumberToObject(o, "versions", 0) ||
            !cJSON_AddNullToObject(o, "latest") ||
            !cJSON_AddNumberToObject(o, "docs", 0) ||
            !cJSON_AddNumberToObject(o, "bytes", 0))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
    } else {
        rc = sql_fail(store_db(s), err, "cannot read versions");
    }
    store_stmt_done(st);
    return rc;
}

void
op_dataset_list(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3_stmt *st = NULL;
    struct nh_error err = {0};
    cJSON *result, *arr;
    int rc, src = SQLITE_DONE;

    result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(result, "datasets");
    if (!result || !arr) {
        ops_reply(job, res, nh_errorf(&err, NH_ENOMEM, "out of memory"), result,
                  &err);
        return;
    }
    /* No BEGIN: while the datasets statement has rows, the connection
     * holds one read transaction, so every list_one() sees its snapshot. */
    rc = store_stmt(s, sql_datasets, &st, &err);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = list_one(s, sqlite3_column_int64(st, 0),
                      (const char *)sqlite3_column_text(st, 1), arr, &err);
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(store_db(s), &err, "cannot read datasets");
    store_stmt_done(st);
    ops_reply(job, res, rc, result, &err);
}

/* Fill arr with the versions of dataset name, newest first. As in
 * dataset.list, the tags are read while the versions statement still has
 * rows, so all of it comes from one snapshot. */
static int
versions_fill(struct store *s, const char *name, cJSON *arr,
              struct nh_error *err)
{
    sqlite3_stmt *st = NULL, *tags_st = NULL;
    cJSON *o, *tags;
    int rc, src = SQLITE_DONE;
    bool any = false;

    rc = store_stmt(s, sql_versions, &st, err);
    if (rc == 0)
        rc = store_stmt(s, sql_tags, &tags_st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        any = true;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue; /* the dataset has no versions */
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            break;
        }
        if (!cJSON_AddStringToObject(
                o, "id", (const char *)sqlite3_column_text(st, 0)) ||
            !(sqlite3_column_type(st, 1) == SQLITE_NULL
                  ? cJSON_AddNullToObject(o, "parent")
                  : cJSON_AddStringToObject(
                        o, "parent",
                        (const char *)sqlite3_column_text(st, 1))) ||
            !cJSON_AddNumberToObject(o, "docs",
                                     (double)sqlite3_column_int64(st, 2)) ||
            !cJSON_AddNumberToObject(o, "bytes",
                                     (double)sqlite3_column_int64(st, 3)) ||
            !cJSON_AddNumberToObject(o, "created",
                                     (double)sqlite3_column_int64(st, 4)) ||
            !(sqlite3_column_type(st, 5) == SQLITE_NULL
                  ? cJSON_AddNullToObject(o, "job")
                  : cJSON_AddNumberToObject(
                        o, "job", (double)sqlite3_column_int64(st, 5))) ||
            !(tags = cJSON_AddArrayToObject(o, "tags")))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        else
            rc = ref_version_tags_st(
                tags_st, (const char *)sqlite3_column_text(st, 0), tags, err);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sql_fail(store_db(s), err, "cannot read versions");
    else if (rc == 0 && !any)
        rc = nh_errorf(err, NH_ENOENT, "no dataset '%s'", name);
    store_stmt_done(st);
    return rc;
}

void
op_dataset_versions(struct store *s, const struct dbq_job *job,
                    struct dbq_result *res)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(job->args, "name");
    struct nh_error err = {0};
    cJSON *result = NULL, *arr;
    int rc;

    if (!cJSON_IsString(name)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.name' must be a string");
        ops_reply(job, res, rc, NULL, &err);
        return;
    }
    result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(result, "versions");
    if (!result || !arr)
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    else
        rc = versions_fill(s, name->valuestring, arr, &err);
    ops_reply(job, res, rc, result, &err);
}
