/* plan.h - `nh-train plan`: choose a data x tensor x pipeline split
 *
 * An analytical model of training the model of a config JSON (model.h) on
 * a cluster described by a second JSON file: memory per device
 * (parameters, gradients and optimizer states after Rajbhandari et al.
 * 2020, activations after Korthikanti et al. 2022, adapted to our SwiGLU
 * block) and time per step (FLOPs after Narayanan et al. 2021, the 1F1B
 * bubble, ring collectives from the bandwidths). plan_search enumerates
 * every split of the devices, assigns layers and recompute per pipeline
 * stage and ranks the feasible plans by predicted step time. The
 * functions below the command are pure (no I/O) so the unit test can
 * check them on hand-computed cases. docs/PLANNER.md gives the formulas,
 * the cluster keys and the validation against published runs.
 */
#ifndef NH_PLAN_H
#define NH_PLAN_H

#include <stdbool.h>

#include "err.h"
#include "model.h"
#include "strbuf.h"

#define PLAN_MAX_STAGES MODEL_MAX_LAYERS
#define PLAN_MAX_TOP 1000

enum plan_precision {
    PLAN_MIXED, /* fp16/bf16 compute, fp32 master: 2+2+12 bytes/param */
    PLAN_FP32,  /* naohai's trainer today: 4+4+8 bytes/param */
};

enum plan_recompute {
    PLAN_RC_NONE,
    PLAN_RC_SELECTIVE, /* attention core (QK^T, softmax, PV) recomputed */
    PLAN_RC_FULL,      /* only each layer's input kept */
};

struct plan_cluster {
    int devices;
    int devices_per_node;
    double memory_bytes; /* per device ("memory_gib" * 2^30) */
    double peak_flops;   /* per device ("peak_tflops" * 1e12) */
    double efficiency;   /* achievable fraction of peak, default 1 */
    double intra_bw;     /* bytes/s per device inside a node */
    double inter_bw;     /* bytes/s per device between nodes */
    double hbm_bw;       /* device memory bytes/s */
    double overhead; /* bytes per device outside the model ("overhead_gib") */
    enum plan_precision precision;
};

/* Parse a cluster file (a flat JSON object; docs/PLANNER.md lists the
 * keys). Errors name the key and why: cluster: 'devices' must be an
 * integer >= 1. */
int plan_cluster_parse(const char *json, struct plan_cluster *c,
                       struct nh_error *err);
/* The same for the file at path; errors start with 'path': and bad JSON
 * names the line and column. */
int plan_cluster_load(const char *path, struct plan_cluster *c,
                      struct nh_error *err);
/* Read a model config like model_config_load, with the line and column of
 * bad JSON in the error. */
int plan_model_load(const char *path, struct model_config *cfg,
                    struct nh_error *err);

/* ---- the formulas --------------------------------------------------- */

/* Bytes per parameter of the weights, gradients and optimizer states. */
struct plan_bytes {
    double params, grads, optim;
};
struct plan_bytes plan_bytes_per_param(enum plan_precision p);

/* One layer's activations kept for backward, for one micro-batch of b
 * sequences of s tokens, width h, a heads, MLP inner width f, tensor
 * parallel t, in bytes of 16-bit activations (double them for fp32).
 * gelu_dropout selects the block of Korthikanti et al. 2022 (GELU MLP
 * with two matrices, dropout): 34sbh + 5as^2b at t = 1 and f = 4h;
 * otherwise our block (RMSNorm, rotary, SwiGLU, no dropout):
 * 16sbh + 6sbf + 2as^2b. sp: sequence parallel (everything / t). */
struct plan_act {
    double s, b, h, a, f;
    int t;
    bool sp;
    bool gelu_dropout;
    enum plan_recompute rc;
};
double plan_act_layer_bytes(const struct plan_act *x);

/* Parameters of one transformer block of cfg: 4h^2 + 3hf + 2h. */
double plan_layer_params(const struct model_config *cfg);

/* The 1F1B pipeline bubble as a fraction of the ideal time: (p-1)/m. */
double plan_bubble(int p, int m);

/* Ring all-reduce of bytes over n devices: 2(n-1)/n * bytes / bw. */
double plan_allreduce_s(double bytes, int n, double bw);

/* ---- plans ---------------------------------------------------------- */

/* Constraints of a search; 0 means free. */
struct plan_opts {
    int global_batch; /* sequences per step */
    int seq;          /* tokens per sequence (default: the model's seq) */
    int dp, tp, pp, devices_per_stage, micro_batch;
    bool sequence_parallel;
    enum plan_recompute recompute; /* at least this on every stage */
    int zero;                      /* 0 free, 1 no sharding, 2 sharding */
};

/* work: the backward scratch nh-train keeps beside the activations (fp32
 * only) and the cluster's fixed overhead per device. */
struct plan_mem {
    double params, grads, optim, acts, work, total; /* bytes */
};

struct plan {
    int dp, tp, pp, micro_batch, micro_batches;
    bool shard; /* optimizer states sharded over dp (ZeRO-1) */
    bool sp;
    unsigned char rc_min; /* input: recompute at least this per stage */
    unsigned short layers[PLAN_MAX_STAGES];
    unsigned char recompute[PLAN_MAX_STAGES]; /* enum plan_recompute */
    double stage_s[PLAN_MAX_STAGES];          /* one micro-batch, fwd + bwd */
    struct plan_mem mem;                      /* of the stage with most */
    int worst_stage;
    double step_s, pipe_s, dp_s, optim_s;
    double bubble, mfu;
};

/* Evaluate the split p->dp, tp, pp, micro_batch, micro_batches, shard, sp,
 * rc_min (the rest of p is written): assign layers and recompute per stage to
 * minimise the slowest stage within memory, then predict the step.
 * Returns 0, or NH_EINVAL (in err) when no assignment fits in memory. */
int plan_evaluate(const struct model_config *cfg, const struct plan_cluster *c,
                  int seq, struct plan *p, struct nh_error *err);

/* All feasible plans under o, fastest first, in *out (malloc'd, the
 * caller frees), *n of them. No plan: NH_EINVAL with the reason. */
int plan_search(const struct model_config *cfg, const struct plan_cluster *c,
                const struct plan_opts *o, struct plan **out, int *n,
                struct nh_error *err);

/* One plan of a `nh-train plan --json` document, as `nh-train run --plan`
 * takes it: the split, the micro-batches, the optimizer sharding, the
 * recompute mode of every stage (mixed_recompute when they differ, with
 * recompute the first stage's), and the model it was planned for. */
struct plan_run {
    int rank; /* 1-based index in "plans" */
    int dp, tp, pp, micro_batch, micro_batches;
    bool shard;
    enum plan_recompute recompute;
    bool mixed_recompute;
    int layers, dim, heads, ffn_dim, vocab, seq;
};

/* Read plan K (1-based) of the document at spec, "PATH" (the first plan)
 * or "PATH#K". Errors name the file and the key: 'p.json': plans[0]: no
 * integer 'micro_batch'. */
int plan_run_load(const char *spec, struct plan_run *pr, struct nh_error *err);

/* Whether nh-train can run pr with `ranks` MPI ranks and model cfg: tp
 * and pp 1 (tensor and pipeline parallel are not built yet), one
 * recompute mode, dp x tp x pp = ranks, and cfg the planned model.
 * NH_EINVAL with a message naming the plan (spec) otherwise. */
int plan_run_check(const char *spec, const struct plan_run *pr,
                   const struct model_config *cfg, int ranks,
                   struct nh_error *err);

/* "3,4x25,3": runs of equal values as VALUExCOUNT. */
int plan_compress(struct strbuf *sb, const unsigned short *v, int n);

/* nh-train plan ...: argv[0] is "plan". Returns the exit status: 0
 * success, 1 failure (including no feasible plan), 2 bad usage. */
int plan_command(int argc, char **argv);

#endif
