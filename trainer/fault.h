/* fault.h - faults injected into `nh-train run` for tests and drills
 *
 * NH_FAULT holds one or more faults, separated by commas:
 *
 *   kill:rank=R:step=S        rank R sends itself SIGKILL after step S
 *   hang:rank=R:step=S        rank R sleeps forever after step S
 *   corrupt-ckpt[:step=S]     rank 0 flips a byte in the middle of the
 *                             state.bin of the first checkpoint it writes
 *                             at or after step S (default: the first)
 *
 * rank defaults to 0. "After step S" is after that step's lines, eval and
 * checkpoint. run.c parses NH_FAULT at start (a malformed one is an
 * error) and calls the two hooks; `nh-train launch` passes NH_FAULT to its
 * first attempt only, so that the restarted run does not fail again.
 * docs/TRAINER.md ("Supervisor and fault recovery").
 */
#ifndef NH_FAULT_H
#define NH_FAULT_H

#include <stdbool.h>

#include "err.h"

struct fault {
    bool kill, hang, corrupt;
    long kill_rank, kill_step, hang_rank, hang_step, corrupt_step;
};

/* Parse NH_FAULT (unset or empty: no faults) into f. */
int fault_init(struct fault *f, struct nh_error *err);

/* After step `step` of rank `rank` is complete: kill or hang if asked. */
void fault_after_step(const struct fault *f, int rank, long step);

/* After rank 0 wrote the checkpoint of step `step` in run_dir: corrupt
 * it if asked (once). */
int fault_after_ckpt(struct fault *f, int rank, const char *run_dir, long step,
                     struct nh_error *err);

#endif
