/* optim.c - AdamW with decoupled weight decay, clipping, warmup + cosine
 *
 * Works on the flat parameter and gradient blocks of struct model, tensor
 * by tensor so that the decay applies to matrices only. The update is
 * element-wise and runs in OpenMP loops; the gradient norm is a serial
 * double sum so that it does not depend on the thread count.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
adamw_init(struct adamw *o, const struct adamw_config *c, size_t n,
           struct nh_error *err)
{
    memset(o, 0, sizeof *o);
    if (!(c->lr >= 0) || !(c->min_lr >= 0) || c->min_lr > c->lr)
        return nh_errorf(err, NH_EINVAL,
                         "adamw: need 0 <= 'min_lr' <= 'lr' (got %g, %g)",
                         c->min_lr, c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return nh_errorf(err, NH_EINVAL,
                         "adamw: 'beta1' and 'beta2' must be in [0,1)");
    if (!(c->eps > 0) || !(c->weight_decay >= 0) || !(c->grad_clip >= 0))
        return nh_errorf(err, NH_EINVAL,
                         "adamw: need 'eps' > 0, 'weight_decay' >= 0 and "
                         "'grad_clip' >= 0");
    if (c->warmup_steps < 0 || c->total_steps < 1 ||
        c->warmup_steps > c->total_steps)
        return nh_errorf(err, NH_EINVAL,
                         "adamw: need 0 <= 'warmup_steps' <= 'total_steps' "
                         "and 'total_steps' >= 1");
    o->cfg = *c;
    o->n = n;
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        adamw_free(o);
        return nh_errorf(err, NH_ENOMEM, "out of memory for adamw state");
    }
    return 0;
}

void
adamw_free(struct adamw *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

double
adamw_lr(const struct adamw_config *c, long step)
{
    double p;
    long span = c->total_steps - c->warmup_steps;

    if (step < c->warmup_steps)
        return c->lr * (double)(step + 1) / (double)c->warmup_steps;
    p = span > 0 ? (double)(step - c->warmup_steps) / (double)span : 1.0;
    if (p > 1)
        p = 1;
    return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1.0 + cos(M_PI * p));
}

double
grad_norm(const float *g, size_t n)
{
    double s = 0;
    size_t i;

    for (i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

double
grad_clip(float *g, size_t n, double max_norm)
{
    double norm = grad_norm(g, n), coef;
    float cf;
    size_t i;

    if (max_norm <= 0)
        return norm;
    coef = max_norm / (norm + 1e-6);
    if (coef >= 1)
        return norm;
    cf = (float)coef;
#pragma omp parallel for schedule(static)
    for (i = 0; i < n; i++)
        g[i] *= cf;
    return norm;
}

void
adamw_update(const struct adamw *o, const struct model *m, size_t lo, size_t n,
             const float *g, float *mm, float *vv, double lr)
{
    const struct adamw_config *c = &o->cfg;
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    float step_size = (float)(lr / (1.0 - pow(c->beta1, (double)o->t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, (double)o->t));
    size_t hi = lo + n;
    int ti;

    for (ti = 0; ti < m->ntensors; ti++) {
        const struct model_tensor *t = &m->tensors[ti];
        size_t i, a = t->off, b = t->off + (size_t)t->rows * t->cols;
        float decay = t->ndim == 2 ? (float)(1.0 - lr * c->weight_decay) : 1;
        float *p;
        const float *gg;
        float *m1, *v1;

        if (a < lo)
            a = lo;
        if (b > hi)
            b = hi;
        if (a >= b)
            continue;
        p = m->params + a;
        gg = g + (a - lo);
        m1 = mm + (a - lo);
        v1 = vv + (a - lo);
#pragma omp parallel for schedule(static)
        for (i = 0; i < b - a; i++) {
            float gi = gg[i];

            p[i] *= decay;
            m1[i] = b1 * m1[i] + (1 - b1) * gi;
            v1[i] = b2 * v1[i] + (1 - b2) * gi * gi;
            p[i] -= step_size * m1[i] / (sqrtf(v1[i]) / bc2_sqrt + eps);
        }
    }
}

int
adamw_step(struct adamw *o, struct model *m, double lr, struct nh_error *err)
{
    if (m->nparams != o->n)
        return nh_errorf(err, NH_EINVAL,
                         "adamw: state for %zu parameters, model has %zu", o->n,
                         m->nparams);
    o->t++;
    adamw_update(o, m, 0, m->nparams, m->grads, o->m, o->v, lr);
    return 0;
}
