/* jobs.c - the job supervisor thread: children, progress, logs, commits
 *
 * See jobs.h for the contract. The thread sleeps in poll(2) on an
 * eventfd (kicks, cancels, stop) and on the stdout and stderr pipes of
 * its children. A child is finished when both pipes reach EOF; it is
 * then reaped with waitpid() (it has closed its output, so it is
 * exiting) and its job row is settled with a conditional UPDATE ... WHERE
 * state = 'running', so a cancel that raced with the end wins.
 */
#include "jobs-int.h"

#include "clock.h"
#include "log.h"
#include "net.h"
#include "objstore.h"
#include "review.h"
#include "sql.h"
#include "store.h"
#include "strbuf.h"
#include "utf8.h"
#include "version.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
wake(struct jobs *j)
{
    uint64_t one = 1;
    ssize_t n = write(j->efd, &one, sizeof(one));

    (void)n; /* a full counter already means "wake up" */
}

int64_t
jobs_parse_id(const char *s)
{
    int64_t v = 0;
    int digits = 0;

    if (!s || *s < '1' || *s > '9')
        return 0;
    for (; *s; s++, digits++) {
        if (*s < '0' || *s > '9' || digits == 16)
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v <= ((int64_t)1 << 53) ? v : 0;
}

/* ---- events ----------------------------------------------------------- */

char *
jobs_event_text(const char *event, const char *topic, const cJSON *data,
                size_t *len)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON *copy = cJSON_Duplicate(data, 1);
    char *text = NULL;

    if (msg && copy && cJSON_AddStringToObject(msg, "event", event) &&
        cJSON_AddStringToObject(msg, "topic", topic) &&
        cJSON_AddItemToObject(msg, "data", copy)) {
        copy = NULL;
        text = cJSON_PrintUnformatted(msg);
    }
    cJSON_Delete(copy);
    cJSON_Delete(msg);
    if (text)
        *len = strlen(text);
    return text;
}

static void
publish(struct jobs *j, const char *event, const char *topic, const cJSON *data)
{
    struct jobs_event *e = calloc(1, sizeof(*e));

    if (!e || !(e->text = jobs_event_text(event, topic, data, &e->len))) {
        free(e);
        nh_error("out of memory publishing '%s'", event);
        return;
    }
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    pthread_mutex_lock(&j->mu);
    if (j->events_tail)
        j->events_tail->next = e;
    else
        j->events = e;
    j->events_tail = e;
    pthread_mutex_unlock(&j->mu);
    if (j->notify)
        j->notify(j->notify_arg);
}

void
jobs_publish(struct jobs *j, int64_t id, const char *event, const cJSON *data,
             bool only_job)
{
    char topic[JOBS_TOPIC_MAX];

    snprintf(topic, sizeof(topic), "job/%lld", (long long)id);
    publish(j, event, topic, data);
    if (!only_job)
        publish(j, event, "jobs", data);
}

void
jobs_publish_state(struct jobs *j, sqlite3 *db, int64_t id)
{
    cJSON *sum = NULL;
    struct nh_error err = {0};

    if (!j)
        return;
    if (job_summary(db, id, 0, &sum, &err) < 0) {
        nh_error("job %lld: %s", (long long)id, err.msg);
        return;
    }
    jobs_publish(j, id, "job.state", sum, false);
    cJSON_Delete(sum);
}

struct jobs_event *
jobs_drain(struct jobs *j)
{
    struct jobs_event *e;

    pthread_mutex_lock(&j->mu);
    e = j->events;
    j->events = j->events_tail = NULL;
    pthread_mutex_unlock(&j->mu);
    return e;
}

void
jobs_event_free(struct jobs_event *e)
{
    if (e) {
        free(e->text);
        free(e);
    }
}

/* ---- job rows --------------------------------------------------------- */

int
job_summary(sqlite3 *db, int64_t id, int full, cJSON **out,
            struct nh_error *err)
{
    static const char sql[] =
        "SELECT id, kind, state, dataset, input, output, created, started,"
        " ended, progress,"
        " CASE WHEN state = 'queued' THEN (SELECT count(*) FROM jobs q"
        "  WHERE q.state = 'queued' AND q.id <= jobs.id) END,"
        " args, stats, error, removed, user,"
        " (SELECT count(*) FROM job_logs WHERE job_id = jobs.id)"
        " FROM jobs WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    cJSON *o = NULL;
    int rc = 0, src;
    bool ok;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return nh_errorf(err, NH_EIO, "cannot read job: %s",
                         sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = nh_errorf(err, NH_ENOENT, "no job %lld", (long long)id);
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = nh_errorf(err, NH_EIO, "cannot read job: %s", sqlite3_errmsg(db));
        goto out;
    }
    o = cJSON_CreateObject();
    ok = o && sql_add_column(o, "job", st, 0) &&
         sql_add_column(o, "kind", st, 1) &&
         sql_add_column(o, "state", st, 2) &&
         sql_add_column(o, "dataset", st, 3) &&
         sql_add_column(o, "input", st, 4) &&
         sql_add_column(o, "output", st, 5) &&
         sql_add_column(o, "created", st, 6) &&
         sql_add_column(o, "started", st, 7) &&
         sql_add_column(o, "ended", st, 8) &&
         sql_add_json_column(o, "progress", st, 9) &&
         sql_add_column(o, "queue_position", st, 10);
    if (ok && full)
        ok = sql_add_json_column(o, "args", st, 11) &&
             sql_add_json_column(o, "stats", st, 12) &&
             sql_add_column(o, "error", st, 13) &&
             sql_add_json_column(o, "removed", st, 14) &&
             sql_add_column(o, "user", st, 15) &&
             sql_add_column(o, "log_lines", st, 16);
    if (!ok) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    cJSON_Delete(o);
    sqlite3_finalize(st);
    return rc;
}

/* Run sql with ?1 = id and ?2 = text (NULL binds NULL); the number of
 * rows changed, or -1 on error (logged). */
int
jobs_exec(struct jobs *j, const char *sql, int64_t id, const char *text)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    int n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (text)
            sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = sqlite3_changes(db);
    }
    if (n < 0)
        nh_error("job %lld: database: %s", (long long)id, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return n;
}

/* Settle job id as state (from 'running' only) with error text, and
 * publish the change. */
void
jobs_settle(struct jobs *j, int64_t id, const char *state, const char *error)
{
    static const char sql[] =
        "UPDATE jobs SET state = ?3, error = ?2, ended = unixepoch()"
        " WHERE id = ?1 AND state = 'running'";
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (error)
            sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            nh_error("job %lld: database: %s", (long long)id,
                     sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    jobs_publish_state(j, db, id);
}

/* ---- files ------------------------------------------------------------ */

int
jobs_path(const struct jobs *j, int64_t id, const char *rest, char *out,
          size_t outsz)
{
    int n = snprintf(out, outsz, "%s/jobs/%lld%s%s", j->data_dir, (long long)id,
                     rest[0] ? "/" : "", rest);

    return n < 0 || (size_t)n >= outsz ? NH_ETOOBIG : 0;
}

int
jobs_mkdir_p(const char *path, struct nh_error *err)
{
    char buf[PATH_MAX];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return nh_errorf(err, NH_ETOOBIG, "path too long");
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return nh_error_errno(err, "cannot create '%s'", buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return nh_error_errno(err, "cannot create '%s'", buf);
    return 0;
}

/* rm -r path (no symlinks are followed). */
void
jobs_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    struct stat st;
    char sub[PATH_MAX];

    if (!d) {
        unlink(path);
        return;
    }
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
            (int)sizeof(sub))
            continue;
        if (de->d_type == DT_DIR ||
            (de->d_type == DT_UNKNOWN && lstat(sub, &st) == 0 &&
             S_ISDIR(st.st_mode)))
            jobs_remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

/* in/part-NNNNN.jsonl -> the input version's shard objects. */
int
jobs_link_inputs(struct jobs *j, const char *indir, const char *version,
                 struct nh_error *err)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    struct strbuf obj;
    char link[PATH_MAX], abs[PATH_MAX];
    int rc = 0, src;

    strbuf_init(&obj, PATH_MAX);
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, object FROM version_shards"
                           " WHERE version_id = ?1 ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = nh_errorf(err, NH_EIO, "cannot read shards: %s",
                       sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);

        strbuf_reset(&obj);
        if (!h || (rc = objstore_path(j->data_dir, h, &obj)) < 0 ||
            !realpath(strbuf_str(&obj), abs)) {
            rc = nh_errorf(err, NH_ECORRUPT, "shard object '%s' is missing",
                           h ? h : "?");
            goto out;
        }
        if (snprintf(link, sizeof(link), "%s/part-%05lld.jsonl", indir,
                     (long long)sqlite3_column_int64(st, 0)) >=
            (int)sizeof(link)) {
            rc = nh_errorf(err, NH_ETOOBIG, "path too long");
            goto out;
        }
        unlink(link);
        if (symlink(abs, link) < 0) {
            rc = nh_error_errno(err, "cannot link '%s'", link);
            goto out;
        }
    }
    if (src != SQLITE_DONE)
        rc = nh_errorf(err, NH_EIO, "cannot read shards: %s",
                       sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    strbuf_release(&obj);
    return rc;
}

int
jobs_write_file(const char *path, const char *text, struct nh_error *err)
{
    FILE *f = fopen(path, "we");
    int rc = 0;

    if (!f)
        return nh_error_errno(err, "cannot create '%s'", path);
    if (fputs(text, f) == EOF)
        rc = nh_error_errno(err, "cannot write '%s'", path);
    if (fclose(f) != 0 && rc == 0)
        rc = nh_error_errno(err, "cannot write '%s'", path);
    return rc;
}

/* ---- starting --------------------------------------------------------- */

struct job_args {
    cJSON *root;
    char kind[16];              /* "pipeline", "augment", "mix" */
    const char *input, *output; /* version id, output dataset */
    const char *config_hash;
    const cJSON *config; /* as checked by op-job.c */
};

static int
load_args(struct jobs *j, int64_t id, struct job_args *a, struct nh_error *err)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    int rc = 0;

    memset(a, 0, sizeof(*a));
    if (sqlite3_prepare_v2(db, "SELECT args, kind FROM jobs WHERE id = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return nh_errorf(err, NH_EIO, "cannot read job: %s",
                         sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        a->root = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        snprintf(a->kind, sizeof(a->kind), "%s", sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    if (a->root) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(a->root, "input");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(a->root, "output");

        a->config = cJSON_GetObjectItemCaseSensitive(a->root, "config");
        a->input = cJSON_GetStringValue(in);
        a->output = cJSON_GetStringValue(o);
        a->config_hash = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a->root, "config_hash"));
    }
    if (!a->input || !a->output || !a->config_hash ||
        !cJSON_IsObject(a->config))
        rc =
            nh_errorf(err, NH_ECORRUPT, "job %lld has bad args", (long long)id);
    return rc;
}

int
jobs_spawn(struct child *k, const char *const argv[], char *const envp[],
           struct nh_error *err)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    pid_t pid, parent = getpid();

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        int rc = nh_error_errno(err, "cannot make a pipe");

        close(out[0]);
        close(out[1]);
        return rc;
    }
    pid = fork();
    if (pid < 0) {
        int rc = nh_error_errno(err, "cannot fork");

        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        return rc;
    }
    if (pid == 0) {
        sigset_t none;
        int devnull = open("/dev/null", O_RDONLY);

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* nhd died before prctl took effect */
            _exit(127);
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        closefrom(3);
        if (envp)
            execve(argv[0], (char *const *)argv, envp);
        else
            execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so a kill(-pid) right away finds it */
    close(out[1]);
    close(errp[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    k->pid = pid;
    k->fd[0] = out[0];
    k->fd[1] = errp[0];
    return 0;
}

/* A mix job: in/K/ holds links to source K's shards; nh-clean mix
 * --source K=WEIGHT=in/K ... */
static int
spawn_mix(struct jobs *j, struct child *k, const struct job_args *a,
          const char *indir, const char *outdir, struct nh_error *err)
{
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(a->config, "sources");
    const cJSON *x;
    char **argv = NULL, target[40], seed[40], (*spec)[PATH_MAX + 64] = NULL;
    size_t n = (size_t)cJSON_GetArraySize(srcs), i = 0, m = 0;
    int rc = 0;

    if (!n || n > 64)
        return nh_errorf(err, NH_ECORRUPT, "job %lld has bad sources",
                         (long long)k->job);
    argv = calloc(2 * n + 16, sizeof(*argv));
    spec = calloc(n, sizeof(*spec));
    if (!argv || !spec) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    argv[m++] = (char *)j->nh_clean;
    argv[m++] = (char *)"mix";
    cJSON_ArrayForEach(x, srcs)
    {
        char dir[PATH_MAX];
        const char *v = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(x, "version"));

        if (!v || snprintf(dir, sizeof(dir), "%s/%zu", indir, i) >=
                      (int)sizeof(dir)) {
            rc = nh_errorf(err, NH_ECORRUPT, "job %lld has bad sources",
                           (long long)k->job);
            goto out;
        }
        if ((rc = jobs_mkdir_p(dir, err)) < 0 ||
            (rc = jobs_link_inputs(j, dir, v, err)) < 0)
            goto out;
        snprintf(
            spec[i], sizeof(spec[i]), "%zu=%.17g=%s", i,
            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "weight")),
            dir);
        argv[m++] = (char *)"--source";
        argv[m++] = spec[i];
        i++;
    }
    snprintf(target, sizeof(target), "%.17g",
             cJSON_GetNumberValue(
                 cJSON_GetObjectItemCaseSensitive(a->config, "target")));
    snprintf(seed, sizeof(seed), "%.0f",
             cJSON_GetNumberValue(
                 cJSON_GetObjectItemCaseSensitive(a->config, "seed")));
    argv[m++] = (char *)"--target";
    argv[m++] = target;
    argv[m++] = (char *)"--by";
    argv[m++] =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a->config, "by"));
    argv[m++] = (char *)"--seed";
    argv[m++] = seed;
    argv[m++] = (char *)"--progress";
    argv[m++] = (char *)"json";
    argv[m++] = (char *)"-o";
    argv[m++] = (char *)outdir;
    argv[m] = NULL;
    if (!argv[m - 7]) {
        rc = nh_errorf(err, NH_ECORRUPT, "job %lld has bad args",
                       (long long)k->job);
        goto out;
    }
    rc = jobs_spawn(k, (const char *const *)argv, NULL, err);
out:
    free(argv);
    free(spec);
    return rc;
}

static int
prepare_and_spawn(struct jobs *j, int64_t id, struct child *k,
                  struct nh_error *err)
{
    struct job_args a;
    char dir[PATH_MAX], indir[PATH_MAX], outdir[PATH_MAX], cfg[PATH_MAX];
    char *cfgtext = NULL;
    int rc;

    if ((rc = load_args(j, id, &a, err)) < 0)
        goto out;
    if (jobs_path(j, id, "", dir, sizeof(dir)) < 0 ||
        jobs_path(j, id, "in", indir, sizeof(indir)) < 0 ||
        jobs_path(j, id, "out", outdir, sizeof(outdir)) < 0 ||
        jobs_path(j, id, "config.json", cfg, sizeof(cfg)) < 0) {
        rc = nh_errorf(err, NH_ETOOBIG, "data directory name too long");
        goto out;
    }
    if (!strcmp(a.kind, "mix")) {
        rc = spawn_mix(j, k, &a, indir, outdir, err);
        goto out;
    }
    if ((rc = jobs_mkdir_p(indir, err)) < 0 ||
        (rc = jobs_link_inputs(j, indir, a.input, err)) < 0)
        goto out;
    if (!(cfgtext = cJSON_Print(a.config))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = jobs_write_file(cfg, cfgtext, err)) < 0)
        goto out;
    if (!strcmp(a.kind, "augment")) {
        char ratio[32], seed[32];
        const char *argv[16];
        int n = 0;

        snprintf(ratio, sizeof(ratio), "%.17g",
                 cJSON_GetNumberValue(
                     cJSON_GetObjectItemCaseSensitive(a.root, "ratio")));
        snprintf(seed, sizeof(seed), "%.0f",
                 cJSON_GetNumberValue(
                     cJSON_GetObjectItemCaseSensitive(a.root, "seed")));
        argv[n++] = j->nh_clean;
        argv[n++] = "augment";
        argv[n++] = "--ops";
        argv[n++] = cfg;
        argv[n++] = "--ratio";
        argv[n++] = ratio;
        argv[n++] = "--seed";
        argv[n++] = seed;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a.root, "only_new")))
            argv[n++] = "--only-new";
        argv[n++] = "--progress";
        argv[n++] = "json";
        argv[n++] = "-o";
        argv[n++] = outdir;
        argv[n++] = indir;
        argv[n] = NULL;
        rc = jobs_spawn(k, argv, NULL, err);
    } else {
        const char *argv[] = {j->nh_clean,  "run",  "--config", cfg,
                              "--progress", "json", "-q",       "-o",
                              outdir,       indir,  NULL};
        rc = jobs_spawn(k, argv, NULL, err);
    }
out:
    free(cfgtext);
    cJSON_Delete(a.root);
    return rc;
}

/* Start the oldest queued jobs while there is room. */
static void
start_queued(struct jobs *j)
{
    sqlite3 *db = store_db(j->store);

    while (j->nkids < j->max_running && j->nkids < JOBS_MAX_CHILDREN) {
        sqlite3_stmt *st = NULL;
        struct nh_error err = {0};
        struct child *k = &j->kids[j->nkids];
        int64_t id = 0;
        bool train = false;
        int src, rc;

        if (sqlite3_prepare_v2(db,
                               "SELECT id, kind = 'train' FROM jobs"
                               " WHERE state = 'queued' ORDER BY id LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
            return;
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            train = sqlite3_column_int(st, 1) != 0;
        }
        sqlite3_finalize(st);
        if (src != SQLITE_ROW)
            return;
        rc = jobs_exec(j,
                       "UPDATE jobs SET state = 'running', error = NULL,"
                       " started = coalesce(started, unixepoch()),"
                       " ended = NULL WHERE id = ?1 AND state = 'queued'",
                       id, NULL);
        if (rc < 0)
            return; /* the database fails: try again on the next wake */
        if (rc != 1)
            continue; /* cancelled meanwhile */
        memset(k, 0, sizeof(*k));
        k->job = id;
        k->fd[0] = k->fd[1] = -1;
        strbuf_init(&k->line[0], LINE_MAX_BYTES);
        strbuf_init(&k->line[1], LINE_MAX_BYTES);
        k->log_seq = -1;
        {
            sqlite3_stmt *q = NULL;

            if (sqlite3_prepare_v2(db,
                                   "SELECT max(seq) FROM job_logs"
                                   " WHERE job_id = ?1",
                                   -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, id);
                if (sqlite3_step(q) == SQLITE_ROW &&
                    sqlite3_column_type(q, 0) != SQLITE_NULL)
                    k->log_seq = sqlite3_column_int64(q, 0);
            }
            sqlite3_finalize(q);
        }
        k->kind = train ? JOB_TRAIN : JOB_PIPELINE;
        if ((train ? train_start(j, k, &err)
                   : prepare_and_spawn(j, id, k, &err)) < 0) {
            strbuf_release(&k->line[0]);
            strbuf_release(&k->line[1]);
            nh_error("job %lld: %s", (long long)id, err.msg);
            jobs_settle(j, id, "failed", err.msg);
            continue;
        }
        nh_info("job %lld: started (pid %d)", (long long)id, (int)k->pid);
        j->nkids++;
        jobs_publish_state(j, db, id);
    }
}

/* ---- output ----------------------------------------------------------- */

static void
save_progress(struct jobs *j, struct child *k)
{
    if (!k->progress)
        return;
    jobs_exec(j, "UPDATE jobs SET progress = ?2 WHERE id = ?1", k->job,
              k->progress);
    free(k->progress);
    k->progress = NULL;
    k->progress_saved = nh_now();
}

static void
on_progress_line(struct jobs *j, struct child *k, const char *line)
{
    cJSON *msg = cJSON_Parse(line), *data = NULL;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(msg, "event");

    if (!msg || !cJSON_IsString(ev) || strcmp(ev->valuestring, "progress")) {
        cJSON_Delete(msg);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(msg, "event");
    free(k->progress);
    k->progress = cJSON_PrintUnformatted(msg);
    data = cJSON_CreateObject();
    if (data && cJSON_AddNumberToObject(data, "job", (double)k->job) &&
        cJSON_AddItemToObject(data, "progress", msg)) {
        msg = NULL;
        jobs_publish(j, k->job, "job.progress", data, false);
    }
    cJSON_Delete(msg);
    cJSON_Delete(data);
    if (nh_now() - k->progress_saved >= PROGRESS_DB_EVERY)
        save_progress(j, k);
}

void
jobs_log_line(struct jobs *j, struct child *k, const char *raw)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    struct strbuf fixed;
    const char *line;
    cJSON *data;

    /* what the child wrote may be cut mid-character or not UTF-8 */
    strbuf_init(&fixed, 4 * LINE_MAX_BYTES);
    line = utf8_repair(&fixed, raw, strlen(raw)) < 0 ? "?" : strbuf_str(&fixed);
    snprintf(k->last_err, sizeof(k->last_err), "%s", line);
    k->last_err[utf8_valid_prefix(k->last_err, strlen(k->last_err))] = '\0';
    if (k->log_seq + 1 >= LOG_MAX_LINES) {
        strbuf_release(&fixed);
        return;
    }
    k->log_seq++;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO job_logs (job_id, seq, line)"
                           " VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, k->job);
        sqlite3_bind_int64(st, 2, k->log_seq);
        sqlite3_bind_text(st, 3, line, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            nh_error("job %lld: cannot store a log line: %s", (long long)k->job,
                     sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    data = cJSON_CreateObject();
    if (data && cJSON_AddNumberToObject(data, "job", (double)k->job) &&
        cJSON_AddNumberToObject(data, "seq", (double)k->log_seq) &&
        cJSON_AddStringToObject(data, "line", line))
        jobs_publish(j, k->job, "job.log", data, true);
    cJSON_Delete(data);
    strbuf_release(&fixed);
}

/* Read what fd i of k has; split lines. At EOF the fd is closed. */
static void
child_read(struct jobs *j, struct child *k, int i)
{
    char buf[8192];
    ssize_t n;

    for (;;) {
        n = read(k->fd[i], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break;
        for (ssize_t p = 0; p < n; p++) {
            struct strbuf *l = &k->line[i];

            if (buf[p] != '\n') {
                if (l->len < LINE_MAX_BYTES - 1)
                    strbuf_addch(l, buf[p]);
                continue;
            }
            if (i == 0)
                on_progress_line(j, k, strbuf_str(l));
            else if (l->len)
                jobs_log_line(j, k, strbuf_str(l));
            strbuf_reset(l);
        }
    }
    /* a last line without a newline (a crash message, say) counts too */
    if (k->line[i].len) {
        if (i == 0)
            on_progress_line(j, k, strbuf_str(&k->line[i]));
        else
            jobs_log_line(j, k, strbuf_str(&k->line[i]));
        strbuf_reset(&k->line[i]);
    }
    close(k->fd[i]);
    k->fd[i] = -1;
}

/* The files DIR/part-* in name order, as absolute paths. */
static int
list_parts(const char *dir, char ***out, size_t *nout, struct nh_error *err)
{
    struct dirent **ents = NULL;
    char **v = NULL;
    size_t n = 0;
    int i, m, rc = 0;

    m = scandir(dir, &ents, NULL, alphasort);
    if (m < 0) {
        if (errno == ENOENT) {
            *out = NULL;
            *nout = 0;
            return 0;
        }
        return nh_error_errno(err, "cannot read '%s'", dir);
    }
    v = calloc((size_t)m + 1, sizeof(*v));
    for (i = 0; i < m; i++) {
        if (v && !strncmp(ents[i]->d_name, "part-", 5)) {
            size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;

            if ((v[n] = malloc(len)))
                snprintf(v[n++], len, "%s/%s", dir, ents[i]->d_name);
            else
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        free(ents[i]);
    }
    free(ents);
    if (!v)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    *out = v;
    *nout = n;
    return rc;
}

static void
free_parts(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int
count_lines(const char *path, uint64_t *lines, struct nh_error *err)
{
    char buf[65536];
    ssize_t n;
    uint64_t count = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return nh_error_errno(err, "cannot open '%s'", path);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p)));
             p++)
            count++;
    close(fd);
    if (n < 0)
        return nh_error_errno(err, "cannot read '%s'", path);
    *lines = count;
    return 0;
}

/* Put the removed documents' shards in the object store; their list as
 * JSON text in *out. */
static int
store_removed(struct jobs *j, const char *outdir, char **out,
              struct nh_error *err)
{
    char dir[PATH_MAX];
    char **files = NULL;
    size_t n = 0, i;
    cJSON *arr = cJSON_CreateArray();
    int rc;

    if (!arr)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if (snprintf(dir, sizeof(dir), "%s/removed", outdir) >= (int)sizeof(dir)) {
        cJSON_Delete(arr);
        return nh_errorf(err, NH_ETOOBIG, "path too long");
    }
    if ((rc = list_parts(dir, &files, &n, err)) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        char hash[OBJSTORE_HASH_LEN + 1];
        uint64_t bytes = 0, docs = 0;
        cJSON *o;

        if ((rc = objstore_put_file(j->data_dir, files[i], hash, &bytes, err)) <
                0 ||
            (rc = count_lines(files[i], &docs, err)) < 0)
            goto out;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "object", hash) ||
            !cJSON_AddNumberToObject(o, "docs", (double)docs) ||
            !cJSON_AddNumberToObject(o, "bytes", (double)bytes) ||
            !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    *out = cJSON_PrintUnformatted(arr);
    if (!*out)
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
out:
    cJSON_Delete(arr);
    free_parts(files, n);
    return rc;
}

char *
jobs_read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    struct strbuf sb;
    char buf[8192];
    size_t n;

    if (!f)
        return NULL;
    strbuf_init(&sb, 64 << 20);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (strbuf_add(&sb, buf, n) < 0)
            break;
    fclose(f);
    return strbuf_detach(&sb, NULL);
}

struct job_done {
    int64_t job;
    const char *stats, *removed, *progress;
    const cJSON *sources; /* a mix job's: every parent, in order */
};

/* Inside version_commit's transaction: the job succeeded, unless it was
 * cancelled meanwhile (NH_ECONFLICT then rolls the version back). */
static int
mark_succeeded(sqlite3 *db, const char *id, void *arg, struct nh_error *err)
{
    const struct job_done *d = arg;
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(db,
                           "UPDATE jobs SET state = 'succeeded',"
                           " ended = unixepoch(), output = ?2, stats = ?3,"
                           " removed = ?4, progress = coalesce(?5, progress)"
                           " WHERE id = ?1 AND state = 'running'",
                           -1, &st, NULL) != SQLITE_OK)
        return nh_errorf(err, NH_EIO, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, d->job);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->stats, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, d->removed, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, d->progress, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = nh_errorf(err, NH_EIO, "%s", sqlite3_errmsg(db));
    else if (sqlite3_changes(db) != 1)
        rc = nh_errorf(err, NH_ECONFLICT, "the job was cancelled");
    sqlite3_finalize(st);
    if (rc == 0 && d->sources) {
        const cJSON *x;
        int seq = 0;

        if (sqlite3_prepare_v2(db,
                               "INSERT OR IGNORE INTO version_parents"
                               " (version_id, seq, parent) VALUES (?1, ?2, ?3)",
                               -1, &st, NULL) != SQLITE_OK)
            return nh_errorf(err, NH_EIO, "%s", sqlite3_errmsg(db));
        cJSON_ArrayForEach(x, d->sources)
        {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, seq++);
            sqlite3_bind_text(
                st, 3,
                cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(x, "version")),
                -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) {
                rc = nh_errorf(err, NH_EIO, "%s", sqlite3_errmsg(db));
                break;
            }
        }
        sqlite3_finalize(st);
    }
    return rc;
}

/* A mix job's report: each source gets its ref, dataset and version
 * (nh-clean knows them by number). The new text, or NULL. */
static char *
mix_report(const char *stats, const cJSON *sources)
{
    cJSON *o = stats ? cJSON_Parse(stats) : NULL, *x;
    const cJSON *s = sources ? sources->child : NULL;
    char *text = NULL;

    if (!o)
        return NULL;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "sources"))
    {
        if (!s)
            break;
        cJSON_DeleteItemFromObjectCaseSensitive(x, "label");
        cJSON_AddStringToObject(
            x, "ref",
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "ref")));
        cJSON_AddStringToObject(
            x, "dataset",
            cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(s, "dataset")));
        cJSON_AddStringToObject(
            x, "version",
            cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(s, "version")));
        s = s->next;
    }
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* An augment job's version is committed: a review campaign on a sample
 * of its augmented documents (args.review_size of them; 0: none). A
 * failure here is logged and leaves the job succeeded without one. */
static void
augment_campaign(struct jobs *j, int64_t job, const struct job_args *a,
                 const char *version)
{
    sqlite3 *db = store_db(j->store);
    struct nh_error err = {0};
    sqlite3_stmt *st = NULL;
    cJSON *args = cJSON_CreateObject(), *summary = NULL;
    double size = cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(a->root, "review_size"));
    char ref[400], name[64], *user = NULL;
    int64_t cid = 0;
    int rc;

    if (!(size >= 1)) {
        cJSON_Delete(args);
        return;
    }
    if (sqlite3_prepare_v2(db, "SELECT user FROM jobs WHERE id = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, job);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            user = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    snprintf(ref, sizeof(ref), "%s@%s", a->output, version);
    snprintf(name, sizeof(name), "augment job %lld", (long long)job);
    if (!args || !cJSON_AddStringToObject(args, "ref", ref) ||
        !cJSON_AddStringToObject(args, "name", name) ||
        !cJSON_AddNumberToObject(
            args, "seed",
            cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(a->root, "seed"))) ||
        !cJSON_AddNumberToObject(args, "size", size))
        rc = nh_errorf(&err, NH_ENOMEM, "out of memory");
    else
        rc = review_create(db, j->data_dir, args, user ? user : "nhd", true,
                           &cid, &summary, &err);
    if (rc == 0 &&
        sqlite3_prepare_v2(db, "UPDATE jobs SET campaign = ?2 WHERE id = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, job);
        sqlite3_bind_int64(st, 2, cid);
        sqlite3_step(st);
        sqlite3_finalize(st);
        nh_info("job %lld: review campaign %lld", (long long)job,
                (long long)cid);
    } else if (rc < 0) {
        nh_warn("job %lld: no review campaign: %s", (long long)job, err.msg);
    }
    free(user);
    cJSON_Delete(summary);
    cJSON_Delete(args);
}

/* The child of job k succeeded: commit out/data as the new version. */
static int
commit_output(struct jobs *j, struct child *k, struct nh_error *err)
{
    sqlite3 *db = store_db(j->store);
    char outdir[PATH_MAX], datadir[PATH_MAX], statsp[PATH_MAX];
    char id[OBJSTORE_HASH_LEN + 1];
    char **files = NULL, *removed = NULL, *stats = NULL;
    size_t n = 0;
    struct job_args a;
    struct version_spec spec;
    struct job_done done;
    int rc;

    if ((rc = load_args(j, k->job, &a, err)) < 0)
        return rc;
    if (jobs_path(j, k->job, "out/data", datadir, sizeof(datadir)) < 0 ||
        jobs_path(j, k->job, "out/stats.json", statsp, sizeof(statsp)) < 0 ||
        jobs_path(j, k->job, "out", outdir, sizeof(outdir)) < 0) {
        rc = nh_errorf(err, NH_ETOOBIG, "path too long");
        goto out;
    }
    if ((rc = list_parts(datadir, &files, &n, err)) < 0 ||
        (rc = store_removed(j, outdir, &removed, err)) < 0)
        goto out;
    stats = jobs_read_text(statsp);
    memset(&done, 0, sizeof(done));
    if (!strcmp(a.kind, "mix")) {
        char *r;

        done.sources = cJSON_GetObjectItemCaseSensitive(a.config, "sources");
        if ((r = mix_report(stats, done.sources))) {
            free(stats);
            stats = r;
        }
    }
    memset(&spec, 0, sizeof(spec));
    spec.dataset = a.output;
    spec.paths = (const char *const *)files;
    spec.n = n;
    spec.parent = a.input;
    spec.job_id = k->job;
    spec.config_hash = a.config_hash;
    spec.tool_version = "nh-clean " NHD_VERSION;
    if (n == 0) {
        rc = nh_errorf(err, NH_EINVAL, "the pipeline removed every document");
        goto out;
    }
    done.job = k->job;
    done.stats = stats;
    done.removed = removed;
    done.progress = k->progress;
    spec.before_commit = mark_succeeded;
    spec.before_commit_arg = &done;
    rc = version_commit(db, j->data_dir, &spec, id, err);
    if (rc == 0)
        nh_info("job %lld: version %s", (long long)k->job, id);
    if (rc == 0 && !strcmp(a.kind, "augment"))
        augment_campaign(j, k->job, &a, id);
out:
    free(stats);
    free(removed);
    free_parts(files, n);
    cJSON_Delete(a.root);
    return rc;
}

/* k is done: forget it (the last child takes its place). */
static void
child_free(struct jobs *j, struct child *k)
{
    nh_info("job %lld: child %d finished", (long long)k->job, (int)k->pid);
    free(k->progress);
    strbuf_release(&k->line[0]);
    strbuf_release(&k->line[1]);
    *k = j->kids[--j->nkids];
}

/* Both pipes of k are closed: reap it and settle its job. */
static void
child_done(struct jobs *j, struct child *k, bool stopping)
{
    struct nh_error err = {0};
    char msg[600], dir[PATH_MAX];
    int status = 0;

    while (waitpid(k->pid, &status, 0) < 0 && errno == EINTR)
        ;
    save_progress(j, k);
    if (k->kind == JOB_TRAIN) {
        if (!train_phase_done(j, k, status, stopping))
            child_free(j, k);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !k->cancelled) {
        int rc = commit_output(j, k, &err);

        if (rc < 0 && rc != NH_ECONFLICT) {
            nh_error("job %lld: %s", (long long)k->job, err.msg);
            jobs_settle(j, k->job, "failed", err.msg);
        } else { /* succeeded, or cancelled just before the commit */
            jobs_publish_state(j, store_db(j->store), k->job);
            jobs_path(j, k->job, "", dir, sizeof(dir));
            jobs_remove_tree(dir);
        }
    } else if (k->cancelled) {
        jobs_path(j, k->job, "", dir, sizeof(dir));
        jobs_remove_tree(dir);
        jobs_publish_state(j, store_db(j->store), k->job);
    } else if (stopping) {
        jobs_settle(j, k->job, "interrupted", "nhd stopped during the job");
    } else {
        if (WIFEXITED(status))
            snprintf(msg, sizeof(msg), "nh-clean exited with status %d%s%s",
                     WEXITSTATUS(status), k->last_err[0] ? ": " : "",
                     k->last_err);
        else
            snprintf(msg, sizeof(msg), "nh-clean killed by signal %d",
                     WTERMSIG(status));
        jobs_settle(j, k->job, "failed", msg);
    }
    child_free(j, k);
}

/* ---- the thread ------------------------------------------------------- */

/* SIGTERM to k's process group now, SIGKILL after KILL_GRACE. */
static void
terminate(struct child *k)
{
    if (k->pid <= 0) /* a followed run that is already gone */
        return;
    if (k->kill_at == 0) {
        kill(-k->pid, SIGTERM);
        k->kill_at = nh_now() + (k->follow ? TRAIN_KILL_GRACE : KILL_GRACE);
    }
}

/* SIGKILL children whose grace ran out; the poll timeout (ms) until the
 * next one is due, or -1. */
static int
kill_overdue(struct jobs *j)
{
    double now = nh_now(), next = 0;

    for (int i = 0; i < j->nkids; i++) {
        struct child *k = &j->kids[i];

        if (k->kill_at <= 0)
            continue;
        if (now >= k->kill_at) {
            if (k->pid > 0)
                kill(-k->pid, SIGKILL);
            k->kill_at = -1; /* sent; never again */
        } else if (next == 0 || k->kill_at < next) {
            next = k->kill_at;
        }
    }
    return next > 0 ? (int)((next - now) * 1000) + 1 : -1;
}

static void
run_cmds(struct jobs *j, bool *stopping)
{
    struct cmd *c, *next;

    pthread_mutex_lock(&j->mu);
    c = j->cmds;
    j->cmds = NULL;
    *stopping = j->stopping;
    pthread_mutex_unlock(&j->mu);
    for (; c; c = next) {
        bool found = false;

        next = c->next;
        for (int i = 0; i < j->nkids; i++)
            if (j->kids[i].job == c->cancel) {
                found = true;
                if (!j->kids[i].cancelled)
                    terminate(&j->kids[i]);
                j->kids[i].cancelled = true;
            }
        if (!found) { /* queued or interrupted: only its files remain */
            char dir[PATH_MAX];

            if (jobs_path(j, c->cancel, "", dir, sizeof(dir)) == 0)
                jobs_remove_tree(dir);
        }
        free(c);
    }
}

static void *
supervise(void *arg)
{
    struct jobs *j = arg;
    struct pollfd pfd[1 + 2 * JOBS_MAX_CHILDREN];
    bool stopping = false, signalled = false;
    uint64_t v;

    for (;;) {
        int np = 1, i, timeout;

        run_cmds(j, &stopping);
        if (stopping && !signalled) {
            /* a followed launcher runs on without nhd: leave it */
            for (i = j->nkids - 1; i >= 0; i--)
                if (j->kids[i].follow)
                    child_free(j, &j->kids[i]);
            for (i = 0; i < j->nkids; i++)
                terminate(&j->kids[i]);
            signalled = true;
        }
        if (stopping && j->nkids == 0)
            break;
        if (!stopping)
            start_queued(j);
        pfd[0].fd = j->efd;
        pfd[0].events = POLLIN;
        for (i = 0; i < j->nkids; i++)
            for (int f = 0; f < 2; f++) {
                pfd[np].fd = j->kids[i].fd[f];
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                np++;
            }
        timeout = kill_overdue(j);
        for (i = 0; i < j->nkids; i++)
            if (j->kids[i].follow && (timeout < 0 || timeout > FOLLOW_MS))
                timeout = FOLLOW_MS;
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) {
            nh_error("job supervisor: poll: %s", strerror(errno));
            sleep(1);
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            ssize_t r = read(j->efd, &v, sizeof(v));
            (void)r;
        }
        np = 1;
        for (i = 0; i < j->nkids; i++)
            for (int f = 0; f < 2; f++, np++)
                if (pfd[np].fd >= 0 && pfd[np].revents)
                    child_read(j, &j->kids[i], f);
        for (i = j->nkids - 1; i >= 0; i--) {
            struct child *k = &j->kids[i];

            if (k->follow) {
                if (train_follow(j, k))
                    child_free(j, k);
            } else if (k->fd[0] < 0 && k->fd[1] < 0) {
                child_done(j, k, stopping);
            }
        }
    }
    return NULL;
}

int
jobs_create(struct jobs **out, const struct jobs_config *cfg,
            struct nh_error *err)
{
    struct jobs *j = calloc(1, sizeof(*j));
    int rc;

    if (!j)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    pthread_mutex_init(&j->mu, NULL);
    j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j->data_dir = strdup(cfg->data_dir);
    j->nh_clean = strdup(cfg->nh_clean);
    j->nh_train = strdup(cfg->nh_train ? cfg->nh_train : "nh-train");
    j->max_running = cfg->max_running > 0 ? cfg->max_running : 1;
    j->notify = cfg->notify;
    j->notify_arg = cfg->notify_arg;
    if (j->efd < 0 || !j->data_dir || !j->nh_clean || !j->nh_train) {
        rc = nh_errorf(err, NH_ENOMEM, "cannot set up the job supervisor");
        goto fail;
    }
    if ((rc = store_open(&j->store, cfg->data_dir, cfg->migrations, err)) < 0)
        goto fail;
    if (jobs_exec(j,
                  "UPDATE jobs SET state = 'interrupted',"
                  " error = 'nhd stopped during the job'"
                  " WHERE state = 'running' AND ?1 = ?1"
                  " AND NOT " TRAIN_REATTACH_SQL,
                  0, NULL) < 0) {
        rc = nh_errorf(err, NH_EIO, "cannot mark interrupted jobs");
        goto fail;
    }
    train_reattach(j);
    if (pthread_create(&j->thread, NULL, supervise, j) != 0) {
        rc = nh_errorf(err, NH_EIO, "cannot start the job supervisor");
        goto fail;
    }
    j->started = true;
    *out = j;
    return 0;
fail:
    jobs_destroy(j);
    return rc;
}

void
jobs_destroy(struct jobs *j)
{
    struct jobs_event *e, *next;
    struct cmd *c, *cn;

    if (!j)
        return;
    if (j->started) {
        pthread_mutex_lock(&j->mu);
        j->stopping = true;
        pthread_mutex_unlock(&j->mu);
        wake(j);
        pthread_join(j->thread, NULL);
    }
    for (e = j->events; e; e = next) {
        next = e->next;
        jobs_event_free(e);
    }
    for (c = j->cmds; c; c = cn) {
        cn = c->next;
        free(c);
    }
    store_close(j->store);
    if (j->efd >= 0)
        close(j->efd);
    pthread_mutex_destroy(&j->mu);
    free(j->data_dir);
    free(j->nh_clean);
    free(j->nh_train);
    free(j);
}

void
jobs_kick(struct jobs *j)
{
    if (j)
        wake(j);
}

void
jobs_cancel(struct jobs *j, int64_t id)
{
    struct cmd *c;

    if (!j || !(c = calloc(1, sizeof(*c))))
        return;
    c->cancel = id;
    pthread_mutex_lock(&j->mu);
    c->next = j->cmds;
    j->cmds = c;
    pthread_mutex_unlock(&j->mu);
    wake(j);
}

int
jobs_max_running(const struct jobs *j)
{
    return j ? j->max_running : 0;
}
