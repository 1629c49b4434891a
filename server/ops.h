/* ops.h - the table of nhd's database-backed ops and their roles
 *
 * net.c answers "ping" and "auth" itself; every other op is looked up
 * here by name. An entry names the weakest role allowed to call it
 * (admin > engineer > reviewer) and the dbq_fn that runs it on a DB
 * worker thread. A caller below the op's role gets "forbidden" without
 * the op being queued.
 *
 * Adding an op: write its dbq_fn in an op-*.c file (declared below), add
 * one line to the table in ops.c, add one test. An op fn reads
 * job->args (already checked to be an object or NULL) and job->data_dir,
 * builds a cJSON result and hands it to ops_reply(), which spells the
 * response or maps the NH_E* code to a protocol error code.
 */
#ifndef NH_OPS_H
#define NH_OPS_H

#include "dbq.h"
#include "err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* OPQ_QUICK: the pool for quick reads. OPQ_HEAVY: one worker for ops
 * that may take seconds (whole shards), so they never hold up the quick
 * ones. OPQ_WRITE: one worker for the frequent small write transactions
 * of reviewing, so they never wait on each other's SQLite lock (whose
 * busy handler sleeps). */
enum op_queue { OPQ_QUICK, OPQ_HEAVY, OPQ_WRITE, OPQ_COUNT };

struct op_desc {
    const char *name;     /* "dataset.import" */
    const char *min_role; /* STORE_ROLE_* */
    dbq_fn *fn;
    enum op_queue queue; /* which DB workers run it */
};

/* The op named name, or NULL. */
const struct op_desc *ops_find(const char *name);

/* May a user with role have call an op needing role need? Unknown roles
 * never may. */
bool ops_role_allows(const char *have, const char *need);

/* Fill res with the response to job: the result on rc == 0 (NULL means
 * {}), else an error whose code comes from rc (NH_EINVAL "bad_request",
 * NH_ENOENT "not_found", NH_EEXIST "exists", others "internal") and
 * whose message is err->msg. result is freed here. */
void ops_reply(const struct dbq_job *job, struct dbq_result *res, int rc,
               cJSON *result, const struct nh_error *err);

/* Arguments: args.key checked, or NH_EINVAL naming 'args.key'.
 * ops_arg_id: a required integer id, 1 to 2^53. ops_arg_int: an optional
 * integer in [lo, hi], def when absent. */
int ops_arg_id(const cJSON *args, const char *key, int64_t *out,
               struct nh_error *err);
int ops_arg_int(const cJSON *args, const char *key, int64_t lo, int64_t hi,
                int64_t def, int64_t *out, struct nh_error *err);

/* Insert a 'queued' job of kind on (dataset, input version) with args
 * (JSON text) for job's user; *id is the new job. (op-job.c) */
int ops_insert_job(struct sqlite3 *db, const struct dbq_job *job,
                   const char *kind, const char *dataset, const char *input,
                   const char *args, int64_t *id, struct nh_error *err);

/* The body of an op that runs in one transaction: fills *out on success. */
typedef int ops_txn_fn(struct sqlite3 *db, const struct dbq_job *job,
                       cJSON **out, struct nh_error *err);
enum ops_txn { OPS_TXN_NONE, OPS_TXN_READ, OPS_TXN_WRITE };

/* Run fn inside BEGIN (OPS_TXN_READ: one snapshot) or BEGIN IMMEDIATE
 * (OPS_TXN_WRITE), or none (fn manages its own), committing on success
 * and rolling back on failure, then answer with ops_reply(). */
void ops_run(struct store *s, const struct dbq_job *job, struct dbq_result *res,
             ops_txn_fn *fn, enum ops_txn txn);

/* Op functions (op-dataset.c, op-version.c, op-diff.c, op-read.c,
 * op-upload.c, op-user.c, op-job.c). */
dbq_fn op_dataset_diff;
dbq_fn op_dataset_import;
dbq_fn op_dataset_lineage;
dbq_fn op_dataset_list;
dbq_fn op_dataset_read;
dbq_fn op_dataset_show;
dbq_fn op_dataset_tag;
dbq_fn op_dataset_versions;
dbq_fn op_upload_begin;
dbq_fn op_upload_chunk;
dbq_fn op_upload_finish;
dbq_fn op_user_add;
dbq_fn op_user_revoke;
dbq_fn op_pipeline_run;
dbq_fn op_augment_run;  /* op-augment.c */
dbq_fn op_mix_create;   /* op-mix.c */
dbq_fn op_train_launch; /* op-train.c */
dbq_fn op_train_records;
dbq_fn op_job_list;
dbq_fn op_job_get;
dbq_fn op_job_cancel;
dbq_fn op_job_resume;
dbq_fn op_job_logs;
dbq_fn op_subscribe_job; /* net.c calls it for "subscribe" to "job/ID" */
dbq_fn op_review_create;
dbq_fn op_review_list;
dbq_fn op_review_get;
dbq_fn op_review_next;
dbq_fn op_review_renew;
dbq_fn op_review_submit;
dbq_fn op_review_undo;
dbq_fn op_review_stats;
dbq_fn op_review_items;
dbq_fn op_review_close;
dbq_fn op_review_refresh;   /* net.c: push a campaign's stats */
dbq_fn op_subscribe_review; /* net.c: "subscribe" to "review/ID" */

/* The HTTP read API: args {"token", "op", "args"}; checks the bearer
 * token and the role, runs the table op and leaves in res->text its
 * bare result (status 200) or {"error": {"code", "message"}} with
 * res->http_status 400, 401, 403, 404, 409 or 500. */
dbq_fn op_http;

#endif
