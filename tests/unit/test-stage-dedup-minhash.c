/* test-stage-dedup-minhash.c - the dedup.minhash stage: band/row choice,
 * shingles (CJK characters or words), clustering of near duplicates on
 * Chinese and English text from tests/fixtures
 *
 * `test-stage-dedup-minhash bench [MB]` instead measures the signature
 * and band key throughput on Chinese text, one thread, and prints MB/s.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "join.h"
#include "minhash.h"
#include "stage.h"
#include "strbuf.h"
#include "test.h"
#include "utf8.h"

/* ---- helpers ------------------------------------------------------------- */

/* Text of the record with this id in tests/fixtures/FILE. */
static char *
fixture_text(const char *file, const char *id)
{
    const char *top = getenv("NH_TOP");
    char path[512], line[65536];
    char *out = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/fixtures/%s", top ? top : ".", file);
    if (!(f = fopen(path, "r")))
        return NULL;
    while (!out && fgets(line, sizeof(line), f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");

        if (cJSON_IsString(i) && !strcmp(i->valuestring, id) &&
            cJSON_IsString(t))
            out = strdup(t->valuestring);
        cJSON_Delete(j);
    }
    fclose(f);
    return out;
}

/* The fixture texts of ids (NULL-terminated) joined by newlines. */
static char *
fixture_join(const char *file, const char *const *ids)
{
    struct strbuf sb = STRBUF_INIT;

    for (; *ids; ids++) {
        char *t = fixture_text(file, *ids);

        if (!t) {
            strbuf_release(&sb);
            return NULL;
        }
        if (sb.len)
            strbuf_addch(&sb, '\n');
        strbuf_add(&sb, t, strlen(t));
        free(t);
    }
    return strbuf_detach(&sb, NULL);
}

/* Replace the Han characters at code point indexes at[] (or the next Han
 * after each) by 鑫 (same length); returns how many were replaced. */
static int
replace_han(char *s, const int *at, int nat)
{
    size_t i = 0, len = strlen(s);
    int cpi = 0, k = 0;

    while (i < len && k < nat) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp, NULL);

        if (cpi >= at[k] && cp_is_han(cp) && n == 3 && cp != 0x946B) {
            memcpy(s + i, "\xe9\x91\xab", 3);
            k++;
        }
        i += n;
        cpi++;
    }
    return k;
}

/* Replace the word starting at the nth space-separated word by "zzzzz"
 * (the word must be at least 5 letters; the next such word is taken). */
static int
replace_word(char *s, int nth)
{
    int w = 0;
    char *p = s;

    while (*p) {
        char *e = p;

        while (*e && *e != ' ' && *e != '\n')
            e++;
        if (w >= nth && e - p >= 5) {
            memset(p, 'z', (size_t)(e - p));
            return 1;
        }
        w++;
        p = *e ? e + 1 : e;
    }
    return 0;
}

struct mh {
    const struct stage_ops *ops;
    void *conf;
    struct stage_ctx ctx;
    size_t ksz;
    int init_rc;
    struct nh_error err;
    size_t memory; /* for the join; 0: 64 MiB */
    long runs;     /* sorted runs the last mh_run wrote */
};

static void
mh_open(struct mh *m, const char *params)
{
    cJSON *p = cJSON_Parse(params ? params : "{}");

    memset(m, 0, sizeof(*m));
    m->ops = stage_find("dedup.minhash");
    cJSON_AddStringToObject(p, "op", "dedup.minhash");
    m->init_rc =
        m->ops->init(p, "stages[0] (dedup.minhash)", &m->conf, &m->err);
    cJSON_Delete(p);
    if (m->init_rc == 0) {
        m->ctx.tstate = m->ops->thread_init(m->conf);
        m->ksz = stage_key_size(m->ops, m->conf);
    }
}

static void
mh_close(struct mh *m)
{
    if (m->init_rc == 0) {
        m->ops->thread_free(m->ctx.tstate);
        m->ops->free(m->conf);
    }
}

/* The join's files for mh_run: unit 0 in a temporary directory. */
struct files {
    char dir[64];
};

static void
files_path(void *arg, size_t u, enum join_file kind, struct strbuf *sb)
{
    const struct files *f = arg;
    static const char *const names[] = {"keys", "docs", "decisions"};

    strbuf_reset(sb);
    strbuf_addf(sb, "%s/u%zu.%s", f->dir, u, names[kind]);
}

/* keep_of for texts under m, through the real global pass: keys and
 * documents files written as the driver writes them, pipeline/join.c on
 * them with m->memory bytes (0: 64 MiB), decisions read back. Texts get
 * ids "d0", "d1", ...; with quality, meta.quality = quality[i]. */
static int
mh_run_q(struct mh *m, const char *const *texts, const double *quality,
         size_t n, long long *keep_of, const char **reason)
{
    struct files f;
    struct strbuf keys = STRBUF_INIT, docs = STRBUF_INIT, path = STRBUF_INIT;
    struct join_job j = {0};
    struct nh_error err = {0};
    unsigned char *key = malloc(m->ksz + 1);
    size_t i;
    int rc = 0;
    FILE *fp;

    snprintf(f.dir, sizeof(f.dir), "/tmp/nh-test-join-XXXXXX");
    if (!key || !mkdtemp(f.dir)) {
        free(key);
        return NH_EIO;
    }
    for (i = 0; i < n && rc == 0; i++) {
        struct doc d;
        char id[24];
        uint64_t bytes = strlen(texts[i]), off = docs.len;
        uint32_t idlen;
        cJSON *o = cJSON_CreateObject();
        char *line;

        snprintf(id, sizeof(id), "d%zu", i);
        idlen = (uint32_t)strlen(id);
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "text", texts[i]);
        if (quality)
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "meta"),
                                    "quality", quality[i]);
        memset(&d, 0, sizeof(d));
        d.obj = o;
        d.id = id;
        d.source = "";
        strbuf_add(&d.text, texts[i], bytes);
        rc = m->ops->key(m->conf, &m->ctx, &d, key);
        strbuf_release(&d.text);
        strbuf_add(&keys, key, m->ksz);
        strbuf_add(&keys, &bytes, 8);
        strbuf_add(&keys, &off, 8);
        {
            uint64_t family = join_family(o, id);

            strbuf_add(&keys, &family, 8);
        }
        strbuf_add(&keys, &idlen, 4);
        strbuf_add(&keys, id, idlen);
        line = cJSON_PrintUnformatted(o);
        strbuf_addstr(&docs, line);
        strbuf_addch(&docs, '\n');
        free(line);
        cJSON_Delete(o);
    }
    for (i = 0; i < 2 && rc == 0; i++) {
        const struct strbuf *sb = i ? &docs : &keys;

        files_path(&f, 0, i ? JOIN_DOCS : JOIN_KEYS, &path);
        fp = fopen(path.buf, "wb");
        if (!fp || fwrite(sb->buf ? sb->buf : "", 1, sb->len, fp) != sb->len)
            rc = NH_EIO;
        if (fp)
            fclose(fp);
    }
    j.ops = m->ops;
    j.conf = m->conf;
    j.where = "test";
    j.text_field = "text";
    j.nunits = 1;
    j.path = files_path;
    j.arg = &f;
    j.memory = m->memory ? m->memory : (size_t)64 << 20;
    j.tmpdir = f.dir;
    j.unit_lo = 0;
    j.unit_hi = 1;
    if (rc == 0 && (rc = join_run(&j, &err)) < 0)
        fprintf(stderr, "join_run: %s\n", err.msg);
    if (rc == 0) {
        const cJSON *sr =
            cJSON_GetObjectItemCaseSensitive(j.st.extra, "sorted_runs");
        char line[256];

        m->runs = cJSON_IsNumber(sr) ? (long)sr->valuedouble : -1;
        files_path(&f, 0, JOIN_DECISIONS, &path);
        fp = fopen(path.buf, "r");
        for (i = 0; fp && i < n && fgets(line, sizeof(line), fp); i++) {
            cJSON *v = cJSON_Parse(line);
            const cJSON *of = cJSON_GetArrayItem(v, 1);

            keep_of[i] = -1;
            if (cJSON_IsString(of)) {
                keep_of[i] = atoll(of->valuestring + 1);
                *reason = cJSON_GetArrayItem(v, 0)->valuestring[0] == 'n'
                              ? "near_duplicate"
                              : "other";
            }
            cJSON_Delete(v);
        }
        if (!fp || i != n)
            rc = NH_ECORRUPT;
        if (fp)
            fclose(fp);
    }
    for (i = 0; i < 3; i++) {
        files_path(&f, 0, (enum join_file)i, &path);
        unlink(path.buf);
    }
    rmdir(f.dir);
    stats_release(&j.st);
    strbuf_release(&keys);
    strbuf_release(&docs);
    strbuf_release(&path);
    free(key);
    return rc;
}

static int
mh_run(struct mh *m, const char *const *texts, size_t n, long long *keep_of,
       const char **reason)
{
    return mh_run_q(m, texts, NULL, n, keep_of, reason);
}

/* Whether a and b land in one cluster under params. */
static int
clustered(const char *params, const char *a, const char *b)
{
    const char *t[2] = {a, b};
    long long keep_of[2] = {-2, -2};
    const char *reason = NULL;
    struct mh m;
    int rc;

    mh_open(&m, params);
    if (m.init_rc < 0)
        return m.init_rc;
    rc = mh_run(&m, t, 2, keep_of, &reason);
    mh_close(&m);
    if (rc < 0)
        return rc;
    return keep_of[0] == -1 && keep_of[1] == 0;
}

/* ---- parameter choice ------------------------------------------------------
 */

/* The weighted error of (b, r) at threshold t, by the midpoint rule with
 * many steps: written apart from the stage's Simpson rule on purpose. */
static double
brute_error(double t, int b, int r)
{
    const int steps = 4000;
    double fp = 0, fn = 0;
    int i;

    for (i = 0; i < steps; i++) {
        double s = t * (i + 0.5) / steps;
        double u = t + (1 - t) * (i + 0.5) / steps;

        fp += (1 - pow(1 - pow(s, r), b)) * t / steps;
        fn += pow(1 - pow(u, r), b) * (1 - t) / steps;
    }
    return 0.4 * fp + 0.6 * fn;
}

TEST(choose_params)
{
    static const double ts[] = {0.5, 0.7, 0.8, 0.9};
    size_t k;

    for (k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
        double t = ts[k], best = INFINITY, got;
        int b, r, bb = 0, br = 0;

        minhash_choose(t, 128, &b, &r);
        CHECK(b >= 1 && r >= 1 && b * r <= 128);
        for (int i = 1; i <= 128; i++)
            for (int j = 1; i * j <= 128; j++) {
                double e = brute_error(t, i, j);

                if (e < best) {
                    best = e;
                    bb = i;
                    br = j;
                }
            }
        got = brute_error(t, b, r);
        /* the same pair, or one the two rules cannot tell apart */
        CHECK((b == bb && r == br) || got - best < 1e-6);
        if (t == 0.8) {
            /* the S-curve crosses one half near the threshold */
            CHECK(b == 10 && r == 12);
            CHECK(minhash_prob(0.8, b, r) > 0.3);
            CHECK(minhash_prob(0.8, b, r) < 0.9);
            CHECK(minhash_prob(0.9, b, r) > 0.95);
            CHECK(minhash_prob(0.95, b, r) > 0.99);
            CHECK(minhash_prob(0.5, b, r) < 0.01);
            printf("  threshold 0.8, 128 perms: b=%d r=%d (P(0.8)=%.3f)\n", b,
                   r, minhash_prob(0.8, b, r));
        }
    }
}

TEST(params)
{
    struct mh m;

    mh_open(&m, NULL);
    CHECK(m.init_rc == 0);
    CHECK(m.ksz % 8 == 0 && m.ksz / 8 >= 1 && m.ksz / 8 <= 128);
    mh_close(&m);
    mh_open(&m, "{\"bands\": 16, \"rows\": 8}");
    CHECK(m.init_rc == 0 && m.ksz == 16 * 8);
    mh_close(&m);
    mh_open(&m, "{\"bands\": 20, \"rows\": 8}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'num_perm'"));
    mh_open(&m, "{\"bands\": 20}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'rows'"));
    mh_open(&m, "{\"bands\": 4, \"rows\": 4, \"threshold\": 0.7}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'threshold'"));
    mh_open(&m, "{\"threshold\": 1.5}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'threshold'"));
    mh_open(&m, "{\"ngram\": 0}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'ngram'"));
    mh_open(&m, "{\"verify\": 1}");
    CHECK(m.init_rc == NH_EINVAL && strstr(m.err.msg, "'verify'"));
    mh_open(&m, "{\"verify\": true, \"bands\": 4, \"rows\": 4, "
                "\"threshold\": 0.7}");
    CHECK(m.init_rc == 0);
    mh_close(&m);
    mh_open(&m, "{\"bogus\": 1}");
    CHECK(m.init_rc == NH_EINVAL);
}

/* ---- shingles and clusters -------------------------------------------------
 */

static const char *const zh_ids[] = {"zh-0", "zh-1", "zh-2", NULL};
static const char *const en_ids[] = {"en-0", "en-1", "en-2", NULL};

TEST(identical_and_unrelated)
{
    char *zh3 = fixture_text("zh-web.jsonl", "zh-3");
    char *zh4 = fixture_text("zh-web.jsonl", "zh-4");
    char *en0 = fixture_text("en-web.jsonl", "en-0");
    char *en1 = fixture_text("en-web.jsonl", "en-1");
    const char *t[6];
    long long keep_of[6];
    const char *reason = NULL;
    struct mh m;

    CHECK(zh3 && zh4 && en0 && en1);
    if (!zh3 || !zh4 || !en0 || !en1)
        goto out;
    t[0] = zh3, t[1] = en0, t[2] = zh4, t[3] = zh3, t[4] = en1, t[5] = en0;
    mh_open(&m, NULL);
    CHECK(mh_run(&m, t, 6, keep_of, &reason) == 0);
    CHECK(keep_of[0] == -1 && keep_of[1] == -1 && keep_of[2] == -1);
    CHECK(keep_of[3] == 0 && keep_of[4] == -1 && keep_of[5] == 1);
    CHECK_STR(reason, "near_duplicate");
    mh_close(&m);
    for (int seed = 1; seed <= 20; seed++) {
        char p[64];

        snprintf(p, sizeof(p), "{\"seed\": %d}", seed);
        CHECK(clustered(p, zh3, zh4) == 0);
        CHECK(clustered(p, en0, en1) == 0);
        CHECK(clustered(p, zh3, en0) == 0);
    }
out:
    free(zh3);
    free(zh4);
    free(en0);
    free(en1);
}

TEST(near_duplicates_zh)
{
    static const int at[] = {120, 380, 620, 860};
    char *a = fixture_join("zh-web.jsonl", zh_ids);
    char *b = a ? strdup(a) : NULL;
    int hits = 0, seed;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    /* ~950 characters, 4 replaced: Jaccard (946-20)/(946+20) = 0.96 */
    CHECK(replace_han(b, at, 4) == 4);
    CHECK(strcmp(a, b) != 0);
    for (seed = 1; seed <= 100; seed++) {
        char p[64];

        snprintf(p, sizeof(p), "{\"seed\": %d}", seed);
        hits += clustered(p, a, b) == 1;
    }
    printf("  zh near duplicates clustered for %d of 100 seeds\n", hits);
    CHECK(hits >= 95);
out:
    free(a);
    free(b);
}

TEST(near_duplicates_en)
{
    char *a = fixture_join("en-web.jsonl", en_ids);
    char *b = a ? strdup(a) : NULL;
    int hits = 0, seed;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    /* ~314 words, 1 replaced: Jaccard (310-5)/(310+5) = 0.97 */
    CHECK(replace_word(b, 150) == 1);
    for (seed = 1; seed <= 100; seed++) {
        char p[64];

        snprintf(p, sizeof(p), "{\"seed\": %d}", seed);
        hits += clustered(p, a, b) == 1;
    }
    printf("  en near duplicates clustered for %d of 100 seeds\n", hits);
    CHECK(hits >= 95);
out:
    free(a);
    free(b);
}

TEST(shingle_kinds)
{
    uint64_t s1[128], s2[128];
    struct mh m;
    int same = 0;

    CHECK(minhash_is_cjk_text("数据清洗是训练大语言模型之前的一步",
                              strlen("数据清洗是训练大语言模型之前的一步")) ==
          1);
    CHECK(minhash_is_cjk_text("新款iPhone15手机", strlen("新款iPhone15手机")) ==
          1);
    CHECK(minhash_is_cjk_text("The quick brown fox 跳",
                              strlen("The quick brown fox 跳")) == 0);
    mh_open(&m, NULL);
    /* words: case and punctuation do not matter */
    CHECK(minhash_signature(m.conf, m.ctx.tstate,
                            "The quick, brown fox jumps over the lazy dog.", 45,
                            s1) == 0);
    CHECK(minhash_signature(m.conf, m.ctx.tstate,
                            "the QUICK brown fox -- jumps over the lazy dog",
                            46, s2) == 0);
    CHECK(!memcmp(s1, s2, sizeof(s1)));
    /* characters: white space does not matter, punctuation does */
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "数据清洗 是训练\n大语言模型",
                            strlen("数据清洗 是训练\n大语言模型"), s1) == 0);
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "数据清洗是训练大语言模型",
                            strlen("数据清洗是训练大语言模型"), s2) == 0);
    CHECK(!memcmp(s1, s2, sizeof(s1)));
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "数据清洗，是训练大语言模型",
                            strlen("数据清洗，是训练大语言模型"), s2) == 0);
    CHECK(memcmp(s1, s2, sizeof(s1)) != 0);
    /* Chinese words are characters: one changed character shares most */
    CHECK(minhash_signature(m.conf, m.ctx.tstate,
                            "数据清洗是训练大语言模型之前最耗时的一步原始网页",
                            strlen("数据清洗是训练大语言模型之前最耗时的一步原"
                                   "始网页"),
                            s1) == 0);
    CHECK(minhash_signature(m.conf, m.ctx.tstate,
                            "数据清洗是训练大语言模型之前最费时的一步原始网页",
                            strlen("数据清洗是训练大语言模型之前最费时的一步原"
                                   "始网页"),
                            s2) == 0);
    for (int i = 0; i < 128; i++)
        same += s1[i] == s2[i];
    CHECK(same > 40 && same < 128); /* Jaccard 15/25 = 0.6 */
    /* shorter than n: one shingle of the whole text, still deterministic */
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "点击这里", 12, s1) == 0);
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "点击这里", 12, s2) == 0);
    CHECK(!memcmp(s1, s2, sizeof(s1)));
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "Buy now!", 8, s2) == 0);
    CHECK(memcmp(s1, s2, sizeof(s1)) != 0);
    CHECK(minhash_signature(m.conf, m.ctx.tstate, "", 0, s2) == 0);
    mh_close(&m);
}

TEST(deterministic_per_seed)
{
    char *a = fixture_join("zh-web.jsonl", zh_ids);
    uint64_t s1[64], s2[64], s3[64];
    struct mh m1, m2, m3;

    CHECK(a != NULL);
    if (!a)
        return;
    mh_open(&m1, "{\"seed\": 7, \"num_perm\": 64}");
    mh_open(&m2, "{\"seed\": 7, \"num_perm\": 64}");
    mh_open(&m3, "{\"seed\": 8, \"num_perm\": 64}");
    CHECK(minhash_signature(m1.conf, m1.ctx.tstate, a, strlen(a), s1) == 0);
    CHECK(minhash_signature(m2.conf, m2.ctx.tstate, a, strlen(a), s2) == 0);
    CHECK(minhash_signature(m3.conf, m3.ctx.tstate, a, strlen(a), s3) == 0);
    CHECK(!memcmp(s1, s2, sizeof(s1)));
    CHECK(memcmp(s1, s3, sizeof(s1)) != 0);
    mh_close(&m1);
    mh_close(&m2);
    mh_close(&m3);
    free(a);
}

TEST(clusters_keep_first)
{
    /* each cluster keeps its first member, in input order */
    static const char *const t[] = {
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
        "one two three four five six seven eight nine ten",
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
        "one two three four five six seven eight nine ten",
        "unrelated words here for the last one in the list ok",
    };
    long long keep_of[5];
    const char *reason;
    struct mh m;

    mh_open(&m, "{\"bands\": 1, \"rows\": 1}");
    CHECK(mh_run(&m, t, 5, keep_of, &reason) == 0);
    CHECK(keep_of[0] == -1 && keep_of[1] == -1 && keep_of[2] == 0);
    CHECK(keep_of[3] == 1 && keep_of[4] == -1);
    mh_close(&m);
}

/* ---- benchmark -------------------------------------------------------------
 */

static int
bench(double mb)
{
    static const char *const ids[] = {"zh-0", "zh-1", "zh-2", "zh-3",
                                      "zh-4", "zh-5", NULL};
    char *base = fixture_join("zh-web.jsonl", ids);
    struct strbuf doc = STRBUF_INIT;
    unsigned char key[1024 * 8];
    double total = 0, secs = 0;
    struct mh m;
    int i = 0;

    if (!base)
        return 1;
    mh_open(&m, NULL);
    while (total < mb * 1e6) {
        struct doc d;
        struct timespec t0, t1;
        int at[3] = {i % 300, 400 + i % 300, 800 + i % 300};

        strbuf_reset(&doc);
        strbuf_add(&doc, base, strlen(base));
        replace_han(doc.buf, at, 3);
        memset(&d, 0, sizeof(d));
        d.text = doc;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (m.ops->key(m.conf, &m.ctx, &d, key) < 0)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs += (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        total += (double)doc.len;
        i++;
    }
    printf("dedup.minhash key(): %.1f MB of Chinese text (%d docs of %zu "
           "bytes) in %.3f s: %.1f MB/s on one core\n",
           total / 1e6, i, strlen(base), secs, total / 1e6 / secs);
    mh_close(&m);
    strbuf_release(&doc);
    free(base);
    return 0;
}

TEST(keep_quality)
{
    static const char *const t[] = {
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
        "one two three four five six seven eight nine ten",
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
    };
    static const double q[] = {0.1, 0.9, 0.3, 0.9};
    long long keep_of[4];
    const char *reason;
    struct mh m;

    /* the best quality stays; of two equal ones, the first */
    mh_open(&m, "{\"keep\": \"quality\"}");
    CHECK(mh_run_q(&m, t, q, 4, keep_of, &reason) == 0);
    CHECK(keep_of[0] == 1 && keep_of[1] == -1 && keep_of[2] == -1);
    CHECK(keep_of[3] == 1);
    mh_close(&m);
}

TEST(verify_exact_jaccard)
{
    /* word 1-grams: 10 and 10 words sharing 6, J = 6/14 */
    static const char *const t[] = {
        "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10",
        "w1 w2 w3 w4 w5 w6 x7 x8 x9 x10",
    };
    long long keep_of[2];
    const char *reason;
    double sim = -1;
    struct mh m;

    mh_open(&m, "{\"ngram\": 1}");
    CHECK(minhash_jaccard(m.conf, m.ctx.tstate, t[0], strlen(t[0]), t[1],
                          strlen(t[1]), &sim) == 0);
    CHECK(fabs(sim - 6.0 / 14) < 1e-12);
    CHECK(minhash_jaccard(m.conf, m.ctx.tstate, t[0], strlen(t[0]), t[0],
                          strlen(t[0]), &sim) == 0 &&
          sim == 1.0);
    mh_close(&m);
    /* 40 bands of one row make the pair a candidate (1 - 0.57^40) */
    mh_open(&m, "{\"ngram\": 1, \"bands\": 40, \"rows\": 1}");
    CHECK(mh_run(&m, t, 2, keep_of, &reason) == 0);
    CHECK(keep_of[1] == 0);
    mh_close(&m);
    mh_open(&m, "{\"ngram\": 1, \"bands\": 40, \"rows\": 1, \"verify\": true, "
                "\"threshold\": 0.5}");
    CHECK(mh_run(&m, t, 2, keep_of, &reason) == 0);
    CHECK(keep_of[0] == -1 && keep_of[1] == -1);
    mh_close(&m);
    mh_open(&m, "{\"ngram\": 1, \"bands\": 40, \"rows\": 1, \"verify\": true, "
                "\"threshold\": 0.4}");
    CHECK(mh_run(&m, t, 2, keep_of, &reason) == 0);
    CHECK(keep_of[1] == 0);
    mh_close(&m);
}

TEST(sorted_runs_same_result)
{
    /* 600 texts from 40 sentences with small changes: the decisions are
     * the same when the band keys go through sorted runs on disk */
    enum { N = 600 };
    static char buf[N][160];
    const char *t[N];
    long long a[N], b[N];
    const char *reason;
    struct mh m;
    unsigned x = 7;
    size_t i, dropped = 0;

    for (i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        snprintf(buf[i], sizeof(buf[i]),
                 "sentence %u about the corpus and its many near copies "
                 "with a few words more %s",
                 (x >> 8) % 40, (x >> 20) % 3 ? "here" : "there");
        t[i] = buf[i];
    }
    mh_open(&m, "{\"ngram\": 3}");
    CHECK(mh_run(&m, t, N, a, &reason) == 0);
    CHECK(m.runs == 0);
    m.memory = 1; /* the smallest buffer: 64 entries */
    CHECK(mh_run(&m, t, N, b, &reason) == 0);
    CHECK(m.runs >= (long)(N / 64) * (long)(m.ksz / 8));
    for (i = 0; i < N; i++) {
        CHECK(a[i] == b[i]);
        dropped += a[i] >= 0;
    }
    CHECK(dropped > N / 2 && dropped < N);
    mh_close(&m);
}

int
main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "bench"))
        return bench(argc > 2 ? atof(argv[2]) : 200);
    RUN(choose_params);
    RUN(params);
    RUN(identical_and_unrelated);
    RUN(near_duplicates_zh);
    RUN(near_duplicates_en);
    RUN(shingle_kinds);
    RUN(deterministic_per_seed);
    RUN(clusters_keep_first);
    RUN(keep_quality);
    RUN(verify_exact_jaccard);
    RUN(sorted_runs_same_result);
    return test_summary();
}
