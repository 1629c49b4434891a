/* nh-review-load.c - reviewers under load: judgments/s and stats refresh
 *
 *   nh-review-load --url URL --tokens FILE --campaign ID [--judgments N]
 *                  [--probes K]
 *
 * One thread per line of FILE (a reviewer's token), each with its own
 * synchronous client (tui/client.c): review.next, then review.submit
 * (verdict accept or reject by item parity, a fresh request id), until N
 * judgments have been made in all or the campaign has nothing left for
 * it. Reports judgments/s over the whole run and the p50/p99 latency of
 * review.submit; any failed call is an error.
 *
 * Then, with --probes K, the refresh latency: the first reviewer
 * subscribes to review/ID and, K times, submits one judgment and waits
 * for the review.stats event whose "judgments" count includes it; the
 * time runs from the submit's response to that event (0 when the event
 * came first). One JSON object on stdout; used by scripts/bench-review.
 */
#include "../tui/client.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REVIEWERS 256

struct reviewer {
    pthread_t th;
    const char *url;
    char token[256];
    int64_t campaign;
    double *lat; /* submit latencies, ms */
    size_t nlat, cap;
    long errors;
    char err[600];
};

static long g_target;
static long g_done; /* judgments made, all threads */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool
take_slot(void)
{
    bool ok;

    pthread_mutex_lock(&g_mu);
    ok = g_done < g_target;
    if (ok)
        g_done++;
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static void
give_back_slot(void)
{
    pthread_mutex_lock(&g_mu);
    g_done--;
    pthread_mutex_unlock(&g_mu);
}

static int
connect_auth(struct reviewer *r, struct client **c, struct nh_error *err)
{
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    int rc;

    if ((rc = client_open(c, r->url, 10000, err)) < 0) {
        cJSON_Delete(a);
        return rc;
    }
    cJSON_AddStringToObject(a, "token", r->token);
    rc = client_call(*c, "auth", a, &res, err);
    cJSON_Delete(a);
    cJSON_Delete(res);
    return rc;
}

/* review.next; *item = -1 when nothing is left. */
static int
next_item(struct client *c, int64_t campaign, int64_t *item,
          struct nh_error *err)
{
    cJSON *a = cJSON_CreateObject(), *res = NULL, *it;
    int rc;

    cJSON_AddNumberToObject(a, "campaign", (double)campaign);
    rc = client_call(c, "review.next", a, &res, err);
    cJSON_Delete(a);
    if (rc == 0) {
        it = cJSON_GetObjectItemCaseSensitive(res, "item");
        it = cJSON_GetObjectItemCaseSensitive(it, "item");
        *item = cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
    }
    cJSON_Delete(res);
    return rc;
}

static int
submit(struct client *c, int64_t campaign, int64_t item, long n,
       const void *who, int64_t *judgments, struct nh_error *err)
{
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    char rid[64];
    int rc;

    (void)judgments;
    snprintf(rid, sizeof(rid), "b-%p-%ld", who, n);
    cJSON_AddNumberToObject(a, "campaign", (double)campaign);
    cJSON_AddNumberToObject(a, "item", (double)item);
    cJSON_AddStringToObject(a, "request_id", rid);
    cJSON_AddStringToObject(a, "verdict", item % 7 ? "accept" : "reject");
    rc = client_call(c, "review.submit", a, &res, err);
    cJSON_Delete(a);
    cJSON_Delete(res);
    return rc;
}

static void *
reviewer_main(void *arg)
{
    struct reviewer *r = arg;
    struct client *c = NULL;
    struct nh_error err;
    long n = 0;

    if (connect_auth(r, &c, &err) < 0) {
        r->errors++;
        snprintf(r->err, sizeof(r->err), "%s", err.msg);
        goto out;
    }
    while (take_slot()) {
        int64_t item;
        double t0;

        if (next_item(c, r->campaign, &item, &err) < 0) {
            r->errors++;
            snprintf(r->err, sizeof(r->err), "next: %s", err.msg);
            give_back_slot();
            continue;
        }
        if (item < 0) {
            give_back_slot();
            break;
        }
        t0 = now_ms();
        if (submit(c, r->campaign, item, n++, r, NULL, &err) < 0) {
            r->errors++;
            snprintf(r->err, sizeof(r->err), "submit: %s", err.msg);
            give_back_slot();
            continue;
        }
        if (r->nlat == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 1024;
            double *l = realloc(r->lat, cap * sizeof(*l));
            if (!l)
                break;
            r->lat = l;
            r->cap = cap;
        }
        r->lat[r->nlat++] = now_ms() - t0;
    }
out:
    client_free(c);
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
pct(const double *v, size_t n, double p)
{
    size_t i;

    if (!n)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* The stats probe: K sequential submits by r, each timed to its event. */
static int
probe(struct reviewer *r, int k, double *lat, int *nlat, long *errors)
{
    struct client *c = NULL;
    struct nh_error err;
    cJSON *a = NULL, *res = NULL;
    char topic[48];
    int i;

    *nlat = 0;
    if (connect_auth(r, &c, &err) < 0)
        goto fail;
    snprintf(topic, sizeof(topic), "review/%lld", (long long)r->campaign);
    a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "topic", topic);
    if (client_call(c, "subscribe", a, &res, &err) < 0)
        goto fail;
    for (i = 0; i < k; i++) {
        int64_t item, want = -1;
        double t;
        cJSON *ev = NULL, *st = NULL;

        if (next_item(c, r->campaign, &item, &err) < 0)
            goto fail;
        if (item < 0)
            break;
        /* the count before this submit: from a stats call */
        cJSON_Delete(a);
        cJSON_Delete(res);
        res = NULL;
        a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "campaign", (double)r->campaign);
        if (client_call(c, "review.stats", a, &st, &err) < 0)
            goto fail;
        want = (int64_t)cJSON_GetNumberValue(
                   cJSON_GetObjectItemCaseSensitive(st, "judgments")) +
               1;
        cJSON_Delete(st);
        /* drop events queued so far */
        while (client_next_event(c, 0, &ev, &err) == 0)
            cJSON_Delete(ev);
        if (submit(c, r->campaign, item, 1000000 + i, r, NULL, &err) < 0)
            goto fail;
        t = now_ms();
        for (;;) {
            const cJSON *d, *s;
            if (client_next_event(c, 5000, &ev, &err) < 0) {
                ++*errors;
                break;
            }
            d = cJSON_GetObjectItemCaseSensitive(ev, "data");
            s = cJSON_GetObjectItemCaseSensitive(d, "stats");
            if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
                    s, "judgments")) >= (double)want) {
                lat[(*nlat)++] = now_ms() - t;
                cJSON_Delete(ev);
                break;
            }
            cJSON_Delete(ev);
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(res);
    client_free(c);
    return 0;
fail:
    fprintf(stderr, "nh-review-load: probe: %s\n", err.msg);
    ++*errors;
    cJSON_Delete(a);
    cJSON_Delete(res);
    client_free(c);
    return -1;
}

int
main(int argc, char **argv)
{
    const char *url = NULL, *tokens = NULL;
    int64_t campaign = 0;
    long target = 10000, errors = 0;
    int probes = 0, nr = 0, i, nplat = 0;
    struct reviewer *rv;
    double t0, secs, *all, *plat;
    size_t nall = 0;
    char line[256];
    FILE *f;

    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--tokens"))
            tokens = argv[i + 1];
        else if (!strcmp(argv[i], "--campaign"))
            campaign = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--judgments"))
            target = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--probes"))
            probes = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || !url || !tokens || campaign < 1 || probes < 0) {
        fputs("usage: nh-review-load --url URL --tokens FILE --campaign ID "
              "[--judgments N] [--probes K]\n",
              stderr);
        return 2;
    }
    rv = calloc(MAX_REVIEWERS, sizeof(*rv));
    if (!rv || !(f = fopen(tokens, "re"))) {
        fprintf(stderr, "nh-review-load: cannot open '%s'\n", tokens);
        return 1;
    }
    while (nr < MAX_REVIEWERS && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        snprintf(rv[nr].token, sizeof(rv[nr].token), "%s", line);
        rv[nr].url = url;
        rv[nr].campaign = campaign;
        nr++;
    }
    fclose(f);
    g_target = target;
    t0 = now_ms();
    for (i = 0; i < nr; i++)
        pthread_create(&rv[i].th, NULL, reviewer_main, &rv[i]);
    for (i = 0; i < nr; i++)
        pthread_join(rv[i].th, NULL);
    secs = (now_ms() - t0) / 1e3;
    for (i = 0; i < nr; i++)
        nall += rv[i].nlat;
    all = malloc((nall + 1) * sizeof(*all));
    plat = malloc(((size_t)probes + 1) * sizeof(*plat));
    if (!all || !plat)
        return 1;
    nall = 0;
    for (i = 0; i < nr; i++) {
        memcpy(all + nall, rv[i].lat, rv[i].nlat * sizeof(*all));
        nall += rv[i].nlat;
        errors += rv[i].errors;
        if (rv[i].errors)
            fprintf(stderr, "nh-review-load: reviewer %d: %s\n", i, rv[i].err);
    }
    qsort(all, nall, sizeof(*all), cmp_double);
    if (probes && nr)
        probe(&rv[0], probes, plat, &nplat, &errors);
    qsort(plat, (size_t)nplat, sizeof(*plat), cmp_double);
    printf("{\"reviewers\": %d, \"judgments\": %zu, \"seconds\": %.3f, "
           "\"judgments_per_s\": %.1f, \"submit_p50_ms\": %.3f, "
           "\"submit_p99_ms\": %.3f, \"errors\": %ld, \"probes\": %d, "
           "\"stats_p50_ms\": %.3f, \"stats_p99_ms\": %.3f, "
           "\"stats_max_ms\": %.3f}\n",
           nr, nall, secs, secs > 0 ? (double)nall / secs : 0,
           pct(all, nall, 0.5), pct(all, nall, 0.99), errors, nplat,
           pct(plat, (size_t)nplat, 0.5), pct(plat, (size_t)nplat, 0.99),
           nplat ? plat[nplat - 1] : 0);
    for (i = 0; i < nr; i++)
        free(rv[i].lat);
    free(rv);
    free(all);
    free(plat);
    return errors ? 1 : 0;
}
