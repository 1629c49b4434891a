/* test-stage-filter-rules.c - the filter.rules stage, rule by rule
 *
 * Each rule is tried on Chinese or English text built to sit just inside
 * and just outside its threshold, so that a change to a definition or a
 * default shows up here. Texts are assembled by small builders: Han
 * lines from the Thousand Character Classic, English lines from a word
 * pool, and mojibake made the way real tools make it (UTF-8 or GBK bytes
 * read as Latin-1 / cp1252).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h> /* before stage-util.h, which uses snprintf */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stage-util.h"
#include "test.h"

static char reason_buf[600];

/* Run filter.rules; "keep", the drop reason, or "error: MESSAGE". */
static const char *
verdict(const char *params, const char *text)
{
    struct stage_run r;

    stage_run(&r, "filter.rules", params, text);
    if (r.rc < 0)
        snprintf(reason_buf, sizeof(reason_buf), "error: %s", r.err.msg);
    else
        snprintf(reason_buf, sizeof(reason_buf), "%s",
                 r.verdict == STAGE_KEEP ? "keep" : r.reason);
    stage_run_release(&r);
    return reason_buf;
}

/* meta.rules.KEY after an annotated run (-1 when absent). */
static double
stat_of(const char *params, const char *text, const char *key)
{
    struct stage_run r;
    const cJSON *m, *v;
    double out = -1;

    stage_run(&r, "filter.rules", params, text);
    m = cJSON_GetObjectItemCaseSensitive(r.obj, "meta");
    m = cJSON_GetObjectItemCaseSensitive(m, "rules");
    v = cJSON_GetObjectItemCaseSensitive(m, key);
    if (cJSON_IsNumber(v))
        out = v->valuedouble;
    stage_run_release(&r);
    return out;
}

static const char han[] =
    "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳"
    "云腾致雨露结为霜金生丽水玉出昆冈剑号巨阙珠称夜光果珍李柰菜重芥姜"
    "海咸河淡鳞潜羽翔龙师火帝鸟官人皇始制文字乃服衣裳推位让国有虞陶唐";

/* Append n Han characters starting at character k of the pool. */
static void
add_han(struct strbuf *sb, size_t k, size_t n)
{
    size_t pool = (sizeof(han) - 1) / 3, i;

    for (i = 0; i < n; i++)
        strbuf_add(sb, han + 3 * ((k + i) % pool), 3);
}

/* nlines lines of (len - 1) Han characters and "。"; len chars a line. */
static void
add_zh_lines(struct strbuf *sb, size_t nlines, size_t len)
{
    size_t i;

    for (i = 0; i < nlines; i++) {
        if (sb->len)
            strbuf_addch(sb, '\n');
        add_han(sb, i * 7, len - 1);
        strbuf_addstr(sb, "。");
    }
}

static const char *const pool[] = {
    "the",   "river",    "carried", "small", "boats", "past",
    "green", "fields",   "and",     "old",   "stone", "houses",
    "while", "children", "watched", "from",  "low",   "bridges",
    "that",  "have",     "stood",   "for",   "many",
};

/* n words from the pool on one line, starting at word k. */
static void
add_words(struct strbuf *sb, size_t k, size_t n)
{
    size_t npool = sizeof(pool) / sizeof(pool[0]), i;

    for (i = 0; i < n; i++) {
        if (i)
            strbuf_addch(sb, ' ');
        strbuf_addstr(sb, pool[(k + i) % npool]);
    }
}

/* n words from the pool, ten a line, each line ending in end. */
static void
add_en(struct strbuf *sb, size_t n, const char *end)
{
    size_t npool = sizeof(pool) / sizeof(pool[0]), i;

    for (i = 0; i < n; i++) {
        if (i && i % 10 == 0)
            strbuf_addch(sb, '\n');
        else if (i)
            strbuf_addch(sb, ' ');
        strbuf_addstr(sb, pool[i % npool]);
        if (i % 10 == 9 || i == n - 1)
            strbuf_addstr(sb, end);
    }
}

static char *
zh_text(size_t nlines, size_t len, const char *tail)
{
    struct strbuf sb = STRBUF_INIT;

    add_zh_lines(&sb, nlines, len);
    strbuf_addstr(&sb, tail);
    return strbuf_detach(&sb, NULL);
}

static char *
en_text(size_t nwords, const char *tail)
{
    struct strbuf sb = STRBUF_INIT;

    add_en(&sb, nwords, ".");
    strbuf_addstr(&sb, tail);
    return strbuf_detach(&sb, NULL);
}

/* Each byte of s as the Latin-1 character of that value, in UTF-8. */
static char *
as_latin1(const char *s, size_t repeat)
{
    struct strbuf sb = STRBUF_INIT;
    size_t r;
    const unsigned char *p;

    for (r = 0; r < repeat; r++) {
        for (p = (const unsigned char *)s; *p; p++) {
            char enc[4];

            strbuf_add(&sb, enc, utf8_encode(*p, enc));
        }
        strbuf_addch(&sb, '\n');
    }
    return strbuf_detach(&sb, NULL);
}

#define CHECK_VERDICT(params, text, want)                                      \
    do {                                                                       \
        char *t_ = (text);                                                     \
        CHECK_STR(verdict(params, t_), want);                                  \
        free(t_);                                                              \
    } while (0)

TEST(zh_good_kept)
{
    char *t = zh_text(12, 30, "");

    CHECK_STR(verdict(NULL, t), "keep");
    CHECK(stat_of("{\"annotate\": true}", t, "cjk_ratio") > 0.9);
    CHECK(stat_of("{\"annotate\": true}", t, "chars") == 360);
    free(t);
}

TEST(zh_too_short_and_long)
{
    /* ChineseWebText drops 200 characters or fewer */
    CHECK_VERDICT(NULL, zh_text(10, 20, ""), "too_short");
    CHECK_VERDICT(NULL, zh_text(10, 20, "好"), "keep");
    /* whitespace does not count */
    CHECK_VERDICT(NULL, zh_text(10, 20, "  \n\t　"), "too_short");
    CHECK_VERDICT("{\"max_chars\": 400}", zh_text(20, 20, ""), "keep");
    CHECK_VERDICT("{\"max_chars\": 400}", zh_text(20, 20, "好"), "too_long");
}

/* lines of `cjk` Han, (19 - cjk) ASCII letters and "。" */
static char *
mixed_lines(size_t nlines, size_t cjk)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < nlines; i++) {
        add_han(&sb, i, cjk);
        strbuf_add(&sb, "abcdefghijklmnopqrs", 19 - cjk);
        strbuf_addstr(&sb, "。\n");
    }
    return strbuf_detach(&sb, NULL);
}

TEST(zh_cjk_ratio_and_language_gate)
{
    CHECK_VERDICT("{\"language\": \"zh\"}", mixed_lines(11, 6), "keep");
    CHECK_VERDICT("{\"language\": \"zh\"}", mixed_lines(11, 5),
                  "low_cjk_ratio");
    /* auto: 6 of 19 letters are CJK (>= 0.3), so the CJK rules apply */
    CHECK_VERDICT(NULL, mixed_lines(11, 6), "keep");
    /* 5 of 19 is below 0.3: judged as non-CJK text, 11 words */
    CHECK_VERDICT(NULL, mixed_lines(11, 5), "gopher_word_count");
    /* "any": Chinese is judged by the Gopher rules too */
    CHECK_VERDICT("{\"language\": \"any\"}", zh_text(12, 30, ""),
                  "gopher_word_count");
    CHECK_VERDICT("{\"language\": \"zh\"}", en_text(120, ""), "low_cjk_ratio");
    CHECK_VERDICT("{\"cjk_doc_ratio\": 0.35}", mixed_lines(11, 6),
                  "gopher_word_count");
}

TEST(zh_short_lines)
{
    CHECK_VERDICT(NULL, zh_text(25, 9, ""), "short_lines");
    CHECK_VERDICT(NULL, zh_text(25, 10, ""), "keep");
    /* blank lines do not count as lines */
    CHECK_VERDICT(NULL, zh_text(25, 10, "\n\n\n\n"), "keep");
}

/* 11 lines of 20 characters, each with k copies of sym */
static char *
zh_with(size_t k, const char *sym)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i, j;

    for (i = 0; i < 11; i++) {
        add_han(&sb, i * 3, 19 - k);
        for (j = 0; j < k; j++)
            strbuf_addstr(&sb, sym);
        strbuf_addstr(&sb, "。\n");
    }
    return strbuf_detach(&sb, NULL);
}

TEST(zh_symbols_and_digits)
{
    CHECK_VERDICT(NULL, zh_with(2, "★"), "keep");
    CHECK_VERDICT(NULL, zh_with(3, "★"), "symbol_ratio");
    CHECK_VERDICT(NULL, zh_with(3, "😀"), "symbol_ratio");
    CHECK_VERDICT(NULL, zh_with(3, "#"), "symbol_ratio");
    CHECK_VERDICT(NULL, zh_with(3, "═"), "symbol_ratio");
    CHECK_VERDICT(NULL, zh_with(8, "7"), "keep");
    CHECK_VERDICT(NULL, zh_with(9, "7"), "digit_ratio");
    CHECK_VERDICT(NULL, zh_with(9, "７"), "digit_ratio");
    CHECK_VERDICT("{\"max_digit_ratio\": 0.5}", zh_with(9, "7"), "keep");
}

static char *
zh_url(size_t urllen)
{
    struct strbuf sb = STRBUF_INIT;
    size_t start;

    add_zh_lines(&sb, 11, 20);
    strbuf_addstr(&sb, "\n见");
    start = sb.len;
    strbuf_addstr(&sb, "https://example.cn/");
    while (sb.len - start < urllen)
        strbuf_addch(&sb, 'a');
    strbuf_addstr(&sb, "。");
    return strbuf_detach(&sb, NULL);
}

TEST(zh_urls)
{
    /* 11 * 20 + 2 = 222 other characters: 56 of 278 is over 0.2 */
    CHECK_VERDICT(NULL, zh_url(50), "keep");
    CHECK_VERDICT(NULL, zh_url(56), "url_ratio");
    {
        char *t = zh_url(56);

        CHECK(stat_of("{\"annotate\": true}", t, "url_ratio") > 0.2);
        free(t);
        t = zh_text(11, 20,
                    "\nwww.example.com/aaaaaaaaaaaaaaaaaaaaaa"
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa。");
        CHECK_STR(verdict(NULL, t), "url_ratio");
        free(t);
    }
}

/* n lines of 20 Han characters, the first k ending in "。" */
static char *
zh_punct(size_t n, size_t k, const char *mark)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < n; i++) {
        add_han(&sb, i * 5, 20);
        strbuf_addstr(&sb, i < k ? mark : "");
        strbuf_addch(&sb, '\n');
    }
    return strbuf_detach(&sb, NULL);
}

TEST(zh_punct_lines)
{
    CHECK_VERDICT(NULL, zh_punct(10, 1, "。"), "keep");
    CHECK_VERDICT(NULL, zh_punct(11, 0, "。"), "few_punct_lines");
    CHECK_VERDICT(NULL, zh_punct(11, 1, "。"), "few_punct_lines");
    CHECK_VERDICT(NULL, zh_punct(10, 1, "！”"), "keep");
    CHECK_VERDICT(NULL, zh_punct(10, 1, "……"), "keep");
    CHECK_VERDICT(NULL, zh_punct(10, 1, "，"), "few_punct_lines");
}

TEST(zh_bad_words)
{
    CHECK_VERDICT(NULL, zh_text(11, 20, "\n澳门赌场，百家乐，真人荷官。"),
                  "bad_words");
    /* two occurrences are below min_badword_count */
    CHECK_VERDICT(NULL, zh_text(11, 20, "\n澳门赌场，百家乐。"), "keep");
    CHECK_VERDICT("{\"min_badword_count\": 2}",
                  zh_text(11, 20, "\n澳门赌场，百家乐。"), "bad_words");
    /* three in 1,200 characters is 2.5 per 1,000: news, not spam */
    CHECK_VERDICT(NULL, zh_text(60, 20, "\n博彩博彩博彩。"), "keep");
    CHECK_VERDICT(NULL, zh_text(40, 20, "\n博彩博彩博彩博彩。"), "bad_words");
    CHECK_VERDICT("{\"badwords_builtin\": false}",
                  zh_text(11, 20, "\n澳门赌场，百家乐，真人荷官。"), "keep");
    {
        char *t = zh_text(11, 20, "\n加微信加微信");

        CHECK(stat_of("{\"annotate\": true}", t, "bad_words") == 2);
        free(t);
    }
}

TEST(en_bad_words_case_and_boundaries)
{
    CHECK_VERDICT(NULL, en_text(60, "\nBuy VIAGRA, Viagra and viagra now."),
                  "bad_words");
    CHECK_VERDICT(NULL,
                  en_text(60, "\nOnline Casino, ONLINE CASINO, "
                              "online casino tonight."),
                  "bad_words");
    /* inside a longer word it does not count */
    CHECK_VERDICT(NULL, en_text(60, "\nviagras cialisx xviagra pornography."),
                  "keep");
    CHECK_VERDICT(NULL, en_text(60, "\nporn, PORN, Porn."), "bad_words");
}

/* Write a badwords file under /tmp (one per process); returns its path. */
static const char *
badwords_file(const char *contents)
{
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/test-filter-rules-%ld.txt",
             (long)getpid());
    f = fopen(path, "w");

    if (f) {
        fputs(contents, f);
        fclose(f);
    }
    return path;
}

TEST(badwords_file_loading)
{
    char params[256];
    const char *path =
        badwords_file("# spam terms\n\n  自定义坏词  \r\nFoo Bar\n#博彩\n");

    snprintf(params, sizeof(params), "{\"badwords_file\": \"%s\"}", path);
    CHECK_VERDICT(params, zh_text(11, 20, "\n自定义坏词自定义坏词自定义坏词。"),
                  "bad_words");
    CHECK_VERDICT(NULL, zh_text(11, 20, "\n自定义坏词自定义坏词自定义坏词。"),
                  "keep");
    CHECK_VERDICT(params, en_text(60, "\nfoo bar, FOO BAR, Foo Bar."),
                  "bad_words");
    /* the built-in list stays on unless switched off */
    CHECK_VERDICT(params, zh_text(11, 20, "\n澳门赌场，百家乐，真人荷官。"),
                  "bad_words");
    CHECK_STR(verdict("{\"badwords_file\": \"/nonexistent/bw.txt\"}", "x"),
              "error: stages[0] (test): cannot open '/nonexistent/bw.txt': "
              "No such file or directory");
    badwords_file("ok\n\xff\xfe\n");
    CHECK(strstr(verdict(params, "x"), "line 2") != NULL);
    remove(path);
}

TEST(garbled_mojibake)
{
    static const char zh[] = "我们今天在图书馆里讨论了城市交通的发展问题。";
    static const char gbk[] =
        "\xCE\xD2\xC3\xC7\xBD\xF1\xCC\xEC\xD4\xDA\xCD\xBC\xCA\xE9\xB9\xDD"
        "\xC0\xEF\xCC\xD6\xC2\xDB\xC1\xCB\xB3\xC7\xCA\xD0\xBD\xBB\xCD\xA8"
        "\xB5\xC4\xB7\xA2\xD5\xB9\xCE\xCA\xCC\xE2\xA1\xA3";
    /* the same sentence's UTF-8 bytes read as cp1252 */
    static const char cp1252[] =
        "æˆ‘ä»¬ä»Šå¤©åœ¨å›¾ä¹¦é¦†é‡Œè®¨è®ºäº†åŸŽå¸‚äº¤é€šçš„å‘å±•é—®é¢˜ã€‚";
    struct strbuf sb = STRBUF_INIT;
    int i;

    /* UTF-8 read as Latin-1, GBK read as Latin-1, in every mode */
    CHECK_VERDICT(NULL, as_latin1(zh, 10), "garbled");
    CHECK_VERDICT("{\"language\": \"zh\"}", as_latin1(zh, 10), "garbled");
    CHECK_VERDICT(NULL, as_latin1(gbk, 10), "garbled");
    for (i = 0; i < 10; i++) {
        strbuf_addstr(&sb, cp1252);
        strbuf_addch(&sb, '\n');
    }
    CHECK_VERDICT(NULL, strbuf_detach(&sb, NULL), "garbled");
    /* U+FFFD: 11 of 231 characters keeps, 12 of 232 drops */
    for (i = 11; i <= 12; i++) {
        struct strbuf f = STRBUF_INIT;
        int j;

        add_zh_lines(&f, 11, 20);
        strbuf_addch(&f, '\n');
        for (j = 0; j < i; j++)
            strbuf_addstr(&f, "\xEF\xBF\xBD");
        CHECK_STR(verdict(NULL, f.buf), i == 11 ? "keep" : "garbled");
        strbuf_release(&f);
    }
    CHECK_VERDICT(NULL, zh_text(11, 20, "\n锟斤拷锟斤拷锟斤拷锟斤拷"),
                  "garbled");
    CHECK_VERDICT(NULL,
                  zh_text(11, 20,
                          "\n\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"
                          "\xf7\xf6\xf5\xf4"),
                  "garbled");
    CHECK_VERDICT("{\"max_garbled_ratio\": 1}", as_latin1(zh, 10),
                  "gopher_word_count");
}

TEST(latin_text_not_garbled)
{
    static const char pt[] =
        "A informação sobre a situação da educação e da população foi "
        "publicada pela administração com atenção às condições locais.\n"
        "Für die Straße über dem Fluß gibt es schöne Häuser, naïve café.\n";
    struct strbuf sb = STRBUF_INIT;
    int i;

    for (i = 0; i < 5; i++)
        strbuf_addstr(&sb, pt);
    CHECK(stat_of("{\"annotate\": true}", sb.buf, "garbled_ratio") == 0);
    strbuf_release(&sb);
}

/* Chinese quotation marks and dashes are cp1252 characters too, but
 * alone, without Latin-1 letters, they are not mojibake. */
TEST(zh_quotes_and_dashes_not_garbled)
{
    static const char zh[] =
        "子曰：“学而时习之，不亦说乎？”——论语\n"
        "孟武伯问孝。子曰：“父母唯其疾之忧。”‘无违’……——论语，为政篇\n";
    struct strbuf sb = STRBUF_INIT;
    int i;

    for (i = 0; i < 5; i++)
        strbuf_addstr(&sb, zh);
    CHECK(stat_of("{\"annotate\": true}", sb.buf, "garbled_ratio") == 0);
    strbuf_release(&sb);
}

TEST(gopher_word_count_and_length)
{
    CHECK_VERDICT(NULL, en_text(49, ""), "gopher_word_count");
    CHECK_VERDICT(NULL, en_text(50, ""), "keep");
    CHECK_VERDICT(NULL, en_text(120, ""), "keep");
    CHECK_VERDICT("{\"gopher_max_words\": 60}", en_text(61, ""),
                  "gopher_word_count");
    {
        struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, l = STRBUF_INIT;
        int i;

        for (i = 0; i < 60; i++) {
            strbuf_addstr(&a, i % 2 ? "an " : "to ");
            strbuf_addstr(&b, i % 2 ? "the " : "and ");
            strbuf_addstr(&l, "abcdefghijk ");
        }
        strbuf_addstr(&b, "end.");
        CHECK_STR(verdict(NULL, a.buf), "gopher_mean_word_len");
        CHECK_STR(verdict(NULL, b.buf), "keep");
        CHECK_STR(verdict(NULL, l.buf), "gopher_mean_word_len");
        strbuf_release(&a);
        strbuf_release(&b);
        strbuf_release(&l);
    }
}

TEST(gopher_symbols_and_alpha)
{
    CHECK_VERDICT(NULL, en_text(54, " #a #b #c #d #e #f."), "keep");
    CHECK_VERDICT(NULL, en_text(53, " #a #b #c #d #e #f #g."),
                  "gopher_symbol_ratio");
    CHECK_VERDICT(NULL, en_text(53, " a... b... c... d... e... f... g..."),
                  "gopher_symbol_ratio");
    CHECK_VERDICT(NULL, en_text(48, " 1 2 3 4 5 6 7 8 9 10 11 12."), "keep");
    CHECK_VERDICT(NULL, en_text(47, " 1 2 3 4 5 6 7 8 9 10 11 12 13."),
                  "gopher_alpha_words");
}

/* ten lines of ten words; the first k start with "- " or end in "..." */
static char *
en_lines(size_t k, bool bullets)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < 10; i++) {
        if (bullets && i < k)
            strbuf_addstr(&sb, "- ");
        add_words(&sb, i * 3, 10 + i);
        strbuf_addstr(&sb, !bullets && i < k ? "...\n" : ".\n");
    }
    return strbuf_detach(&sb, NULL);
}

TEST(gopher_bullets_ellipsis_stop_words)
{
    CHECK_VERDICT(NULL, en_lines(9, true), "keep");
    CHECK_VERDICT(NULL, en_lines(10, true), "gopher_bullet_lines");
    CHECK_VERDICT(NULL, en_lines(3, false), "keep");
    CHECK_VERDICT(NULL, en_lines(4, false), "gopher_ellipsis_lines");
    {
        struct strbuf sb = STRBUF_INIT;
        int i;

        for (i = 0; i < 6; i++)
            strbuf_addstr(&sb, "River boats pass green fields while "
                               "children watched from bridges.\n");
        CHECK_STR(
            verdict("{\"disable\": [\"fineweb_dup_line_chars\"]}", sb.buf),
            "gopher_stop_words");
        strbuf_addstr(&sb, "The boats.\n");
        CHECK_STR(
            verdict("{\"disable\": [\"fineweb_dup_line_chars\"]}", sb.buf),
            "gopher_stop_words");
        strbuf_addstr(&sb, "Rivers AND (fields).\n");
        CHECK_STR(
            verdict("{\"disable\": [\"fineweb_dup_line_chars\"]}", sb.buf),
            "keep");
        strbuf_release(&sb);
    }
}

TEST(c4_rules)
{
    CHECK_VERDICT(NULL, en_text(100, "\nLorem Ipsum dolor sit amet."),
                  "c4_lorem_ipsum");
    CHECK_VERDICT(NULL, en_text(100, "\nIt was f() { return 1; }."), "keep");
    CHECK_VERDICT("{\"c4_curly_bracket\": true}",
                  en_text(100, "\nIt was f() { return 1; }."),
                  "c4_curly_bracket");
}

TEST(c4_line_filter)
{
    struct stage_run r;
    char *want = en_text(100, "");
    char *t = en_text(100, "\nPlease enable JavaScript to view this page."
                           "\nHome About Contact"
                           "\nThis site uses cookies to work well."
                           "\nShort line here."
                           "\nAnd this one trails off...");

    stage_run(&r, "filter.rules", "{\"c4_line_filter\": true}", t);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, want);
    stage_run_release(&r);
    /* off by default; Chinese text is never rewritten */
    stage_run(&r, "filter.rules", NULL, t);
    CHECK_STR(r.text, t);
    stage_run_release(&r);
    free(t);
    t = zh_text(12, 30, "\nabc");
    stage_run(&r, "filter.rules", "{\"c4_line_filter\": true}", t);
    CHECK_STR(r.text, t);
    stage_run_release(&r);
    free(t);
    free(want);
}

/* n lines of about 60 characters, the first k ending in "." */
static char *
en_punct(size_t n, size_t k)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < n; i++) {
        add_words(&sb, i * 5, 11 + i % 7);
        strbuf_addstr(&sb, i < k ? ".\n" : "\n");
    }
    return strbuf_detach(&sb, NULL);
}

TEST(fineweb_rules)
{
    CHECK_VERDICT(NULL, en_punct(25, 3), "keep");
    CHECK_VERDICT(NULL, en_punct(25, 2), "fineweb_punct_lines");
    {
        struct strbuf sb = STRBUF_INIT;
        char *base = en_punct(20, 20), *first;
        size_t l0;

        strbuf_addstr(&sb, base);
        first = strchr(base, '\n');
        l0 = (size_t)(first - base) + 1;
        strbuf_add(&sb, base, l0);
        CHECK_STR(verdict(NULL, sb.buf), "keep");
        strbuf_add(&sb, base, l0);
        strbuf_add(&sb, base, l0);
        CHECK_STR(verdict(NULL, sb.buf), "fineweb_dup_line_chars");
        free(base);
        strbuf_release(&sb);
    }
    CHECK_VERDICT(NULL, en_text(60, "\nShort one.\nShort two."), "keep");
    CHECK_VERDICT(NULL,
                  en_text(60, "\nShort one.\nShort two.\nShort 3."
                              "\nShort 4.\nShort 5.\nShort 6.\nShort 7."
                              "\nShort 8.\nShort 9.\nShort 10.\nShort 11."
                              "\nShort 12.\nShort 13."),
                  "fineweb_short_lines");
}

/* Overlapping occurrences of needle in hay. */
static size_t
count_naive(const char *hay, const char *needle)
{
    size_t n = 0;
    const char *p = hay;

    while ((p = strstr(p, needle))) {
        n++;
        p += 3; /* one Han character on */
    }
    return n;
}

TEST(automaton_matches_naive_search)
{
    static const char *const terms[] = {"甲乙", "乙丙甲", "甲甲", "丙",
                                        "甲乙丙甲乙"};
    static const char *const abc[] = {"甲", "乙", "丙"};
    char params[256];
    const char *path = badwords_file("甲乙\n乙丙甲\n甲甲\n丙\n甲乙丙甲乙\n");
    unsigned seed = 12345;
    int round;

    snprintf(params, sizeof(params),
             "{\"badwords_file\": \"%s\", \"badwords_builtin\": false, "
             "\"annotate\": true}",
             path);
    for (round = 0; round < 50; round++) {
        struct strbuf sb = STRBUF_INIT;
        size_t want = 0, i;

        for (i = 0; i < 40 + (size_t)round; i++) {
            seed = seed * 1103515245u + 12345u;
            strbuf_addstr(&sb, abc[(seed >> 16) % 3]);
        }
        for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
            want += count_naive(sb.buf, terms[i]);
        CHECK(stat_of(params, sb.buf, "bad_words") == (double)want);
        strbuf_release(&sb);
    }
    remove(path);
}

/* Matches of a lowercase needle in hay, ASCII case folded, where a first
 * or last ASCII letter or digit of the needle must sit at a word
 * boundary: what the automaton should count. */
static size_t
count_bounded(const char *hay, const char *needle)
{
    size_t n = 0, m = strlen(needle), len = strlen(hay), i, j;
    bool lb = isalnum((unsigned char)needle[0]);
    bool rb = isalnum((unsigned char)needle[m - 1]);

    for (i = 0; i + m <= len; i++) {
        for (j = 0; j < m; j++)
            if (tolower((unsigned char)hay[i + j]) != (unsigned char)needle[j])
                break;
        if (j < m)
            continue;
        if (lb && i > 0 && isalnum((unsigned char)hay[i - 1]))
            continue;
        if (rb && i + m < len && isalnum((unsigned char)hay[i + m]))
            continue;
        n++;
    }
    return n;
}

TEST(automaton_mixed_scripts_and_boundaries)
{
    /* letter terms, terms mixing Han and letters, a term with a space:
     * exercises letter runs, Han runs and the start-state skips */
    static const char *const terms[] = {"ab",    "ba",  "abc",  "cab",
                                        "甲a",   "a甲", "b乙b", "乙甲",
                                        "ab ca", "甲",  "c1"};
    static const char *const abc[] = {"a",  "b",  "c", "A",  "B", " ",
                                      "甲", "乙", "1", "丙", "。"};
    char params[256];
    const char *path = badwords_file(
        "ab\nba\nabc\ncab\n甲a\na甲\nb乙b\n乙甲\nab ca\n甲\nc1\n");
    unsigned seed = 777;
    int round;

    snprintf(params, sizeof(params),
             "{\"badwords_file\": \"%s\", \"badwords_builtin\": false, "
             "\"annotate\": true}",
             path);
    for (round = 0; round < 200; round++) {
        struct strbuf sb = STRBUF_INIT;
        size_t want = 0, i;

        for (i = 0; i < 30 + (size_t)round; i++) {
            seed = seed * 1103515245u + 12345u;
            strbuf_addstr(&sb, abc[(seed >> 16) % 11]);
        }
        for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
            want += count_bounded(sb.buf, terms[i]);
        CHECK(stat_of(params, sb.buf, "bad_words") == (double)want);
        strbuf_release(&sb);
    }
    remove(path);
}

TEST(line_set_is_per_document)
{
    const struct stage_ops *ops = stage_find("filter.rules");
    cJSON *p = cJSON_Parse("{\"annotate\": true}");
    struct stage_ctx ctx = {0};
    struct nh_error err;
    void *conf = NULL;
    struct doc d = {0};
    const char *reason = NULL;
    struct strbuf sb = STRBUF_INIT;
    char *t;
    int k;

    for (k = 0; k < 2000; k++) { /* over the set's first capacity */
        char num[32];

        snprintf(num, sizeof(num), "Line %d of ", k);
        strbuf_addstr(&sb, num);
        add_words(&sb, (size_t)k, 8);
        strbuf_addstr(&sb, ".\n");
    }
    t = strbuf_detach(&sb, NULL);

    CHECK(ops->init(p, "test", &conf, &err) == 0);
    ctx.tstate = ops->thread_init(conf);
    d.id = "x";
    d.source = "";
    for (k = 0; k < 3; k++) {
        const cJSON *r;

        d.obj = cJSON_CreateObject();
        strbuf_reset(&d.text);
        strbuf_addstr(&d.text, t);
        CHECK(ops->apply(conf, &ctx, &d, &reason) == STAGE_KEEP);
        r = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(d.obj, "meta"), "rules");
        /* the same text again is not a duplicate of the last document */
        CHECK(cJSON_GetObjectItemCaseSensitive(r, "dup_line_char_frac")
                  ->valuedouble < 0.01);
        cJSON_Delete(d.obj);
    }
    strbuf_reset(&d.text);
    for (k = 0; k < 3; k++)
        strbuf_addstr(&d.text, t);
    d.obj = cJSON_CreateObject();
    CHECK(ops->apply(conf, &ctx, &d, &reason) == STAGE_DROP);
    CHECK_STR(reason, "fineweb_dup_line_chars");
    cJSON_Delete(d.obj);
    strbuf_release(&d.text);
    ops->thread_free(ctx.tstate);
    ops->free(conf);
    cJSON_Delete(p);
    free(t);
}

TEST(disable_list)
{
    CHECK_VERDICT("{\"disable\": [\"too_short\"]}", zh_text(5, 20, ""), "keep");
    CHECK_VERDICT("{\"disable\": [\"too_short\", \"short_lines\"]}",
                  zh_text(5, 5, ""), "keep");
    CHECK_VERDICT("{\"disable\": [\"too_short\"]}", zh_text(5, 5, ""),
                  "short_lines");
    CHECK_VERDICT(NULL, en_text(20, ""), "gopher_word_count");
    CHECK_VERDICT("{\"disable\": [\"gopher_word_count\"]}", en_text(20, ""),
                  "keep");
}

TEST(config_errors)
{
    CHECK_STR(verdict("{\"min_chars\": \"x\"}", "x"),
              "error: stages[0] (test): 'min_chars' must be an integer");
    CHECK_STR(verdict("{\"min_cjk_ratio\": 2}", "x"),
              "error: stages[0] (test): 'min_cjk_ratio' must be between 0 "
              "and 1 (got 2)");
    CHECK_STR(verdict("{\"min_chars\": -1}", "x"),
              "error: stages[0] (test): 'min_chars' must be between 0 and "
              "2000000000 (got -1)");
    CHECK_STR(verdict("{\"min_char\": 3}", "x"),
              "error: stages[0] (test): unknown parameter 'min_char'");
    CHECK_STR(verdict("{\"disable\": [\"too_shrot\"]}", "x"),
              "error: stages[0] (test): 'disable' names unknown rule "
              "'too_shrot'");
    CHECK_STR(verdict("{\"disable\": \"too_short\"}", "x"),
              "error: stages[0] (test): 'disable' must be an array of "
              "strings");
    CHECK_STR(verdict("{\"language\": \"en\"}", "x"),
              "error: stages[0] (test): 'language' must be one of \"auto\", "
              "\"zh\", \"any\" (got \"en\")");
    CHECK_STR(verdict("{\"annotate\": 1}", "x"),
              "error: stages[0] (test): 'annotate' must be true or false");
    CHECK(!strncmp(verdict("{\"min_chars\": 10, \"max_chars\": 5}", "x"),
                   "error: stages[0] (test): a minimum is above", 40));
}

TEST(edge_texts)
{
    CHECK_STR(verdict(NULL, ""), "gopher_word_count");
    CHECK_STR(verdict("{\"language\": \"zh\"}", ""), "too_short");
    CHECK_STR(verdict(NULL, "\n\n \n"), "gopher_word_count");
    CHECK(stat_of("{\"annotate\": true}", "", "chars") == 0);
}

TEST(annotate_meta)
{
    struct stage_run r;
    char *t = zh_text(12, 30, "");
    const cJSON *rules;

    stage_run(&r, "filter.rules", NULL, t);
    CHECK(!cJSON_GetObjectItemCaseSensitive(r.obj, "meta"));
    stage_run_release(&r);
    stage_run(&r, "filter.rules", "{\"annotate\": true}", t);
    rules = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r.obj, "meta"), "rules");
    CHECK(cJSON_IsObject(rules));
    CHECK_STR(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rules, "lang")),
        "cjk");
    CHECK(cJSON_GetObjectItemCaseSensitive(rules, "mean_line_chars")
              ->valuedouble == 30);
    stage_run_release(&r);
    free(t);
}

int
main(void)
{
    RUN(zh_good_kept);
    RUN(zh_too_short_and_long);
    RUN(zh_cjk_ratio_and_language_gate);
    RUN(zh_short_lines);
    RUN(zh_symbols_and_digits);
    RUN(zh_urls);
    RUN(zh_punct_lines);
    RUN(zh_bad_words);
    RUN(en_bad_words_case_and_boundaries);
    RUN(badwords_file_loading);
    RUN(garbled_mojibake);
    RUN(latin_text_not_garbled);
    RUN(zh_quotes_and_dashes_not_garbled);
    RUN(gopher_word_count_and_length);
    RUN(gopher_symbols_and_alpha);
    RUN(gopher_bullets_ellipsis_stop_words);
    RUN(c4_rules);
    RUN(c4_line_filter);
    RUN(fineweb_rules);
    RUN(automaton_matches_naive_search);
    RUN(automaton_mixed_scripts_and_boundaries);
    RUN(line_set_is_per_document);
    RUN(disable_list);
    RUN(config_errors);
    RUN(edge_texts);
    RUN(annotate_meta);
    return test_summary();
}
