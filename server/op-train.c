/* op-train.c - the train ops: "train.launch" and "train.records"
 *
 * train.launch checks its arguments, reads the model config (inline, or
 * a server file below the import root) and hashes the tokenizer file,
 * then queues a job of kind 'train' with one train_runs row linking it
 * to the version, the version's pipeline config hash and its run
 * directory DATA/runs/ID; jobs-train.c runs it. train.records pages
 * through what the run reported (train_records), the same records the
 * train.metrics and train.supervisor events carry. Shapes in
 * docs/PROTOCOL.md.
 */
#include "ops.h"

#include "hash.h"
#include "jobs.h"
#include "ref.h"
#include "sql.h"
#include "strbuf.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAX (1 << 20)        /* bytes of a model config file */
#define TOKENIZER_MAX (256u << 20) /* bytes of a tokenizer file */
#define RECORDS_MAX 10000

static int
db_fail(sqlite3 *db, struct nh_error *err)
{
    return nh_errorf(err, NH_EIO, "database: %s", sqlite3_errmsg(db));
}

/* A server file for args.key in out (PATH_MAX): below the import root,
 * not in the data directory. */
static int
server_path(const struct dbq_job *job, const char *key, const char *path,
            char *out, struct nh_error *err)
{
    char data[PATH_MAX];
    size_t rl = job->import_root ? strlen(job->import_root) : 0, dl;

    if (!job->import_root)
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s': server paths are off (nhd --import-root)",
                         key);
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

/* The file's bytes (at most max) in sb, or its XXH3-128 in hash. */
static int
read_whole(const char *path, size_t max, struct strbuf *sb, char hash[33],
           struct nh_error *err)
{
    FILE *f = fopen(path, "re");
    struct nh_hash_state *hs = hash ? nh_hash128_begin() : NULL;
    char buf[65536];
    size_t n, total = 0;
    int rc = 0;

    if (!f) {
        rc = nh_error_errno(err, "cannot open '%s'", path);
        goto out;
    }
    if (hash && !hs) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        total += n;
        if (total > max) {
            rc = nh_errorf(err, NH_EINVAL, "'%s' is over %zu bytes", path, max);
            goto out;
        }
        if (hs)
            nh_hash128_update(hs, buf, n);
        if (sb && strbuf_add(sb, buf, n) < 0) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (ferror(f))
        rc = nh_error_errno(err, "cannot read '%s'", path);
out:
    if (hs) {
        struct nh_h128 h = nh_hash128_end(hs);

        if (rc == 0)
            nh_h128_hex(h, hash);
    }
    if (f)
        fclose(f);
    return rc;
}

/* args.model: an object, or a server path of a JSON object. */
static int
load_model(const struct dbq_job *job, cJSON **out, struct nh_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(job->args, "model");
    struct strbuf sb;
    char path[PATH_MAX];
    int rc;

    if (cJSON_IsObject(m)) {
        *out = cJSON_Duplicate(m, 1);
        return *out ? 0 : nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if (!cJSON_IsString(m))
        return nh_errorf(err, NH_EINVAL,
                         "'args.model' must be a model config object or a "
                         "server path");
    if ((rc = server_path(job, "model", m->valuestring, path, err)) < 0)
        return rc;
    strbuf_init(&sb, MODEL_MAX + 1);
    if ((rc = read_whole(path, MODEL_MAX, &sb, NULL, err)) == 0) {
        *out = cJSON_ParseWithLength(strbuf_str(&sb), sb.len);
        if (!cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = nh_errorf(err, NH_EINVAL, "'%s' is not a JSON object",
                           m->valuestring);
        }
    }
    strbuf_release(&sb);
    return rc;
}

/* Copy optional number args.key (lo..hi) into to. */
static int
copy_num(const cJSON *args, const char *key, double lo, double hi, cJSON *to,
         struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return nh_errorf(err, NH_EINVAL, "'args.%s' must be a number %g..%g",
                         key, lo, hi);
    if (!cJSON_AddNumberToObject(to, key, v->valuedouble))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    return 0;
}

static int
insert_train(sqlite3 *db, const struct dbq_job *job,
             const struct ref_version *rv, const char *args,
             const char *tok_hash, int64_t *id, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    char run[PATH_MAX];
    int rc = 0;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO jobs (kind, state, args, dataset,"
                           " input, user) VALUES ('train', 'queued', ?1,"
                           " ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err);
    sqlite3_bind_text(st, 1, args, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rv->dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rv->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, job->user, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(db, err);
        goto out;
    }
    *id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    st = NULL;
    snprintf(run, sizeof(run), "runs/%lld", (long long)*id);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO train_runs (job_id, version_id,"
                           " config_hash, tokenizer_hash, run_dir)"
                           " SELECT ?1, id, config_hash, ?2, ?3 FROM versions"
                           " WHERE id = ?4",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, *id);
    sqlite3_bind_text(st, 2, tok_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, run, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, rv->version, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(db, err);
out:
    sqlite3_finalize(st);
    return rc;
}

void
op_train_launch(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    const cJSON *a = job->args;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "ref");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(a, "tokenizer");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(a, "vocab");
    const cJSON *fault = cJSON_GetObjectItemCaseSensitive(a, "fault");
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(a, "plan");
    struct nh_error err = {0};
    struct ref_version rv;
    cJSON *model = NULL, *args = NULL, *result = NULL;
    char tokpath[PATH_MAX], planpath[PATH_MAX], hash[33], *text = NULL;
    bool in_txn = false;
    int64_t id = 0;
    int rc;

    if (!cJSON_IsString(ref)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.ref' must be a string");
        goto out;
    }
    if (!tok == !vocab) {
        rc = nh_errorf(&err, NH_EINVAL,
                       "give one of 'args.tokenizer' and 'args.vocab'");
        goto out;
    }
    if (tok && !cJSON_IsString(tok)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.tokenizer' must be a path");
        goto out;
    }
    if (fault && (!cJSON_IsString(fault) || strlen(fault->valuestring) > 200 ||
                  strpbrk(fault->valuestring, "\n\r"))) {
        rc = nh_errorf(&err, NH_EINVAL,
                       "'args.fault' must be an NH_FAULT "
                       "string");
        goto out;
    }
    if (plan && !cJSON_IsString(plan)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.plan' must be a path");
        goto out;
    }
    if ((rc = ref_resolve(db, ref->valuestring, &rv, &err)) < 0 ||
        (rc = load_model(job, &model, &err)) < 0)
        goto out;
    if (tok &&
        ((rc = server_path(job, "tokenizer", tok->valuestring, tokpath, &err)) <
             0 ||
         (rc = read_whole(tokpath, TOKENIZER_MAX, NULL, hash, &err)) < 0))
        goto out;
    if (plan &&
        (rc = server_path(job, "plan", plan->valuestring, planpath, &err)) < 0)
        goto out;
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "ref", ref->valuestring) ||
        !cJSON_AddStringToObject(args, "input", rv.version) ||
        !cJSON_AddStringToObject(args, "dataset", rv.dataset) ||
        !cJSON_AddItemToObject(args, "model", model) ||
        (tok && (!cJSON_AddStringToObject(args, "tokenizer", tokpath) ||
                 !cJSON_AddStringToObject(args, "tokenizer_hash", hash))) ||
        (fault &&
         !cJSON_AddStringToObject(args, "fault", fault->valuestring)) ||
        (plan && !cJSON_AddStringToObject(args, "plan", planpath))) {
        if (!cJSON_GetObjectItemCaseSensitive(args, "model"))
            cJSON_Delete(model);
        model = NULL;
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    model = NULL;
    if ((rc = copy_num(a, "vocab", 257, 1 << 20, args, &err)) < 0 ||
        (rc = copy_num(a, "np", 1, 64, args, &err)) < 0 ||
        (rc = copy_num(a, "steps", 1, 1e9, args, &err)) < 0 ||
        (rc = copy_num(a, "batch", 1, 1 << 20, args, &err)) < 0 ||
        (rc = copy_num(a, "seq", 1, 1 << 20, args, &err)) < 0 ||
        (rc = copy_num(a, "lr", 0, 10, args, &err)) < 0 ||
        (rc = copy_num(a, "ckpt_every", 0, 1e9, args, &err)) < 0 ||
        (rc = copy_num(a, "threads", 1, 1024, args, &err)) < 0)
        goto out;
    if (!(text = cJSON_PrintUnformatted(args))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    in_txn = true;
    if ((rc = insert_train(db, job, &rv, text, tok ? hash : NULL, &id, &err)) <
        0)
        goto out;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    in_txn = false;
    jobs_publish_state(job->jobs, db, id);
    jobs_kick(job->jobs);
    rc = job_summary(db, id, 0, &result, &err);
out:
    if (in_txn)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    free(text);
    cJSON_Delete(model);
    cJSON_Delete(args);
    ops_reply(job, res, rc, result, &err);
}

void
op_train_records(struct store *s, const struct dbq_job *job,
                 struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL, *arr, *run;
    int64_t id, after, limit, next;
    int rc, src;

    if ((rc = ops_arg_id(job->args, "job", &id, &err)) < 0 ||
        (rc = ops_arg_int(job->args, "after", -1, INT64_MAX / 2, -1, &after,
                          &err)) < 0 ||
        (rc = ops_arg_int(job->args, "limit", 1, RECORDS_MAX, 1000, &limit,
                          &err)) < 0)
        goto out;
    next = after;
    if (sqlite3_prepare_v2(db,
                           "SELECT version_id, config_hash, tokenizer_hash,"
                           " tokens, run_dir, pid, last_step, last_loss,"
                           " restarts FROM train_runs WHERE job_id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((src = sqlite3_step(st)) != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? nh_errorf(&err, NH_ENOENT,
                                            "no train job %lld", (long long)id)
                                : db_fail(db, &err);
        goto out;
    }
    result = cJSON_CreateObject();
    run = cJSON_CreateObject();
    if (!result || !run || !cJSON_AddItemToObject(result, "run", run) ||
        !sql_add_column(run, "version", st, 0) ||
        !sql_add_column(run, "config_hash", st, 1) ||
        !sql_add_column(run, "tokenizer_hash", st, 2) ||
        !sql_add_column(run, "tokens", st, 3) ||
        !sql_add_column(run, "run_dir", st, 4) ||
        !sql_add_column(run, "pid", st, 5) ||
        !sql_add_column(run, "last_step", st, 6) ||
        !sql_add_column(run, "last_loss", st, 7) ||
        !sql_add_column(run, "restarts", st, 8) ||
        !cJSON_AddNumberToObject(result, "job", (double)id) ||
        !(arr = cJSON_AddArrayToObject(result, "records"))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, source, record FROM train_records"
                           " WHERE job_id = ?1 AND seq > ?2 ORDER BY seq"
                           " LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        next = sqlite3_column_int64(st, 0);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            goto out;
        }
        if (!sql_add_column(o, "seq", st, 0) ||
            !sql_add_column(o, "source", st, 1) ||
            !sql_add_json_column(o, "record", st, 2)) {
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(db, &err);
        goto out;
    }
    if (!cJSON_AddNumberToObject(result, "next", (double)next))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    ops_reply(job, res, rc, result, &err);
}
