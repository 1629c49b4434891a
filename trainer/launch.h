/* launch.h - `nh-train launch`: the training supervisor
 *
 * Starts the ranks of `nh-train run` with mpirun (locally, or on the
 * hosts of a host file), watches their heartbeat files (heartbeat.h) and
 * mpirun itself, and on a fault (a rank that exits or dies, or no
 * heartbeat from some rank within the timeout) stops every rank and
 * restarts from the newest usable checkpoint after a backoff, up to
 * --max-restarts times. Every event goes to RUN_DIR/supervisor.jsonl and
 * a readable line to stderr. main.c's command table calls
 * launch_command; docs/TRAINER.md ("Supervisor and fault recovery").
 */
#ifndef NH_LAUNCH_H
#define NH_LAUNCH_H

/* nh-train launch ... -- run ARGS...: argv[0] is "launch". Returns the
 * exit status: 0 the run finished, 1 it failed (restarts exhausted,
 * stopped by a signal, cannot start), 2 bad usage (also when run rejects
 * its arguments). */
int launch_command(int argc, char **argv);

#endif
