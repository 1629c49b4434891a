/* view-campaigns.c - review and label campaigns, and one campaign's
 * live statistics
 *
 * The list is review.list; Enter opens the campaign's statistics panel
 * (review.get, then a subscription to review/ID whose review.stats
 * events redraw it): the pass rate with its interval as a bar against
 * the threshold, per-label rates, agreement, throughput per reviewer
 * and the decision. Enter there opens the review reader
 * (view-review.c). The stats object is read defensively: a field that
 * is missing is shown as "-".
 */
#include "wb.h"

#include "strbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct campaigns {
    cJSON *res;
};

static void
list_load(struct view *v)
{
    struct campaigns *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (wb_call(v->wb, "review.list", NULL, &res, &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->res);
    d->res = res;
}

static int
list_open(struct view *v, const cJSON *arg)
{
    (void)arg;
    v->priv = calloc(1, sizeof(struct campaigns));
    if (!v->priv)
        return NH_ENOMEM;
    list_load(v);
    return 0;
}

static enum wb_color
decision_color(const char *d)
{
    return !strcmp(d, "accept")   ? WB_GOOD
           : !strcmp(d, "reject") ? WB_BAD
                                  : WB_WARN;
}

static void
list_draw(struct view *v, int rows, int cols)
{
    struct campaigns *d = v->priv;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->res, "campaigns");
    int n = cJSON_GetArraySize(arr), i;

    attron(A_BOLD);
    wb_putf(1, 0, cols, "%5s  %-6s %-12s %-10s %-10s %9s  %-7s %s", "ID",
            "KIND", "NAME", "DATASET", "DESIGN", "JUDGED", "STATE", "DECISION");
    attroff(A_BOLD);
    if (!d->res)
        wb_put(2, 0, "(not connected)", (size_t)-1, cols);
    else if (n == 0)
        wb_put(2, 0, "no campaigns yet", (size_t)-1, cols);
    wb_list_clamp(v, n, rows - 1);
    for (i = v->top; i < n && i - v->top < rows - 1; i++) {
        const cJSON *c = cJSON_GetArrayItem(arr, i);
        const char *dec = json_str(c, "decision", "-");
        char judged[32];
        int y = 2 + i - v->top;
        snprintf(judged, sizeof(judged), "%lld/%lld",
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(c, "complete"), 0),
                 (long long)json_int(
                     cJSON_GetObjectItemCaseSensitive(c, "size"), 0));
        wb_putf(y, 0, cols, "%5lld  %-6s ",
                (long long)json_int(
                    cJSON_GetObjectItemCaseSensitive(c, "campaign"), 0),
                json_str(c, "kind", "?"));
        wb_put(y, 14, json_str(c, "name", ""), (size_t)-1, 12);
        wb_put(y, 27, json_str(c, "dataset", ""), (size_t)-1, 10);
        wb_putf(y, 38, cols - 38, "%-10s %9s  %-7s ",
                json_str(c, "design", "-"), judged, json_str(c, "state", "-"));
        if (cols > 68) {
            attron(wb_attr(decision_color(dec)));
            wb_put(y, 68, dec, (size_t)-1, cols - 68);
            attroff(wb_attr(decision_color(dec)));
        }
        if (i == v->sel)
            wb_highlight_row(y);
    }
}

static void
list_key(struct view *v, enum action act, int key)
{
    struct campaigns *d = v->priv;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->res, "campaigns");
    int n = cJSON_GetArraySize(arr);

    (void)key;
    if (wb_list_key(v, act, n, LINES - 3))
        return;
    if (act == ACT_REFRESH)
        list_load(v);
    else if (act == ACT_OPEN && n > 0) {
        cJSON *arg = cJSON_CreateNumber(
            (double)json_int(cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetArrayItem(arr, v->sel), "campaign"),
                             0));
        wb_push(v->wb, &view_campaign, arg);
        cJSON_Delete(arg);
    }
}

static void
list_free(struct view *v)
{
    struct campaigns *d = v->priv;

    if (d)
        cJSON_Delete(d->res);
    free(d);
}

static const struct help_line list_help[] = {
    {ACT_UP, "previous campaign"},
    {ACT_DOWN, "next campaign"},
    {ACT_OPEN, "open: live statistics"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_campaigns = {
    .name = "campaigns",
    .help = list_help,
    .open = list_open,
    .draw = list_draw,
    .key = list_key,
    .reconnected = list_load,
    .free = list_free,
};

/* ---- one campaign's statistics ------------------------------------------ */

struct campaign {
    int64_t id;
    char topic[32];
    cJSON *res;   /* review.get: summary + "stats" */
    cJSON *stats; /* the latest stats (owned) */
};

/* The first of the named members of o that is a number, or NAN. */
static double
num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, a);

    if (!cJSON_IsNumber(j) && b)
        j = cJSON_GetObjectItemCaseSensitive(o, b);
    return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

static void
camp_load(struct view *v)
{
    struct campaign *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL, *sub = NULL;

    if (wb_call_num(v->wb, "review.get", "campaign", (double)d->id, &res,
                    &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->res);
    cJSON_Delete(d->stats);
    d->res = res;
    d->stats = cJSON_DetachItemFromObjectCaseSensitive(res, "stats");
    if (wb_call_str(v->wb, "subscribe", "topic", d->topic, &sub, &err) == 0)
        cJSON_Delete(sub);
}

static int
camp_open(struct view *v, const cJSON *arg)
{
    struct campaign *d = calloc(1, sizeof(*d));

    if (!d)
        return NH_ENOMEM;
    v->priv = d;
    d->id = json_int(arg, 0);
    snprintf(d->topic, sizeof(d->topic), "review/%lld", (long long)d->id);
    camp_load(v);
    if (!d->res && wb_connected(v->wb))
        return NH_ENOENT;
    return 0;
}

static void
camp_event(struct view *v, const cJSON *ev)
{
    struct campaign *d = v->priv;
    cJSON *s;

    if (strcmp(json_str(ev, "event", ""), "review.stats") ||
        strcmp(json_str(ev, "topic", ""), d->topic))
        return;
    s = cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ev, "data"), "stats"),
        1);
    if (s) {
        cJSON_Delete(d->stats);
        d->stats = s;
    }
}

/* "0.912 [0.871, 0.942]" and an interval bar with the threshold. */
static void
rate_line(int y, int cols, const char *what, double p, double lo, double hi,
          double threshold)
{
    int bw = cols - 44, tx;

    if (isnan(p)) {
        wb_putf(y, 0, cols, "%-14s -", what);
        return;
    }
    wb_putf(y, 0, cols, "%-14s %.3f [%.3f, %.3f] ", what, p, isnan(lo) ? p : lo,
            isnan(hi) ? p : hi);
    if (bw < 10)
        return;
    if (bw > 40)
        bw = 40;
    wb_bar(y, 42, bw, p, isnan(lo) ? p : lo, isnan(hi) ? p : hi);
    if (!isnan(threshold) && threshold > 0 && threshold < 1) {
        tx = 42 + (int)(threshold * bw);
        if (tx >= 42 + bw)
            tx = 42 + bw - 1;
        attron(wb_attr(WB_WARN));
        mvaddch(y, tx, '|');
        attroff(wb_attr(WB_WARN));
    }
}

static void
camp_draw(struct view *v, int rows, int cols)
{
    struct campaign *d = v->priv;
    const cJSON *s = d->stats, *labels, *l, *revs, *r, *ag;
    const char *dec;
    double thr, kappa;
    int y = 1;

    if (!d->res) {
        wb_putf(1, 0, cols, "campaign %lld: (not loaded)", (long long)d->id);
        return;
    }
    thr = num(d->res, "threshold", NULL);
    dec = json_str(s, "decision", json_str(d->res, "decision", "-"));
    wb_putf(y++, 0, cols, "campaign %lld  %s  %s  on %s  (%s, %s)",
            (long long)d->id, json_str(d->res, "kind", "?"),
            json_str(d->res, "name", ""), json_str(d->res, "dataset", "?"),
            json_str(d->res, "design", "?"), json_str(d->res, "state", "?"));
    wb_putf(
        y++, 0, cols,
        "complete %lld of %lld  (population %lld)  threshold %.2f",
        (long long)json_int(
            cJSON_GetObjectItemCaseSensitive(s, "complete"),
            json_int(cJSON_GetObjectItemCaseSensitive(d->res, "complete"), 0)),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(d->res, "size"),
                            0),
        (long long)json_int(
            cJSON_GetObjectItemCaseSensitive(d->res, "population"), 0),
        isnan(thr) ? 0.0 : thr);
    wb_putf(
        y++, 0, cols, "accepted %lld  rejected %lld  skipped %lld",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(s, "accepted"), 0),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(s, "rejected"), 0),
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(s, "skipped"), 0));
    y++;
    rate_line(y++, cols, "pass rate", num(s, "pass_rate", "p"),
              num(s, "ci_low", "lo"), num(s, "ci_high", "hi"), thr);
    if (!isnan(num(s, "upper_3n", NULL)))
        wb_putf(y++, 0, cols, "%-14s %.3f (no rejects: rule of three)",
                "upper 3/n", num(s, "upper_3n", NULL));
    wb_put(y, 0, "decision", (size_t)-1, cols);
    attron(wb_attr(decision_color(dec)) | A_BOLD);
    wb_put(y++, 15, dec, (size_t)-1, cols - 15);
    attroff(wb_attr(decision_color(dec)) | A_BOLD);
    /* "kappa": {"method": "cohen"|"fleiss", "value", "items"} */
    ag = cJSON_GetObjectItemCaseSensitive(s, "kappa");
    kappa = cJSON_IsObject(ag) ? num(ag, "value", NULL) : NAN;
    if (isnan(kappa))
        wb_putf(y++, 0, cols, "%-14s - (needs 2+ items with 2+ raters)",
                "agreement");
    else
        wb_putf(y++, 0, cols, "%-14s %s kappa %.3f", "agreement",
                json_str(ag, "method", ""), kappa);
    labels = cJSON_GetObjectItemCaseSensitive(s, "labels");
    if (cJSON_GetArraySize(labels) > 0 && y < rows) {
        y++;
        attron(A_BOLD);
        wb_put(y++, 0, "labels", (size_t)-1, cols);
        attroff(A_BOLD);
    }
    cJSON_ArrayForEach(l, labels)
    {
        const char *name =
            cJSON_IsObject(labels) ? l->string : json_str(l, "label", "?");
        if (y >= rows)
            break;
        rate_line(y++, cols, name ? name : "?", num(l, "rate", "share"),
                  num(l, "ci_low", "lo"), num(l, "ci_high", "hi"), NAN);
    }
    revs = cJSON_GetObjectItemCaseSensitive(s, "reviewers");
    if (cJSON_GetArraySize(revs) > 0 && y + 1 < rows) {
        y++;
        attron(A_BOLD);
        wb_putf(y++, 0, cols, "%-20s %10s %10s", "REVIEWER", "JUDGMENTS",
                "PER HOUR");
        attroff(A_BOLD);
    }
    cJSON_ArrayForEach(r, revs)
    {
        double ph = num(r, "per_hour", "rate");
        if (y > rows)
            break;
        wb_putf(y++, 0, cols, "%-20s %10lld %10s",
                cJSON_IsObject(revs) ? r->string : json_str(r, "user", "?"),
                (long long)json_int(
                    cJSON_GetObjectItemCaseSensitive(r, "judgments"), 0),
                isnan(ph) ? "-" : "");
        if (!isnan(ph))
            wb_putf(y - 1, 32, cols - 32, "%10.1f", ph);
    }
    if (y < rows)
        wb_put(rows, 0, "Enter: review items", (size_t)-1, cols);
}

static void
camp_key(struct view *v, enum action act, int key)
{
    struct campaign *d = v->priv;

    (void)key;
    if (act == ACT_REFRESH)
        camp_load(v);
    else if (act == ACT_OPEN) {
        cJSON *arg = cJSON_CreateNumber((double)d->id);
        wb_push(v->wb, &view_review, arg);
        cJSON_Delete(arg);
    }
}

static void
camp_free(struct view *v)
{
    struct campaign *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (!d)
        return;
    if (d->res && wb_connected(v->wb) &&
        wb_call_str(v->wb, "unsubscribe", "topic", d->topic, &res, &err) == 0)
        cJSON_Delete(res);
    cJSON_Delete(d->res);
    cJSON_Delete(d->stats);
    free(d);
}

static const struct help_line camp_help[] = {
    {ACT_OPEN, "review: judge this campaign's items"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_campaign = {
    .name = "campaign",
    .help = camp_help,
    .open = camp_open,
    .draw = camp_draw,
    .key = camp_key,
    .event = camp_event,
    .reconnected = camp_load,
    .free = camp_free,
};
