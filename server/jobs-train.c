/* jobs-train.c - train jobs: tokenize a version, launch the trainer, follow it
 *
 * A train job (op-train.c queues it) runs in up to three phases on the
 * supervisor thread (jobs.c):
 *
 *   1. `nh-train tokenizer train --vocab N` on the version's shards, when
 *      the job asked for a vocabulary instead of a tokenizer file;
 *   2. `nh-train tokenize` of the shards into DATA/jobs/ID/tokens, which
 *      then moves to the cache DATA/tokens/VERSION-KEY (KEY: the
 *      tokenizer file's XXH3-128, or vN for a trained one), so a later
 *      job on the same version and tokenizer skips 1 and 2;
 *   3. `nh-train launch --np N -- run ... --out DATA/runs/ID`, detached:
 *      its own session, no death signal, stdout (the metrics lines) in
 *      RUN/launch.out and stderr in RUN/launch.log. nhd records its pid
 *      in train_runs and follows three files by offset every FOLLOW_MS:
 *      launch.out (train.metrics), RUN/supervisor.jsonl (train.supervisor)
 *      and launch.log (job.log). Each tick's records and the new offsets
 *      go in one transaction, so a restarted nhd (train_reattach) takes
 *      up exactly where the last one stopped, while the run went on.
 *
 * Phases 1 and 2 are ordinary piped children (they die with nhd; the job
 * is then 'interrupted'). The run ends 'succeeded' when the launcher's
 * summary record says "finished"; otherwise 'failed' (or 'cancelled' by
 * job.cancel, which sends SIGTERM to the launcher; it stops its ranks).
 * Resuming a train job runs phase 3 again with run --resume when the run
 * directory holds a checkpoint.
 */
#include "jobs-int.h"

#include "clock.h"
#include "hash.h"
#include "log.h"
#include "sql.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define FOLLOW_READ_MAX (1 << 20) /* bytes read per file per tick */

enum { SRC_OUT, SRC_SUP, SRC_LOG, NSRC };

static const char *const src_file[NSRC] = {"launch.out", "supervisor.jsonl",
                                           "launch.log"};

/* ---- paths and args --------------------------------------------------- */

struct train_args {
    cJSON *root;
    const char *input;     /* version id */
    const char *tokenizer; /* server path, or NULL */
    const char *tok_hash;  /* its hash, or NULL */
    int64_t vocab;         /* without a tokenizer */
    const cJSON *model;    /* the model config object */
};

static int
load_train_args(struct jobs *j, int64_t id, struct train_args *a,
                struct nh_error *err)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    const cJSON *v;

    memset(a, 0, sizeof(*a));
    if (sqlite3_prepare_v2(db, "SELECT args FROM jobs WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return nh_errorf(err, NH_EIO, "cannot read job: %s",
                         sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        a->root = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    a->input = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(a->root, "input"));
    a->tokenizer = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(a->root, "tokenizer"));
    a->tok_hash = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(a->root, "tokenizer_hash"));
    v = cJSON_GetObjectItemCaseSensitive(a->root, "vocab");
    a->vocab = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
    a->model = cJSON_GetObjectItemCaseSensitive(a->root, "model");
    if (!a->input || !cJSON_IsObject(a->model) ||
        (a->tokenizer ? !a->tok_hash : a->vocab <= 0)) {
        cJSON_Delete(a->root);
        a->root = NULL;
        return nh_errorf(err, NH_ECORRUPT, "job %lld has bad args",
                         (long long)id);
    }
    return 0;
}

/* DATA/runs/ID[/rest] */
static int
run_path(const struct jobs *j, int64_t id, const char *rest, char *out,
         size_t outsz)
{
    int n = snprintf(out, outsz, "%s/runs/%lld%s%s", j->data_dir, (long long)id,
                     rest[0] ? "/" : "", rest);

    return n < 0 || (size_t)n >= outsz ? NH_ETOOBIG : 0;
}

/* DATA/tokens/VERSION-KEY[/rest]: the token cache of a version and a
 * tokenizer. */
static int
cache_path(const struct jobs *j, const struct train_args *a, const char *rest,
           char *out, size_t outsz)
{
    int n;

    if (a->tokenizer)
        n = snprintf(out, outsz, "%s/tokens/%s-%s%s%s", j->data_dir, a->input,
                     a->tok_hash, rest[0] ? "/" : "", rest);
    else
        n = snprintf(out, outsz, "%s/tokens/%s-v%lld%s%s", j->data_dir,
                     a->input, (long long)a->vocab, rest[0] ? "/" : "", rest);
    return n < 0 || (size_t)n >= outsz ? NH_ETOOBIG : 0;
}

static bool
exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static int
copy_file(const char *from, const char *to, struct nh_error *err)
{
    char buf[65536];
    ssize_t n;
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;

    if (in < 0)
        return nh_error_errno(err, "cannot open '%s'", from);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = nh_error_errno(err, "cannot create '%s'", to);
        goto out;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = nh_error_errno(err, "cannot write '%s'", to);
            goto out;
        }
    if (n < 0)
        rc = nh_error_errno(err, "cannot read '%s'", from);
out:
    close(in);
    if (out >= 0 && close(out) < 0 && rc == 0)
        rc = nh_error_errno(err, "cannot write '%s'", to);
    return rc;
}

/* nhd's environment without NH_FAULT (nhd's own faults are not the
 * run's), plus NH_FAULT=fault when fault is given. malloc'd; free with
 * free_env. */
static char **
make_env(const char *fault)
{
    size_t n = 0, m = 0;
    char **env;

    while (environ[n])
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NH_FAULT=", 9) &&
            !(env[m++] = strdup(environ[i])))
            goto fail;
    if (fault) {
        size_t len = strlen(fault) + 10;

        if (!(env[m] = malloc(len)))
            goto fail;
        snprintf(env[m++], len, "NH_FAULT=%s", fault);
    }
    return env;
fail:
    for (size_t i = 0; i < m; i++)
        free(env[i]);
    free(env);
    return NULL;
}

static void
free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- phases 1 and 2 --------------------------------------------------- */

static int
spawn_piped(struct child *k, const char *const argv[], struct nh_error *err)
{
    char **env = make_env(NULL);
    int rc;

    if (!env)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = jobs_spawn(k, argv, env, err);
    free_env(env);
    return rc;
}

static int
start_tokenize(struct jobs *j, struct child *k, struct nh_error *err)
{
    char tok[PATH_MAX], toks[PATH_MAX], in[PATH_MAX];

    if (jobs_path(j, k->job, "tokens/tok", tok, sizeof(tok)) < 0 ||
        jobs_path(j, k->job, "tokens/toks", toks, sizeof(toks)) < 0 ||
        jobs_path(j, k->job, "in", in, sizeof(in)) < 0)
        return nh_errorf(err, NH_ETOOBIG, "data directory name too long");
    {
        const char *argv[] = {j->nh_train, "tokenize", "--tokenizer",
                              tok,         "--output", toks,
                              "-q",        in,         NULL};
        k->phase = TRAIN_TOKENIZE;
        return spawn_piped(k, argv, err);
    }
}

static int start_launch(struct jobs *j, struct child *k, struct nh_error *err);

/* nh-train tokenizer train --vocab N --output tok -q in/part-*: it takes
 * files, not directories. */
static int
start_tokenizer(struct jobs *j, struct child *k, const struct train_args *a,
                const char *tok, const char *in, struct nh_error *err)
{
    struct dirent **ents = NULL;
    const char **argv = NULL;
    char vocab[24], **paths = NULL;
    int m, n = 0, np = 0, rc = 0;

    m = scandir(in, &ents, NULL, alphasort);
    if (m < 0)
        return nh_error_errno(err, "cannot read '%s'", in);
    argv = calloc((size_t)m + 8, sizeof(*argv));
    paths = calloc((size_t)m + 1, sizeof(*paths));
    if (!argv || !paths) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(vocab, sizeof(vocab), "%lld", (long long)a->vocab);
    argv[n++] = j->nh_train;
    argv[n++] = "tokenizer";
    argv[n++] = "train";
    argv[n++] = "--vocab";
    argv[n++] = vocab;
    argv[n++] = "--output";
    argv[n++] = tok;
    argv[n++] = "-q";
    for (int i = 0; i < m; i++) {
        size_t len = strlen(in) + strlen(ents[i]->d_name) + 2;

        if (strncmp(ents[i]->d_name, "part-", 5))
            continue;
        if (!(paths[np] = malloc(len))) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(paths[np], len, "%s/%s", in, ents[i]->d_name);
        argv[n++] = paths[np++];
    }
    argv[n] = NULL;
    k->phase = TRAIN_TOKENIZER;
    rc = spawn_piped(k, argv, err);
out:
    for (int i = 0; i < m; i++)
        free(ents[i]);
    free(ents);
    for (int i = 0; paths && i < np; i++)
        free(paths[i]);
    free(paths);
    free(argv);
    return rc;
}

int
train_start(struct jobs *j, struct child *k, struct nh_error *err)
{
    struct train_args a;
    char cache[PATH_MAX], tmp[PATH_MAX], in[PATH_MAX], tok[PATH_MAX];
    int rc;

    if ((rc = load_train_args(j, k->job, &a, err)) < 0)
        return rc;
    if (cache_path(j, &a, "toks/manifest.json", cache, sizeof(cache)) < 0 ||
        jobs_path(j, k->job, "tokens", tmp, sizeof(tmp)) < 0 ||
        jobs_path(j, k->job, "tokens/tok", tok, sizeof(tok)) < 0 ||
        jobs_path(j, k->job, "in", in, sizeof(in)) < 0) {
        rc = nh_errorf(err, NH_ETOOBIG, "data directory name too long");
        goto out;
    }
    if (exists(cache)) { /* tokenized before: straight to the run */
        rc = start_launch(j, k, err);
        goto out;
    }
    jobs_remove_tree(tmp);
    jobs_remove_tree(in);
    if ((rc = jobs_mkdir_p(tmp, err)) < 0 || (rc = jobs_mkdir_p(in, err)) < 0 ||
        (rc = jobs_link_inputs(j, in, a.input, err)) < 0)
        goto out;
    if (a.tokenizer) {
        if ((rc = copy_file(a.tokenizer, tok, err)) == 0)
            rc = start_tokenize(j, k, err);
    } else {
        rc = start_tokenizer(j, k, &a, tok, in, err);
    }
out:
    cJSON_Delete(a.root);
    return rc;
}

/* DATA/jobs/ID/tokens is complete: make it the cache entry (a job that
 * made the same entry meanwhile wins; both are the same tokens). */
static int
publish_tokens(struct jobs *j, struct child *k, struct nh_error *err)
{
    struct train_args a;
    char cache[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    int rc;

    if ((rc = load_train_args(j, k->job, &a, err)) < 0)
        return rc;
    if (cache_path(j, &a, "", cache, sizeof(cache)) < 0 ||
        jobs_path(j, k->job, "tokens", tmp, sizeof(tmp)) < 0 ||
        snprintf(dir, sizeof(dir), "%s/tokens", j->data_dir) >=
            (int)sizeof(dir)) {
        rc = nh_errorf(err, NH_ETOOBIG, "data directory name too long");
        goto out;
    }
    if ((rc = jobs_mkdir_p(dir, err)) < 0)
        goto out;
    if (rename(tmp, cache) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            rc = nh_error_errno(err, "cannot rename '%s'", tmp);
        jobs_remove_tree(tmp);
    }
out:
    cJSON_Delete(a.root);
    return rc;
}

/* ---- phase 3 ---------------------------------------------------------- */

static bool
has_checkpoint(const char *run_dir)
{
    char path[PATH_MAX];
    struct stat st;

    /* nh-train run keeps checkpoints in RUN_DIR/ckpt (TRAINER.md) */
    return snprintf(path, sizeof(path), "%s/ckpt", run_dir) <
               (int)sizeof(path) &&
           stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink > 2;
}

static void
add_num_arg(const char **argv, int *n, char (*bufs)[32], int *nb,
            const cJSON *args, const char *key, const char *flag)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

    if (cJSON_IsNumber(v)) {
        snprintf(bufs[*nb], 32, "%.17g", v->valuedouble);
        argv[(*n)++] = flag;
        argv[(*n)++] = bufs[(*nb)++];
    } else if (cJSON_IsString(v)) {
        argv[(*n)++] = flag;
        argv[(*n)++] = v->valuestring;
    }
}

/* fork and exec argv detached from nhd: its own session, stdout and
 * stderr appended to out and log, no death signal. */
static int
spawn_detached(struct child *k, const char *const argv[], char *const envp[],
               const char *out, const char *log, struct nh_error *err)
{
    int fo = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int fl = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int fn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = 0;
    pid_t pid;

    if (fo < 0 || fl < 0 || fn < 0) {
        rc = nh_error_errno(err, "cannot open '%s'", fo < 0 ? out : log);
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = nh_error_errno(err, "cannot fork");
        goto out;
    }
    if (pid == 0) {
        sigset_t none;

        setsid();
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(fn, 0);
        dup2(fo, 1);
        dup2(fl, 2);
        closefrom(3);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    k->pid = pid;
    k->fd[0] = k->fd[1] = -1;
    k->follow = true;
    k->own = true;
out:
    if (fo >= 0)
        close(fo);
    if (fl >= 0)
        close(fl);
    if (fn >= 0)
        close(fn);
    return rc;
}

static int
start_launch(struct jobs *j, struct child *k, struct nh_error *err)
{
    struct train_args a;
    char run[PATH_MAX], model[PATH_MAX], toks[PATH_MAX], out[PATH_MAX];
    char log[PATH_MAX], np[32], bufs[8][32];
    const char *argv[48];
    const char *fault = NULL, *plan;
    char *text = NULL, **env = NULL;
    bool resume;
    int n = 0, nb = 0, rc;

    if ((rc = load_train_args(j, k->job, &a, err)) < 0)
        return rc;
    if (run_path(j, k->job, "", run, sizeof(run)) < 0 ||
        run_path(j, k->job, "model.json", model, sizeof(model)) < 0 ||
        run_path(j, k->job, src_file[SRC_OUT], out, sizeof(out)) < 0 ||
        run_path(j, k->job, src_file[SRC_LOG], log, sizeof(log)) < 0 ||
        cache_path(j, &a, "toks", toks, sizeof(toks)) < 0) {
        rc = nh_errorf(err, NH_ETOOBIG, "data directory name too long");
        goto out;
    }
    if ((rc = jobs_mkdir_p(run, err)) < 0)
        goto out;
    if (!(text = cJSON_Print(a.model))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = jobs_write_file(model, text, err)) < 0)
        goto out;
    resume = has_checkpoint(run);
    if (!resume) /* fault injection is for the first start only */
        fault = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a.root, "fault"));
    plan =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a.root, "plan"));
    argv[n++] = j->nh_train;
    argv[n++] = "launch";
    if (plan) {
        argv[n++] = "--plan";
        argv[n++] = plan;
    } else {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(a.root, "np");

        snprintf(np, sizeof(np), "%d", cJSON_IsNumber(v) ? v->valueint : 1);
        argv[n++] = "--np";
        argv[n++] = np;
    }
    argv[n++] = "--";
    argv[n++] = "run";
    argv[n++] = "--config";
    argv[n++] = model;
    argv[n++] = "--data";
    argv[n++] = toks;
    argv[n++] = "--out";
    argv[n++] = run;
    add_num_arg(argv, &n, bufs, &nb, a.root, "steps", "--steps");
    add_num_arg(argv, &n, bufs, &nb, a.root, "batch", "--batch");
    add_num_arg(argv, &n, bufs, &nb, a.root, "seq", "--seq");
    add_num_arg(argv, &n, bufs, &nb, a.root, "lr", "--lr");
    add_num_arg(argv, &n, bufs, &nb, a.root, "ckpt_every", "--ckpt-every");
    add_num_arg(argv, &n, bufs, &nb, a.root, "threads", "--threads");
    if (resume)
        argv[n++] = "--resume";
    argv[n] = NULL;
    if (!(env = make_env(fault))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    /* without --resume the launcher replaces supervisor.jsonl */
    if (!resume && jobs_exec(j,
                             "UPDATE train_runs SET off_sup = 0"
                             " WHERE job_id = ?1 AND ?2 IS NULL",
                             k->job, NULL) < 0) {
        rc = nh_errorf(err, NH_EIO, "cannot update the run");
        goto out;
    }
    if ((rc = spawn_detached(k, argv, env, out, log, err)) < 0)
        goto out;
    k->phase = TRAIN_LAUNCH;
    {
        sqlite3 *db = store_db(j->store);
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db,
                               "UPDATE train_runs SET pid = ?2, tokens = ?3"
                               " WHERE job_id = ?1",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, k->job);
            sqlite3_bind_int64(st, 2, k->pid);
            sqlite3_bind_text(st, 3, toks + strlen(j->data_dir) + 1, -1,
                              SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                nh_error("job %lld: cannot record the run: %s",
                         (long long)k->job, sqlite3_errmsg(db));
        }
        sqlite3_finalize(st);
    }
    {
        sqlite3 *db = store_db(j->store);
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db,
                               "SELECT off_out, off_sup, off_log,"
                               " (SELECT max(seq) FROM train_records"
                               "  WHERE job_id = ?1)"
                               " FROM train_runs WHERE job_id = ?1",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, k->job);
            if (sqlite3_step(st) == SQLITE_ROW) {
                for (int i = 0; i < NSRC; i++)
                    k->off[i] = sqlite3_column_int64(st, i);
                k->rec_seq = sqlite3_column_type(st, 3) == SQLITE_NULL
                                 ? -1
                                 : sqlite3_column_int64(st, 3);
            }
        }
        sqlite3_finalize(st);
    }
    nh_info("job %lld: nh-train launch started (pid %d%s)", (long long)k->job,
            (int)k->pid, resume ? ", resuming" : "");
out:
    free_env(env);
    free(text);
    cJSON_Delete(a.root);
    return rc;
}

bool
train_phase_done(struct jobs *j, struct child *k, int status, bool stopping)
{
    struct nh_error err = {0};
    char msg[700], dir[PATH_MAX];
    int rc;

    if (k->cancelled) {
        jobs_publish_state(j, store_db(j->store), k->job);
        return false;
    }
    if (stopping) {
        jobs_settle(j, k->job, "interrupted", "nhd stopped during the job");
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const char *what =
            k->phase == TRAIN_TOKENIZER ? "tokenizer train" : "tokenize";

        if (WIFEXITED(status))
            snprintf(msg, sizeof(msg), "nh-train %s exited with status %d%s%s",
                     what, WEXITSTATUS(status), k->last_err[0] ? ": " : "",
                     k->last_err);
        else
            snprintf(msg, sizeof(msg), "nh-train %s killed by signal %d", what,
                     WTERMSIG(status));
        jobs_settle(j, k->job, "failed", msg);
        return false;
    }
    if (k->phase == TRAIN_TOKENIZER)
        rc = start_tokenize(j, k, &err);
    else if ((rc = publish_tokens(j, k, &err)) == 0) {
        if (jobs_path(j, k->job, "", dir, sizeof(dir)) == 0)
            jobs_remove_tree(dir); /* in/ (links); tokens/ moved away */
        rc = start_launch(j, k, &err);
    }
    if (rc < 0) {
        nh_error("job %lld: %s", (long long)k->job, err.msg);
        jobs_settle(j, k->job, "failed", err.msg);
        return false;
    }
    return true;
}

/* ---- following -------------------------------------------------------- */

static bool
alive(struct child *k)
{
    char path[64], buf[512];
    FILE *f;
    char *p;
    bool ok = false;

    if (k->pid <= 0)
        return false;
    if (k->own) {
        int status = 0;
        pid_t r = waitpid(k->pid, &status, WNOHANG);

        if (r == k->pid || (r < 0 && errno == ECHILD)) {
            k->exit_status = status;
            k->pid = -k->pid; /* gone: never signal it again */
            return false;
        }
        return true;
    }
    /* not ours (reattached): gone, or a zombie nobody reaps */
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)k->pid);
    if ((f = fopen(path, "re"))) {
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
            ok = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
        fclose(f);
    }
    if (!ok)
        k->pid = -k->pid;
    return ok;
}

/* One record line of source src: store it (inside the caller's
 * transaction) and publish it. */
static void
on_record(struct jobs *j, struct child *k, int src, const char *line)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;
    cJSON *rec = cJSON_Parse(line), *data = NULL;
    const cJSON *step, *loss, *ev;
    char *text = NULL;

    if (!cJSON_IsObject(rec) || !(text = cJSON_PrintUnformatted(rec)))
        goto out; /* not a record (mpirun's chatter, say) */
    k->rec_seq++;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO train_records"
                           " (job_id, seq, source, record)"
                           " VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, k->job);
        sqlite3_bind_int64(st, 2, k->rec_seq);
        sqlite3_bind_text(st, 3, src == SRC_OUT ? "metrics" : "supervisor", -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            nh_error("job %lld: cannot store a record: %s", (long long)k->job,
                     sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    st = NULL;
    ev = cJSON_GetObjectItemCaseSensitive(rec, "event");
    step = cJSON_GetObjectItemCaseSensitive(rec, "step");
    loss = cJSON_GetObjectItemCaseSensitive(rec, "loss");
    if (src == SRC_OUT && !ev && cJSON_IsNumber(step) && cJSON_IsNumber(loss) &&
        sqlite3_prepare_v2(db,
                           "UPDATE train_runs SET last_step = ?2,"
                           " last_loss = ?3 WHERE job_id = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, k->job);
        sqlite3_bind_int64(st, 2, (int64_t)step->valuedouble);
        sqlite3_bind_double(st, 3, loss->valuedouble);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src == SRC_SUP && cJSON_IsString(ev)) {
        if (!strcmp(ev->valuestring, "restart"))
            jobs_exec(j,
                      "UPDATE train_runs SET restarts = restarts + 1"
                      " WHERE job_id = ?1 AND ?2 IS NULL",
                      k->job, NULL);
        if (!strcmp(ev->valuestring, "summary")) {
            const char *s = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(rec, "status"));

            snprintf(k->summary, sizeof(k->summary), "%s", s ? s : "?");
            jobs_exec(j, "UPDATE jobs SET stats = ?2 WHERE id = ?1", k->job,
                      text);
        }
    }
    data = cJSON_CreateObject();
    if (data && cJSON_AddNumberToObject(data, "job", (double)k->job) &&
        cJSON_AddNumberToObject(data, "seq", (double)k->rec_seq) &&
        cJSON_AddItemToObject(data, "record", rec)) {
        rec = NULL;
        jobs_publish(j, k->job,
                     src == SRC_OUT ? "train.metrics" : "train.supervisor",
                     data, true);
    }
out:
    free(text);
    cJSON_Delete(rec);
    cJSON_Delete(data);
}

/* Read the whole lines file src has past k's offset. */
static void
follow_file(struct jobs *j, struct child *k, const char *run, int src)
{
    char path[PATH_MAX];
    char *buf, *p, *nl;
    ssize_t n;
    int fd;

    if (snprintf(path, sizeof(path), "%s/%s", run, src_file[src]) >=
            (int)sizeof(path) ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    buf = malloc(FOLLOW_READ_MAX + 1);
    n = buf ? pread(fd, buf, FOLLOW_READ_MAX, (off_t)k->off[src]) : -1;
    close(fd);
    if (n <= 0) {
        free(buf);
        return;
    }
    buf[n] = '\0';
    for (p = buf; (nl = memchr(p, '\n', (size_t)(buf + n - p))); p = nl + 1) {
        *nl = '\0';
        if (src == SRC_LOG) {
            if (*p)
                jobs_log_line(j, k, p);
        } else {
            on_record(j, k, src, p);
        }
    }
    if (p == buf && n == FOLLOW_READ_MAX)
        p = buf + n; /* one line over the limit: skip it */
    k->off[src] += p - buf;
    free(buf);
}

/* The launcher ended: settle the job from its summary record. */
static void
finish(struct jobs *j, struct child *k)
{
    char msg[700];

    jobs_exec(j,
              "UPDATE train_runs SET pid = NULL WHERE job_id = ?1 AND ?2"
              " IS NULL",
              k->job, NULL);
    if (k->cancelled) {
        jobs_publish_state(j, store_db(j->store), k->job);
        return;
    }
    if (!strcmp(k->summary, "finished")) {
        jobs_exec(j,
                  "UPDATE jobs SET state = 'succeeded', error = NULL,"
                  " ended = unixepoch() WHERE id = ?1 AND state = 'running'"
                  " AND ?2 IS NULL",
                  k->job, NULL);
        jobs_publish_state(j, store_db(j->store), k->job);
        return;
    }
    if (k->summary[0])
        snprintf(msg, sizeof(msg), "nh-train launch %s%s%s", k->summary,
                 k->last_err[0] ? ": " : "", k->last_err);
    else
        snprintf(msg, sizeof(msg),
                 "nh-train launch ended without a summary%s%s",
                 k->last_err[0] ? ": " : "", k->last_err);
    jobs_settle(j, k->job, "failed", msg);
}

/* Whether a file of k's run has bytes past its offset. */
static bool
grew(const struct child *k, const char *run)
{
    char path[PATH_MAX];
    struct stat st;

    for (int i = 0; i < NSRC; i++)
        if (snprintf(path, sizeof(path), "%s/%s", run, src_file[i]) <
                (int)sizeof(path) &&
            stat(path, &st) == 0 && st.st_size > k->off[i])
            return true;
    return false;
}

bool
train_follow(struct jobs *j, struct child *k)
{
    sqlite3 *db = store_db(j->store);
    char run[PATH_MAX];
    bool up = alive(k);
    sqlite3_stmt *st = NULL;

    if (run_path(j, k->job, "", run, sizeof(run)) < 0)
        return false;
    if (up && !grew(k, run))
        return false; /* nothing new: no transaction */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        nh_error("job %lld: database: %s", (long long)k->job,
                 sqlite3_errmsg(db));
        return false; /* busy: next tick */
    }
    for (int i = 0; i < NSRC; i++)
        follow_file(j, k, run, i);
    if (sqlite3_prepare_v2(db,
                           "UPDATE train_runs SET off_out = ?2, off_sup = ?3,"
                           " off_log = ?4 WHERE job_id = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, k->job);
        for (int i = 0; i < NSRC; i++)
            sqlite3_bind_int64(st, 2 + i, k->off[i]);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        nh_error("job %lld: database: %s", (long long)k->job,
                 sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (up)
        return false;
    finish(j, k);
    return true;
}

/* Whether k->pid is still the launcher of k's run: its command line
 * names the run directory. */
static bool
is_our_launcher(const struct jobs *j, const struct child *k)
{
    char path[64], run[PATH_MAX], buf[8192];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)k->pid);
    if (k->pid <= 0 || run_path(j, k->job, "", run, sizeof(run)) < 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return strstr(buf, " launch ") && strstr(buf, run);
}

void
train_reattach(struct jobs *j)
{
    sqlite3 *db = store_db(j->store);
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db,
                           "SELECT r.job_id, r.pid, r.off_out, r.off_sup,"
                           " r.off_log, (SELECT max(seq) FROM train_records"
                           "  WHERE job_id = r.job_id),"
                           " (SELECT max(seq) FROM job_logs"
                           "  WHERE job_id = r.job_id)"
                           " FROM train_runs r JOIN jobs ON jobs.id = r.job_id"
                           " WHERE jobs.state = 'running'"
                           " AND r.pid IS NOT NULL ORDER BY r.job_id",
                           -1, &st, NULL) != SQLITE_OK) {
        nh_error("cannot read train runs: %s", sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW && j->nkids < JOBS_MAX_CHILDREN) {
        struct child *k = &j->kids[j->nkids++];

        memset(k, 0, sizeof(*k));
        k->job = sqlite3_column_int64(st, 0);
        k->pid = (pid_t)sqlite3_column_int64(st, 1);
        for (int i = 0; i < NSRC; i++)
            k->off[i] = sqlite3_column_int64(st, 2 + i);
        k->rec_seq = sqlite3_column_type(st, 5) == SQLITE_NULL
                         ? -1
                         : sqlite3_column_int64(st, 5);
        k->log_seq = sqlite3_column_type(st, 6) == SQLITE_NULL
                         ? -1
                         : sqlite3_column_int64(st, 6);
        k->fd[0] = k->fd[1] = -1;
        if (!is_our_launcher(j, k))
            k->pid = 0; /* gone, its pid maybe reused: settle at once */
        strbuf_init(&k->line[0], LINE_MAX_BYTES);
        strbuf_init(&k->line[1], LINE_MAX_BYTES);
        k->kind = JOB_TRAIN;
        k->phase = TRAIN_LAUNCH;
        k->follow = true;
        k->own = false;
        nh_info("job %lld: reattached to nh-train launch (pid %d)",
                (long long)k->job, (int)k->pid);
    }
    sqlite3_finalize(st);
}
