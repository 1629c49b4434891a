/* test-lm.c - unit tests for the n-gram language model (pipeline/lm.c)
 *
 * Tokenization rule, MKN values of a tiny corpus worked out by hand,
 * discounts against counts of counts computed here, normalization (the
 * probabilities of every continuation of seen and unseen contexts sum to
 * one), lm_score against lm_logprob_ids, save/load round trip, refusal of
 * corrupt and truncated model files, percentiles.
 */
#include "lm.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test-lm-XXXXXX";

static const char *
tmp(const char *name)
{
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];

    snprintf(b, sizeof(buf[0]), "%s/%s", tmpdir, name);
    return b;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static struct lm_model *
train(const char *path, int order)
{
    struct lm_opts o = {.order = order};
    struct nh_error err = {0};
    struct lm_model *m = NULL;
    char *p = (char *)(uintptr_t)path;

    if (lm_train(&o, &p, 1, &m, &err) < 0) {
        printf("  train: %s\n", err.msg);
        return NULL;
    }
    return m;
}

struct toks {
    char buf[1024];
    int n;
};

static int
tok_cb(void *arg, const char *tok, size_t len)
{
    struct toks *t = arg;
    size_t at = strlen(t->buf);

    snprintf(t->buf + at, sizeof(t->buf) - at, "%s%.*s", t->n ? "|" : "",
             (int)len, tok);
    t->n++;
    return 0;
}

static const char *
toks_of(const char *text)
{
    static struct toks t;
    struct lm_scratch *s = lm_scratch_new(NULL);

    memset(&t, 0, sizeof(t));
    lm_tokenize(s, text, strlen(text), tok_cb, &t);
    lm_scratch_free(s);
    return t.buf;
}

TEST(tokenize)
{
    CHECK_STR(toks_of("Hello, World  again"), "hello,|world|again");
    CHECK_STR(toks_of("今天 天气，好。"), "今|天|天|气|，|好|。");
    /* 4 CJK characters against 1 run: characters, punctuation too */
    CHECK_STR(toks_of("我用Linux系统"), "我|用|L|i|n|u|x|系|统");
    /* 2 CJK characters against 3 runs: words, CJK kept inside */
    CHECK_STR(toks_of("I like 中文 a lot"), "i|like|中文|a|lot");
    CHECK_STR(toks_of("ab\xff"
                      "C d"),
              "ab\xEF\xBF\xBD"
              "c|d");
    CHECK_STR(toks_of("a\xe3\x80\x80"
                      "b"),
              "a|b"); /* U+3000 ideographic space */
    CHECK_STR(toks_of("   "), "");
}

/* The tiny corpus of the hand computation (order 3). */
static const char tiny[] = "a b c\na b\nb c a\nc\n";

TEST(hand_computed)
{
    struct lm_model *m;
    uint32_t a, b, c, ctx[2];
    double d[3];

    write_file(tmp("tiny.txt"), tiny);
    if (!(m = train(tmp("tiny.txt"), 3))) {
        CHECK(0);
        return;
    }
    a = lm_vocab_id(m, "a", 1);
    b = lm_vocab_id(m, "b", 1);
    c = lm_vocab_id(m, "c", 1);
    CHECK(lm_vocab_size(m) == 6);
    CHECK(lm_ngrams(m, 2) == 9 && lm_ngrams(m, 3) == 8);
    /* counts of counts too small for eq. 26: lmplz's fallback */
    lm_discounts(m, 3, d);
    CHECK(d[0] == 0.5 && d[1] == 1.0 && d[2] == 1.5);
    /* unigrams: continuation counts a 2 (<s> a, c a), b 2, c 2, </s> 3
     * (a b c); sum 9; N2 = 3, N3+ = 1; gamma = (1*3 + 1.5*1) / 9 = 0.5
     * spread over |V| = 5 (<unk> </s> a b c):
     *   p(a) = (2 - 1) / 9 + 0.5 / 5,  p(</s>) = 1.5 / 9 + 0.1 */
    CHECK(fabs(lm_logprob_ids(m, NULL, 0, a) - log10(1.0 / 9 + 0.1)) < 1e-6);
    CHECK(fabs(lm_logprob_ids(m, NULL, 0, 2) - log10(1.5 / 9 + 0.1)) < 1e-6);
    CHECK(fabs(lm_logprob_ids(m, NULL, 0, 0) - log10(0.1)) < 1e-6);
    /* p(b | a): the bigrams after a are a b and a </s>, continuation
     * counts 1 (<s> a b) and 1 (c a </s>); gamma(a) = 0.5 * 2 / 2:
     *   p(b|a) = (1 - 0.5) / 2 + 0.5 p(b) */
    ctx[0] = a;
    CHECK(fabs(lm_logprob_ids(m, ctx, 1, b) -
               log10(0.25 + 0.5 * (1.0 / 9 + 0.1))) < 1e-6);
    /* p(c | a b): raw trigram counts a b c 1, a b </s> 1, gamma 0.5;
     * p(c | b): b c has continuation count 2 (a b c, <s> b c), b </s> 1:
     *   p(c|b) = (2 - 1) / 3 + (0.5 + 1) / 3 p(c) */
    ctx[0] = a;
    ctx[1] = b;
    {
        double pcb = 1.0 / 3 + 0.5 * (1.0 / 9 + 0.1);

        CHECK(fabs(lm_logprob_ids(m, ctx + 1, 1, c) - log10(pcb)) < 1e-6);
        CHECK(fabs(lm_logprob_ids(m, ctx, 2, c) - log10(0.25 + 0.5 * pcb)) <
              1e-6);
        /* unseen: p(a | a b) = gamma(a b) p(a | b), p(a|b) = gamma(b) p(a)
         * (b a never seen) */
        CHECK(fabs(lm_logprob_ids(m, ctx, 2, a) -
                   log10(0.5 * 0.5 * (1.0 / 9 + 0.1))) < 1e-6);
    }
    lm_free(m);
}

/* a corpus with enough variety for real discounts: words drawn from a
 * Zipf-like table with a first-order dependency */
static void
make_corpus(const char *path, int ndocs, unsigned seed, int cjk)
{
    static const char *const zh[] = {"的", "是", "在", "我", "有", "他",
                                     "这", "中", "大", "来", "上", "国",
                                     "个", "到", "说", "们", "，", "。"};
    FILE *f = fopen(path, "w");
    int i, j;

    if (!f)
        abort();
    srand(seed);
    for (i = 0; i < ndocs; i++) {
        int len = 1 + rand() % 12, prev = rand() % 7;

        for (j = 0; j < len; j++) {
            int w = (prev * 3 + rand() % (1 + rand() % 30)) % 40;

            if (cjk)
                fputs(zh[w % 18], f);
            else
                fprintf(f, "%sw%d", j ? " " : "", w);
            prev = w;
        }
        fputc('\n', f);
    }
    fclose(f);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(discounts_from_counts_of_counts)
{
    static char keys[40000][64];
    static char *sorted[40000];
    struct lm_model *m;
    double d[3], y;
    char line[4096];
    uint64_t t[6] = {0};
    int nk = 0, i, k, run;
    FILE *f;

    make_corpus(tmp("disc.txt"), 400, 7, 0);
    if (!(m = train(tmp("disc.txt"), 3))) {
        CHECK(0);
        return;
    }
    /* raw trigram counts, by sorting the windows of <s> words </s> */
    f = fopen(tmp("disc.txt"), "r");
    while (f && fgets(line, sizeof(line), f)) {
        char w[64][16];
        int n = 0;
        char *p = line;

        snprintf(w[n++], 16, "<s>");
        while (*p && *p != '\n') {
            size_t l = strcspn(p, " \n");

            snprintf(w[n++], 16, "%.*s", (int)l, p);
            p += l + (p[l] == ' ');
        }
        snprintf(w[n++], 16, "</s>");
        for (i = 2; i < n && nk < 40000; i++) {
            snprintf(keys[nk], 64, "%.15s %.15s %.15s", w[i - 2], w[i - 1],
                     w[i]);
            sorted[nk] = keys[nk];
            nk++;
        }
    }
    if (f)
        fclose(f);
    qsort(sorted, (size_t)nk, sizeof(*sorted), cmp_str);
    for (i = 0; i < nk; i += run) {
        for (run = 1; i + run < nk && !strcmp(sorted[i], sorted[i + run]);)
            run++;
        if (run <= 4)
            t[run]++;
    }
    CHECK(t[1] && t[2] && t[3] && t[4]);
    /* TR-10-98 eq. 26 */
    y = (double)t[1] / (double)(t[1] + 2 * t[2]);
    lm_discounts(m, 3, d);
    for (k = 1; k <= 3; k++)
        CHECK(fabs(d[k - 1] - (k - (k + 1) * y * (double)t[k + 1] /
                                       (double)t[k])) < 1e-12);
    lm_free(m);
}

/* sum over every continuation (all ids but <s>) of p(w | ctx) */
static double
total(const struct lm_model *m, const uint32_t *ctx, size_t n)
{
    double s = 0;
    uint32_t w;

    for (w = 0; w < lm_vocab_size(m); w++)
        if (w != 1)
            s += pow(10.0, lm_logprob_ids(m, ctx, n, w));
    return s;
}

static void
check_sums(const char *corpus, int order, int cjk)
{
    struct lm_model *m;
    uint32_t ctx[8];
    double worst = 0;
    int trial, len, k;

    make_corpus(corpus, 3000, 11, cjk);
    if (!(m = train(corpus, order))) {
        CHECK(0);
        return;
    }
    srand(5);
    worst = fabs(total(m, NULL, 0) - 1);
    for (trial = 0; trial < 60; trial++) {
        for (len = 1; len < order; len++) {
            /* seen contexts: draw a document's prefix; unseen: random */
            struct lm_scratch *s = lm_scratch_new(m);
            double lp;
            size_t n;
            char doc[64];

            if (trial % 2 == 0) {
                snprintf(doc, sizeof(doc), cjk ? "的是在我有他" : "w%d w%d w%d",
                         rand() % 40, rand() % 40, rand() % 40);
                lm_score(m, s, doc, strlen(doc), &lp, &n);
                for (k = 0; k < len; k++)
                    ctx[k] = (uint32_t)(3 + rand() % (lm_vocab_size(m) - 3));
            } else {
                for (k = 0; k < len; k++)
                    ctx[k] = (uint32_t)(rand() % lm_vocab_size(m));
            }
            if (trial % 3 == 0)
                ctx[0] = 1; /* <s> */
            lm_scratch_free(s);
            double e = fabs(total(m, ctx, (size_t)len) - 1);
            if (e > worst)
                worst = e;
        }
    }
    if (!(worst < 1e-6))
        printf("  worst |sum - 1| = %g\n", worst);
    CHECK(worst < 1e-6);
    lm_free(m);
}

TEST(sums_to_one_words)
{
    check_sums(tmp("sum-w.txt"), 4, 0);
}

TEST(sums_to_one_chars)
{
    check_sums(tmp("sum-c.txt"), 5, 1);
}

TEST(score_matches_logprob)
{
    struct lm_model *m;
    struct lm_scratch *s;
    const char *doc = "w3 w9 w27 w1 w3 w9 nosuchword w5";
    uint32_t ids[20];
    size_t n, k = 0, i;
    double lp, sum = 0;
    char w[16];

    make_corpus(tmp("sc.txt"), 2000, 3, 0);
    if (!(m = train(tmp("sc.txt"), 4))) {
        CHECK(0);
        return;
    }
    s = lm_scratch_new(m);
    CHECK(lm_score(m, s, doc, strlen(doc), &lp, &n) == 0);
    CHECK(n == 9);
    ids[k++] = 1;
    for (const char *p = doc; *p;) {
        size_t l = strcspn(p, " ");

        snprintf(w, sizeof(w), "%.*s", (int)l, p);
        ids[k++] = lm_vocab_id(m, w, l);
        p += l + (p[l] == ' ');
    }
    ids[k++] = 2;
    CHECK(ids[7] == 0); /* nosuchword is <unk> */
    for (i = 1; i < k; i++)
        sum += lm_logprob_ids(m, ids, i, ids[i]);
    CHECK(fabs(sum - lp) < 1e-9);
    /* random documents: seen, backed-off and unknown n-grams in every
     * mix; lm_score (longest match first, cached backoffs) against the
     * plain backoff rule token by token */
    srand(17);
    for (int d = 0, bad = 0; d < 300 && !bad; d++) {
        char text[512];
        size_t at = 0;
        int nw = rand() % 15;

        k = 0;
        ids[k++] = 1;
        for (int j = 0; j < nw && k < 15; j++) {
            int r = rand() % 45; /* w40..w44 are unknown */

            at += (size_t)snprintf(text + at, sizeof(text) - at, "%sw%d",
                                   j ? " " : "", r);
            snprintf(w, sizeof(w), "w%d", r);
            ids[k++] = lm_vocab_id(m, w, strlen(w));
        }
        text[at] = 0;
        ids[k++] = 2;
        sum = 0;
        for (i = 1; i < k; i++)
            sum += lm_logprob_ids(m, ids, i, ids[i]);
        CHECK(lm_score(m, s, text, at, &lp, &n) == 0 && n == k - 1);
        if (fabs(sum - lp) > 1e-9) {
            printf("  '%s': %.12f against %.12f\n", text, lp, sum);
            bad = 1;
            CHECK(0);
        }
    }
    lm_scratch_free(s);
    lm_free(m);
}

TEST(save_load_round_trip)
{
    struct lm_model *m, *m2 = NULL;
    struct nh_error err = {0};
    struct lm_scratch *s;
    char line[512];
    FILE *f, *a, *b;
    int same = 1, c1, c2;

    make_corpus(tmp("rt.txt"), 1500, 9, 1);
    if (!(m = train(tmp("rt.txt"), 5))) {
        CHECK(0);
        return;
    }
    CHECK(lm_save(m, tmp("rt.bin"), &err) == 0);
    CHECK(lm_load(&m2, tmp("rt.bin"), &err) == 0);
    if (!m2) {
        lm_free(m);
        return;
    }
    CHECK(lm_order(m2) == 5 && lm_vocab_size(m2) == lm_vocab_size(m));
    s = lm_scratch_new(m);
    f = fopen(tmp("rt.txt"), "r");
    while (f && fgets(line, sizeof(line), f)) {
        double l1, l2;
        size_t n1, n2;

        lm_score(m, s, line, strlen(line), &l1, &n1);
        lm_score(m2, s, line, strlen(line), &l2, &n2);
        if (l1 != l2 || n1 != n2)
            same = 0;
    }
    if (f)
        fclose(f);
    CHECK(same);
    /* the ARPA files of both are the same bytes */
    CHECK(lm_write_arpa(m, tmp("a.arpa"), &err) == 0);
    CHECK(lm_write_arpa(m2, tmp("b.arpa"), &err) == 0);
    a = fopen(tmp("a.arpa"), "r");
    b = fopen(tmp("b.arpa"), "r");
    do {
        c1 = a ? getc(a) : 0;
        c2 = b ? getc(b) : 1;
    } while (c1 == c2 && c1 != EOF);
    CHECK(c1 == c2);
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    lm_scratch_free(s);
    lm_free(m);
    lm_free(m2);
}

static int
load_err(const char *path, char *msg, size_t len)
{
    struct lm_model *m = NULL;
    struct nh_error err = {0};
    int rc = lm_load(&m, path, &err);

    snprintf(msg, len, "%s", err.msg);
    lm_free(m);
    return rc;
}

TEST(corrupt_models_refused)
{
    struct lm_model *m;
    struct nh_error err = {0};
    char msg[512];
    FILE *f;
    long size;
    char *buf;

    write_file(tmp("tiny2.txt"), tiny);
    if (!(m = train(tmp("tiny2.txt"), 3))) {
        CHECK(0);
        return;
    }
    CHECK(lm_save(m, tmp("ok.bin"), &err) == 0);
    lm_free(m);
    f = fopen(tmp("ok.bin"), "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    /* truncated */
    f = fopen(tmp("trunc.bin"), "wb");
    fwrite(buf, 1, (size_t)size - 40, f);
    fclose(f);
    CHECK(load_err(tmp("trunc.bin"), msg, sizeof(msg)) == NH_ECORRUPT);
    CHECK(strstr(msg, "truncated") != NULL);
    /* one bit flipped in the tables */
    buf[size / 2] ^= 4;
    f = fopen(tmp("flip.bin"), "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    CHECK(load_err(tmp("flip.bin"), msg, sizeof(msg)) == NH_ECORRUPT);
    CHECK(strstr(msg, "checksum") != NULL);
    buf[size / 2] ^= 4;
    /* not a model */
    write_file(tmp("text.bin"), "\\data\\\nngram 1=3\n");
    CHECK(load_err(tmp("text.bin"), msg, sizeof(msg)) == NH_ECORRUPT);
    CHECK(strstr(msg, "text.bin") && strstr(msg, "NHLM"));
    write_file(tmp("empty.bin"), "");
    CHECK(load_err(tmp("empty.bin"), msg, sizeof(msg)) == NH_ECORRUPT);
    /* a future version */
    buf[8] = 9;
    f = fopen(tmp("ver.bin"), "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    CHECK(load_err(tmp("ver.bin"), msg, sizeof(msg)) == NH_ECORRUPT);
    CHECK(strstr(msg, "version") != NULL);
    CHECK(load_err(tmp("nonexistent.bin"), msg, sizeof(msg)) == NH_EIO);
    CHECK(strstr(msg, "cannot open") != NULL);
    free(buf);
}

TEST(training_errors)
{
    struct lm_opts o = {.order = 9};
    struct nh_error err = {0};
    struct lm_model *m = NULL;
    char *p = (char *)(uintptr_t)tmp("blank.txt");

    write_file(tmp("blank.txt"), "\n  \n\n");
    CHECK(lm_train(&o, &p, 1, &m, &err) == NH_EINVAL);
    o.order = 3;
    CHECK(lm_train(&o, &p, 1, &m, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "no documents") != NULL);
    p = (char *)(uintptr_t)tmp("missing.txt");
    CHECK(lm_train(&o, &p, 1, &m, &err) == NH_EIO);
    CHECK(strstr(err.msg, "missing.txt") != NULL);
    write_file(tmp("bad.jsonl"), "{\"text\": \"a b\"}\nnot json\n");
    p = (char *)(uintptr_t)tmp("bad.jsonl");
    CHECK(lm_train(&o, &p, 1, &m, &err) == NH_EFORMAT);
    CHECK(strstr(err.msg, "line 2") != NULL);
    CHECK(m == NULL);
}

TEST(percentiles)
{
    const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct lm_model *m;
    struct nh_error err = {0};
    double p[2];
    char *path = (char *)(uintptr_t)tmp("pc.txt");

    CHECK(fabs(lm_quantile(v, 10, 0.3) - 3.7) < 1e-12);
    CHECK(fabs(lm_quantile(v, 10, 0.6) - 6.4) < 1e-12);
    CHECK(lm_quantile(v, 1, 0.6) == 1);
    make_corpus(path, 500, 2, 0);
    if (!(m = train(path, 3))) {
        CHECK(0);
        return;
    }
    CHECK(lm_percentiles(m, &path, 1, p, &err) == 0);
    CHECK(p[0] > 1 && p[0] <= p[1]);
    lm_free(m);
}

/* one model, one scratch per thread: the same scores as one thread */
struct thr {
    const struct lm_model *m;
    double sum;
    int ok;
};

static void *
thr_run(void *arg)
{
    struct thr *t = arg;
    struct lm_scratch *s = lm_scratch_new(t->m);
    char doc[64];
    int i;

    t->ok = s != NULL;
    for (i = 0; s && i < 3000; i++) {
        double lp;
        size_t n;

        snprintf(doc, sizeof(doc), "w%d w%d w%d w%d", i % 41, i % 7, i % 13,
                 i % 29);
        if (lm_score(t->m, s, doc, strlen(doc), &lp, &n) < 0)
            t->ok = 0;
        t->sum += lp;
    }
    lm_scratch_free(s);
    return NULL;
}

TEST(threads_share_a_model)
{
    struct thr t[4];
    pthread_t th[4];
    struct lm_model *m;
    int i;

    make_corpus(tmp("th.txt"), 800, 21, 0);
    if (!(m = train(tmp("th.txt"), 4))) {
        CHECK(0);
        return;
    }
    for (i = 0; i < 4; i++) {
        t[i] = (struct thr){m, 0, 0};
        CHECK(pthread_create(&th[i], NULL, thr_run, &t[i]) == 0);
    }
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < 4; i++)
        CHECK(t[i].ok && t[i].sum == t[0].sum && t[i].sum < 0);
    lm_free(m);
}

int
main(void)
{
    char cmd[128];

    if (!mkdtemp(tmpdir))
        return 1;
    RUN(tokenize);
    RUN(hand_computed);
    RUN(discounts_from_counts_of_counts);
    RUN(sums_to_one_words);
    RUN(sums_to_one_chars);
    RUN(score_matches_logprob);
    RUN(save_load_round_trip);
    RUN(corrupt_models_refused);
    RUN(training_errors);
    RUN(percentiles);
    RUN(threads_share_a_model);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("  cannot remove %s\n", tmpdir);
    return test_summary();
}
