/* view-review.c - the review reader: one document at a time, judged
 * with single keys
 *
 * Opened with a campaign id (from the campaign screen or `:review N`).
 * review.next leases an item; the document's text is laid out with
 * text.c (CJK two columns wide, breaking anywhere; Latin words at
 * spaces) and paged with j/k; `/`, `n`, `N` search it with highlights,
 * pipeline placeholders such as <PHONE> are highlighted too. The bottom
 * panel shows the item's metadata (source, stratum, the document's other
 * fields such as scores and stage stats), for an audit item the rule
 * that removed it; for a duplicate the kept document is shown side by
 * side. `a`/`r`/`s` judge and move on, `1`-`5` set a score and each
 * label has a letter (shown on screen) that toggles it; `u` undoes.
 *
 * Judgments go through wb_submit() (the outbox): when the connection
 * drops the judgment waits there, the screen says so, and after the
 * reconnect wb.c re-sends it before this view asks review.next again,
 * which gives back the item still leased to us, or the next one.
 */
#include "wb.h"

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABELS_MAX 26
#define RENEW_SECONDS 120
#define META_ROWS 5

struct pane {
    char *text; /* the document's text (owned) */
    size_t len;
    unsigned char *hl; /* per byte: 0, HL_PH or HL_MATCH */
    struct text_lines lines;
    int width; /* what lines were laid out for */
};

#define HL_PH 1
#define HL_MATCH 2

struct review {
    int64_t id;
    bool label_kind;
    char *labels[LABELS_MAX];
    int letter[LABELS_MAX]; /* 0: none */
    int nlabels;
    cJSON *item; /* the current item, or NULL */
    int64_t remaining;
    bool done;    /* review.next said there is nothing left */
    bool waiting; /* a judgment is queued: wait for the reconnect */
    struct pane doc, dup;
    unsigned chosen; /* label bits for the next judgment */
    int score;       /* 0: none */
    char query[128];
    long *matches; /* byte offsets of query in doc */
    size_t nmatches, cur;
    time_t renewed;
    time_t renew_every; /* half the lease, at most RENEW_SECONDS */
};

static void
pane_clear(struct pane *p)
{
    free(p->text);
    free(p->hl);
    text_lines_release(&p->lines);
    memset(p, 0, sizeof(*p));
}

/* The text to show of a document: its "text", else the whole JSON. */
static void
pane_set(struct pane *p, const cJSON *doc)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "text");
    size_t i, plen;
    long at;

    pane_clear(p);
    if (cJSON_IsString(t))
        p->text = strdup(t->valuestring);
    else if (doc)
        p->text = cJSON_Print(doc);
    if (!p->text)
        return;
    p->len = strlen(p->text);
    p->hl = calloc(p->len + 1, 1);
    if (!p->hl)
        return;
    for (i = 0; (at = text_find_placeholder(p->text, p->len, i, &plen)) >= 0;
         i = (size_t)at + plen)
        memset(p->hl + at, HL_PH, plen);
}

static void
pane_layout(struct pane *p, int width)
{
    if (p->width == width && p->lines.n)
        return;
    text_lines_reset(&p->lines);
    p->width = width;
    if (p->text)
        text_wrap(p->text, p->len, width, &p->lines);
}

/* Draw lines [top, top + rows) of p at (y, x), width w. */
static void
pane_draw(struct pane *p, int y, int x, int rows, int w, int top)
{
    int r;

    pane_layout(p, w);
    for (r = 0; r < rows && (size_t)(top + r) < p->lines.n; r++) {
        const struct text_line *l = &p->lines.v[top + r];
        size_t i = l->start, end = l->start + l->len;
        int col = 0;
        while (i < end) {
            int32_t cp;
            size_t k = text_next(p->text + i, end - i, &cp);
            int cw = text_cp_width(cp);
            attr_t a = !p->hl                 ? 0
                       : p->hl[i] == HL_MATCH ? wb_attr(WB_MARK)
                       : p->hl[i] == HL_PH    ? wb_attr(WB_PH)
                                              : 0;
            if (col + cw > w)
                break;
            if (a)
                attron(a);
            wb_put(y + r, x + col, p->text + i, k, cw);
            if (a)
                attroff(a);
            col += cw;
            i += k;
        }
    }
}

/* ---- the item -------------------------------------------------------- */

static void
search_apply(struct review *d)
{
    size_t i;
    long at;

    free(d->matches);
    d->matches = NULL;
    d->nmatches = d->cur = 0;
    if (!d->doc.hl)
        return;
    for (i = 0; i < d->doc.len; i++)
        if (d->doc.hl[i] == HL_MATCH)
            d->doc.hl[i] = 0;
    if (!d->query[0])
        return;
    /* re-mark placeholders a previous match covered */
    {
        size_t plen;
        for (i = 0; (at = text_find_placeholder(d->doc.text, d->doc.len, i,
                                                &plen)) >= 0;
             i = (size_t)at + plen)
            memset(d->doc.hl + at, HL_PH, plen);
    }
    for (i = 0; (at = text_find(d->doc.text, d->doc.len, i, d->query,
                                strlen(d->query))) >= 0;
         i = (size_t)at + strlen(d->query)) {
        long *m = realloc(d->matches, (d->nmatches + 1) * sizeof(*m));
        if (!m)
            break;
        d->matches = m;
        d->matches[d->nmatches++] = at;
        memset(d->doc.hl + at, HL_MATCH, strlen(d->query));
    }
}

static void
set_item(struct view *v, cJSON *item)
{
    struct review *d = v->priv;
    const cJSON *audit, *mine, *l;
    int i;

    cJSON_Delete(d->item);
    d->item = item;
    d->chosen = 0;
    d->score = 0;
    v->top = 0;
    pane_clear(&d->doc);
    pane_clear(&d->dup);
    if (!item)
        return;
    pane_set(&d->doc, cJSON_GetObjectItemCaseSensitive(item, "doc"));
    audit = cJSON_GetObjectItemCaseSensitive(item, "audit");
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(audit, "duplicate")))
        pane_set(&d->dup, cJSON_GetObjectItemCaseSensitive(audit, "duplicate"));
    /* my earlier judgment (after an undo or a resume) preselects */
    mine = cJSON_GetObjectItemCaseSensitive(item, "mine");
    d->score =
        (int)json_int(cJSON_GetObjectItemCaseSensitive(mine, "score"), 0);
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(mine, "labels"))
    {
        for (i = 0; i < d->nlabels; i++)
            if (cJSON_IsString(l) && !strcmp(l->valuestring, d->labels[i]))
                d->chosen |= 1u << i;
    }
    search_apply(d);
    d->renewed = time(NULL);
    {
        time_t lease =
            (time_t)json_int(
                cJSON_GetObjectItemCaseSensitive(item, "lease_expires"), 0) -
            d->renewed;

        d->renew_every = lease / 2 < 1               ? 1
                         : lease / 2 > RENEW_SECONDS ? RENEW_SECONDS
                                                     : lease / 2;
    }
}

static void
next_item(struct view *v)
{
    struct review *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL;

    if (wb_pending(v->wb)) {
        d->waiting = true;
        return;
    }
    if (wb_call_num(v->wb, "review.next", "campaign", (double)d->id, &res,
                    &err) < 0) {
        if (err.code != CLIENT_ECLOSED)
            wb_msg(v->wb, "%s", err.msg);
        return;
    }
    d->waiting = false;
    d->remaining =
        json_int(cJSON_GetObjectItemCaseSensitive(res, "remaining"), 0);
    {
        cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(res, "item");
        if (item && !cJSON_IsObject(item)) {
            cJSON_Delete(item);
            item = NULL;
        }
        d->done = !item;
        set_item(v, item);
    }
    cJSON_Delete(res);
}

/* Letters for the labels: the first letter of each name that is neither
 * bound to a key nor taken by an earlier label, else any free letter. */
static void
assign_letters(struct view *v)
{
    struct review *d = v->priv;
    const struct keymap *km = wb_keymap(v->wb);
    bool used[128] = {false};
    int i, c;
    const char *p;

    for (c = 'a'; c <= 'z'; c++)
        used[c] = keymap_bound(km, c);
    for (i = 0; i < d->nlabels; i++) {
        d->letter[i] = 0;
        for (p = d->labels[i]; *p && !d->letter[i]; p++) {
            c = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;
            if (c >= 'a' && c <= 'z' && !used[c])
                d->letter[i] = c;
        }
        for (c = 'a'; c <= 'z' && !d->letter[i]; c++)
            if (!used[c])
                d->letter[i] = c;
        if (d->letter[i])
            used[d->letter[i]] = true;
    }
}

static int
rv_open(struct view *v, const cJSON *arg)
{
    struct review *d = calloc(1, sizeof(*d));
    struct nh_error err;
    cJSON *res = NULL;
    const cJSON *l;
    int rc;

    if (!d)
        return NH_ENOMEM;
    v->priv = d;
    d->id = json_int(arg, 0);
    rc =
        wb_call_num(v->wb, "review.get", "campaign", (double)d->id, &res, &err);
    if (rc < 0) {
        wb_msg(v->wb, "%s", err.msg);
        return rc;
    }
    d->label_kind = !strcmp(json_str(res, "kind", "review"), "label");
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(res, "labels"))
    {
        if (cJSON_IsString(l) && d->nlabels < LABELS_MAX)
            d->labels[d->nlabels++] = strdup(l->valuestring);
    }
    cJSON_Delete(res);
    assign_letters(v);
    next_item(v);
    return 0;
}

/* ---- drawing ------------------------------------------------------------ */

/* "key: value" of the document's fields other than text, into sb. */
static void
doc_fields(const cJSON *doc, struct strbuf *sb)
{
    const cJSON *f;

    cJSON_ArrayForEach(f, doc)
    {
        char *s;
        if (!f->string || !strcmp(f->string, "text"))
            continue;
        if (sb->len)
            strbuf_addstr(sb, "  ");
        if (cJSON_IsString(f)) {
            strbuf_addf(sb, "%s: %s", f->string, f->valuestring);
            continue;
        }
        s = cJSON_PrintUnformatted(f);
        if (s)
            strbuf_addf(sb, "%s: %.200s", f->string, s);
        free(s);
    }
}

static void
draw_meta(struct view *v, int y, int cols)
{
    struct review *d = v->priv;
    const cJSON *it = d->item;
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(it, "doc");
    const cJSON *audit = cJSON_GetObjectItemCaseSensitive(it, "audit");
    struct strbuf sb = STRBUF_INIT;
    char keys[24];
    int i, x;

    mvhline(y, 0, ACS_HLINE, cols);
    y++;
    doc_fields(doc, &sb);
    wb_putf(y++, 0, cols, "stratum %s  %s", json_str(it, "stratum", "-"),
            strbuf_str(&sb));
    strbuf_reset(&sb);
    if (cJSON_IsObject(audit)) {
        attron(wb_attr(WB_BAD));
        wb_putf(y++, 0, cols, "removed by %s: %s%s%s",
                json_str(audit, "removed_by", "?"),
                json_str(audit, "reason", "-"),
                json_str(audit, "duplicate_of", NULL) ? "  duplicate of " : "",
                json_str(audit, "duplicate_of", ""));
        attroff(wb_attr(WB_BAD));
    } else {
        y++;
    }
    /* labels with their letters, the score, then the verdict keys */
    x = 0;
    for (i = 0; i < d->nlabels && x < cols; i++) {
        bool on = d->chosen & (1u << i);
        if (on)
            attron(wb_attr(WB_GOOD) | A_BOLD);
        x += wb_putf(y, x, cols - x, "[%c]%s%s ",
                     d->letter[i] ? d->letter[i] : ' ', d->labels[i],
                     on ? "+" : "");
        if (on)
            attroff(wb_attr(WB_GOOD) | A_BOLD);
    }
    if (x < cols)
        wb_putf(y, x, cols - x, " score %c", d->score ? '0' + d->score : '-');
    y++;
    keymap_keys(wb_keymap(v->wb), d->label_kind ? ACT_ACCEPT : ACT_ACCEPT, keys,
                sizeof(keys));
    if (d->label_kind)
        wb_putf(y, 0, cols,
                "%s submit labels  s skip  1-5 score  u undo  "
                "/ search  ? help",
                keys);
    else
        wb_putf(y, 0, cols,
                "%s accept  r reject  s skip  1-5 score  u undo  "
                "/ search  ? help",
                keys);
    strbuf_release(&sb);
}

static void
rv_draw(struct view *v, int rows, int cols)
{
    struct review *d = v->priv;
    int doc_rows = rows - 1 - META_ROWS, y = 2, w = cols;

    if (doc_rows < 1)
        doc_rows = 1;
    if (!d->item) {
        wb_putf(1, 0, cols, "campaign %lld", (long long)d->id);
        if (d->waiting || !wb_connected(v->wb))
            wb_put(3, 2, "judgment queued; waiting for the server", (size_t)-1,
                   cols - 2);
        else if (d->done)
            wb_put(3, 2, "nothing left to review in this campaign", (size_t)-1,
                   cols - 2);
        return;
    }
    wb_putf(1, 0, cols, "campaign %lld  item %lld  %lld left%s%s%s",
            (long long)d->id,
            (long long)json_int(
                cJSON_GetObjectItemCaseSensitive(d->item, "item"), 0),
            (long long)d->remaining, d->query[0] ? "  /" : "", d->query,
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(d->item, "mine"))
                ? "  (judged)"
                : "");
    if (d->dup.text) {
        /* side by side: this document | the one it duplicates */
        w = (cols - 1) / 2;
        pane_draw(&d->doc, y, 0, doc_rows, w, v->top);
        mvvline(y, w, ACS_VLINE, doc_rows);
        attron(wb_attr(WB_DIM));
        pane_draw(&d->dup, y, w + 1, doc_rows, cols - w - 1, v->top);
        attroff(wb_attr(WB_DIM));
    } else {
        pane_draw(&d->doc, y, 0, doc_rows, w, v->top);
    }
    if (d->doc.lines.n > (size_t)doc_rows)
        wb_putf(1, cols - 12, 12, "%5d/%-5zu", v->top + 1, d->doc.lines.n);
    draw_meta(v, y + doc_rows, cols);
}

/* ---- keys ------------------------------------------------------------- */

static void
judge(struct view *v, const char *verdict)
{
    struct review *d = v->priv;
    struct nh_error err;
    cJSON *args = cJSON_CreateObject(), *labels, *res = NULL;
    int i, rc;

    if (!d->item || !args) {
        cJSON_Delete(args);
        return;
    }
    labels = cJSON_AddArrayToObject(args, "labels");
    cJSON_AddNumberToObject(args, "campaign", (double)d->id);
    cJSON_AddNumberToObject(
        args, "item",
        (double)json_int(cJSON_GetObjectItemCaseSensitive(d->item, "item"), 0));
    if (verdict)
        cJSON_AddStringToObject(args, "verdict", verdict);
    for (i = 0; i < d->nlabels; i++)
        if (d->chosen & (1u << i))
            cJSON_AddItemToArray(labels, cJSON_CreateString(d->labels[i]));
    if (d->score)
        cJSON_AddNumberToObject(args, "score", d->score);
    rc = wb_submit(v->wb, args, &res, &err);
    cJSON_Delete(res);
    if (rc == CLIENT_ECLOSED) {
        /* kept in the outbox; resent after the reconnect */
        set_item(v, NULL);
        d->waiting = true;
        return;
    }
    if (rc < 0) {
        wb_msg(v->wb, "%s", err.msg);
        return;
    }
    wb_msg(v->wb, "%s", verdict ? verdict : "labels saved");
    next_item(v);
}

static void
undo(struct view *v)
{
    struct review *d = v->priv;
    struct nh_error err;
    cJSON *res = NULL, *item;

    if (wb_pending(v->wb)) {
        wb_msg(v->wb, "wait: a judgment is not sent yet");
        return;
    }
    if (wb_call_num(v->wb, "review.undo", "campaign", (double)d->id, &res,
                    &err) < 0) {
        wb_msg(v->wb, "%s", err.msg);
        return;
    }
    item = cJSON_DetachItemFromObjectCaseSensitive(res, "item");
    cJSON_Delete(res);
    if (!cJSON_IsObject(item)) {
        cJSON_Delete(item);
        wb_msg(v->wb, "nothing to undo");
        return;
    }
    d->done = false;
    set_item(v, item);
    wb_msg(v->wb, "undone");
}

/* Scroll so that doc byte offset at is on screen. */
static void
show_offset(struct view *v, long at)
{
    struct review *d = v->priv;
    size_t i;

    for (i = 0; i < d->doc.lines.n; i++)
        if ((size_t)at < d->doc.lines.v[i].start + d->doc.lines.v[i].len ||
            i + 1 == d->doc.lines.n) {
            v->top = i > 2 ? (int)i - 2 : 0;
            return;
        }
}

static void
rv_key(struct view *v, enum action act, int key)
{
    struct review *d = v->priv;
    int page = LINES - 4 - META_ROWS, i;
    int n = (int)d->doc.lines.n;

    if (page < 1)
        page = 1;
    switch (act) {
    case ACT_UP:
        v->top--;
        break;
    case ACT_DOWN:
        v->top++;
        break;
    case ACT_PGUP:
        v->top -= page;
        break;
    case ACT_PGDN:
        v->top += page;
        break;
    case ACT_HOME:
        v->top = 0;
        break;
    case ACT_END:
        v->top = n - page;
        break;
    case ACT_ACCEPT:
        judge(v, d->label_kind ? NULL : "accept");
        break;
    case ACT_REJECT:
        if (d->label_kind)
            wb_msg(v->wb, "a label campaign has no verdict");
        else
            judge(v, "reject");
        break;
    case ACT_SKIP:
        judge(v, "skip");
        break;
    case ACT_UNDO:
        undo(v);
        break;
    case ACT_SCORE1:
    case ACT_SCORE2:
    case ACT_SCORE3:
    case ACT_SCORE4:
    case ACT_SCORE5:
        d->score = d->score == (int)(act - ACT_SCORE1 + 1)
                       ? 0
                       : (int)(act - ACT_SCORE1 + 1);
        break;
    case ACT_SEARCH: {
        char q[sizeof(d->query)];
        if (wb_prompt(v->wb, "/", q, sizeof(q)) < 0)
            break;
        memcpy(d->query, q, sizeof(q));
        search_apply(d);
        if (d->query[0] && !d->nmatches)
            wb_msg(v->wb, "not found: %s", d->query);
        else if (d->nmatches)
            show_offset(v, d->matches[0]);
        break;
    }
    case ACT_NEXT:
    case ACT_PREV:
        if (!d->nmatches)
            break;
        d->cur = act == ACT_NEXT ? (d->cur + 1) % d->nmatches
                                 : (d->cur + d->nmatches - 1) % d->nmatches;
        show_offset(v, d->matches[d->cur]);
        wb_msg(v->wb, "match %zu of %zu", d->cur + 1, d->nmatches);
        break;
    case ACT_REFRESH:
        next_item(v);
        break;
    case ACT_NONE:
        for (i = 0; i < d->nlabels; i++)
            if (d->letter[i] && d->letter[i] == key)
                d->chosen ^= 1u << i;
        break;
    default:
        break;
    }
    if (v->top > n - 1)
        v->top = n - 1;
    if (v->top < 0)
        v->top = 0;
}

static void
rv_reconnected(struct view *v)
{
    /* the outbox was re-sent before this: ask again; the server gives
     * back the item it leased to us if we had not judged it */
    next_item(v);
}

static void
rv_tick(struct view *v)
{
    struct review *d = v->priv;
    struct nh_error err;
    cJSON *args, *res = NULL;

    if (d->waiting && !wb_pending(v->wb)) {
        next_item(v);
        return;
    }
    if (!d->item || time(NULL) - d->renewed < d->renew_every)
        return;
    d->renewed = time(NULL);
    args = cJSON_CreateObject();
    if (args && cJSON_AddNumberToObject(args, "campaign", (double)d->id) &&
        cJSON_AddNumberToObject(
            args, "item",
            (double)json_int(cJSON_GetObjectItemCaseSensitive(d->item, "item"),
                             0)) &&
        wb_call(v->wb, "review.renew", args, &res, &err) == 0)
        cJSON_Delete(res);
    cJSON_Delete(args);
}

static int
rv_help_extra(struct view *v, char lines[][96], int max)
{
    struct review *d = v->priv;
    int i, n = 0;

    for (i = 0; i < d->nlabels && n < max; i++)
        if (d->letter[i])
            snprintf(lines[n++], 96, "  %-14c toggle label '%s'", d->letter[i],
                     d->labels[i]);
    return n;
}

static void
rv_free(struct view *v)
{
    struct review *d = v->priv;
    int i;

    if (!d)
        return;
    for (i = 0; i < d->nlabels; i++)
        free(d->labels[i]);
    cJSON_Delete(d->item);
    pane_clear(&d->doc);
    pane_clear(&d->dup);
    free(d->matches);
    free(d);
}

static const struct help_line rv_help[] = {
    {ACT_ACCEPT, "accept and go on (label campaigns: submit the labels)"},
    {ACT_REJECT, "reject and go on"},
    {ACT_SKIP, "skip and go on"},
    {ACT_SCORE1, "score 1 (again: none)"},
    {ACT_SCORE2, "score 2"},
    {ACT_SCORE3, "score 3"},
    {ACT_SCORE4, "score 4"},
    {ACT_SCORE5, "score 5"},
    {ACT_UNDO, "undo my last judgment"},
    {ACT_UP, "scroll up"},
    {ACT_DOWN, "scroll down"},
    {ACT_PGUP, "page up"},
    {ACT_PGDN, "page down"},
    {ACT_SEARCH, "search the document"},
    {ACT_NEXT, "next match"},
    {ACT_PREV, "previous match"},
    {ACT_NONE, NULL},
};

const struct view_ops view_review = {
    .name = "review",
    .help = rv_help,
    .open = rv_open,
    .draw = rv_draw,
    .key = rv_key,
    .reconnected = rv_reconnected,
    .tick = rv_tick,
    .help_extra = rv_help_extra,
    .free = rv_free,
};
