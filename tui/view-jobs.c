/* view-jobs.c - every job, with live progress bars
 *
 * job.list, then a subscription to the `jobs` topic: job.progress
 * events move the bars, job.state events replace a row (or reload the
 * list when a new job appears). Enter opens the job (view-job.c).
 */
#include "wb.h"

#include <stdlib.h>
#include <string.h>

struct jobs {
    cJSON *res; /* job.list result */
};

static void
load(struct view *v)
{
    struct jobs *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL, *sub = NULL;

    if (wb_call(v->wb, "job.list", NULL, &res, &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->res);
    d->res = res;
    if (wb_call_str(v->wb, "subscribe", "topic", "jobs", &sub, &err) == 0)
        cJSON_Delete(sub);
}

static int
jobs_open(struct view *v, const cJSON *arg)
{
    (void)arg;
    v->priv = calloc(1, sizeof(struct jobs));
    if (!v->priv)
        return NH_ENOMEM;
    load(v);
    return 0;
}

static cJSON *
find_job(struct jobs *d, int64_t id)
{
    cJSON *j;

    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(d->res, "jobs"))
    {
        if (json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), -1) == id)
            return j;
    }
    return NULL;
}

static void
jobs_event(struct view *v, const cJSON *ev)
{
    struct jobs *d = v->priv;
    const char *name = json_str(ev, "event", "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    int64_t id = json_int(cJSON_GetObjectItemCaseSensitive(data, "job"), -1);
    cJSON *j = find_job(d, id);

    if (strcmp(json_str(ev, "topic", ""), "jobs"))
        return;
    if (!strcmp(name, "job.progress") && j) {
        cJSON *p = cJSON_Duplicate(
            cJSON_GetObjectItemCaseSensitive(data, "progress"), 1);
        if (p)
            cJSON_ReplaceItemInObjectCaseSensitive(j, "progress", p);
    } else if (!strcmp(name, "job.state")) {
        cJSON *copy = cJSON_Duplicate(data, 1);
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->res, "jobs");
        if (!copy)
            return;
        if (j)
            cJSON_ReplaceItemViaPointer(arr, j, copy);
        else
            cJSON_InsertItemInArray(arr, 0, copy);
    }
}

static void
jobs_draw(struct view *v, int rows, int cols)
{
    struct jobs *d = v->priv;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->res, "jobs");
    int n = cJSON_GetArraySize(arr), i;

    attron(A_BOLD);
    wb_putf(1, 0, cols, "%6s  %-9s %-11s %-16s %s", "JOB", "KIND", "STATE",
            "DATASET", "PROGRESS");
    attroff(A_BOLD);
    if (!d->res)
        wb_put(2, 0, "(not connected)", (size_t)-1, cols);
    wb_list_clamp(v, n, rows - 1);
    for (i = v->top; i < n && i - v->top < rows - 1; i++) {
        const cJSON *j = cJSON_GetArrayItem(arr, i);
        const char *state = json_str(j, "state", "?");
        int y = 2 + i - v->top, x;
        double frac = -1;
        char pt[96];
        enum wb_color c =
            !strcmp(state, "succeeded")                             ? WB_GOOD
            : !strcmp(state, "running") || !strcmp(state, "queued") ? WB_WARN
                                                                    : WB_BAD;

        wb_putf(
            y, 0, cols, "%6lld  %-9s ",
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), 0),
            json_str(j, "kind", "?"));
        attron(wb_attr(c));
        wb_putf(y, 17, cols - 17, "%-11s", state);
        attroff(wb_attr(c));
        wb_put(y, 29, json_str(j, "dataset", "-"), (size_t)-1, 16);
        x = 46;
        view_progress_text(cJSON_GetObjectItemCaseSensitive(j, "progress"),
                           &frac, pt, sizeof(pt));
        if (!strcmp(state, "succeeded"))
            frac = 1;
        if (frac >= 0 && cols - x > 12) {
            int bw = (cols - x) / 3;
            if (bw > 20)
                bw = 20;
            wb_bar(y, x, bw, frac, -1, -1);
            wb_putf(y, x + bw + 1, cols - x - bw - 1, "%3.0f%%", frac * 100);
        }
        if (i == v->sel)
            wb_highlight_row(y);
    }
}

static void
jobs_key(struct view *v, enum action act, int key)
{
    struct jobs *d = v->priv;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->res, "jobs");
    int n = cJSON_GetArraySize(arr);

    (void)key;
    if (wb_list_key(v, act, n, LINES - 3))
        return;
    if (act == ACT_REFRESH)
        load(v);
    else if (act == ACT_OPEN && n > 0) {
        const cJSON *j = cJSON_GetArrayItem(arr, v->sel);
        cJSON *arg = cJSON_CreateNumber(
            (double)json_int(cJSON_GetObjectItemCaseSensitive(j, "job"), 0));
        /* a train job has its own screen: plots instead of stages */
        wb_push(v->wb,
                strcmp(json_str(j, "kind", ""), "train") ? &view_job
                                                         : &view_train,
                arg);
        cJSON_Delete(arg);
    }
}

static void
jobs_free(struct view *v)
{
    struct jobs *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (d && wb_connected(v->wb) &&
        wb_call_str(v->wb, "unsubscribe", "topic", "jobs", &res, &err) == 0)
        cJSON_Delete(res);
    if (d)
        cJSON_Delete(d->res);
    free(d);
}

static const struct help_line jobs_help[] = {
    {ACT_UP, "previous job"},
    {ACT_DOWN, "next job"},
    {ACT_PGUP, "page up"},
    {ACT_PGDN, "page down"},
    {ACT_OPEN, "open: progress, stages, log"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_jobs = {
    .name = "jobs",
    .help = jobs_help,
    .open = jobs_open,
    .draw = jobs_draw,
    .key = jobs_key,
    .event = jobs_event,
    .reconnected = load,
    .free = jobs_free,
};
