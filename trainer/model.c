/* model.c - forward and backward of the LLaMA-style decoder in fp32
 *
 * The reference single-process model of nh-train: every matrix product
 * goes through cblas_sgemm (weights stored (out,in) like nn.Linear, so
 * y = x W^T), the element-wise work (norms, rotary, softmax, SwiGLU,
 * cross-entropy) runs in OpenMP loops whose results do not depend on the
 * thread count (no floating-point reductions across threads), so a run
 * is reproducible bit for bit on one machine. The matrix products are
 * split across the same OpenMP threads (gemm), with OpenBLAS kept at one
 * thread, so that one thread pool does all the work. The optimizer (optim.c)
 * and the future data-parallel layer work on the flat parameter and
 * gradient blocks this file lays out.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#include <omp.h>

/* Per-layer tensors, in the order they sit in the parameter block. */
enum {
    LT_ATTN_NORM,
    LT_WQ,
    LT_WK,
    LT_WV,
    LT_WO,
    LT_FFN_NORM,
    LT_W1,
    LT_W3,
    LT_W2,
    LT_COUNT
};
static const char *const layer_tensor_names[LT_COUNT] = {
    "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w3", "w2",
};

/* ---- config ---------------------------------------------------------- */

static int
json_int(const cJSON *o, const char *key, long min, long max, int *out,
         struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    double d;

    if (!it)
        return nh_errorf(err, NH_EINVAL, "model config: missing '%s'", key);
    d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d != floor(d))
        return nh_errorf(err, NH_EINVAL,
                         "model config: '%s' must be an integer", key);
    if (d < (double)min || d > (double)max)
        return nh_errorf(err, NH_EINVAL,
                         "model config: '%s' must be in %ld..%ld (got %.0f)",
                         key, min, max, d);
    *out = (int)d;
    return 0;
}

static int
json_float(const cJSON *o, const char *key, double def, double min, double max,
           float *out, struct nh_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it) {
        *out = (float)def;
        return 0;
    }
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= min) ||
        !(it->valuedouble <= max))
        return nh_errorf(err, NH_EINVAL,
                         "model config: '%s' must be a number in %g..%g", key,
                         min, max);
    *out = (float)it->valuedouble;
    return 0;
}

int
model_config_check(const struct model_config *c, struct nh_error *err)
{
    int hd;

    if (c->vocab < 2 || c->vocab > MODEL_MAX_VOCAB || c->dim < 2 ||
        c->dim > MODEL_MAX_DIM || c->layers < 1 ||
        c->layers > MODEL_MAX_LAYERS || c->heads < 1 || c->ffn_dim < 1 ||
        c->ffn_dim > 4 * MODEL_MAX_DIM || c->seq < 1 || c->seq > MODEL_MAX_SEQ)
        return nh_errorf(err, NH_EINVAL, "model config: size out of range");
    if (c->dim % c->heads)
        return nh_errorf(err, NH_EINVAL,
                         "model config: 'heads' must divide 'dim' (%d %% %d "
                         "!= 0)",
                         c->dim, c->heads);
    hd = c->dim / c->heads;
    if (hd % 2)
        return nh_errorf(err, NH_EINVAL,
                         "model config: head dim 'dim'/'heads' must be even "
                         "for rotary pairs (got %d)",
                         hd);
    if (!(c->norm_eps > 0) || !(c->rope_theta > 1))
        return nh_errorf(err, NH_EINVAL,
                         "model config: 'norm_eps' must be > 0 and "
                         "'rope_theta' > 1");
    return 0;
}

int
model_config_parse(const char *json, struct model_config *out,
                   struct nh_error *err)
{
    static const char *const known[] = {
        "vocab", "dim",  "layers",   "heads",      "ffn_dim",
        "seq",   "tied", "norm_eps", "rope_theta", NULL,
    };
    struct model_config c;
    const cJSON *it;
    cJSON *o = cJSON_Parse(json);
    int rc;

    memset(&c, 0, sizeof c);
    if (!o || !cJSON_IsObject(o)) {
        rc = nh_errorf(err, NH_EFORMAT, "model config: not a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(it, o)
    {
        const char *const *k;

        for (k = known; *k && strcmp(*k, it->string); k++)
            ;
        if (!*k) {
            rc = nh_errorf(err, NH_EINVAL, "model config: unknown key '%s'",
                           it->string);
            goto out;
        }
    }
    if ((rc = json_int(o, "vocab", 2, MODEL_MAX_VOCAB, &c.vocab, err)) ||
        (rc = json_int(o, "dim", 2, MODEL_MAX_DIM, &c.dim, err)) ||
        (rc = json_int(o, "layers", 1, MODEL_MAX_LAYERS, &c.layers, err)) ||
        (rc = json_int(o, "heads", 1, MODEL_MAX_DIM, &c.heads, err)) ||
        (rc = json_int(o, "ffn_dim", 1, 4 * MODEL_MAX_DIM, &c.ffn_dim, err)) ||
        (rc = json_int(o, "seq", 1, MODEL_MAX_SEQ, &c.seq, err)) ||
        (rc = json_float(o, "norm_eps", 1e-5, 1e-12, 1.0, &c.norm_eps, err)) ||
        (rc = json_float(o, "rope_theta", 10000.0, 1.0001, 1e9, &c.rope_theta,
                         err)))
        goto out;
    it = cJSON_GetObjectItemCaseSensitive(o, "tied");
    c.tied = true;
    if (it) {
        if (!cJSON_IsBool(it)) {
            rc = nh_errorf(err, NH_EINVAL,
                           "model config: 'tied' must be true or false");
            goto out;
        }
        c.tied = cJSON_IsTrue(it);
    }
    if ((rc = model_config_check(&c, err)))
        goto out;
    *out = c;
out:
    cJSON_Delete(o);
    return rc;
}

int
model_config_load(const char *path, struct model_config *cfg,
                  struct nh_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc;

    if (!f)
        return nh_error_errno(err, "cannot open '%s'", path);
    buf = malloc(65537);
    if (!buf) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    n = fread(buf, 1, 65536, f);
    if (ferror(f)) {
        rc = nh_error_errno(err, "cannot read '%s'", path);
        goto out;
    }
    if (n == 65536) {
        rc = nh_errorf(err, NH_ETOOBIG, "'%s': model config over 64 KiB", path);
        goto out;
    }
    buf[n] = 0;
    rc = model_config_parse(buf, cfg, err);
    if (rc && err) {
        char msg[sizeof err->msg];

        snprintf(msg, sizeof msg, "%s", err->msg);
        nh_errorf(err, rc, "'%s': %s", path, msg);
    }
out:
    free(buf);
    fclose(f);
    return rc;
}

/* ---- sizes ----------------------------------------------------------- */

/* Activation floats per token of one tensor-parallel rank of tp holding
 * nl layers, and the final norm and softmax when last. */
static size_t
act_floats(const struct model_config *c, int T, enum model_recompute rc, int tp,
           int nl, bool last)
{
    size_t C = (size_t)c->dim, L = (size_t)nl, t = (size_t)tp;
    size_t F = (size_t)c->ffn_dim / t, Cl = C / t;
    size_t att = (size_t)c->heads / t * (size_t)T;
    size_t per_layer = 2 + 3 * C + 4 * Cl + 3 * F + att;
    size_t tail = last ? 1 + C + (size_t)c->vocab + 1 : 0;

    switch (rc) {
    case MODEL_RECOMPUTE_SELECTIVE: /* one attention-probability block */
        return (L + 1) * C + L * (per_layer - att) + att + tail;
    case MODEL_RECOMPUTE_FULL: /* layer inputs; one set of internals */
        return (L + 1) * C + per_layer + tail;
    default:
        return (L + 1) * C + L * per_layer + tail;
    }
}

size_t
model_act_floats(const struct model_config *c, int T, enum model_recompute rc)
{
    return act_floats(c, T, rc, 1, c->layers, true);
}

size_t
model_act_floats_per_token(const struct model_config *c, int T)
{
    return model_act_floats(c, T, MODEL_RECOMPUTE_NONE);
}

size_t
model_scratch_floats_per_token(const struct model_config *c, int T)
{
    return 6 * (size_t)c->dim + 2 * (size_t)c->ffn_dim +
           (size_t)c->heads * (size_t)T;
}

double
model_flops_per_token(const struct model_config *c, int T)
{
    double C = c->dim, F = c->ffn_dim, V = c->vocab;
    /* qkvo, the three ffn matrices, QK^T and PV over T keys, the head */
    double layer = 2.0 * (4 * C * C + 3 * C * F) + 2.0 * 2 * T * C;

    return c->layers * layer + 2.0 * C * V;
}

/* ---- init ------------------------------------------------------------ */

static uint64_t
splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A standard normal by Box-Muller from two 53-bit uniforms. */
static double
normal(uint64_t *s)
{
    double u1 = ((double)(splitmix64(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(splitmix64(s) >> 11) / 9007199254740992.0;

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Copy rank r's slice of the whole tensor full (grows x gcols) into p,
 * or (to_full) p back into its place in full. */
static void
slice_copy(const struct model_tensor *t, int r, float *full, float *p,
           bool to_full)
{
    size_t row, rows = (size_t)t->rows, cols = (size_t)t->cols;
    size_t r0 = t->split == MODEL_SPLIT_ROWS ? (size_t)r * rows : 0;
    size_t c0 = t->split == MODEL_SPLIT_COLS ? (size_t)r * cols : 0;

    for (row = 0; row < rows; row++) {
        float *f = full + (r0 + row) * (size_t)t->gcols + c0;

        if (to_full)
            memcpy(f, p + row * cols, cols * sizeof(float));
        else
            memcpy(p + row * cols, f, cols * sizeof(float));
    }
}

static void
tensor_slice(const struct model_tensor *t, int r, float *full, float *p)
{
    slice_copy(t, r, full, p, false);
}

void
model_to_global(const struct model *m, const float *local, float *global,
                bool replicated)
{
    int i;

    for (i = 0; i < m->ntensors; i++) {
        const struct model_tensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * t->cols;

        if (t->split == MODEL_SPLIT_NONE) {
            if (replicated)
                memcpy(global + t->goff, local + t->off, n * sizeof(float));
            continue;
        }
        slice_copy(t, m->tp_rank, global + t->goff, (float *)(local + t->off),
                   true);
    }
}

void
model_from_global(const struct model *m, const float *global, float *local)
{
    int i;

    for (i = 0; i < m->ntensors; i++) {
        const struct model_tensor *t = &m->tensors[i];

        if (t->split == MODEL_SPLIT_NONE)
            memcpy(local + t->off, global + t->goff,
                   (size_t)t->rows * t->cols * sizeof(float));
        else
            slice_copy(t, m->tp_rank, (float *)(global + t->goff),
                       local + t->off, false);
    }
}

/* Append tensor name of global shape rows x cols; under tensor parallel
 * a split tensor keeps this rank's rows (MODEL_SPLIT_ROWS) or columns
 * (MODEL_SPLIT_COLS), 1/tp of them. */
static void
add_tensor(struct model *m, const char *name, int rows, int cols, int ndim,
           int split)
{
    struct model_tensor *t = &m->tensors[m->ntensors++];

    snprintf(t->name, sizeof t->name, "%s", name);
    t->off = m->nparams;
    t->goff = m->gparams;
    t->grows = rows;
    t->gcols = cols;
    t->split = m->tp > 1 ? split : MODEL_SPLIT_NONE;
    t->rows = t->split == MODEL_SPLIT_ROWS ? rows / m->tp : rows;
    t->cols = t->split == MODEL_SPLIT_COLS ? cols / m->tp : cols;
    t->ndim = ndim;
    m->nparams += (size_t)t->rows * (size_t)t->cols;
    m->gparams += (size_t)rows * (size_t)cols;
}

int
model_init(struct model *m, const struct model_config *cfg, uint64_t seed,
           struct nh_error *err)
{
    return model_init_tp(m, cfg, seed, 1, 0, err);
}

int
model_init_tp(struct model *m, const struct model_config *cfg, uint64_t seed,
              int tp, int tp_rank, struct nh_error *err)
{
    return model_init_stage(m, cfg, seed, tp, tp_rank, 0, cfg->layers, err);
}

/* Draw the n values of one tensor of the init stream: into t's place in
 * m->params (its slice under tensor parallel) or, when this stage does not
 * hold it (t NULL), nowhere, so later tensors see the same stream. */
static int
draw_tensor(struct model *m, const struct model_tensor *t, size_t n, double std,
            uint64_t *s, float **full)
{
    size_t j;

    if (!t) {
        for (j = 0; j < n; j++)
            (void)normal(s);
        return 0;
    }
    if (t->split == MODEL_SPLIT_NONE) {
        for (j = 0; j < n; j++)
            m->params[t->off + j] = (float)(std * normal(s));
        return 0;
    }
    /* the whole tensor from the stream, then this rank's slice */
    free(*full);
    if (!(*full = malloc(n * sizeof(float))))
        return NH_ENOMEM;
    for (j = 0; j < n; j++)
        (*full)[j] = (float)(std * normal(s));
    tensor_slice(t, m->tp_rank, *full, m->params + t->off);
    return 0;
}

int
model_init_stage(struct model *m, const struct model_config *cfg, uint64_t seed,
                 int tp, int tp_rank, int l0, int l1, struct nh_error *err)
{
    int C, F, V, L, half, i, l, rc;
    double total;
    uint64_t s = seed;
    char name[32];
    float *full = NULL;
    size_t j, lf;

    memset(m, 0, sizeof *m);
    if ((rc = model_config_check(cfg, err)))
        return rc;
    if (tp < 1 || tp_rank < 0 || tp_rank >= tp || cfg->heads % tp ||
        cfg->ffn_dim % tp)
        return nh_errorf(err, NH_EINVAL,
                         "tensor parallel %d must divide the heads (%d) and "
                         "'ffn_dim' (%d)",
                         tp, cfg->heads, cfg->ffn_dim);
    if (l0 < 0 || l1 <= l0 || l1 > cfg->layers)
        return nh_errorf(err, NH_EINVAL,
                         "stage layers [%d, %d) are not within the model's %d",
                         l0, l1, cfg->layers);
    m->cfg = *cfg;
    m->l0 = l0;
    m->nl = l1 - l0;
    m->first = l0 == 0;
    m->last = l1 == cfg->layers;
    m->tp = tp;
    m->tp_rank = tp_rank;
    m->lheads = cfg->heads / tp;
    m->qdim = cfg->dim / tp;
    m->lffn = cfg->ffn_dim / tp;
    C = cfg->dim, F = cfg->ffn_dim, V = cfg->vocab, L = cfg->layers;
    total = (double)V * C * (cfg->tied ? 1 : 2) +
            (double)L * (2.0 * C + 4.0 * C * C + 3.0 * C * F) + C;
    if (total > 4e9)
        return nh_errorf(err, NH_ETOOBIG,
                         "model config: %.3g parameters is over the 4e9 "
                         "limit",
                         total);
    m->tensors = calloc((size_t)(2 + LT_COUNT * m->nl + 1), sizeof *m->tensors);
    if (!m->tensors)
        goto nomem;
    /* the embedding on the first stage, and a copy on the last when the
     * head is tied to it; this stage's layers; the final norm and head on
     * the last stage */
    m->embed_i = m->norm_i = m->head_i = -1;
    if (m->first || (m->last && cfg->tied)) {
        m->embed_i = m->ntensors;
        add_tensor(m, "embed", V, C, 2, MODEL_SPLIT_NONE);
    }
    /* global offsets (goff) are the whole model's layout whatever this
     * stage holds: embedding, L layers of lf floats, norm, head */
    lf = 2 * (size_t)C + 4 * (size_t)C * C + 3 * (size_t)C * F;
    m->gparams = (size_t)V * C + (size_t)l0 * lf;
    m->layer_base = m->ntensors;
    for (l = l0; l < l1; l++) {
        for (i = 0; i < LT_COUNT; i++) {
            int rows = C, cols = C, ndim = 2, split = MODEL_SPLIT_ROWS;

            if (i == LT_ATTN_NORM || i == LT_FFN_NORM)
                cols = 1, ndim = 1, split = MODEL_SPLIT_NONE;
            else if (i == LT_W1 || i == LT_W3)
                rows = F;
            else if (i == LT_W2)
                cols = F, split = MODEL_SPLIT_COLS;
            else if (i == LT_WO)
                split = MODEL_SPLIT_COLS;
            snprintf(name, sizeof name, "layers.%d.%s", l,
                     layer_tensor_names[i]);
            add_tensor(m, name, rows, cols, ndim, split);
        }
    }
    m->gparams = (size_t)V * C + (size_t)L * lf;
    if (m->last) {
        m->norm_i = m->ntensors;
        add_tensor(m, "norm", C, 1, 1, MODEL_SPLIT_NONE);
        m->head_i = m->embed_i;
        if (!cfg->tied) {
            m->head_i = m->ntensors;
            add_tensor(m, "head", V, C, 2, MODEL_SPLIT_NONE);
        }
    }
    m->gparams = (size_t)V * C * (cfg->tied ? 1 : 2) + (size_t)L * lf + C;

    m->params = malloc(m->nparams * sizeof(float));
    m->grads = calloc(m->nparams, sizeof(float));
    half = C / cfg->heads / 2;
    m->rope_cos = malloc((size_t)cfg->seq * half * sizeof(float));
    m->rope_sin = malloc((size_t)cfg->seq * half * sizeof(float));
    if (!m->params || !m->grads || !m->rope_cos || !m->rope_sin)
        goto nomem;

    /* init from one stream in the whole model's tensor order (embedding,
     * layers, head; norm weights are ones and draw nothing), so the
     * values depend on the seed and the config only, whatever the stage
     * or tensor rank */
    for (i = 0; i < m->ntensors; i++)
        if (m->tensors[i].ndim == 1)
            for (j = 0; j < (size_t)m->tensors[i].rows; j++)
                m->params[m->tensors[i].off + j] = 1.0f;
    if (draw_tensor(m, m->embed_i >= 0 ? &m->tensors[m->embed_i] : NULL,
                    (size_t)V * C, 0.02, &s, &full) < 0)
        goto nomem;
    for (l = 0; l < L; l++) {
        for (i = 0; i < LT_COUNT; i++) {
            bool here = l >= l0 && l < l1;
            const struct model_tensor *t =
                here ? &m->tensors[m->layer_base + (l - l0) * LT_COUNT + i]
                     : NULL;
            double std = i == LT_WO || i == LT_W2 ? 0.02 / sqrt(2.0 * L) : 0.02;
            size_t n = (i == LT_W1 || i == LT_W3 || i == LT_W2) ? (size_t)F * C
                                                                : (size_t)C * C;

            if (i == LT_ATTN_NORM || i == LT_FFN_NORM)
                continue;
            if (draw_tensor(m, t, n, std, &s, &full) < 0)
                goto nomem;
        }
    }
    if (!cfg->tied && draw_tensor(m, m->last ? &m->tensors[m->head_i] : NULL,
                                  (size_t)V * C, 0.02, &s, &full) < 0)
        goto nomem;
    free(full);

    /* rotary table: angle t * theta^(-2i/hd), computed in double */
    for (l = 0; l < cfg->seq; l++) {
        for (i = 0; i < half; i++) {
            double freq = pow((double)cfg->rope_theta, -(double)i / half);
            double a = (double)l * freq;

            m->rope_cos[(size_t)l * half + i] = (float)cos(a);
            m->rope_sin[(size_t)l * half + i] = (float)sin(a);
        }
    }
    return 0;
nomem:
    free(full);
    model_free(m);
    return nh_errorf(err, NH_ENOMEM, "out of memory for the model");
}

void
model_free(struct model *m)
{
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->acts);
    free(m->res);
    free(m->layer);
    free(m->tokens);
    free(m->targets);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

const struct model_tensor *
model_tensor_find(const struct model *m, const char *name)
{
    int i;

    for (i = 0; i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return &m->tensors[i];
    return NULL;
}

void
model_zero_grad(struct model *m)
{
    memset(m->grads, 0, m->nparams * sizeof(float));
}

/* Parameter (or gradient) pointer of tensor i. */
static float *
P(const struct model *m, int i)
{
    return m->params + m->tensors[i].off;
}

static float *
G(const struct model *m, int i)
{
    return m->grads + m->tensors[i].off;
}

/* Tensor index of this stage's layer l (0-based within the stage). */
static int
layer_tensor(const struct model *m, int l, int which)
{
    return m->layer_base + l * LT_COUNT + which;
}

/* Size and carve the activation block for (B,T). */
static int
ensure_acts(struct model *m, int B, int T, struct nh_error *err)
{
    const struct model_config *c = &m->cfg;
    size_t N = (size_t)B * T, C = c->dim, F = m->lffn, V = c->vocab;
    size_t Q = m->qdim, A = (size_t)m->lheads * T * N; /* (B,NH,T,T) */
    size_t need = N * act_floats(c, T, m->recompute, m->tp, m->nl, m->last);
    size_t sneed = N * model_scratch_floats_per_token(c, T);
    float *p;
    int l;

    if (!m->res) {
        m->res = calloc((size_t)m->nl + 1, sizeof *m->res);
        m->layer = calloc((size_t)m->nl, sizeof *m->layer);
        if (!m->res || !m->layer)
            goto nomem;
    }
    if (need > m->nacts) {
        free(m->acts);
        free(m->scratch);
        free(m->tokens);
        free(m->targets);
        m->scratch = NULL, m->tokens = m->targets = NULL, m->nacts = 0;
        m->acts = malloc(need * sizeof(float));
        if (!m->acts)
            goto nomem;
        m->nacts = need;
    }
    if (sneed > m->nscratch) {
        free(m->scratch);
        m->nscratch = 0;
        m->scratch = malloc(sneed * sizeof(float));
        if (!m->scratch)
            goto nomem;
        m->nscratch = sneed;
    }
    if (N > m->cap_tokens || !m->tokens) {
        free(m->tokens);
        free(m->targets);
        m->tokens = malloc(N * sizeof(int32_t));
        m->targets = malloc(N * sizeof(int32_t));
        if (!m->tokens || !m->targets)
            goto nomem;
        m->cap_tokens = N;
    }
    p = m->acts;
#define TAKE(ptr, n) (ptr = p, p += (n))
    for (l = 0; l <= m->nl; l++)
        TAKE(m->res[l], N * C);
    for (l = 0; l < m->nl; l++) {
        struct model_layer_acts *a = &m->layer[l];

        if (l > 0 && m->recompute == MODEL_RECOMPUTE_FULL) {
            *a = m->layer[0]; /* every layer in the same buffers */
            continue;
        }
        TAKE(a->r1, N);
        TAKE(a->xn1, N * C);
        TAKE(a->q, N * Q);
        TAKE(a->k, N * Q);
        TAKE(a->v, N * Q);
        if (l > 0 && m->recompute == MODEL_RECOMPUTE_SELECTIVE)
            a->att = m->layer[0].att; /* one block, refilled in backward */
        else
            TAKE(a->att, A);
        TAKE(a->ay, N * Q);
        TAKE(a->mid, N * C);
        TAKE(a->r2, N);
        TAKE(a->xn2, N * C);
        TAKE(a->h1, N * F);
        TAKE(a->h3, N * F);
        TAKE(a->g, N * F);
    }
    if (m->last) {
        TAKE(m->rf, N);
        TAKE(m->xnf, N * C);
        TAKE(m->probs, N * V);
        TAKE(m->losses, N);
    }
#undef TAKE
    m->B = B, m->T = T;
    return 0;
nomem:
    m->nacts = m->nscratch = m->cap_tokens = 0;
    return nh_errorf(err, NH_ENOMEM, "out of memory for %zu activations", need);
}

/* ---- building blocks ------------------------------------------------- */

/* C (M,N) = alpha op(A) op(B) + beta C, row-major, split across the
 * OpenMP threads: each thread runs a single-threaded cblas_sgemm on its
 * share of C's rows (or columns, when C is wider than tall), in slices of
 * 16. model_forward and model_backward keep OpenBLAS at one thread
 * (blas_single), so OpenMP is the only thread pool: OpenBLAS's own
 * threads and OpenMP's idle workers otherwise spin against each other on
 * a machine with as many cores as threads. Every element of C is still
 * one sgemm's dot product over all of K, as in an unsplit call. */
static void
gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
     int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    bool split_m = M >= N;

    if (nt <= 1 || (double)M * N * K < 1e6) {
        cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, alpha, A, lda, B, ldb, beta,
                    C, ldc);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int len = split_m ? M : N;
        int chunk = ((len + n - 1) / n + 15) / 16 * 16;
        int lo = t * chunk, hi = lo + chunk < len ? lo + chunk : len;

        if (lo < hi && split_m)
            cblas_sgemm(CblasRowMajor, TA, TB, hi - lo, N, K, alpha,
                        A + (ta ? (size_t)lo : (size_t)lo * lda), lda, B, ldb,
                        beta, C + (size_t)lo * ldc, ldc);
        else if (lo < hi)
            cblas_sgemm(CblasRowMajor, TA, TB, M, hi - lo, K, alpha, A, lda,
                        B + (tb ? (size_t)lo * ldb : (size_t)lo), ldb, beta,
                        C + lo, ldc);
    }
}

/* OpenBLAS at one thread for the duration of a forward or backward (see
 * gemm); returns the count to restore. */
static int
blas_single(void)
{
    int n = openblas_get_num_threads();

    if (n != 1)
        openblas_set_num_threads(1);
    return n;
}

static void
blas_restore(int n)
{
    if (n != 1)
        openblas_set_num_threads(n);
}

/* y (N,out) = x (N,in) W^T + beta y, W (out,in) */
static void
linear_fwd(float *y, const float *x, const float *W, int N, int in, int out,
           float beta)
{
    gemm(false, true, N, out, in, 1.0f, x, in, W, in, beta, y, out);
}

/* dx (N,in) = dy W + beta_dx dx; dW (out,in) += dy^T x */
static void
linear_bwd(float *dx, float *dW, const float *dy, const float *x,
           const float *W, int N, int in, int out, float beta_dx)
{
    gemm(false, false, N, in, out, 1.0f, dy, out, W, in, beta_dx, dx, in);
    gemm(true, false, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
}

/* y = x * r * w with r = 1/sqrt(mean(x^2) + eps), per row of (N,C) */
static void
rmsnorm_fwd(float *y, float *r, const float *x, const float *w, int N, int C,
            float eps)
{
    int n;

#pragma omp parallel for schedule(static)
    for (n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = y + (size_t)n * C;
        double ss = 0;
        float rn;
        int c;

        for (c = 0; c < C; c++)
            ss += (double)xr[c] * xr[c];
        rn = (float)(1.0 / sqrt(ss / C + eps));
        r[n] = rn;
        for (c = 0; c < C; c++)
            yr[c] = xr[c] * rn * w[c];
    }
}

/* dx += r (dy w - xhat mean(dy w xhat)), dw += sum_n dy xhat,
 * xhat = x r */
static void
rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x,
            const float *r, const float *w, int N, int C)
{
    int n, c;

#pragma omp parallel for schedule(static)
    for (n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
        float *dxr = dx + (size_t)n * C;
        float rn = r[n];
        double dot = 0;
        float mean;
        int k;

        for (k = 0; k < C; k++)
            dot += (double)dyr[k] * w[k] * xr[k] * rn;
        mean = (float)(dot / C);
        for (k = 0; k < C; k++)
            dxr[k] += rn * (dyr[k] * w[k] - xr[k] * rn * mean);
    }
    /* dw per block of 64 columns, each column summed over the rows in
     * order (the same sums as one column at a time, read row-wise) */
#pragma omp parallel for schedule(static)
    for (c = 0; c < C; c += 64) {
        double s[64] = {0};
        int k, j, cw = C - c < 64 ? C - c : 64;

        for (k = 0; k < N; k++) {
            const float *dyr = dy + (size_t)k * C + c;
            const float *xr = x + (size_t)k * C + c;

            for (j = 0; j < cw; j++)
                s[j] += (double)dyr[j] * xr[j] * r[k];
        }
        for (j = 0; j < cw; j++)
            dw[c + j] += (float)s[j];
    }
}

/* Rotate each head's halves (i, i + hd/2) of x (N,C) by the angle of the
 * token's position t = n % T; dir -1 applies the inverse (the backward). */
static void
rope(const struct model *m, float *x, int N, int T, int dir)
{
    int C = m->qdim, NH = m->lheads, hd = m->cfg.dim / m->cfg.heads;
    int half = hd / 2, n;

#pragma omp parallel for schedule(static)
    for (n = 0; n < N; n++) {
        const float *cs = m->rope_cos + (size_t)(n % T) * half;
        const float *sn = m->rope_sin + (size_t)(n % T) * half;
        int h, i;

        for (h = 0; h < NH; h++) {
            float *a = x + (size_t)n * C + (size_t)h * hd, *b = a + half;

            for (i = 0; i < half; i++) {
                float x1 = a[i], x2 = b[i], s = dir * sn[i];

                a[i] = x1 * cs[i] - x2 * s;
                b[i] = x2 * cs[i] + x1 * s;
            }
        }
    }
}

/* Causal softmax attention for every (b,h): att = softmax(q k^T / sqrt(hd))
 * with keys j <= i, ay = att v (unless !with_ay: selective recompute
 * refills att alone). The (b,h) pairs are shared out among the
 * OpenMP threads, each doing its pair's two products (single-threaded
 * sgemm) and softmax while the block is in cache. */
static void
attention_fwd(const struct model *m, struct model_layer_acts *a, int B, int T,
              bool with_ay)
{
    int C = m->qdim, NH = m->lheads, hd = m->cfg.dim / m->cfg.heads, bh;
    float scale = 1.0f / sqrtf((float)hd);

#pragma omp parallel for schedule(static)
    for (bh = 0; bh < B * NH; bh++) {
        size_t off = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hd;
        float *att = a->att + (size_t)bh * T * T;
        int i;

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale,
                    a->q + off, C, a->k + off, C, 0.0f, att, T);
        for (i = 0; i < T; i++) {
            float *p = att + (size_t)i * T, mx = p[0];
            double sum = 0;
            int j;

            for (j = 1; j <= i; j++)
                mx = p[j] > mx ? p[j] : mx;
            for (j = 0; j <= i; j++) {
                p[j] = expf(p[j] - mx);
                sum += p[j];
            }
            for (j = 0; j <= i; j++)
                p[j] = (float)(p[j] / sum);
            for (; j < T; j++)
                p[j] = 0.0f;
        }
        if (with_ay)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T,
                        1.0f, att, T, a->v + off, C, 0.0f, a->ay + off, C);
    }
}

/* From day (N,C) to dq, dk, dv (N,C) (rotated q, k); datt (B,NH,T,T) is
 * scratch. One (b,h) pair per OpenMP iteration, as in the forward. */
static void
attention_bwd(const struct model *m, const struct model_layer_acts *a,
              const float *day, float *dq, float *dk, float *dv, float *datt,
              int B, int T)
{
    int C = m->qdim, NH = m->lheads, hd = m->cfg.dim / m->cfg.heads, bh;
    float scale = 1.0f / sqrtf((float)hd);

#pragma omp parallel for schedule(static)
    for (bh = 0; bh < B * NH; bh++) {
        size_t off = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hd;
        const float *att = a->att + (size_t)bh * T * T;
        float *d = datt + (size_t)bh * T * T;
        int i;

        /* dP = dY V^T, dV = P^T dY */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f,
                    day + off, C, a->v + off, C, 0.0f, d, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f,
                    att, T, day + off, C, 0.0f, dv + off, C);
        /* dS = P (dP - rowsum(P dP)), zero above the diagonal */
        for (i = 0; i < T; i++) {
            const float *p = att + (size_t)i * T;
            float *dr = d + (size_t)i * T, s;
            double dot = 0;
            int j;

            for (j = 0; j <= i; j++)
                dot += (double)p[j] * dr[j];
            s = (float)dot;
            for (j = 0; j <= i; j++)
                dr[j] = p[j] * (dr[j] - s);
            for (; j < T; j++)
                dr[j] = 0.0f;
        }
        /* dQ = scale dS K, dK = scale dS^T Q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale,
                    d, T, a->k + off, C, 0.0f, dq + off, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, d,
                    T, a->q + off, C, 0.0f, dk + off, C);
    }
}

/* ---- forward --------------------------------------------------------- */

/* y (N,C) = x + h W^T for a row-parallel W (C, in): one rank's product is a
 * partial sum, so under tensor parallel the products are summed over the
 * tensor group (tp_sum) before x is added. */
static void
residual_out(struct model *m, float *y, const float *x, const float *h,
             const float *W, int N, int in)
{
    size_t i, NC = (size_t)N * m->cfg.dim;

    if (m->tp == 1) {
        memcpy(y, x, NC * sizeof(float));
        linear_fwd(y, h, W, N, in, m->cfg.dim, 1);
        return;
    }
    linear_fwd(y, h, W, N, in, m->cfg.dim, 0);
    m->tp_sum(m->tp_ctx, y, NC);
#pragma omp parallel for schedule(static)
    for (i = 0; i < NC; i++)
        y[i] += x[i];
}

/* Layer l's forward from m->res[l]: its activations, and with out the
 * next residual stream m->res[l + 1] (a recompute in the backward needs
 * only the activations). */
static void
layer_fwd(struct model *m, int l, int B, int T, bool out)
{
    const struct model_config *c = &m->cfg;
    struct model_layer_acts *a = &m->layer[l];
    int C = c->dim, Q = m->qdim, F = m->lffn, N = B * T;
    const float *x = m->res[l];
    size_t i, NF = (size_t)N * F;

    rmsnorm_fwd(a->xn1, a->r1, x, P(m, layer_tensor(m, l, LT_ATTN_NORM)), N, C,
                c->norm_eps);
    linear_fwd(a->q, a->xn1, P(m, layer_tensor(m, l, LT_WQ)), N, C, Q, 0);
    linear_fwd(a->k, a->xn1, P(m, layer_tensor(m, l, LT_WK)), N, C, Q, 0);
    linear_fwd(a->v, a->xn1, P(m, layer_tensor(m, l, LT_WV)), N, C, Q, 0);
    rope(m, a->q, N, T, 1);
    rope(m, a->k, N, T, 1);
    attention_fwd(m, a, B, T, true);
    residual_out(m, a->mid, x, a->ay, P(m, layer_tensor(m, l, LT_WO)), N, Q);

    rmsnorm_fwd(a->xn2, a->r2, a->mid, P(m, layer_tensor(m, l, LT_FFN_NORM)), N,
                C, c->norm_eps);
    linear_fwd(a->h1, a->xn2, P(m, layer_tensor(m, l, LT_W1)), N, C, F, 0);
    linear_fwd(a->h3, a->xn2, P(m, layer_tensor(m, l, LT_W3)), N, C, F, 0);
#pragma omp parallel for schedule(static)
    for (i = 0; i < NF; i++) {
        float h = a->h1[i];

        a->g[i] = h / (1.0f + expf(-h)) * a->h3[i];
    }
    if (out)
        residual_out(m, m->res[l + 1], a->mid, a->g,
                     P(m, layer_tensor(m, l, LT_W2)), N, F);
}

int
model_forward(struct model *m, const int32_t *tokens, const int32_t *targets,
              int B, int T, float *loss, struct nh_error *err)
{
    if (!m->first || !m->last)
        return nh_errorf(err, NH_EINVAL,
                         "model_forward of a pipeline stage: use "
                         "model_forward_stage");
    return model_forward_stage(m, tokens, NULL, targets, B, T, loss, err);
}

/* A token id outside [0, V) in ids (N): its message. */
static int
check_ids(const int32_t *ids, int N, int V, struct nh_error *err)
{
    int n;

    for (n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= V)
            return nh_errorf(err, NH_EINVAL,
                             "token %d at position %d is outside the "
                             "vocabulary (%d)",
                             ids[n], n, V);
    return 0;
}

int
model_forward_stage(struct model *m, const int32_t *tokens, const float *x,
                    const int32_t *targets, int B, int T, float *loss,
                    struct nh_error *err)
{
    const struct model_config *c = &m->cfg;
    int C = c->dim, V = c->vocab, L = m->nl;
    int N, n, l, rc, nblas;
    double sum = 0;

    if (B < 1 || T < 1 || T > c->seq || (double)B * T > 1e8)
        return nh_errorf(err, NH_EINVAL,
                         "batch %dx%d: need B >= 1 and 1 <= T <= %d", B, T,
                         c->seq);
    N = B * T;
    if ((m->first && (rc = check_ids(tokens, N, V, err))) ||
        (m->last && (rc = check_ids(targets, N, V, err))))
        return rc;
    m->have_forward = false;
    if ((rc = ensure_acts(m, B, T, err)))
        return rc;
    if (m->first)
        memcpy(m->tokens, tokens, (size_t)N * sizeof *tokens);
    if (m->last)
        memcpy(m->targets, targets, (size_t)N * sizeof *targets);
    nblas = blas_single();

    if (m->first) {
        const float *embed = P(m, m->embed_i);

#pragma omp parallel for schedule(static)
        for (n = 0; n < N; n++)
            memcpy(m->res[0] + (size_t)n * C, embed + (size_t)tokens[n] * C,
                   (size_t)C * sizeof(float));
    } else {
        memcpy(m->res[0], x, (size_t)N * C * sizeof(float));
    }

    for (l = 0; l < L; l++)
        layer_fwd(m, l, B, T, true);
    if (!m->last) { /* the output is m->res[L], for the next stage */
        m->have_forward = true;
        blas_restore(nblas);
        return 0;
    }

    rmsnorm_fwd(m->xnf, m->rf, m->res[L], P(m, m->norm_i), N, C, c->norm_eps);
    linear_fwd(m->probs, m->xnf, P(m, m->head_i), N, C, V, 0);

    /* cross-entropy: loss_n = logsumexp(logits) - logits[target] */
#pragma omp parallel for schedule(static)
    for (n = 0; n < N; n++) {
        float *p = m->probs + (size_t)n * V, mx = p[0];
        float lt = p[targets[n]];
        double s = 0;
        int j;

        for (j = 1; j < V; j++)
            mx = p[j] > mx ? p[j] : mx;
        for (j = 0; j < V; j++) {
            p[j] = expf(p[j] - mx);
            s += p[j];
        }
        m->losses[n] = (float)((double)mx + log(s) - lt);
        for (j = 0; j < V; j++)
            p[j] = (float)(p[j] / s);
    }
    for (n = 0; n < N; n++)
        sum += m->losses[n];
    m->loss = (float)(sum / N);
    m->have_forward = true;
    *loss = m->loss;
    blas_restore(nblas);
    return 0;
}

/* ---- backward -------------------------------------------------------- */

size_t
model_layer_off(const struct model *m, int l)
{
    if (l < m->nl)
        return m->tensors[layer_tensor(m, l, 0)].off;
    return m->last ? m->tensors[m->norm_i].off : m->nparams;
}

/* Tell the hook that grads from layer l's start (l = L: the final norm)
 * up to end are final. */
static void
grads_ready(struct model *m, int l, size_t end)
{
    size_t off = model_layer_off(m, l);

    if (m->grads_ready)
        m->grads_ready(m->grads_ready_ctx, off, end - off);
}

int
model_backward(struct model *m, struct nh_error *err)
{
    return model_backward_stage(m, NULL, err);
}

int
model_backward_stage(struct model *m, const float *dout, struct nh_error *err)
{
    const struct model_config *c = &m->cfg;
    int C = c->dim, F = m->lffn, Q = m->qdim, V = c->vocab, L = m->nl;
    int B = m->B, T = m->T, N = B * T, n, l, nblas;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    float *dres, *dxn, *dq, *dk, *dv, *day, *dh1, *dg, *datt, *p;
    float invN = 1.0f / (float)N;

    if (!m->have_forward)
        return nh_errorf(err, NH_ECONFLICT,
                         "backward without a forward to go back through");
    if (!m->last && !dout)
        return nh_errorf(err, NH_EINVAL,
                         "backward of a stage before the last needs the "
                         "gradient of its output");
    m->have_forward = false;
    nblas = blas_single();
    p = m->scratch;
    dres = p, p += NC;
    dxn = p, p += NC;
    dq = p, p += NC;
    dk = p, p += NC;
    dv = p, p += NC;
    day = p, p += NC;
    dh1 = p, p += NF;
    dg = p, p += NF;
    datt = p;

    if (m->last) {
        /* dlogits = (softmax - onehot) / N, in place of the probabilities */
#pragma omp parallel for schedule(static)
        for (n = 0; n < N; n++) {
            float *d = m->probs + (size_t)n * V;
            int j;

            for (j = 0; j < V; j++)
                d[j] *= invN;
            d[m->targets[n]] -= invN;
        }
        linear_bwd(dxn, G(m, m->head_i), m->probs, m->xnf, P(m, m->head_i), N,
                   C, V, 0);
        memset(dres, 0, NC * sizeof(float));
        rmsnorm_bwd(dres, G(m, m->norm_i), dxn, m->res[L], m->rf,
                    P(m, m->norm_i), N, C);
        grads_ready(m, L, m->nparams);
    } else {
        memcpy(dres, dout, NC * sizeof(float));
    }

    for (l = L - 1; l >= 0; l--) {
        struct model_layer_acts *a = &m->layer[l];
        size_t i;

        if (m->recompute == MODEL_RECOMPUTE_FULL)
            layer_fwd(m, l, B, T, false);
        else if (m->recompute == MODEL_RECOMPUTE_SELECTIVE)
            attention_fwd(m, a, B, T, false);

        /* out = mid + g W2^T; dres carries d(out) into d(mid) */
        linear_bwd(dg, G(m, layer_tensor(m, l, LT_W2)), dres, a->g,
                   P(m, layer_tensor(m, l, LT_W2)), N, F, C, 0);
#pragma omp parallel for schedule(static)
        for (i = 0; i < NF; i++) {
            float h = a->h1[i], s = 1.0f / (1.0f + expf(-h)), d = dg[i];

            dh1[i] = d * a->h3[i] * s * (1.0f + h * (1.0f - s));
            dg[i] = d * h * s; /* now d(h3) */
        }
        linear_bwd(dxn, G(m, layer_tensor(m, l, LT_W1)), dh1, a->xn2,
                   P(m, layer_tensor(m, l, LT_W1)), N, C, F, 0);
        linear_bwd(dxn, G(m, layer_tensor(m, l, LT_W3)), dg, a->xn2,
                   P(m, layer_tensor(m, l, LT_W3)), N, C, F, 1);
        if (m->tp > 1) /* each rank's slice of F gave a partial sum */
            m->tp_sum(m->tp_ctx, dxn, NC);
        rmsnorm_bwd(dres, G(m, layer_tensor(m, l, LT_FFN_NORM)), dxn, a->mid,
                    a->r2, P(m, layer_tensor(m, l, LT_FFN_NORM)), N, C);

        /* mid = x + ay Wo^T */
        linear_bwd(day, G(m, layer_tensor(m, l, LT_WO)), dres, a->ay,
                   P(m, layer_tensor(m, l, LT_WO)), N, Q, C, 0);
        attention_bwd(m, a, day, dq, dk, dv, datt, B, T);
        rope(m, dq, N, T, -1);
        rope(m, dk, N, T, -1);
        linear_bwd(dxn, G(m, layer_tensor(m, l, LT_WQ)), dq, a->xn1,
                   P(m, layer_tensor(m, l, LT_WQ)), N, C, Q, 0);
        linear_bwd(dxn, G(m, layer_tensor(m, l, LT_WK)), dk, a->xn1,
                   P(m, layer_tensor(m, l, LT_WK)), N, C, Q, 1);
        linear_bwd(dxn, G(m, layer_tensor(m, l, LT_WV)), dv, a->xn1,
                   P(m, layer_tensor(m, l, LT_WV)), N, C, Q, 1);
        if (m->tp > 1) /* each rank's heads gave a partial sum */
            m->tp_sum(m->tp_ctx, dxn, NC);
        rmsnorm_bwd(dres, G(m, layer_tensor(m, l, LT_ATTN_NORM)), dxn,
                    m->res[l], a->r1, P(m, layer_tensor(m, l, LT_ATTN_NORM)), N,
                    C);
        grads_ready(m, l, model_layer_off(m, l + 1));
    }

    m->dinput = dres; /* the gradient of the stage's input */
    if (!m->first)
        goto done;
    /* embedding rows, in token order (a row may repeat) */
    for (n = 0; n < N; n++) {
        float *dE = G(m, m->embed_i) + (size_t)m->tokens[n] * C;
        const float *d = dres + (size_t)n * C;
        int j;

        for (j = 0; j < C; j++)
            dE[j] += d[j];
    }
done:
    blas_restore(nblas);
    if (m->grads_ready)
        m->grads_ready(m->grads_ready_ctx, 0, model_layer_off(m, 0));
    return 0;
}
