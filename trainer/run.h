/* run.h - `nh-train run`: train a model on a token directory
 *
 * The model of a config JSON (model.h) trained with AdamW (optim.h) on
 * random windows of a token directory (tokshard.h), in one process or
 * data parallel under mpirun (dp.h), one JSON line of metrics a step on
 * stdout and in RUN_DIR/metrics.jsonl, and with --ckpt-every checkpoints
 * that --resume continues from exactly (ckpt.h). main.c's command table calls
 * run_command; docs/TRAINER.md
 * ("Training", "Checkpoints and resume") describes the options and files.
 */
#ifndef NH_RUN_H
#define NH_RUN_H

#include <stdint.h>

/* The batch sampler's random numbers: splitmix64, its whole state one
 * word, so that a resume can restore it exactly. */
struct run_rng {
    uint64_t s;
};

uint64_t run_rng_next(struct run_rng *r);

/* nh-train run ...: argv[0] is "run". Returns the exit status: 0 success,
 * 1 failure, 2 bad usage. */
int run_command(int argc, char **argv);

#endif
