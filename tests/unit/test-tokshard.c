/* test-tokshard.c - unit tests for trainer/tokshard.c, the token shards
 *
 * Write shards of 16- and 32-bit tokens, check the header bytes against
 * the format in tokshard.h, read them back by range, and make sure
 * truncated, foreign and corrupted files are refused; read a directory
 * of shards (with an empty one) through its manifest as one sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "tmpdir.h"
#include "tokshard.h"

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static long
file_bytes(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

/* Three documents of ids spread over the vocabulary. */
static int
write_shard(const char *path, uint32_t vocab, struct tokshard_info *info)
{
    struct tokshard_writer *w = NULL;
    struct nh_error err;
    uint32_t ids[100];
    size_t i, d;

    if (tokshard_writer_open(&w, path, vocab, 256, 0xabcdefULL, &err) < 0)
        return -1;
    for (d = 0; d < 3; d++) {
        for (i = 0; i < 10 + 40 * d; i++)
            ids[i] = (uint32_t)((i * 7919 + d) % vocab);
        if (tokshard_writer_doc(w, ids, 10 + 40 * d, &err) < 0) {
            tokshard_writer_abort(w);
            return -1;
        }
    }
    return tokshard_writer_commit(w, info, &err);
}

static void
check_width(uint32_t vocab, uint32_t width)
{
    char path[128];
    unsigned char buf[4096];
    struct tokshard_info info;
    struct tokshard *s = NULL;
    struct nh_error err;
    uint32_t got[200];
    long n;
    size_t i, d, at = 0;

    path_join(path, sizeof(path), tmp, "a.tok");
    CHECK(write_shard(path, vocab, &info) == 0);
    CHECK(info.width == width && info.documents == 3);
    CHECK(info.tokens == 10 + 50 + 90 + 3);
    n = file_bytes(path, buf, sizeof(buf));
    CHECK(n == (long)(64 + info.tokens * width));
    CHECK(!memcmp(buf, "NHTOKENS", 8));
    CHECK(le32(buf + 8) == 1 && le32(buf + 12) == 64);
    CHECK(le32(buf + 16) == vocab && le32(buf + 20) == width);
    CHECK(le32(buf + 24) == 256 && le32(buf + 28) == 0);
    CHECK(le64(buf + 32) == info.tokens && le64(buf + 40) == 3);
    CHECK(le64(buf + 48) == info.payload_hash);
    CHECK(le64(buf + 56) == 0xabcdefULL);
    CHECK(access("a.tok.tmp", F_OK) != 0);

    CHECK(tokshard_open(&s, path, 1, &err) == 0);
    if (!s)
        return;
    CHECK(tokshard_info(s)->tokens == info.tokens);
    CHECK(tokshard_info(s)->width == width);
    CHECK(tokshard_read(s, 0, (size_t)info.tokens, got) == 0);
    for (d = 0; d < 3; d++) {
        for (i = 0; i < 10 + 40 * d; i++)
            CHECK(got[at++] == (uint32_t)((i * 7919 + d) % vocab));
        CHECK(got[at++] == 256);
    }
    /* the first token in the file, little-endian */
    CHECK((width == 2 ? (uint32_t)(buf[64] | buf[65] << 8) : le32(buf + 64)) ==
          got[0]);
    CHECK(tokshard_read(s, 5, 3, got) == 0 && got[0] == (5 * 7919) % vocab);
    CHECK(tokshard_read(s, info.tokens - 1, 1, got) == 0 && got[0] == 256);
    CHECK(tokshard_read(s, info.tokens, 0, got) == 0);
    CHECK(tokshard_read(s, info.tokens, 1, got) == NH_EINVAL);
    CHECK(tokshard_read(s, 1, (size_t)info.tokens, got) == NH_EINVAL);
    CHECK(tokshard_read(s, UINT64_MAX, 2, got) == NH_EINVAL);
    tokshard_close(s);
}

TEST(width_16_and_32)
{
    CHECK(tokshard_width(256) == 2);
    CHECK(tokshard_width(65536) == 2);
    CHECK(tokshard_width(65537) == 4);
    check_width(32000, 2);
    check_width(65536, 2);
    check_width(100000, 4);
}

TEST(writer_refuses_and_aborts)
{
    struct tokshard_writer *w = NULL;
    struct nh_error err;
    uint32_t ids[2] = {5, 1000};
    char path[128];

    path_join(path, sizeof(path), tmp, "b.tok");
    CHECK(tokshard_writer_open(&w, path, 1000, 1000, 0, &err) == NH_EINVAL);
    CHECK(tokshard_writer_open(&w, path, 1000, 256, 0, &err) == 0);
    CHECK(tokshard_writer_doc(w, ids, 2, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "1000") != NULL);
    tokshard_writer_abort(w);
    CHECK(access(path, F_OK) != 0);
    CHECK(tokshard_writer_open(&w, "/nonexistent/x.tok", 1000, 256, 0, &err) ==
          NH_EIO);
}

static void
write_bytes(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");

    fwrite(buf, 1, n, f);
    fclose(f);
}

TEST(reader_refuses_bad_files)
{
    char path[128], bad[128];
    unsigned char buf[4096];
    struct tokshard_info info;
    struct tokshard *s = NULL;
    struct nh_error err;
    long n;

    path_join(path, sizeof(path), tmp, "c.tok");
    path_join(bad, sizeof(bad), tmp, "bad.tok");
    CHECK(write_shard(path, 1000, &info) == 0);
    n = file_bytes(path, buf, sizeof(buf));
    CHECK(n > 64);

    write_bytes(bad, buf, (size_t)n - 2); /* truncated */
    CHECK(tokshard_open(&s, bad, 0, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "truncated") != NULL);
    write_bytes(bad, buf, 30); /* shorter than a header */
    CHECK(tokshard_open(&s, bad, 0, &err) == NH_ECORRUPT);
    buf[0] = 'X'; /* magic */
    write_bytes(bad, buf, (size_t)n);
    CHECK(tokshard_open(&s, bad, 0, &err) == NH_ECORRUPT);
    buf[0] = 'N';
    buf[8] = 2; /* version */
    write_bytes(bad, buf, (size_t)n);
    CHECK(tokshard_open(&s, bad, 0, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "version 2") != NULL);
    buf[8] = 1;
    buf[20] = 4; /* width that does not match the vocabulary */
    write_bytes(bad, buf, (size_t)n);
    CHECK(tokshard_open(&s, bad, 0, &err) == NH_ECORRUPT);
    buf[20] = 2;
    buf[70] ^= 1; /* payload: found by the checksum only */
    write_bytes(bad, buf, (size_t)n);
    CHECK(tokshard_open(&s, bad, 1, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "checksum") != NULL);
    CHECK(tokshard_open(&s, bad, 0, &err) == 0);
    tokshard_close(s);
    buf[70] ^= 1;
    write_bytes(bad, buf, (size_t)n);
    CHECK(tokshard_open(&s, bad, 1, &err) == 0);
    tokshard_close(s);
    CHECK(tokshard_open(&s, "/nonexistent.tok", 0, &err) == NH_EIO);
}

/* Shards a (3 docs), e (empty) and b (3 docs) and their manifest. */
static int
write_dir(const char *dir, long tokens_delta)
{
    struct tokshard_info ia, ie, ib;
    struct tokshard_writer *w = NULL;
    struct nh_error err;
    char path[256], man[2048];
    FILE *f;

    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/shard-00000.tok", dir);
    if (write_shard(path, 1000, &ia) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/shard-00001.tok", dir);
    if (tokshard_writer_open(&w, path, 1000, 256, 0xabcdefULL, &err) < 0 ||
        tokshard_writer_commit(w, &ie, &err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/shard-00002.tok", dir);
    if (write_shard(path, 1000, &ib) < 0)
        return -1;
    snprintf(man, sizeof(man),
             "{\"format\": \"naohai-tokens-1\", \"tokenizer\": {\"path\": "
             "\"t\", \"xxh3\": \"ffffffffffffffff0000000000abcdef\", "
             "\"vocab\": 1000, \"eot\": 256}, \"token_width\": 2, "
             "\"shards\": [{\"file\": \"shard-00000.tok\", \"documents\": 3, "
             "\"tokens\": %llu, \"payload_xxh3\": \"%016llx\"}, {\"file\": "
             "\"shard-00001.tok\", \"documents\": 0, \"tokens\": 0, "
             "\"payload_xxh3\": \"%016llx\"}, {\"file\": \"shard-00002.tok\", "
             "\"documents\": 3, \"tokens\": %llu, \"payload_xxh3\": "
             "\"%016llx\"}], \"documents\": 6, \"tokens\": %llu}\n",
             (unsigned long long)ia.tokens, (unsigned long long)ia.payload_hash,
             (unsigned long long)ie.payload_hash, (unsigned long long)ib.tokens,
             (unsigned long long)ib.payload_hash,
             (unsigned long long)(ia.tokens + ib.tokens + tokens_delta));
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(man, f);
    fclose(f);
    return 0;
}

TEST(directory)
{
    struct tokdir *d = NULL;
    struct nh_error err;
    uint32_t all[400], got[400];
    uint64_t n, i, start;
    const struct tokshard *s0;

    CHECK(write_dir("dir", 0) == 0);
    CHECK(tokdir_open(&d, "dir", 1, &err) == 0);
    if (!d)
        return;
    CHECK(tokdir_nshards(d) == 3 && tokdir_vocab(d) == 1000);
    CHECK(tokdir_documents(d) == 6);
    n = tokdir_tokens(d);
    CHECK(n == 2 * 153);
    s0 = tokdir_shard(d, 0);
    CHECK(tokshard_read(s0, 0, 153, all) == 0);
    CHECK(tokshard_read(tokdir_shard(d, 2), 0, 153, all + 153) == 0);
    CHECK(tokdir_shard(d, 3) == NULL);
    /* every window, across the empty shard too */
    for (start = 0; start <= n; start += 7)
        for (i = 0; i <= n - start && i < 40; i += 13) {
            memset(got, 0xff, sizeof(got));
            CHECK(tokdir_read(d, start, (size_t)i, got) == 0);
            CHECK(i == 0 || !memcmp(got, all + start, i * sizeof(*got)));
        }
    CHECK(tokdir_read(d, 150, 10, got) == 0 && got[2] == 256 &&
          got[3] == all[153]);
    CHECK(tokdir_read(d, n - 1, 2, got) == NH_EINVAL);
    tokdir_close(d);
    /* totals that do not add up; a missing manifest */
    CHECK(write_dir("dir2", 1) == 0);
    CHECK(tokdir_open(&d, "dir2", 0, &err) == NH_ECORRUPT);
    CHECK(strstr(err.msg, "totals") != NULL);
    CHECK(tokdir_open(&d, "nodir", 0, &err) == NH_EIO);
}

int
main(void)
{
    if (tmp_begin("tokshard") < 0 || chdir(tmp) < 0)
        return 1;
    RUN(width_16_and_32);
    RUN(writer_refuses_and_aborts);
    RUN(reader_refuses_bad_files);
    RUN(directory);
    tmp_end();
    return test_summary();
}
