/* view-datasets.c - the workbench's first screen: every dataset
 *
 * One row per dataset from dataset.list; Enter opens its versions
 * (view-dataset.c). Reloads after a reconnect and on `R`.
 */
#include "wb.h"

#include <stdlib.h>

struct datasets {
    cJSON *list; /* dataset.list's "datasets" array (owned via res) */
    cJSON *res;
};

static void
load(struct view *v)
{
    struct datasets *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;
    int rc = wb_call(v->wb, "dataset.list", NULL, &res, &err);

    if (rc < 0) {
        if (rc != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->res);
    d->res = res;
    d->list = cJSON_GetObjectItemCaseSensitive(res, "datasets");
}

static int
ds_open(struct view *v, const cJSON *arg)
{
    (void)arg;
    v->priv = calloc(1, sizeof(struct datasets));
    if (!v->priv)
        return NH_ENOMEM;
    load(v);
    return 0;
}

static void
ds_draw(struct view *v, int rows, int cols)
{
    struct datasets *d = v->priv;
    int n = cJSON_GetArraySize(d->list), i;

    attron(A_BOLD);
    wb_putf(1, 0, cols, "%-24s %8s  %-12s %10s %9s", "NAME", "VERSIONS",
            "LATEST", "DOCS", "SIZE");
    attroff(A_BOLD);
    if (!d->res) {
        wb_put(2, 0, wb_connected(v->wb) ? "(no data)" : "(not connected)",
               (size_t)-1, cols);
        return;
    }
    if (n == 0)
        wb_put(2, 0, "no datasets yet: nh dataset import NAME FILE...",
               (size_t)-1, cols);
    wb_list_clamp(v, n, rows - 1);
    for (i = v->top; i < n && i - v->top < rows - 1; i++) {
        const cJSON *e = cJSON_GetArrayItem(d->list, i);
        char id[16], size[32];
        int y = 2 + i - v->top;
        wb_put(y, 0, json_str(e, "name", "?"), (size_t)-1, 24);
        wb_putf(
            y, 24, cols - 24, " %8lld  %-12s %10lld %9s",
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(e, "versions"),
                                0),
            short_id(json_str(e, "latest", NULL), id, 12),
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(e, "docs"), 0),
            fmt_size((double)json_int(
                         cJSON_GetObjectItemCaseSensitive(e, "bytes"), 0),
                     size, sizeof(size)));
        if (i == v->sel)
            wb_highlight_row(y);
    }
}

static void
ds_key(struct view *v, enum action act, int key)
{
    struct datasets *d = v->priv;
    int n = cJSON_GetArraySize(d->list);

    (void)key;
    if (wb_list_key(v, act, n, LINES - 3))
        return;
    if (act == ACT_REFRESH)
        load(v);
    else if (act == ACT_OPEN && n > 0) {
        const cJSON *e = cJSON_GetArrayItem(d->list, v->sel);
        cJSON *name = cJSON_CreateString(json_str(e, "name", ""));
        if (name)
            wb_push(v->wb, &view_dataset, name);
        cJSON_Delete(name);
    }
}

static void
ds_free(struct view *v)
{
    struct datasets *d = v->priv;

    if (d)
        cJSON_Delete(d->res);
    free(d);
}

static const struct help_line ds_help[] = {
    {ACT_UP, "previous dataset"},
    {ACT_DOWN, "next dataset"},
    {ACT_PGUP, "page up"},
    {ACT_PGDN, "page down"},
    {ACT_HOME, "first"},
    {ACT_END, "last"},
    {ACT_OPEN, "open: versions, lineage, stage statistics"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_datasets = {
    .name = "datasets",
    .help = ds_help,
    .open = ds_open,
    .draw = ds_draw,
    .key = ds_key,
    .reconnected = load,
    .free = ds_free,
};
