/* test-stage-repetition.c - the Gopher repetition rules and the removal
 * of repeated lines, on Chinese, English and mixed text
 */
#include <stdio.h> /* before stage-util.h, which uses snprintf */
#include <string.h>

#include "stage-util.h"
#include "strbuf.h"
#include "test.h"

/* A natural Chinese paragraph (no repeated 5-grams). */
static const char zh_para[] =
    "在Debian这种规模的项目中，很难避免遇到与你意见不和，或者难以合作的人。"
    "请接受这一事实，并保持礼貌。意见不一致并不是糟糕举止或者人身攻击的借口"
    "，而且让人感觉受到威胁显然不是健康的社区氛围。";

#define EN_PARA                                                                \
    "The quick brown fox jumps over the lazy dog while a small group of "      \
    "curious children watches from behind an old wooden fence. Later that "    \
    "afternoon, heavy rain began to fall across the quiet valley, and most "   \
    "farmers hurried home before the river rose above its muddy banks."

/* Distinct Chinese lines, for documents with many lines. */
static const char *const zh_lines[] = {
    "春天来了，公园里的花都开了，很多人带着孩子出来散步。",
    "今天的会议讨论了明年的预算安排和人员调整计划。",
    "这家小店的面条味道不错，价格也很公道，常常排队。",
    "研究人员发现，适量运动有助于改善睡眠质量和情绪。",
    "火车晚点了两个小时，乘客们只好在候车室里等待。",
    "她把旧书整理好，送给了社区图书馆的志愿者。",
    "新修的公路让山里的村民出行方便了许多。",
    "老师提醒大家，考试前一定要检查好准考证和文具。",
    "博物馆周末推出了免费的讲解服务，吸引了不少游客。",
    "天气预报说明天有大风，出门记得多穿一件衣服。",
    "他用了三年时间，终于完成了这部关于家乡的小说。",
    "城市的夜景很美，河边的灯光倒映在平静的水面上。",
};
#define NZH (sizeof(zh_lines) / sizeof(zh_lines[0]))

/* A Chinese technical paragraph, as in a man page: 配置文件 six times,
 * 目录下的配置文件 twice. With character n-grams taken for words it
 * fails the top 4-gram rule (6 x 4 of 146 characters). */
static const char zh_tech[] =
    "如果指定了 --config "
    "选项，程序会从给定的配置文件读取设置；如果没有指定该选项，程序会依次"
    "查找用户目录下的配置文件和系统目录下的配置文件。配置文件中的每一行是一"
    "个设置项，设置项的名字和值之间用等号分开。以井号开头的行是注释，程序读"
    "取配置文件时会跳过注释和空行。修改配置文件以后，需要重新启动服务，新的"
    "设置才会生效。";

/* Chinese spam: the same phrases in every line, but no two lines equal. */
static const char zh_spam[] =
    "【限时特惠】点击下方链接立即领取新人红包，蓝牙耳机只要九块九，数量有限"
    "先到先得！\n"
    "【限时特惠】点击下方链接立即领取新人红包，智能手表只要十九元，数量有限"
    "先到先得！\n"
    "【限时特惠】点击下方链接立即领取新人红包，保温水杯只要五块钱，数量有限"
    "先到先得！\n"
    "【限时特惠】点击下方链接立即领取新人红包，充电宝只要二十九元，数量有限"
    "先到先得！\n"
    "【限时特惠】点击下方链接立即领取新人红包，运动鞋只要三十九元，数量有限"
    "先到先得！\n"
    "加微信好友还能再领一张无门槛优惠券，错过今天再等一年。\n";

/* Encode the Han character base + 7 i (distinct for distinct i) into
 * buf; returns its length. */
static size_t
han(uint32_t base, int i, char *buf)
{
    return utf8_encode(base + (uint32_t)i * 7, buf);
}

static int
meta_removed(const struct stage_run *r)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->obj, "meta");
    const cJSON *n =
        cJSON_GetObjectItemCaseSensitive(m, "repeated_lines_removed");

    return cJSON_IsNumber(n) ? n->valueint : -1;
}

static void
run(struct stage_run *r, const char *params, const char *text)
{
    stage_run(r, "repetition", params, text);
}

TEST(chinese_paragraph_kept)
{
    struct stage_run r;

    run(&r, NULL, zh_para);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, zh_para);
    CHECK(meta_removed(&r) == -1);
    stage_run_release(&r);
}

TEST(english_paragraph_and_near_copy)
{
    struct stage_run r;

    run(&r, NULL, EN_PARA "\n\n" EN_PARA "x");
    /* nearly the same paragraph twice is a lot of duplicate 5-grams */
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);

    run(&r, NULL, EN_PARA);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, EN_PARA);
    stage_run_release(&r);
}

TEST(chinese_spam_lines_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    int i;

    for (i = 0; i < 10; i++)
        strbuf_addstr(&sb, "免费领取会员，点击下方链接立即注册！\n");
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(english_spam_lines_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    int i;

    strbuf_addstr(&sb, EN_PARA "\n");
    for (i = 0; i < 10; i++)
        strbuf_addstr(&sb, "  Click here to buy cheap watches!  \n");
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(repeated_paragraphs_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    size_t i;

    /* paragraphs "版权所有" x3 and one long one: 2 of 4 paragraphs are
     * repeats, but only 2 of 15 lines and few characters */
    strbuf_addstr(&sb, "版权所有\n\n版权所有\n\n版权所有\n\n");
    for (i = 0; i < NZH; i++)
        strbuf_addf(&sb, "%s\n", zh_lines[i]);
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_para_frac");
    stage_run_release(&r);

    /* one long paragraph twice among distinct ones: by characters */
    strbuf_reset(&sb);
    for (i = 0; i < 4; i++)
        strbuf_addf(&sb, "%s\n", zh_lines[i]);
    for (i = 4; i < NZH; i++)
        strbuf_addf(&sb, "\n%s\n", zh_lines[i]);
    strbuf_addstr(&sb, "\n");
    for (i = 0; i < 4; i++)
        strbuf_addf(&sb, "%s\n", zh_lines[i]);
    run(&r, "{\"dup_line_char_frac\": 1}", sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_para_char_frac");
    stage_run_release(&r);
    /* with the defaults the duplicate lines' characters count first */
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_char_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(chinese_top_2gram_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    int i;

    for (i = 0; i < 40; i++)
        strbuf_addstr(&sb, "哈哈");
    strbuf_addstr(&sb, "，");
    strbuf_addstr(&sb, zh_para);
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_2gram_char_frac");
    stage_run_release(&r);

    /* 1 turns a rule off; the repeats then cover many characters */
    run(&r,
        "{\"top_2gram_char_frac\": 1, \"top_3gram_char_frac\": 1,"
        " \"top_4gram_char_frac\": 1}",
        sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(english_top_ngram_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    int i;

    /* "best price" 15 times: 135 of ~500 characters */
    for (i = 0; i < 15; i++)
        strbuf_addf(&sb, "item%c best price ", 'a' + i);
    strbuf_addstr(&sb, EN_PARA);
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_2gram_char_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(word_bytes_anywhere)
{
    static const char *const params = "{\"min_tokens\": 0}";
    /* the last word is read near the end of the text, the first copy
     * far from it: the same bytes are the same token either way */
    static const char *const same[] = {
        "abcdefgh zz qq abcdefgh zz",
        "zz abcdefgh qq zz abcdefgh",
        "x7 abcdefghijklmnop qq x7 abcdefghijklmnop",
        "caf\xc3\xa9 au lait qq caf\xc3\xa9 au",
        "a1 b2, qq a1 b2",
    };
    /* one byte apart: no repeated 2-gram */
    static const char *const differ[] = {
        "abcdefgh zz qq abcdefgh zZ",
        "abcdefgh zz qq abcdefgi zz",
        "abcdefghijklmnop qq zz abcdefghijklmnoq zz qq",
    };
    struct stage_run r;
    size_t i;

    for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        run(&r, params, same[i]);
        CHECK(r.rc == STAGE_DROP);
        CHECK_STR(r.reason, "top_2gram_char_frac");
        stage_run_release(&r);
    }
    for (i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
        run(&r, params, differ[i]);
        CHECK(r.rc == STAGE_KEEP);
        stage_run_release(&r);
    }
}

TEST(long_duplicate_ngrams_dropped)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;

    /* the same 30-character sentence inside two different lines */
    strbuf_addf(&sb, "%s%s\n%s%s\n", zh_lines[0], zh_lines[1], zh_lines[2],
                zh_lines[1]);
    strbuf_addf(&sb, "%s\n", zh_lines[3]);
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);

    /* with 5..9 off, the 10-gram rule sees the same repeat */
    run(&r,
        "{\"dup_5gram_char_frac\": 1, \"dup_6gram_char_frac\": 1,"
        " \"dup_7gram_char_frac\": 1, \"dup_8gram_char_frac\": 1,"
        " \"dup_9gram_char_frac\": 1}",
        sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_10gram_char_frac");
    stage_run_release(&r);

    /* English: a repeated 12-word phrase */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "Our mission is to deliver outstanding value to every "
                       "customer in every market. " EN_PARA
                       " Our mission is to deliver outstanding value to every "
                       "customer in every market.");
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(short_documents_skip_ngram_rules)
{
    struct stage_run r;

    /* 8 tokens, below min_tokens = 50 */
    run(&r, NULL, "哈哈哈哈哈哈哈哈");
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);

    run(&r, "{\"min_tokens\": 0}", "哈哈哈哈哈哈哈哈");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_2gram_char_frac");
    stage_run_release(&r);
}

TEST(repeated_lines_removed)
{
    struct strbuf sb = STRBUF_INIT, want = STRBUF_INIT;
    struct stage_run r;
    size_t i;

    for (i = 0; i < NZH; i++) {
        strbuf_addf(&sb, "%s\n", zh_lines[i]);
        strbuf_addf(&want, "%s\n", zh_lines[i]);
        if (i == 0) {
            strbuf_addstr(&sb, "返回顶部\n");
            strbuf_addstr(&want, "返回顶部\n");
        }
        if (i == 5)
            strbuf_addstr(&sb, "\t返回顶部　\n"); /* same once trimmed */
        if (i == 7)
            strbuf_addstr(&sb, "\n   \n"); /* blank lines stay */
        if (i == 7)
            strbuf_addstr(&want, "\n   \n");
    }
    strbuf_addstr(&sb, "返回顶部");
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    /* the trailing "\n" of the last kept line goes with the last line */
    strbuf_setlen(&want, want.len - 1);
    CHECK_STR(r.text, want.buf);
    CHECK(meta_removed(&r) == 2);
    stage_run_release(&r);

    /* turned off */
    run(&r, "{\"dedup_lines\": false}", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, sb.buf);
    CHECK(meta_removed(&r) == -1);
    stage_run_release(&r);

    /* "返回顶部" is 4 characters, under the minimum */
    run(&r, "{\"dedup_lines_min_chars\": 5}", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, sb.buf);
    stage_run_release(&r);
    run(&r, "{\"dedup_lines_min_chars\": 4}", sb.buf);
    CHECK(meta_removed(&r) == 2);
    stage_run_release(&r);
    strbuf_release(&sb);
    strbuf_release(&want);
}

TEST(english_repeated_lines_removed_crlf)
{
    const char *in = "Home | News | Contact\r\n" EN_PARA "\r\n"
                     "Thanks for reading.\r\n"
                     "Comments are closed.\r\n"
                     "Share this story.\r\n"
                     "Home | News | Contact\r\n"
                     "Related: weather warnings for the valley\r\n"
                     "Home | News | Contact";
    const char *want = "Home | News | Contact\r\n" EN_PARA "\r\n"
                       "Thanks for reading.\r\n"
                       "Comments are closed.\r\n"
                       "Share this story.\r\n"
                       "Related: weather warnings for the valley";
    struct stage_run r;

    run(&r, NULL, in);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, want);
    CHECK(meta_removed(&r) == 2);
    stage_run_release(&r);
}

TEST(meta_kept_alongside)
{
    const struct stage_ops *ops = stage_find("repetition");
    struct stage_ctx ctx;
    struct doc d;
    const char *reason = NULL;
    void *conf = NULL;
    cJSON *p = cJSON_Parse("{\"op\": \"repetition\"}");
    const char *text =
        "a long enough line\n" EN_PARA "\na long enough line\nx\n";
    const cJSON *m;

    memset(&ctx, 0, sizeof(ctx));
    memset(&d, 0, sizeof(d));
    CHECK(ops->init(p, "stages[0] (test)", &conf, NULL) == 0);
    d.obj = cJSON_Parse("{\"id\": \"x\", \"meta\": {\"lang\": \"en\"}}");
    d.id = "x";
    d.source = "";
    strbuf_addstr(&d.text, text);
    ctx.tstate = ops->thread_init(conf);
    CHECK(ops->apply(conf, &ctx, &d, &reason) == STAGE_KEEP);
    CHECK_STR(d.text.buf, "a long enough line\n" EN_PARA "\nx\n");
    m = cJSON_GetObjectItemCaseSensitive(d.obj, "meta");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "lang")), "en");
    CHECK(cJSON_GetNumberValue(
              cJSON_GetObjectItem(m, "repeated_lines_removed")) == 1);
    ops->thread_free(ctx.tstate);
    ops->free(conf);
    strbuf_release(&d.text);
    strbuf_release(&ctx.scratch);
    strbuf_release(&ctx.scratch2);
    cJSON_Delete(d.obj);
    cJSON_Delete(p);
}

TEST(boundary_line_frac)
{
    /* 10 lines, 3 repeats: exactly 0.30 is kept (the rule is "> 0.30") */
    const char *three = "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\n"
                        "alpha\nbeta\ngamma\n";
    const char *four = "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\n"
                       "alpha\nbeta\ngamma\ndelta\n";
    const char *off = "{\"dup_line_char_frac\": 1}";
    struct stage_run r;

    run(&r, off, three);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\n");
    CHECK(meta_removed(&r) == 3);
    stage_run_release(&r);

    run(&r, off, four);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_frac");
    stage_run_release(&r);

    run(&r, "{\"dup_line_char_frac\": 1, \"dup_line_frac\": 0.29}", three);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_frac");
    stage_run_release(&r);
}

TEST(boundary_top_2gram)
{
    /* 20 one-letter words; "x y" twice covers 4 of 20 characters: 0.20 */
    const char *text = "x y a x y b c d e f g h i j k l m n o p";
    struct stage_run r;

    run(&r, "{\"min_tokens\": 0}", text);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);

    run(&r, "{\"min_tokens\": 0, \"top_2gram_char_frac\": 0.19}", text);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_2gram_char_frac");
    stage_run_release(&r);
}

TEST(boundary_dup_5gram)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    char cjk[4];
    int i;

    /* "aaa bbb ccc ddd eee" twice (30 characters) and 170 distinct Han
     * characters: exactly 0.15, with word n-grams everywhere (a ratio of
     * 1 is the rules as they were before CJK spans) */
    strbuf_addstr(&sb, "aaa bbb ccc ddd eee ");
    for (i = 0; i < 170; i++) {
        strbuf_add(&sb, cjk, han(0x4E00, i, cjk));
        if (i == 80)
            strbuf_addstr(&sb, " aaa bbb ccc ddd eee ");
    }
    run(&r, "{\"cjk_chars_per_word\": 1}", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);

    run(&r, "{\"cjk_chars_per_word\": 1, \"dup_5gram_char_frac\": 0.149}",
        sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);
    /* a CJK document: the 5-word rule looks at 8-character n-grams, and
     * 5 words of 3 letters are 5 tokens only */
    run(&r, "{\"dup_5gram_char_frac\": 0.01}", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);

    /* a 9-character phrase twice among 102 distinct characters: 18 of
     * 120 characters, exactly 0.15; too short for the 6-word rule's
     * 10-character n-grams */
    strbuf_reset(&sb);
    for (i = 0; i < 9; i++)
        strbuf_add(&sb, cjk, han(0x6000, i, cjk));
    for (i = 0; i < 102; i++)
        strbuf_add(&sb, cjk, han(0x4E00, i, cjk));
    for (i = 0; i < 9; i++)
        strbuf_add(&sb, cjk, han(0x6000, i, cjk));
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    run(&r, "{\"dup_5gram_char_frac\": 0.149}", sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);
    run(&r, "{\"dup_5gram_char_frac\": 1, \"dup_6gram_char_frac\": 0.01}",
        sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(mixed_tokens)
{
    struct stage_run r;

    /* tokens 新 款 iPhone15 手 机 正 式 上 市 twice, with punctuation that
     * is no token between them: a repeated 9-gram (the 5-word rule of
     * this CJK document looks at 8-grams), 32 of 46 characters */
    run(&r,
        "{\"min_tokens\": 0, \"top_2gram_char_frac\": 1,"
        " \"top_3gram_char_frac\": 1, \"top_4gram_char_frac\": 1}",
        "新款iPhone15手机正式上市！！！……新款iPhone15手机正式上市。"
        "价格还没有公布，消费者期待已久。");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);

    /* punctuation alone makes no tokens and no n-grams */
    run(&r, "{\"min_tokens\": 0}", "！！！……。。。，，，！！！……。。。");
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
}

TEST(state_reused_between_documents)
{
    const struct stage_ops *ops = stage_find("repetition");
    struct strbuf big = STRBUF_INIT;
    struct stage_ctx ctx;
    void *conf = NULL;
    cJSON *p = cJSON_Parse("{\"op\": \"repetition\"}");
    int round, i, bad = 0;

    memset(&ctx, 0, sizeof(ctx));
    CHECK(ops->init(p, "stages[0] (test)", &conf, NULL) == 0);
    ctx.tstate = ops->thread_init(conf);
    /* over a million tokens grows the buffers past the size kept */
    for (i = 0; i < 1100000; i++)
        strbuf_addstr(&big, "ab ");
    {
        struct doc d;
        const char *reason = NULL;

        memset(&d, 0, sizeof(d));
        d.obj = cJSON_CreateObject();
        d.id = "huge";
        d.source = "";
        strbuf_add(&d.text, big.buf, big.len);
        CHECK(ops->apply(conf, &ctx, &d, &reason) == STAGE_DROP);
        CHECK(reason && !strcmp(reason, "top_2gram_char_frac"));
        strbuf_release(&d.text);
        cJSON_Delete(d.obj);
    }
    strbuf_reset(&big);
    for (i = 0; i < 400; i++)
        strbuf_addf(&big, "%s%d\n", zh_lines[i % NZH], i);
    for (round = 0; round < 300; round++) {
        const char *texts[3] = {zh_para, big.buf, EN_PARA};
        const int want[3] = {STAGE_KEEP, STAGE_DROP, STAGE_KEEP};

        for (i = 0; i < 3; i++) {
            struct doc d;
            const char *reason = NULL;

            memset(&d, 0, sizeof(d));
            d.obj = cJSON_CreateObject();
            d.id = "x";
            d.source = "";
            strbuf_addstr(&d.text, texts[i]);
            if (ops->apply(conf, &ctx, &d, &reason) != want[i] ||
                strcmp(d.text.buf, texts[i]))
                bad++;
            strbuf_release(&d.text);
            cJSON_Delete(d.obj);
        }
    }
    CHECK(bad == 0);
    ops->thread_free(ctx.tstate);
    ops->free(conf);
    strbuf_release(&ctx.scratch);
    strbuf_release(&ctx.scratch2);
    strbuf_release(&big);
    cJSON_Delete(p);
}

TEST(empty_and_blank)
{
    struct stage_run r;

    run(&r, NULL, "");
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    run(&r, NULL, "\n\n  \n\t\n");
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, "\n\n  \n\t\n");
    stage_run_release(&r);
    /* invalid UTF-8 is scanned byte by byte, not rejected */
    run(&r, NULL, "abc\xff\xfe def\nabc\xff\xfe def\nthird line\nfourth\n");
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_line_char_frac");
    stage_run_release(&r);
}

TEST(chinese_technical_paragraph_kept)
{
    struct stage_run r;

    run(&r, NULL, zh_tech);
    CHECK(r.rc == STAGE_KEEP);
    CHECK_STR(r.text, zh_tech);
    stage_run_release(&r);

    /* with characters taken for words, 配置文件 is a top 4-gram */
    run(&r, "{\"cjk_chars_per_word\": 1}", zh_tech);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_4gram_char_frac");
    stage_run_release(&r);
}

TEST(chinese_spam_phrases_dropped)
{
    struct stage_run r;

    /* no line repeats; the phrases cover 139 of 200 characters */
    run(&r, NULL, zh_spam);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);

    /* still dropped with the longest spans (the 3-word rule looks at
     * 12-character n-grams) */
    run(&r, "{\"cjk_chars_per_word\": 4}", zh_spam);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_3gram_char_frac");
    stage_run_release(&r);
}

TEST(cjk_document_threshold)
{
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;
    char cjk[4];
    int i;

    /* 40 one-letter words, 10 distinct Han characters and a 5-character
     * phrase twice: 20 of 60 tokens are CJK, so word n-grams, and the
     * phrase covers 10 of 60 characters */
    for (i = 0; i < 40; i++)
        strbuf_addf(&sb, "%c ", i < 26 ? 'a' + i : 'A' + i - 26);
    strbuf_addstr(&sb, "加入购物车");
    for (i = 0; i < 10; i++)
        strbuf_add(&sb, cjk, han(0x4E00, i, cjk));
    strbuf_addstr(&sb, "加入购物车");
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);

    /* 20 more: 40 of 80 tokens, exactly half, is a CJK document; 80 is
     * also its fewest tokens, 50 words of 1.6 characters */
    for (i = 10; i < 30; i++)
        strbuf_add(&sb, cjk, han(0x4E00, i, cjk));
    run(&r, NULL, sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    /* as words: 10 of 80 characters */
    run(&r, "{\"cjk_chars_per_word\": 1, \"dup_5gram_char_frac\": 0.12}",
        sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "dup_5gram_char_frac");
    stage_run_release(&r);
    /* 加入购 twice is 6 of 80 characters; 51 words would be 82 tokens */
    run(&r, "{\"top_2gram_char_frac\": 0.01}", sb.buf);
    CHECK(r.rc == STAGE_DROP);
    CHECK_STR(r.reason, "top_2gram_char_frac");
    stage_run_release(&r);
    run(&r, "{\"top_2gram_char_frac\": 0.01, \"min_tokens\": 51}", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(longest_cjk_spans)
{
    struct strbuf sb = STRBUF_INIT;
    const char *only10 =
        "{\"min_tokens\": 0, \"cjk_chars_per_word\": 4,"
        " \"top_2gram_char_frac\": 1, \"top_3gram_char_frac\": 1,"
        " \"top_4gram_char_frac\": 1, \"dup_5gram_char_frac\": 1,"
        " \"dup_6gram_char_frac\": 1, \"dup_7gram_char_frac\": 1,"
        " \"dup_8gram_char_frac\": 1, \"dup_9gram_char_frac\": 1}";
    struct stage_run r;
    char cjk[4];
    int len, i;

    /* the 10-word rule at 4 characters a word looks at 40-grams: a
     * repeated 40-character phrase is seen, a 39-character one is not */
    for (len = 39; len <= 40; len++) {
        strbuf_reset(&sb);
        for (i = 0; i < len; i++)
            strbuf_add(&sb, cjk, han(0x6000, i, cjk));
        for (i = 0; i < 100; i++)
            strbuf_add(&sb, cjk, han(0x4E00, i, cjk));
        for (i = 0; i < len; i++)
            strbuf_add(&sb, cjk, han(0x6000, i, cjk));
        run(&r, only10, sb.buf);
        CHECK(r.rc == (len == 40 ? STAGE_DROP : STAGE_KEEP));
        if (len == 40)
            CHECK_STR(r.reason, "dup_10gram_char_frac");
        stage_run_release(&r);
    }
    strbuf_release(&sb);
}

TEST(config_errors)
{
    struct stage_run r;

    run(&r, "{\"dup_line_frac\": 1.5}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'dup_line_frac'") != NULL);
    CHECK(strstr(r.err.msg, "stages[0] (test)") != NULL);
    stage_run_release(&r);

    run(&r, "{\"top_3gram_char_frac\": -0.1}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'top_3gram_char_frac'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"dup_10gram_char_frac\": \"0.1\"}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'dup_10gram_char_frac'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"dedup_lines\": 1}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'dedup_lines'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"dedup_lines_min_chars\": 0}", "x");
    CHECK(r.rc == NH_EINVAL);
    stage_run_release(&r);

    run(&r, "{\"min_tokens\": -1}", "x");
    CHECK(r.rc == NH_EINVAL);
    stage_run_release(&r);

    run(&r, "{\"min_tokens\": 2.5}", "x");
    CHECK(r.rc == NH_EINVAL);
    stage_run_release(&r);

    run(&r, "{\"top_ngram_char_frac\": [0.2, 0.18, 0.16]}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "unknown parameter 'top_ngram_char_frac'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"cjk_chars_per_word\": 0.99}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'cjk_chars_per_word'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"cjk_chars_per_word\": 4.01}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'cjk_chars_per_word'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"cjk_chars_per_word\": \"2\"}", "x");
    CHECK(r.rc == NH_EINVAL);
    CHECK(strstr(r.err.msg, "'cjk_chars_per_word'") != NULL);
    stage_run_release(&r);

    run(&r, "{\"cjk_chars_per_word\": null}", "x");
    CHECK(r.rc == NH_EINVAL);
    stage_run_release(&r);

    /* the edges of the ranges are fine */
    run(&r,
        "{\"dup_line_frac\": 0, \"dup_para_frac\": 1, \"min_tokens\": 0,"
        " \"dedup_lines_min_chars\": 1, \"cjk_chars_per_word\": 1,"
        " \"name\": \"rep\"}",
        "x");
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
    run(&r, "{\"cjk_chars_per_word\": 4}", zh_tech);
    CHECK(r.rc == STAGE_KEEP);
    stage_run_release(&r);
}

int
main(void)
{
    RUN(chinese_paragraph_kept);
    RUN(english_paragraph_and_near_copy);
    RUN(chinese_spam_lines_dropped);
    RUN(english_spam_lines_dropped);
    RUN(repeated_paragraphs_dropped);
    RUN(chinese_top_2gram_dropped);
    RUN(english_top_ngram_dropped);
    RUN(word_bytes_anywhere);
    RUN(long_duplicate_ngrams_dropped);
    RUN(short_documents_skip_ngram_rules);
    RUN(repeated_lines_removed);
    RUN(english_repeated_lines_removed_crlf);
    RUN(meta_kept_alongside);
    RUN(boundary_line_frac);
    RUN(boundary_top_2gram);
    RUN(boundary_dup_5gram);
    RUN(mixed_tokens);
    RUN(state_reused_between_documents);
    RUN(empty_and_blank);
    RUN(chinese_technical_paragraph_kept);
    RUN(chinese_spam_phrases_dropped);
    RUN(cjk_document_threshold);
    RUN(longest_cjk_spans);
    RUN(config_errors);
    return test_summary();
}
