/* test-utf8.c - unit tests for common/utf8.c
 *
 * Every stage walks text with these helpers, so the tests go through the
 * whole code space: decoding of valid and malformed sequences (overlong,
 * surrogates, truncated, above U+10FFFF), encoding round trips for every
 * code point, validation at every offset in and around the eight-byte
 * ASCII fast path, repair counts, code point counts, and the CJK classes.
 * Inputs are copied into exact-size heap blocks so that ASan catches any
 * read past the end.
 */
#include "err.h"
#include "strbuf.h"
#include "utf8.h"

#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of exactly len bytes (at least one byte allocated). */
static char *
dup_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    if (p && len)
        memcpy(p, s, len);
    return p;
}

static void
check_decode_ok(const char *s, size_t len, uint32_t want)
{
    char *p = dup_exact(s, len);
    uint32_t cp = 0;
    bool bad = false;
    size_t n;

    if (!p)
        return;
    n = utf8_decode(p, len, &cp, &bad);
    if (n != len || cp != want || bad)
        printf("  decode %04x: n=%zu cp=%04x bad=%d\n", (unsigned)want, n,
               (unsigned)cp, bad);
    CHECK(n == len);
    CHECK(cp == want);
    CHECK(!bad);
    /* bad may be NULL */
    CHECK(utf8_decode(p, len, &cp, NULL) == len && cp == want);
    free(p);
}

static void
check_decode_bad(const char *s, size_t len)
{
    char *p = dup_exact(s, len);
    uint32_t cp = 0;
    bool bad = false;
    size_t n;

    if (!p)
        return;
    n = utf8_decode(p, len, &cp, &bad);
    if (n != 1 || cp != UTF8_REPLACEMENT || !bad)
        printf("  decode bad %02x (len %zu): n=%zu cp=%04x bad=%d\n",
               (unsigned char)s[0], len, n, (unsigned)cp, bad);
    CHECK(n == 1);
    CHECK(cp == UTF8_REPLACEMENT);
    CHECK(bad);
    CHECK(utf8_decode(p, len, &cp, NULL) == 1 && cp == UTF8_REPLACEMENT);
    free(p);
}

TEST(decode_valid)
{
    check_decode_ok("A", 1, 'A');
    check_decode_ok("\0", 1, 0);
    check_decode_ok("\x7f", 1, 0x7F);
    check_decode_ok("\xc2\x80", 2, 0x80);
    check_decode_ok("\xc3\xa9", 2, 0xE9);
    check_decode_ok("\xdf\xbf", 2, 0x7FF);
    check_decode_ok("\xe0\xa0\x80", 3, 0x800);
    check_decode_ok("中", 3, 0x4E2D);
    check_decode_ok("\xed\x9f\xbf", 3, 0xD7FF);
    check_decode_ok("\xee\x80\x80", 3, 0xE000);
    check_decode_ok("\xef\xbf\xbd", 3, 0xFFFD);
    check_decode_ok("\xef\xbf\xbf", 3, 0xFFFF);
    check_decode_ok("\xf0\x90\x80\x80", 4, 0x10000);
    check_decode_ok("\xf0\x9f\x98\x80", 4, 0x1F600);
    check_decode_ok("\xf0\xa0\x80\x80", 4, 0x20000);
    check_decode_ok("\xf4\x8f\xbf\xbf", 4, 0x10FFFF);
}

TEST(decode_consumes_one_char)
{
    uint32_t cp;
    bool bad = false;

    /* only the first code point is consumed */
    CHECK(utf8_decode("中文", 6, &cp, &bad) == 3 && cp == 0x4E2D);
    CHECK(utf8_decode("ab", 2, &cp, &bad) == 1 && cp == 'a');
    CHECK(utf8_decode("\xc3\xa9x", 3, &cp, &bad) == 2 && cp == 0xE9);
    CHECK(!bad);
}

TEST(decode_overlong)
{
    check_decode_bad("\xc0\x80", 2); /* U+0000 in two bytes */
    check_decode_bad("\xc0\xaf", 2);
    check_decode_bad("\xc1\xbf", 2);
    check_decode_bad("\xe0\x80\x80", 3);
    check_decode_bad("\xe0\x80\xaf", 3);
    check_decode_bad("\xe0\x9f\xbf", 3); /* U+07FF in three bytes */
    check_decode_bad("\xf0\x80\x80\x80", 4);
    check_decode_bad("\xf0\x80\x80\xaf", 4);
    check_decode_bad("\xf0\x8f\xbf\xbf", 4); /* U+FFFF in four bytes */
}

TEST(decode_surrogates)
{
    check_decode_bad("\xed\xa0\x80", 3); /* U+D800 */
    check_decode_bad("\xed\xad\xbf", 3); /* U+DB7F */
    check_decode_bad("\xed\xb0\x80", 3); /* U+DC00 */
    check_decode_bad("\xed\xbf\xbf", 3); /* U+DFFF */
    /* a CESU-8 style pair is two bad surrogates */
    check_decode_bad("\xed\xa0\xbd\xed\xb8\x80", 6);
}

TEST(decode_truncated)
{
    check_decode_bad("\xc3", 1);
    check_decode_bad("\xe4", 1);
    check_decode_bad("\xe4\xb8", 2);
    check_decode_bad("\xf0", 1);
    check_decode_bad("\xf0\x9f", 2);
    check_decode_bad("\xf0\x9f\x98", 3);
    /* the sequence is cut by a byte that is not a continuation */
    check_decode_bad("\xc3"
                     "A",
                     2);
    check_decode_bad("\xe4\xb8"
                     "A",
                     3);
    check_decode_bad("\xe4"
                     "AA",
                     3);
    check_decode_bad("\xf0\x9f\x98"
                     "A",
                     4);
    check_decode_bad("\xf0\x9f\x98\xc3\xa9", 5);
    check_decode_bad("\xe4\xb8\xe4\xb8\xad", 5);
}

TEST(decode_too_big)
{
    check_decode_bad("\xf4\x90\x80\x80", 4); /* U+110000 */
    check_decode_bad("\xf4\xbf\xbf\xbf", 4);
    check_decode_bad("\xf5\x80\x80\x80", 4);
    check_decode_bad("\xf7\xbf\xbf\xbf", 4); /* U+1FFFFF */
    check_decode_bad("\xf8\x88\x80\x80\x80", 5);
    check_decode_bad("\xfc\x84\x80\x80\x80\x80", 6);
}

TEST(decode_stray_bytes)
{
    int c;

    for (c = 0x80; c <= 0xBF; c++) { /* lone continuation bytes */
        char s[2] = {(char)c, 'a'};

        check_decode_bad(s, 2);
    }
    check_decode_bad("\xfe", 1);
    check_decode_bad("\xff", 1);
    check_decode_bad("\xfe\xff", 2);
}

static size_t
want_len(uint32_t cp)
{
    if (cp < 0x80)
        return 1;
    if (cp < 0x800)
        return 2;
    if (cp < 0x10000)
        return 3;
    return 4;
}

TEST(encode_roundtrip_all)
{
    uint32_t cp, got;
    size_t bad_enc = 0, bad_dec = 0, bad_valid = 0, bad_sur = 0;

    for (cp = 0; cp <= 0x10FFFF; cp++) {
        char out[4];
        size_t n = utf8_encode(cp, out), m;
        bool bad = false;
        char *p;

        if (cp >= 0xD800 && cp <= 0xDFFF) {
            if (n != 0)
                bad_sur++;
            continue;
        }
        if (n != want_len(cp)) {
            bad_enc++;
            continue;
        }
        p = dup_exact(out, n);
        if (!p)
            continue;
        m = utf8_decode(p, n, &got, &bad);
        if (m != n || got != cp || bad)
            bad_dec++;
        if (utf8_valid_prefix(p, n) != n || utf8_count(p, n) != 1)
            bad_valid++;
        free(p);
    }
    CHECK(bad_sur == 0);
    CHECK(bad_enc == 0);
    CHECK(bad_dec == 0);
    CHECK(bad_valid == 0);
}

TEST(encode_bytes)
{
    char out[4];

    CHECK(utf8_encode(0x24, out) == 1 && out[0] == '$');
    CHECK(utf8_encode(0xA2, out) == 2 && !memcmp(out, "\xc2\xa2", 2));
    CHECK(utf8_encode(0x20AC, out) == 3 && !memcmp(out, "\xe2\x82\xac", 3));
    CHECK(utf8_encode(0x4E2D, out) == 3 && !memcmp(out, "中", 3));
    CHECK(utf8_encode(0x10348, out) == 4 &&
          !memcmp(out, "\xf0\x90\x8d\x88", 4));
    CHECK(utf8_encode(0x10FFFF, out) == 4 &&
          !memcmp(out, "\xf4\x8f\xbf\xbf", 4));
}

TEST(encode_invalid)
{
    char out[4];

    CHECK(utf8_encode(0xD800, out) == 0);
    CHECK(utf8_encode(0xDFFF, out) == 0);
    CHECK(utf8_encode(0x110000, out) == 0);
    CHECK(utf8_encode(0x7FFFFFFF, out) == 0);
    CHECK(utf8_encode(0xFFFFFFFF, out) == 0);
}

static size_t
valid_prefix_exact(const char *s, size_t len)
{
    char *p = dup_exact(s, len);
    size_t n;

    if (!p)
        return (size_t)-1;
    n = utf8_valid_prefix(p, len);
    free(p);
    return n;
}

TEST(valid_prefix_ascii)
{
    char buf[64];
    size_t len, pos, bad = 0;

    CHECK(utf8_valid_prefix("", 0) == 0);
    for (len = 0; len <= 40; len++) {
        memset(buf, 'a', len);
        if (valid_prefix_exact(buf, len) != len)
            bad++;
    }
    CHECK(bad == 0);
    /* one bad byte at every offset of every length: inside the first
     * and later 8-byte words, and in the byte-by-byte tail */
    for (len = 1; len <= 40; len++) {
        for (pos = 0; pos < len; pos++) {
            static const unsigned char bytes[] = {0x80, 0xbf, 0xc0, 0xff, 0xed};
            size_t k;

            for (k = 0; k < sizeof(bytes); k++) {
                memset(buf, 'x', len);
                buf[pos] = (char)bytes[k];
                if (valid_prefix_exact(buf, len) != pos) {
                    if (bad < 5)
                        printf("  len %zu pos %zu byte %02x: got %zu\n", len,
                               pos, bytes[k], valid_prefix_exact(buf, len));
                    bad++;
                }
            }
        }
    }
    CHECK(bad == 0);
    /* NUL and DEL are valid ASCII */
    CHECK(valid_prefix_exact("\0\0\0\0\0\0\0\0\0\x7f", 10) == 10);
}

/* Byte offsets where each code point of s starts, and the end. */
static size_t
starts_of(const char *s, size_t len, size_t *starts)
{
    size_t i = 0, k = 0;

    while (i < len) {
        uint32_t cp;

        starts[k++] = i;
        i += utf8_decode(s + i, len - i, &cp, NULL);
    }
    starts[k] = len;
    return k;
}

TEST(valid_prefix_cjk)
{
    /* ASCII runs of various lengths between multi-byte characters, so
     * that characters straddle the 8-byte words of the fast path */
    static const char text[] = "abc中文defghijk测试lmnopqrstu😀vw，"
                               "éxyz0123456789一二三四五六七八九十end";
    size_t len = sizeof(text) - 1, starts[128], nch, i, k, bad = 0;
    char *buf = malloc(len + 1);

    if (!buf)
        return;
    CHECK(valid_prefix_exact(text, len) == len);
    CHECK(utf8_valid(text, len));
    nch = starts_of(text, len, starts);
    CHECK(utf8_count(text, len) == nch);
    /* an invalid byte in place of each character */
    for (i = 0; i < nch; i++) {
        memcpy(buf, text, len);
        buf[starts[i]] = (char)0xff;
        if (valid_prefix_exact(buf, len) != starts[i])
            bad++;
        /* a stray continuation byte as well */
        buf[starts[i]] = (char)0x80;
        if (valid_prefix_exact(buf, len) != starts[i])
            bad++;
    }
    CHECK(bad == 0);
    /* cut at every byte: the prefix ends at the last whole character */
    for (k = 0; k <= len; k++) {
        size_t want = 0;

        for (i = 0; i <= nch; i++)
            if (starts[i] <= k)
                want = starts[i];
        if (valid_prefix_exact(text, k) != want) {
            if (bad < 5)
                printf("  cut %zu: got %zu want %zu\n", k,
                       valid_prefix_exact(text, k), want);
            bad++;
        }
    }
    CHECK(bad == 0);
    /* a truncated character inside the text, not just at its end */
    for (i = 0; i < nch; i++) {
        size_t clen = starts[i + 1] - starts[i];

        if (clen < 2)
            continue;
        memcpy(buf, text, len);
        buf[starts[i] + clen - 1] = 'A'; /* last byte of the character */
        if (valid_prefix_exact(buf, len) != starts[i])
            bad++;
    }
    CHECK(bad == 0);
    free(buf);
}

TEST(valid_prefix_malformed_kinds)
{
    CHECK(valid_prefix_exact("abcdefgh\xc0\x80", 10) == 8);
    CHECK(valid_prefix_exact("abcdefgh\xed\xa0\x80", 11) == 8);
    CHECK(valid_prefix_exact("abcdefgh\xf4\x90\x80\x80", 12) == 8);
    CHECK(valid_prefix_exact("abcdefghijklmno\xe4\xb8", 17) == 15);
    CHECK(valid_prefix_exact("\xe4\xb8\xad\xe4\xb8", 5) == 3);
    CHECK(valid_prefix_exact("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8) == 8);
    CHECK(!utf8_valid("\xff", 1));
    CHECK(utf8_valid("中文", 6));
}

static long
repair(const char *s, size_t len, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    long n = utf8_repair(&sb, s, len);

    CHECK_STR(strbuf_str(&sb), want);
    CHECK(utf8_valid(strbuf_str(&sb), sb.len));
    strbuf_release(&sb);
    return n;
}

#define R "\xef\xbf\xbd"

TEST(repair)
{
    CHECK(repair("", 0, "") == 0);
    CHECK(repair("plain ascii", 11, "plain ascii") == 0);
    CHECK(repair("中文😀", 10, "中文😀") == 0);
    CHECK(repair("a\xff"
                 "b",
                 3, "a" R "b") == 1);
    CHECK(repair("\xff", 1, R) == 1);
    CHECK(repair("\x80\x80\x80", 3, R R R) == 3);
    /* every byte of a malformed sequence is replaced on its own */
    CHECK(repair("\xc0\x80", 2, R R) == 2);
    CHECK(repair("\xed\xa0\x80", 3, R R R) == 3);
    CHECK(repair("\xf4\x90\x80\x80", 4, R R R R) == 4);
    CHECK(repair("中\xe4\xb8", 5, "中" R R) == 2);
    CHECK(repair("\xe4\xb8"
                 "文",
                 5, R R "文") == 2);
    CHECK(repair("x\xe4\xb8\xe4\xb8\xad", 6, "x" R R "中") == 2);
    /* a replacement character in the input is valid and kept */
    CHECK(repair(R, 3, R) == 0);
}

TEST(repair_appends_and_limit)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_addstr(&sb, "pre:");
    CHECK(utf8_repair(&sb, "a\xff", 2) == 1);
    CHECK_STR(sb.buf, "pre:a" R);
    strbuf_release(&sb);

    /* the strbuf limit comes back as a negative code */
    strbuf_init(&sb, 4);
    CHECK(utf8_repair(&sb, "abcdef", 6) == NH_ETOOBIG);
    strbuf_release(&sb);
    strbuf_init(&sb, 4);
    CHECK(utf8_repair(&sb, "ab\xff", 3) == NH_ETOOBIG);
    strbuf_release(&sb);
    strbuf_init(&sb, 5);
    CHECK(utf8_repair(&sb, "ab\xff", 3) == 1);
    strbuf_release(&sb);
}

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

TEST(repair_random)
{
    /* random bytes biased toward UTF-8 lead and continuation bytes: the
     * repair count and utf8_count agree with a utf8_decode walk */
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, want = STRBUF_INIT;
    int round, bad = 0;

    for (round = 0; round < 2000; round++) {
        size_t len = rng() % 40, i, steps = 0;
        long nbad = 0, got;

        strbuf_reset(&in);
        strbuf_reset(&out);
        strbuf_reset(&want);
        for (i = 0; i < len; i++) {
            static const unsigned char pick[] = {
                'a',  0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
                0xdf, 0xe0, 0xe4, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};

            strbuf_addch(&in, pick[rng() % sizeof(pick)]);
        }
        for (i = 0; i < in.len; steps++) {
            uint32_t cp;
            bool b = false;
            size_t n = utf8_decode(in.buf + i, in.len - i, &cp, &b);

            if (b) {
                nbad++;
                strbuf_addstr(&want, R);
            } else {
                strbuf_add(&want, in.buf + i, n);
            }
            i += n;
        }
        got = utf8_repair(&out, strbuf_str(&in), in.len);
        if (got != nbad || out.len != want.len ||
            memcmp(strbuf_str(&out), strbuf_str(&want), want.len))
            bad++;
        if (utf8_count(strbuf_str(&in), in.len) != steps)
            bad++;
        if ((utf8_valid_prefix(strbuf_str(&in), in.len) == in.len) !=
            (nbad == 0))
            bad++;
    }
    CHECK(bad == 0);
    strbuf_release(&in);
    strbuf_release(&out);
    strbuf_release(&want);
}

TEST(count)
{
    CHECK(utf8_count("", 0) == 0);
    CHECK(utf8_count("abc", 3) == 3);
    CHECK(utf8_count("中文", 6) == 2);
    CHECK(utf8_count("a中😀é", 10) == 4);
    /* "malformed bytes count one each" */
    CHECK(utf8_count("\x80", 1) == 1);
    CHECK(utf8_count("\x80\x80", 2) == 2);
    CHECK(utf8_count("a\x80\x80", 3) == 3);
    CHECK(utf8_count("\xc3\xa9\x80", 3) == 2);
    CHECK(utf8_count("\xc0\x80", 2) == 2);
    CHECK(utf8_count("\xe4\xb8", 2) == 2);
    CHECK(utf8_count("\xed\xa0\x80", 3) == 3);
    CHECK(utf8_count("\xff\xfe", 2) == 2);
}

TEST(cp_is_han)
{
    CHECK(cp_is_han(0x4E00)); /* 一 */
    CHECK(cp_is_han(0x4E2D)); /* 中 */
    CHECK(cp_is_han(0x9FA5));
    CHECK(cp_is_han(0x9FFF));
    CHECK(cp_is_han(0x3400)); /* extension A */
    CHECK(cp_is_han(0x4DBF));
    CHECK(cp_is_han(0xF900)); /* compatibility */
    CHECK(cp_is_han(0xFAFF));
    CHECK(cp_is_han(0x20000)); /* extension B */
    CHECK(cp_is_han(0x2A6DF));
    CHECK(cp_is_han(0x2B740)); /* extension D */
    CHECK(cp_is_han(0x2F800)); /* compatibility supplement */
    CHECK(cp_is_han(0x30000)); /* extension G */
    CHECK(cp_is_han(0x3007));  /* 〇 */
    CHECK(!cp_is_han('A'));
    CHECK(!cp_is_han(0x4DC0)); /* Yijing hexagram symbols */
    CHECK(!cp_is_han(0x3042)); /* あ */
    CHECK(!cp_is_han(0x30AB)); /* カ */
    CHECK(!cp_is_han(0xAC00)); /* 가 */
    CHECK(!cp_is_han(0x3001)); /* 、 */
    CHECK(!cp_is_han(0xFF0C)); /* ， */
    CHECK(!cp_is_han(0x1F600));
    CHECK(!cp_is_han(0x10FFFF));
}

TEST(cp_is_cjk)
{
    CHECK(cp_is_cjk(0x4E2D)); /* Han */
    CHECK(cp_is_cjk(0x20000));
    CHECK(cp_is_cjk(0x3042)); /* hiragana あ */
    CHECK(cp_is_cjk(0x30AB)); /* katakana カ */
    CHECK(cp_is_cjk(0x30FC)); /* ー */
    CHECK(cp_is_cjk(0x31F0)); /* katakana extension */
    CHECK(cp_is_cjk(0xAC00)); /* Hangul 가 */
    CHECK(cp_is_cjk(0xD7A3)); /* 힣 */
    CHECK(cp_is_cjk(0x1100)); /* jamo */
    CHECK(cp_is_cjk(0x3105)); /* bopomofo ㄅ */
    CHECK(!cp_is_cjk('a'));
    CHECK(!cp_is_cjk('0'));
    CHECK(!cp_is_cjk(0xE9));   /* é */
    CHECK(!cp_is_cjk(0x0410)); /* Cyrillic А */
    CHECK(!cp_is_cjk(0x3001)); /* punctuation is not a letter */
    CHECK(!cp_is_cjk(0xFF0C));
    CHECK(!cp_is_cjk(0x1F600));
}

TEST(cp_is_cjk_punct)
{
    /* 　、。《》「【〿 ！（），：；？～ ｡･ —…‘’“”· and vertical forms */
    static const uint32_t yes[] = {
        0x3000, 0x3001, 0x3002, 0x300A, 0x300B, 0x300C, 0x3010, 0x303F,
        0xFF01, 0xFF08, 0xFF09, 0xFF0C, 0xFF1A, 0xFF1B, 0xFF1F, 0xFF5E,
        0xFF61, 0xFF65, 0x2014, 0x2026, 0x2018, 0x2019, 0x201C, 0x201D,
        0x00B7, 0xFE30, 0xFE10, 0xFE19, 0xFE50, 0xFE6B,
    };
    /* ASCII punctuation, letters, Han, kana; full-width digits ０９ and
     * letters ＡＺａｚ, halfwidth katakana ｦ; neighbours of the ranges */
    static const uint32_t no[] = {
        ',',    '.',    '!',    '?',    '"',    'a',    ' ',    0x4E2D,
        0x3042, 0xFF10, 0xFF19, 0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0xFF66,
        0xFF00, 0x2015, 0x2027, 0x201A, 0xFE1A, 0xFE4F, 0xFE6C, 0x1F600,
    };
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!cp_is_cjk_punct(yes[i]))
            printf("  U+%04X should be CJK punctuation\n", (unsigned)yes[i]);
        CHECK(cp_is_cjk_punct(yes[i]));
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (cp_is_cjk_punct(no[i]))
            printf("  U+%04X should not be CJK punctuation\n", (unsigned)no[i]);
        CHECK(!cp_is_cjk_punct(no[i]));
    }
}

int
main(void)
{
    RUN(decode_valid);
    RUN(decode_consumes_one_char);
    RUN(decode_overlong);
    RUN(decode_surrogates);
    RUN(decode_truncated);
    RUN(decode_too_big);
    RUN(decode_stray_bytes);
    RUN(encode_roundtrip_all);
    RUN(encode_bytes);
    RUN(encode_invalid);
    RUN(valid_prefix_ascii);
    RUN(valid_prefix_cjk);
    RUN(valid_prefix_malformed_kinds);
    RUN(repair);
    RUN(repair_appends_and_limit);
    RUN(repair_random);
    RUN(count);
    RUN(cp_is_han);
    RUN(cp_is_cjk);
    RUN(cp_is_cjk_punct);
    return test_summary();
}
