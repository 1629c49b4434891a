/* dp.h - data and optimizer parallel training over MPI (nh-train run)
 *
 * Under mpirun every rank holds the whole model and takes a contiguous
 * share of each global batch; run.c weights its gradients by that share
 * (dp_begin), model_backward hands each range of gradients to dp as soon
 * as it is final (model.grads_ready), and dp sums them across ranks in
 * buckets with non-blocking collectives while the backward goes on:
 *
 *   plain:   MPI_Iallreduce per bucket; every rank then clips and steps
 *            AdamW on the whole block (AdamW state: 8 B per parameter).
 *   --zero 1 (optimizer sharding, ZeRO stage 1, Rajbhandari et al. 2020):
 *            MPI_Ireduce_scatter per bucket, in place, so each rank gets
 *            the summed gradients of its piece of every bucket (a bucket
 *            split evenly) at the bucket's start; it clips with the global
 *            norm, steps AdamW on its pieces only (state: 8/N B per
 *            parameter), and MPI_Iallgatherv puts the updated pieces back
 *            everywhere.
 *
 * Buckets are fixed at dp_setup from the order in which the backward
 * finishes ranges (final norm and head, layers L-1 .. 0, embedding), so
 * every rank starts the same collectives in the same order. Without
 * mpirun there is one rank, no MPI call is made, and dp_step is exactly
 * the single-process clip and AdamW step. docs/TRAINER.md ("Data and
 * optimizer parallel").
 */
#ifndef NH_DP_H
#define NH_DP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model.h"
#include "optim.h"

struct dp_bucket {
    size_t off, n;      /* floats [off, off + n) of the parameter block */
    size_t soff;        /* ZeRO: this rank's piece in the shard arrays */
    int *counts, *disp; /* ZeRO: every rank's piece, relative to off */
};

struct dp_comms;

/* rank and size are the world's; under --tp the ranks form a grid
 * (dp_grid): rank = drank * tp + trank, the data group being the dsize
 * ranks with the same trank. Batches, buckets and ZeRO work in the data
 * group; without --tp it is the world. */
struct dp {
    int rank, size;
    int drank, dsize; /* in the data group */
    int trank, tp;    /* in the tensor group */
    struct dp_comms *comms;
    int local_size; /* ranks on this node (for the default threads) */
    bool mpi;       /* MPI was started */
    bool zero;
    struct dp_bucket *bk;
    size_t nbk;
    size_t shard_n; /* floats of AdamW state this rank holds */
    float *grads;   /* the model's gradient block */
    float scale;    /* this rank's share of the global batch */
    void *req;      /* MPI_Request per bucket */
    size_t next;    /* the next bucket to start */
};

/* Start MPI when mpirun/srun launched the process (rank and size from
 * MPI), else one rank without MPI. */
int dp_init(struct dp *d, int *argc, char ***argv, struct nh_error *err);
/* Form the grid of data x tensor groups for tp tensor-parallel ranks
 * (tp divides the ranks). */
int dp_grid(struct dp *d, int tp, struct nh_error *err);
/* Sum buf over the tensor group, in place: model.tp_sum. */
void dp_tp_sum(void *ctx, float *buf, size_t n);
/* Sum n floats of buf over the tensor group onto its rank 0. */
int dp_tp_reduce(struct dp *d, float *buf, size_t n);
/* With ZeRO: copy this rank's pieces of a full (nparams) moment vector
 * into its shard. */
void dp_take_pieces(const struct dp *d, const float *full, float *shard);
/* Free dp_setup's buffers and stop MPI (when started). */
void dp_finalize(struct dp *d);

/* Cut m's parameter block into buckets of at least bucket_floats (at
 * range boundaries), hook m's backward, and with zero size the shard:
 * the caller then gives adamw_init d->shard_n. */
int dp_setup(struct dp *d, struct model *m, size_t bucket_floats, bool zero,
             struct nh_error *err);

/* Before model_backward: this rank's share of the global batch (its
 * tokens over all ranks' tokens); its gradients are scaled by it (with
 * one rank too, in dp_end). With gradient accumulation over M
 * micro-batches run.c unsets m->grads_ready for all but the last
 * backward and passes share / M here, so the sum is reduced once. */
void dp_begin(struct dp *d, double share);
/* After model_backward: wait until every bucket is summed. */
int dp_end(struct dp *d, struct nh_error *err);
/* Clip to the global norm (stored in *gnorm, before clipping) and step
 * AdamW: the whole block, or with ZeRO this rank's pieces followed by
 * the all-gather of parameters. */
int dp_step(struct dp *d, struct model *m, struct adamw *o, double lr,
            double clip, double *gnorm, struct nh_error *err);

/* The lowest rc over all ranks, so that all stop together. */
int dp_agree(const struct dp *d, int rc);
/* Sum of x over the data group, sum and maximum over all ranks. */
double dp_sum(const struct dp *d, double x);
double dp_sum_all(const struct dp *d, double x);
double dp_max(const struct dp *d, double x);
/* Broadcast len bytes from rank 0 (in pieces under 2 GiB). */
int dp_bcast(const struct dp *d, void *buf, size_t len);

/* Checkpoints. dp_gather_moments: with ZeRO, rank 0's m_full and v_full
 * (nparams floats each) receive every rank's pieces; without, nothing to
 * do (every rank has all). dp_scatter_state: rank 0's params (and, with
 * ZeRO, m_full and v_full; without, o->m and o->v) go to every rank. */
int dp_gather_moments(struct dp *d, const struct adamw *o, float *m_full,
                      float *v_full, struct nh_error *err);
int dp_scatter_state(struct dp *d, struct model *m, struct adamw *o,
                     const float *m_full, const float *v_full,
                     struct nh_error *err);

#endif
