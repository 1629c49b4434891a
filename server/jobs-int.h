/* jobs-int.h - what jobs.c and jobs-train.c share: the supervisor's state
 *
 * jobs.c is the supervisor thread and pipeline jobs; jobs-train.c runs
 * train jobs (tokenize, then a detached `nh-train launch` that nhd follows
 * through files and reattaches to after a restart). Everything here is
 * used on the supervisor thread only, except where jobs.h says otherwise.
 */
#ifndef NH_JOBS_INT_H
#define NH_JOBS_INT_H

#include "jobs.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#define JOBS_MAX_CHILDREN 64
#define LINE_MAX_BYTES 65536  /* longer output lines are cut */
#define LOG_MAX_LINES 10000   /* log lines kept per job */
#define PROGRESS_DB_EVERY 1.0 /* seconds between progress row updates */
#define KILL_GRACE 5.0        /* seconds from SIGTERM to SIGKILL */
#define TRAIN_KILL_GRACE 30.0 /* the launcher stops its ranks first */
#define FOLLOW_MS 200         /* how often followed runs' files are read */

struct cmd {
    struct cmd *next;
    int64_t cancel; /* job id */
};

enum job_kind { JOB_PIPELINE, JOB_TRAIN };

/* the phases of a train job (jobs-train.c) */
enum train_phase { TRAIN_TOKENIZER, TRAIN_TOKENIZE, TRAIN_LAUNCH };

struct child {
    int64_t job;
    pid_t pid;
    int fd[2]; /* stdout, stderr; -1 once at EOF */
    struct strbuf line[2];
    int64_t log_seq;
    double progress_saved; /* when the progress row was last written */
    char *progress;        /* the last progress line, not yet saved */
    char last_err[512];    /* the last stderr line, for the error column */
    bool cancelled;
    double kill_at; /* after SIGTERM: when SIGKILL follows (0: not due) */

    enum job_kind kind;
    enum train_phase phase;
    bool follow;      /* a detached launcher followed through its files */
    bool own;         /* follow: our child (reaped with waitpid) */
    int exit_status;  /* follow, own: waitpid's status once it ended */
    int64_t off[3];   /* follow: bytes of launch.out, supervisor.jsonl,
                         launch.log stored */
    int64_t rec_seq;  /* follow: the last train_records seq */
    char summary[16]; /* follow: the summary record's status, once seen */
};

struct jobs {
    struct store *store; /* the supervisor's own connection */
    char *data_dir, *nh_clean, *nh_train;
    int max_running;
    void (*notify)(void *);
    void *notify_arg;
    int efd;
    pthread_t thread;
    bool started;

    pthread_mutex_t mu; /* guards cmds, events, stopping */
    struct cmd *cmds;
    struct jobs_event *events, *events_tail;
    bool stopping;

    struct child kids[JOBS_MAX_CHILDREN]; /* supervisor thread only */
    int nkids;
};

/* ---- jobs.c helpers ---- */

/* Publish on "job/ID" and, unless only_job, on "jobs". */
void jobs_publish(struct jobs *j, int64_t id, const char *event,
                  const cJSON *data, bool only_job);
/* Run sql with ?1 = id and ?2 = text; rows changed, or -1 (logged). */
int jobs_exec(struct jobs *j, const char *sql, int64_t id, const char *text);
/* Settle job id as state (from 'running' only) with error, publish it. */
void jobs_settle(struct jobs *j, int64_t id, const char *state,
                 const char *error);
/* DATA/jobs/ID[/rest] in out. */
int jobs_path(const struct jobs *j, int64_t id, const char *rest, char *out,
              size_t outsz);
int jobs_mkdir_p(const char *path, struct nh_error *err);
void jobs_remove_tree(const char *path);
/* indir/part-NNNNN.jsonl -> the shards of version. */
int jobs_link_inputs(struct jobs *j, const char *indir, const char *version,
                     struct nh_error *err);
int jobs_write_file(const char *path, const char *text, struct nh_error *err);
/* The whole file as malloc'd text, NULL when it cannot be read. */
char *jobs_read_text(const char *path);
/* fork and exec argv (environment envp, NULL: nhd's) with stdout and
 * stderr on pipes; the child leads its own process group and dies with
 * nhd. */
int jobs_spawn(struct child *k, const char *const argv[], char *const envp[],
               struct nh_error *err);
/* A line of a child's stderr: stored in job_logs, published. */
void jobs_log_line(struct jobs *j, struct child *k, const char *raw);

/* ---- jobs-train.c ---- */

/* Start train job id in k (k->job, lines and log_seq are set): the first
 * phase it needs. */
int train_start(struct jobs *j, struct child *k, struct nh_error *err);
/* A piped phase of k ended with status: start the next phase (return
 * true: k goes on) or settle the job (false: k is done). */
bool train_phase_done(struct jobs *j, struct child *k, int status,
                      bool stopping);
/* Read what a followed run wrote, and see whether it still runs; true
 * when it ended and its job is settled (k is done). */
bool train_follow(struct jobs *j, struct child *k);
/* At start: follow every train job whose launcher may still run. */
void train_reattach(struct jobs *j);
/* The SQL condition (on jobs) of train jobs train_reattach takes up. */
#define TRAIN_REATTACH_SQL                                                     \
    "(kind = 'train' AND id IN (SELECT job_id FROM train_runs"                 \
    " WHERE pid IS NOT NULL))"

#endif
