/* test-stage-models.c - the model stages, classify and perplexity, with
 * small models trained here through the real API (pipeline/ftc.c,
 * pipeline/lm.c) on Chinese and English text: the metadata they add,
 * what they drop and why, and their config errors
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftc.h"
#include "lm.h"
#include "stage.h"
#include "test.h"

static char dir[64];
static char clf_path[128], lm_path[128], ref_path[128];

/* the training text: Chinese ads, Chinese prose, English prose */
static const char *const ad_zh[] = {
    "无抵押贷款当天放款，黑户白户均可办理，咨询电话请加微信",
    "首存送百分之百，真人娱乐博彩首选，加微信领取新人福利",
    "低息小额贷款不查征信，秒批秒到，最高五十万当天到账",
    "官方网站注册即送彩金，跟单包赢，不中全额返还，快来",
};
static const char *const prose_zh[] = {
    "秋天的北京天高云淡，香山的红叶吸引了许多游客前来观赏",
    "做一碗好吃的西红柿鸡蛋面并不难，先把西红柿切成小块",
    "这个命令把文件从一个目录复制到另一个目录，并保留权限",
    "图书馆每天早上八点开门，学生们在阅览室里安静地看书",
};
static const char *const prose_en[] = {
    "the library opens at eight and students read quietly in the hall",
    "copy the file from one directory to another and keep its mode",
    "autumn in the mountains brings red leaves and many visitors",
    "data cleaning takes most of the time before training a model",
};

static int
write_training(void)
{
    char p[160];
    FILE *lab, *txt, *ref;
    int i, k;

    snprintf(p, sizeof(p), "%s/labels.txt", dir);
    lab = fopen(p, "w");
    snprintf(p, sizeof(p), "%s/ok.txt", dir);
    txt = fopen(p, "w");
    ref = fopen(ref_path, "w");
    if (!lab || !txt || !ref)
        return -1;
    for (k = 0; k < 30; k++)
        for (i = 0; i < 4; i++) {
            fprintf(lab, "__label__ad %s %d\n", ad_zh[i], k);
            fprintf(lab, "__label__ok %s %d\n", prose_zh[i], k);
            fprintf(lab, "__label__ok %s %d\n", prose_en[i], k);
            fprintf(txt, "%s\n%s\n", prose_zh[i], prose_en[i]);
            if (k < 3)
                fprintf(ref, "%s\n%s\n", prose_zh[(i + 1) % 4],
                        prose_en[(i + 2) % 4]);
        }
    fclose(lab);
    fclose(txt);
    fclose(ref);
    return 0;
}

static int
train_models(void)
{
    struct ftc_opts o;
    struct lm_opts lo = {0};
    struct ftc_model *m = NULL;
    struct lm_model *l = NULL;
    struct nh_error err = {0};
    char p[160], *paths[1] = {p};
    int rc;

    ftc_opts_default(&o);
    o.epoch = 30;
    o.lr = 0.5;
    o.dim = 20;
    o.threads = 1;
    o.word_ngrams = 2;
    o.bucket = 10000;
    snprintf(p, sizeof(p), "%s/labels.txt", dir);
    if ((rc = ftc_train(&o, p, &m, &err)) < 0 ||
        (rc = ftc_save(m, clf_path, &err)) < 0) {
        printf("  classifier: %s\n", err.msg);
        ftc_free(m);
        return rc;
    }
    ftc_free(m);
    lo.order = 3;
    snprintf(p, sizeof(p), "%s/ok.txt", dir);
    if ((rc = lm_train(&lo, paths, 1, &l, &err)) < 0 ||
        (rc = lm_save(l, lm_path, &err)) < 0)
        printf("  lm: %s\n", err.msg);
    lm_free(l);
    return rc;
}

/* A stage made from a JSON config, and one worker's context. */
struct st {
    const struct stage_ops *ops;
    void *conf;
    struct stage_ctx ctx;
    int rc;
    struct nh_error err;
};

static void
st_open(struct st *s, const char *op, const char *json)
{
    cJSON *p = cJSON_Parse(json);

    memset(s, 0, sizeof(*s));
    s->ops = stage_find(op);
    s->rc = s->ops ? s->ops->init(p, "stages[0]", &s->conf, &s->err) : -1;
    if (s->rc == 0 && s->ops->thread_init)
        s->ctx.tstate = s->ops->thread_init(s->conf);
    cJSON_Delete(p);
}

static void
st_close(struct st *s)
{
    if (s->rc == 0) {
        if (s->ops->thread_free)
            s->ops->thread_free(s->ctx.tstate);
        s->ops->free(s->conf);
    }
    strbuf_release(&s->ctx.scratch);
    strbuf_release(&s->ctx.scratch2);
}

/* Apply s to text; the document's meta (a copy) in *meta. */
static int
st_apply(struct st *s, const char *text, const char **reason, cJSON **meta)
{
    struct doc d;
    int rc;

    memset(&d, 0, sizeof(d));
    d.obj = cJSON_CreateObject();
    cJSON_AddStringToObject(d.obj, "id", "t");
    cJSON_AddStringToObject(d.obj, "text", text);
    d.id = "t";
    d.source = "";
    strbuf_add(&d.text, text, strlen(text));
    *reason = NULL;
    rc = s->ops->apply(s->conf, &s->ctx, &d, reason);
    *meta = cJSON_Duplicate(cJSON_GetObjectItem(d.obj, "meta"), 1);
    strbuf_release(&d.text);
    cJSON_Delete(d.obj);
    return rc;
}

static char *config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
config(const char *fmt, ...)
{
    static char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return buf;
}

TEST(classify)
{
    struct st s;
    const char *reason;
    cJSON *meta = NULL, *labels;
    int rc;

    st_open(&s, "classify",
            config("{\"model\": \"%s\", \"reject_labels\": [\"ad\"]%s}",
                   clf_path, ""));
    CHECK(s.rc == 0);
    if (s.rc < 0) {
        printf("  %s\n", s.err.msg);
        return;
    }
    /* an unseen ad: dropped, the reason names the label */
    rc = st_apply(&s, "无抵押贷款秒批秒到，加微信领取福利", &reason, &meta);
    CHECK(rc == STAGE_DROP);
    CHECK_STR(reason, "label_ad");
    labels = cJSON_GetObjectItem(meta, "labels");
    CHECK(cJSON_IsObject(labels) && cJSON_GetArraySize(labels) == 2);
    CHECK(labels && labels->child && !strcmp(labels->child->string, "ad") &&
          labels->child->valuedouble >= 0.5);
    cJSON_Delete(meta);
    /* Chinese and English prose stay, labeled ok */
    rc = st_apply(&s, "图书馆的学生们在阅览室里看书", &reason, &meta);
    CHECK(rc == STAGE_KEEP && !reason);
    labels = cJSON_GetObjectItem(meta, "labels");
    CHECK(labels && labels->child && !strcmp(labels->child->string, "ok"));
    cJSON_Delete(meta);
    rc = st_apply(&s, "students read quietly in the library", &reason, &meta);
    CHECK(rc == STAGE_KEEP);
    cJSON_Delete(meta);
    st_close(&s);

    /* min_prob above any probability: nothing is dropped */
    st_open(&s, "classify",
            config("{\"model\": \"%s\", \"reject_labels\": [\"ad\"], "
                   "\"min_prob\": 1, \"k\": 1%s}",
                   clf_path, ""));
    CHECK(s.rc == 0);
    rc = st_apply(&s, "无抵押贷款秒批秒到，加微信领取福利", &reason, &meta);
    CHECK(rc == STAGE_KEEP);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(meta, "labels")) == 1);
    cJSON_Delete(meta);
    st_close(&s);
}

TEST(classify_config_errors)
{
    struct st s;

    st_open(&s, "classify", "{}");
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'model' is required"));
    st_open(&s, "classify", "{\"model\": \"/nonexistent/m.ftc\"}");
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'model'"));
    st_open(&s, "classify", config("{\"model\": \"%s\"%s}", lm_path, ""));
    CHECK(s.rc == NH_EINVAL); /* not a classifier */
    st_open(&s, "classify",
            config("{\"model\": \"%s\", \"reject_labels\": [\"spam\"]%s}",
                   clf_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "no label 'spam'"));
    st_open(&s, "classify",
            config("{\"model\": \"%s\", \"min_prob\": 2%s}", clf_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'min_prob'"));
}

TEST(perplexity)
{
    struct st s;
    const char *reason;
    cJSON *meta = NULL;
    const cJSON *b;
    double good, bad;
    int rc;

    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"reference\": \"%s\"}", lm_path,
                   ref_path));
    CHECK(s.rc == 0);
    if (s.rc < 0) {
        printf("  %s\n", s.err.msg);
        return;
    }
    rc = st_apply(&s, "秋天的北京天高云淡，香山的红叶吸引了许多游客前来观赏",
                  &reason, &meta);
    CHECK(rc == STAGE_KEEP);
    good = cJSON_GetNumberValue(cJSON_GetObjectItem(meta, "ppl"));
    b = cJSON_GetObjectItem(meta, "ppl_bucket");
    CHECK(good >= 1 && cJSON_IsString(b));
    cJSON_Delete(meta);
    rc = st_apply(&s, "ÎÄ¼þÃû ÃèÊö mandb ÓÃÓÚ³õÊ¼»¯»òÊÖ¶¯¸üÐÂ", &reason, &meta);
    CHECK(rc == STAGE_KEEP);
    bad = cJSON_GetNumberValue(cJSON_GetObjectItem(meta, "ppl"));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "ppl_bucket")),
              "tail");
    CHECK(bad > 10 * good);
    cJSON_Delete(meta);
    st_close(&s);

    /* cut-offs given; the tail bucket dropped; a perplexity limit */
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"cutoffs\": [1, 2], "
                   "\"drop_buckets\": [\"tail\"]%s}",
                   lm_path, ""));
    CHECK(s.rc == 0);
    rc = st_apply(&s, "ÎÄ¼þÃû ÃèÊö", &reason, &meta);
    CHECK(rc == STAGE_DROP);
    CHECK_STR(reason, "ppl_tail");
    cJSON_Delete(meta);
    st_close(&s);
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"max_ppl\": 1.5%s}", lm_path, ""));
    CHECK(s.rc == 0);
    rc = st_apply(&s, "students read quietly", &reason, &meta);
    CHECK(rc == STAGE_DROP);
    CHECK_STR(reason, "perplexity_too_high");
    CHECK(!cJSON_GetObjectItem(meta, "ppl_bucket")); /* no cut-offs */
    cJSON_Delete(meta);
    st_close(&s);
}

TEST(perplexity_config_errors)
{
    struct st s;

    st_open(&s, "perplexity", "{}");
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'model' is required"));
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"drop_buckets\": [\"tail\"]%s}",
                   lm_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "cut-offs"));
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"cutoffs\": [5, 2]%s}", lm_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'cutoffs'"));
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"cutoffs\": [1, 2], "
                   "\"drop_buckets\": [\"bottom\"]%s}",
                   lm_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'drop_buckets'"));
    st_open(&s, "perplexity",
            config("{\"model\": \"%s\", \"reference\": \"/nonexistent\"%s}",
                   lm_path, ""));
    CHECK(s.rc == NH_EINVAL && strstr(s.err.msg, "'reference'"));
    st_open(&s, "perplexity", config("{\"model\": \"%s\"%s}", clf_path, ""));
    CHECK(s.rc == NH_EINVAL); /* not a language model */
}

int
main(void)
{
    char p[160];

    snprintf(dir, sizeof(dir), "/tmp/nh-test-models-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(clf_path, sizeof(clf_path), "%s/clf.ftc", dir);
    snprintf(lm_path, sizeof(lm_path), "%s/ok.lm", dir);
    snprintf(ref_path, sizeof(ref_path), "%s/ref.txt", dir);
    if (write_training() < 0 || train_models() < 0) {
        printf("not ok setup\n");
        return 1;
    }
    RUN(classify);
    RUN(classify_config_errors);
    RUN(perplexity);
    RUN(perplexity_config_errors);
    unlink(clf_path);
    unlink(lm_path);
    unlink(ref_path);
    snprintf(p, sizeof(p), "%s/labels.txt", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/ok.txt", dir);
    unlink(p);
    rmdir(dir);
    return test_summary();
}
