/* ckpt.h - checkpoints of `nh-train run` and exact resume
 *
 * A checkpoint is RUN_DIR/ckpt/step-NNNNNNNN/ holding state.bin (a header,
 * then the run's key, the parameters and the two AdamW moments, with an
 * XXH3-64 checksum) and config.json (the model and the run's options).
 * ckpt_write puts one in place crash-safely (temporary name, fsync,
 * rename, fsync, then RUN_DIR/ckpt/latest) and keeps the newest few;
 * ckpt_load finds the newest usable one. run.c calls both;
 * docs/TRAINER.md ("Checkpoints and resume") describes the format.
 */
#ifndef NH_CKPT_H
#define NH_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* What a checkpoint holds. key is a line of name=value pairs, separated
 * by spaces, of everything that affects the math (model config, batch,
 * seq, schedule, seed, ...): a checkpoint whose key differs from the
 * current run's is refused. */
struct ckpt_state {
    long step;    /* steps done */
    uint64_t rng; /* the batch sampler's state after them */
    long adam_t;  /* AdamW's step count */
    size_t n;     /* parameters */
    float *params, *m, *v;
    const char *key;
};

/* Write st as RUN_DIR/ckpt/step-<st->step>/ with config_json beside it,
 * point RUN_DIR/ckpt/latest at it, then delete all but the newest keep
 * checkpoints. */
int ckpt_write(const char *run_dir, const struct ckpt_state *st,
               const char *config_json, int keep, struct nh_error *err);

/* Load the newest usable checkpoint of RUN_DIR into st (st->n, st->key
 * and the three buffers of n floats are the caller's; step, rng and
 * adam_t are filled). Each refused checkpoint gets a line on stderr
 * naming why (missing, bad magic, truncated, checksum, key mismatch);
 * fails when none is usable. */
int ckpt_load(const char *run_dir, struct ckpt_state *st, struct nh_error *err);

/* `--ckpt-every auto`: the interval in steps after Young, "A first order
 * approximation to the optimum checkpoint interval" (1974): checkpoints
 * sqrt(2 delta mtbf) seconds apart, with delta the seconds a checkpoint
 * write takes and mtbf the mean time between failures, over step_s
 * seconds a step; rounded, at least 1 and at most max_steps. */
long ckpt_young_interval(double delta, double mtbf, double step_s,
                         long max_steps);

#endif
