/* test-stage-normalize.c - unit tests for the normalize stage
 *
 * Each step on Chinese and English text, the parameters and their
 * errors, and the proof that the NFKC fast path equals plain
 * utf8proc_NFKC: on hand-picked texts that exercise every kind of code
 * point the fast path treats specially, and on thousands of random
 * strings drawn from a seeded generator.
 */
#include <stdint.h>
#include <stdio.h> /* before stage-util.h, which uses snprintf */
#include <stdlib.h>
#include <string.h>

#include "stage-util.h"
#include "test.h"

#include <opencc/opencc.h>
#include <utf8proc.h>

/* ---- helpers ----------------------------------------------------------- */

static int
run_text(struct stage_run *r, const char *params, const char *text)
{
    stage_run(r, "normalize", params, text);
    return r->rc;
}

/* Normalize text with params; returns the text ("" on drop or error) in
 * a static buffer, for the many one-line checks. */
static const char *
norm(const char *params, const char *text)
{
    static char out[4096];
    struct stage_run r;

    run_text(&r, params, text);
    out[0] = '\0';
    if (r.rc == STAGE_KEEP && r.text)
        snprintf(out, sizeof(out), "%s", r.text);
    else if (r.rc == STAGE_DROP)
        snprintf(out, sizeof(out), "<drop %s>", r.reason);
    else
        snprintf(out, sizeof(out), "<error %d>", r.rc);
    stage_run_release(&r);
    return out;
}

/* One stage instance for many documents of arbitrary bytes. */
struct runner {
    const struct stage_ops *ops;
    void *conf;
    struct stage_ctx ctx;
    struct doc d;
};

static int
runner_init(struct runner *r, const char *params)
{
    cJSON *p = cJSON_Parse(params);
    struct nh_error err;
    int rc;

    memset(r, 0, sizeof(*r));
    r->ops = stage_find("normalize");
    if (!p || !r->ops)
        return NH_EINVAL;
    rc = r->ops->init(p, "stages[0] (test)", &r->conf, &err);
    cJSON_Delete(p);
    if (rc < 0) {
        printf("  init: %s\n", err.msg);
        return rc;
    }
    r->ctx.tstate = r->ops->thread_init(r->conf);
    return 0;
}

/* Run on s[0, n); the result stays in r->d until the next call. */
static int
runner_apply(struct runner *r, const char *s, size_t n, const char **reason)
{
    if (r->d.obj)
        cJSON_Delete(r->d.obj);
    r->d.obj = cJSON_CreateObject();
    r->d.id = "t";
    r->d.source = "";
    strbuf_reset(&r->d.text);
    strbuf_add(&r->d.text, s, n);
    r->d.in_bytes = n;
    r->d.bad_utf8 = !utf8_valid(s, n);
    *reason = NULL;
    return r->ops->apply(r->conf, &r->ctx, &r->d, reason);
}

static void
runner_release(struct runner *r)
{
    r->ops->thread_free(r->ctx.tstate);
    r->ops->free(r->conf);
    strbuf_release(&r->ctx.scratch);
    strbuf_release(&r->ctx.scratch2);
    strbuf_release(&r->d.text);
    cJSON_Delete(r->d.obj);
}

/* Only NFKC: the other steps off. */
static const char nfkc_only[] =
    "{\"control_chars\": \"keep\", \"whitespace\": false}";

/* Whether the stage's NFKC of s equals utf8proc_NFKC(s); prints the
 * difference. */
static int
same_as_utf8proc(struct runner *r, const char *s)
{
    const char *reason;
    char *want = (char *)utf8proc_NFKC((const utf8proc_uint8_t *)s);
    int rc = runner_apply(r, s, strlen(s), &reason), ok;

    ok = want && rc == STAGE_KEEP && r->d.text.len == strlen(want) &&
         !memcmp(r->d.text.buf, want, r->d.text.len);
    if (!ok) {
        size_t i;

        printf("  NFKC differs on:");
        for (i = 0; s[i]; i++)
            printf(" %02x", (unsigned char)s[i]);
        printf("\n  got (rc %d):", rc);
        for (i = 0; rc == STAGE_KEEP && i < r->d.text.len; i++)
            printf(" %02x", (unsigned char)r->d.text.buf[i]);
        printf("\n  want:");
        for (i = 0; want && want[i]; i++)
            printf(" %02x", (unsigned char)want[i]);
        printf("\n");
    }
    free(want);
    return ok;
}

/* ---- step 1: invalid UTF-8 --------------------------------------------- */

TEST(repair_invalid_utf8)
{
    struct stage_run r;
    cJSON *meta, *n;

    run_text(&r, NULL,
             "ab\xff"
             "cd\xc3");
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, "ab\xef\xbf\xbd"
                      "cd\xef\xbf\xbd");
    meta = cJSON_GetObjectItemCaseSensitive(r.obj, "meta");
    n = cJSON_GetObjectItemCaseSensitive(meta, "utf8_repaired");
    CHECK(cJSON_IsNumber(n) && n->valuedouble == 2);
    stage_run_release(&r);

    /* Chinese with a truncated character */
    run_text(&r, NULL, "中文\xe6\x96");
    CHECK_STR(r.text, "中文\xef\xbf\xbd\xef\xbf\xbd");
    stage_run_release(&r);

    /* valid text gets no meta */
    run_text(&r, NULL, "中文 ok");
    CHECK(!cJSON_GetObjectItemCaseSensitive(r.obj, "meta"));
    stage_run_release(&r);
}

TEST(reject_invalid_utf8)
{
    struct stage_run r;

    run_text(&r, "{\"invalid_utf8\": \"reject\"}", "ab\xff");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "invalid_utf8");
    stage_run_release(&r);
    CHECK_STR(norm("{\"invalid_utf8\": \"reject\"}", "好的"), "好的");
}

/* ---- step 2: NFKC ------------------------------------------------------ */

TEST(nfkc_cases)
{
    CHECK_STR(norm(NULL, "ﬁnd ﬂow"), "find flow");        /* ligatures */
    CHECK_STR(norm(NULL, "第①章"), "第1章");              /* circled */
    CHECK_STR(norm(NULL, "ＡＢＣ１２３"), "ABC123");      /* full-width */
    CHECK_STR(norm(NULL, "cafe\xcc\x81"), "caf\xc3\xa9"); /* e + U+0301 */
    CHECK_STR(norm(NULL, "ｶﾞｷﾞ"), "ガギ");                /* half-width kana */
    CHECK_STR(norm(NULL, "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "각");
    CHECK_STR(norm(NULL, "\xef\xa4\x80"), "\xe8\xb1\x88"); /* U+F900 */
    CHECK_STR(norm(NULL, "\xe2\x84\xa6"), "\xce\xa9");     /* ohm sign */
    CHECK_STR(norm(NULL, "x²"), "x2");
    CHECK_STR(norm(NULL, "㍻"), "平成");
}

TEST(nfkc_chinese_punct)
{
    /* default: full-width punctuation becomes ASCII, as NFKC says */
    CHECK_STR(norm(NULL, "你好，世界！（测试）：是；否？"),
              "你好,世界!(测试):是;否?");
    /* CJK punctuation outside U+FF01-FF5E is NFKC-stable */
    CHECK_STR(norm(NULL, "他说：「好。」、《书》"), "他说:「好。」、《书》");
}

TEST(keep_fullwidth_punct)
{
    const char *p = "{\"keep_fullwidth_punct\": true}";

    CHECK_STR(norm(p, "你好，世界！ＡＢＣ１２３（注）"),
              "你好，世界！ABC123（注）");
    CHECK_STR(norm(p, "ﬁ，①"), "fi，1");
    /* a kept sign followed by a combining mark keeps its form */
    CHECK_STR(norm(p, "，\xcc\x81"), "，\xcc\x81");
}

TEST(nfkc_off)
{
    const char *p = "{\"nfkc\": false}";

    /* step 3 alone: full-width ASCII and U+3000 still become half-width */
    CHECK_STR(norm(p, "ＡＢＣ，１２３　ok"), "ABC,123 ok");
    CHECK_STR(norm(p, "ﬁ①"), "ﬁ①");
    CHECK_STR(norm("{\"nfkc\": false, \"keep_fullwidth_punct\": true}",
                   "ＡＢＣ，１２３！"),
              "ABC，123！");
    CHECK_STR(norm("{\"nfkc\": false, \"fullwidth_to_halfwidth\": false}",
                   "ＡＢＣ，"),
              "ＡＢＣ，");
    CHECK_STR(norm("{\"nfkc\": false, \"whitespace\": false}", "a　b"), "a b");
}

/* A text NFKC leaves alone is not copied: the buffer stays the same. */
TEST(nfkc_no_copy)
{
    static const char *texts[] = {
        "这是一个已经规范化的中文句子。没有全角标点“引号”。",
        "Plain ASCII text, nothing to do.",
        "Café crème, 한국어 텍스트, ひらがな、カタカナ。",
    };
    struct runner r;
    const char *reason;
    size_t k;

    CHECK(runner_init(&r, nfkc_only) == 0);
    for (k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
        char *before;

        runner_apply(&r, "", 0, &reason); /* warm the buffers */
        strbuf_reset(&r.d.text);
        strbuf_add(&r.d.text, texts[k], strlen(texts[k]));
        before = r.d.text.buf;
        CHECK(r.ops->apply(r.conf, &r.ctx, &r.d, &reason) == STAGE_KEEP);
        CHECK(r.d.text.buf == before);
        CHECK_STR(r.d.text.buf, texts[k]);
    }
    runner_release(&r);
}

/* utf8proc 2.8 drops U+11A7 after a Hangul LV syllable (its composition
 * accepts trailing index 0); U+11A7 is not a trailing consonant, so NFKC
 * must keep it, and the fast path does. */
TEST(nfkc_hangul_11a7)
{
    CHECK_STR(norm(nfkc_only, "가\xe1\x86\xa7"), "가\xe1\x86\xa7");
}

TEST(nfkc_equals_utf8proc_curated)
{
    static const char *texts[] = {
        "中华人民共和国，成立于１９４９年！（注：“新中国”）",
        "全角空格　和　ＡＢＣ　ａｂｃ　０１２",
        "e\xcc\x81 e\xcc\x81\xcc\xa3 a\xcc\xa3\xcc\x81 o\xcc\x88\xcc\x84",
        "\xcc\x81 leading mark, then x\xcc\xb8\xcc\x81\xcc\xa7",
        "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 \xe1\x84\x80\xe1\x85\xa1 "
        "\xea\xb0\x80\xe1\x86\xa8 \xe1\x84\x80\xe1\x84\x80\xe1\x85\xa1",
        "\xef\xa4\x80\xef\xa4\x81\xef\xa9\xaa\xf0\xaf\xa0\x80 豈",
        "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ",
        "① ② ⑳ ㉑ ㊿ ⒜ ⓐ Ⓐ",
        "ＡＢＣ ａｂｃ ０１２ ！＂＃＄％＆＇（）＊＋，－．／",
        "\xe3\x80\x80 ideographic space",
        "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ｳﾞ ﾞ ｱﾞ",
        "か\xe3\x82\x99 は\xe3\x82\x9a \xe3\x82\x99 ゝ゛",
        "\xe0\xad\x87\xe0\xac\xbe \xe0\xad\x87\xe0\xad\x96 "
        "\xe0\xa7\x87\xe0\xa6\xbe", /* Oriya, Bengali two-part vowels */
        "\xef\xb7\xba \xef\xb7\xbb \xef\xb9\xb0",
        "Ω Å K ℃ ℉ № ™ ㎏ ㎡ ㍿",
        "ǅ ǆ Ǆ ĳ ŀ ſt ẛ\xcc\xa3",
        "\xf0\x9d\x90\x80\xf0\x9d\x90\x81 \xf0\x9d\x9f\x8e",
        "a\xcc\x81\xcc\x81\xcc\x81\xcc\x81\xcc\x81\xcc\x81\xcc\x81"
        "\xcc\xa3\xcc\xa3\xcc\xa3",
    };
    struct runner r;
    size_t k;

    CHECK(runner_init(&r, nfkc_only) == 0);
    for (k = 0; k < sizeof(texts) / sizeof(texts[0]); k++)
        CHECK(same_as_utf8proc(&r, texts[k]));
    runner_release(&r);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* A code point from the kinds the fast path tells apart: inert (ASCII,
 * CJK, kana, Hangul syllables), compatibility characters, combining marks
 * of every class, Hangul jamo, starters that compose with the preceding
 * character, and anything at all. */
static uint32_t
random_cp(void)
{
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E},       {0x4E00, 0x9FFF}, {0x3000, 0x30FF},
        {0xFF01, 0xFFEE},   {0x0300, 0x036F}, {0x0591, 0x05C7},
        {0x064B, 0x065F},   {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
        {0x20D0, 0x20F0},   {0xFE20, 0xFE2F}, {0x302A, 0x302F},
        {0x3099, 0x309A},   {0x00A0, 0x017F}, {0x1E00, 0x1FFF},
        {0x0370, 0x03FF},   {0x1100, 0x1112}, {0x1161, 0x1175},
        {0x11A8, 0x11C2},   {0xAC00, 0xD7A3}, {0x3131, 0x318E},
        {0xFFA0, 0xFFDC},   {0xF900, 0xFAFF}, {0x2F800, 0x2FA1D},
        {0xFB00, 0xFB4F},   {0xFB50, 0xFDFF}, {0xFE70, 0xFEFC},
        {0x2000, 0x218F},   {0x2460, 0x24FF}, {0x3200, 0x33FF},
        {0x1D400, 0x1D7FF}, {0x02B0, 0x02FF}, {0x0900, 0x0DFF},
        {0x1000, 0x109F},   {0x1B00, 0x1B7F}, {0x11100, 0x1194F},
        {0x20000, 0x2A6DF}, {0x0F00, 0x0FFF}, {0x0600, 0x06FF},
    };
    static const uint32_t seconds[] = {
        0x0B3E,  0x0B56,  0x0B57,  0x09BE,  0x09D7,  0x0BBE,  0x0BD7,  0x0CC2,
        0x0CD5,  0x0CD6,  0x0D3E,  0x0D57,  0x0DCF,  0x0DDF,  0x102E,  0x1B35,
        0x0B47,  0x09C7,  0x0BC6,  0x0CC6,  0x0CBF,  0x0D46,  0x0DD9,  0x1025,
        0x1B05,  0x11131, 0x11127, 0x11347, 0x1133E, 0x11357, 0x114B9, 0x114BA,
        0x114B0, 0x114BD, 0x115B8, 0x115AF, 0x11935, 0x11930,
    };
    uint32_t k = rnd(100), cp;

    if (k < 8) {
        cp = seconds[rnd(sizeof(seconds) / sizeof(seconds[0]))];
    } else if (k < 90) {
        k = rnd(sizeof(ranges) / sizeof(ranges[0]));
        cp = ranges[k][0] + rnd(ranges[k][1] - ranges[k][0] + 1);
    } else {
        cp = 1 + rnd(0x10FFFF);
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x11A7)
        cp = 0x4E00; /* not UTF-8; see nfkc_hangul_11a7 */
    return cp;
}

TEST(nfkc_equals_utf8proc_random)
{
    struct runner r;
    char s[40 * 4 + 1];
    int k, fails = 0;

    CHECK(runner_init(&r, nfkc_only) == 0);
    for (k = 0; k < 5000 && fails < 5; k++) {
        size_t len = 0;
        uint32_t n = 1 + rnd(40), j;

        for (j = 0; j < n; j++)
            len += utf8_encode(random_cp(), s + len);
        s[len] = '\0';
        if (!same_as_utf8proc(&r, s))
            fails++;
    }
    CHECK(fails == 0);
    runner_release(&r);
}

/* Thousands of marks on one letter: linear time, same as utf8proc. */
TEST(nfkc_long_mark_run)
{
    struct strbuf sb = STRBUF_INIT;
    struct runner r;
    int k;

    strbuf_addstr(&sb, "中a");
    for (k = 0; k < 20000; k++)
        strbuf_addstr(&sb, k & 1 ? "\xcc\x81" : "\xcc\xa3"); /* 230, 220 */
    strbuf_addstr(&sb, "b");
    CHECK(runner_init(&r, nfkc_only) == 0);
    CHECK(same_as_utf8proc(&r, sb.buf));
    runner_release(&r);
    strbuf_release(&sb);
}

/* ---- step 4: traditional to simplified --------------------------------- */

TEST(t2s_convert)
{
    const char *p = "{\"t2s\": true}";

    CHECK_STR(norm(p, "「這是一個測試」"), "「这是一个测试」");
    CHECK_STR(norm(p, "我們說漢語。"), "我们说汉语。");
    /* characters OpenCC changes only inside phrases */
    CHECK_STR(norm(p, "我瞭解"), "我了解");
    CHECK_STR(norm(p, "English only"), "English only");
}

TEST(t2s_simplified_untouched)
{
    static const char text[] = "这是一段简体中文，里面没有繁体字。";
    struct runner r;
    const char *reason;
    char *before;

    CHECK(runner_init(&r, "{\"t2s\": true, \"control_chars\": \"keep\", "
                          "\"whitespace\": false, \"nfkc\": false, "
                          "\"fullwidth_to_halfwidth\": false}") == 0);
    runner_apply(&r, "", 0, &reason);
    strbuf_reset(&r.d.text);
    strbuf_add(&r.d.text, text, strlen(text));
    before = r.d.text.buf;
    CHECK(r.ops->apply(r.conf, &r.ctx, &r.d, &reason) == STAGE_KEEP);
    CHECK(r.d.text.buf == before); /* never went to OpenCC */
    CHECK_STR(r.d.text.buf, text);
    runner_release(&r);
}

/* Lines go to OpenCC only when they hold a character it changes; the
 * result equals converting the whole text at once. */
TEST(t2s_equals_opencc)
{
    static const char text[] = "第一行是简体，文件被覆盖了。\n"
                               "這是一個測試，我們說漢語。\n"
                               "沈默是金，乾隆皇帝，瞭解一下。\n"
                               "\n"
                               "English line, no Han at all.\n"
                               "後來他們發現，這個方法並不適用於所有的情況。\n"
                               "汉字简体：为了测试而写的句子。\n"
                               "臺灣與香港的繁體字：裡面、著作、乾燥。";
    const char *p = "{\"t2s\": true, \"nfkc\": false, "
                    "\"fullwidth_to_halfwidth\": false, "
                    "\"control_chars\": \"keep\", \"whitespace\": false}";
    opencc_t cc = opencc_open("t2s.json");
    char *want;

    CHECK(cc != (opencc_t)-1);
    if (cc == (opencc_t)-1)
        return;
    want = opencc_convert_utf8(cc, text, strlen(text));
    CHECK(want != NULL);
    if (want)
        CHECK_STR(norm(p, text), want);
    opencc_convert_utf8_free(want);
    opencc_close(cc);
}

TEST(t2s_with_nul)
{
    static const char text[] = "這個\0測試";
    struct runner r;
    const char *reason;

    CHECK(runner_init(&r, "{\"t2s\": true, \"control_chars\": \"keep\"}") == 0);
    CHECK(runner_apply(&r, text, sizeof(text) - 1, &reason) == STAGE_KEEP);
    CHECK(r.d.text.len == sizeof("这个\0测试") - 1 &&
          !memcmp(r.d.text.buf, "这个\0测试", r.d.text.len));
    runner_release(&r);
}

/* ---- steps 5 and 6: controls and whitespace ---------------------------- */

TEST(control_chars)
{
    CHECK_STR(norm(NULL, "a\x01"
                         "b\x7f"
                         "c\xc2\x80"
                         "d"),
              "abcd");
    CHECK_STR(norm(NULL, "零\xe2\x80\x8b宽\xe2\x80\x8c字\xe2\x80\x8d符"
                         "\xef\xbb\xbf测\xe2\x81\xa0试"),
              "零宽字符测试");
    CHECK_STR(norm(NULL, "line1\r\nline2\rline3\xc2\x85line4"),
              "line1\nline2\nline3\nline4");
    CHECK_STR(norm("{\"whitespace\": false}", "a\tb\r\n\r\n\r\nc"),
              "a\tb\n\n\nc");
    CHECK_STR(norm("{\"whitespace\": false}", "a\x0b"
                                              "b\x01"),
              "a b");
    CHECK_STR(norm("{\"control_chars\": \"keep\", \"whitespace\": false}",
                   "a\x01\r\n\xe2\x80\x8b"),
              "a\x01\r\n\xe2\x80\x8b");
}

TEST(whitespace_english)
{
    CHECK_STR(norm(NULL, "  Hello \t world  \r\n\r\n\r\n\r\nNext   para  "),
              "Hello world\n\nNext para");
    CHECK_STR(norm(NULL, "a \n \n \n \n b"), "a\n\nb");
    CHECK_STR(norm(NULL, "one\ntwo\n\nthree"), "one\ntwo\n\nthree");
    CHECK_STR(norm(NULL, "trailing \t\nspaces\xc2\xa0\n"), "trailing\nspaces");
    CHECK_STR(norm(NULL, "no\xc2\xa0\xe2\x80\x83"
                         "break"),
              "no break");
    CHECK_STR(norm("{\"whitespace\": false}", " a  b "), " a  b ");
}

TEST(whitespace_chinese)
{
    CHECK_STR(norm(NULL, "　　第一段。\n\n\n\n　　第二段，\u3000继续。　"),
              "第一段。\n\n第二段, 继续。");
    CHECK_STR(norm("{\"keep_fullwidth_punct\": true}",
                   "标题\u3000\u3000\n\n\n\n正文，结束"),
              "标题\n\n正文，结束");
}

TEST(empty_after_normalize)
{
    struct stage_run r;

    run_text(&r, NULL, "  \n\t\xe2\x80\x8b\xe3\x80\x80 \r\n");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "empty_after_normalize");
    stage_run_release(&r);
    CHECK_STR(norm(NULL, ""), "<drop empty_after_normalize>");
}

/* ---- parameters -------------------------------------------------------- */

TEST(config_errors)
{
    struct stage_run r;

    run_text(&r, "{\"nfkc\": \"yes\"}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK_STR(r.err.msg, "stages[0] (test): 'nfkc' must be true or false");
    stage_run_release(&r);

    run_text(&r, "{\"nfkd\": true}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK_STR(r.err.msg, "stages[0] (test): unknown parameter 'nfkd'");
    stage_run_release(&r);

    run_text(&r, "{\"invalid_utf8\": \"ignore\"}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK_STR(r.err.msg, "stages[0] (test): 'invalid_utf8' must be one of "
                         "\"repair\", \"reject\" (got \"ignore\")");
    stage_run_release(&r);

    run_text(&r, "{\"control_chars\": 1}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK_STR(r.err.msg, "stages[0] (test): 'control_chars' must be a string");
    stage_run_release(&r);

    run_text(&r, "{\"t2s\": true, \"opencc_config\": \"no-such.json\"}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "stages[0] (test): cannot open opencc config "
                            "'no-such.json'") == r.err.msg);
    stage_run_release(&r);

    /* a config name is only opened when t2s is on */
    CHECK_STR(norm("{\"opencc_config\": \"no-such.json\"}", "x"), "x");
}

TEST(all_defaults)
{
    CHECK_STR(norm("{}", "  ＡＢＣ，测试\x01\r\n\r\n\r\nﬁ ① "),
              "ABC,测试\n\nfi 1");
}

int
main(void)
{
    RUN(repair_invalid_utf8);
    RUN(reject_invalid_utf8);
    RUN(nfkc_cases);
    RUN(nfkc_chinese_punct);
    RUN(keep_fullwidth_punct);
    RUN(nfkc_off);
    RUN(nfkc_no_copy);
    RUN(nfkc_hangul_11a7);
    RUN(nfkc_equals_utf8proc_curated);
    RUN(nfkc_equals_utf8proc_random);
    RUN(nfkc_long_mark_run);
    RUN(t2s_convert);
    RUN(t2s_simplified_untouched);
    RUN(t2s_equals_opencc);
    RUN(t2s_with_nul);
    RUN(control_chars);
    RUN(whitespace_english);
    RUN(whitespace_chinese);
    RUN(empty_after_normalize);
    RUN(config_errors);
    RUN(all_defaults);
    return test_summary();
}
