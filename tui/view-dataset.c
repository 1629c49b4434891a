/* view-dataset.c - one dataset: its versions, lineage tree, stage stats
 *
 * Opened from the datasets screen with the dataset's name. The top
 * half lists dataset.versions (newest first); the bottom half shows the
 * lineage tree of dataset.lineage with the selected version marked, and
 * the per-stage statistics of the job that made the selected version
 * (job.get, fetched when the selection lands on it).
 */
#include "wb.h"

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

#define TREE_MAX 256

struct dataset {
    char name[128];
    cJSON *versions; /* dataset.versions result */
    cJSON *lineage;  /* dataset.lineage result */
    cJSON *job;      /* job.get of the selected version's job, or NULL */
    int64_t job_id;  /* whose job is in job (0: none) */
    char *tree[TREE_MAX];
    int ntree;
};

static void
tree_clear(struct dataset *d)
{
    int i;

    for (i = 0; i < d->ntree; i++)
        free(d->tree[i]);
    d->ntree = 0;
}

/* The lineage as lines "prefix id  docs  size  [tags]  job N". */
static void
tree_add(struct dataset *d, const cJSON *nodes, const cJSON *node,
         struct strbuf *prefix, bool last, bool top, int depth)
{
    const char *id = json_str(node, "id", "");
    const cJSON *n, *lastchild = NULL;
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(node, "job");
    struct strbuf line = STRBUF_INIT;
    char sid[16], size[32];
    size_t plen = prefix->len;

    if (depth > 64 || d->ntree >= TREE_MAX)
        return;
    strbuf_addf(&line, "%s%s%s", strbuf_str(prefix),
                top ? "" : (last ? "└─ " : "├─ "), short_id(id, sid, 12));
    if (strcmp(json_str(node, "dataset", ""), d->name))
        strbuf_addf(&line, " (%s)", json_str(node, "dataset", ""));
    strbuf_addf(
        &line, "  %lld docs  %s",
        (long long)json_int(cJSON_GetObjectItemCaseSensitive(node, "docs"), 0),
        fmt_size((double)json_int(
                     cJSON_GetObjectItemCaseSensitive(node, "bytes"), 0),
                 size, sizeof(size)));
    if (cJSON_IsNumber(job))
        strbuf_addf(&line, "  job %lld", (long long)json_int(job, 0));
    d->tree[d->ntree++] = strbuf_detach(&line, NULL);
    if (!top)
        strbuf_addstr(prefix, last ? "   " : "│  ");
    cJSON_ArrayForEach(n, nodes)
    {
        const char *p = json_str(n, "parent", NULL);
        if (p && !strcmp(p, id))
            lastchild = n;
    }
    cJSON_ArrayForEach(n, nodes)
    {
        const char *p = json_str(n, "parent", NULL);
        if (p && !strcmp(p, id))
            tree_add(d, nodes, n, prefix, n == lastchild, false, depth + 1);
    }
    strbuf_setlen(prefix, plen);
}

static void
load(struct view *v)
{
    struct dataset *d = v->priv;
    struct nh_error err;
    cJSON *vers = NULL, *lin = NULL;
    const cJSON *n, *nodes;
    struct strbuf prefix = STRBUF_INIT;

    if (wb_call_str(v->wb, "dataset.versions", "name", d->name, &vers, &err) <
            0 ||
        wb_call_str(v->wb, "dataset.lineage", "ref", d->name, &lin, &err) < 0) {
        cJSON_Delete(vers);
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    cJSON_Delete(d->versions);
    cJSON_Delete(d->lineage);
    d->versions = vers;
    d->lineage = lin;
    tree_clear(d);
    nodes = cJSON_GetObjectItemCaseSensitive(lin, "nodes");
    cJSON_ArrayForEach(n, nodes)
    {
        /* roots: nodes whose parent is not in the list */
        const char *p = json_str(n, "parent", NULL);
        const cJSON *m;
        bool found = false;
        cJSON_ArrayForEach(m, nodes) if (p && !strcmp(json_str(m, "id", ""), p))
            found = true;
        if (!found)
            tree_add(d, nodes, n, &prefix, true, true, 0);
    }
    strbuf_release(&prefix);
    d->job_id = -1;
}

static int
dv_open(struct view *v, const cJSON *arg)
{
    struct dataset *d = calloc(1, sizeof(*d));

    if (!d)
        return NH_ENOMEM;
    v->priv = d;
    snprintf(d->name, sizeof(d->name), "%s",
             cJSON_IsString(arg) ? arg->valuestring : "");
    load(v);
    return 0;
}

static const cJSON *
selected(struct view *v)
{
    struct dataset *d = v->priv;

    return cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(d->versions, "versions"), v->sel);
}

/* Fetch the job of the selected version when it changed. */
static void
fetch_job(struct view *v)
{
    struct dataset *d = v->priv;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(selected(v), "job");
    int64_t id = cJSON_IsNumber(j) ? json_int(j, 0) : 0;
    struct nh_error err;
    cJSON *res = NULL;

    if (id == d->job_id)
        return;
    cJSON_Delete(d->job);
    d->job = NULL;
    d->job_id = id;
    if (id > 0 &&
        wb_call_num(v->wb, "job.get", "job", (double)id, &res, &err) == 0)
        d->job = res;
}

static void
dv_draw(struct view *v, int rows, int cols)
{
    struct dataset *d = v->priv;
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(d->versions, "versions");
    const char *sel_id = json_str(selected(v), "id", "");
    int n = cJSON_GetArraySize(vs), i, y, list_rows = rows / 3;

    if (list_rows < 3)
        list_rows = 3;
    attron(A_BOLD);
    wb_putf(1, 0, cols, "%s: %d version(s)", d->name, n);
    wb_putf(2, 0, cols, "%-12s  %8s %9s  %-16s %6s  %s", "VERSION", "DOCS",
            "SIZE", "CREATED", "JOB", "TAGS");
    attroff(A_BOLD);
    wb_list_clamp(v, n, list_rows);
    fetch_job(v);
    for (i = v->top; i < n && i - v->top < list_rows; i++) {
        const cJSON *e = cJSON_GetArrayItem(vs, i);
        const cJSON *job = cJSON_GetObjectItemCaseSensitive(e, "job"), *t;
        char id[16], size[32], when[32], jb[24] = "-";
        struct strbuf tags = STRBUF_INIT;
        y = 3 + i - v->top;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(e, "tags"))
        {
            if (cJSON_IsString(t))
                strbuf_addf(&tags, "%s%s", tags.len ? "," : "", t->valuestring);
        }
        if (cJSON_IsNumber(job))
            snprintf(jb, sizeof(jb), "%lld", (long long)json_int(job, 0));
        wb_putf(
            y, 0, cols, "%-12s  %8lld %9s  %-16s %6s  %s",
            short_id(json_str(e, "id", NULL), id, 12),
            (long long)json_int(cJSON_GetObjectItemCaseSensitive(e, "docs"), 0),
            fmt_size((double)json_int(
                         cJSON_GetObjectItemCaseSensitive(e, "bytes"), 0),
                     size, sizeof(size)),
            fmt_time(cJSON_GetObjectItemCaseSensitive(e, "created"), when,
                     sizeof(when)),
            jb, strbuf_str(&tags));
        strbuf_release(&tags);
        if (i == v->sel)
            wb_highlight_row(y);
    }
    y = 3 + list_rows + 1;
    attron(A_BOLD);
    wb_put(y++, 0, "lineage", (size_t)-1, cols);
    attroff(A_BOLD);
    for (i = 0; i < d->ntree && y < rows + 1; i++, y++) {
        char sid[16];
        bool mark = sel_id[0] && strstr(d->tree[i], short_id(sel_id, sid, 12));
        if (mark)
            attron(A_BOLD);
        wb_put(y, 0, d->tree[i], (size_t)-1, cols);
        if (mark) {
            wb_put(y, text_width(d->tree[i], strlen(d->tree[i])), "  *", 3, 3);
            attroff(A_BOLD);
        }
    }
    if (d->job && y + 2 < rows + 1) {
        attron(A_BOLD);
        wb_putf(++y, 0, cols, "job %lld (%s): stages", (long long)d->job_id,
                json_str(d->job, "state", "?"));
        attroff(A_BOLD);
        view_stage_table(y + 1, rows + 1 - y - 1, cols,
                         cJSON_GetObjectItemCaseSensitive(d->job, "stats"));
    }
}

static void
dv_key(struct view *v, enum action act, int key)
{
    struct dataset *d = v->priv;
    int n = cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(d->versions, "versions"));

    (void)key;
    if (wb_list_key(v, act, n, 3))
        return;
    if (act == ACT_REFRESH)
        load(v);
    else if (act == ACT_OPEN && d->job_id > 0) {
        cJSON *arg = cJSON_CreateNumber((double)d->job_id);
        wb_push(v->wb, &view_job, arg);
        cJSON_Delete(arg);
    }
}

static void
dv_free(struct view *v)
{
    struct dataset *d = v->priv;

    if (!d)
        return;
    tree_clear(d);
    cJSON_Delete(d->versions);
    cJSON_Delete(d->lineage);
    cJSON_Delete(d->job);
    free(d);
}

static const struct help_line dv_help[] = {
    {ACT_UP, "newer version"},
    {ACT_DOWN, "older version"},
    {ACT_HOME, "newest"},
    {ACT_END, "oldest"},
    {ACT_OPEN, "open the job that made the version"},
    {ACT_REFRESH, "reload"},
    {ACT_NONE, NULL},
};

const struct view_ops view_dataset = {
    .name = "dataset",
    .help = dv_help,
    .open = dv_open,
    .draw = dv_draw,
    .key = dv_key,
    .reconnected = load,
    .free = dv_free,
};
