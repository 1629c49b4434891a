/* optim.h - AdamW, global gradient clipping and the learning-rate schedule
 *
 * The optimizer nh-train steps the model (model.h) with. Semantics follow
 * Loshchilov & Hutter 2019 as torch.optim.AdamW implements them, so the
 * PyTorch parity test can compare step by step:
 *   p <- p (1 - lr wd)                         (2-D tensors only)
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr/(1 - b1^t) m / (sqrt(v)/sqrt(1 - b2^t) + eps)
 * Weight decay applies to the tensors with ndim == 2 (embedding, head,
 * projections), never to the RMSNorm weights.
 *
 * Memory: adamw_init allocates the two moment vectors (8 bytes per
 * parameter); adamw_free releases them.
 */
#ifndef NH_OPTIM_H
#define NH_OPTIM_H

#include <stddef.h>

#include "err.h"
#include "model.h"

struct adamw_config {
    double lr;           /* peak learning rate */
    double min_lr;       /* the cosine decays to this */
    long warmup_steps;   /* linear warmup over these steps */
    long total_steps;    /* the cosine ends here; min_lr after */
    double beta1, beta2; /* 0.9, 0.95 typical */
    double eps;          /* 1e-8 */
    double weight_decay; /* decoupled, on matrices only */
    double grad_clip;    /* max global L2 norm; 0 disables */
};

struct adamw {
    struct adamw_config cfg;
    size_t n;
    float *m, *v; /* first and second moments, n each */
    long t;       /* steps taken */
};

/* Check cfg (0 <= min_lr <= lr, 0 <= beta < 1, eps > 0, wd >= 0,
 * warmup <= total) and allocate zeroed moments for n parameters. */
int adamw_init(struct adamw *o, const struct adamw_config *cfg, size_t n,
               struct nh_error *err);
void adamw_free(struct adamw *o);

/* Learning rate for step (0-based): lr (step+1)/warmup during warmup,
 * then min_lr + (lr - min_lr) (1 + cos(pi p)) / 2 with
 * p = (step - warmup) / (total - warmup), clamped to [0,1]. */
double adamw_lr(const struct adamw_config *cfg, long step);

/* L2 norm of all n gradients (accumulated in double). */
double grad_norm(const float *g, size_t n);

/* Scale g by min(1, max_norm / (norm + 1e-6)) as torch's clip_grad_norm_
 * does; returns the norm before clipping. max_norm <= 0: no clipping. */
double grad_clip(float *g, size_t n, double max_norm);

/* One AdamW update of m's parameters from m's gradients at learning rate
 * lr (from adamw_lr; clipping is the caller's, before). Fails when the
 * model's parameter count does not match the optimizer's. */
int adamw_step(struct adamw *o, struct model *m, double lr,
               struct nh_error *err);

/* The update of adamw_step for parameters [lo, lo + n) of m only, with
 * their gradients g and moments mm, vv (n each, indexed from lo): what a
 * rank does for its shard under optimizer sharding (dp.h). The caller
 * advances o->t once per step first. */
void adamw_update(const struct adamw *o, const struct model *m, size_t lo,
                  size_t n, const float *g, float *mm, float *vv, double lr);

#endif
