/* view-job.c - one job: its state, live progress, stage table and log
 *
 * job.get and job.logs, then a subscription to job/ID: job.progress
 * moves the bar, job.log appends to the log, job.state reloads the job
 * (its statistics arrive when it ends). `X` cancels the job. Also home
 * of the stage table and progress text the other views draw with.
 */
#include "wb.h"

#include <stdlib.h>
#include <string.h>

#define LOG_MAX 2000

struct job {
    int64_t id;
    char topic[32];
    cJSON *job;  /* job.get result */
    cJSON *logs; /* array of strings, at most LOG_MAX */
    int64_t log_next;
};

const char *
view_progress_text(const cJSON *p, double *frac, char *buf, size_t bufsz)
{
    double ud =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "units_done"), 0);
    double ut =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "units_total"), 0);
    double bd =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "bytes_done"), 0);
    double bt =
        (double)json_int(cJSON_GetObjectItemCaseSensitive(p, "bytes_total"), 0);
    char a[32], b[32];

    *frac = -1;
    buf[0] = '\0';
    if (!cJSON_IsObject(p))
        return buf;
    if (ut > 0)
        *frac = ud / ut;
    else if (bt > 0)
        *frac = bd / bt;
    if (*frac > 1)
        *frac = 1;
    snprintf(
        buf, bufsz, "%s  %s/%s  %lld docs", json_str(p, "phase", "-"),
        fmt_size(bd, a, sizeof(a)), fmt_size(bt, b, sizeof(b)),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(p, "docs"), 0));
    return buf;
}

static int
stage_row(int y, int cols, const char *name, const cJSON *s)
{
    int64_t in = json_int(cJSON_GetObjectItemCaseSensitive(s, "docs_in"), 0);
    int64_t out = json_int(cJSON_GetObjectItemCaseSensitive(s, "docs_out"), 0);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(s, "seconds");

    wb_putf(y, 0, cols, "%-14s %9lld %9lld %9lld %8.2f", name, (long long)in,
            (long long)out, (long long)(in > out ? in - out : 0),
            cJSON_IsNumber(sec) ? sec->valuedouble : 0.0);
    return 1;
}

int
view_stage_table(int y, int rows, int cols, const cJSON *stats)
{
    const cJSON *st, *o;
    int used = 0;

    if (!cJSON_IsObject(stats) || rows < 2)
        return 0;
    attron(A_BOLD);
    wb_putf(y, 0, cols, "%-14s %9s %9s %9s %8s", "STAGE", "DOCS IN", "DOCS OUT",
            "REMOVED", "SECONDS");
    attroff(A_BOLD);
    used++;
    o = cJSON_GetObjectItemCaseSensitive(stats, "read");
    if (cJSON_IsObject(o))
        used += stage_row(y + used, cols, "read", o);
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(stats, "stages"))
    {
        if (used >= rows)
            break;
        used += stage_row(y + used, cols, json_str(st, "name", "?"), st);
    }
    return used;
}

static void
load(struct view *v)
{
    struct job *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL, *logs = NULL, *sub = NULL;
    const cJSON *l;

    if (wb_call_num(v->wb, "job.get", "job", (double)d->id, &res, &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->job);
    d->job = res;
    if (wb_call_num(v->wb, "job.logs", "job", (double)d->id, &logs, &err) ==
        0) {
        cJSON_Delete(d->logs);
        d->logs = cJSON_CreateArray();
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(logs, "lines"))
        {
            cJSON_AddItemToArray(d->logs,
                                 cJSON_CreateString(json_str(l, "line", "")));
            d->log_next =
                json_int(cJSON_GetObjectItemCaseSensitive(l, "seq"), 0) + 1;
        }
        cJSON_Delete(logs);
    }
    if (wb_call_str(v->wb, "subscribe", "topic", d->topic, &sub, &err) == 0)
        cJSON_Delete(sub);
}

static int
job_open(struct view *v, const cJSON *arg)
{
    struct job *d = calloc(1, sizeof(*d));
    struct nh_error err;
    cJSON *res = NULL;
    int rc;

    if (!d)
        return NH_ENOMEM;
    v->priv = d;
    d->id = json_int(arg, 0);
    snprintf(d->topic, sizeof(d->topic), "job/%lld", (long long)d->id);
    /* an unknown job is an error here, not an empty screen */
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
job_event(struct view *v, const cJSON *ev)
{
    struct job *d = v->priv;
    const char *name = json_str(ev, "event", "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");

    if (strcmp(json_str(ev, "topic", ""), d->topic) || !d->job)
        return;
    if (!strcmp(name, "job.progress")) {
        cJSON *p = cJSON_Duplicate(
            cJSON_GetObjectItemCaseSensitive(data, "progress"), 1);
        if (p)
            cJSON_ReplaceItemInObjectCaseSensitive(d->job, "progress", p);
    } else if (!strcmp(name, "job.log")) {
        int64_t seq =
            json_int(cJSON_GetObjectItemCaseSensitive(data, "seq"), 0);
        if (seq < d->log_next)
            return;
        d->log_next = seq + 1;
        if (!d->logs)
            d->logs = cJSON_CreateArray();
        cJSON_AddItemToArray(d->logs,
                             cJSON_CreateString(json_str(data, "line", "")));
        if (cJSON_GetArraySize(d->logs) > LOG_MAX)
            cJSON_DeleteItemFromArray(d->logs, 0);
    } else if (!strcmp(name, "job.state")) {
        struct nh_error err;
        cJSON *res = NULL;
        if (wb_call_num(v->wb, "job.get", "job", (double)d->id, &res, &err) ==
            0) {
            cJSON_Delete(d->job);
            d->job = res;
        }
    }
}

static void
job_draw(struct view *v, int rows, int cols)
{
    struct job *d = v->priv;
    const char *state = json_str(d->job, "state", "?");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(d->job, "error");
    char pt[128], in[16], out[16];
    double frac;
    int y = 1, nlog, i, first;

    if (!d->job) {
        wb_putf(1, 0, cols, "job %lld: (not loaded)", (long long)d->id);
        return;
    }
    wb_putf(y, 0, cols, "job %lld  %s  ", (long long)d->id,
            json_str(d->job, "kind", "?"));
    attron(wb_attr(!strcmp(state, "succeeded") ? WB_GOOD
                   : !strcmp(state, "running") || !strcmp(state, "queued")
                       ? WB_WARN
                       : WB_BAD));
    wb_putf(y, 20, cols - 20, "%s", state);
    attroff(A_COLOR | A_BOLD);
    y++;
    wb_putf(y++, 0, cols, "dataset %s  input %s  output %s",
            json_str(d->job, "dataset", "-"),
            short_id(json_str(d->job, "input", NULL), in, 12),
            short_id(json_str(d->job, "output", NULL), out, 12));
    view_progress_text(cJSON_GetObjectItemCaseSensitive(d->job, "progress"),
                       &frac, pt, sizeof(pt));
    if (!strcmp(state, "succeeded"))
        frac = 1;
    if (frac >= 0) {
        int bw = cols > 60 ? 30 : cols / 2;
        wb_bar(y, 0, bw, frac, -1, -1);
        wb_putf(y, bw + 1, cols - bw - 1, "%3.0f%%  %s", frac * 100, pt);
        y++;
    }
    if (cJSON_IsString(err)) {
        attron(wb_attr(WB_BAD));
        wb_putf(y++, 0, cols, "error: %s", err->valuestring);
        attroff(wb_attr(WB_BAD));
    }
    y++;
    y += view_stage_table(y, (rows + 1 - y) / 2, cols,
                          cJSON_GetObjectItemCaseSensitive(d->job, "stats"));
    attron(A_BOLD);
    wb_put(y++, 0, "log", (size_t)-1, cols);
    attroff(A_BOLD);
    nlog = cJSON_GetArraySize(d->logs);
    /* the newest lines, scrolled back by v->top */
    first = nlog - (rows + 1 - y) - v->top;
    if (first < 0)
        first = 0;
    for (i = first; i < nlog && y <= rows; i++, y++)
        wb_put(y, 0, cJSON_GetArrayItem(d->logs, i)->valuestring, (size_t)-1,
               cols);
}

static void
job_key(struct view *v, enum action act, int key)
{
    struct job *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;
    int nlog = cJSON_GetArraySize(d->logs);

    (void)key;
    if (act == ACT_UP && v->top < nlog)
        v->top++;
    else if (act == ACT_DOWN && v->top > 0)
        v->top--;
    else if (act == ACT_END)
        v->top = 0;
    else if (act == ACT_REFRESH)
        load(v);
    else if (act == ACT_CANCEL) {
        if (wb_call_num(v->wb, "job.cancel", "job", (double)d->id, &res, &err) <
            0)
            wb_msg(v->wb, "%s", err.msg);
        else
            wb_msg(v->wb, "job %lld cancelled", (long long)d->id);
        cJSON_Delete(res);
        load(v);
    }
}

static void
job_free(struct view *v)
{
    struct job *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (!d)
        return;
    if (d->job && wb_connected(v->wb) &&
        wb_call_str(v->wb, "unsubscribe", "topic", d->topic, &res, &err) == 0)
        cJSON_Delete(res);
    cJSON_Delete(d->job);
    cJSON_Delete(d->logs);
    free(d);
}

static const struct help_line job_help[] = {
    {ACT_UP, "scroll the log back"},   {ACT_DOWN, "scroll the log on"},
    {ACT_END, "follow the log's end"}, {ACT_CANCEL, "cancel the job"},
    {ACT_REFRESH, "reload"},           {ACT_NONE, NULL},
};

const struct view_ops view_job = {
    .name = "job",
    .help = job_help,
    .open = job_open,
    .draw = job_draw,
    .key = job_key,
    .event = job_event,
    .reconnected = load,
    .free = job_free,
};
