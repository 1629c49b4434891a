/* keys.c - the workbench's key bindings and the ~/.config/naohai/keys file
 *
 * A key is a character or a curses KEY_* code; wb.c looks every key up
 * here and hands the view an action. The defaults are the table below;
 * the keys file changes them line by line (`KEY ACTION`).
 */
#include "wb.h"

#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[ACT_COUNT] = {
    [ACT_NONE] = "none",           [ACT_UP] = "up",
    [ACT_DOWN] = "down",           [ACT_PGUP] = "page-up",
    [ACT_PGDN] = "page-down",      [ACT_HOME] = "top",
    [ACT_END] = "bottom",          [ACT_OPEN] = "open",
    [ACT_BACK] = "back",           [ACT_HELP] = "help",
    [ACT_COMMAND] = "command",     [ACT_SEARCH] = "search",
    [ACT_NEXT] = "search-next",    [ACT_PREV] = "search-prev",
    [ACT_ACCEPT] = "accept",       [ACT_REJECT] = "reject",
    [ACT_SKIP] = "skip",           [ACT_UNDO] = "undo",
    [ACT_SCORE1] = "score-1",      [ACT_SCORE2] = "score-2",
    [ACT_SCORE3] = "score-3",      [ACT_SCORE4] = "score-4",
    [ACT_SCORE5] = "score-5",      [ACT_REFRESH] = "refresh",
    [ACT_DATASETS] = "datasets",   [ACT_JOBS] = "jobs",
    [ACT_CAMPAIGNS] = "campaigns", [ACT_CANCEL] = "cancel-job",
    [ACT_QUIT] = "quit",
};

static const struct {
    int key;
    enum action act;
} defaults[] = {
    {'k', ACT_UP},         {KEY_UP, ACT_UP},      {'j', ACT_DOWN},
    {KEY_DOWN, ACT_DOWN},  {KEY_PPAGE, ACT_PGUP}, {KEY_NPAGE, ACT_PGDN},
    {' ', ACT_PGDN},       {'g', ACT_HOME},       {KEY_HOME, ACT_HOME},
    {'G', ACT_END},        {KEY_END, ACT_END},    {'\n', ACT_OPEN},
    {KEY_ENTER, ACT_OPEN}, {'q', ACT_BACK},       {'?', ACT_HELP},
    {':', ACT_COMMAND},    {'/', ACT_SEARCH},     {'n', ACT_NEXT},
    {'N', ACT_PREV},       {'a', ACT_ACCEPT},     {'r', ACT_REJECT},
    {'s', ACT_SKIP},       {'u', ACT_UNDO},       {'1', ACT_SCORE1},
    {'2', ACT_SCORE2},     {'3', ACT_SCORE3},     {'4', ACT_SCORE4},
    {'5', ACT_SCORE5},     {'R', ACT_REFRESH},    {'D', ACT_DATASETS},
    {'J', ACT_JOBS},       {'C', ACT_CAMPAIGNS},  {'X', ACT_CANCEL},
    {'Q', ACT_QUIT},
};

static const struct {
    const char *name;
    int key;
} key_names[] = {
    {"enter", '\n'},      {"space", ' '},      {"tab", '\t'},
    {"up", KEY_UP},       {"down", KEY_DOWN},  {"left", KEY_LEFT},
    {"right", KEY_RIGHT}, {"pgup", KEY_PPAGE}, {"pgdn", KEY_NPAGE},
    {"home", KEY_HOME},   {"end", KEY_END},    {"backspace", KEY_BACKSPACE},
    {"esc", 27},          {"hash", '#'},       {"kp-enter", KEY_ENTER},
};

const char *
action_name(enum action act)
{
    return act >= 0 && act < ACT_COUNT ? action_names[act] : "?";
}

void
keymap_default(struct keymap *km)
{
    size_t i;

    km->n = 0;
    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        km->map[km->n].key = defaults[i].key;
        km->map[km->n].act = defaults[i].act;
        km->n++;
    }
}

enum action
keymap_lookup(const struct keymap *km, int key)
{
    int i;

    if (key == '\r')
        key = '\n';
    for (i = 0; i < km->n; i++)
        if (km->map[i].key == key)
            return km->map[i].act;
    return ACT_NONE;
}

bool
keymap_bound(const struct keymap *km, int c)
{
    return keymap_lookup(km, c) != ACT_NONE;
}

/* The name of key into buf. */
static const char *
key_label(int key, char *buf, size_t bufsz)
{
    size_t i;

    for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
        if (key_names[i].key == key) {
            snprintf(buf, bufsz, "%s", key_names[i].name);
            return buf;
        }
    if (key >= 1 && key <= 26 && key != '\t' && key != '\n')
        snprintf(buf, bufsz, "C-%c", 'a' + key - 1);
    else if (key < 0x80)
        snprintf(buf, bufsz, "%c", key);
    else
        snprintf(buf, bufsz, "#%d", key);
    return buf;
}

const char *
keymap_keys(const struct keymap *km, enum action act, char *buf, size_t bufsz)
{
    size_t o = 0;
    int i;

    buf[0] = '\0';
    for (i = 0; i < km->n; i++) {
        char name[16];
        /* the keypad's Enter goes with Enter: not listed on its own */
        if (km->map[i].act != act || km->map[i].key == KEY_ENTER)
            continue;
        key_label(km->map[i].key, name, sizeof(name));
        o += (size_t)snprintf(buf + o, o < bufsz ? bufsz - o : 0, "%s%s",
                              o ? "/" : "", name);
        if (o >= bufsz)
            break;
    }
    return buf;
}

/* Parse a key name; -1 when unknown. */
static int
parse_key(const char *s)
{
    size_t i;
    int32_t cp;

    for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
        if (!strcmp(s, key_names[i].name))
            return key_names[i].key;
    if (s[0] == 'C' && s[1] == '-' && s[2] >= 'a' && s[2] <= 'z' && !s[3])
        return s[2] - 'a' + 1;
    if (text_next(s, strlen(s), &cp) == strlen(s) && cp > ' ')
        return cp;
    return -1;
}

static int
bind(struct keymap *km, int key, enum action act)
{
    int i;

    for (i = 0; i < km->n; i++)
        if (km->map[i].key == key) {
            km->map[i].act = act;
            return 0;
        }
    if (km->n == KEYMAP_MAX)
        return -1;
    km->map[km->n].key = key;
    km->map[km->n].act = act;
    km->n++;
    return 0;
}

char *
keymap_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    struct strbuf sb = STRBUF_INIT;

    if (xdg && *xdg)
        strbuf_addf(&sb, "%s/naohai/keys", xdg);
    else
        strbuf_addf(&sb, "%s/.config/naohai/keys", home ? home : ".");
    return strbuf_detach(&sb, NULL);
}

int
keymap_load(struct keymap *km, const char *path, struct nh_error *err)
{
    struct keymap tmp = *km;
    FILE *f = fopen(path, "r");
    char line[256];
    int lineno = 0, rc = 0;

    if (!f) {
        if (errno == ENOENT)
            return 0;
        return nh_error_errno(err, "cannot open '%s'", path);
    }
    while (fgets(line, sizeof(line), f)) {
        char *k, *a, *extra, *save = NULL;
        int key, act;

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = nh_errorf(err, NH_EFORMAT, "%s:%d: line too long", path,
                           lineno);
            goto out;
        }
        k = strtok_r(line, " \t\r\n", &save);
        if (!k || k[0] == '#')
            continue;
        a = strtok_r(NULL, " \t\r\n", &save);
        extra = strtok_r(NULL, " \t\r\n", &save);
        if (!a) {
            rc = nh_errorf(err, NH_EFORMAT, "%s:%d: expected 'KEY ACTION'",
                           path, lineno);
            goto out;
        }
        if (extra) {
            rc = nh_errorf(err, NH_EFORMAT, "%s:%d: unexpected '%s'", path,
                           lineno, extra);
            goto out;
        }
        key = parse_key(k);
        if (key < 0) {
            rc = nh_errorf(err, NH_EFORMAT, "%s:%d: unknown key '%s'", path,
                           lineno, k);
            goto out;
        }
        for (act = 0; act < ACT_COUNT; act++)
            if (!strcmp(a, action_names[act]))
                break;
        if (act == ACT_COUNT) {
            rc = nh_errorf(err, NH_EFORMAT, "%s:%d: unknown action '%s'", path,
                           lineno, a);
            goto out;
        }
        if (bind(&tmp, key, (enum action)act) < 0) {
            rc = nh_errorf(err, NH_ETOOBIG, "%s:%d: too many bindings", path,
                           lineno);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = nh_error_errno(err, "cannot read '%s'", path);
        goto out;
    }
    *km = tmp;
out:
    fclose(f);
    return rc;
}
