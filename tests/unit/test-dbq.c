/* test-dbq.c - unit tests for server/dbq.c, nhd's DB worker queue
 *
 * Real worker threads on real stores (a temp data directory, migrations
 * from schemas/db through $NH_TOP). The queue wakes sleeping workers and
 * the service thread sparingly (dbq.c), so the test pushes bursts of
 * every size through it and checks that every job runs once and every
 * result comes back: a lost wake-up shows as a wait that never ends,
 * which the wait below turns into a failed check after a minute rather
 * than a hung test.
 */
#include "dbq.h"

#include "test.h"
#include "tmpdir.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_MAX 20000

static char migs[4096];

static const char *
migrations(void)
{
    const char *top = getenv("NH_TOP");

    snprintf(migs, sizeof(migs), "%s/schemas/db", top ? top : ".");
    return migs;
}

/* What the notify function and the jobs share with the test. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long notified;
static int ran[JOBS_MAX];

static void
notify(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    notified++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* A job that touches its store and answers its own id. */
static void
job_fn(struct store *s, const struct dbq_job *job, struct dbq_result *res)
{
    char buf[32];
    int n;

    pthread_mutex_lock(&lock);
    ran[job->id]++;
    pthread_mutex_unlock(&lock);
    if (!store_db(s))
        return;
    n = snprintf(buf, sizeof(buf), "%lld", (long long)job->id);
    res->text = malloc((size_t)n + 1);
    if (res->text) {
        memcpy(res->text, buf, (size_t)n + 1);
        res->len = (size_t)n;
    }
}

static int
submit(struct dbq *q, int64_t id)
{
    struct dbq_job *job = calloc(1, sizeof(*job));

    if (!job)
        return -1;
    job->slot = (uint32_t)id;
    job->gen = 7;
    job->has_id = true;
    job->id = id;
    job->fn = job_fn;
    return dbq_submit(q, job);
}

/* Drain until want results came back in all, each checked against its
 * job; false when no wake-up came for a minute. */
static bool
collect(struct dbq *q, long *got, long want, int *bad)
{
    struct dbq_result *res, *next;
    struct timespec until;
    long seen;
    int rc = 0;

    for (;;) {
        pthread_mutex_lock(&lock);
        seen = notified;
        pthread_mutex_unlock(&lock);
        for (res = dbq_drain(q); res; res = next) {
            next = res->next;
            if (res->gen != 7 || !res->text ||
                atol(res->text) != (long)res->slot)
                (*bad)++;
            (*got)++;
            dbq_result_free(res);
        }
        if (*got >= want)
            return true;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        pthread_mutex_lock(&lock);
        while (notified == seen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&cond, &lock, &until);
        pthread_mutex_unlock(&lock);
        if (rc == ETIMEDOUT)
            return false;
    }
}

TEST(bursts)
{
    struct nh_error err = {0};
    struct dbq *q = NULL;
    long got = 0, total = 0;
    int round, i, bad = 0, twice = 0, never = 0;
    char dir[4096];

    if (tmp_begin("dbq") < 0) {
        CHECK(!"mkdtemp");
        return;
    }
    path_join(dir, sizeof(dir), tmp, "data");
    CHECK(dbq_create(&q, dir, migrations(), 2, notify, NULL, &err) == 0);
    if (!q) {
        printf("  %s\n", err.msg);
        goto out;
    }
    /* bursts of 1..97 jobs, each waited for, so the workers go to sleep
     * between bursts and must be woken again */
    for (round = 0; round < 300 && total < JOBS_MAX; round++) {
        int n = round * 37 % 97 + 1;

        for (i = 0; i < n && total < JOBS_MAX; i++)
            CHECK(submit(q, total++) == 0);
        if (!collect(q, &got, total, &bad)) {
            CHECK(!"no wake-up for a minute");
            break;
        }
    }
    CHECK(got == total);
    CHECK(bad == 0);
    for (i = 0; i < total; i++) {
        twice += ran[i] > 1;
        never += ran[i] == 0;
    }
    CHECK(twice == 0);
    CHECK(never == 0);
    /* the service thread is woken once per batch, not once per result */
    CHECK(notified >= 1 && notified <= got);

    /* jobs and results still queued when the queue goes are freed (the
     * ASan build's leak check) */
    for (i = 0; i < 50; i++)
        CHECK(submit(q, i) == 0);
    dbq_destroy(q);
    q = NULL;
out:
    dbq_destroy(q);
    tmp_end();
}

int
main(void)
{
    RUN(bursts);
    return test_summary();
}
