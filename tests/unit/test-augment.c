/* test-augment.c - unit tests for the augmentation operators
 *
 * Each case parses an operator file, runs augment_doc() on Chinese and
 * English texts and checks the records: exact results where the operator
 * is exact (width, OpenCC, windows, a two-sentence swap), invariants
 * where it is random (valid UTF-8, provenance on every record, masked
 * spans that give the original back, the same output for the same seed).
 */
#include "augment.h"
#include "utf8.h"

#include "test.h"

#include <stdlib.h>

#define MAXREC 64

struct got {
    cJSON *rec[MAXREC];
    int n;
};

static int
collect(void *arg, cJSON *rec)
{
    struct got *g = arg;

    if (g->n == MAXREC) {
        cJSON_Delete(rec);
        return -1;
    }
    g->rec[g->n++] = rec;
    return 0;
}

static void
got_release(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        cJSON_Delete(g->rec[i]);
    g->n = 0;
}

static const char *
text_of(const struct got *g, int i)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(g->rec[i], "text");

    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static const cJSON *
meta_of(const struct got *g, int i, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(g->rec[i], "meta"), key);
}

/* Run ops on one document; the number of records, or a negative error. */
static int
run(const char *ops, uint64_t seed, double ratio, const char *id,
    const char *text, struct got *g)
{
    struct augment *a = NULL;
    struct nh_error err = {0};
    cJSON *orig = cJSON_CreateObject();
    int rc;

    cJSON_AddStringToObject(orig, "id", id);
    cJSON_AddStringToObject(orig, "text", text);
    g->n = 0;
    rc = augment_parse(&a, ops, strlen(ops), "ops.json", &err);
    if (rc == 0)
        rc = augment_doc(a, seed, ratio, orig, id, "", text, strlen(text),
                         collect, g, &err);
    augment_free(a);
    cJSON_Delete(orig);
    return rc;
}

static const char *
parse_error(const char *ops)
{
    static char msg[600];
    struct augment *a = NULL;
    struct nh_error err = {0};

    if (augment_parse(&a, ops, strlen(ops), "ops.json", &err) == 0) {
        augment_free(a);
        return "(ok)";
    }
    snprintf(msg, sizeof(msg), "%s", err.msg);
    return msg;
}

static const char zh[] = "今天天气很好。我们去公园散步吧！你觉得怎么样？\n"
                         "自己已经知道了，大人和天空。";
static const char mixed[] =
    "e\xcc\x81t\xc3\xa9 caf\xc3\xa9 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91"
    "\xa9 \xe6\xbc\xa2\xe5\xad\x97\xe3\x80\x82 Hello, world! \xe4\xbd\xa0"
    "\xe5\xa5\xbd\xef\xbc\x9f";

TEST(punct_width_exact)
{
    struct got g;

    CHECK(run("{\"ops\":[{\"op\":\"punct_width\",\"to\":\"full\"}]}", 1, 1, "a",
              "好的.他说:(是的)!", &g) == 1);
    CHECK_STR(text_of(&g, 0), "好的。他说：（是的）！");
    got_release(&g);
    CHECK(run("{\"ops\":[{\"op\":\"punct_width\",\"to\":\"half\"}]}", 1, 1, "a",
              "好的。他说：（是的）！", &g) == 1);
    CHECK_STR(text_of(&g, 0), "好的.他说:(是的)!");
    got_release(&g);
}

TEST(opencc_s2t)
{
    struct got g;

    CHECK(run("{\"ops\":[{\"op\":\"opencc\",\"config\":\"s2t.json\"}]}", 1, 1,
              "a", "汉字简体", &g) == 1);
    CHECK_STR(text_of(&g, 0), "漢字簡體");
    CHECK_STR(meta_of(&g, 0, "augment_op")->valuestring, "opencc");
    got_release(&g);
}

TEST(window_chunks)
{
    struct got g;

    /* 22 code points, windows of 16 every 12: [0,16) [12,22) */
    CHECK(run("{\"ops\":[{\"op\":\"window\",\"size\":16,\"stride\":12,"
              "\"min_chars\":1}]}",
              1, 1, "w", "一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑",
              &g) == 2);
    CHECK_STR(text_of(&g, 0), "一二三四五六七八九十甲乙丙丁戊己");
    CHECK_STR(text_of(&g, 1), "丙丁戊己庚辛壬癸子丑");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(g.rec[1], "id")->valuestring,
              "w#a0.c1");
    got_release(&g);
    /* ratio 3: still one set of windows */
    CHECK(run("{\"ops\":[{\"op\":\"window\",\"size\":16,\"min_chars\":1}]}", 1,
              3, "w", "一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑", &g) == 2);
    got_release(&g);
}

TEST(sentence_swap_two)
{
    struct got g;

    CHECK(run("{\"ops\":[{\"op\":\"sentence\",\"mode\":\"swap\"}]}", 1, 1, "s",
              "第一句。第二句！", &g) == 1);
    CHECK_STR(text_of(&g, 0), "第二句！第一句。");
    got_release(&g);
    CHECK(run("{\"ops\":[{\"op\":\"sentence\",\"mode\":\"swap\"}]}", 1, 1, "s",
              "One. Two? ", &g) == 1);
    CHECK_STR(text_of(&g, 0), "Two? One. ");
    got_release(&g);
}

TEST(sentence_drop_keeps_one)
{
    struct got g;

    for (uint64_t seed = 0; seed < 50; seed++) {
        CHECK(run("{\"ops\":[{\"op\":\"sentence\",\"rate\":1}]}", seed, 1, "s",
                  zh, &g) == 1);
        CHECK(g.n == 1 && text_of(&g, 0)[0] != 0);
        got_release(&g);
    }
}

/* Put the masked spans back: the original text. */
static void
unmask(const char *masked, const cJSON *spans, const char *mask, char *out,
       size_t cap)
{
    const cJSON *s = spans ? spans->child : NULL;
    size_t o = 0, ml = strlen(mask);

    while (*masked && o + 8 < cap) {
        if (s && !strncmp(masked, mask, ml)) {
            const char *t = cJSON_GetArrayItem(s, 2)->valuestring;

            o += (size_t)snprintf(out + o, cap - o, "%s", t);
            masked += ml;
            s = s->next;
        } else {
            out[o++] = *masked++;
        }
    }
    out[o] = 0;
}

TEST(span_mask_records_spans)
{
    char back[1024];
    int masked = 0;

    for (uint64_t seed = 0; seed < 40; seed++) {
        struct got g;

        CHECK(run("{\"ops\":[{\"op\":\"span_mask\",\"rate\":0.3,"
                  "\"mask\":\"[M]\"}]}",
                  seed, 1, "m", mixed, &g) >= 0);
        if (g.n == 1) {
            unmask(text_of(&g, 0), meta_of(&g, 0, "masked_spans"), "[M]", back,
                   sizeof(back));
            CHECK_STR(back, mixed);
            masked++;
        }
        got_release(&g);
    }
    CHECK(masked > 30);
}

TEST(valid_utf8_and_provenance)
{
    static const char ops[] =
        "{\"ops\":[{\"op\":\"char_noise\",\"rate\":0.5},"
        "{\"op\":\"sentence\",\"mode\":\"shuffle\"},{\"op\":\"span_mask\"},"
        "{\"op\":\"opencc\"},{\"op\":\"punct_width\"},"
        "{\"op\":\"whitespace\",\"rate\":0.5},{\"op\":\"window\",\"size\":16,"
        "\"min_chars\":1},{\"op\":\"recombine\"}]}";
    int total = 0;

    for (uint64_t seed = 0; seed < 60; seed++) {
        struct got g;
        const char *txt = seed & 1 ? zh : mixed;

        CHECK(run(ops, seed, 4, "doc-1", txt, &g) >= 0);
        for (int i = 0; i < g.n; i++) {
            const char *t = text_of(&g, i);
            const cJSON *p = meta_of(&g, i, "augment_params");

            CHECK(t && utf8_valid(t, strlen(t)));
            CHECK_STR(meta_of(&g, i, "augmented_from")->valuestring, "doc-1");
            CHECK(cJSON_IsString(meta_of(&g, i, "augment_op")));
            CHECK(cJSON_IsObject(p));
            CHECK(meta_of(&g, i, "augment_seed")->valuedouble == (double)seed);
            CHECK(strcmp(t, txt));
        }
        total += g.n;
        got_release(&g);
    }
    CHECK(total > 100);
}

TEST(same_seed_same_output)
{
    static const char ops[] = "{\"ops\":[{\"op\":\"char_noise\",\"rate\":0.3},"
                              "{\"op\":\"whitespace\",\"rate\":0.3}]}";
    struct got a, b;
    int differ = 0;

    for (uint64_t seed = 0; seed < 10; seed++) {
        CHECK(run(ops, seed, 2.5, "x", zh, &a) >= 0);
        CHECK(run(ops, seed, 2.5, "x", zh, &b) >= 0);
        CHECK(a.n == b.n);
        for (int i = 0; i < a.n && i < b.n; i++)
            CHECK_STR(text_of(&a, i), text_of(&b, i));
        got_release(&b);
        CHECK(run(ops, seed + 100, 2.5, "x", zh, &b) >= 0);
        differ += a.n && b.n && strcmp(text_of(&a, 0), text_of(&b, 0));
        got_release(&a);
        got_release(&b);
    }
    CHECK(differ >= 8);
}

TEST(char_noise_similar_cjk)
{
    struct got g;

    /* only "similar" edits at rate 1: every character of a group changes */
    CHECK(run("{\"ops\":[{\"op\":\"char_noise\",\"rate\":1,\"insert\":0,"
              "\"delete\":0,\"swap\":0}]}",
              3, 1, "c", "己末土", &g) == 1);
    CHECK(strlen(text_of(&g, 0)) == 9);
    CHECK(strncmp(text_of(&g, 0), "己", 3) != 0);
    CHECK(!strstr(text_of(&g, 0), "末") && !strstr(text_of(&g, 0), "土"));
    got_release(&g);
}

TEST(recombine_same_source)
{
    struct augment *a = NULL;
    struct nh_error err = {0};
    static const char ops[] = "{\"ops\":[{\"op\":\"recombine\"}]}";
    cJSON *o = cJSON_CreateObject();
    struct got g = {0};

    CHECK(augment_parse(&a, ops, strlen(ops), "ops.json", &err) == 0);
    /* the first of a source has no partner */
    CHECK(augment_doc(a, 1, 1, o, "p1", "web", "甲段。\n乙段。", 19, collect,
                      &g, &err) == 0);
    CHECK(augment_doc(a, 1, 1, o, "q1", "news", "子段。\n丑段。", 19, collect,
                      &g, &err) == 0);
    CHECK(augment_doc(a, 1, 1, o, "p2", "web", "丙段。\n丁段。", 19, collect,
                      &g, &err) == 1);
    CHECK_STR(text_of(&g, 0), "丙段。\n乙段。");
    CHECK_STR(meta_of(&g, 0, "recombined_with")->valuestring, "p1");
    got_release(&g);
    augment_free(a);
    cJSON_Delete(o);
}

TEST(bad_operator_files)
{
    CHECK_STR(parse_error("{\"ops\":[{\"op\":\"nope\"}]}"),
              "ops.json: ops[0] (nope): unknown operator 'nope'");
    CHECK_STR(parse_error("{\"ops\":[{\"op\":\"span_mask\",\"rate\":7}]}"),
              "ops.json: ops[0] (span_mask): 'rate' must be between 0 and 1 "
              "(got 7)");
    CHECK(strstr(parse_error("{\"ops\":[{\"op\":\"window\",\"sise\":3}]}"),
                 "sise"));
    CHECK_STR(parse_error("{\"ops\":[]}"),
              "ops.json: 'ops' must be an array of 1 to 64 operators");
    CHECK_STR(parse_error("[1]"), "ops.json: not a JSON object");
    CHECK(strstr(parse_error("{\"ops\":[{\"op\":\"opencc\",\"config\":"
                             "\"../x.json\"}]}"),
                 "'config'"));
}

int
main(void)
{
    RUN(punct_width_exact);
    RUN(opencc_s2t);
    RUN(window_chunks);
    RUN(sentence_swap_two);
    RUN(sentence_drop_keeps_one);
    RUN(span_mask_records_spans);
    RUN(valid_utf8_and_provenance);
    RUN(same_seed_same_output);
    RUN(char_noise_similar_cjk);
    RUN(recombine_same_source);
    RUN(bad_operator_files);
    return test_summary();
}
