/* op-augment.c - "augment.run": queue an augment job
 *
 * Checks the operator file with the pipeline's own parser
 * (pipeline/augment.h), so a bad operator is a bad_request naming the
 * field before anything is queued, then inserts an 'augment' job. The
 * supervisor (server/jobs.c) runs `nh-clean augment` on the input
 * version, commits the output as a new version whose parent is the
 * input, and makes a review campaign on a sample of the augmented
 * documents only (review.h). The config hash is the XXH3-128 of the
 * operator file's canonical JSON with the ratio, seed and only_new.
 */
#include "ops.h"

#include "augment.h"
#include "hash.h"
#include "jobs.h"
#include "ref.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int
check_ops(const cJSON *ops, struct nh_error *err)
{
    struct augment *a = NULL;
    char *text;
    int rc;

    if (!cJSON_IsObject(ops))
        return nh_errorf(err, NH_EINVAL, "'args.ops' must be an object");
    if (!(text = cJSON_PrintUnformatted(ops)))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = augment_parse(&a, text, strlen(text), "args.ops", err);
    augment_free(a);
    free(text);
    return rc;
}

void
op_augment_run(struct store *s, const struct dbq_job *job,
               struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    const cJSON *args = job->args;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(args, "ref");
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(args, "output");
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(args, "ops");
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(args, "ratio");
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(args, "only_new");
    struct nh_error err = {0};
    struct ref_version rv;
    cJSON *a = NULL, *result = NULL, *h = NULL;
    char hash[33], *text = NULL, *htext = NULL;
    int64_t id = 0, seed, review;
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
    if (ratio && (!cJSON_IsNumber(ratio) || !(ratio->valuedouble >= 0) ||
                  ratio->valuedouble > 100)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.ratio' must be 0..100");
        goto out;
    }
    if (only && !cJSON_IsBool(only)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.only_new' must be a boolean");
        goto out;
    }
    if ((rc = ops_arg_int(args, "seed", 0, 9007199254740992LL, 0, &seed,
                          &err)) < 0 ||
        (rc = ops_arg_int(args, "review_size", 0, 100000, 100, &review, &err)) <
            0 ||
        (rc = check_ops(ops, &err)) < 0 ||
        (rc = ref_resolve(db, ref->valuestring, &rv, &err)) < 0)
        goto out;
    h = cJSON_CreateObject();
    if (!h || !cJSON_AddItemToObject(h, "ops", cJSON_Duplicate(ops, 1)) ||
        !cJSON_AddNumberToObject(h, "ratio", ratio ? ratio->valuedouble : 1) ||
        !cJSON_AddNumberToObject(h, "seed", (double)seed) ||
        !cJSON_AddBoolToObject(h, "only_new", cJSON_IsTrue(only)) ||
        !(htext = cJSON_PrintUnformatted(h))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    nh_h128_hex(nh_hash128(htext, strlen(htext)), hash);
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "ref", ref->valuestring) ||
        !cJSON_AddStringToObject(a, "input", rv.version) ||
        !cJSON_AddStringToObject(a, "dataset", rv.dataset) ||
        !cJSON_AddStringToObject(a, "output",
                                 output ? output->valuestring : rv.dataset) ||
        !cJSON_AddStringToObject(a, "config_hash", hash) ||
        !cJSON_AddItemToObject(a, "config", cJSON_Duplicate(ops, 1)) ||
        !cJSON_AddNumberToObject(a, "ratio", ratio ? ratio->valuedouble : 1) ||
        !cJSON_AddNumberToObject(a, "seed", (double)seed) ||
        !cJSON_AddBoolToObject(a, "only_new", cJSON_IsTrue(only)) ||
        !cJSON_AddNumberToObject(a, "review_size", (double)review) ||
        !(text = cJSON_PrintUnformatted(a))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ops_insert_job(db, job, "augment", rv.dataset, rv.version, text,
                             &id, &err)) < 0)
        goto out;
    jobs_publish_state(job->jobs, db, id);
    jobs_kick(job->jobs);
    rc = job_summary(db, id, 0, &result, &err);
out:
    free(text);
    free(htext);
    cJSON_Delete(a);
    cJSON_Delete(h);
    ops_reply(job, res, rc, result, &err);
}
