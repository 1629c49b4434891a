/* launch.c - `nh-train launch`: the training supervisor
 *
 * One attempt is one mpirun: `mpirun -np N [--hostfile F] nh-train run
 * ARGS [--resume]`, in its own process group, its stderr piped through
 * here (forwarded line by line, and scanned for mpirun's report of the
 * rank that failed). Every 0.1 s the supervisor reads the ranks'
 * heartbeat files (heartbeat.h) and reaps mpirun if it ended. A fault is
 * mpirun ending non-zero (a rank exited or was killed) or a rank whose
 * file has not changed for --heartbeat-timeout seconds (a hang; the rank
 * blamed is the one furthest behind). Then every rank is stopped:
 * SIGTERM to mpirun, SIGKILL after the grace period, and any local rank
 * still alive (pids from the heartbeat files) killed too. After a backoff
 * (doubling from --backoff, at most 60 s) the next attempt starts with
 * --resume, which loads the newest usable checkpoint. NH_FAULT (fault.h)
 * reaches the first attempt only. Events go to RUN_DIR/supervisor.jsonl
 * (one JSON object a line) and stderr; the summary at the end counts
 * restarts, device-hours and goodput from RUN_DIR/metrics.jsonl.
 * docs/TRAINER.md ("Supervisor and fault recovery").
 */
#include "launch.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "heartbeat.h"
#include "plan.h"
#include "strbuf.h"

#define POLL_MS 100
#define MAX_BACKOFF 60.0
#define MAX_RANKS 100000

static const char launch_usage[] =
    "usage: nh-train launch (--np N | --plan PLAN.json[#K]) [--hosts FILE]\n"
    "         [--launcher mpirun] [--max-restarts R] [--heartbeat-timeout S]\n"
    "         [--backoff S] [--grace S] -- run ARGS...\n"
    "starts the ranks of `nh-train run ARGS` with mpirun and restarts them\n"
    "from the newest checkpoint after a fault; events in\n"
    "RUN_DIR/supervisor.jsonl (docs/TRAINER.md)\n";

/* What the supervisor knows of one rank in the current attempt. */
struct rank_seen {
    bool have;   /* a beat was read */
    long beat;   /* its counter, to see a change */
    double seen; /* nh_now() when it last changed */
    struct heartbeat_info hi;
};

/* How an attempt ended. */
enum outcome { OUT_FINISHED, OUT_FAULT, OUT_REJECTED, OUT_STOPPED };

struct fault_rec {
    const char *cause; /* "exit", "signal", "hang" */
    int rank;          /* -1 unknown */
    int sig, code;     /* signal or exit status, -1 when not */
    long reached;      /* steps done at the fault (the furthest rank) */
    double detection;  /* seconds from the last beat or the exit */
    double at;         /* nh_now() at the detection */
};

struct launch {
    long np, max_restarts;
    double timeout, backoff, grace;
    const char *plan, *hosts, *launcher;
    char **run_argv; /* "run" ARGS... */
    int run_argc;
    const char *run_dir;
    bool user_resume;
    char *fault_env; /* NH_FAULT, for the first attempt */
    char exe[PATH_MAX], host[64];
    struct strbuf hbdir, tmp, errline;
    FILE *rec;

    /* the current attempt */
    int attempt;
    pid_t pid; /* mpirun; 0 when reaped */
    int status;
    int errfd;
    double started;
    struct rank_seen *rs;
    int sig_rank, sig, exit_rank, exit_code; /* from mpirun's report */

    /* across attempts */
    double t0, device_s;
    long restarts, redone, base_step;
    bool pending; /* a restart whose first step is not seen yet */
    double detected, backoff_used;
    long reached;
};

static volatile sig_atomic_t stop_signal;
static char plan_opt[] = "--plan";

static void
on_signal(int sig)
{
    stop_signal = sig;
}

static double
wall_time(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bad_usage(const char *msg, const char *arg)
{
    if (msg)
        fprintf(stderr, "nh-train: launch: %s '%s'\n", msg, arg);
    fputs(launch_usage, stderr);
    return 2;
}

/* One event: a JSON object (its fields after "event") to the records. */
static void record(struct launch *l, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
record(struct launch *l, const char *event, const char *fmt, ...)
{
    va_list ap;

    if (!l->rec)
        return;
    fprintf(l->rec, "{\"event\":\"%s\",\"attempt\":%d,\"time\":%.3f", event,
            l->attempt, wall_time());
    if (fmt && *fmt) {
        fputc(',', l->rec);
        va_start(ap, fmt);
        vfprintf(l->rec, fmt, ap);
        va_end(ap);
    }
    fputs("}\n", l->rec);
    fflush(l->rec);
}

/* The ranks of plan K (PATH#K, default the first) of `nh-train plan
 * --json`: dp x tp x pp; run reads the same plan (plan.h). */
static int
plan_ranks(const char *spec, long *np, struct nh_error *err)
{
    struct plan_run pr;
    long r;

    if (plan_run_load(spec, &pr, err) < 0)
        return -1;
    r = (long)pr.dp * pr.tp * pr.pp;
    if (r > MAX_RANKS)
        return nh_errorf(err, NH_EINVAL, "plan '%s': %ld ranks", spec, r);
    *np = r;
    return 0;
}

/* mpirun's report of the failed rank, from its stderr (Open MPI 4):
 *   mpirun noticed that process rank 1 with PID 0 on node x exited on
 *   signal 9 (Killed).
 *   Process name: [[63092,1],1]     followed by     Exit code: 3 */
static void
scan_line(struct launch *l, const char *line)
{
    const char *p;
    int r, v;

    if (l->sig_rank < 0 &&
        (p = strstr(line, "mpirun noticed that process rank ")) &&
        sscanf(p,
               "mpirun noticed that process rank %d with PID %*d on node "
               "%*s exited on signal %d",
               &r, &v) == 2) {
        l->sig_rank = r;
        l->sig = v;
    }
    if (l->exit_rank < 0 && (p = strstr(line, "Process name: [[")) &&
        sscanf(p, "Process name: [[%*d,%*d],%d]", &r) == 1)
        l->exit_rank = r;
    if (l->exit_rank >= 0 && l->exit_code < 0 &&
        (p = strstr(line, "Exit code:")) && sscanf(p, "Exit code: %d", &v) == 1)
        l->exit_code = v;
}

/* Forward what mpirun wrote on stderr, scanning whole lines; wait at most
 * ms for it. */
static void
pump(struct launch *l, int ms)
{
    struct pollfd pfd = {.fd = l->errfd, .events = POLLIN};
    char buf[8192];
    ssize_t n;

    if (l->errfd < 0) {
        if (ms > 0)
            poll(NULL, 0, ms);
        return;
    }
    if (poll(&pfd, 1, ms) <= 0)
        return;
    n = read(l->errfd, buf, sizeof(buf));
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            close(l->errfd);
            l->errfd = -1;
        }
        return;
    }
    (void)!write(2, buf, (size_t)n);
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            scan_line(l, strbuf_str(&l->errline));
            strbuf_reset(&l->errline);
        } else if (l->errline.len < 4096)
            strbuf_addch(&l->errline, buf[i]);
    }
}

/* Read every rank's heartbeat; note the time of each change. */
static void
read_beats(struct launch *l)
{
    struct heartbeat_info hi;
    double now = nh_now();

    for (long r = 0; r < l->np; r++) {
        struct rank_seen *s = &l->rs[r];

        if (heartbeat_read(strbuf_str(&l->hbdir), (int)r, &hi) <= 0)
            continue;
        if (!s->have || hi.beat != s->beat) {
            s->have = true;
            s->beat = hi.beat;
            s->seen = now;
            s->hi = hi;
        }
    }
    /* the first step after a restart: the recovery is complete */
    if (l->pending && l->rs[0].have && l->rs[0].hi.phase >= HB_READY &&
        heartbeat_done(&l->rs[0].hi) > l->rs[0].hi.first) {
        long from = l->rs[0].hi.first;
        long redone = l->reached > from ? l->reached - from : 0;
        double rec = now - l->detected;

        l->pending = false;
        l->redone += redone;
        record(l, "restart",
               "\"backoff_s\":%.3f,\"resumed_from\":%ld,"
               "\"steps_redone\":%ld,\"recovery_s\":%.3f",
               l->backoff_used, from, redone, rec);
        fprintf(stderr,
                "nh-train: launch: attempt %d: resumed from step %ld, %ld "
                "step%s redone, recovered %.2f s after the detection\n",
                l->attempt, from, redone, redone == 1 ? "" : "s", rec);
    }
}

/* Whether pid is a live process of our own executable (a rank). */
static bool
is_rank(struct launch *l, int pid)
{
    char link[64], exe[PATH_MAX];
    ssize_t n;

    if (pid <= 0)
        return false;
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    n = readlink(link, exe, sizeof(exe) - 1);
    if (n < 0)
        return false;
    exe[n] = 0;
    return !strcmp(exe, l->exe);
}

/* Stop the attempt: SIGTERM to mpirun, SIGKILL to its process group after
 * the grace period; then wait for the local ranks named by the heartbeat
 * files to be gone, killing any left after another grace period. */
static void
stop_job(struct launch *l)
{
    double until;
    int left, killed = 0;

    if (l->pid > 0) {
        kill(l->pid, SIGTERM);
        until = nh_now() + l->grace;
        while (nh_now() < until &&
               waitpid(l->pid, &l->status, WNOHANG) != l->pid)
            pump(l, 20);
        if (waitpid(l->pid, &l->status, WNOHANG) != l->pid) {
            kill(-l->pid, SIGKILL);
            kill(l->pid, SIGKILL);
            while (waitpid(l->pid, &l->status, 0) < 0 && errno == EINTR)
                ;
        }
        l->pid = 0;
    }
    read_beats(l);
    until = nh_now() + l->grace;
    for (;;) {
        left = 0;
        for (long r = 0; r < l->np; r++) {
            const struct rank_seen *s = &l->rs[r];

            if (s->have && !strcmp(s->hi.host, l->host) &&
                is_rank(l, s->hi.pid))
                left++;
        }
        if (left == 0 || nh_now() >= until)
            break;
        pump(l, 20);
    }
    for (long r = 0; left && r < l->np; r++) {
        const struct rank_seen *s = &l->rs[r];

        if (s->have && !strcmp(s->hi.host, l->host) && is_rank(l, s->hi.pid) &&
            kill(s->hi.pid, SIGKILL) == 0)
            killed++;
    }
    if (killed)
        fprintf(stderr, "nh-train: launch: killed %d rank%s left running\n",
                killed, killed == 1 ? "" : "s");
}

/* Steps done by the furthest rank (-1: no beat). */
static long
reached(const struct launch *l)
{
    long best = -1;

    for (long r = 0; r < l->np; r++)
        if (l->rs[r].have && heartbeat_done(&l->rs[r].hi) > best)
            best = heartbeat_done(&l->rs[r].hi);
    return best;
}

/* A hang: the rank furthest behind (no beat yet, then lowest step and
 * phase, then the oldest beat); its silence in seconds into *silent. */
static int
hang_check(struct launch *l, double now, double *silent)
{
    int worst = -1;
    bool stale = false;

    for (long r = 0; r < l->np; r++) {
        const struct rank_seen *s = &l->rs[r], *w;
        double last = s->have ? s->seen : l->started;

        if (now - last > l->timeout)
            stale = true;
        if (worst < 0) {
            worst = (int)r;
            continue;
        }
        w = &l->rs[worst];
        if (s->have != w->have) {
            if (!s->have)
                worst = (int)r;
        } else if (s->have &&
                   (s->hi.step != w->hi.step || s->hi.phase != w->hi.phase)) {
            if (s->hi.step < w->hi.step ||
                (s->hi.step == w->hi.step && s->hi.phase < w->hi.phase))
                worst = (int)r;
        } else if (s->have && s->seen < w->seen)
            worst = (int)r;
    }
    if (!stale)
        return -1;
    *silent = now - (l->rs[worst].have ? l->rs[worst].seen : l->started);
    return worst;
}

/* Whether RUN_DIR/ckpt holds a checkpoint directory. */
static bool
have_ckpt(struct launch *l)
{
    DIR *d;
    struct dirent *e;
    bool found = false;

    strbuf_reset(&l->tmp);
    strbuf_addf(&l->tmp, "%s/ckpt", l->run_dir);
    d = opendir(strbuf_str(&l->tmp));
    if (!d)
        return false;
    while (!found && (e = readdir(d)))
        found = !strncmp(e->d_name, "step-", 5);
    closedir(d);
    return found;
}

/* Start mpirun for the current attempt. */
static int
spawn(struct launch *l, bool resume, struct nh_error *err)
{
    char np[32];
    const char **argv;
    int p[2], k = 0;
    pid_t pid;

    for (long r = 0; r < l->np; r++) {
        strbuf_reset(&l->tmp);
        strbuf_addf(&l->tmp, "%s/rank-%05ld", strbuf_str(&l->hbdir), r);
        unlink(strbuf_str(&l->tmp));
    }
    argv = calloc((size_t)l->run_argc + 16, sizeof(*argv));
    if (!argv)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    snprintf(np, sizeof(np), "%ld", l->np);
    argv[k++] = "mpirun";
    if (l->hosts) {
        argv[k++] = "--hostfile";
        argv[k++] = l->hosts;
    } else
        argv[k++] = "--oversubscribe";
    argv[k++] = "-np";
    argv[k++] = np;
    argv[k++] = "-x";
    argv[k++] = "NH_HEARTBEAT_DIR";
    if (l->attempt == 1 && l->fault_env) {
        argv[k++] = "-x";
        argv[k++] = "NH_FAULT";
        setenv("NH_FAULT", l->fault_env, 1);
    } else
        unsetenv("NH_FAULT");
    argv[k++] = l->exe;
    for (int i = 0; i < l->run_argc; i++)
        argv[k++] = l->run_argv[i];
    if (resume && !l->user_resume)
        argv[k++] = "--resume";
    argv[k] = NULL;
    if (pipe2(p, O_CLOEXEC) < 0) {
        free(argv);
        return nh_error_errno(err, "cannot create a pipe");
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(p[1], 2);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "nh-train: launch: cannot run 'mpirun': %s\n",
                strerror(errno));
        _exit(127);
    }
    free(argv);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return nh_error_errno(err, "cannot fork");
    }
    l->pid = pid;
    l->errfd = p[0];
    l->started = nh_now();
    l->sig_rank = l->exit_rank = l->sig = l->exit_code = -1;
    strbuf_reset(&l->errline);
    memset(l->rs, 0, sizeof(*l->rs) * (size_t)l->np);
    return 0;
}

/* A local rank whose process is gone while mpirun still runs: the
 * earliest sign of an exit (mpirun reports it only after stopping the
 * others). -1 when all are alive. */
static int
vanished(struct launch *l)
{
    for (long r = 0; r < l->np; r++) {
        const struct rank_seen *s = &l->rs[r];

        if (s->have && !strcmp(s->hi.host, l->host) && !is_rank(l, s->hi.pid))
            return (int)r;
    }
    return -1;
}

/* Watch the attempt until it ends; f gets the fault. */
static enum outcome
supervise(struct launch *l, struct fault_rec *f)
{
    double now, silent, gone_at = 0, gone_wall = 0;
    int hung, gone = -1;

    for (;;) {
        pump(l, POLL_MS);
        read_beats(l);
        if (stop_signal) {
            stop_job(l);
            return OUT_STOPPED;
        }
        if (gone < 0 && (gone = vanished(l)) >= 0) {
            gone_at = nh_now();
            gone_wall = wall_time();
        }
        if (waitpid(l->pid, &l->status, WNOHANG) == l->pid ||
            (gone >= 0 && nh_now() - gone_at > l->grace)) {
            double tnow = gone >= 0 ? gone_wall : wall_time(), last = 0;

            f->at = gone >= 0 ? gone_at : nh_now();
            if (l->pid > 0 && waitpid(l->pid, &l->status, WNOHANG) == 0) {
                /* a rank is gone and mpirun did not end: stop it */
                stop_job(l);
                l->status = 1 << 8;
            }

            l->pid = 0;
            while (l->errfd >= 0) /* mpirun's last words */
                pump(l, 200);
            read_beats(l);
            if (WIFEXITED(l->status) && WEXITSTATUS(l->status) == 0)
                return OUT_FINISHED;
            f->sig = f->code = -1;
            if (l->sig_rank >= 0) {
                f->cause = "signal";
                f->rank = l->sig_rank;
                f->sig = l->sig;
            } else if (l->exit_rank >= 0) {
                f->cause = "exit";
                f->rank = l->exit_rank;
                f->code = l->exit_code;
            } else if (gone >= 0) {
                f->cause = "exit";
                f->rank = gone;
                f->code = -1;
            } else if (WIFSIGNALED(l->status)) {
                f->cause = "signal";
                f->rank = -1;
                f->sig = WTERMSIG(l->status);
            } else {
                f->cause = "exit";
                f->rank = -1;
                f->code = WEXITSTATUS(l->status);
            }
            f->reached = reached(l);
            /* from the failed rank's last beat (an exit comes after it),
             * or the newest beat of any rank */
            for (long r = 0; r < l->np; r++)
                if (l->rs[r].have && (f->rank < 0 ? r : f->rank) == r &&
                    l->rs[r].hi.time > last)
                    last = l->rs[r].hi.time;
            f->detection = last > 0 ? tnow - last : nh_now() - l->started;
            stop_job(l); /* ranks mpirun left behind */
            return f->cause[0] == 'e' && f->code == 2 ? OUT_REJECTED
                                                      : OUT_FAULT;
        }
        now = nh_now();
        if ((hung = hang_check(l, now, &silent)) >= 0) {
            f->at = now;
            f->cause = "hang";
            f->rank = hung;
            f->sig = f->code = -1;
            f->reached = reached(l);
            f->detection = silent;
            stop_job(l);
            return OUT_FAULT;
        }
    }
}

/* Sum of the step seconds in RUN_DIR/metrics.jsonl after step base: each
 * step once (a resumed run cut the redone ones out). */
static double
useful_seconds(struct launch *l, long *last_step)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    double sum = 0;

    *last_step = 0;
    strbuf_reset(&l->tmp);
    strbuf_addf(&l->tmp, "%s/metrics.jsonl", l->run_dir);
    f = fopen(strbuf_str(&l->tmp), "r");
    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step");
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "seconds");

        if (cJSON_IsNumber(st) && cJSON_IsNumber(sec) &&
            !cJSON_GetObjectItemCaseSensitive(j, "event")) {
            if ((long)st->valuedouble > l->base_step)
                sum += sec->valuedouble;
            *last_step = (long)st->valuedouble;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return sum;
}

static void
summary(struct launch *l, const char *status)
{
    long last;
    double useful = useful_seconds(l, &last), wall = nh_now() - l->t0;
    double dh = l->device_s / 3600;

    record(l, "summary",
           "\"status\":\"%s\",\"attempts\":%d,\"restarts\":%ld,"
           "\"ranks\":%ld,\"step\":%ld,\"steps_redone\":%ld,\"wall_s\":%.3f,"
           "\"device_hours\":%.6g,\"useful_step_s\":%.3f,\"goodput\":%.4f",
           status, l->attempt, l->restarts, l->np, last, l->redone, wall, dh,
           useful, wall > 0 ? useful / wall : 0.0);
    fprintf(stderr,
            "nh-train: launch: %s at step %ld after %ld restart%s: %.1f s, "
            "%.4g device-hours, goodput %.3f\n",
            status, last, l->restarts, l->restarts == 1 ? "" : "s", wall, dh,
            wall > 0 ? useful / wall : 0.0);
}

static int
parse_opts(struct launch *l, int argc, char **argv)
{
    static const struct option opts[] = {
        {"np", required_argument, NULL, 'n'},
        {"plan", required_argument, NULL, 'p'},
        {"hosts", required_argument, NULL, 'H'},
        {"launcher", required_argument, NULL, 'L'},
        {"max-restarts", required_argument, NULL, 'r'},
        {"heartbeat-timeout", required_argument, NULL, 't'},
        {"backoff", required_argument, NULL, 'b'},
        {"grace", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double v;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        bool ok = true;

        switch (c) {
        case 'n':
            ok = nh_parse_double(optarg, 1, MAX_RANKS, &v) && v == floor(v);
            l->np = (long)v;
            break;
        case 'p':
            l->plan = optarg;
            break;
        case 'H':
            l->hosts = optarg;
            break;
        case 'L':
            l->launcher = optarg;
            break;
        case 'r':
            ok = nh_parse_double(optarg, 0, 1000000, &v) && v == floor(v);
            l->max_restarts = (long)v;
            break;
        case 't':
            ok = nh_parse_double(optarg, 0.1, 1e7, &l->timeout);
            break;
        case 'b':
            ok = nh_parse_double(optarg, 0, MAX_BACKOFF, &l->backoff);
            break;
        case 'g':
            ok = nh_parse_double(optarg, 0, 3600, &l->grace);
            break;
        case 'h':
            fputs(launch_usage, stdout);
            return 0;
        case ':':
            return bad_usage("missing value for", argv[optind - 1]);
        default:
            return bad_usage("unknown option", argv[optind - 1]);
        }
        if (!ok)
            return bad_usage("bad value", optarg);
    }
    if (strcmp(l->launcher, "mpirun")) {
        if (!strcmp(l->launcher, "slurm"))
            fprintf(stderr, "nh-train: launch: --launcher slurm is not yet "
                            "supported (use mpirun, with --hosts)\n");
        else
            fprintf(stderr, "nh-train: launch: unknown launcher '%s'\n",
                    l->launcher);
        return 2;
    }
    if (!l->np == !l->plan)
        return bad_usage("give one of --np and --plan",
                         l->plan ? "--plan" : "--np");
    if (optind >= argc || strcmp(argv[optind], "run"))
        return bad_usage("expected `-- run ARGS...`, not",
                         optind < argc ? argv[optind] : "");
    l->run_argv = argv + optind;
    l->run_argc = argc - optind;
    for (int i = 1; i < l->run_argc; i++) {
        const char *a = l->run_argv[i];

        if (!strcmp(a, "--out") && i + 1 < l->run_argc)
            l->run_dir = l->run_argv[i + 1];
        else if (!strncmp(a, "--out=", 6))
            l->run_dir = a + 6;
        else if (!strcmp(a, "--resume"))
            l->user_resume = true;
    }
    if (!l->run_dir)
        return bad_usage("missing", "run --out");
    return -1;
}

int
launch_command(int argc, char **argv)
{
    struct launch l = {
        .max_restarts = 3,
        .timeout = 300,
        .backoff = 1,
        .grace = 5,
        .launcher = "mpirun",
        .hbdir = STRBUF_INIT,
        .tmp = STRBUF_INIT,
        .errline = STRBUF_INIT,
        .errfd = -1,
        .base_step = -1,
    };
    struct nh_error err = {0};
    struct sigaction sa;
    struct fault_rec f = {0};
    char **run_argv = NULL;
    char *abs = NULL;
    ssize_t n;
    double backoff;
    char num[3][16];
    int rc;

    if ((rc = parse_opts(&l, argc, argv)) >= 0)
        return rc;
    rc = 1;
    if (l.plan) {
        if (plan_ranks(l.plan, &l.np, &err) < 0) {
            fprintf(stderr, "nh-train: launch: %s\n", err.msg);
            return 1;
        }
        run_argv = calloc((size_t)l.run_argc + 3, sizeof(*run_argv));
        if (!run_argv)
            goto oom;
        memcpy(run_argv, l.run_argv, sizeof(*run_argv) * (size_t)l.run_argc);
        run_argv[l.run_argc++] = plan_opt;
        run_argv[l.run_argc++] = (char *)l.plan;
        l.run_argv = run_argv;
        fprintf(stderr, "nh-train: launch: plan '%s': %ld ranks\n", l.plan,
                l.np);
    }
    if (l.hosts && access(l.hosts, R_OK) < 0) {
        fprintf(stderr, "nh-train: launch: cannot open '%s': %s\n", l.hosts,
                strerror(errno));
        goto out;
    }
    n = readlink("/proc/self/exe", l.exe, sizeof(l.exe) - 1);
    if (n < 0) {
        fprintf(stderr, "nh-train: launch: cannot find nh-train: %s\n",
                strerror(errno));
        goto out;
    }
    l.exe[n] = 0;
    if (gethostname(l.host, sizeof(l.host)) < 0)
        snprintf(l.host, sizeof(l.host), "?");
    l.host[sizeof(l.host) - 1] = 0;
    for (char *c = l.host; *c; c++)
        if (*c == ' ' || *c == '\n')
            *c = '_';
    if (getenv("NH_FAULT") && !(l.fault_env = strdup(getenv("NH_FAULT"))))
        goto oom;
    l.rs = calloc((size_t)l.np, sizeof(*l.rs));
    if (!l.rs)
        goto oom;

    /* RUN_DIR, RUN_DIR/heartbeat (absolute: the ranks' directory may
     * differ on other hosts), RUN_DIR/supervisor.jsonl */
    if (mkdir(l.run_dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "nh-train: launch: cannot create '%s': %s\n", l.run_dir,
                strerror(errno));
        goto out;
    }
    abs = realpath(l.run_dir, NULL);
    if (!abs || strbuf_addf(&l.hbdir, "%s/heartbeat", abs) < 0) {
        fprintf(stderr, "nh-train: launch: cannot resolve '%s'\n", l.run_dir);
        goto out;
    }
    if (mkdir(strbuf_str(&l.hbdir), 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "nh-train: launch: cannot create '%s': %s\n",
                strbuf_str(&l.hbdir), strerror(errno));
        goto out;
    }
    setenv("NH_HEARTBEAT_DIR", strbuf_str(&l.hbdir), 1);
    strbuf_addf(&l.tmp, "%s/supervisor.jsonl", l.run_dir);
    l.rec = fopen(strbuf_str(&l.tmp), l.user_resume ? "a" : "w");
    if (!l.rec) {
        fprintf(stderr, "nh-train: launch: cannot create '%s': %s\n",
                strbuf_str(&l.tmp), strerror(errno));
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    l.t0 = nh_now();
    backoff = l.backoff;
    for (l.attempt = 1;; l.attempt++) {
        bool resume = l.user_resume || (l.attempt > 1 && have_ckpt(&l));
        enum outcome o;
        double t;

        if (spawn(&l, resume, &err) < 0) {
            fprintf(stderr, "nh-train: launch: %s\n", err.msg);
            goto out;
        }
        record(&l, "start", "\"ranks\":%ld,\"resume\":%s,\"pid\":%d", l.np,
               resume ? "true" : "false", (int)l.pid);
        fprintf(stderr, "nh-train: launch: attempt %d: %ld rank%s%s\n",
                l.attempt, l.np, l.np == 1 ? "" : "s",
                resume ? ", --resume" : "");
        t = nh_now();
        o = supervise(&l, &f);
        l.device_s += (double)l.np * (nh_now() - t);
        if (l.base_step < 0 && l.rs[0].have && l.rs[0].hi.phase >= HB_READY)
            l.base_step = l.rs[0].hi.first;
        if (l.pending) { /* no step after the restart */
            l.pending = false;
            record(&l, "restart",
                   "\"backoff_s\":%.3f,\"resumed_from\":null,"
                   "\"steps_redone\":null,\"recovery_s\":null",
                   l.backoff_used);
        }
        if (o == OUT_FINISHED) {
            record(&l, "finish", "\"step\":%ld", reached(&l));
            summary(&l, "finished");
            rc = 0;
            goto out;
        }
        if (o == OUT_STOPPED) {
            record(&l, "stopped", "\"signal\":%d", (int)stop_signal);
            fprintf(stderr, "nh-train: launch: stopped by signal %d\n",
                    (int)stop_signal);
            summary(&l, "stopped");
            goto out;
        }
        if (o == OUT_REJECTED) {
            record(&l, "rejected", "\"exit_code\":2");
            fprintf(stderr, "nh-train: launch: run rejected its arguments "
                            "(exit status 2); not restarting\n");
            summary(&l, "rejected");
            rc = 2;
            goto out;
        }
        snprintf(num[0], sizeof(num[0]), "%d", f.rank);
        snprintf(num[1], sizeof(num[1]), "%d", f.sig);
        snprintf(num[2], sizeof(num[2]), "%d", f.code);
        record(&l, "fault",
               "\"cause\":\"%s\",\"rank\":%s,\"signal\":%s,\"exit_code\":%s,"
               "\"step\":%ld,\"detection_s\":%.3f",
               f.cause, f.rank >= 0 ? num[0] : "null",
               f.sig >= 0 ? num[1] : "null", f.code >= 0 ? num[2] : "null",
               f.reached, f.detection);
        if (f.cause[0] == 'h')
            fprintf(stderr,
                    "nh-train: launch: attempt %d: rank %d sent no heartbeat "
                    "for %.1f s at step %ld: hang\n",
                    l.attempt, f.rank, f.detection, f.reached);
        else
            fprintf(stderr,
                    "nh-train: launch: attempt %d: rank %d %s %d at step %ld "
                    "(detected %.2f s after its last heartbeat)\n",
                    l.attempt, f.rank,
                    f.sig >= 0 ? "killed by signal" : "exited with status",
                    f.sig >= 0 ? f.sig : f.code, f.reached, f.detection);
        if (l.restarts >= l.max_restarts) {
            fprintf(stderr, "nh-train: launch: giving up after %ld restart%s\n",
                    l.restarts, l.restarts == 1 ? "" : "s");
            summary(&l, "failed");
            goto out;
        }
        l.restarts++;
        l.pending = true;
        l.detected = f.at;
        l.reached = f.reached;
        l.backoff_used = backoff;
        fprintf(stderr, "nh-train: launch: restarting in %.2f s\n", backoff);
        for (double until = nh_now() + backoff;
             nh_now() < until && !stop_signal;)
            poll(NULL, 0, 20);
        backoff = fmin(2 * backoff, MAX_BACKOFF);
        if (stop_signal) {
            record(&l, "stopped", "\"signal\":%d", (int)stop_signal);
            summary(&l, "stopped");
            goto out;
        }
    }
oom:
    fprintf(stderr, "nh-train: launch: out of memory\n");
out:
    if (l.pid > 0)
        stop_job(&l);
    if (l.errfd >= 0)
        close(l.errfd);
    if (l.rec)
        fclose(l.rec);
    free(l.rs);
    free(l.fault_env);
    free(run_argv);
    free(abs);
    strbuf_release(&l.hbdir);
    strbuf_release(&l.tmp);
    strbuf_release(&l.errline);
    return rc;
}
