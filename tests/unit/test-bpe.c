/* test-bpe.c - unit tests for trainer/bpe.c, the byte-level BPE tokenizer
 *
 * Pre-tokenization rules, a hand-checked training run, round trips of
 * real and random bytes, deterministic merges, special tokens, and the
 * tokenizer file (save, load, corrupt files refused). Real text comes
 * from tests/fixtures (the tests run from the repository root).
 */
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "hash.h"
#include "strbuf.h"
#include "test.h"
#include "tmpdir.h"

static struct strbuf corpus = STRBUF_INIT;

static int
load_corpus(void)
{
    static const char *const files[] = {
        "tests/fixtures/zh-web.jsonl", "tests/fixtures/note-zh.txt",
        "tests/fixtures/page-zh.html", "tests/fixtures/en-web.jsonl"};
    char buf[4096];
    size_t i, n;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        FILE *f = fopen(files[i], "rb");

        if (!f)
            return -1;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            strbuf_add(&corpus, buf, n);
        fclose(f);
    }
    return 0;
}

/* Train on the corpus cut into lines, in order or reversed. */
static struct bpe *
train(uint32_t vocab, int reversed, const char *const *sp, size_t nsp)
{
    struct bpe_trainer *t = NULL;
    struct bpe_train_opts o;
    struct bpe *b = NULL;
    struct nh_error err;
    const char *p = corpus.buf, *end = corpus.buf + corpus.len, *nl;
    const char *lines[2048];
    size_t nlines = 0, lens[2048], i;

    for (; p < end && nlines < 2048; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        lines[nlines] = p;
        lens[nlines++] = (size_t)(nl - p) + (nl < end);
    }
    if (bpe_trainer_new(&t) < 0)
        return NULL;
    for (i = 0; i < nlines; i++) {
        size_t k = reversed ? nlines - 1 - i : i;

        bpe_trainer_add(t, lines[k], lens[k]);
    }
    memset(&o, 0, sizeof(o));
    o.vocab = vocab;
    o.specials = sp;
    o.nspecials = nsp;
    bpe_trainer_finish(t, &o, &b, &err);
    bpe_trainer_free(t);
    return b;
}

static int
round_trip(struct bpe *b, const char *s, size_t len, int flags)
{
    struct bpe_ids ids = BPE_IDS_INIT;
    struct strbuf out = STRBUF_INIT;
    int ok;

    ok = bpe_encode(b, s, len, flags, &ids) == 0 &&
         bpe_decode(b, ids.v, ids.n, &out, NULL) == 0 && out.len == len &&
         (len == 0 || !memcmp(out.buf, s, len));
    bpe_ids_release(&ids);
    strbuf_release(&out);
    return ok;
}

/* The pieces of s joined by '|'. */
static void
pieces(const char *s, struct strbuf *out)
{
    size_t len = strlen(s), pos = 0, n;

    strbuf_reset(out);
    while (pos < len) {
        n = bpe_pretok_next(s + pos, len - pos);
        if (pos)
            strbuf_addch(out, '|');
        strbuf_add(out, s + pos, n);
        pos += n;
    }
}

TEST(pretok_rules)
{
    struct strbuf sb = STRBUF_INIT;
    char cjk[200] = "";
    size_t i;

    pieces("数据清洗是第一步。Hello world!", &sb);
    CHECK_STR(strbuf_str(&sb), "数据清洗是第一步|。|Hello| world|!");
    pieces("共12345条，价格3.14元", &sb);
    CHECK_STR(strbuf_str(&sb), "共|123|45|条|，|价格|3|.|14|元");
    pieces("a  b\n\nc", &sb);
    CHECK_STR(strbuf_str(&sb), "a| | b|\n\n|c");
    pieces("日本語のテキスト한국어", &sb);
    CHECK_STR(strbuf_str(&sb), "日本語のテキスト한국어");
    pieces("中文 English 中文 123 ！ \xff", &sb);
    CHECK_STR(strbuf_str(&sb), "中文| English| 中文| 123| ！| |\xff");
    pieces("café über", &sb);
    CHECK_STR(strbuf_str(&sb), "café| über");
    pieces("x\xff\xfe中", &sb);
    CHECK_STR(strbuf_str(&sb), "x|\xff|\xfe|中");
    pieces("“引号”——破折号……", &sb);
    CHECK_STR(strbuf_str(&sb), "“|引号|”——|破折号|……");
    /* a long CJK run is cut every BPE_CJK_RUN_MAX characters */
    for (i = 0; i < 40; i++)
        memcpy(cjk + 3 * i, "字", 3);
    CHECK(bpe_pretok_next(cjk, strlen(cjk)) == 3 * BPE_CJK_RUN_MAX);
    CHECK(bpe_pretok_next("\0\0x", 3) == 2); /* controls: punctuation */
    strbuf_release(&sb);
}

TEST(train_by_hand)
{
    /* "aaabdaaabac": aa (4) first; then ab and "aa"+a tie at 2 and the
     * smaller pair, (97, 98), wins; then (257, 258); then every pair
     * occurs once and training stops short of the vocabulary asked */
    struct bpe_trainer *t = NULL;
    struct bpe_train_opts o;
    struct bpe *b = NULL;
    struct strbuf sb = STRBUF_INIT;
    struct nh_error err;
    size_t len;
    const char *tok;

    CHECK(bpe_trainer_new(&t) == 0);
    CHECK(bpe_trainer_add(t, "aaabdaaabac", 11) == 0);
    memset(&o, 0, sizeof(o));
    o.vocab = 1000;
    CHECK(bpe_trainer_finish(t, &o, &b, &err) == 0);
    CHECK(bpe_vocab(b) == 260);
    CHECK(bpe_nmerges(b) == 3);
    CHECK(bpe_serialize(b, &sb) == 0);
    CHECK(strstr(sb.buf, "\n97 97\n97 98\n257 258\nchecksum ") != NULL);
    tok = bpe_token_bytes(b, 259, &len);
    CHECK(len == 4 && !memcmp(tok, "aaab", 4));
    CHECK(bpe_token_bytes(b, 260, &len) == NULL);
    bpe_free(b);
    bpe_trainer_free(t);
    strbuf_release(&sb);
}

TEST(round_trip_real_and_random)
{
    struct bpe *b = train(600, 0, NULL, 0);
    struct bpe_ids ids = BPE_IDS_INIT;
    char buf[4096];
    size_t i, n;
    unsigned seed = 12345;

    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(bpe_vocab(b) == 600);
    CHECK(round_trip(b, corpus.buf, corpus.len, 0));
    CHECK(round_trip(b, corpus.buf, corpus.len, BPE_ALLOW_SPECIAL));
    /* BPE compresses the text it was trained on */
    CHECK(bpe_encode(b, corpus.buf, corpus.len, 0, &ids) == 0);
    CHECK(ids.n * 3 < corpus.len * 2); /* over 1.5 bytes a token */
    for (i = 0; i < 300; i++) {
        size_t k;

        n = (size_t)(rand_r(&seed) % sizeof(buf));
        for (k = 0; k < n; k++)
            buf[k] = (char)(rand_r(&seed) & 0xff);
        if (i % 3 == 1) /* random bytes mixed into real text */
            memcpy(buf, corpus.buf + (i * 97) % (corpus.len - n), n / 2);
        CHECK(round_trip(b, buf, n, 0));
        CHECK(round_trip(b, buf, n, BPE_ALLOW_SPECIAL));
    }
    CHECK(round_trip(b, "", 0, 0));
    CHECK(round_trip(b, "\0\0\0a\0", 5, 0));
    CHECK(round_trip(b, "\xc3\x28\xe4\xb8\xed\xa0\x80\xf0\x9f\x98", 10, 0));
    CHECK(round_trip(
        b, "😀👍🏽 中文，混合 English 123 <|endoftext|>",
        strlen("😀👍🏽 中文，混合 English 123 <|endoftext|>"), 0));
    bpe_ids_release(&ids);
    bpe_free(b);
}

TEST(deterministic_merges)
{
    struct bpe *a = train(500, 0, NULL, 0), *b = train(500, 1, NULL, 0);
    struct strbuf sa = STRBUF_INIT, sb = STRBUF_INIT;

    CHECK(a && b);
    if (a && b) {
        CHECK(bpe_serialize(a, &sa) == 0 && bpe_serialize(b, &sb) == 0);
        CHECK(sa.len == sb.len && !memcmp(sa.buf, sb.buf, sa.len));
        CHECK(bpe_hash(a).lo == bpe_hash(b).lo);
    }
    bpe_free(a);
    bpe_free(b);
    strbuf_release(&sa);
    strbuf_release(&sb);
}

TEST(special_tokens)
{
    static const char *const sp[] = {"<|pad|>", "<|sep|>"};
    static const char *const bad1[] = {"has space"};
    static const char *const bad2[] = {"<|endoftext|>"};
    static const char *const bad3[] = {"<|x|>", "<|x|>"};
    struct bpe *b = train(400, 0, sp, 2);
    struct bpe_ids ids = BPE_IDS_INIT;
    struct strbuf out = STRBUF_INIT;
    struct bpe_trainer *t = NULL;
    struct bpe_train_opts o;
    struct bpe *x = NULL;
    struct nh_error err;
    const char *s = "前<|endoftext|>后<|sep|>";
    size_t i;
    int seen = 0;

    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(bpe_nspecials(b) == 3);
    CHECK(bpe_special_id(b, "<|endoftext|>") == 256);
    CHECK(bpe_special_id(b, "<|pad|>") == 257);
    CHECK(bpe_special_id(b, "<|sep|>") == 258);
    CHECK(bpe_special_id(b, "<|nope|>") == -1);
    /* documents: the names are text */
    CHECK(bpe_encode(b, s, strlen(s), 0, &ids) == 0);
    for (i = 0; i < ids.n; i++)
        seen |= ids.v[i] >= 256 && ids.v[i] < 259;
    CHECK(!seen);
    /* with BPE_ALLOW_SPECIAL they are the tokens */
    ids.n = 0;
    CHECK(bpe_encode(b, s, strlen(s), BPE_ALLOW_SPECIAL, &ids) == 0);
    CHECK(ids.n >= 4 && ids.v[ids.n - 1] == 258);
    for (i = 0; i < ids.n; i++)
        seen += ids.v[i] == 256;
    CHECK(seen == 1);
    CHECK(bpe_decode(b, ids.v, ids.n, &out, NULL) == 0);
    CHECK(out.len == strlen(s) && !memcmp(out.buf, s, out.len));
    /* an id out of range */
    ids.v[0] = bpe_vocab(b);
    CHECK(bpe_decode(b, ids.v, 1, &out, &err) == NH_EINVAL);
    /* bad specials and vocabulary sizes are refused */
    CHECK(bpe_trainer_new(&t) == 0);
    bpe_trainer_add(t, "abcabc", 6);
    memset(&o, 0, sizeof(o));
    o.vocab = 300;
    o.specials = bad1, o.nspecials = 1;
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == NH_EINVAL);
    o.specials = bad2;
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == NH_EINVAL);
    o.specials = bad3, o.nspecials = 2;
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == NH_EINVAL);
    o.nspecials = 0, o.vocab = 256;
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == NH_EINVAL);
    o.vocab = BPE_MAX_VOCAB + 1;
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == NH_EINVAL);
    o.vocab = 257; /* bytes and end-of-text only: no merges */
    CHECK(bpe_trainer_finish(t, &o, &x, &err) == 0);
    CHECK(x && bpe_vocab(x) == 257 && round_trip(x, "abc", 3, 0));
    bpe_free(x);
    bpe_trainer_free(t);
    bpe_ids_release(&ids);
    strbuf_release(&out);
    bpe_free(b);
}

/* Parse text after replacing its checksum line with the right one. */
static int
parse_fixed(const char *body, struct nh_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    struct bpe *b = NULL;
    int rc;

    strbuf_addstr(&sb, body);
    strbuf_addf(&sb, "checksum %016llx\n",
                (unsigned long long)nh_hash64(body, strlen(body)));
    rc = bpe_parse(&b, sb.buf, sb.len, err);
    bpe_free(b);
    strbuf_release(&sb);
    return rc;
}

TEST(file_save_load_corrupt)
{
    struct bpe *b = train(700, 0, NULL, 0), *c = NULL;
    struct strbuf s1 = STRBUF_INIT, s2 = STRBUF_INIT;
    struct bpe_ids i1 = BPE_IDS_INIT, i2 = BPE_IDS_INIT;
    struct nh_error err;
    char path[128];
    const char *head =
        "nh-bpe 1\nvocab 258\nspecials 1\nmerges 1\n"
        "pretok cjk32-run64-digit3-sp\nspecial 256 <|endoftext|>\n";
    char body[512];
    FILE *f;

    CHECK(b != NULL && tmp_begin("bpe") == 0);
    if (!b)
        return;
    path_join(path, sizeof(path), tmp, "t.tok");
    CHECK(bpe_save(b, path, &err) == 0);
    CHECK(bpe_load(&c, path, &err) == 0);
    if (!c)
        goto out;
    CHECK(bpe_serialize(b, &s1) == 0 && bpe_serialize(c, &s2) == 0);
    CHECK(s1.len == s2.len && !memcmp(s1.buf, s2.buf, s1.len));
    CHECK(bpe_hash(b).hi == bpe_hash(c).hi && bpe_hash(b).lo == bpe_hash(c).lo);
    CHECK(bpe_encode(b, corpus.buf, corpus.len, 0, &i1) == 0);
    CHECK(bpe_encode(c, corpus.buf, corpus.len, 0, &i2) == 0);
    CHECK(i1.n == i2.n && !memcmp(i1.v, i2.v, i1.n * sizeof(*i1.v)));
    bpe_free(c);
    c = NULL;

    /* one flipped digit in a merge: checksum */
    s2.buf[s1.len / 2] ^= 1;
    CHECK(bpe_parse(&c, s2.buf, s2.len, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "checksum") != NULL);
    /* truncated */
    CHECK(bpe_parse(&c, s1.buf, s1.len - 5, &err) == NH_ECORRUPT);
    CHECK(bpe_parse(&c, s1.buf, s1.len / 2, &err) == NH_ECORRUPT);
    CHECK(bpe_parse(&c, "", 0, &err) == NH_ECORRUPT);
    /* not a tokenizer file at all */
    f = fopen(path, "w");
    fputs("{\"vocab\": 3}\n", f);
    fclose(f);
    CHECK(bpe_load(&c, path, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "t.tok") != NULL);
    CHECK(bpe_load(&c, "/nonexistent/t.tok", &err) == NH_EIO);
    /* well-formed checksums over bad contents */
    snprintf(body, sizeof(body), "%s97 98\n", head);
    CHECK(parse_fixed(body, &err) == 0);
    snprintf(body, sizeof(body), "%s300 98\n", head); /* a later id */
    CHECK(parse_fixed(body, &err) == NH_ECORRUPT);
    snprintf(body, sizeof(body), "%s256 98\n", head); /* merges a special */
    CHECK(parse_fixed(body, &err) == NH_ECORRUPT);
    snprintf(body, sizeof(body), "%s97 98\n97 98\n", head); /* count */
    CHECK(parse_fixed(body, &err) == NH_ECORRUPT);
    CHECK(parse_fixed("nh-bpe 2\nvocab 257\n", &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "version 2") != NULL);
    snprintf(body, sizeof(body), "%s", head);
    memcpy(strstr(body, "cjk32"), "cjk16", 5);
    CHECK(parse_fixed(body, &err) == NH_ECORRUPT);
out:
    tmp_end();
    bpe_free(b);
    strbuf_release(&s1);
    strbuf_release(&s2);
    bpe_ids_release(&i1);
    bpe_ids_release(&i2);
}

int
main(void)
{
    if (load_corpus() < 0) {
        printf("cannot read tests/fixtures (run from the repository)\n");
        return 1;
    }
    RUN(pretok_rules);
    RUN(train_by_hand);
    RUN(round_trip_real_and_random);
    RUN(deterministic_merges);
    RUN(special_tokens);
    RUN(file_save_load_corrupt);
    strbuf_release(&corpus);
    return test_summary();
}
