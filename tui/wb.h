/* wb.h - the ncurses workbench (`nh` with no arguments)
 *
 * wb.c owns the terminal, the connection and a stack of views: the top
 * view draws the screen above the status line and gets the keys; `q`
 * pops it. A view is a descriptor (struct view_ops) plus its state.
 * keys.c maps keys to actions (struct keymap), text.c measures text;
 * views share out.c's formatting helpers (nh.h).
 *
 * Adding a screen: write tui/view-NAME.c with a `const struct view_ops
 * view_NAME` (its help lines list the actions it handles), declare it
 * below, open it from another view with wb_push(), add a check to
 * tests/cli/t0150-tui-basic.sh and a section to docs/WORKBENCH.md.
 *
 * The connection comes and goes: wb_call() fails with CLIENT_ECLOSED
 * while it is down, wb.c reconnects with backoff and then calls every
 * view's .reconnected (subscribe again, reload) from the bottom up.
 */
#ifndef NH_WB_H
#define NH_WB_H

#define NCURSES_WIDECHAR 1
#include "client.h"
#include "err.h"
#include "nh.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <curses.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- keys.c ------------------------------------------------------------ */

enum action {
    ACT_NONE = 0,
    ACT_UP,
    ACT_DOWN,
    ACT_PGUP,
    ACT_PGDN,
    ACT_HOME,
    ACT_END,
    ACT_OPEN,
    ACT_BACK,
    ACT_HELP,
    ACT_COMMAND,
    ACT_SEARCH,
    ACT_NEXT,
    ACT_PREV,
    ACT_ACCEPT,
    ACT_REJECT,
    ACT_SKIP,
    ACT_UNDO,
    ACT_SCORE1,
    ACT_SCORE2,
    ACT_SCORE3,
    ACT_SCORE4,
    ACT_SCORE5,
    ACT_REFRESH,
    ACT_DATASETS,
    ACT_JOBS,
    ACT_CAMPAIGNS,
    ACT_CANCEL,
    ACT_QUIT,
    ACT_COUNT
};

#define KEYMAP_MAX 64

struct keymap {
    int n;
    struct {
        int key; /* a character (< 0x110000) or a curses KEY_* code */
        enum action act;
    } map[KEYMAP_MAX];
};

/* The default bindings. */
void keymap_default(struct keymap *km);
/* Read `KEY ACTION` lines from path over the defaults (a missing file is
 * no error; a line starting with `#` is a comment; KEY is a character or one of
 * enter, space, tab, up, down, left, right, pgup, pgdn, home, end, backspace,
 * esc, hash, C-x; ACTION an action name or `none` to unbind). Errors say
 * "PATH:LINE: ..." and leave km unchanged. */
int keymap_load(struct keymap *km, const char *path, struct nh_error *err);
/* ~/.config/naohai/keys (or under $XDG_CONFIG_HOME); malloc'd. */
char *keymap_path(void);
/* The action bound to key, or ACT_NONE. */
enum action keymap_lookup(const struct keymap *km, int key);
/* "a", "enter", "pgdn": the keys bound to act, joined by "/", in buf. */
const char *keymap_keys(const struct keymap *km, enum action act, char *buf,
                        size_t bufsz);
/* Is the character c bound to anything? */
bool keymap_bound(const struct keymap *km, int c);
const char *action_name(enum action act);

/* ---- wb.c ---------------------------------------------------------------- */

struct wb;
struct view;

struct help_line {
    enum action act; /* its keys come from the keymap */
    const char *what;
};

struct view_ops {
    const char *name;                              /* "datasets": the title */
    const struct help_line *help;                  /* ACT_NONE-ended */
    int (*open)(struct view *v, const cJSON *arg); /* load; may fail */
    void (*draw)(struct view *v, int rows, int cols);
    /* a key: its action (ACT_NONE if unbound) and the key itself */
    void (*key)(struct view *v, enum action act, int key);
    void (*event)(struct view *v, const cJSON *ev); /* may be NULL */
    void (*reconnected)(struct view *v);            /* may be NULL */
    void (*tick)(struct view *v); /* the top view, every loop; may be NULL */
    /* extra help lines (label letters), into a buffer; may be NULL */
    int (*help_extra)(struct view *v, char lines[][96], int max);
    void (*free)(struct view *v);
};

struct view {
    const struct view_ops *ops;
    struct wb *wb;
    struct view *below;
    void *priv;
    int sel, top; /* a list's selected row and first shown row */
};

extern const struct view_ops view_datasets, view_dataset, view_jobs, view_job,
    view_campaigns, view_campaign, view_review, view_train;

/* Run the workbench until quit; returns the exit status, or
 * WB_NO_TERMINAL (after checking the keys file) when stdin or stdout is
 * not a terminal. */
#define WB_NO_TERMINAL (-1)
int wb_main(void);

/* Call op on the server (args not taken). While disconnected, or when
 * the connection drops during the call, CLIENT_ECLOSED (and wb starts
 * reconnecting); other errors as client_call. */
int wb_call(struct wb *wb, const char *op, const cJSON *args, cJSON **res,
            struct nh_error *err);
/* Call op with {"KEY": number} or {"KEY": "string"}. */
int wb_call_num(struct wb *wb, const char *op, const char *key, double n,
                cJSON **res, struct nh_error *err);
int wb_call_str(struct wb *wb, const char *op, const char *key, const char *s,
                cJSON **res, struct nh_error *err);
bool wb_connected(const struct wb *wb);
/* Open a view of ops over the current one (arg is passed to .open). A
 * failed open shows its error and pushes nothing. */
int wb_push(struct wb *wb, const struct view_ops *ops, const cJSON *arg);
/* Close the top view (the last one quits). */
void wb_pop(struct wb *wb);
/* Replace the whole stack by a fresh view of ops. */
void wb_switch(struct wb *wb, const struct view_ops *ops);
/* A message in the status line until the next key. */
void wb_msg(struct wb *wb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const struct keymap *wb_keymap(const struct wb *wb);
/* Read a line at the bottom after the prompt ("/", ":"); 0 with the
 * text in buf, or -1 when cancelled with Esc. */
int wb_prompt(struct wb *wb, const char *prompt, char *buf, size_t bufsz);

/* Judgments: review.submit with args (taken; "request_id" is added),
 * kept in the outbox (outbox.c) until the server answers. 0 when
 * acknowledged (*res is the result, may be NULL), CLIENT_ECLOSED when
 * queued to be re-sent after the reconnect, other errors as wb_call
 * (the judgment is dropped: the server refused it). */
int wb_submit(struct wb *wb, cJSON *args, cJSON **res, struct nh_error *err);
/* Judgments made and not yet acknowledged. */
size_t wb_pending(const struct wb *wb);

/* ---- shared by views (view-job.c) ---------------------------------------- */

/* Draw a job's per-stage table (nh-clean's stats.json) from row y, at
 * most rows rows; returns the rows used. */
int view_stage_table(int y, int rows, int cols, const cJSON *stats);
/* "42%  1.2 MB/3.4 MB  phase" of a progress object, into buf. */
const char *view_progress_text(const cJSON *progress, double *frac, char *buf,
                               size_t bufsz);

/* ---- outbox.c ------------------------------------------------------------ */

/* Unacknowledged review.submit args, oldest first, mirrored in
 * $XDG_STATE_HOME/naohai/outbox (else ~/.local/state/naohai/outbox) as
 * one JSON line each, so a crash of nh loses nothing either. */
struct outbox;
/* Load the entries saved for server (others in the file are kept). */
int outbox_open(struct outbox **out, const char *server, struct nh_error *err);
/* Append args (taken) with a fresh random "request_id" (32 hex). */
int outbox_add(struct outbox *ob, cJSON *args, struct nh_error *err);
size_t outbox_len(const struct outbox *ob);
/* The oldest entry (still owned by ob), or NULL. */
const cJSON *outbox_first(const struct outbox *ob);
void outbox_drop_first(struct outbox *ob);
void outbox_free(struct outbox *ob);

/* ---- drawing helpers (wb.c) ------------------------------------------- */

enum wb_color {
    WB_TITLE = 1, /* the title bar and headers */
    WB_SEL,       /* the selected row */
    WB_GOOD,      /* accept, succeeded */
    WB_BAD,       /* reject, failed */
    WB_WARN,      /* running, continue, reconnecting */
    WB_MARK,      /* search matches */
    WB_PH,        /* pipeline placeholders */
    WB_DIM,       /* secondary text */
};

/* The attributes of a colour role (bold/reverse/underline when the
 * terminal has no colours). */
attr_t wb_attr(enum wb_color c);
/* Print s (len bytes of UTF-8; (size_t)-1: up to NUL) at y, x in at most
 * cols columns; returns the columns used. Control characters show as
 * '?'. */
int wb_put(int y, int x, const char *s, size_t len, int cols);
int wb_putf(int y, int x, int cols, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Show row y as the selected one. */
void wb_highlight_row(int y);
/* A bar of cols columns filled to frac (0..1), with [lo, hi] marked when
 * lo >= 0 (an interval bar). */
void wb_bar(int y, int x, int cols, double frac, double lo, double hi);
/* Keep v->sel in [0, n) and v->top such that sel is visible in rows;
 * moves by act (UP/DOWN/PGUP/PGDN/HOME/END); true when act was one. */
bool wb_list_key(struct view *v, enum action act, int n, int rows);
void wb_list_clamp(struct view *v, int n, int rows);

#endif
