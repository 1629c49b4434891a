/* test-strbuf.c - unit tests for common/strbuf.c
 *
 * The growable buffer is under every string naohai builds, so these tests
 * pin down its contract from strbuf.h: NUL termination, the hard size
 * limit (NH_ETOOBIG without allocating), formatted appends, JSON string
 * escaping, and the ownership moves (detach, swap, reset, release).
 */
#include "err.h"
#include "strbuf.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TEST(init_empty)
{
    struct strbuf sb = STRBUF_INIT;
    struct strbuf sb2;

    CHECK(sb.buf == NULL && sb.len == 0 && sb.alloc == 0 && sb.max == 0);
    CHECK_STR(strbuf_str(&sb), "");
    strbuf_init(&sb2, 123);
    CHECK(sb2.buf == NULL && sb2.len == 0 && sb2.max == 123);
    CHECK_STR(strbuf_str(&sb2), "");
    /* releasing a never-grown buffer is fine */
    strbuf_release(&sb);
    strbuf_release(&sb2);
}

TEST(add)
{
    struct strbuf sb = STRBUF_INIT;

    CHECK(strbuf_add(&sb, "abc", 3) == 0);
    CHECK(sb.len == 3 && sb.buf[3] == '\0');
    CHECK(strbuf_addstr(&sb, "def") == 0);
    CHECK(strbuf_addch(&sb, 'g') == 0);
    CHECK_STR(strbuf_str(&sb), "abcdefg");
    CHECK(sb.len == 7);
    /* empty appends keep the contents */
    CHECK(strbuf_add(&sb, NULL, 0) == 0);
    CHECK(strbuf_addstr(&sb, "") == 0);
    CHECK_STR(sb.buf, "abcdefg");
    /* binary data with NUL bytes: len counts them */
    CHECK(strbuf_add(&sb, "x\0y", 3) == 0);
    CHECK(sb.len == 10);
    CHECK(memcmp(sb.buf, "abcdefgx\0y", 11) == 0);
    CHECK(sb.alloc > sb.len);
    strbuf_release(&sb);
    CHECK(sb.buf == NULL && sb.len == 0 && sb.alloc == 0);
}

TEST(add_empty_allocates)
{
    struct strbuf sb = STRBUF_INIT;

    /* "sb->buf[sb->len] is always '\0' once anything has been added" */
    CHECK(strbuf_add(&sb, "", 0) == 0);
    CHECK(sb.buf != NULL && sb.buf[0] == '\0');
    strbuf_release(&sb);
}

TEST(grow_many)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i, bad = 0;

    for (i = 0; i < 100000; i++)
        if (strbuf_addch(&sb, 'a' + (int)(i % 26)) < 0)
            bad++;
    CHECK(bad == 0);
    CHECK(sb.len == 100000);
    CHECK(sb.alloc > sb.len);
    CHECK(sb.buf[sb.len] == '\0');
    for (i = 0; i < sb.len; i++)
        if (sb.buf[i] != 'a' + (int)(i % 26))
            bad++;
    CHECK(bad == 0);
    /* grow reserves room without changing the contents */
    CHECK(strbuf_grow(&sb, 1000000) == 0);
    CHECK(sb.alloc >= sb.len + 1000000 + 1);
    CHECK(sb.len == 100000);
    strbuf_release(&sb);
}

TEST(limit)
{
    struct strbuf sb;

    strbuf_init(&sb, 10);
    CHECK(strbuf_add(&sb, "0123456789", 10) == 0);
    CHECK(sb.len == 10);
    /* at the limit: nothing more fits, and nothing changes */
    CHECK(strbuf_addch(&sb, 'x') == NH_ETOOBIG);
    CHECK(strbuf_add(&sb, "x", 1) == NH_ETOOBIG);
    CHECK(strbuf_addstr(&sb, "xy") == NH_ETOOBIG);
    CHECK(strbuf_addf(&sb, "%d", 7) == NH_ETOOBIG);
    CHECK(strbuf_add_json_str(&sb, "", 0) == NH_ETOOBIG);
    CHECK(strbuf_grow(&sb, 1) == NH_ETOOBIG);
    CHECK(sb.len == 10);
    CHECK_STR(sb.buf, "0123456789");
    /* zero-byte appends still succeed at the limit */
    CHECK(strbuf_add(&sb, "", 0) == 0);
    CHECK(strbuf_addf(&sb, "%s", "") == 0);
    CHECK(strbuf_grow(&sb, 0) == 0);
    /* after a reset the whole limit is available again */
    strbuf_reset(&sb);
    CHECK(strbuf_add(&sb, "01234567890", 11) == NH_ETOOBIG);
    CHECK(sb.len == 0);
    CHECK(strbuf_add(&sb, "0123456789", 10) == 0);
    strbuf_release(&sb);
    /* the limit survives a release: the buffer is reusable as it was */
    CHECK(strbuf_add(&sb, "01234567890", 11) == NH_ETOOBIG);
    CHECK(strbuf_add(&sb, "abc", 3) == 0);
    CHECK_STR(sb.buf, "abc");
    strbuf_release(&sb);
}

TEST(limit_no_allocation)
{
    struct strbuf sb = STRBUF_INIT;
    static const char one[1] = {'x'};

    /* max 0 means the 4 GiB default: over it fails before allocating */
    CHECK(strbuf_grow(&sb, STRBUF_DEFAULT_MAX + 1) == NH_ETOOBIG);
    CHECK(strbuf_grow(&sb, SIZE_MAX) == NH_ETOOBIG);
    CHECK(strbuf_grow(&sb, SIZE_MAX - 1) == NH_ETOOBIG);
    CHECK(sb.buf == NULL && sb.alloc == 0);
    /* the size is checked before the data is read */
    CHECK(strbuf_add(&sb, one, SIZE_MAX / 2) == NH_ETOOBIG);
    CHECK(strbuf_add_json_str(&sb, one, SIZE_MAX / 2) == NH_ETOOBIG);
    CHECK(strbuf_add_json_str(&sb, one, SIZE_MAX) == NH_ETOOBIG);
    CHECK(sb.buf == NULL && sb.alloc == 0);

    /* a caller-chosen limit of SIZE_MAX must still leave room for the
     * NUL: len + extra + 1 cannot wrap around to a tiny allocation */
    strbuf_init(&sb, SIZE_MAX);
    CHECK(strbuf_grow(&sb, SIZE_MAX) == NH_ETOOBIG);
    CHECK(strbuf_addch(&sb, 'a') == 0);
    CHECK(strbuf_grow(&sb, SIZE_MAX - 1) == NH_ETOOBIG);
    CHECK(sb.len == 1 && sb.alloc < 1024);
    strbuf_release(&sb);
}

TEST(limit_exact_fit)
{
    struct strbuf sb;
    size_t i;

    /* filling one byte at a time ends exactly at the limit */
    strbuf_init(&sb, 1000);
    for (i = 0; i < 1000; i++)
        if (strbuf_addch(&sb, 'z') < 0)
            break;
    CHECK(i == 1000);
    CHECK(strbuf_addch(&sb, 'z') == NH_ETOOBIG);
    CHECK(sb.len == 1000 && sb.buf[1000] == '\0');
    strbuf_release(&sb);
}

TEST(addf)
{
    struct strbuf sb = STRBUF_INIT;
    char want[600];

    CHECK(strbuf_addf(&sb, "%d-%s-%5.2f-%c-%zu", 42, "x", 3.14159, 'q',
                      (size_t)7) == 0);
    CHECK_STR(sb.buf, "42-x- 3.14-q-7");
    CHECK(strbuf_addf(&sb, "%s", "|tail") == 0);
    CHECK_STR(sb.buf, "42-x- 3.14-q-7|tail");
    CHECK(sb.len == strlen("42-x- 3.14-q-7|tail"));
    strbuf_release(&sb);

    /* longer than the first allocation */
    CHECK(strbuf_addf(&sb, "%0500d", 1) == 0);
    CHECK(sb.len == 500);
    memset(want, '0', 499);
    want[499] = '1';
    want[500] = '\0';
    CHECK_STR(sb.buf, want);
    strbuf_release(&sb);

    /* an empty format on a fresh buffer still gives a C string */
    CHECK(strbuf_addf(&sb, "%s", "") == 0);
    CHECK(sb.buf != NULL && sb.len == 0);
    CHECK_STR(strbuf_str(&sb), "");
    strbuf_release(&sb);
}

static int vaddf_wrap(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
vaddf_wrap(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

TEST(vaddf)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    CHECK(vaddf_wrap(&sb, "[%s:%u]", "k", 9u) == 0);
    CHECK_STR(sb.buf, "[k:9]");
    /* many appends across reallocations */
    for (i = 0; i < 1000; i++)
        vaddf_wrap(&sb, "%zu,", i);
    CHECK(strncmp(sb.buf, "[k:9]0,1,2,", 11) == 0);
    CHECK(strcmp(sb.buf + sb.len - 4, "999,") == 0);
    strbuf_release(&sb);
}

static void
check_json(const char *in, size_t len, const char *want)
{
    struct strbuf sb = STRBUF_INIT;

    CHECK(strbuf_add_json_str(&sb, in, len) == 0);
    CHECK_STR(strbuf_str(&sb), want);
    CHECK(sb.len == strlen(want));
    strbuf_release(&sb);
}

TEST(json_basic)
{
    check_json("", 0, "\"\"");
    check_json("hello", 5, "\"hello\"");
    check_json("a\"b", 3, "\"a\\\"b\"");
    check_json("a\\b", 3, "\"a\\\\b\"");
    check_json("\"\\\"", 3, "\"\\\"\\\\\\\"\"");
    check_json("a\nb\tc\rd", 7, "\"a\\nb\\tc\\rd\"");
    /* '/' and DEL need no escape */
    check_json("a/b\x7f", 4, "\"a/b\x7f\"");
    /* an embedded NUL is escaped, not a terminator */
    check_json("a\0b", 3, "\"a\\u0000b\"");
    check_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    check_json("\b\f", 2, "\"\\u0008\\u000c\"");
    /* escapes at both ends */
    check_json("\n", 1, "\"\\n\"");
    check_json("\nx\n", 3, "\"\\nx\\n\"");
}

TEST(json_all_controls)
{
    struct strbuf sb = STRBUF_INIT, want = STRBUF_INIT;
    char in[32];
    int c;

    for (c = 0; c < 32; c++)
        in[c] = (char)c;
    CHECK(strbuf_add_json_str(&sb, in, 32) == 0);
    strbuf_addch(&want, '"');
    for (c = 0; c < 32; c++) {
        if (c == '\n')
            strbuf_addstr(&want, "\\n");
        else if (c == '\t')
            strbuf_addstr(&want, "\\t");
        else if (c == '\r')
            strbuf_addstr(&want, "\\r");
        else
            strbuf_addf(&want, "\\u%04x", c);
    }
    strbuf_addch(&want, '"');
    CHECK_STR(strbuf_str(&sb), strbuf_str(&want));
    strbuf_release(&sb);
    strbuf_release(&want);
}

TEST(json_utf8_passthrough)
{
    /* UTF-8 is copied byte for byte, never \u-escaped */
    check_json("中文，测试", strlen("中文，测试"), "\"中文，测试\"");
    check_json("\xf0\x9f\x98\x80 é", 7, "\"\xf0\x9f\x98\x80 é\"");
    /* bytes >= 0x80 pass through even when they are not valid UTF-8 */
    check_json("\xff\xc0", 2, "\"\xff\xc0\"");
}

TEST(json_appends)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_addstr(&sb, "{\"text\":");
    CHECK(strbuf_add_json_str(&sb, "a\"b\n", 4) == 0);
    strbuf_addch(&sb, ',');
    CHECK(strbuf_add_json_str(&sb, "", 0) == 0);
    strbuf_addch(&sb, '}');
    CHECK_STR(sb.buf, "{\"text\":\"a\\\"b\\n\",\"\"}");
    strbuf_release(&sb);
}

TEST(json_roundtrip_cjson)
{
    struct strbuf in = STRBUF_INIT, sb = STRBUF_INIT;
    cJSON *j;
    int c;

    /* every byte 1..255 except invalid UTF-8 singles, plus some text */
    for (c = 1; c < 128; c++)
        strbuf_addch(&in, c);
    strbuf_addstr(&in, "中文\xf0\x9f\x98\x80\"\\/");
    CHECK(strbuf_add_json_str(&sb, in.buf, in.len) == 0);
    j = cJSON_Parse(sb.buf);
    CHECK(j != NULL);
    CHECK(j && cJSON_IsString(j));
    if (j && cJSON_IsString(j))
        CHECK_STR(j->valuestring, in.buf);
    cJSON_Delete(j);
    strbuf_release(&in);
    strbuf_release(&sb);
}

TEST(json_limit)
{
    struct strbuf sb;

    /* quotes count against the limit */
    strbuf_init(&sb, 4);
    CHECK(strbuf_add_json_str(&sb, "abc", 3) == NH_ETOOBIG);
    strbuf_release(&sb);
    strbuf_init(&sb, 5);
    CHECK(strbuf_add_json_str(&sb, "abc", 3) == 0);
    CHECK_STR(sb.buf, "\"abc\"");
    strbuf_release(&sb);
    /* escapes count too */
    strbuf_init(&sb, 6);
    CHECK(strbuf_add_json_str(&sb, "\x01", 1) == NH_ETOOBIG);
    strbuf_release(&sb);
    strbuf_init(&sb, 8);
    CHECK(strbuf_add_json_str(&sb, "\x01", 1) == 0);
    CHECK_STR(sb.buf, "\"\\u0001\"");
    strbuf_release(&sb);
}

TEST(str)
{
    struct strbuf sb = STRBUF_INIT;

    CHECK_STR(strbuf_str(&sb), "");
    strbuf_addstr(&sb, "x");
    CHECK(strbuf_str(&sb) == sb.buf);
    strbuf_release(&sb);
    CHECK_STR(strbuf_str(&sb), "");
}

TEST(reset)
{
    struct strbuf sb = STRBUF_INIT;
    char *p;
    size_t alloc;

    strbuf_reset(&sb); /* on a never-grown buffer */
    CHECK(sb.buf == NULL && sb.len == 0);
    strbuf_addstr(&sb, "some text that takes room");
    p = sb.buf;
    alloc = sb.alloc;
    strbuf_reset(&sb);
    CHECK(sb.len == 0);
    CHECK(sb.buf == p && sb.alloc == alloc);
    CHECK_STR(strbuf_str(&sb), "");
    strbuf_addstr(&sb, "new");
    CHECK(sb.buf == p);
    CHECK_STR(sb.buf, "new");
    strbuf_release(&sb);
}

TEST(setlen)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_setlen(&sb, 0); /* no buffer: ignored */
    CHECK(sb.buf == NULL && sb.len == 0);
    strbuf_addstr(&sb, "abcdef");
    strbuf_setlen(&sb, 3);
    CHECK(sb.len == 3);
    CHECK_STR(sb.buf, "abc");
    /* past the allocation: ignored */
    strbuf_setlen(&sb, sb.alloc);
    CHECK(sb.len == 3);
    strbuf_setlen(&sb, 0);
    CHECK_STR(strbuf_str(&sb), "");
    strbuf_release(&sb);
}

TEST(swap)
{
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
    char *pa, *pb;

    strbuf_addstr(&a, "abc");
    strbuf_addstr(&b, "xyz123");
    pa = a.buf;
    pb = b.buf;
    strbuf_swap(&a, &b);
    CHECK(a.buf == pb && b.buf == pa);
    CHECK(a.len == 6 && b.len == 3);
    CHECK_STR(a.buf, "xyz123");
    CHECK_STR(b.buf, "abc");
    /* with an empty one */
    strbuf_release(&b);
    strbuf_swap(&a, &b);
    CHECK(a.buf == NULL && a.len == 0);
    CHECK_STR(strbuf_str(&a), "");
    CHECK_STR(b.buf, "xyz123");
    strbuf_release(&a);
    strbuf_release(&b);
}

TEST(detach)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = 99;
    char *p;

    /* a never-grown buffer detaches as an allocated "" */
    p = strbuf_detach(&sb, &len);
    CHECK(p != NULL);
    CHECK(len == 0);
    CHECK(p && p[0] == '\0');
    free(p);

    strbuf_addstr(&sb, "payload");
    p = strbuf_detach(&sb, &len);
    CHECK(len == 7);
    CHECK_STR(p, "payload");
    CHECK(sb.buf == NULL && sb.len == 0 && sb.alloc == 0);
    CHECK_STR(strbuf_str(&sb), "");
    /* the buffer is reusable and independent of the detached copy */
    strbuf_addstr(&sb, "again");
    CHECK_STR(sb.buf, "again");
    CHECK_STR(p, "payload");
    free(p);

    p = strbuf_detach(&sb, NULL); /* len is optional */
    CHECK_STR(p, "again");
    free(p);
    strbuf_release(&sb);
}

TEST(detach_after_reset)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = 1;
    char *p;

    strbuf_addstr(&sb, "gone");
    strbuf_reset(&sb);
    p = strbuf_detach(&sb, &len);
    CHECK(len == 0);
    CHECK_STR(p, "");
    free(p);
}

/* The eight-bytes-at-a-time scan must find every byte that needs an
 * escape wherever it falls: random strings checked by a cJSON round trip
 * and against a byte-by-byte count of escapes. */
TEST(json_escape_any_position)
{
    static const char pool[] = "ab\"\\\n\t\x01\x1f\x7f \xe4\xb8\xad";
    unsigned seed = 7;
    int k, bad = 0;

    for (k = 0; k < 20000 && !bad; k++) {
        struct strbuf sb = STRBUF_INIT;
        char text[64];
        size_t n, i, want = 2;
        cJSON *j;

        seed = seed * 1103515245u + 12345u;
        n = (seed >> 16) % sizeof(text);
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly plain letters, now and then a byte to escape */
            text[i] = (seed >> 16) % 8
                          ? 'a' + (char)((seed >> 20) % 26)
                          : pool[(seed >> 20) % (sizeof(pool) - 1)];
        }
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)text[i];

            want += c == '"' || c == '\\' || c == '\n' || c == '\t' ? 2
                    : c < 0x20                                      ? 6
                                                                    : 1;
        }
        strbuf_add_json_str(&sb, text, n);
        j = cJSON_Parse(sb.buf);
        bad = sb.len != want || !cJSON_IsString(j) ||
              strlen(j->valuestring) != n || memcmp(j->valuestring, text, n);
        cJSON_Delete(j);
        strbuf_release(&sb);
    }
    CHECK(!bad);
}

int
main(void)
{
    RUN(init_empty);
    RUN(add);
    RUN(add_empty_allocates);
    RUN(grow_many);
    RUN(limit);
    RUN(limit_no_allocation);
    RUN(limit_exact_fit);
    RUN(addf);
    RUN(vaddf);
    RUN(json_basic);
    RUN(json_all_controls);
    RUN(json_utf8_passthrough);
    RUN(json_appends);
    RUN(json_roundtrip_cjson);
    RUN(json_limit);
    RUN(str);
    RUN(reset);
    RUN(setlen);
    RUN(swap);
    RUN(detach);
    RUN(detach_after_reset);
    RUN(json_escape_any_position);
    return test_summary();
}
