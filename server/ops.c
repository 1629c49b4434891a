/* ops.c - the table of nhd's database-backed ops and their roles
 *
 * Ops that read or hash whole shards (import, diff, read, upload.finish)
 * are marked heavy: net.c queues them on a separate DB worker.
 *
 * One line per op: its name, the weakest role that may call it and its
 * function (ops.h). net.c checks the caller's role against the line and
 * queues the function on the DB workers; the function answers through
 * ops_reply(), so every op spells its errors the same way.
 */
#include "ops.h"

#include "proto.h"
#include "sql.h"
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct op_desc op_table[] = {
    {"dataset.diff", STORE_ROLE_REVIEWER, op_dataset_diff, OPQ_HEAVY},
    {"dataset.import", STORE_ROLE_ENGINEER, op_dataset_import, OPQ_HEAVY},
    {"dataset.lineage", STORE_ROLE_REVIEWER, op_dataset_lineage, OPQ_QUICK},
    {"dataset.list", STORE_ROLE_REVIEWER, op_dataset_list, OPQ_QUICK},
    {"dataset.read", STORE_ROLE_REVIEWER, op_dataset_read, OPQ_HEAVY},
    {"dataset.show", STORE_ROLE_REVIEWER, op_dataset_show, OPQ_QUICK},
    {"dataset.tag", STORE_ROLE_ENGINEER, op_dataset_tag, OPQ_QUICK},
    {"dataset.versions", STORE_ROLE_REVIEWER, op_dataset_versions, OPQ_QUICK},
    {"job.cancel", STORE_ROLE_ENGINEER, op_job_cancel, OPQ_QUICK},
    {"job.get", STORE_ROLE_REVIEWER, op_job_get, OPQ_QUICK},
    {"job.list", STORE_ROLE_REVIEWER, op_job_list, OPQ_QUICK},
    {"job.logs", STORE_ROLE_REVIEWER, op_job_logs, OPQ_QUICK},
    {"job.resume", STORE_ROLE_ENGINEER, op_job_resume, OPQ_QUICK},
    {"pipeline.run", STORE_ROLE_ENGINEER, op_pipeline_run, OPQ_QUICK},
    {"augment.run", STORE_ROLE_ENGINEER, op_augment_run, OPQ_QUICK},
    {"mix.create", STORE_ROLE_ENGINEER, op_mix_create, OPQ_QUICK},
    {"review.close", STORE_ROLE_ENGINEER, op_review_close, OPQ_QUICK},
    {"review.create", STORE_ROLE_ENGINEER, op_review_create, OPQ_HEAVY},
    {"review.get", STORE_ROLE_REVIEWER, op_review_get, OPQ_QUICK},
    {"review.items", STORE_ROLE_REVIEWER, op_review_items, OPQ_QUICK},
    {"review.list", STORE_ROLE_REVIEWER, op_review_list, OPQ_QUICK},
    {"review.next", STORE_ROLE_REVIEWER, op_review_next, OPQ_WRITE},
    {"review.renew", STORE_ROLE_REVIEWER, op_review_renew, OPQ_WRITE},
    {"review.stats", STORE_ROLE_REVIEWER, op_review_stats, OPQ_QUICK},
    {"review.submit", STORE_ROLE_REVIEWER, op_review_submit, OPQ_WRITE},
    {"review.undo", STORE_ROLE_REVIEWER, op_review_undo, OPQ_WRITE},
    {"train.launch", STORE_ROLE_ENGINEER, op_train_launch, OPQ_QUICK},
    {"train.records", STORE_ROLE_REVIEWER, op_train_records, OPQ_QUICK},
    {"upload.begin", STORE_ROLE_ENGINEER, op_upload_begin, OPQ_QUICK},
    {"upload.chunk", STORE_ROLE_ENGINEER, op_upload_chunk, OPQ_QUICK},
    {"upload.finish", STORE_ROLE_ENGINEER, op_upload_finish, OPQ_HEAVY},
    {"user.add", STORE_ROLE_ADMIN, op_user_add, OPQ_QUICK},
    {"user.revoke", STORE_ROLE_ADMIN, op_user_revoke, OPQ_QUICK},
};

const struct op_desc *
ops_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++)
        if (!strcmp(op_table[i].name, name))
            return &op_table[i];
    return NULL;
}

/* Rank of a role, strongest highest; -1 for an unknown one. */
static int
role_rank(const char *role)
{
    if (!strcmp(role, STORE_ROLE_ADMIN))
        return 2;
    if (!strcmp(role, STORE_ROLE_ENGINEER))
        return 1;
    if (!strcmp(role, STORE_ROLE_REVIEWER))
        return 0;
    return -1;
}

bool
ops_role_allows(const char *have, const char *need)
{
    int h = role_rank(have), n = role_rank(need);

    return h >= 0 && n >= 0 && h >= n;
}

static const char *
error_code(int rc)
{
    switch (rc) {
    case NH_EINVAL:
        return PROTO_EBAD_REQUEST;
    case NH_ENOENT:
        return PROTO_ENOT_FOUND;
    case NH_EEXIST:
        return PROTO_EEXISTS;
    case NH_ECONFLICT:
        return PROTO_ECONFLICT;
    default:
        return PROTO_EINTERNAL;
    }
}

void
ops_reply(const struct dbq_job *job, struct dbq_result *res, int rc,
          cJSON *result, const struct nh_error *err)
{
    if (rc == 0) {
        res->text = proto_result_take(job->has_id, job->id, result, &res->len);
        return;
    }
    res->text =
        proto_error(job->has_id, job->id, error_code(rc),
                    err && err->msg[0] ? err->msg : nh_strerror(rc), &res->len);
    cJSON_Delete(result);
}

void
ops_run(struct store *s, const struct dbq_job *job, struct dbq_result *res,
        ops_txn_fn *fn, enum ops_txn txn)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    cJSON *result = NULL;
    int rc = 0;

    if (txn != OPS_TXN_NONE)
        rc = sql_exec(db, txn == OPS_TXN_WRITE ? "BEGIN IMMEDIATE" : "BEGIN",
                      &err);
    if (rc == 0)
        rc = fn(db, job, &result, &err);
    if (rc == 0 && txn != OPS_TXN_NONE)
        rc = sql_exec(db, "COMMIT", &err);
    if (rc < 0)
        sql_rollback(db);
    ops_reply(job, res, rc, result, &err);
}

static bool
is_int(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

int
ops_arg_id(const cJSON *args, const char *key, int64_t *out,
           struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!is_int(v, 1, 9007199254740992.0))
        return nh_errorf(err, NH_EINVAL, "'args.%s' must be an id", key);
    *out = (int64_t)v->valuedouble;
    return 0;
}

int
ops_arg_int(const cJSON *args, const char *key, int64_t lo, int64_t hi,
            int64_t def, int64_t *out, struct nh_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!is_int(v, (double)lo, (double)hi))
        return nh_errorf(err, NH_EINVAL,
                         "'args.%s' must be an integer from %lld to %lld", key,
                         (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* The HTTP status for a protocol error code. */
static int
http_status(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {
        {PROTO_EBAD_REQUEST, 400}, {PROTO_EBAD_TOKEN, 401},
        {PROTO_EFORBIDDEN, 403},   {PROTO_ENOT_FOUND, 404},
        {PROTO_ECONFLICT, 409},    {PROTO_EEXISTS, 409},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].code, code))
            return map[i].status;
    return 500;
}

/* res->text = {"error": {"code", "message"}} with the matching status. */
static void
http_error(struct dbq_result *res, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

    if (e && cJSON_AddStringToObject(e, "code", code) &&
        cJSON_AddStringToObject(e, "message", message))
        res->text = cJSON_PrintUnformatted(o);
    res->len = res->text ? strlen(res->text) : 0;
    res->http_status = http_status(code);
    cJSON_Delete(o);
}

void
op_http(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    const char *token = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(job->args, "token"));
    const char *name =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job->args, "op"));
    struct dbq_job sub = *job;
    const struct op_desc *op = name ? ops_find(name) : NULL;
    struct store_user user;
    cJSON *reply, *result, *err;
    int rc;

    if (!token || !op) {
        http_error(res, PROTO_EINTERNAL, "bad internal request");
        return;
    }
    rc = store_token_check(s, token, &user);
    if (rc < 0) {
        http_error(res, rc == NH_ENOENT ? PROTO_EBAD_TOKEN : PROTO_EINTERNAL,
                   rc == NH_ENOENT ? "invalid token" : "database error");
        return;
    }
    if (!ops_role_allows(user.role, op->min_role)) {
        http_error(res, PROTO_EFORBIDDEN, "role too weak for this");
        return;
    }
    sub.args = cJSON_GetObjectItemCaseSensitive(job->args, "args");
    sub.has_id = false;
    snprintf(sub.user, sizeof(sub.user), "%s", user.name);
    op->fn(s, &sub, res);
    /* unwrap the protocol envelope the op wrote */
    reply = res->text ? cJSON_ParseWithLength(res->text, res->len) : NULL;
    free(res->text);
    res->text = NULL;
    result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (cJSON_IsObject(result)) {
        res->text = cJSON_PrintUnformatted(result);
        res->len = res->text ? strlen(res->text) : 0;
        res->http_status = 200;
    } else {
        const char *code =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "code"));
        const char *msg = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(err, "message"));

        http_error(res, code ? code : PROTO_EINTERNAL, msg ? msg : "");
    }
    cJSON_Delete(reply);
}
