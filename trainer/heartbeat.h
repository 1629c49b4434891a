/* heartbeat.h - the heartbeat files between `nh-train run` ranks and
 * `nh-train launch`
 *
 * The supervisor (launch.c) sets NH_HEARTBEAT_DIR for the ranks it starts;
 * each rank then replaces DIR/rank-NNNNN (its rank, five digits) at every
 * point of progress with one line
 *
 *   beat=12 step=7 first=3 phase=step pid=4711 host=node1 time=1712.25
 *
 * written to a temporary name and renamed, so a reader sees a whole line
 * or the previous one. run.c beats when the rank has started, when it is
 * ready to step (first: the step it starts from, after a resume), at the
 * start of each step, after each step, and around each checkpoint write.
 * Without NH_HEARTBEAT_DIR nothing is written. docs/TRAINER.md
 * ("Supervisor and fault recovery").
 */
#ifndef NH_HEARTBEAT_H
#define NH_HEARTBEAT_H

#include <stdbool.h>

#include "err.h"

/* The phases of a beat, in the order of a rank's progress within a step:
 * BEGIN is written with the step being started, the others with the
 * steps done. */
enum heartbeat_phase {
    HB_START, /* MPI started; step 0 */
    HB_READY, /* set up, resumed if asked: step = first */
    HB_BEGIN, /* step `step` started */
    HB_STEP,  /* step `step` done */
    HB_CKPT,  /* writing the checkpoint of step `step` */
    HB_SAVED, /* that checkpoint written */
    HB_NPHASES,
};

/* A rank's writer. heartbeat_init reads NH_HEARTBEAT_DIR; when unset the
 * writer is off and heartbeat_beat does nothing. heartbeat_release frees
 * the paths (the file stays for the supervisor). */
struct heartbeat {
    char *path, *tmp; /* NULL when off */
    long beats, first;
    int rank, pid;
    char host[64];
};

int heartbeat_init(struct heartbeat *hb, int rank, struct nh_error *err);
/* Replace the file; failures are ignored (a missed beat is what the
 * supervisor's timeout is for). */
void heartbeat_beat(struct heartbeat *hb, enum heartbeat_phase phase,
                    long step);
void heartbeat_release(struct heartbeat *hb);

/* One beat as read back by the supervisor. */
struct heartbeat_info {
    long beat, step, first;
    enum heartbeat_phase phase;
    int pid;
    char host[64];
    double time; /* CLOCK_REALTIME seconds when written */
};

/* Read DIR/rank-NNNNN of rank into hi: 1 read, 0 no file yet, negative
 * on a malformed file. */
int heartbeat_read(const char *dir, int rank, struct heartbeat_info *hi);

/* Steps done by a rank at its beat (a BEGIN of step s: s - 1 done). */
long heartbeat_done(const struct heartbeat_info *hi);

/* "step", "ckpt", ...: the phase's name in the file. */
const char *heartbeat_phase_name(enum heartbeat_phase phase);

#endif
