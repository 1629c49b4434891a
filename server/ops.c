/* ops.c - the table of nhd's database-backed ops and their roles
 *
 * One line per op: its name, the weakest role that may call it and its
 * function (ops.h). net.c checks the caller's role against the line and
 * queues the function on the DB workers; the function answers through
 * ops_reply(), so every op spells its errors the same way.
 */
#include "ops.h"

#include "proto.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const struct op_desc op_table[] = {
    {"dataset.diff", STORE_ROLE_REVIEWER, op_dataset_diff},
    {"dataset.import", STORE_ROLE_ENGINEER, op_dataset_import},
    {"dataset.lineage", STORE_ROLE_REVIEWER, op_dataset_lineage},
    {"dataset.list", STORE_ROLE_REVIEWER, op_dataset_list},
    {"dataset.read", STORE_ROLE_REVIEWER, op_dataset_read},
    {"dataset.show", STORE_ROLE_REVIEWER, op_dataset_show},
    {"dataset.tag", STORE_ROLE_ENGINEER, op_dataset_tag},
    {"dataset.versions", STORE_ROLE_REVIEWER, op_dataset_versions},
    {"job.cancel", STORE_ROLE_ENGINEER, op_job_cancel},
    {"job.get", STORE_ROLE_REVIEWER, op_job_get},
    {"job.list", STORE_ROLE_REVIEWER, op_job_list},
    {"job.logs", STORE_ROLE_REVIEWER, op_job_logs},
    {"job.resume", STORE_ROLE_ENGINEER, op_job_resume},
    {"pipeline.run", STORE_ROLE_ENGINEER, op_pipeline_run},
    {"upload.begin", STORE_ROLE_ENGINEER, op_upload_begin},
    {"upload.chunk", STORE_ROLE_ENGINEER, op_upload_chunk},
    {"upload.finish", STORE_ROLE_ENGINEER, op_upload_finish},
    {"user.add", STORE_ROLE_ADMIN, op_user_add},
    {"user.revoke", STORE_ROLE_ADMIN, op_user_revoke},
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
