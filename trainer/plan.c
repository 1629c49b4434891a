/* plan.c - `nh-train plan`: the parallel planner
 *
 * Given a model config (model.h) and a cluster file, predict memory per
 * device and time per step for every data x tensor x pipeline split and
 * print the fastest that fit. The model is analytical, not measured:
 * the formulas and their sources are in docs/PLANNER.md, which is the
 * reference for the numbers below. Nothing here runs a model; `nh-train
 * run` (run.c) is what trains.
 *
 * Layout: file parsing, the per-layer formulas, one stage's memory and
 * time, the layer assignment of one split (plan_evaluate), the search
 * (plan_search), then the output and the command.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "log.h"
#include "plan.h"

#define GIB 1073741824.0

/* ---- files --------------------------------------------------------- */

/* path's text (under max bytes) in a malloc'd string. */
static int
read_file(const char *path, size_t max, char **out, struct nh_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc = 0;

    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    n = fread(buf, 1, max, f);
    if (ferror(f))
        rc = nh_error_errno(err, "cannot read '%s'", path);
    else if (n == max)
        rc = nh_errorf(err, NH_ETOOBIG, "'%s': over %zu KiB", path, max / 1024);
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

/* A model or cluster file: at most 64 KiB. */
static int
read_small(const char *path, char **out, struct nh_error *err)
{
    return read_file(path, 65536, out, err);
}

/* NH_EFORMAT with the line and column where cJSON stopped, or 0. */
static int
check_json(const char *path, const char *text, struct nh_error *err)
{
    const char *end = NULL, *p;
    cJSON *o = cJSON_ParseWithOpts(text, &end, 1);
    int line = 1, col = 1;

    if (o) {
        cJSON_Delete(o);
        return 0;
    }
    if (!end)
        end = text;
    for (p = text; p < end && *p; p++) {
        if (*p == '\n')
            line++, col = 1;
        else
            col++;
    }
    return nh_errorf(err, NH_EFORMAT, "'%s': bad JSON at line %d column %d",
                     path, line, col);
}

int
plan_model_load(const char *path, struct model_config *cfg,
                struct nh_error *err)
{
    char *text = NULL;
    int rc;

    if ((rc = read_small(path, &text, err)) ||
        (rc = check_json(path, text, err)))
        goto out;
    rc = model_config_parse(text, cfg, err);
    if (rc && err) {
        char msg[sizeof err->msg];

        snprintf(msg, sizeof msg, "%s", err->msg);
        nh_errorf(err, rc, "'%s': %s", path, msg);
    }
out:
    free(text);
    return rc;
}

/* A number at key, > min and <= max; def when absent (def < 0: required). */
static int
get_num(const cJSON *o, const char *key, double def, double min, double max,
        double *out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it) {
        if (def < 0)
            return nh_errorf(err, NH_EINVAL, "cluster: missing key '%s'", key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
        !(it->valuedouble > min) || it->valuedouble > max)
        return nh_errorf(err, NH_EINVAL,
                         "cluster: '%s' must be a number > %g and <= %g", key,
                         min, max);
    *out = it->valuedouble;
    return 0;
}

static int
get_int(const cJSON *o, const char *key, int *out, struct nh_error *err)
{
    double v;
    int rc = get_num(o, key, -1, 0, 1e7, &v, err);

    if (rc)
        return rc;
    if (v != floor(v))
        return nh_errorf(err, NH_EINVAL,
                         "cluster: '%s' must be an integer >= 1 and <= 1e7",
                         key);
    *out = (int)v;
    return 0;
}

int
plan_cluster_parse(const char *json, struct plan_cluster *out,
                   struct nh_error *err)
{
    static const char *const known[] = {
        "name",        "devices",    "devices_per_node", "memory_gib",
        "peak_tflops", "efficiency", "intra_node_gbs",   "inter_node_gbs",
        "hbm_gbs",     "precision",  "overhead_gib",     NULL,
    };
    struct plan_cluster c;
    const cJSON *it;
    cJSON *o = cJSON_Parse(json);
    double v;
    int rc = 0;

    memset(&c, 0, sizeof c);
    if (!o || !cJSON_IsObject(o)) {
        rc = nh_errorf(err, NH_EFORMAT, "cluster: not a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(it, o)
    {
        const char *const *k;

        for (k = known; *k && strcmp(*k, it->string); k++)
            ;
        if (!*k) {
            rc = nh_errorf(err, NH_EINVAL, "cluster: unknown key '%s'",
                           it->string);
            goto out;
        }
    }
    if ((rc = get_int(o, "devices", &c.devices, err)) ||
        (rc = get_int(o, "devices_per_node", &c.devices_per_node, err)) ||
        (rc = get_num(o, "memory_gib", -1, 0, 1e6, &v, err)))
        goto out;
    c.memory_bytes = v * GIB;
    if ((rc = get_num(o, "peak_tflops", -1, 0, 1e6, &v, err)))
        goto out;
    c.peak_flops = v * 1e12;
    if ((rc = get_num(o, "efficiency", 1, 0, 1, &c.efficiency, err)) ||
        (rc = get_num(o, "intra_node_gbs", -1, 0, 1e6, &c.intra_bw, err)) ||
        (rc = get_num(o, "inter_node_gbs", -1, 0, 1e6, &c.inter_bw, err)) ||
        (rc = get_num(o, "hbm_gbs", -1, 0, 1e7, &c.hbm_bw, err)))
        goto out;
    c.intra_bw *= 1e9, c.inter_bw *= 1e9, c.hbm_bw *= 1e9;
    if ((rc = get_num(o, "overhead_gib", 0, -1, 1e6, &v, err)))
        goto out;
    if (v < 0) {
        rc = nh_errorf(err, NH_EINVAL, "cluster: 'overhead_gib' must be >= 0");
        goto out;
    }
    c.overhead = v * GIB;
    it = cJSON_GetObjectItemCaseSensitive(o, "precision");
    c.precision = PLAN_MIXED;
    if (it) {
        if (cJSON_IsString(it) && !strcmp(it->valuestring, "fp32"))
            c.precision = PLAN_FP32;
        else if (!cJSON_IsString(it) || strcmp(it->valuestring, "mixed")) {
            rc = nh_errorf(err, NH_EINVAL,
                           "cluster: 'precision' must be \"mixed\" or "
                           "\"fp32\"");
            goto out;
        }
    }
    it = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (it && !cJSON_IsString(it)) {
        rc = nh_errorf(err, NH_EINVAL, "cluster: 'name' must be a string");
        goto out;
    }
    *out = c;
out:
    cJSON_Delete(o);
    return rc;
}

int
plan_cluster_load(const char *path, struct plan_cluster *c,
                  struct nh_error *err)
{
    char *text = NULL;
    int rc;

    if ((rc = read_small(path, &text, err)) ||
        (rc = check_json(path, text, err)))
        goto out;
    rc = plan_cluster_parse(text, c, err);
    if (rc && err) {
        char msg[sizeof err->msg];

        snprintf(msg, sizeof msg, "%s", err->msg);
        nh_errorf(err, rc, "'%s': %s", path, msg);
    }
out:
    free(text);
    return rc;
}

/* ---- formulas ------------------------------------------------------ */

struct plan_bytes
plan_bytes_per_param(enum plan_precision p)
{
    struct plan_bytes b;

    if (p == PLAN_FP32) {
        b.params = 4, b.grads = 4, b.optim = 8; /* Adam m and v */
    } else {
        b.params = 2, b.grads = 2, b.optim = 12; /* fp32 copy, m, v */
    }
    return b;
}

double
plan_act_layer_bytes(const struct plan_act *x)
{
    double sbh = x->s * x->b * x->h, sbf = x->s * x->b * x->f;
    double as2b = x->a * x->s * x->s * x->b, t = x->t;
    double rep, par, quad;

    if (x->rc == PLAN_RC_FULL)
        return x->sp ? 2 * sbh / t : 2 * sbh;
    if (x->gelu_dropout) {
        /* norms 4, QKV input 2, MLP input 2, two dropout masks 2 */
        rep = 10 * sbh;
        /* Q K 4, V 2, projection input 2; GELU input and output 4sbf */
        par = 8 * sbh + 4 * sbf;
        /* softmax 2, its dropout mask 1, dropout output 2 */
        quad = 5 * as2b;
    } else {
        /* norm inputs 4, QKV input 2, W1/W3 input 2 */
        rep = 8 * sbh;
        /* Q K 4, V 2, Wo input 2; h1, h3 and silu(h1)*h3 6sbf */
        par = 8 * sbh + 6 * sbf;
        quad = 2 * as2b; /* softmax output */
    }
    if (x->sp)
        rep /= t;
    par /= t;
    quad = x->rc == PLAN_RC_SELECTIVE ? 0 : quad / t;
    return rep + par + quad;
}

double
plan_layer_params(const struct model_config *cfg)
{
    double h = cfg->dim, f = cfg->ffn_dim;

    return 4 * h * h + 3 * h * f + 2 * h;
}

double
plan_bubble(int p, int m)
{
    return (double)(p - 1) / m;
}

double
plan_allreduce_s(double bytes, int n, double bw)
{
    return n > 1 ? 2.0 * (n - 1) / n * bytes / bw : 0;
}

/* ---- one stage ----------------------------------------------------- */

/* What stays fixed while a split's stages are laid out. */
struct env {
    const struct model_config *cfg;
    const struct plan_cluster *c;
    const struct plan *p;
    double s;         /* sequence length */
    double act_scale; /* 1 for 16-bit activations, 2 for fp32 */
    double ab;        /* bytes per activation element */
    struct plan_bytes bp;
    double tp_bw, pp_bw, dp_bw;
};

/* Parameters held by stage i with k layers. */
static double
stage_params(const struct env *e, int i, int k)
{
    double h = e->cfg->dim, V = e->cfg->vocab, t = e->p->tp;
    double n = k * (4 * h * h + 3 * h * e->cfg->ffn_dim) / t + k * 2 * h;

    if (i == 0)
        n += V * h / t; /* embedding, vocabulary-parallel */
    if (i == e->p->pp - 1) {
        n += h; /* final norm */
        if (!(e->cfg->tied && e->p->pp == 1))
            n += V * h / t; /* head (a copy when tied over stages) */
    }
    return n;
}

static double
act_layer(const struct env *e, enum plan_recompute rc)
{
    struct plan_act x = {
        .s = e->s,
        .b = e->p->micro_batch,
        .h = e->cfg->dim,
        .a = e->cfg->heads,
        .f = e->cfg->ffn_dim,
        .t = e->p->tp,
        .sp = e->p->sp,
        .rc = rc,
    };

    return plan_act_layer_bytes(&x) * e->act_scale;
}

static void
stage_mem(const struct env *e, int i, int k, enum plan_recompute rc,
          struct plan_mem *m)
{
    const struct plan *p = e->p;
    double P = stage_params(e, i, k);
    int inflight = p->pp - i < p->micro_batches ? p->pp - i : p->micro_batches;
    double sbh = e->s * p->micro_batch * e->cfg->dim;

    m->params = P * e->bp.params;
    m->grads = P * e->bp.grads;
    m->optim = P * e->bp.optim / (p->shard ? p->dp : 1);
    m->acts = inflight * k * act_layer(e, rc);
    if (rc != PLAN_RC_NONE) /* one layer rebuilt during its backward */
        m->acts += act_layer(e, PLAN_RC_NONE) - act_layer(e, rc);
    if (i == p->pp - 1) /* final norm and head inputs, fp32 logits */
        m->acts += 4 * sbh * e->act_scale / (p->sp ? p->tp : 1) +
                   4.0 * e->s * p->micro_batch * e->cfg->vocab / p->tp;
    /* nh-train's backward scratch (model_scratch_floats_per_token): six
     * (N,h) gradient buffers, two (N,f) for the MLP and the gradient of
     * the attention probabilities (a x s per token) */
    m->work = e->c->overhead;
    if (e->c->precision == PLAN_FP32) {
        m->work += 4.0 * e->s * p->micro_batch *
                   (6 * e->cfg->dim +
                    (2.0 * e->cfg->ffn_dim + e->cfg->heads * e->s) / p->tp);
        /* data parallel: Open MPI's non-blocking collectives keep a
         * temporary copy of every gradient bucket in flight, and
         * nh-train starts them all during the backward (dp.h) */
        if (p->dp > 1)
            m->work += P * e->bp.grads;
    }
    m->total = m->params + m->grads + m->optim + m->acts + m->work;
}

/* Seconds of one micro-batch's forward and backward on stage i. */
static double
stage_time(const struct env *e, int i, int k, enum plan_recompute rc)
{
    const struct plan *p = e->p;
    double h = e->cfg->dim, f = e->cfg->ffn_dim, V = e->cfg->vocab;
    double t = p->tp, tokens = e->s * p->micro_batch;
    double lf = 2 * (4 * h * h + 3 * h * f) + 4 * e->s * h; /* per token */
    double flops = 3 * k * tokens * lf / t, bytes = 0, sec;
    int ar = 4 * k, sends = 0;

    if (rc == PLAN_RC_FULL) {
        flops += k * tokens * lf / t;
        ar += 2 * k;
    } else if (rc == PLAN_RC_SELECTIVE) {
        flops += k * tokens * 4 * e->s * h / t;
    }
    if (i == 0) {
        bytes += 3 * tokens * h * e->ab; /* lookup, gradient scatter */
        ar++;                            /* vocabulary-parallel sum */
    }
    if (i == p->pp - 1) {
        flops += 3 * tokens * 2 * h * V / t;
        bytes += 16 * tokens * V / t; /* softmax and loss over fp32 */
        ar++;
    }
    sec = flops / (e->c->peak_flops * e->c->efficiency) + bytes / e->c->hbm_bw;
    if (p->tp > 1)
        sec += ar * plan_allreduce_s(tokens * h * e->ab, p->tp, e->tp_bw);
    if (i > 0)
        sends++;
    if (i < p->pp - 1)
        sends++;
    sec += sends * tokens * h * e->ab / t / e->pp_bw;
    return sec;
}

/* ---- one split ----------------------------------------------------- */

static void
env_init(struct env *e, const struct model_config *cfg,
         const struct plan_cluster *c, int seq, const struct plan *p)
{
    int dpn = c->devices_per_node;

    e->cfg = cfg;
    e->c = c;
    e->p = p;
    e->s = seq;
    e->bp = plan_bytes_per_param(c->precision);
    e->act_scale = c->precision == PLAN_FP32 ? 2 : 1;
    e->ab = 2 * e->act_scale;
    /* ranks: tensor fastest, then data, then pipeline */
    e->tp_bw = p->tp <= dpn ? c->intra_bw : c->inter_bw;
    e->dp_bw = p->tp * p->dp <= dpn ? c->intra_bw : c->inter_bw;
    e->pp_bw = c->devices <= dpn ? c->intra_bw : c->inter_bw;
}

int
plan_evaluate(const struct model_config *cfg, const struct plan_cluster *c,
              int seq, struct plan *p, struct nh_error *err)
{
    int L = cfg->layers, P = p->pp, K = L - P + 1, i, j, k;
    size_t cells = (size_t)(P + 1) * (size_t)(L + 1);
    double *cost = NULL, *best = NULL, *sq = NULL, tmax, sum, mx;
    unsigned char *rcs = NULL;
    unsigned short *ch = NULL;
    struct env e;
    int rc = 0;

    if (P < 1 || P > L || P > PLAN_MAX_STAGES || p->tp < 1 || p->dp < 1 ||
        p->micro_batch < 1 || p->micro_batches < 1)
        return nh_errorf(err, NH_EINVAL, "plan: bad split");
    env_init(&e, cfg, c, seq, p);
    cost = malloc((size_t)P * (size_t)(K + 1) * sizeof *cost);
    rcs = malloc((size_t)P * (size_t)(K + 1));
    best = malloc(cells * sizeof *best);
    sq = malloc(cells * sizeof *sq);
    ch = malloc(cells * sizeof *ch);
    if (!cost || !rcs || !best || !sq || !ch) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    /* the cheapest recompute that fits, per stage and layer count */
    for (i = 0; i < P; i++)
        for (k = 1; k <= K; k++) {
            size_t at = (size_t)i * (size_t)(K + 1) + (size_t)k;
            int r;

            cost[at] = INFINITY;
            for (r = p->rc_min; r <= PLAN_RC_FULL; r++) {
                struct plan_mem m;

                stage_mem(&e, i, k, (enum plan_recompute)r, &m);
                if (m.total <= c->memory_bytes) {
                    cost[at] = stage_time(&e, i, k, (enum plan_recompute)r);
                    rcs[at] = (unsigned char)r;
                    break;
                }
            }
        }
#define AT(i, j) ((size_t)(i) * (size_t)(L + 1) + (size_t)(j))
#define COST(i, k) cost[(size_t)(i) * (size_t)(K + 1) + (size_t)(k)]
    /* pass 1: the smallest possible slowest stage */
    for (j = 0; j <= L; j++)
        best[AT(0, j)] = j ? INFINITY : 0;
    for (i = 0; i < P; i++)
        for (j = 0; j <= L; j++) {
            double b = INFINITY;

            for (k = 1; k <= K && k <= j; k++) {
                double v = fmax(best[AT(i, j - k)], COST(i, k));

                if (v < b)
                    b = v;
            }
            best[AT(i + 1, j)] = b;
        }
    tmax = best[AT(P, L)];
    if (!isfinite(tmax)) {
        rc = nh_errorf(err, NH_EINVAL, "plan: does not fit in memory");
        goto out;
    }
    tmax *= 1 + 1e-9;
    /* pass 2: within that, the most even stage times (least sum of
     * squares), which gives the ends, with their extra work, fewer
     * layers when there is a choice */
    for (j = 0; j <= L; j++)
        sq[AT(0, j)] = j ? INFINITY : 0;
    for (i = 0; i < P; i++)
        for (j = 0; j <= L; j++) {
            double b = INFINITY;
            int bk = 0;

            for (k = 1; k <= K && k <= j; k++) {
                double ck = COST(i, k), v;

                if (!(ck <= tmax))
                    continue;
                v = sq[AT(i, j - k)] + ck * ck;
                if (v < b * (1 - 1e-12)) {
                    b = v;
                    bk = k;
                }
            }
            sq[AT(i + 1, j)] = b;
            ch[AT(i + 1, j)] = (unsigned short)bk;
        }
    for (i = P, j = L; i > 0; i--) {
        k = ch[AT(i, j)];
        p->layers[i - 1] = (unsigned short)k;
        p->recompute[i - 1] = rcs[(size_t)(i - 1) * (size_t)(K + 1) + k];
        p->stage_s[i - 1] = COST(i - 1, k);
        j -= k;
    }
#undef AT
#undef COST
    /* the step: 1F1B fill and drain, then the dp collectives and the
     * optimizer on the slowest stage */
    sum = 0, mx = 0;
    p->mem.total = -1;
    p->dp_s = p->optim_s = 0;
    for (i = 0; i < P; i++) {
        struct plan_mem m;
        double np = stage_params(&e, i, p->layers[i]), v;

        sum += p->stage_s[i];
        mx = fmax(mx, p->stage_s[i]);
        stage_mem(&e, i, p->layers[i], (enum plan_recompute)p->recompute[i],
                  &m);
        if (m.total > p->mem.total) {
            p->mem = m;
            p->worst_stage = i;
        }
        /* reduce-scatter of gradients and all-gather of parameters when
         * sharded, a ring all-reduce otherwise: the same bytes on the
         * wire for mixed precision */
        if (p->shard)
            v = (np * e.bp.grads + np * e.bp.params) * (p->dp - 1) / p->dp /
                e.dp_bw;
        else
            v = plan_allreduce_s(np * e.bp.grads, p->dp, e.dp_bw);
        p->dp_s = fmax(p->dp_s, v);
        v = np *
            (e.bp.grads + 2 * e.bp.params +
             2 * e.bp.optim / (p->shard ? p->dp : 1)) /
            c->hbm_bw;
        p->optim_s = fmax(p->optim_s, v);
    }
    p->pipe_s = sum + (p->micro_batches - 1) * mx;
    p->step_s = p->pipe_s + p->dp_s + p->optim_s;
    p->bubble = plan_bubble(P, p->micro_batches);
    p->mfu = 3 * model_flops_per_token(cfg, seq) * seq * p->dp *
             p->micro_batch * p->micro_batches /
             (c->devices * c->peak_flops * p->step_s);
out:
    free(cost);
    free(rcs);
    free(best);
    free(sq);
    free(ch);
    return rc;
}

/* ---- the search ---------------------------------------------------- */

static int
cmp_plan(const void *a, const void *b)
{
    const struct plan *x = a, *y = b;

    if (x->step_s != y->step_s)
        return x->step_s < y->step_s ? -1 : 1;
    if (x->mem.total != y->mem.total)
        return x->mem.total < y->mem.total ? -1 : 1;
    return x->pp - y->pp;
}

int
plan_search(const struct model_config *cfg, const struct plan_cluster *c,
            const struct plan_opts *o, struct plan **out, int *nout,
            struct nh_error *err)
{
    struct plan *v = NULL, *cand = NULL, *nv;
    int n = 0, cap = 0, tried = 0, tp, pp, b, D = c->devices;
    int seq = o->seq ? o->seq : cfg->seq, G = o->global_batch;
    int rc = 0;

    cand = malloc(2 * sizeof *cand);
    if (!cand)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    for (tp = 1; tp <= D; tp++) {
        if (D % tp || cfg->heads % tp || cfg->ffn_dim % tp ||
            (o->tp && tp != o->tp) || (!o->tp && tp > c->devices_per_node))
            continue;
        for (pp = 1; pp <= cfg->layers && pp <= D / tp; pp++) {
            int dp = D / tp / pp, per;

            if ((D / tp) % pp || (o->pp && pp != o->pp) ||
                (o->dp && dp != o->dp) ||
                (o->devices_per_stage && dp * tp != o->devices_per_stage) ||
                G % dp)
                continue;
            per = G / dp;
            for (b = 1; b <= per; b++) {
                int s, got = -1;

                if (per % b || (o->micro_batch && b != o->micro_batch))
                    continue;
                tried++;
                for (s = 0; s < 2; s++) {
                    struct plan *p = &cand[s];

                    if (s && dp == 1)
                        break;
                    if ((o->zero == 1 && s) || (o->zero == 2 && !s && dp > 1))
                        continue;
                    memset(p, 0, sizeof *p);
                    p->dp = dp, p->tp = tp, p->pp = pp;
                    p->micro_batch = b, p->micro_batches = per / b;
                    p->shard = s, p->sp = o->sequence_parallel;
                    p->rc_min = (unsigned char)o->recompute;
                    rc = plan_evaluate(cfg, c, seq, p, err);
                    if (rc == NH_EINVAL)
                        continue;
                    if (rc)
                        goto out;
                    if (got < 0 || cmp_plan(p, &cand[got]) < 0)
                        got = s;
                }
                rc = 0;
                if (got < 0)
                    continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    nv = realloc(v, (size_t)cap * sizeof *v);
                    if (!nv) {
                        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                        goto out;
                    }
                    v = nv;
                }
                v[n++] = cand[got];
            }
        }
    }
    if (!tried) {
        rc = nh_errorf(err, NH_EINVAL,
                       "no split of %d devices meets the constraints (tensor "
                       "parallel dividing heads %d and ffn_dim %d and at "
                       "most %d devices per node, pipeline stages at most "
                       "%d layers, data parallel dividing global batch %d)",
                       D, cfg->heads, cfg->ffn_dim, c->devices_per_node,
                       cfg->layers, G);
        goto out;
    }
    if (!n) {
        rc = nh_errorf(err, NH_EINVAL,
                       "none of the %d splits tried fits in %.4g GiB per "
                       "device, even with full recompute",
                       tried, c->memory_bytes / GIB);
        goto out;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_plan);
    *out = v;
    *nout = n;
    v = NULL;
out:
    free(v);
    free(cand);
    return rc;
}

/* ---- output -------------------------------------------------------- */

int
plan_compress(struct strbuf *sb, const unsigned short *v, int n)
{
    int i = 0, j, rc = 0;

    while (i < n) {
        for (j = i; j < n && v[j] == v[i]; j++)
            ;
        rc |= strbuf_addf(sb, "%s%u", i ? "," : "", v[i]);
        if (j - i > 1)
            rc |= strbuf_addf(sb, "x%d", j - i);
        i = j;
    }
    return rc;
}

static const char *const rc_names[] = {"none", "selective", "full"};

/* "none", or runs like "full x3,selective x24". */
static int
recompute_str(struct strbuf *sb, const struct plan *p)
{
    int i = 0, j, rc = 0;
    bool any = false;

    for (i = 0; i < p->pp; i++)
        any |= p->recompute[i] != PLAN_RC_NONE;
    if (!any)
        return strbuf_addstr(sb, "none");
    i = 0;
    while (i < p->pp) {
        for (j = i; j < p->pp && p->recompute[j] == p->recompute[i]; j++)
            ;
        rc |= strbuf_addf(sb, "%s%s", i ? "," : "", rc_names[p->recompute[i]]);
        if (j - i > 1)
            rc |= strbuf_addf(sb, "x%d", j - i);
        i = j;
    }
    return rc;
}

static int
write_table(struct strbuf *sb, const struct plan *v, int n)
{
    struct strbuf lay = STRBUF_INIT, rec = STRBUF_INIT;
    int i, rc = 0, wl = 16, wr = 9;

    for (i = 0; i < n; i++) {
        strbuf_reset(&lay);
        strbuf_reset(&rec);
        rc |= plan_compress(&lay, v[i].layers, v[i].pp);
        rc |= recompute_str(&rec, &v[i]);
        wl = (int)lay.len > wl ? (int)lay.len : wl;
        wr = (int)rec.len > wr ? (int)rec.len : wr;
    }
    rc |= strbuf_addf(
        sb, "%4s %5s %3s %4s %11s  %-*s  %-*s %5s %8s %9s %6s %5s\n", "rank",
        "dp", "tp", "pp", "micro x n", wl, "layers/stage", wr, "recompute",
        "zero1", "mem GiB", "step s", "bubble", "MFU");
    for (i = 0; i < n; i++) {
        const struct plan *p = &v[i];
        char mb[32];

        strbuf_reset(&lay);
        strbuf_reset(&rec);
        rc |= plan_compress(&lay, p->layers, p->pp);
        rc |= recompute_str(&rec, p);
        snprintf(mb, sizeof mb, "%dx%d", p->micro_batch, p->micro_batches);
        rc |= strbuf_addf(
            sb,
            "%4d %5d %3d %4d %11s  %-*s  %-*s %5s %8.2f %9.3f %6.3f %5.3f\n",
            i + 1, p->dp, p->tp, p->pp, mb, wl, lay.buf, wr, rec.buf,
            p->shard ? "yes" : "no", p->mem.total / GIB, p->step_s, p->bubble,
            p->mfu);
    }
    strbuf_release(&lay);
    strbuf_release(&rec);
    return rc;
}

static int
write_json(struct strbuf *sb, const struct model_config *cfg,
           const struct plan_cluster *c, const struct plan_opts *o, int seq,
           const struct plan *v, int n, int feasible)
{
    double np = cfg->layers * plan_layer_params(cfg) + cfg->dim +
                (double)cfg->vocab * cfg->dim * (cfg->tied ? 1 : 2);
    int i, j, rc = 0;

    rc |= strbuf_addf(sb,
                      "{\n  \"model\": {\"parameters\": %.0f, \"layers\": %d, "
                      "\"dim\": %d, \"heads\": %d, \"ffn_dim\": %d, "
                      "\"vocab\": %d, \"seq\": %d},\n",
                      np, cfg->layers, cfg->dim, cfg->heads, cfg->ffn_dim,
                      cfg->vocab, seq);
    rc |= strbuf_addf(sb,
                      "  \"cluster\": {\"devices\": %d, \"devices_per_node\": "
                      "%d, \"memory_gib\": %.6g, \"peak_tflops\": %.6g, "
                      "\"efficiency\": %.6g, \"precision\": \"%s\"},\n",
                      c->devices, c->devices_per_node, c->memory_bytes / GIB,
                      c->peak_flops / 1e12, c->efficiency,
                      c->precision == PLAN_FP32 ? "fp32" : "mixed");
    rc |= strbuf_addf(sb,
                      "  \"global_batch\": %d,\n  \"feasible\": %d,\n"
                      "  \"plans\": [",
                      o->global_batch, feasible);
    for (i = 0; i < n; i++) {
        const struct plan *p = &v[i];

        rc |= strbuf_addf(
            sb,
            "%s\n    {\"rank\": %d, \"dp\": %d, \"tp\": %d, \"pp\": %d, "
            "\"micro_batch\": %d, \"micro_batches\": %d,\n"
            "     \"optimizer_sharding\": %s, \"sequence_parallel\": %s,\n"
            "     \"layers_per_stage\": [",
            i ? "," : "", i + 1, p->dp, p->tp, p->pp, p->micro_batch,
            p->micro_batches, p->shard ? "true" : "false",
            p->sp ? "true" : "false");
        for (j = 0; j < p->pp; j++)
            rc |= strbuf_addf(sb, "%s%u", j ? ", " : "", p->layers[j]);
        rc |= strbuf_addstr(sb, "],\n     \"recompute\": [");
        for (j = 0; j < p->pp; j++)
            rc |= strbuf_addf(sb, "%s\"%s\"", j ? ", " : "",
                              rc_names[p->recompute[j]]);
        rc |= strbuf_addf(
            sb,
            "],\n     \"memory_gib\": {\"stage\": %d, \"params\": %.6g, "
            "\"grads\": %.6g, \"optimizer\": %.6g, \"activations\": %.6g, "
            "\"workspace\": %.6g, \"total\": %.6g},\n"
            "     \"step_seconds\": %.6g, \"pipeline_seconds\": %.6g, "
            "\"dp_seconds\": %.6g, \"optimizer_seconds\": %.6g,\n"
            "     \"bubble\": %.6g, \"mfu\": %.6g}",
            p->worst_stage, p->mem.params / GIB, p->mem.grads / GIB,
            p->mem.optim / GIB, p->mem.acts / GIB, p->mem.work / GIB,
            p->mem.total / GIB, p->step_s, p->pipe_s, p->dp_s, p->optim_s,
            p->bubble, p->mfu);
    }
    rc |= strbuf_addstr(sb, "\n  ]\n}\n");
    return rc;
}

/* ---- a plan for nh-train run ---------------------------------------- */

/* An integer >= 1 at key of o (plans[k] when k >= 0, else model). */
static int
run_int(const char *path, const cJSON *o, int k, const char *key, int *out,
        struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e9 ||
        it->valuedouble != floor(it->valuedouble)) {
        if (k >= 0)
            return nh_errorf(err, NH_EFORMAT,
                             "'%s': plans[%d]: no integer '%s' >= 1", path, k,
                             key);
        return nh_errorf(err, NH_EFORMAT, "'%s': model: no integer '%s' >= 1",
                         path, key);
    }
    *out = (int)it->valuedouble;
    return 0;
}

int
plan_run_load(const char *spec, struct plan_run *pr, struct nh_error *err)
{
    static const char *const mkeys[] = {"layers",  "dim",   "heads",
                                        "ffn_dim", "vocab", "seq"};
    char path[4096], *text = NULL, *end;
    const char *hash = strrchr(spec, '#');
    const cJSON *plans, *p, *mo, *it, *rc_it;
    cJSON *j = NULL;
    int *mvals[6], rc, k = 0, i;
    long want = 1;

    memset(pr, 0, sizeof *pr);
    mvals[0] = &pr->layers, mvals[1] = &pr->dim, mvals[2] = &pr->heads;
    mvals[3] = &pr->ffn_dim, mvals[4] = &pr->vocab, mvals[5] = &pr->seq;
    if (hash) {
        errno = 0;
        want = strtol(hash + 1, &end, 10);
        if (errno || end == hash + 1 || *end || want < 1 || want > 100000)
            return nh_errorf(err, NH_EINVAL,
                             "plan '%s': the plan after '#' must be a number "
                             ">= 1",
                             spec);
    }
    snprintf(path, sizeof path, "%.*s",
             (int)(hash ? (size_t)(hash - spec) : strlen(spec)), spec);
    if ((rc = read_file(path, 16 << 20, &text, err)) ||
        (rc = check_json(path, text, err)))
        goto out;
    j = cJSON_Parse(text);
    plans = cJSON_GetObjectItemCaseSensitive(j, "plans");
    mo = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsArray(plans) || !cJSON_IsObject(mo)) {
        rc = nh_errorf(err, NH_EFORMAT,
                       "'%s': not the output of `nh-train plan --json` (no "
                       "'%s')",
                       path, cJSON_IsArray(plans) ? "model" : "plans");
        goto out;
    }
    if (want > cJSON_GetArraySize(plans)) {
        rc = nh_errorf(err, NH_EINVAL, "'%s': no plan %ld (it has %d)", path,
                       want, cJSON_GetArraySize(plans));
        goto out;
    }
    k = (int)want - 1;
    p = cJSON_GetArrayItem(plans, k);
    pr->rank = (int)want;
    if ((rc = run_int(path, p, k, "dp", &pr->dp, err)) ||
        (rc = run_int(path, p, k, "tp", &pr->tp, err)) ||
        (rc = run_int(path, p, k, "pp", &pr->pp, err)) ||
        (rc = run_int(path, p, k, "micro_batch", &pr->micro_batch, err)) ||
        (rc = run_int(path, p, k, "micro_batches", &pr->micro_batches, err)))
        goto out;
    for (i = 0; i < 6; i++)
        if ((rc = run_int(path, mo, -1, mkeys[i], mvals[i], err)))
            goto out;
    it = cJSON_GetObjectItemCaseSensitive(p, "optimizer_sharding");
    rc_it = cJSON_GetObjectItemCaseSensitive(p, "recompute");
    if (!cJSON_IsBool(it) || !cJSON_IsArray(rc_it) ||
        cJSON_GetArraySize(rc_it) < 1) {
        rc = nh_errorf(err, NH_EFORMAT, "'%s': plans[%d]: no '%s'", path, k,
                       cJSON_IsBool(it) ? "recompute" : "optimizer_sharding");
        goto out;
    }
    pr->shard = cJSON_IsTrue(it);
    i = 0;
    cJSON_ArrayForEach(it, rc_it)
    {
        int r;

        for (r = 0; r <= PLAN_RC_FULL; r++)
            if (cJSON_IsString(it) && !strcmp(it->valuestring, rc_names[r]))
                break;
        if (r > PLAN_RC_FULL) {
            rc = nh_errorf(err, NH_EFORMAT,
                           "'%s': plans[%d]: recompute[%d] is not none, "
                           "selective or full",
                           path, k, i);
            goto out;
        }
        if (i == 0)
            pr->recompute = (enum plan_recompute)r;
        else if (r != (int)pr->recompute)
            pr->mixed_recompute = true;
        i++;
    }
out:
    cJSON_Delete(j);
    free(text);
    return rc;
}

int
plan_run_check(const char *spec, const struct plan_run *pr,
               const struct model_config *cfg, int ranks, struct nh_error *err)
{
    if (pr->pp > 1)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s' has pp %d: pipeline parallel is not "
                         "built yet (only plans of pp 1 run)",
                         spec, pr->pp);
    if (pr->mixed_recompute)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s' recomputes differently per stage: "
                         "nh-train run takes one mode",
                         spec);
    if ((long)pr->dp * pr->tp * pr->pp != ranks)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s' needs dp x tp x pp = %ld ranks; this "
                         "run has %d",
                         spec, (long)pr->dp * pr->tp * pr->pp, ranks);
    if (pr->layers != cfg->layers || pr->dim != cfg->dim ||
        pr->heads != cfg->heads || pr->ffn_dim != cfg->ffn_dim ||
        pr->vocab != cfg->vocab)
        return nh_errorf(err, NH_EINVAL,
                         "plan '%s' is for another model (layers %d, dim %d, "
                         "heads %d, ffn_dim %d, vocab %d; the config has %d, "
                         "%d, %d, %d, %d)",
                         spec, pr->layers, pr->dim, pr->heads, pr->ffn_dim,
                         pr->vocab, cfg->layers, cfg->dim, cfg->heads,
                         cfg->ffn_dim, cfg->vocab);
    return 0;
}

/* ---- the command --------------------------------------------------- */

static const char plan_usage[] =
    "usage: nh-train plan --model MODEL.json --cluster CLUSTER.json "
    "[options]\n"
    "\n"
    "Predict memory per device and time per step for every data x tensor x\n"
    "pipeline split of the cluster's devices and print the fastest plans\n"
    "that fit (docs/PLANNER.md).\n"
    "\n"
    "  --global-batch N        sequences per step (default 512)\n"
    "  --seq S                 tokens per sequence (default: the model's)\n"
    "  --top K                 plans to print (default 5, at most 1000)\n"
    "  --json                  a JSON document (schemas/plan.schema.json)\n"
    "  --dp D, --tp T, --pp P  fix a degree (--tp may then exceed a node)\n"
    "  --devices-per-stage N   fix dp x tp\n"
    "  --micro-batch B         fix the micro-batch size\n"
    "  --sequence-parallel     model Megatron's sequence parallelism\n"
    "  --recompute MODE        at least none, selective or full everywhere\n"
    "  --zero 0|1              fix the optimizer sharding (ZeRO-1) off or on\n";

static bool
parse_int(const char *s, int min, int max, int *out)
{
    long v;

    if (!nh_parse_long(s, min, max, &v))
        return false;
    *out = (int)v;
    return true;
}

int
plan_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"cluster", required_argument, NULL, 'c'},
        {"global-batch", required_argument, NULL, 'g'},
        {"seq", required_argument, NULL, 's'},
        {"top", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"dp", required_argument, NULL, 'D'},
        {"tp", required_argument, NULL, 'T'},
        {"pp", required_argument, NULL, 'P'},
        {"devices-per-stage", required_argument, NULL, 'S'},
        {"micro-batch", required_argument, NULL, 'B'},
        {"sequence-parallel", no_argument, NULL, 'q'},
        {"recompute", required_argument, NULL, 'r'},
        {"zero", required_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *cluster = NULL;
    struct plan_opts o = {.global_batch = 512};
    struct model_config cfg;
    struct plan_cluster cl;
    struct nh_error err = {0};
    struct strbuf sb = STRBUF_INIT;
    struct plan *v = NULL;
    int c, li, top = 5, n = 0, json = 0, rc = 1, seq;

    optind = 1;
    opterr = 0;
    while ((li = -1, c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
        bool ok = true;

        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'c':
            cluster = optarg;
            break;
        case 'g':
            ok = parse_int(optarg, 1, 1 << 24, &o.global_batch);
            break;
        case 's':
            ok = parse_int(optarg, 1, MODEL_MAX_SEQ, &o.seq);
            break;
        case 'k':
            ok = parse_int(optarg, 1, PLAN_MAX_TOP, &top);
            break;
        case 'j':
            json = 1;
            break;
        case 'D':
            ok = parse_int(optarg, 1, 10000000, &o.dp);
            break;
        case 'T':
            ok = parse_int(optarg, 1, 10000000, &o.tp);
            break;
        case 'P':
            ok = parse_int(optarg, 1, PLAN_MAX_STAGES, &o.pp);
            break;
        case 'S':
            ok = parse_int(optarg, 1, 10000000, &o.devices_per_stage);
            break;
        case 'B':
            ok = parse_int(optarg, 1, 1 << 24, &o.micro_batch);
            break;
        case 'q':
            o.sequence_parallel = true;
            break;
        case 'r':
            for (n = 0; n <= PLAN_RC_FULL && strcmp(optarg, rc_names[n]); n++)
                ;
            ok = n <= PLAN_RC_FULL;
            o.recompute = (enum plan_recompute)n;
            n = 0;
            break;
        case 'z':
            ok = parse_int(optarg, 0, 1, &o.zero);
            o.zero++;
            break;
        case 'h':
            fputs(plan_usage, stdout);
            return 0;
        default:
            fprintf(stderr, "nh-train: plan: bad option '%s'\n",
                    argv[optind - 1]);
            fputs(plan_usage, stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "nh-train: plan: bad value '%s' for '--%s'\n",
                    optarg, li >= 0 ? longopts[li].name : "?");
            return 2;
        }
    }
    if (!model || !cluster || optind < argc) {
        fprintf(stderr, "nh-train: plan needs --model and --cluster\n");
        fputs(plan_usage, stderr);
        return 2;
    }
    if (plan_model_load(model, &cfg, &err) ||
        plan_cluster_load(cluster, &cl, &err))
        goto fail;
    seq = o.seq ? o.seq : cfg.seq;
    if (plan_search(&cfg, &cl, &o, &v, &n, &err))
        goto fail;
    if (json) {
        if (write_json(&sb, &cfg, &cl, &o, seq, v, n < top ? n : top, n))
            nh_die(1, "out of memory");
    } else {
        double np = cfg.layers * plan_layer_params(&cfg) + cfg.dim +
                    (double)cfg.vocab * cfg.dim * (cfg.tied ? 1 : 2);

        if (strbuf_addf(&sb,
                        "model %.4gB parameters, %d layers; %d devices of "
                        "%.4g GiB, %s precision; global batch %d x %d "
                        "tokens; %d feasible plans\n",
                        np / 1e9, cfg.layers, cl.devices, cl.memory_bytes / GIB,
                        cl.precision == PLAN_FP32 ? "fp32" : "mixed",
                        o.global_batch, seq, n) ||
            write_table(&sb, v, n < top ? n : top))
            nh_die(1, "out of memory");
    }
    if (fwrite(sb.buf, 1, sb.len, stdout) != sb.len || fflush(stdout)) {
        fprintf(stderr, "nh-train: plan: cannot write: %s\n", strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "nh-train: plan: %s\n", err.msg);
out:
    free(v);
    strbuf_release(&sb);
    return rc;
}
