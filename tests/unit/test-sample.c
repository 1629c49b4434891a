/* test-sample.c - unit tests for server/sample.c (bottom-k sampling)
 *
 * Shards are written as real files into an object store in a mkdtemp
 * directory (tmpdir.h) and drawn from with sample_draw(). The expected
 * sample is worked out by brute force: every line's key computed the way
 * sample.h describes (XXH3-64 of the line seeded with the seed, then of
 * the ordinal seeded with that), all keys sorted, the n smallest taken
 * (per stratum for a stratified draw). Also: the same seed gives the same
 * sample, proportional allocation, Cochran's n, audit filters, and lines
 * that span the 1 MiB read block.
 */
#include "sample.h"

#include "hash.h"
#include "objstore.h"
#include "rstats.h"
#include "strbuf.h"

#include "test.h"
#include "tmpdir.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 2000

struct line {
    uint64_t key, offset, length;
    uint32_t shard;
    int stratum; /* index into the test's names, -1 */
};

static struct line lines[MAXL];
static size_t nlines;
static uint64_t ordinal;

/* Write text as a shard object; record its lines' keys for seed. */
static int
put_shard(const char *text, uint32_t shard, uint64_t seed, char hash[33])
{
    char path[256];
    struct nh_error err = {0};
    uint64_t bytes, off = 0;
    size_t len = strlen(text);
    FILE *f;

    path_join(path, sizeof(path), tmp, "in.jsonl");
    f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f))
        return -1;
    if (objstore_put_file(tmp, path, hash, &bytes, &err) < 0)
        return -1;
    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        uint64_t l = nl ? (uint64_t)(nl - (text + off)) : len - off;

        if (l > 0 && nlines < MAXL) {
            struct line *e = &lines[nlines++];
            const char *src = strstr(text + off, "\"source\":\"");

            e->key = nh_hash64_seed(text + off, l, seed);
            e->key = nh_hash64_seed(&ordinal, sizeof(ordinal), e->key);
            ordinal++;
            e->offset = off;
            e->length = l;
            e->shard = shard;
            e->stratum = src && src < text + off + l ? src[10] - 'a' : -1;
        }
        off += l + 1;
    }
    return 0;
}

static int
cmp_line(const void *a, const void *b)
{
    const struct line *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

static void
reset(void)
{
    nlines = 0;
    ordinal = 0;
}

static void
gen(struct strbuf *sb, int from, int to, bool strata)
{
    char buf[160];

    strbuf_reset(sb);
    for (int i = from; i < to; i++) {
        int n = strata ? snprintf(buf, sizeof(buf),
                                  "{\"id\":\"d%d\",\"source\":\"%c\","
                                  "\"text\":\"t %d\"}\n",
                                  i,
                                  i % 10 < 5   ? 'a'
                                  : i % 10 < 8 ? 'b'
                                               : 'c',
                                  i)
                       : snprintf(buf, sizeof(buf),
                                  "{\"id\":\"d%d\",\"text\":\"t %d\"}\n", i, i);

        if (strbuf_add(sb, buf, (size_t)n) < 0)
            abort();
    }
}

static bool
same_items(const struct sample *a, const struct sample *b)
{
    if (a->nitems != b->nitems)
        return false;
    for (size_t i = 0; i < a->nitems; i++)
        if (a->items[i].key != b->items[i].key ||
            a->items[i].offset != b->items[i].offset ||
            a->items[i].shard != b->items[i].shard)
            return false;
    return true;
}

TEST(bottom_k_vs_brute_force)
{
    struct strbuf sb;
    char h[2][33];
    const char *objs[2] = {h[0], h[1]};
    struct sample_spec spec = {.seed = 5, .n = 37, .confidence = 0.95};
    struct sample s, s2, s3;
    struct nh_error err = {0};

    strbuf_init(&sb, 0);
    reset();
    gen(&sb, 0, 300, false);
    CHECK(put_shard(strbuf_str(&sb), 0, 5, h[0]) == 0);
    gen(&sb, 300, 500, false);
    CHECK(put_shard(strbuf_str(&sb), 1, 5, h[1]) == 0);
    CHECK(sample_draw(tmp, objs, 2, &spec, &s, &err) == 0);
    CHECK(s.population == 500 && s.nitems == 37 && s.nstrata == 1);
    qsort(lines, nlines, sizeof(lines[0]), cmp_line);
    for (size_t i = 0; i < s.nitems && i < 37; i++) {
        CHECK(s.items[i].key == lines[i].key);
        CHECK(s.items[i].shard == lines[i].shard);
        CHECK(s.items[i].offset == lines[i].offset);
        CHECK(s.items[i].length == lines[i].length);
        CHECK(s.items[i].doc_id && s.items[i].doc_id[0] == 'd');
        CHECK(s.items[i].stratum == NULL);
    }
    /* reproducible; another seed gives another sample */
    CHECK(sample_draw(tmp, objs, 2, &spec, &s2, &err) == 0);
    CHECK(same_items(&s, &s2));
    spec.seed = 6;
    CHECK(sample_draw(tmp, objs, 2, &spec, &s3, &err) == 0);
    CHECK(s3.nitems == 37 && !same_items(&s, &s3));
    sample_release(&s);
    sample_release(&s2);
    sample_release(&s3);
    /* more than there is: all of it */
    spec.n = 900;
    CHECK(sample_draw(tmp, objs, 2, &spec, &s, &err) == 0);
    CHECK(s.nitems == 500);
    sample_release(&s);
    /* Cochran's n with the finite population correction */
    spec.n = 0;
    spec.margin = 0.05;
    CHECK(sample_draw(tmp, objs, 2, &spec, &s, &err) == 0);
    CHECK(s.nitems == rstats_cochran(0.05, 0.95, 0.5, 500));
    CHECK(s.nitems == 218); /* ceil(384.146 / (1 + 383.146 / 500)) */
    sample_release(&s);
    strbuf_release(&sb);
}

TEST(strata_proportional)
{
    struct strbuf sb;
    char h[33];
    const char *objs[1] = {h};
    struct sample_spec spec = {
        .seed = 9, .n = 10, .confidence = 0.95, .strata = "source"};
    struct sample s;
    struct nh_error err = {0};
    size_t want[3] = {5, 3, 2}, got[3] = {0, 0, 0};

    strbuf_init(&sb, 0);
    reset();
    gen(&sb, 0, 100, true);
    /* not JSON: in no stratum, not in the population (but it has an
     * ordinal) */
    CHECK(strbuf_add(&sb, "not json\n", 9) == 0);
    CHECK(put_shard(strbuf_str(&sb), 0, 9, h) == 0);
    CHECK(sample_draw(tmp, objs, 1, &spec, &s, &err) == 0);
    CHECK(s.population == 100 && s.nstrata == 3 && s.nitems == 10);
    for (size_t k = 0; k < s.nstrata; k++) {
        int c = s.strata[k].name[0] - 'a';

        CHECK(c >= 0 && c < 3 && s.strata[k].name[1] == '\0');
        if (c < 0 || c > 2)
            continue;
        CHECK(s.strata[k].N == (uint64_t)(c == 0 ? 50 : c == 1 ? 30 : 20));
        CHECK(s.strata[k].n == want[c]);
    }
    qsort(lines, nlines, sizeof(lines[0]), cmp_line);
    for (size_t i = 0; i < s.nitems; i++) {
        const struct sample_item *it = &s.items[i];
        int c = it->stratum ? it->stratum[0] - 'a' : -1;
        size_t rank = 0;

        CHECK(c >= 0 && c < 3);
        if (c < 0 || c > 2)
            continue;
        got[c]++;
        if (i > 0)
            CHECK(s.items[i - 1].key < it->key); /* key order */
        /* among the smallest want[c] keys of its stratum */
        for (size_t j = 0; j < nlines && lines[j].key != it->key; j++)
            rank += lines[j].stratum == c;
        CHECK(rank < want[c]);
    }
    CHECK(got[0] == 5 && got[1] == 3 && got[2] == 2);
    sample_release(&s);
    strbuf_release(&sb);
}

TEST(audit_filter)
{
    static const char text[] =
        "{\"id\":\"a\",\"removed_by\":\"dedup.exact\",\"reason\":\"dup\","
        "\"duplicate_of\":\"k\"}\n"
        "{\"id\":\"b\",\"removed_by\":\"filter.rules\",\"reason\":\"short\"}\n"
        "{\"id\":\"c\",\"removed_by\":\"dedup.exact\",\"reason\":\"dup\","
        "\"duplicate_of\":\"k\"}\n"
        "{\"id\":\"d\",\"removed_by\":\"filter.rules\",\"reason\":\"long\"}\n";
    char h[33];
    const char *objs[1] = {h};
    struct sample_spec spec = {
        .seed = 1, .n = 10, .confidence = 0.95, .removed_by = "dedup.exact"};
    struct sample s;
    struct nh_error err = {0};

    reset();
    CHECK(put_shard(text, 0, 1, h) == 0);
    CHECK(sample_draw(tmp, objs, 1, &spec, &s, &err) == 0);
    CHECK(s.population == 2 && s.nitems == 2);
    for (size_t i = 0; i < s.nitems; i++) {
        CHECK(s.items[i].removed_by &&
              !strcmp(s.items[i].removed_by, "dedup.exact"));
        CHECK(s.items[i].duplicate_of && !strcmp(s.items[i].duplicate_of, "k"));
    }
    sample_release(&s);
    spec.removed_by = "filter.rules";
    spec.reason = "long";
    CHECK(sample_draw(tmp, objs, 1, &spec, &s, &err) == 0);
    CHECK(s.population == 1 && s.nitems == 1);
    CHECK(s.nitems == 1 && !strcmp(s.items[0].doc_id, "d"));
    CHECK(s.nitems == 1 && s.items[0].reason &&
          !strcmp(s.items[0].reason, "long"));
    sample_release(&s);
}

TEST(lines_across_blocks)
{
    /* line 0 ends 10 bytes before 1 MiB, line 1 spans the boundary, line
     * 2 is 2.5 MiB (three blocks), line 3 is short and last, with no
     * newline at the end */
    size_t lens[4] = {(1u << 20) - 11, 100, (5u << 19), 40};
    struct strbuf sb;
    char h[33];
    const char *objs[1] = {h};
    struct sample_spec spec = {.seed = 3, .n = 4, .confidence = 0.95};
    struct sample s;
    struct nh_error err = {0};
    uint64_t offs[4], off = 0;

    strbuf_init(&sb, 0);
    reset();
    for (int i = 0; i < 4; i++) {
        char head[32];
        int n = snprintf(head, sizeof(head), "{\"id\":\"L%d\",\"text\":\"", i);

        offs[i] = off;
        CHECK(strbuf_add(&sb, head, (size_t)n) == 0);
        for (size_t j = (size_t)n + 2; j < lens[i]; j++)
            CHECK(strbuf_add(&sb, "x", 1) == 0);
        CHECK(strbuf_add(&sb, "\"}", 2) == 0);
        if (i < 3)
            CHECK(strbuf_add(&sb, "\n", 1) == 0);
        off += lens[i] + 1;
    }
    CHECK(offs[1] < (1u << 20) && offs[1] + lens[1] > (1u << 20));
    CHECK(put_shard(strbuf_str(&sb), 0, 3, h) == 0);
    CHECK(nlines == 4);
    CHECK(sample_draw(tmp, objs, 1, &spec, &s, &err) == 0);
    CHECK(s.population == 4 && s.nitems == 4);
    for (size_t i = 0; i < s.nitems; i++) {
        const struct sample_item *it = &s.items[i];
        int k = it->doc_id ? it->doc_id[1] - '0' : -1;
        char *line = NULL;

        CHECK(k >= 0 && k < 4);
        if (k < 0 || k > 3)
            continue;
        CHECK(it->offset == offs[k] && it->length == lens[k]);
        CHECK(it->key == lines[k].key);
        CHECK(sample_read_line(tmp, h, it->offset, it->length, &line, &err) ==
              0);
        CHECK(line && !memcmp(line, strbuf_str(&sb) + offs[k], lens[k]) &&
              line[lens[k]] == '\0');
        free(line);
    }
    sample_release(&s);
    strbuf_release(&sb);
}

int
main(void)
{
    if (tmp_begin("sample") < 0)
        return 1;
    RUN(bottom_k_vs_brute_force);
    RUN(strata_proportional);
    RUN(audit_filter);
    RUN(lines_across_blocks);
    tmp_end();
    return test_summary();
}
