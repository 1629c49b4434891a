/* op-mix.c - "mix.create": queue a mixture job
 *
 * Resolves every source ref, checks weights, target and measure, and
 * inserts a 'mix' job (kind, input: the first source's version). The
 * supervisor (server/jobs.c) runs `nh-clean mix` on links to every
 * source's shards and commits the output as a new version of args.name
 * whose parents are all the sources' versions, in order
 * (version_parents, schemas/db/0006), with the mixture's report as the
 * job's stats (docs/MIX.md). The config hash is the XXH3-128 of the
 * canonical {sources: [{version, weight}], target, by, seed}.
 */
#include "ops.h"

#include "hash.h"
#include "jobs.h"
#include "ref.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define MIX_MAX_SOURCES 64

void
op_mix_create(struct store *s, const struct dbq_job *job,
              struct dbq_result *res)
{
    sqlite3 *db = store_db(s);
    const cJSON *args = job->args;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(args, "name");
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(args, "sources");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(args, "target");
    const cJSON *byj = cJSON_GetObjectItemCaseSensitive(args, "by");
    const char *by = cJSON_IsString(byj) ? byj->valuestring : "tokens";
    struct nh_error err = {0};
    struct ref_version first;
    cJSON *a = NULL, *conf = NULL, *list, *result = NULL, *x;
    char hash[33], *text = NULL, *ctext = NULL;
    int64_t id = 0, seed;
    size_t k = 0;
    int rc = 0;

    if (!cJSON_IsString(name) || !ref_dataset_name_valid(name->valuestring)) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.name' must be a dataset name");
        goto out;
    }
    if (!cJSON_IsArray(srcs) || cJSON_GetArraySize(srcs) < 1 ||
        cJSON_GetArraySize(srcs) > MIX_MAX_SOURCES) {
        rc = nh_errorf(&err, NH_EINVAL,
                       "'args.sources' must be an array of 1 to %d sources",
                       MIX_MAX_SOURCES);
        goto out;
    }
    if (!cJSON_IsNumber(target) || !(target->valuedouble >= 1) ||
        target->valuedouble > 1e18) {
        rc = nh_errorf(&err, NH_EINVAL, "'args.target' must be a number >= 1");
        goto out;
    }
    if (byj &&
        (!cJSON_IsString(byj) ||
         (strcmp(by, "tokens") && strcmp(by, "docs") && strcmp(by, "bytes")))) {
        rc = nh_errorf(&err, NH_EINVAL,
                       "'args.by' must be 'tokens', 'docs' or 'bytes'");
        goto out;
    }
    if ((rc = ops_arg_int(args, "seed", 0, 9007199254740992LL, 0, &seed,
                          &err)) < 0)
        goto out;
    conf = cJSON_CreateObject();
    if (!conf || !(list = cJSON_AddArrayToObject(conf, "sources"))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(x, srcs)
    {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(x, "ref");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(x, "weight");
        struct ref_version rv;
        cJSON *e;

        if (!cJSON_IsString(ref) || !cJSON_IsNumber(w) ||
            !(w->valuedouble > 0) || w->valuedouble > 1e12) {
            rc = nh_errorf(&err, NH_EINVAL,
                           "'args.sources[%zu]' must be {\"ref\", \"weight\" "
                           "> 0}",
                           k);
            goto out;
        }
        if ((rc = ref_resolve(db, ref->valuestring, &rv, &err)) < 0)
            goto out;
        if (k == 0)
            first = rv;
        e = cJSON_CreateObject();
        if (e && !cJSON_AddItemToArray(list, e)) {
            cJSON_Delete(e);
            e = NULL;
        }
        if (!e || /* from here on, list owns e */
            !cJSON_AddStringToObject(e, "ref", ref->valuestring) ||
            !cJSON_AddStringToObject(e, "dataset", rv.dataset) ||
            !cJSON_AddStringToObject(e, "version", rv.version) ||
            !cJSON_AddNumberToObject(e, "weight", w->valuedouble)) {
            rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
            goto out;
        }
        k++;
    }
    if (!cJSON_AddNumberToObject(conf, "target", target->valuedouble) ||
        !cJSON_AddStringToObject(conf, "by", by) ||
        !cJSON_AddNumberToObject(conf, "seed", (double)seed) ||
        !(ctext = cJSON_PrintUnformatted(conf))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    nh_h128_hex(nh_hash128(ctext, strlen(ctext)), hash);
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "input", first.version) ||
        !cJSON_AddStringToObject(a, "dataset", first.dataset) ||
        !cJSON_AddStringToObject(a, "output", name->valuestring) ||
        !cJSON_AddStringToObject(a, "config_hash", hash) ||
        !cJSON_AddItemToObject(a, "config", conf)) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    conf = NULL;
    if (!(text = cJSON_PrintUnformatted(a))) {
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ops_insert_job(db, job, "mix", first.dataset, first.version, text,
                             &id, &err)) < 0)
        goto out;
    jobs_publish_state(job->jobs, db, id);
    jobs_kick(job->jobs);
    rc = job_summary(db, id, 0, &result, &err);
out:
    free(text);
    free(ctext);
    cJSON_Delete(a);
    cJSON_Delete(conf);
    ops_reply(job, res, rc, result, &err);
}
