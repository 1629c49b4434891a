/* view-train.c - one train job: loss and learning-rate plots, speed, faults
 *
 * job.get and every train.records page, then a subscription to job/ID:
 * train.metrics adds a point (step, loss, lr, tokens/s, MFU),
 * train.supervisor adds to the fault timeline (faults, restarts with the
 * steps redone and the recovery time, the summary's goodput), job.state
 * reloads the job. The plots are columns of the terminal: each column
 * is the mean of the steps that fall in it, drawn as a dot row between
 * the smallest and largest value shown at the left. `X` stops the job.
 * The jobs screen (view-jobs.c) opens this view for a train job.
 */
#include "wb.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POINTS_MAX 100000 /* steps kept for the plots */
#define EVENTS_MAX 200    /* timeline lines kept */

struct point {
    int64_t step;
    double loss, lr, tps, mfu;
};

struct train {
    int64_t id;
    char topic[32];
    cJSON *job;
    struct point *pts;
    int npts, cap;
    char events[EVENTS_MAX][96];
    int nev;
    int64_t seq; /* the last record taken */
};

static void add_event(struct train *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_event(struct train *d, const char *fmt, ...)
{
    va_list ap;

    if (d->nev == EVENTS_MAX) {
        memmove(d->events[0], d->events[1],
                sizeof(d->events[0]) * (EVENTS_MAX - 1));
        d->nev--;
    }
    va_start(ap, fmt);
    vsnprintf(d->events[d->nev++], sizeof(d->events[0]), fmt, ap);
    va_end(ap);
}

static double
num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Take one record (from train.records or an event). */
static void
take(struct train *d, int64_t seq, bool metrics, const cJSON *r)
{
    const char *ev = json_str(r, "event", NULL);

    if (seq <= d->seq)
        return;
    d->seq = seq;
    if (metrics) {
        struct point p;

        if (ev || d->npts >= POINTS_MAX)
            return;
        p.step = (int64_t)num(r, "step");
        p.loss = num(r, "loss");
        p.lr = num(r, "lr");
        p.tps = num(r, "tokens_per_s");
        p.mfu = num(r, "mfu");
        /* a restart redoes steps: the redone ones replace the old */
        while (d->npts > 0 && d->pts[d->npts - 1].step >= p.step)
            d->npts--;
        if (d->npts == d->cap) {
            int cap = d->cap ? d->cap * 2 : 256;
            struct point *np = realloc(d->pts, sizeof(*np) * (size_t)cap);

            if (!np)
                return;
            d->pts = np;
            d->cap = cap;
        }
        d->pts[d->npts++] = p;
        return;
    }
    if (!ev)
        return;
    if (!strcmp(ev, "fault"))
        add_event(d, "fault    %s of rank %.0f at step %.0f, found in %.2f s",
                  json_str(r, "cause", "?"), num(r, "rank"), num(r, "step"),
                  num(r, "detection_s"));
    else if (!strcmp(ev, "restart"))
        add_event(d,
                  "restart  attempt %.0f from step %.0f, %.0f steps redone, "
                  "%.2f s lost",
                  num(r, "attempt"), num(r, "resumed_from"),
                  num(r, "steps_redone"), num(r, "recovery_s"));
    else if (!strcmp(ev, "summary"))
        add_event(d, "summary  %s, %.0f restarts, goodput %.3f",
                  json_str(r, "status", "?"), num(r, "restarts"),
                  num(r, "goodput"));
    else if (!strcmp(ev, "stopped"))
        add_event(d, "stopped");
}

static void
load(struct view *v)
{
    struct train *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL, *sub = NULL;

    if (wb_call_num(v->wb, "job.get", "job", (double)d->id, &res, &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->job);
    d->job = res;
    if (wb_call_str(v->wb, "subscribe", "topic", d->topic, &sub, &err) == 0)
        cJSON_Delete(sub);
    for (;;) {
        cJSON *a = cJSON_CreateObject(), *recs = NULL;
        const cJSON *r;
        int n = 0;

        if (!a || !cJSON_AddNumberToObject(a, "job", (double)d->id) ||
            !cJSON_AddNumberToObject(a, "after", (double)d->seq) ||
            wb_call(v->wb, "train.records", a, &recs, &err) < 0) {
            cJSON_Delete(a);
            return;
        }
        cJSON_Delete(a);
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(recs, "records"))
        {
            take(d, json_int(cJSON_GetObjectItemCaseSensitive(r, "seq"), 0),
                 !strcmp(json_str(r, "source", ""), "metrics"),
                 cJSON_GetObjectItemCaseSensitive(r, "record"));
            n++;
        }
        cJSON_Delete(recs);
        if (n == 0)
            break;
    }
}

static int
train_open(struct view *v, const cJSON *arg)
{
    struct train *d = calloc(1, sizeof(*d));
    struct nh_error err;
    cJSON *res = NULL;
    int rc;

    if (!d)
        return NH_ENOMEM;
    v->priv = d;
    d->id = json_int(arg, 0);
    d->seq = -1;
    snprintf(d->topic, sizeof(d->topic), "job/%lld", (long long)d->id);
    rc = wb_call_num(v->wb, "job.get", "job", (double)d->id, &res, &err);
    cJSON_Delete(res);
    if (rc < 0 && rc != CLIENT_ECLOSED) {
        wb_msg(v->wb, "%s", err.msg);
        return rc;
    }
    load(v);
    return 0;
}

static void
train_event(struct view *v, const cJSON *ev)
{
    struct train *d = v->priv;
    const char *name = json_str(ev, "event", "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    int64_t seq = json_int(cJSON_GetObjectItemCaseSensitive(data, "seq"), -1);

    if (strcmp(json_str(ev, "topic", ""), d->topic) || !d->job)
        return;
    if (!strncmp(name, "train.", 6)) {
        if (seq > d->seq + 1)
            load(v); /* missed some: catch up */
        else
            take(d, seq, !strcmp(name, "train.metrics"),
                 cJSON_GetObjectItemCaseSensitive(data, "record"));
    } else if (!strcmp(name, "job.state")) {
        load(v);
    }
}

/* Plot field off of the points in rows x cols at (y, x): a label column
 * with the largest and smallest value, then one column per step range. */
static void
plot(const struct train *d, size_t off, const char *label, int y, int rows,
     int cols)
{
    const int lw = 10;
    int w = cols - lw - 1;
    double lo = INFINITY, hi = -INFINITY;

    if (rows < 2 || w < 4 || d->npts == 0)
        return;
    for (int i = 0; i < d->npts; i++) {
        double val = *(const double *)((const char *)&d->pts[i] + off);

        if (isfinite(val)) {
            lo = val < lo ? val : lo;
            hi = val > hi ? val : hi;
        }
    }
    if (!isfinite(lo))
        return;
    if (hi - lo < 1e-12)
        hi = lo + 1e-12;
    attron(A_BOLD);
    wb_putf(y, 0, lw, "%s", label);
    attroff(A_BOLD);
    wb_putf(y + 1, 0, lw, "%.4g", hi);
    wb_putf(y + rows - 1, 0, lw, "%.4g", lo);
    for (int c = 0; c < w; c++) {
        int a = (int)((int64_t)c * d->npts / w);
        int b = (int)((int64_t)(c + 1) * d->npts / w);
        double sum = 0;
        int n = 0, r;

        if (b <= a)
            b = a + 1;
        if (a >= d->npts)
            break;
        for (int i = a; i < b && i < d->npts; i++) {
            double val = *(const double *)((const char *)&d->pts[i] + off);

            if (isfinite(val)) {
                sum += val;
                n++;
            }
        }
        if (!n)
            continue;
        r = (int)lround((hi - sum / n) / (hi - lo) * (rows - 1));
        mvaddch(y + r, lw + 1 + c, '*');
    }
    attron(wb_attr(WB_DIM));
    for (int r = 0; r < rows; r++)
        mvaddch(y + r, lw, '|');
    attroff(wb_attr(WB_DIM));
}

static void
train_draw(struct view *v, int rows, int cols)
{
    struct train *d = v->priv;
    const char *state = json_str(d->job, "state", "?");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(d->job, "error");
    const struct point *last = d->npts ? &d->pts[d->npts - 1] : NULL;
    char in[16];
    int y = 1, left, h, i;

    if (!d->job) {
        wb_putf(1, 0, cols, "job %lld: (not loaded)", (long long)d->id);
        return;
    }
    wb_putf(y, 0, cols, "job %lld  train", (long long)d->id);
    attron(wb_attr(!strcmp(state, "succeeded") ? WB_GOOD
                   : !strcmp(state, "running") || !strcmp(state, "queued")
                       ? WB_WARN
                       : WB_BAD));
    wb_putf(y, 20, cols - 20, "%s", state);
    attroff(A_COLOR | A_BOLD);
    y++;
    wb_putf(y++, 0, cols, "dataset %s@%s", json_str(d->job, "dataset", "-"),
            short_id(json_str(d->job, "input", NULL), in, 12));
    if (last)
        wb_putf(y++, 0, cols,
                "step %lld  loss %.4f  lr %.3g  %.0f tokens/s  MFU %.3f",
                (long long)last->step, last->loss, last->lr, last->tps,
                last->mfu);
    else
        wb_putf(y++, 0, cols, "no steps yet");
    if (cJSON_IsString(err)) {
        attron(wb_attr(WB_BAD));
        wb_putf(y++, 0, cols, "error: %s", err->valuestring);
        attroff(wb_attr(WB_BAD));
    }
    /* the timeline takes its lines (at most 6), the plots the rest */
    left = rows + 1 - y;
    h = d->nev < 6 ? d->nev : 6;
    if (left - h - 1 >= 6) {
        int ploth = left - h - 1, lossh = ploth * 2 / 3;

        plot(d, offsetof(struct point, loss), "loss", y, lossh, cols);
        plot(d, offsetof(struct point, lr), "lr", y + lossh, ploth - lossh,
             cols);
        y += ploth;
    }
    attron(A_BOLD);
    wb_putf(y++, 0, cols, "faults and restarts");
    attroff(A_BOLD);
    for (i = d->nev - h; i < d->nev && y <= rows; i++, y++)
        wb_put(y, 0, d->events[i], (size_t)-1, cols);
    if (d->nev == 0 && y <= rows)
        wb_put(y, 0, "none", (size_t)-1, cols);
}

static void
train_key(struct view *v, enum action act, int key)
{
    struct train *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    (void)key;
    if (act == ACT_REFRESH) {
        load(v);
    } else if (act == ACT_CANCEL) {
        if (wb_call_num(v->wb, "job.cancel", "job", (double)d->id, &res, &err) <
            0)
            wb_msg(v->wb, "%s", err.msg);
        else
            wb_msg(v->wb, "job %lld stopped", (long long)d->id);
        cJSON_Delete(res);
        load(v);
    }
}

static void
train_free(struct view *v)
{
    struct train *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (!d)
        return;
    if (d->job && wb_connected(v->wb) &&
        wb_call_str(v->wb, "unsubscribe", "topic", d->topic, &res, &err) == 0)
        cJSON_Delete(res);
    cJSON_Delete(d->job);
    free(d->pts);
    free(d);
}

static const struct help_line train_help[] = {
    {ACT_CANCEL, "stop the run"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_train = {
    .name = "train",
    .help = train_help,
    .open = train_open,
    .draw = train_draw,
    .key = train_key,
    .event = train_event,
    .reconnected = load,
    .free = train_free,
};
