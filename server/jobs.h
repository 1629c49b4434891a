/* jobs.h - nhd's job supervisor and the events it publishes
 *
 * A job is a row of the jobs table (schemas/db) and, while it runs, a
 * child process. Ops (op-job.c, on the DB workers) only write rows: a new
 * job is 'queued', a cancel marks it 'cancelled', a resume puts it back
 * to 'queued'; then they call jobs_kick() or jobs_cancel(). The
 * supervisor thread, with its own store, starts queued jobs oldest first
 * while fewer than max_running run, reads each child's stdout (JSON
 * progress lines) and stderr (log lines), and commits the output as a
 * new version when the child succeeds.
 *
 * A pipeline job runs
 *   nh-clean run --config DATA/jobs/ID/config.json --progress json -q
 *                -o DATA/jobs/ID/out DATA/jobs/ID/in
 * where in/ holds links to the input version's shards in the object
 * store. nh-clean resumes from its own work directory, so resuming an
 * interrupted job is running the same command again. Children die with
 * nhd (PR_SET_PDEATHSIG); on start, jobs left 'running' become
 * 'interrupted'.
 *
 * Events ("job.state", "job.progress", "job.log") are queued as finished
 * texts with their topic; notify() wakes the service thread, which takes
 * them with jobs_drain() and hands each to the connections subscribed
 * to its topic. Every function here except jobs_create/jobs_destroy may
 * be called from any thread.
 */
#ifndef NH_JOBS_H
#define NH_JOBS_H

#include "err.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct jobs;
struct sqlite3;

#define JOBS_TOPIC_MAX 32 /* bytes in a topic, "job/ID" or "jobs" */

struct jobs_event {
    struct jobs_event *next;
    char topic[JOBS_TOPIC_MAX];
    char *text; /* the whole event message */
    size_t len;
};

struct jobs_config {
    const char *data_dir;
    const char *migrations;
    const char *nh_clean; /* path of the nh-clean binary */
    const char *nh_train; /* path of the nh-train binary (train jobs) */
    int max_running;      /* jobs running at once; more wait queued */
    void (*notify)(void *arg);
    void *notify_arg;
};

/* Open the supervisor's store, mark jobs left 'running' 'interrupted'
 * and start the supervisor thread. */
int jobs_create(struct jobs **out, const struct jobs_config *cfg,
                struct nh_error *err);

/* Stop: running children get SIGTERM and their jobs become
 * 'interrupted'; then the thread is joined. NULL is a no-op. */
void jobs_destroy(struct jobs *j);

/* A job was queued: look at the queue. */
void jobs_kick(struct jobs *j);

/* Kill the child of job id, if one runs (its row is already
 * 'cancelled'). */
void jobs_cancel(struct jobs *j, int64_t id);

int jobs_max_running(const struct jobs *j);

/* Read job id's summary from db (the caller's connection) and publish
 * it as a "job.state" event on "job/ID" and "jobs". */
void jobs_publish_state(struct jobs *j, struct sqlite3 *db, int64_t id);

/* Take every queued event, oldest first (linked by next). */
struct jobs_event *jobs_drain(struct jobs *j);
void jobs_event_free(struct jobs_event *e);

/* The job summary of docs/PROTOCOL.md in *out; NH_ENOENT when there is
 * no job id. With full, also args, stats, error, removed and log_lines. */
int job_summary(struct sqlite3 *db, int64_t id, int full, cJSON **out,
                struct nh_error *err);

/* s as a job id: decimal digits without sign, spaces or a leading
 * zero, 1 to 2^53; 0 for anything else. "job/ID" topics and the
 * /api/jobs/ID path use it, so one job has one spelling. */
int64_t jobs_parse_id(const char *s);

/* An event message {"event","topic","data"} as malloc'd text; data is
 * copied. NULL when out of memory. */
char *jobs_event_text(const char *event, const char *topic, const cJSON *data,
                      size_t *len);

#endif
