/* stage-perplexity.c - score documents with an n-gram language model,
 * bucket them and drop the ones that read like nothing a person wrote
 *
 * The model is one `nh-clean lm train` made (pipeline/lm.c, interpolated
 * modified Kneser-Ney). Each document gets meta.ppl, its perplexity per
 * token (</s> counted), and, when the cut-offs are known, meta.ppl_bucket:
 * "head" up to the 30th percentile of a reference set, "middle" up to the
 * 60th, "tail" above, as CCNet does (Wenzek et al. 2020, section 3.3).
 * The cut-offs come from "cutoffs": [p30, p60] (as `nh-clean lm score
 * --percentiles` prints them) or are measured at start-up on the
 * "reference" files. Dropped: perplexity above "max_ppl" (reason
 * "perplexity_too_high"), or a bucket listed in "drop_buckets" (reason
 * "ppl_<bucket>"). docs/stages/perplexity.md.
 */
#include "config.h"
#include "lm.h"
#include "stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const bucket_names[] = {"head", "middle", "tail", NULL};
static const char *const bucket_reasons[] = {"ppl_head", "ppl_middle",
                                             "ppl_tail"};

struct pp_conf {
    struct lm_model *model;
    double cut[2];  /* p30, p60; cut[0] < 0 when unknown */
    double max_ppl; /* 0: no limit */
    bool drop[3];   /* per bucket */
};

static void
pp_free(void *conf)
{
    struct pp_conf *c = conf;

    if (c) {
        lm_free(c->model);
        free(c);
    }
}

/* "cutoffs": [p30, p60], two positive numbers in order. */
static int
read_cutoffs(const cJSON *it, const char *where, double cut[2],
             struct nh_error *err)
{
    const cJSON *a = cJSON_GetArrayItem(it, 0), *b = cJSON_GetArrayItem(it, 1);

    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 ||
        !cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble <= 0 ||
        b->valuedouble < a->valuedouble)
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'cutoffs' must be [p30, p60]: two perplexities, "
                         "0 < p30 <= p60",
                         where);
    cut[0] = a->valuedouble;
    cut[1] = b->valuedouble;
    return 0;
}

static int
pp_init(const cJSON *params, const char *where, void **conf,
        struct nh_error *err)
{
    static const char *const keys[] = {"model",   "reference",    "cutoffs",
                                       "max_ppl", "drop_buckets", NULL};
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(params, "reference");
    const cJSON *cuts = cJSON_GetObjectItemCaseSensitive(params, "cutoffs");
    const cJSON *drops = NULL, *e;
    const char *path = NULL;
    struct pp_conf *c;
    struct nh_error lerr = {0};
    int rc;

    *conf = NULL;
    if ((rc = cfg_check_keys(params, where, keys, err)) < 0 ||
        (rc = cfg_str(params, where, "model", NULL, NULL, &path, err)) < 0 ||
        (rc = cfg_strlist(params, where, "drop_buckets", &drops, err)) < 0)
        return rc;
    if (!path)
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'model' is required (a file made by "
                         "'nh-clean lm train')",
                         where);
    if (ref && cuts)
        return nh_errorf(err, NH_EINVAL,
                         "%s: give either 'reference' or 'cutoffs'", where);
    if (ref && !cJSON_IsString(ref) && !cJSON_IsArray(ref))
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'reference' must be a file or an array of files",
                         where);
    if (!(c = calloc(1, sizeof(*c))))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    c->cut[0] = c->cut[1] = -1;
    if ((rc = cfg_num(params, where, "max_ppl", 0, 0, 1e300, &c->max_ppl,
                      err)) < 0 ||
        (cuts && (rc = read_cutoffs(cuts, where, c->cut, err)) < 0))
        goto fail;
    cJSON_ArrayForEach(e, drops)
    {
        int b;

        for (b = 0; bucket_names[b] && strcmp(bucket_names[b], e->valuestring);
             b++)
            ;
        if (!bucket_names[b]) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: 'drop_buckets' may hold \"head\", \"middle\" "
                           "and \"tail\" (got \"%s\")",
                           where, e->valuestring);
            goto fail;
        }
        c->drop[b] = true;
    }
    if (drops && cJSON_GetArraySize(drops) > 0 && !ref && !cuts) {
        rc = nh_errorf(err, NH_EINVAL,
                       "%s: 'drop_buckets' needs the bucket cut-offs: give "
                       "'reference' (files to measure them on) or 'cutoffs'",
                       where);
        goto fail;
    }
    if ((rc = lm_load(&c->model, path, &lerr)) < 0) {
        rc = nh_errorf(err, NH_EINVAL, "%s: 'model': %s", where, lerr.msg);
        goto fail;
    }
    if (ref) {
        char *paths[64];
        size_t n = 0;

        if (cJSON_IsString(ref)) {
            paths[n++] = ref->valuestring;
        } else {
            cJSON_ArrayForEach(e, ref)
            {
                if (!cJSON_IsString(e) || n == 64) {
                    rc = nh_errorf(err, NH_EINVAL,
                                   "%s: 'reference' must be at most 64 file "
                                   "names",
                                   where);
                    goto fail;
                }
                paths[n++] = e->valuestring;
            }
        }
        if ((rc = lm_percentiles(c->model, paths, n, c->cut, &lerr)) < 0) {
            rc = nh_errorf(err, NH_EINVAL, "%s: 'reference': %s", where,
                           lerr.msg);
            goto fail;
        }
    }
    *conf = c;
    return 0;
fail:
    pp_free(c);
    return rc;
}

static void *
pp_thread_init(const void *conf)
{
    const struct pp_conf *c = conf;

    return lm_scratch_new(c->model);
}

static void
pp_thread_free(void *tstate)
{
    lm_scratch_free(tstate);
}

static int
pp_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
         const char **reason)
{
    const struct pp_conf *c = conf;
    double lp = 0, ppl;
    size_t n = 0;
    cJSON *meta;
    int rc, b = -1;

    if (!ctx->tstate)
        return NH_ENOMEM;
    rc = lm_score(c->model, ctx->tstate, d->text.buf ? d->text.buf : "",
                  d->text.len, &lp, &n);
    if (rc < 0)
        return rc;
    ppl = lm_perplexity(lp, n);
    if (!(meta = doc_meta(d)))
        return NH_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "ppl");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "ppl_bucket");
    if (!cJSON_AddNumberToObject(meta, "ppl", round(ppl * 100) / 100))
        return NH_ENOMEM;
    if (c->cut[0] >= 0) {
        b = ppl <= c->cut[0] ? 0 : ppl <= c->cut[1] ? 1 : 2;
        if (!cJSON_AddStringToObject(meta, "ppl_bucket", bucket_names[b]))
            return NH_ENOMEM;
    }
    if (c->max_ppl > 0 && ppl > c->max_ppl) {
        *reason = "perplexity_too_high";
        return STAGE_DROP;
    }
    if (b >= 0 && c->drop[b]) {
        *reason = bucket_reasons[b];
        return STAGE_DROP;
    }
    return STAGE_KEEP;
}

const struct stage_ops stage_perplexity = {
    .name = "perplexity",
    .init = pp_init,
    .thread_init = pp_thread_init,
    .thread_free = pp_thread_free,
    .apply = pp_apply,
    .free = pp_free,
};
