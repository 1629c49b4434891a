/* test-keys.c - tui/keys.c: the default key map and the keys file
 *
 * Bindings by name and by character, C-x, unbinding with `none`, the
 * keys listed for an action (what help shows), and errors that name the
 * file's line and leave the map as it was.
 */
#include "../../tui/wb.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void
write_keys(const char *text)
{
    FILE *f = fopen(path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(defaults)
{
    struct keymap km;
    char buf[64];

    keymap_default(&km);
    CHECK(keymap_lookup(&km, 'a') == ACT_ACCEPT);
    CHECK(keymap_lookup(&km, 'j') == ACT_DOWN);
    CHECK(keymap_lookup(&km, KEY_DOWN) == ACT_DOWN);
    CHECK(keymap_lookup(&km, '\r') == ACT_OPEN);
    CHECK(keymap_lookup(&km, 't') == ACT_NONE);
    CHECK(!keymap_bound(&km, 't') && keymap_bound(&km, 'u'));
    CHECK_STR(keymap_keys(&km, ACT_DOWN, buf, sizeof(buf)), "j/down");
    CHECK_STR(keymap_keys(&km, ACT_OPEN, buf, sizeof(buf)), "enter");
    CHECK_STR(action_name(ACT_SCORE3), "score-3");
}

TEST(file)
{
    struct keymap km;
    struct nh_error err;
    char buf[64];

    keymap_default(&km);
    write_keys("# comment\n\nh help\nC-n down\nr none\nx reject\n"
               "hash search\n  pgdn   bottom  \n");
    CHECK(keymap_load(&km, path, &err) == 0);
    CHECK(keymap_lookup(&km, 'h') == ACT_HELP);
    CHECK(keymap_lookup(&km, 14) == ACT_DOWN);
    CHECK(keymap_lookup(&km, 'r') == ACT_NONE);
    CHECK(keymap_lookup(&km, 'x') == ACT_REJECT);
    CHECK(keymap_lookup(&km, '#') == ACT_SEARCH);
    CHECK(keymap_lookup(&km, KEY_NPAGE) == ACT_END);
    CHECK_STR(keymap_keys(&km, ACT_HELP, buf, sizeof(buf)), "?/h");
    CHECK_STR(keymap_keys(&km, ACT_DOWN, buf, sizeof(buf)), "j/down/C-n");
    /* a missing file is the defaults */
    unlink(path);
    CHECK(keymap_load(&km, path, &err) == 0);
}

TEST(errors)
{
    struct keymap km, before;
    struct nh_error err;
    char want[128];

    keymap_default(&km);
    before = km;
    write_keys("h help\nz frobnicate\n");
    CHECK(keymap_load(&km, path, &err) == NH_EFORMAT);
    snprintf(want, sizeof(want), "%s:2: unknown action 'frobnicate'", path);
    CHECK_STR(err.msg, want);
    CHECK(keymap_lookup(&km, 'h') == ACT_NONE); /* unchanged */
    CHECK(km.n == before.n);

    write_keys("\n\nnosuchkey help\n");
    CHECK(keymap_load(&km, path, &err) == NH_EFORMAT);
    snprintf(want, sizeof(want), "%s:3: unknown key 'nosuchkey'", path);
    CHECK_STR(err.msg, want);

    write_keys("h\n");
    CHECK(keymap_load(&km, path, &err) == NH_EFORMAT);
    snprintf(want, sizeof(want), "%s:1: expected 'KEY ACTION'", path);
    CHECK_STR(err.msg, want);

    write_keys("h help extra\n");
    CHECK(keymap_load(&km, path, &err) == NH_EFORMAT);
    snprintf(want, sizeof(want), "%s:1: unexpected 'extra'", path);
    CHECK_STR(err.msg, want);
    unlink(path);
}

int
main(void)
{
    snprintf(path, sizeof(path), "/tmp/nh-test-keys.%d", (int)getpid());
    RUN(defaults);
    RUN(file);
    RUN(errors);
    return test_summary();
}
