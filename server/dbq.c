/* dbq.c - nhd's DB workers: a job queue in, a result queue out
 *
 * Two mutex-protected singly linked lists: jobs (service thread to
 * workers, with a condition variable the workers sleep on) and results
 * (workers to service thread, announced by the notify callback when
 * the list goes from empty to not empty). Each
 * worker owns one struct store for its whole life, so SQLite connections
 * are never shared between threads. Worker threads block every signal;
 * nhd's SIGTERM handler runs on the service thread.
 */
#include "dbq.h"

#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct dbq_worker {
    struct dbq *q;
    struct store *store;
    pthread_t thread;
    bool started;
};

struct dbq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct dbq_job *jobs, *jobs_tail;
    struct dbq_result *results, *results_tail;
    bool stopping;
    int idle;   /* workers waiting on cond */
    int waking; /* of them, signalled and not yet running */
    dbq_notify_fn *notify;
    void *notify_arg;
    struct dbq_worker *workers;
    int nworkers;
};

static void
job_free(struct dbq_job *job)
{
    if (!job)
        return;
    cJSON_Delete(job->args);
    free(job);
}

void
dbq_result_free(struct dbq_result *res)
{
    if (!res)
        return;
    free(res->text);
    free(res->event);
    free(res);
}

/* Queue res; wake the service thread only when the queue was empty: a
 * non-empty queue has had its wake-up already, and dbq_drain() takes
 * every result queued up to the moment it runs. */
static void
push_result(struct dbq *q, struct dbq_result *res)
{
    bool was_empty;

    pthread_mutex_lock(&q->lock);
    res->next = NULL;
    was_empty = !q->results;
    if (q->results_tail)
        q->results_tail->next = res;
    else
        q->results = res;
    q->results_tail = res;
    pthread_mutex_unlock(&q->lock);
    if (was_empty)
        q->notify(q->notify_arg);
}

static void *
worker_main(void *arg)
{
    struct dbq_worker *w = arg;
    struct dbq *q = w->q;
    struct dbq_job *job;
    struct dbq_result *res;
    bool wake;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->jobs && !q->stopping) {
            q->idle++;
            pthread_cond_wait(&q->cond, &q->lock);
            q->idle--;
            if (q->waking > 0)
                q->waking--;
        }
        if (q->stopping) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        job = q->jobs;
        q->jobs = job->next;
        if (!q->jobs)
            q->jobs_tail = NULL;
        /* More queued: wake a helper here, not on the service thread. */
        wake = q->jobs && q->idle > q->waking;
        if (wake)
            q->waking++;
        pthread_mutex_unlock(&q->lock);
        if (wake)
            pthread_cond_signal(&q->cond);

        res = calloc(1, sizeof(*res));
        if (!res) {
            nh_error("out of memory running a database job");
            job_free(job);
            continue;
        }
        res->slot = job->slot;
        res->gen = job->gen;
        job->fn(w->store, job, res);
        job_free(job);
        push_result(q, res);
    }
    return NULL;
}

int
dbq_create(struct dbq **out, const char *dir, const char *migrations_dir,
           int nworkers, dbq_notify_fn *notify, void *notify_arg,
           struct nh_error *err)
{
    struct dbq *q;
    sigset_t all, old;
    int rc, i;

    if (nworkers < 1)
        return nh_errorf(err, NH_EINVAL, "need at least one db worker");
    q = calloc(1, sizeof(*q));
    if (!q)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->notify = notify;
    q->notify_arg = notify_arg;
    q->workers = calloc((size_t)nworkers, sizeof(*q->workers));
    if (!q->workers) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto fail;
    }
    q->nworkers = nworkers;
    for (i = 0; i < nworkers; i++) {
        q->workers[i].q = q;
        rc = store_open(&q->workers[i].store, dir, migrations_dir, err);
        if (rc < 0)
            goto fail;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < nworkers; i++) {
        if (pthread_create(&q->workers[i].thread, NULL, worker_main,
                           &q->workers[i]) != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            rc = nh_errorf(err, NH_EIO, "cannot start a db worker thread");
            goto fail;
        }
        q->workers[i].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *out = q;
    return 0;
fail:
    dbq_destroy(q);
    return rc;
}

int
dbq_submit(struct dbq *q, struct dbq_job *job)
{
    bool wake = false, was_empty;

    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        job_free(job);
        return NH_EINVAL;
    }
    job->next = NULL;
    was_empty = !q->jobs;
    if (q->jobs_tail)
        q->jobs_tail->next = job;
    else
        q->jobs = job;
    q->jobs_tail = job;
    /* Wake a worker only for the first job of a burst, and only when some
     * idle one has no wake-up coming: a woken or busy worker looks at the
     * queue again before it sleeps, and a worker that leaves jobs behind
     * wakes the next one itself (worker_main), so the service thread
     * makes at most one futex call per burst. The signal goes out after
     * the unlock, so the woken worker does not block on the mutex. */
    if (was_empty && q->idle > q->waking) {
        q->waking++;
        wake = true;
    }
    pthread_mutex_unlock(&q->lock);
    if (wake)
        pthread_cond_signal(&q->cond);
    return 0;
}

struct dbq_result *
dbq_drain(struct dbq *q)
{
    struct dbq_result *list;

    pthread_mutex_lock(&q->lock);
    list = q->results;
    q->results = q->results_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return list;
}

void
dbq_destroy(struct dbq *q)
{
    struct dbq_result *res;
    struct dbq_job *job;
    int i;

    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (i = 0; i < q->nworkers; i++) {
        if (q->workers[i].started)
            pthread_join(q->workers[i].thread, NULL);
        store_close(q->workers[i].store);
    }
    while ((job = q->jobs)) {
        q->jobs = job->next;
        job_free(job);
    }
    while ((res = q->results)) {
        q->results = res->next;
        dbq_result_free(res);
    }
    free(q->workers);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
