/* op-job.c - the job ops: "pipeline.run", "job.list", ".get", ".cancel",
 * ".resume", ".logs", and the database half of "subscribe"
 *
 * These ops only read and write job rows (shapes in docs/PROTOCOL.md);
 * the supervisor (jobs.h) runs the children. pipeline.run checks the
 * config with the pipeline's own parser before anything is queued, so a
 * bad config is a bad_request naming the field, not a failed job.
 * Versions hold plain JSONL, so the config's "compression" is set to
 * "none" before it is stored; the config hash is the pipeline's own
 * (pipeline/driver.h), as in nh-clean's stats.json.
 */
#include "ops.h"

#include "driver.h"
#include "jobs.h"
#include "ref.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_LIST_MAX 1000
#define JOB_LOGS_MAX 10000

static int
db_fail(sqlite3 *db, struct nh_error *err)
{
    return nh_errorf(err, NH_EIO, "database: %s", sqlite3_errmsg(db));
}

/* Check the config with the pipeline's parser; store the one to run in
 * *conf (compression off) and its hash in hash. */
static int
check_config(const cJSON *config, cJSON **conf, char hash[33],
             struct nh_error *err)
{
    struct pipeline p;
    cJSON *c;
    char *text;
    int rc;

    if (!cJSON_IsObject(config))
        return nh_errorf(err, NH_EINVAL, "'args.config' must be an object");
    c = cJSON_Duplicate(config, 1);
    if (!c)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(c, "compression");
    if (!cJSON_AddStringToObject(c, "compression", "none") ||
        !(text = cJSON_PrintUnformatted(c))) {
        cJSON_Delete(c);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    memset(&p, 0, sizeof(p));
    rc = pipeline_parse(&p, text, strlen(text), "args.config", err);
    if (rc == 0)
        memcpy(hash, p.config_hash, 33);
    else if (rc != NH_ENOMEM)
        rc = NH_EINVAL;
    pipeline_release(&p);
    free(text);
    if (rc < 0) {
        cJSON_Delete(c);
        return rc;
    }
    *conf = c;
    return 0;
}

int
ops_insert_job(sqlite3 *db, const struct dbq_job *job, const char *kind,
               const char *dataset, const char *input, const char *args,
               int64_t *id, struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO jobs (kind, state, args, dataset,"
                           " input, user) VALUES (?5, 'queued', ?1,"
                           " ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err);
    sqlite3_bind_text(st, 1, args, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dataset, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, job->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(db, err);
    else
        *id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return rc;
}

void
op_pipeline_run(struct store *s, const struct dbq_job *job,
                struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(job->args, "ref");
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(job->args, "output");
    struct nh_error err = {0};
    struct ref_version rv;
    cJSON *conf = NULL, *args = NULL, *result = NULL;
    char hash[33], *text = NULL;
    int64_t id = 0;
    int rc;

    if (!cJSON_IsString(ref)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.ref' must be a string");
        goto out;
    }
    if (output && (!cJSON_IsString(output) ||
                   !ref_dataset_name_valid(output->valuestring))) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.output' must be a dataset name");
        goto out;
    }
    if ((rc = ref_resolve(db, ref->valuestring, &rv, &err)) < 0 ||
        (rc =
             check_config(cJSON_GetObjectItemCaseSensitive(job->args, "config"),
                          &conf, hash, &err)) < 0)
        goto out;
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddStringToObject(args, "ref", ref->valuestring) ||
        !cJSON_AddStringToObject(args, "input", rv.version) ||
        !cJSON_AddStringToObject(args, "dataset", rv.dataset) ||
        !cJSON_AddStringToObject(args, "output",
                                 output ? output->valuestring : rv.dataset) ||
        !cJSON_AddStringToObject(args, "config_hash", hash) ||
        !cJSON_AddItemToObject(args, "config", conf)) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    conf = NULL;
    if (!(text = cJSON_PrintUnformatted(args))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ops_insert_job(db, job, "pipeline", rv.dataset, rv.version, text,
                             &id, &err)) < 0)
        goto out;
    jobs_publish_state(job->jobs, db, id);
    jobs_kick(job->jobs);
    rc = job_summary(db, id, 0, &result, &err);
out:
    free(text);
    cJSON_Delete(conf);
    cJSON_Delete(args);
    ops_reply(job, res, rc, result, &err);
}

void
op_job_list(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    static const char *const states[] = {"queued", "running",   "succeeded",
                                         "failed", "cancelled", "interrupted"};
    sqlite3 *db = store_db(s);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(job->args, "state");
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL, *arr;
    int64_t limit = 0, running = 0, queued = 0;
    int rc, src;

    if (state) {
        size_t i;

        for (i = 0; cJSON_IsString(state) && i < 6; i++)
            if (!strcmp(state->valuestring, states[i]))
                break;
        if (!cJSON_IsString(state) || i == 6) {
            rc = nh_errorf(&err, NH_EINVAL, "'args.state' must be a job state");
            goto out;
        }
    }
    if ((rc = ops_arg_int(job->args, "limit", 1, JOB_LIST_MAX, 50, &limit,
                          &err)) < 0)
        goto out;
    result = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(result, "jobs");
    if (!arr) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT id FROM jobs WHERE ?1 IS NULL OR state = ?1"
                           " ORDER BY id DESC LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    if (state)
        sqlite3_bind_text(st, 1, state->valuestring, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *one = NULL;

        if ((rc = job_summary(db, sqlite3_column_int64(st, 0), 0, &one, &err)) <
            0)
            goto out;
        cJSON_AddItemToArray(arr, one);
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(db, &err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FILTER (WHERE state = 'running'),"
                           " count(*) FILTER (WHERE state = 'queued')"
                           " FROM jobs",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = db_fail(db, &err);
        goto out;
    }
    running = sqlite3_column_int64(st, 0);
    queued = sqlite3_column_int64(st, 1);
    if (!cJSON_AddNumberToObject(result, "running", (double)running) ||
        !cJSON_AddNumberToObject(result, "queued", (double)queued) ||
        !cJSON_AddNumberToObject(result, "max_running",
                                 jobs_max_running(job->jobs)))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    ops_reply(job, res, rc, result, &err);
}

void
op_job_get(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    struct nh_error err = {0};
    cJSON *result = NULL;
    int64_t id;
    int rc;

    if ((rc = ops_arg_id(job->args, "job", &id, &err)) == 0)
        rc = job_summary(store_db(s), id, 1, &result, &err);
    ops_reply(job, res, rc, result, &err);
}

/* UPDATE one job's state with sql (?1 = id) inside a transaction that
 * first reads the state; NH_ECONFLICT when the job is in none of the
 * states sql accepts. The old state in old. */
static int
change_state(sqlite3 *db, int64_t id, const char *sql, char old[16],
             struct nh_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, err);
    if (sqlite3_prepare_v2(db, "SELECT state FROM jobs WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_fail(db, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = nh_errorf(err, NH_ENOENT, "no job %lld", (long long)id);
        goto out;
    }
    snprintf(old, 16, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(db, err);
    else if (sqlite3_changes(db) != 1)
        rc = nh_errorf(err, NH_ECONFLICT, "job %lld is %s", (long long)id, old);
out:
    sqlite3_finalize(st);
    sqlite3_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* job.cancel and job.resume: move job args.job with sql (change_state),
 * publish the change and tell the supervisor: kill the child, or remove
 * the work files of a job that has none (cancel); look at the queue
 * (resume). */
static void
job_move(struct store *s, const struct dbq_job *job, struct dbq_result *res,
         const char *sql, bool cancel)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    cJSON *result = NULL;
    char old[16];
    int64_t id;
    int rc;

    if ((rc = ops_arg_id(job->args, "job", &id, &err)) < 0 ||
        (rc = change_state(db, id, sql, old, &err)) < 0)
        goto out;
    if (cancel)
        jobs_cancel(job->jobs, id);
    else
        jobs_kick(job->jobs);
    jobs_publish_state(job->jobs, db, id);
    rc = job_summary(db, id, 0, &result, &err);
out:
    ops_reply(job, res, rc, result, &err);
}

void
op_job_cancel(struct store *s, const struct dbq_job *job,
              struct dbq_result *res)
{
    job_move(s, job, res,
             "UPDATE jobs SET state = 'cancelled', ended = unixepoch()"
             " WHERE id = ?1 AND state IN ('queued', 'running',"
             " 'interrupted')",
             true);
}

void
op_job_resume(struct store *s, const struct dbq_job *job,
              struct dbq_result *res)
{
    job_move(s, job, res,
             "UPDATE jobs SET state = 'queued', ended = NULL, error = NULL"
             " WHERE id = ?1 AND (state IN ('interrupted', 'failed')"
             " OR (state = 'cancelled' AND kind = 'train'))",
             false);
}

void
op_job_logs(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *result = NULL, *lines;
    int64_t id, after, limit, next;
    int rc, src;

    if ((rc = ops_arg_id(job->args, "job", &id, &err)) < 0 ||
        (rc = ops_arg_int(job->args, "after", -1, MANIFEST_INT_MAX, -1, &after,
                          &err)) < 0 ||
        (rc = ops_arg_int(job->args, "limit", 1, JOB_LOGS_MAX, 1000, &limit,
                          &err)) < 0 ||
        (rc = job_summary(db, id, 0, &result, &err)) < 0)
        goto out;
    cJSON_Delete(result);
    result = cJSON_CreateObject();
    lines = cJSON_CreateArray();
    if (!result || !lines ||
        !cJSON_AddNumberToObject(result, "job", (double)id) ||
        !cJSON_AddItemToObject(result, "lines", lines)) {
        cJSON_Delete(lines);
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, line FROM job_logs WHERE job_id = ?1"
                           " AND seq > ?2 ORDER BY seq LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, &err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit);
    next = after;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *l = cJSON_CreateObject();

        next = sqlite3_column_int64(st, 0);
        if (!l || !cJSON_AddNumberToObject(l, "seq", (double)next) ||
            !cJSON_AddStringToObject(
                l, "line", (const char *)sqlite3_column_text(st, 1)) ||
            !cJSON_AddItemToArray(lines, l)) {
            cJSON_Delete(l);
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE)
        rc = db_fail(db, &err);
    else if (!cJSON_AddNumberToObject(result, "next", (double)next))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    ops_reply(job, res, rc, result, &err);
}

/* subscribe {"topic": "job/ID"}: net.c has already added the topic to
 * the connection; this answers not_found for an unknown job (net.c then
 * drops the topic) or the response followed by one "job.state" event
 * with the job as it is now. */
void
op_subscribe_job(struct store *s, const struct dbq_job *job,
                 struct dbq_result *res)
{
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(job->args, "topic");
    struct nh_error err = {0};
    cJSON *sum = NULL, *result = NULL;
    int64_t id = 0;
    int rc;

    if (cJSON_IsString(topic))
        snprintf(res->topic, sizeof(res->topic), "%s", topic->valuestring);
    if (!cJSON_IsString(topic) || strncmp(topic->valuestring, "job/", 4) ||
        !(id = jobs_parse_id(topic->valuestring + 4))) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.topic' must be 'job/ID'");
        goto out;
    }
    if ((rc = job_summary(store_db(s), id, 0, &sum, &err)) < 0)
        goto out;
    res->event =
        jobs_event_text("job.state", topic->valuestring, sum, &res->event_len);
    result = cJSON_CreateObject();
    if (!result ||
        !cJSON_AddStringToObject(result, "topic", topic->valuestring))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
out:
    if (rc < 0) {
        res->unsubscribe = true;
        cJSON_Delete(result);
        result = NULL;
    }
    cJSON_Delete(sum);
    ops_reply(job, res, rc, result, &err);
}
