/* test-ftc.c - the fastText-style classifier (pipeline/ftc.c): it learns a
 * separable three-way problem (Chinese ads, ordinary Chinese sentences,
 * English) well enough to label held-out texts, with softmax and
 * hierarchical softmax, one thread and four, from the fastText text format
 * and JSONL; models survive save and load unchanged; bad model files and
 * bad options are refused
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftc.h"
#include "test.h"
#include "tmpdir.h"

/* Real sentences (news and everyday prose); the first 16 are for
 * training, the rest held out. */
static const char *const zh_normal[] = {
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
    "图书馆在城市生活中扮演着重要的角色。",
    "今年春天雨水偏多，南方不少地区的茶园推迟了采摘。",
    "镇上的合作社请来农业大学的老师，教大家防治病虫害。",
    "不少年轻人也回到村里，用手机介绍自家的茶叶。",
    /* held out */
    "茶农说，头茬茶的产量比往年少了两成，但是香气更足。",
    "孩子们在操场上踢球，老人坐在树下聊天。",
    "这座古老的桥已经有三百多年的历史了。",
    "医生建议每天喝足够的水，少吃油炸的食物。",
    "志愿者们清理了河岸上的垃圾，河水又变清了。",
    "工厂今年引进了新设备，生产效率提高了不少。",
    "冬天的早晨，街上的行人都裹着厚厚的大衣。",
    "他每天骑自行车上班，既锻炼身体又节省时间。",
};
#define NZH_TRAIN 16
#define NZH (sizeof(zh_normal) / sizeof(zh_normal[0]))

static const char *const en_normal[] = {
    "The quick brown fox jumps over the lazy dog near the river.",
    "A small group of curious children watched from behind the fence.",
    "Heavy rain began to fall across the quiet valley in the afternoon.",
    "Most farmers hurried home before the river rose above its banks.",
    "The library opens at nine and closes late on Thursdays.",
    "She wrote a long letter to her grandmother about the trip.",
    "The committee will publish its report early next month.",
    "Engineers tested the new bridge with heavy trucks last week.",
    "Fresh bread from the corner bakery sells out every morning.",
    "The museum added a room of paintings by local artists.",
    /* held out */
    "Our neighbours planted tomatoes and beans in the garden.",
    "The train to the coast was full of families this weekend.",
    "He fixed the old radio with parts from a broken television.",
    "Students gathered in the hall to hear the visiting speaker.",
};
#define NEN_TRAIN 10
#define NEN (sizeof(en_normal) / sizeof(en_normal[0]))

static const char *const ad_open[] = {
    "【限时特惠】", "【爆款秒杀】", "【新人专享】",
    "【今日福利】", "【年终大促】", "【清仓甩卖】",
};
static const char *const ad_body[] = {
    "点击下方链接立即领取新人红包，",
    "扫码加微信好友领取无门槛优惠券，",
    "关注店铺即可抽奖赢取现金大礼包，",
    "复制口令打开购物软件马上抢购，",
};
/* products 0..6 in training, 7..9 held out */
static const char *const ad_product[] = {
    "蓝牙耳机", "智能手表", "保温水杯", "充电宝", "运动鞋",
    "电饭煲",   "洗发水",   "行李箱",   "台灯",   "羽绒服",
};
static const char *const ad_tail[] = {
    "只要九块九，数量有限先到先得！",
    "全场包邮，错过今天再等一年！",
    "库存不多，手慢无！",
    "前一百名下单再送赠品！",
};

static unsigned long rng_state = 12345;

static unsigned
rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)(rng_state >> 33) % n;
}

/* One example of class c (0 ad, 1 zh, 2 en) into buf; test picks the
 * held-out parts. */
static void
example(char *buf, size_t size, int c, int test)
{
    if (c == 0) {
        unsigned p = test ? 7 + rnd(3) : rnd(7);

        snprintf(buf, size, "%s%s%s%s", ad_open[rnd(6)], ad_body[rnd(4)],
                 ad_product[p], ad_tail[rnd(4)]);
    } else if (c == 1) {
        unsigned a = test ? NZH_TRAIN + rnd(NZH - NZH_TRAIN) : rnd(NZH_TRAIN);
        unsigned b = test ? NZH_TRAIN + rnd(NZH - NZH_TRAIN) : rnd(NZH_TRAIN);

        snprintf(buf, size, "%s%s", zh_normal[a], zh_normal[b]);
    } else {
        unsigned a = test ? NEN_TRAIN + rnd(NEN - NEN_TRAIN) : rnd(NEN_TRAIN);

        snprintf(buf, size, "%s", en_normal[a]);
    }
}

static const char *const names[] = {"ad", "zh", "en"};

/* the same labels with the same probabilities (fields, not bytes: the
 * struct has padding) */
static int
same_preds(const struct ftc_pred *p, const struct ftc_pred *q, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (p[i].label != q[i].label || p[i].prob != q[i].prob)
            return 0;
    return 1;
}

/* A training file of n examples: fastText format, or JSONL (label as a
 * string, "__label__"-prefixed string or array, in turn). */
static int
write_train(const char *path, int n, int jsonl)
{
    FILE *f = fopen(path, "w");
    char buf[512];
    int i;

    if (!f)
        return -1;
    for (i = 0; i < n; i++) {
        int c = i % 3;

        example(buf, sizeof(buf), c, 0);
        if (!jsonl)
            fprintf(f, "__label__%s %s\n", names[c], buf);
        else if (i % 3 == 0)
            fprintf(f, "{\"label\": \"%s\", \"text\": \"%s\"}\n", names[c],
                    buf);
        else if (i % 3 == 1)
            fprintf(f, "{\"text\": \"%s\", \"label\": \"__label__%s\"}\n", buf,
                    names[c]);
        else
            fprintf(f, "{\"label\": [\"%s\"], \"text\": \"%s\"}\n", names[c],
                    buf);
    }
    return fclose(f);
}

/* Precision at 1 on 300 held-out examples; *gold the average probability
 * given to the right label (an untrained model, all rows near zero, gets
 * its argmax right surprisingly often on a problem this easy, but gives
 * every label about 1/3). */
static double
p_at_1_gold(const struct ftc_model *m, double *gold)
{
    struct ftc_scratch *s = ftc_scratch_new(m);
    struct ftc_pred p[3];
    char buf[512];
    int i, j, n, right = 0;

    *gold = 0;
    if (!s)
        return -1;
    for (i = 0; i < 300; i++) {
        example(buf, sizeof(buf), i % 3, 1);
        if (ftc_predict(m, s, buf, strlen(buf), 3, p, &n) != 0 || n < 1)
            continue;
        if (!strcmp(ftc_label(m, p[0].label), names[i % 3]))
            right++;
        for (j = 0; j < n; j++)
            if (!strcmp(ftc_label(m, p[j].label), names[i % 3]))
                *gold += p[j].prob / 300;
    }
    ftc_scratch_free(s);
    return right / 300.0;
}

/* P@1 at least 0.95 and the right label's probability 0.8 on average */
static int
learned(const struct ftc_model *m, const char *what)
{
    double gold, p = p_at_1_gold(m, &gold);

    printf("  %s: P@1 %.3f, p(gold) %.3f\n", what, p, gold);
    return p >= 0.95 && gold >= 0.8;
}

static void
small_opts(struct ftc_opts *o)
{
    ftc_opts_default(o);
    o->dim = 16;
    o->epoch = 10;
    o->lr = 0.5;
    o->word_ngrams = 2;
    o->bucket = 50000;
    o->threads = 1;
    o->seed = 7;
}

static struct ftc_model *
train(const struct ftc_opts *o, int jsonl)
{
    struct ftc_model *m = NULL;
    struct nh_error err = {0};
    char path[128];

    path_join(path, sizeof(path), tmp, jsonl ? "train.jsonl" : "train.txt");
    if (write_train(path, 900, jsonl) < 0)
        return NULL;
    if (ftc_train(o, path, &m, &err) < 0)
        printf("  train: %s\n", err.msg);
    return m;
}

TEST(softmax_learns)
{
    struct ftc_opts o;
    struct ftc_model *m;

    small_opts(&o);
    m = train(&o, 0);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(ftc_nlabels(m) == 3);
    CHECK(learned(m, "softmax"));
    ftc_free(m);
}

TEST(hs_learns)
{
    struct ftc_opts o;
    struct ftc_model *m;

    small_opts(&o);
    o.loss = FTC_HS;
    m = train(&o, 0);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(learned(m, "hs"));
    ftc_free(m);
}

TEST(jsonl_and_char_ngrams)
{
    struct ftc_opts o;
    struct ftc_model *m;
    int i, seen[3] = {0};

    small_opts(&o);
    o.minn = 2;
    o.maxn = 4;
    o.word_ngrams = 1;
    m = train(&o, 1);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(ftc_nlabels(m) == 3);
    for (i = 0; i < ftc_nlabels(m); i++) { /* names without the prefix */
        int j;

        for (j = 0; j < 3; j++)
            if (!strcmp(ftc_label(m, i), names[j]))
                seen[j]++;
    }
    CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    CHECK(ftc_label(m, 3) == NULL && ftc_label(m, -1) == NULL);
    CHECK(ftc_label_find(m, "zh", 2) >= 0 && ftc_label_find(m, "x", 1) < 0);
    CHECK(learned(m, "jsonl, minn 2 maxn 4"));
    ftc_free(m);
}

TEST(threads)
{
    struct ftc_opts o;
    struct ftc_model *m;

    small_opts(&o);
    o.threads = 4;
    m = train(&o, 0);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(learned(m, "4 threads"));
    ftc_free(m);
}

/* k beyond the labels, order, probabilities summing to one; the same
 * answer each time; spaces between CJK characters and ASCII case do not
 * matter (CJK characters are tokens, words are lowercased). */
static void
check_predict(const struct ftc_model *m)
{
    struct ftc_scratch *s = ftc_scratch_new(m);
    struct ftc_pred p[8], q[8];
    const char *a = "扫码加微信好友领取无门槛优惠券，台灯只要九块九！";
    const char *b = "扫 码 加 微 信 好 友 领 取 无 门 槛 优 惠 券 台 灯 只 要 "
                    "九 块 九";
    const char *e1 = "The TRAIN to the Coast", *e2 = "the train to the coast";
    int n = 0, n2 = 0, i;
    double sum = 0;

    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(ftc_predict(m, s, a, strlen(a), 8, p, &n) == 0);
    CHECK(n == 3);
    for (i = 0; i < n; i++)
        sum += p[i].prob;
    CHECK(fabs(sum - 1) < 1e-6);
    CHECK(p[0].prob >= p[1].prob && p[1].prob >= p[2].prob);
    CHECK(!strcmp(ftc_label(m, p[0].label), "ad"));
    CHECK(ftc_predict(m, s, b, strlen(b), 8, q, &n2) == 0);
    CHECK(n2 == 3 && q[0].label == p[0].label && q[0].prob == p[0].prob);
    CHECK(ftc_predict(m, s, a, strlen(a), 8, q, &n2) == 0);
    CHECK(same_preds(p, q, 3));
    CHECK(ftc_predict(m, s, e1, strlen(e1), 1, p, &n) == 0);
    CHECK(ftc_predict(m, s, e2, strlen(e2), 1, q, &n2) == 0);
    CHECK(n == 1 && n2 == 1 && p[0].label == q[0].label &&
          p[0].prob == q[0].prob);
    CHECK(!strcmp(ftc_label(m, p[0].label), "en"));
    CHECK(ftc_predict(m, s, "", 0, 2, p, &n) == 0 && n == 2);
    CHECK(ftc_predict(m, s, "\xff\xfe\n\n", 4, 0, p, &n) == 0 && n == 0);
    ftc_scratch_free(s);
}

TEST(predict_contract)
{
    struct ftc_opts o;
    struct ftc_model *m;

    small_opts(&o);
    m = train(&o, 0);
    CHECK(m != NULL);
    if (m)
        check_predict(m);
    ftc_free(m);
    o.loss = FTC_HS;
    m = train(&o, 0);
    CHECK(m != NULL);
    if (m)
        check_predict(m);
    ftc_free(m);
}

/* One thread and a seed: the same model twice. */
TEST(deterministic)
{
    struct ftc_opts o;
    struct ftc_model *a, *b;
    struct ftc_pred p[3], q[3];
    struct ftc_scratch *s, *t;
    const char *x = "这座古老的桥已经有三百多年的历史了。";
    int n, n2;

    small_opts(&o);
    rng_state = 99;
    a = train(&o, 0);
    rng_state = 99;
    b = train(&o, 0);
    CHECK(a && b);
    if (a && b) {
        s = ftc_scratch_new(a);
        t = ftc_scratch_new(b);
        CHECK(ftc_predict(a, s, x, strlen(x), 3, p, &n) == 0);
        CHECK(ftc_predict(b, t, x, strlen(x), 3, q, &n2) == 0);
        CHECK(n == 3 && n2 == 3 && same_preds(p, q, 3));
        ftc_scratch_free(s);
        ftc_scratch_free(t);
    }
    ftc_free(a);
    ftc_free(b);
}

static long
file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int
copy_prefix(const char *from, const char *to, long n, long flip)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    long i;
    int c, rc = 0;

    if (!f || !g)
        rc = -1;
    for (i = 0; rc == 0 && i < n && (c = getc(f)) != EOF; i++)
        putc(i == flip ? c ^ 0x10 : c, g);
    if (f)
        fclose(f);
    if (g && fclose(g))
        rc = -1;
    return rc;
}

static int
load_code(const char *path, struct nh_error *err)
{
    struct ftc_model *m = NULL;
    int rc = ftc_load(&m, path, err);

    ftc_free(m);
    return rc;
}

TEST(save_load)
{
    struct ftc_opts o;
    struct ftc_model *m, *l = NULL;
    struct nh_error err = {0};
    char path[128], bad[128], buf[512];
    long size;
    int i, loss;

    path_join(path, sizeof(path), tmp, "m.ftc");
    path_join(bad, sizeof(bad), tmp, "bad.ftc");
    for (loss = 0; loss < 2; loss++) {
        small_opts(&o);
        o.loss = loss ? FTC_HS : FTC_SOFTMAX;
        o.maxn = loss ? 3 : 0;
        o.minn = loss ? 1 : 0;
        m = train(&o, 0);
        CHECK(m != NULL);
        if (!m)
            return;
        CHECK(ftc_save(m, path, &err) == 0);
        CHECK(ftc_load(&l, path, &err) == 0);
        if (!l) {
            printf("  load: %s\n", err.msg);
            ftc_free(m);
            return;
        }
        CHECK(ftc_nlabels(l) == ftc_nlabels(m));
        CHECK(ftc_nwords(l) == ftc_nwords(m));
        CHECK(ftc_model_opts(l)->dim == 16 &&
              ftc_model_opts(l)->loss == o.loss &&
              ftc_model_opts(l)->bucket == 50000);
        {
            struct ftc_scratch *s = ftc_scratch_new(m), *t = ftc_scratch_new(l);
            struct ftc_pred p[3], q[3];
            int n, n2, same = 1;

            for (i = 0; i < 200 && s && t; i++) {
                example(buf, sizeof(buf), i % 3, i & 1);
                if (ftc_predict(m, s, buf, strlen(buf), 3, p, &n) ||
                    ftc_predict(l, t, buf, strlen(buf), 3, q, &n2) || n != n2 ||
                    !same_preds(p, q, n) ||
                    strcmp(ftc_label(m, p[0].label), ftc_label(l, q[0].label)))
                    same = 0;
            }
            CHECK(s && t && same);
            ftc_scratch_free(s);
            ftc_scratch_free(t);
        }
        ftc_free(m);
        ftc_free(l);
        l = NULL;
    }
    /* truncated anywhere, one bit flipped, trailing bytes, empty, not a
     * model, missing */
    size = file_size(path);
    CHECK(size > 1000);
    {
        long cuts[] = {0, 3, 10, 40, 100, size / 2, size - 17, size - 1};
        long flips[] = {2, 6, 12, 60, size / 3, size - 5};

        for (i = 0; i < (int)(sizeof(cuts) / sizeof(cuts[0])); i++) {
            CHECK(copy_prefix(path, bad, cuts[i], -1) == 0);
            CHECK(load_code(bad, &err) == NH_ECORRUPT);
        }
        printf("  truncated: %s\n", err.msg);
        for (i = 0; i < (int)(sizeof(flips) / sizeof(flips[0])); i++) {
            CHECK(copy_prefix(path, bad, size, flips[i]) == 0);
            CHECK(load_code(bad, &err) == NH_ECORRUPT);
        }
        printf("  flipped: %s\n", err.msg);
    }
    {
        FILE *f = fopen(bad, "ab");

        CHECK(copy_prefix(path, bad, size, -1) == 0);
        f = fopen(bad, "ab");
        CHECK(f != NULL);
        if (f) {
            fputs("x", f);
            fclose(f);
        }
        CHECK(load_code(bad, &err) == NH_ECORRUPT);
        f = fopen(bad, "w");
        if (f) {
            fputs("__label__a hello world\n", f);
            fclose(f);
        }
        CHECK(load_code(bad, &err) == NH_ECORRUPT);
        CHECK(strstr(err.msg, "not a classifier model") != NULL);
    }
    path_join(bad, sizeof(bad), tmp, "missing.ftc");
    CHECK(load_code(bad, &err) == NH_EIO);
    CHECK(strstr(err.msg, "cannot open") != NULL);
}

TEST(bad_lines_and_options)
{
    struct ftc_opts o;
    struct ftc_model *m = NULL;
    struct nh_error err = {0};
    struct ftc_train_info info = {0};
    char path[128];
    FILE *f;
    int i;

    path_join(path, sizeof(path), tmp, "mixed.txt");
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("no label on this line\n", f);                       /* 1 */
    fputs("__label__a good line one\n\n", f);                  /* 2, 3 blank */
    fputs("{\"text\": \"json without a label\"}\n", f);        /* 4 */
    fputs("{\"label\": \"b\", \"text\": \"json good\"}\n", f); /* 5 */
    fputs("{\"label\": \"b\", \"text\": \n", f);               /* 6 broken */
    fputs("{\"label\": \"b\"}\n", f);                          /* 7 no text */
    fputs("__label__ only an empty label\n", f);               /* 8 */
    for (i = 0; i < 20; i++)
        fprintf(f, "__label__%s line %d\n", i & 1 ? "a" : "b", i);
    fclose(f);
    small_opts(&o);
    CHECK(ftc_train_ex(&o, path, &m, &info, &err) == 0);
    CHECK(info.skipped == 5);
    CHECK(info.first_skipped == 1);
    CHECK(strstr(info.skip_reason, "label") != NULL);
    CHECK(info.examples == 22);
    CHECK(m && ftc_nlabels(m) == 2);
    ftc_free(m);
    m = NULL;

    path_join(path, sizeof(path), tmp, "nolabels.txt");
    f = fopen(path, "w");
    if (f) {
        fputs("just text\nmore text\n", f);
        fclose(f);
    }
    CHECK(ftc_train(&o, path, &m, &err) == NH_EFORMAT && !m);
    CHECK(strstr(err.msg, "no labeled lines") != NULL);
    path_join(path, sizeof(path), tmp, "missing.txt");
    CHECK(ftc_train(&o, path, &m, &err) == NH_EIO && !m);

    o.dim = 0;
    CHECK(ftc_train(&o, path, &m, &err) == NH_EINVAL);
    small_opts(&o);
    o.minn = 3;
    o.maxn = 2;
    CHECK(ftc_train(&o, path, &m, &err) == NH_EINVAL);
    small_opts(&o);
    o.lr = 0;
    CHECK(ftc_train(&o, path, &m, &err) == NH_EINVAL);
    CHECK(m == NULL);
}

int
main(void)
{
    if (tmp_begin("ftc") < 0) {
        perror("mkdtemp");
        return 1;
    }
    RUN(softmax_learns);
    RUN(hs_learns);
    RUN(jsonl_and_char_ngrams);
    RUN(threads);
    RUN(predict_contract);
    RUN(deterministic);
    RUN(save_load);
    RUN(bad_lines_and_options);
    tmp_end();
    return test_summary();
}
