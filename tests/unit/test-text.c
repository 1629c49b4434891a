/* test-text.c - tui/text.c: widths, fitting, wrapping and finding
 *
 * The workbench's layout rules as plain data: CJK counts two columns and
 * breaks anywhere, Latin words wrap at spaces, long words break hard,
 * newlines end lines, searches ignore ASCII case.
 */
#include "../../tui/text.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* The lines of s wrapped at width, joined with '|'. */
static char out[4096];

static const char *
wrap(const char *s, int width)
{
    struct text_lines tl = TEXT_LINES_INIT;
    size_t i, o = 0;

    out[0] = '\0';
    if (text_wrap(s, strlen(s), width, &tl) < 0)
        return "(error)";
    for (i = 0; i < tl.n; i++) {
        if (i)
            out[o++] = '|';
        memcpy(out + o, s + tl.v[i].start, tl.v[i].len);
        o += tl.v[i].len;
        if (tl.v[i].width > width && tl.v[i].len > 4)
            return "(too wide)";
        if (tl.v[i].width != text_width(s + tl.v[i].start, tl.v[i].len))
            return "(bad width)";
    }
    out[o] = '\0';
    text_lines_release(&tl);
    return out;
}

TEST(widths)
{
    CHECK(text_width("abc", 3) == 3);
    CHECK(text_width("中文", strlen("中文")) == 4);
    CHECK(text_width("e\xcc\x81", 3) == 1); /* e + combining acute */
    CHECK(text_width("\xff", 1) == 1);      /* invalid byte */
    CHECK(text_width("\t", 1) == 1);
    CHECK(text_width("ｱ", strlen("ｱ")) == 1); /* half-width katakana */
}

TEST(fit)
{
    int used = -1;
    const char *s = "a中文b";

    CHECK(text_fit(s, strlen(s), 2, &used) == 1 && used == 1);
    CHECK(text_fit(s, strlen(s), 3, &used) == 4 && used == 3);
    CHECK(text_fit(s, strlen(s), 100, &used) == strlen(s) && used == 6);
    CHECK(text_fit(s, strlen(s), 0, &used) == 0 && used == 0);
}

TEST(latin_words)
{
    CHECK_STR(wrap("the quick brown fox", 10), "the quick|brown fox");
    CHECK_STR(wrap("the quick brown fox", 9), "the quick|brown fox");
    CHECK_STR(wrap("the quick brown fox", 8), "the|quick|brown|fox");
    CHECK_STR(wrap("abcdefghij", 4), "abcd|efgh|ij");
    CHECK_STR(wrap("ab  cd", 3), "ab|cd");
    CHECK_STR(wrap("", 10), "");
    CHECK_STR(wrap("short", 80), "short");
}

TEST(newlines)
{
    CHECK_STR(wrap("a\nb\n\nc", 10), "a|b||c");
    CHECK_STR(wrap("a\n", 10), "a");
}

TEST(cjk)
{
    /* 10 wide characters in 8 columns: 4 a line */
    CHECK_STR(wrap("一二三四五六七八九十", 8), "一二三四|五六七八|九十");
    /* odd width: a wide character never straddles the edge */
    CHECK_STR(wrap("一二三四五", 5), "一二|三四|五");
    /* mixed: a break next to a wide character */
    CHECK_STR(wrap("abc中文def", 6), "abc中|文def");
    CHECK_STR(wrap("中文 text here", 8), "中文|text|here");
    /* a wide character wider than the line still moves on */
    CHECK_STR(wrap("中文", 1), "中|文");
}

TEST(find)
{
    const char *s = "Call <PHONE> or mail <EMAIL>; <x> <A> Hello hello";
    size_t n = strlen(s), plen = 0;
    long p;

    CHECK(text_find(s, n, 0, "hello", 5) == (long)(strstr(s, "Hello") - s));
    CHECK(text_find(s, n, 40, "HELLO", 5) == (long)(strstr(s, "hello") - s));
    CHECK(text_find(s, n, 0, "zzz", 3) == -1);
    p = text_find_placeholder(s, n, 0, &plen);
    CHECK(p == 5 && plen == 7);
    p = text_find_placeholder(s, n, (size_t)p + plen, &plen);
    CHECK(p == (long)(strstr(s, "<EMAIL>") - s) && plen == 7);
    CHECK(text_find_placeholder(s, n, (size_t)p + plen, &plen) == -1);
}

int
main(void)
{
    RUN(widths);
    RUN(fit);
    RUN(latin_words);
    RUN(newlines);
    RUN(cjk);
    RUN(find);
    return test_summary();
}
