/* stage-classify.c - label documents with a trained classifier, drop the
 * rejected labels
 *
 * The model is one `nh-clean classifier train` made (pipeline/ftc.c, a
 * fastText-style linear classifier), typically from reviewers' labels
 * exported by `nh label export`. Every document gets meta.labels, its
 * top k labels with their probabilities ({"spam": 0.93, "ok": 0.06});
 * a document whose top label is in reject_labels with a probability of at
 * least min_prob is dropped with the reason "label_<name>", so the stats
 * count each rejected label apart. docs/stages/classify.md.
 */
#include "config.h"
#include "ftc.h"
#include "stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cl_conf {
    struct ftc_model *model;
    int k;
    double min_prob;
    char **reason; /* per model label: "label_<name>" if rejected, or NULL */
    int nlabels;
};

struct cl_thread {
    struct ftc_scratch *s;
    struct ftc_pred *pred;
};

static void
cl_free(void *conf)
{
    struct cl_conf *c = conf;
    int i;

    if (!c)
        return;
    for (i = 0; c->reason && i < c->nlabels; i++)
        free(c->reason[i]);
    free(c->reason);
    ftc_free(c->model);
    free(c);
}

static int
cl_init(const cJSON *params, const char *where, void **conf,
        struct nh_error *err)
{
    static const char *const keys[] = {"model", "k", "reject_labels",
                                       "min_prob", NULL};
    const char *path = NULL;
    const cJSON *reject = NULL, *e;
    struct cl_conf *c;
    struct nh_error lerr = {0};
    long k;
    double min_prob;
    int rc;

    *conf = NULL;
    if ((rc = cfg_check_keys(params, where, keys, err)) < 0 ||
        (rc = cfg_str(params, where, "model", NULL, NULL, &path, err)) < 0 ||
        (rc = cfg_int(params, where, "k", 3, 1, 100, &k, err)) < 0 ||
        (rc = cfg_num(params, where, "min_prob", 0.5, 0, 1, &min_prob, err)) <
            0 ||
        (rc = cfg_strlist(params, where, "reject_labels", &reject, err)) < 0)
        return rc;
    if (!path)
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'model' is required (a file made by "
                         "'nh-clean classifier train')",
                         where);
    if (!(c = calloc(1, sizeof(*c))))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    c->k = (int)k;
    c->min_prob = min_prob;
    if ((rc = ftc_load(&c->model, path, &lerr)) < 0) {
        cl_free(c);
        return nh_errorf(err, NH_EINVAL, "%s: 'model': %s", where, lerr.msg);
    }
    c->nlabels = ftc_nlabels(c->model);
    if (c->k > c->nlabels)
        c->k = c->nlabels;
    if (!(c->reason = calloc((size_t)c->nlabels + 1, sizeof(*c->reason)))) {
        cl_free(c);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(e, reject)
    {
        const char *name = e->valuestring;
        int l = ftc_label_find(c->model, name, strlen(name));
        size_t n = strlen(name) + 7;

        if (l < 0) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: 'reject_labels': the model has no label '%s' "
                           "(it has %d labels; 'nh-clean classifier test' "
                           "lists them)",
                           where, name, c->nlabels);
            cl_free(c);
            return rc;
        }
        if (!c->reason[l] && (c->reason[l] = malloc(n)))
            snprintf(c->reason[l], n, "label_%s", name);
        if (!c->reason[l]) {
            cl_free(c);
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
    }
    *conf = c;
    return 0;
}

static void *
cl_thread_init(const void *conf)
{
    const struct cl_conf *c = conf;
    struct cl_thread *t = calloc(1, sizeof(*t));

    if (t && (!(t->s = ftc_scratch_new(c->model)) ||
              !(t->pred = calloc((size_t)c->k + 1, sizeof(*t->pred))))) {
        ftc_scratch_free(t->s);
        free(t);
        t = NULL;
    }
    return t;
}

static void
cl_thread_free(void *tstate)
{
    struct cl_thread *t = tstate;

    if (t) {
        ftc_scratch_free(t->s);
        free(t->pred);
        free(t);
    }
}

static int
cl_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
         const char **reason)
{
    const struct cl_conf *c = conf;
    struct cl_thread *t = ctx->tstate;
    cJSON *meta, *labels;
    int n = 0, i, rc;

    if (!t)
        return NH_ENOMEM;
    rc = ftc_predict(c->model, t->s, d->text.buf ? d->text.buf : "",
                     d->text.len, c->k, t->pred, &n);
    if (rc < 0)
        return rc;
    if (!(meta = doc_meta(d)))
        return NH_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
    if (!(labels = cJSON_AddObjectToObject(meta, "labels")))
        return NH_ENOMEM;
    for (i = 0; i < n; i++) {
        /* four decimals: enough to read, and the output stays small */
        double p = (double)(long)(t->pred[i].prob * 1e4 + 0.5) / 1e4;

        if (!cJSON_AddNumberToObject(labels,
                                     ftc_label(c->model, t->pred[i].label), p))
            return NH_ENOMEM;
    }
    if (n > 0 && c->reason[t->pred[0].label] &&
        t->pred[0].prob >= c->min_prob) {
        *reason = c->reason[t->pred[0].label];
        return STAGE_DROP;
    }
    return STAGE_KEEP;
}

const struct stage_ops stage_classify = {
    .name = "classify",
    .init = cl_init,
    .thread_init = cl_thread_init,
    .thread_free = cl_thread_free,
    .apply = cl_apply,
    .free = cl_free,
};
