/* wb.c - the workbench's main loop: terminal, connection, view stack
 *
 * `nh` with no arguments lands here (nh.c). The loop waits for a key
 * with a short timeout, then drains the server's events (job.progress,
 * job.state, job.log, review.stats) into every open view, and redraws
 * the top view. When the connection drops, the status line says
 * "reconnecting…" and the loop retries with backoff; after a reconnect
 * the outbox of judgments is re-sent in order and each view subscribes
 * and reloads again (see wb.h, outbox.c).
 */
#include "wb.h"

#include "strbuf.h"

#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#define WB_BACKOFF_MIN_MS 250
#define WB_BACKOFF_MAX_MS 8000
#define WB_CALL_TIMEOUT_MS 30000
#define WB_CONNECT_TIMEOUT_MS 3000

struct wb {
    char *server, *token;
    struct client *c;
    struct keymap km;
    struct outbox *outbox;
    struct view *top;
    bool quit;
    bool help;
    int help_top;
    bool colors;
    bool utf8;
    char user[64];
    char msg[256];
    int tries;
    int backoff_ms;
    int64_t next_try_ms;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
wb_msg(struct wb *wb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(wb->msg, sizeof(wb->msg), fmt, ap);
    va_end(ap);
}

const struct keymap *
wb_keymap(const struct wb *wb)
{
    return &wb->km;
}

bool
wb_connected(const struct wb *wb)
{
    return wb->c != NULL;
}

/* ---- the connection ------------------------------------------------------ */

static void
disconnect(struct wb *wb)
{
    client_free(wb->c);
    wb->c = NULL;
    wb->tries = 0;
    wb->backoff_ms = WB_BACKOFF_MIN_MS;
    wb->next_try_ms = now_ms();
}

int
wb_call(struct wb *wb, const char *op, const cJSON *args, cJSON **res,
        struct nh_error *err)
{
    int rc;

    if (!wb->c)
        return nh_errorf(err, CLIENT_ECLOSED, "not connected");
    rc = client_call(wb->c, op, args, res, err);
    if (rc == CLIENT_ECLOSED || rc == CLIENT_ETIMEOUT) {
        disconnect(wb);
        rc = CLIENT_ECLOSED;
    }
    return rc;
}

int
wb_call_num(struct wb *wb, const char *op, const char *key, double n,
            cJSON **res, struct nh_error *err)
{
    cJSON *a = cJSON_CreateObject();
    int rc;

    if (!a || !cJSON_AddNumberToObject(a, key, n)) {
        cJSON_Delete(a);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    rc = wb_call(wb, op, a, res, err);
    cJSON_Delete(a);
    return rc;
}

int
wb_call_str(struct wb *wb, const char *op, const char *key, const char *s,
            cJSON **res, struct nh_error *err)
{
    cJSON *a = cJSON_CreateObject();
    int rc;

    if (!a || !cJSON_AddStringToObject(a, key, s)) {
        cJSON_Delete(a);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    rc = wb_call(wb, op, a, res, err);
    cJSON_Delete(a);
    return rc;
}

/* Did the server refuse the last call for good (the request itself is
 * wrong), rather than fail for now? */
static bool
refused(struct wb *wb)
{
    const char *code = client_error_code(wb->c);

    return !strcmp(code, "bad_request") || !strcmp(code, "not_found") ||
           !strcmp(code, "conflict") || !strcmp(code, "forbidden");
}

/* Send the outbox in order until it is empty or the connection drops. A
 * judgment the server refuses is dropped with a message. */
static int
outbox_flush(struct wb *wb, cJSON **last_res, struct nh_error *err)
{
    while (outbox_len(wb->outbox)) {
        cJSON *res = NULL;
        int rc =
            wb_call(wb, "review.submit", outbox_first(wb->outbox), &res, err);
        if (rc == CLIENT_ECLOSED)
            return rc;
        /* only a definite refusal drops a judgment; anything else (a
         * busy database, a timeout) is tried again later: a re-sent
         * request id counts once */
        if (rc < 0 && !(rc == CLIENT_EREMOTE && refused(wb))) {
            wb_msg(wb, "judgment kept to send again: %s", err->msg);
            cJSON_Delete(res);
            return rc;
        }
        if (rc < 0)
            wb_msg(wb, "judgment refused: %s", err->msg);
        outbox_drop_first(wb->outbox);
        if (last_res) {
            cJSON_Delete(*last_res);
            *last_res = res;
        } else {
            cJSON_Delete(res);
        }
        if (rc < 0 && !outbox_len(wb->outbox))
            return rc;
    }
    return 0;
}

int
wb_submit(struct wb *wb, cJSON *args, cJSON **res, struct nh_error *err)
{
    cJSON *last = NULL;
    int rc = outbox_add(wb->outbox, args, err);

    if (rc < 0)
        return rc;
    if (!wb->c)
        return nh_errorf(err, CLIENT_ECLOSED, "not connected");
    rc = outbox_flush(wb, &last, err);
    if (rc == 0 && res)
        *res = last;
    else
        cJSON_Delete(last);
    return rc;
}

size_t
wb_pending(const struct wb *wb)
{
    return outbox_len(wb->outbox);
}

static void
views_reconnected(struct view *v)
{
    if (!v)
        return;
    views_reconnected(v->below);
    if (v->ops->reconnected)
        v->ops->reconnected(v);
}

/* Connect (waiting at most WB_CONNECT_TIMEOUT_MS, so that an unreachable
 * host does not freeze the screen for long) and authenticate. */
static int
connect_auth(struct wb *wb, cJSON **user, struct nh_error *err)
{
    struct client *c = NULL;
    cJSON *args = cJSON_CreateObject();
    int rc;

    if (!args || !cJSON_AddStringToObject(args, "token", wb->token)) {
        cJSON_Delete(args);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    rc = client_open(&c, wb->server, WB_CONNECT_TIMEOUT_MS, err);
    if (rc == 0) {
        client_set_timeout(c, WB_CONNECT_TIMEOUT_MS);
        rc = client_call(c, "auth", args, user, err);
    }
    cJSON_Delete(args);
    if (rc < 0) {
        client_free(c);
        return rc;
    }
    wb->c = c;
    return 0;
}

/* One connection attempt when it is time; backoff doubles on failure. */
static void
try_connect(struct wb *wb)
{
    struct nh_error err;
    cJSON *user = NULL;

    if (wb->c || now_ms() < wb->next_try_ms)
        return;
    wb->tries++;
    if (connect_auth(wb, &user, &err) < 0) {
        wb_msg(wb, "%s", err.msg);
        wb->next_try_ms = now_ms() + wb->backoff_ms;
        wb->backoff_ms *= 2;
        if (wb->backoff_ms > WB_BACKOFF_MAX_MS)
            wb->backoff_ms = WB_BACKOFF_MAX_MS;
        return;
    }
    client_set_timeout(wb->c, WB_CALL_TIMEOUT_MS);
    snprintf(wb->user, sizeof(wb->user), "%s", json_str(user, "user", "?"));
    cJSON_Delete(user);
    wb->msg[0] = '\0';
    wb->tries = 0;
    wb->backoff_ms = WB_BACKOFF_MIN_MS;
    if (outbox_len(wb->outbox)) {
        size_t n = outbox_len(wb->outbox);
        if (outbox_flush(wb, NULL, &err) == 0)
            wb_msg(wb, "re-sent %zu judgment(s)", n);
    }
    if (wb->c)
        views_reconnected(wb->top);
}

/* ---- views ------------------------------------------------------------- */

static void
view_free(struct view *v)
{
    if (v->ops->free)
        v->ops->free(v);
    free(v);
}

int
wb_push(struct wb *wb, const struct view_ops *ops, const cJSON *arg)
{
    struct view *v = calloc(1, sizeof(*v));

    if (!v)
        return NH_ENOMEM;
    v->ops = ops;
    v->wb = wb;
    v->below = wb->top;
    if (ops->open(v, arg) < 0) {
        view_free(v);
        return NH_EINVAL;
    }
    wb->top = v;
    return 0;
}

void
wb_pop(struct wb *wb)
{
    struct view *v = wb->top;

    if (!v)
        return;
    wb->top = v->below;
    view_free(v);
    if (!wb->top)
        wb->quit = true;
}

void
wb_switch(struct wb *wb, const struct view_ops *ops)
{
    struct view *old = wb->top;

    wb->top = NULL;
    if (wb_push(wb, ops, NULL) < 0) {
        wb->top = old;
        return;
    }
    /* the new view is alone: free the old stack */
    wb->top->below = NULL;
    while (old) {
        struct view *below = old->below;
        view_free(old);
        old = below;
    }
}

/* ---- drawing ------------------------------------------------------------- */

static bool mono;   /* no colours: attributes only */
static bool blocks; /* a UTF-8 terminal: block characters in bars */

attr_t
wb_attr(enum wb_color c)
{
    static const attr_t plain[] = {
        [WB_TITLE] = A_REVERSE, [WB_SEL] = A_REVERSE,
        [WB_GOOD] = A_BOLD,     [WB_BAD] = A_BOLD,
        [WB_WARN] = A_BOLD,     [WB_MARK] = A_REVERSE | A_UNDERLINE,
        [WB_PH] = A_UNDERLINE,  [WB_DIM] = A_DIM,
    };

    if (mono || c == WB_SEL || c == WB_DIM)
        return plain[c];
    return COLOR_PAIR(c) | (c == WB_PH || c == WB_TITLE ? A_BOLD : 0);
}

int
wb_put(int y, int x, const char *s, size_t len, int cols)
{
    size_t i = 0;
    int w = 0;

    if (!s)
        return 0;
    if (len == (size_t)-1)
        len = strlen(s);
    move(y, x);
    while (i < len) {
        int32_t cp;
        size_t k = text_next(s + i, len - i, &cp);
        int cw = text_cp_width(cp);
        if (w + cw > cols)
            break;
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            addch(cp == '\t' ? ' ' : '?');
        else if (cw == 0 && w == 0)
            ; /* a combining mark with nothing to combine with */
        else
            addnstr(s + i, (int)k);
        w += cw;
        i += k;
    }
    return w;
}

int
wb_putf(int y, int x, int cols, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return wb_put(y, x, buf, (size_t)-1, cols);
}

void
wb_highlight_row(int y)
{
    mvchgat(y, 0, -1, A_REVERSE, 0, NULL);
}

void
wb_bar(int y, int x, int cols, double frac, double lo, double hi)
{
    int i;

    move(y, x);
    for (i = 0; i < cols; i++) {
        double c = (i + 0.5) / cols;
        const char *u, *a;
        if (lo >= 0) {
            u = c < lo ? "█" : c <= hi ? "▒" : "·";
            a = c < lo ? "#" : c <= hi ? "=" : ".";
        } else {
            u = c < frac ? "█" : "·";
            a = c < frac ? "#" : ".";
        }
        addstr(blocks ? u : a);
    }
}

void
wb_list_clamp(struct view *v, int n, int rows)
{
    if (rows < 1)
        rows = 1;
    if (v->sel >= n)
        v->sel = n - 1;
    if (v->sel < 0)
        v->sel = 0;
    if (v->top > v->sel)
        v->top = v->sel;
    if (v->sel >= v->top + rows)
        v->top = v->sel - rows + 1;
    if (v->top < 0)
        v->top = 0;
}

bool
wb_list_key(struct view *v, enum action act, int n, int rows)
{
    switch (act) {
    case ACT_UP:
        v->sel--;
        break;
    case ACT_DOWN:
        v->sel++;
        break;
    case ACT_PGUP:
        v->sel -= rows > 1 ? rows - 1 : 1;
        break;
    case ACT_PGDN:
        v->sel += rows > 1 ? rows - 1 : 1;
        break;
    case ACT_HOME:
        v->sel = 0;
        break;
    case ACT_END:
        v->sel = n - 1;
        break;
    default:
        return false;
    }
    wb_list_clamp(v, n, rows);
    return true;
}

static void
draw_status(struct wb *wb)
{
    int y = LINES - 1, w;

    move(y, 0);
    clrtoeol();
    if (!wb->c) {
        attron(wb_attr(WB_WARN));
        w = wb_putf(y, 0, COLS, "reconnecting%s (try %d)", blocks ? "…" : "...",
                    wb->tries);
        attroff(wb_attr(WB_WARN));
        if (wb->msg[0] && w + 2 < COLS)
            wb_putf(y, w + 2, COLS - w - 2, "%s", wb->msg);
        return;
    }
    if (wb->msg[0]) {
        wb_put(y, 0, wb->msg, (size_t)-1, COLS);
        return;
    }
    attron(wb_attr(WB_DIM));
    w = wb_putf(y, 0, COLS, "%s@%s", wb->user, wb->server);
    if (outbox_len(wb->outbox) && w + 2 < COLS)
        wb_putf(y, w + 2, COLS - w - 2, "%zu unsent", outbox_len(wb->outbox));
    attroff(wb_attr(WB_DIM));
}

static void
draw_title(struct wb *wb)
{
    char k1[32], k2[32];
    const char *hint;
    int w;

    attron(wb_attr(WB_TITLE));
    move(0, 0);
    clrtoeol();
    for (w = 0; w < COLS; w++)
        addch(' ');
    w = wb_putf(0, 0, COLS, " naohai %s %s", blocks ? "─" : "-",
                wb->help ? "help" : wb->top->ops->name);
    keymap_keys(&wb->km, ACT_HELP, k1, sizeof(k1));
    keymap_keys(&wb->km, ACT_BACK, k2, sizeof(k2));
    hint = wb->help ? "any key: close" : NULL;
    {
        char buf[96];
        int hw;
        if (!hint) {
            snprintf(buf, sizeof(buf), "%s help  %s back ", k1, k2);
            hint = buf;
        }
        hw = text_width(hint, strlen(hint));
        if (w + hw + 1 < COLS)
            wb_put(0, COLS - hw, hint, (size_t)-1, hw);
    }
    attroff(wb_attr(WB_TITLE));
}

/* Global actions every screen has (after the view's own in the help). */
static const struct help_line global_help[] = {
    {ACT_HELP, "this help"},
    {ACT_COMMAND, "command line (:q :datasets :jobs :campaigns :review N)"},
    {ACT_BACK, "back (quit on the last screen)"},
    {ACT_DATASETS, "datasets screen"},
    {ACT_JOBS, "jobs screen"},
    {ACT_CAMPAIGNS, "campaigns screen"},
    {ACT_QUIT, "quit"},
    {ACT_NONE, NULL},
};

#define HELP_MAX 80

static int
help_lines(struct wb *wb, char lines[][96])
{
    const struct help_line *h;
    int n = 0, pass;

    for (pass = 0; pass < 2; pass++) {
        h = pass ? global_help : wb->top->ops->help;
        if (pass && n < HELP_MAX)
            snprintf(lines[n++], 96, "%s", "");
        for (; h && h->act != ACT_NONE && n < HELP_MAX; h++) {
            char keys[48];
            keymap_keys(&wb->km, h->act, keys, sizeof(keys));
            snprintf(lines[n++], 96, "  %-14s %s", keys[0] ? keys : "(none)",
                     h->what);
        }
        if (!pass && wb->top->ops->help_extra)
            n += wb->top->ops->help_extra(wb->top, lines + n, HELP_MAX - n);
    }
    return n;
}

static void
draw_help(struct wb *wb)
{
    static char lines[HELP_MAX][96];
    int n = help_lines(wb, lines), rows = LINES - 3, i;

    wb_putf(1, 0, COLS, "Keys of the %s screen:", wb->top->ops->name);
    if (wb->help_top > n - rows)
        wb->help_top = n - rows;
    if (wb->help_top < 0)
        wb->help_top = 0;
    for (i = 0; i < rows && wb->help_top + i < n; i++)
        wb_put(2 + i, 0, lines[wb->help_top + i], (size_t)-1, COLS);
}

static void
draw(struct wb *wb)
{
    erase();
    if (LINES < 3 || COLS < 10) {
        wb_put(0, 0, "terminal too small", (size_t)-1, COLS);
        refresh();
        return;
    }
    draw_title(wb);
    if (wb->help)
        draw_help(wb);
    else
        wb->top->ops->draw(wb->top, LINES - 2, COLS);
    draw_status(wb);
    refresh();
}

/* ---- input ------------------------------------------------------------- */

/* The next key: a character, a KEY_* code, or ERR after the timeout. */
static int
read_key(int timeout_ms)
{
    wint_t ch;
    int r;

    timeout(timeout_ms);
    r = get_wch(&ch);
    if (r == ERR)
        return ERR;
    if (r == KEY_CODE_YES)
        return (int)ch;
    return ch == '\r' ? '\n' : (int)ch;
}

int
wb_prompt(struct wb *wb, const char *prompt, char *buf, size_t bufsz)
{
    size_t len = 0;

    buf[0] = '\0';
    curs_set(1);
    for (;;) {
        int y = LINES - 1, key, pw;
        move(y, 0);
        clrtoeol();
        pw = wb_put(y, 0, prompt, (size_t)-1, COLS);
        wb_put(y, pw, buf, len, COLS - pw - 1);
        refresh();
        key = read_key(-1);
        if (key == 27 || key == ERR) {
            curs_set(0);
            draw(wb);
            return -1;
        }
        if (key == '\n' || key == KEY_ENTER)
            break;
        if (key == KEY_RESIZE) {
            draw(wb);
            continue;
        }
        if (key == KEY_BACKSPACE || key == 127 || key == 8) {
            while (len > 0 && ((unsigned char)buf[len - 1] & 0xc0) == 0x80)
                len--;
            if (len > 0)
                len--;
            buf[len] = '\0';
            continue;
        }
        if (key >= ' ' && key < 0x110000 && key != 127 &&
            !(key >= KEY_MIN && key <= KEY_MAX && key < 0x80 + KEY_MIN)) {
            utf8proc_uint8_t u[4];
            utf8proc_ssize_t k = utf8proc_encode_char(key, u);
            if (k > 0 && len + (size_t)k < bufsz) {
                memcpy(buf + len, u, (size_t)k);
                len += (size_t)k;
                buf[len] = '\0';
            }
        }
    }
    curs_set(0);
    return 0;
}

static void
run_command(struct wb *wb, const char *cmd)
{
    char word[32] = "";
    long n = 0;
    int k = sscanf(cmd, " %31s %ld", word, &n);

    if (k < 1)
        return;
    if (!strcmp(word, "q") || !strcmp(word, "quit"))
        wb->quit = true;
    else if (!strcmp(word, "datasets"))
        wb_switch(wb, &view_datasets);
    else if (!strcmp(word, "jobs"))
        wb_switch(wb, &view_jobs);
    else if (!strcmp(word, "campaigns"))
        wb_switch(wb, &view_campaigns);
    else if (!strcmp(word, "help"))
        wb->help = true;
    else if ((!strcmp(word, "review") || !strcmp(word, "job") ||
              !strcmp(word, "campaign")) &&
             k == 2) {
        cJSON *arg = cJSON_CreateNumber((double)n);
        wb_push(wb,
                word[0] == 'r'   ? &view_review
                : word[0] == 'j' ? &view_job
                                 : &view_campaign,
                arg);
        cJSON_Delete(arg);
    } else if (!strcmp(word, "dataset") && sscanf(cmd, " %*s %31s", word)) {
        cJSON *arg = cJSON_CreateString(word);
        wb_push(wb, &view_dataset, arg);
        cJSON_Delete(arg);
    } else
        wb_msg(wb, "unknown command '%s'", cmd);
}

static void
handle_key(struct wb *wb, int key)
{
    enum action act = keymap_lookup(&wb->km, key);

    if (key == KEY_RESIZE)
        return;
    if (wb->help) {
        if (act == ACT_DOWN || act == ACT_PGDN)
            wb->help_top += act == ACT_DOWN ? 1 : LINES - 4;
        else if (act == ACT_UP || act == ACT_PGUP)
            wb->help_top -= act == ACT_UP ? 1 : LINES - 4;
        else
            wb->help = false;
        return;
    }
    wb->msg[0] = '\0';
    switch (act) {
    case ACT_HELP:
        wb->help = true;
        wb->help_top = 0;
        return;
    case ACT_COMMAND: {
        char cmd[256];
        if (wb_prompt(wb, ":", cmd, sizeof(cmd)) == 0)
            run_command(wb, cmd);
        return;
    }
    case ACT_BACK:
        wb_pop(wb);
        return;
    case ACT_QUIT:
        wb->quit = true;
        return;
    case ACT_DATASETS:
        wb_switch(wb, &view_datasets);
        return;
    case ACT_JOBS:
        wb_switch(wb, &view_jobs);
        return;
    case ACT_CAMPAIGNS:
        wb_switch(wb, &view_campaigns);
        return;
    default:
        wb->top->ops->key(wb->top, act, key);
    }
}

static void
dispatch_event(struct wb *wb, const cJSON *ev)
{
    struct view *v;

    for (v = wb->top; v; v = v->below)
        if (v->ops->event)
            v->ops->event(v, ev);
}

/* Events that arrived, for up to wait_ms. */
static void
poll_events(struct wb *wb, int wait_ms)
{
    struct nh_error err;
    cJSON *ev = NULL;
    int rc, n = 0;

    while (wb->c && n < 200) {
        rc = client_next_event(wb->c, n ? 0 : wait_ms, &ev, &err);
        if (rc == CLIENT_ECLOSED) {
            disconnect(wb);
            break;
        }
        if (rc < 0)
            break;
        dispatch_event(wb, ev);
        cJSON_Delete(ev);
        n++;
    }
}

static void
colors_init(void)
{
    const char *nc = getenv("NO_COLOR");

    mono = !has_colors() || (nc && *nc);
    if (mono)
        return;
    start_color();
    use_default_colors();
    init_pair(WB_TITLE, COLOR_WHITE, COLOR_BLUE);
    init_pair(WB_GOOD, COLOR_GREEN, -1);
    init_pair(WB_BAD, COLOR_RED, -1);
    init_pair(WB_WARN, COLOR_YELLOW, -1);
    init_pair(WB_MARK, COLOR_BLACK, COLOR_YELLOW);
    init_pair(WB_PH, COLOR_MAGENTA, -1);
}

int
wb_main(void)
{
    struct wb wb;
    struct nh_error err;
    char *kpath = keymap_path();
    int rc = NH_EXIT_OK;

    memset(&wb, 0, sizeof(wb));
    keymap_default(&wb.km);
    if (!kpath || keymap_load(&wb.km, kpath, &err) < 0) {
        free(kpath);
        return kpath ? nh_fail(&err) : nh_failf("out of memory");
    }
    free(kpath);
    if (!isatty(0) || !isatty(1))
        return WB_NO_TERMINAL;
    if (nh_config_load(&wb.server, &wb.token, &err) < 0 ||
        outbox_open(&wb.outbox, wb.server, &err) < 0) {
        rc = nh_fail(&err);
        goto out;
    }
    if (!wb.token || !*wb.token) {
        rc = nh_failf("no token: run 'nh login --server URL --token TOKEN' "
                      "or set NH_TOKEN");
        goto out;
    }
    blocks = !strcmp(nl_langinfo(CODESET), "UTF-8");
    if (!initscr()) {
        rc = nh_failf("cannot start the terminal");
        goto out;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    colors_init();

    wb.backoff_ms = WB_BACKOFF_MIN_MS;
    try_connect(&wb);
    if (wb_push(&wb, &view_datasets, NULL) < 0) {
        endwin();
        rc = nh_failf("out of memory");
        goto out;
    }
    while (!wb.quit) {
        int key;
        draw(&wb);
        key = read_key(wb.c ? 40 : 100);
        while (key != ERR && !wb.quit) {
            handle_key(&wb, key);
            if (wb.quit)
                break;
            key = read_key(0);
            if (key != ERR)
                continue;
        }
        if (wb.quit)
            break;
        if (wb.c)
            poll_events(&wb, 20);
        if (wb.c && wb.top && wb.top->ops->tick)
            wb.top->ops->tick(wb.top);
        else
            try_connect(&wb);
    }
    endwin();
out:
    while (wb.top)
        wb_pop(&wb);
    client_free(wb.c);
    outbox_free(wb.outbox);
    free(wb.server);
    free(wb.token);
    return rc;
}
