/* model.h - a LLaMA-style decoder-only transformer, forward and backward
 *
 * The model nh-train trains: token embedding, L blocks of
 *   x = x + Wo attn(rope(Wq rms(x)), rope(Wk rms(x)), Wv rms(x))
 *   x = x + W2 (silu(W1 rms(x)) * W3 rms(x))
 * then a final RMSNorm and the output head (the embedding when tied), with
 * mean cross-entropy against the targets. fp32; matrix products through
 * OpenBLAS cblas_sgemm, element-wise loops with OpenMP. docs/TRAINER.md
 * ("Model", "Gradients and parity") gives the formulas and conventions.
 *
 * Memory: one flat parameter block (model.params) and a gradient block of
 * the same shape (model.grads), both named by model.tensors; activations
 * live in one block sized for the largest (B,T) seen so far. Every matrix
 * is stored as PyTorch's nn.Linear keeps it: (out, in), row-major, so
 * y = x W^T. model_free releases everything model_init allocated.
 *
 * Use:
 *   model_init(&m, &cfg, seed, &err);
 *   model_zero_grad(&m);
 *   model_forward(&m, tokens, targets, B, T, &loss, &err);
 *   model_backward(&m, &err);        (adds into m.grads)
 */
#ifndef NH_MODEL_H
#define NH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Limits model_config_check enforces (they bound allocations). */
#define MODEL_MAX_VOCAB (1 << 22)
#define MODEL_MAX_DIM 65536
#define MODEL_MAX_LAYERS 1024
#define MODEL_MAX_SEQ 65536

/* What the forward keeps for the backward (Korthikanti et al. 2022,
 * "Reducing Activation Recomputation in Large Transformer Models"):
 * everything; everything but the attention probabilities (B,NH,T,T),
 * which the backward recomputes from the kept q and k ("selective"); or
 * only each layer's input, the backward re-running the layer's forward
 * ("full"). The results are bit for bit the same; memory and time differ. */
enum model_recompute {
    MODEL_RECOMPUTE_NONE,
    MODEL_RECOMPUTE_SELECTIVE,
    MODEL_RECOMPUTE_FULL,
};

struct model_config {
    int vocab;        /* V: token ids are 0..V-1 */
    int dim;          /* C: model width, a multiple of heads */
    int layers;       /* L */
    int heads;        /* NH: head dim hd = C / NH, even (rotary pairs) */
    int ffn_dim;      /* F: SwiGLU hidden width */
    int seq;          /* the longest T forward accepts */
    bool tied;        /* output head shares the embedding */
    float norm_eps;   /* RMSNorm epsilon */
    float rope_theta; /* rotary base, 10000 in LLaMA */
};

/* Parse a model config from JSON text (a flat object with exactly the
 * fields of struct model_config; "tied", "norm_eps" and "rope_theta" may be
 * left out: true, 1e-5, 10000). Unknown keys, wrong types and bad values
 * are errors: model config: 'heads' must divide 'dim' (64 % 5 != 0). */
int model_config_parse(const char *json, struct model_config *cfg,
                       struct nh_error *err);
/* The same, reading the file at path. */
int model_config_load(const char *path, struct model_config *cfg,
                      struct nh_error *err);
/* Check ranges and relations; model_init calls it. */
int model_config_check(const struct model_config *cfg, struct nh_error *err);

/* How a tensor is cut under tensor parallel (Megatron-LM's split): wq,
 * wk, wv, w1, w3 by output rows (a rank's heads, its slice of ffn_dim),
 * wo and w2 by input columns; norms, embedding and head whole. */
enum model_split { MODEL_SPLIT_NONE, MODEL_SPLIT_ROWS, MODEL_SPLIT_COLS };

/* One named tensor of the parameter block: rows x cols floats at off
 * (cols == 1 for the 1-D norm weights). Under tensor parallel rows x cols
 * is this rank's slice of the whole grows x gcols tensor, which sits at
 * goff in the single-process layout (model_to_global). */
struct model_tensor {
    char name[32]; /* "embed", "layers.3.wq", "norm", "head" */
    size_t off;
    int rows, cols;
    int ndim; /* 1 for norm weights, 2 for matrices (those decay) */
    size_t goff;
    int grows, gcols;
    int split; /* enum model_split */
};

/* The activations of one layer, views into model.acts; shapes with
 * N = B*T tokens. */
struct model_layer_acts {
    float *r1;  /* (N) 1/rms of the layer input */
    float *xn1; /* (N,C) attention norm output */
    float *q;   /* (N,C) queries after rotary */
    float *k;   /* (N,C) keys after rotary */
    float *v;   /* (N,C) values */
    float *att; /* (B,NH,T,T) softmax probabilities, 0 above diagonal */
    float *ay;  /* (N,C) attention output, before Wo */
    float *mid; /* (N,C) residual after attention */
    float *r2;  /* (N) 1/rms of mid */
    float *xn2; /* (N,C) ffn norm output */
    float *h1;  /* (N,F) W1 xn2 (gate, pre-activation) */
    float *h3;  /* (N,F) W3 xn2 (up) */
    float *g;   /* (N,F) silu(h1) * h3, the input of W2 */
};

struct model {
    struct model_config cfg;
    /* tensor parallel: rank tp_rank of tp holds heads/tp heads (qdim =
     * dim/tp wide) and ffn_dim/tp of the MLP; tp_sum sums a buffer over
     * the tensor group in place (set by the caller when tp > 1) */
    int tp, tp_rank, lheads, qdim, lffn;
    /* pipeline stage: layers [l0, l0 + nl) of the model; the first stage
     * has the embedding, the last the final norm and head (and, with a
     * tied head, a copy of the embedding); tensor indices, -1 if absent */
    int l0, nl;
    bool first, last;
    int embed_i, norm_i, head_i, layer_base;
    float *dinput; /* after a stage's backward: d(loss)/d(input), (N,C) */
    void (*tp_sum)(void *ctx, float *buf, size_t n);
    void *tp_ctx;
    size_t nparams; /* this rank's */
    size_t gparams; /* the whole model's */
    float *params;  /* nparams floats, laid out as tensors[] */
    float *grads;   /* same layout */
    struct model_tensor *tensors;
    int ntensors;
    float *rope_cos, *rope_sin; /* (seq, hd/2) */

    /* activations of the last forward, for N = B*T tokens */
    enum model_recompute recompute; /* set before a forward */
    int B, T;
    size_t cap_tokens; /* tokens the activation block holds */
    float *acts;       /* one block, carved below */
    size_t nacts;      /* floats in acts */
    float **res;       /* L+1 residual streams (N,C); res[0] = embedding */
    struct model_layer_acts *layer;
    float *rf;                 /* (N) 1/rms of res[L] */
    float *xnf;                /* (N,C) final norm output */
    float *probs;              /* (N,V) softmax of the logits */
    float *losses;             /* (N) per-token cross-entropy */
    int32_t *tokens, *targets; /* copies, (N) */
    float loss;                /* mean of losses */
    bool have_forward;         /* backward needs a fresh forward */

    /* Called by model_backward each time a range of grads is final: the
     * final norm (and head) first, then each layer from the last, then
     * the embedding, so the ranges tile the block from the top down.
     * Data parallel (dp.h) starts reducing them while backward goes on. */
    void (*grads_ready)(void *ctx, size_t off, size_t n);
    void *grads_ready_ctx;

    /* backward scratch, sized with acts */
    float *scratch;
    size_t nscratch;
};

/* Allocate and initialise a model from cfg with a deterministic seed:
 * every matrix ~ normal(0, 0.02), except the residual outputs wo and w2
 * ~ normal(0, 0.02 / sqrt(2 L)); norm weights 1. Gradients zero. */
int model_init(struct model *m, const struct model_config *cfg, uint64_t seed,
               struct nh_error *err);
/* The same for rank tp_rank of tp tensor-parallel ranks (tp divides heads
 * and ffn_dim): the whole model is drawn from the seed as model_init
 * does, and this rank keeps its slices, so tp ranks together hold exactly
 * model_init's parameters. */
int model_init_tp(struct model *m, const struct model_config *cfg,
                  uint64_t seed, int tp, int tp_rank, struct nh_error *err);
/* The same for the pipeline stage holding layers [l0, l1) (model_init
 * and model_init_tp hold them all); the values are those the whole
 * model would have. */
int model_init_stage(struct model *m, const struct model_config *cfg,
                     uint64_t seed, int tp, int tp_rank, int l0, int l1,
                     struct nh_error *err);
/* Copy this rank's parameter-shaped block local into the single-process
 * layout global (gparams floats): its slices of split tensors, and the
 * whole tensors too when replicated. model_from_global is the reverse. */
void model_to_global(const struct model *m, const float *local, float *global,
                     bool replicated);
void model_from_global(const struct model *m, const float *global,
                       float *local);
void model_free(struct model *m);

/* The tensor named name, or NULL. */
const struct model_tensor *model_tensor_find(const struct model *m,
                                             const char *name);

/* Forward on tokens and targets (B*T each, row b at b*T), T <= cfg.seq.
 * Stores *loss (mean cross-entropy) and keeps the activations for
 * model_backward; m->losses has the per-token losses. */
int model_forward(struct model *m, const int32_t *tokens,
                  const int32_t *targets, int B, int T, float *loss,
                  struct nh_error *err);

/* A pipeline stage's forward: the first takes tokens, a later one x
 * (B*T rows of dim floats, the previous stage's output); the last takes
 * targets and stores *loss, an earlier one leaves its output in
 * m->res[m->nl]. model_forward is this for the whole model. */
int model_forward_stage(struct model *m, const int32_t *tokens, const float *x,
                        const int32_t *targets, int B, int T, float *loss,
                        struct nh_error *err);
/* A stage's backward: the last starts from its loss, an earlier one from
 * dout, the gradient of its output (B*T x dim); afterwards m->dinput is
 * the gradient of its input (valid until the next backward). Gradients
 * add into m->grads. The loss is the mean over the stage's B*T tokens:
 * the caller scales for micro-batches. */
int model_backward_stage(struct model *m, const float *dout,
                         struct nh_error *err);

/* Gradients of the last forward's mean loss, added into m->grads (so
 * micro-batches accumulate; call model_zero_grad first). Uses up the
 * forward: a second backward needs another forward. */
int model_backward(struct model *m, struct nh_error *err);

void model_zero_grad(struct model *m);

/* Offset in the parameter block of layer l's first tensor; l = layers
 * gives the final norm's (everything after the last layer). */
size_t model_layer_off(const struct model *m, int l);

/* Floats of activations (kept from forward to backward) per token, and of
 * backward scratch per token, for a config and sequence length. */
size_t model_act_floats_per_token(const struct model_config *cfg, int T);
/* The same for a recompute mode (the first is MODEL_RECOMPUTE_NONE). */
size_t model_act_floats(const struct model_config *cfg, int T,
                        enum model_recompute rc);
size_t model_scratch_floats_per_token(const struct model_config *cfg, int T);

/* Forward FLOPs per token of the matrix products (2 per multiply-add),
 * attention included; a training step is about 3x that. */
double model_flops_per_token(const struct model_config *cfg, int T);

#endif
