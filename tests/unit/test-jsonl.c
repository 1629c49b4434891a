/* test-jsonl.c - unit tests for common/jsonl.c
 *
 * The reader is where every corpus byte enters naohai and the writer is
 * where every shard leaves it, so these tests build real files in a
 * mkdtemp() directory under /tmp: plain, gzip (written here with zlib,
 * also as two concatenated members) and zstd (written by nh_writer and
 * directly with libzstd, also as two frames). Line sizes around the
 * reader's 256 KiB read size and 512 KiB decode buffer make lines
 * straddle refills; the line limit, corrupt and truncated input, missing
 * files and the writer's temp-file-and-rename protocol are checked too.
 */
#include "err.h"
#include "jsonl.h"
#include "strbuf.h"

#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static char tmpdir[64];

/* How a test file is encoded. */
enum fmt { F_PLAIN, F_GZ, F_GZ2, F_ZW, F_ZD, F_ZD2, F_COUNT };

static const char *const fmt_name[F_COUNT] = {
    "plain", "gzip", "gzip-2-members", "zstd-writer", "zstd", "zstd-2-frames",
};

static void
tpath(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static int
exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static int
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static int
slurp(const char *path, struct strbuf *out)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n;

    if (!f)
        return -1;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(out, buf, n);
    fclose(f);
    return 0;
}

/* Append one complete gzip member holding data to out. */
static int
gz_append(struct strbuf *out, const void *data, size_t len)
{
    z_stream z;
    int rc;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    if (strbuf_grow(out, deflateBound(&z, (uLong)len)) < 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->buf + out->len;
    z.avail_out = (uInt)(out->alloc - out->len - 1);
    rc = deflate(&z, Z_FINISH);
    out->len += z.total_out;
    out->buf[out->len] = '\0';
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

/* Append one zstd frame (no checksum, libzstd's default) to out. */
static int
zstd_append(struct strbuf *out, const void *data, size_t len)
{
    size_t bound = ZSTD_compressBound(len), n;

    if (strbuf_grow(out, bound) < 0)
        return -1;
    n = ZSTD_compress(out->buf + out->len, bound, data, len, 3);
    if (ZSTD_isError(n))
        return -1;
    out->len += n;
    out->buf[out->len] = '\0';
    return 0;
}

/* Write data through nh_writer in pieces of changing sizes. */
static int
writer_file(const char *path, const char *data, size_t len, int level)
{
    struct nh_writer *w = NULL;
    struct nh_error err = {0, ""};
    size_t at = 0, piece = 1;
    int rc;

    if ((rc = nh_writer_open(&w, path, level, &err)) < 0) {
        printf("  writer_open: %s\n", err.msg);
        return rc;
    }
    while (at < len) {
        size_t n = len - at < piece ? len - at : piece;

        if ((rc = nh_writer_write(w, data + at, n, &err)) < 0) {
            nh_writer_abort(w);
            return rc;
        }
        at += n;
        piece = piece * 7 % 100003 + 1;
    }
    if (nh_writer_bytes(w) != len) {
        nh_writer_abort(w);
        return -100;
    }
    rc = nh_writer_commit(w, &err);
    if (rc < 0)
        printf("  writer_commit: %s\n", err.msg);
    return rc;
}

/* Create name in tmpdir holding data encoded as fmt; path gets the path. */
static int
make_file(char *path, size_t size, const char *name, const char *data,
          size_t len, enum fmt fmt)
{
    struct strbuf enc = STRBUF_INIT;
    int rc = 0;

    tpath(path, size, name);
    switch (fmt) {
    case F_PLAIN:
        rc = write_file(path, data, len);
        break;
    case F_GZ:
        rc = gz_append(&enc, data, len);
        break;
    case F_GZ2: /* split in the middle, usually mid-line */
        rc = gz_append(&enc, data, len / 2);
        if (rc == 0)
            rc = gz_append(&enc, data + len / 2, len - len / 2);
        break;
    case F_ZW:
        rc = writer_file(path, data, len, 3);
        break;
    case F_ZD:
        rc = zstd_append(&enc, data, len);
        break;
    case F_ZD2:
        rc = zstd_append(&enc, data, len / 3);
        if (rc == 0)
            rc = zstd_append(&enc, data + len / 3, len - len / 3);
        break;
    default:
        rc = -1;
    }
    if (rc == 0 && fmt != F_PLAIN && fmt != F_ZW)
        rc = write_file(path, enc.buf, enc.len);
    strbuf_release(&enc);
    if (rc != 0)
        printf("  cannot make '%s' (%s)\n", path, fmt_name[fmt]);
    return rc;
}

static enum nh_compression
fmt_comp(enum fmt fmt)
{
    if (fmt == F_PLAIN)
        return NH_COMP_NONE;
    if (fmt == F_GZ || fmt == F_GZ2)
        return NH_COMP_GZIP;
    return NH_COMP_ZSTD;
}

/* Byte j of generated line i. */
static char
fill(size_t i, size_t j)
{
    return (char)('a' + (i * 7 + j * 3 + j / 101) % 26);
}

/* Lines of the given sizes, each ended by '\n' unless it is the last one
 * and final_nl is 0. */
static void
gen_lines(struct strbuf *out, const size_t *sizes, size_t n, int final_nl)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        strbuf_grow(out, sizes[i] + 1);
        for (j = 0; j < sizes[i]; j++)
            out->buf[out->len + j] = fill(i, j);
        out->len += sizes[i];
        if (i + 1 < n || final_nl)
            strbuf_addch(out, '\n');
    }
}

/* Read path and compare with gen_lines(sizes) under the line limit max
 * (0: the default). Returns the number of mismatches. */
static int
verify_lines(const char *path, const size_t *sizes, size_t n, size_t max,
             enum nh_compression comp)
{
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    const char *line;
    size_t i, j, len;
    int rc, bad = 0;

    if (nh_reader_open(&r, path, &err) < 0) {
        printf("  open '%s': %s\n", path, err.msg);
        return 1;
    }
    if (nh_reader_compression(r) != comp) {
        printf("  '%s': compression %d\n", path, nh_reader_compression(r));
        bad++;
    }
    if (max)
        nh_reader_set_max_line(r, max);
    for (i = 0; i < n && !bad; i++) {
        int want_rc = max && sizes[i] > max ? NH_ETOOBIG : 1;
        size_t want_len = max && sizes[i] > max ? max : sizes[i];

        line = NULL;
        len = 0;
        rc = nh_reader_line(r, &line, &len, &err);
        if (rc != want_rc || len != want_len) {
            printf("  '%s' max %zu line %zu: rc %d (want %d) len %zu "
                   "(want %zu)\n",
                   path, max, i, rc, want_rc, len, want_len);
            bad++;
            break;
        }
        for (j = 0; j < len; j++)
            if (line[j] != fill(i, j))
                break;
        if (j < len) {
            printf("  '%s' max %zu line %zu: byte %zu differs\n", path, max, i,
                   j);
            bad++;
        }
        if (nh_reader_lineno(r) != i + 1)
            bad++;
    }
    if (!bad && (rc = nh_reader_line(r, &line, &len, &err)) != 0) {
        printf("  '%s': rc %d at the end\n", path, rc);
        bad++;
    }
    /* the end is sticky */
    if (!bad && nh_reader_line(r, &line, &len, &err) != 0)
        bad++;
    nh_reader_close(r);
    return bad;
}

/* Open path and return the codes of nh_reader_line until it stops
 * returning 1; the lines themselves go to out, each followed by '|'. */
static int
read_until_end(const char *path, size_t max, struct strbuf *out,
               struct nh_error *err)
{
    struct nh_reader *r = NULL;
    const char *line;
    size_t len;
    int rc;

    if ((rc = nh_reader_open(&r, path, err)) < 0)
        return rc;
    if (max)
        nh_reader_set_max_line(r, max);
    while ((rc = nh_reader_line(r, &line, &len, err)) == 1) {
        strbuf_add(out, line, len);
        strbuf_addch(out, '|');
    }
    nh_reader_close(r);
    return rc;
}

TEST(small_all_formats)
{
    static const char text[] = "{\"a\":1}\n\n中文\r\n\r\nlast";
    int f, bad = 0;

    for (f = 0; f < F_COUNT; f++) {
        char path[256];
        struct nh_reader *r = NULL;
        struct nh_error err = {0, ""};
        const char *line;
        size_t len;

        if (make_file(path, sizeof(path), "small", text, sizeof(text) - 1, f) <
            0) {
            bad++;
            continue;
        }
        if (nh_reader_open(&r, path, &err) < 0) {
            bad++;
            unlink(path);
            continue;
        }
        CHECK(nh_reader_compression(r) == fmt_comp(f));
        /* lines, empty lines, CRLF keeps '\r', last line without '\n' */
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 7 &&
              !memcmp(line, "{\"a\":1}", 7));
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 7 &&
              !memcmp(line, "中文\r", 7));
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 1 &&
              line[0] == '\r');
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 4 &&
              !memcmp(line, "last", 4));
        CHECK(nh_reader_lineno(r) == 5);
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        CHECK(nh_reader_lineno(r) == 5);
        {
            struct stat st;

            CHECK(stat(path, &st) == 0 &&
                  nh_reader_raw_bytes(r) == (uint64_t)st.st_size);
        }
        nh_reader_close(r);
        unlink(path);
    }
    CHECK(bad == 0);
}

TEST(empty_lines_only)
{
    struct strbuf got = STRBUF_INIT;
    struct nh_error err = {0, ""};
    char path[256];

    CHECK(make_file(path, sizeof(path), "empties", "\n\n\n", 3, F_PLAIN) == 0);
    CHECK(read_until_end(path, 0, &got, &err) == 0);
    CHECK_STR(strbuf_str(&got), "|||");
    unlink(path);
    strbuf_release(&got);
}

TEST(empty_files)
{
    int f, bad = 0;

    for (f = 0; f < F_COUNT; f++) {
        char path[256];
        struct nh_reader *r = NULL;
        struct nh_error err = {0, ""};
        struct strbuf all = STRBUF_INIT;
        const char *line;
        size_t len;

        if (make_file(path, sizeof(path), "empty", "", 0, f) < 0 ||
            nh_reader_open(&r, path, &err) < 0) {
            bad++;
            continue;
        }
        if (f != F_GZ2 && f != F_ZD2 && nh_reader_compression(r) != fmt_comp(f))
            bad++;
        if (nh_reader_line(r, &line, &len, &err) != 0)
            bad++;
        if (nh_reader_all(r, &all, 10, &err) != 0 || all.len != 0)
            bad++;
        nh_reader_close(r);
        unlink(path);
        strbuf_release(&all);
    }
    CHECK(bad == 0);
}

TEST(single_newline)
{
    struct strbuf got = STRBUF_INIT;
    struct nh_error err = {0, ""};
    char path[256];

    /* one empty line, then the end: not two lines */
    CHECK(make_file(path, sizeof(path), "nl", "\n", 1, F_GZ) == 0);
    CHECK(read_until_end(path, 0, &got, &err) == 0);
    CHECK_STR(strbuf_str(&got), "|");
    unlink(path);
    strbuf_release(&got);
}

TEST(detect_by_magic)
{
    struct strbuf gz = STRBUF_INIT, got = STRBUF_INIT;
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    char path[256];

    /* a gzip file named .jsonl and a plain file named .gz */
    tpath(path, sizeof(path), "data.jsonl");
    CHECK(gz_append(&gz, "x\n", 2) == 0);
    CHECK(write_file(path, gz.buf, gz.len) == 0);
    CHECK(nh_reader_open(&r, path, &err) == 0);
    CHECK(r && nh_reader_compression(r) == NH_COMP_GZIP);
    nh_reader_close(r);
    unlink(path);

    tpath(path, sizeof(path), "data.jsonl.gz");
    CHECK(write_file(path, "plain\n", 6) == 0);
    CHECK(read_until_end(path, 0, &got, &err) == 0);
    CHECK_STR(strbuf_str(&got), "plain|");
    unlink(path);

    /* files too short for a magic number are plain */
    strbuf_reset(&got);
    tpath(path, sizeof(path), "short");
    CHECK(write_file(path, "\x1f", 1) == 0);
    CHECK(read_until_end(path, 0, &got, &err) == 0);
    CHECK_STR(strbuf_str(&got), "\x1f|");
    strbuf_reset(&got);
    CHECK(write_file(path, "\x28\xb5\x2f", 3) == 0);
    CHECK(read_until_end(path, 0, &got, &err) == 0);
    CHECK_STR(strbuf_str(&got), "\x28\xb5\x2f|");
    unlink(path);
    strbuf_release(&gz);
    strbuf_release(&got);
}

/* Sizes around the 256 KiB read and 512 KiB decode buffers. */
static const size_t big_sizes[] = {
    500000, 524287, 524288,  524289, 600000, 0,      1,
    550000, 3,      1048576, 511999, 262144, 262143, 589000,
};

TEST(lines_across_buffers)
{
    struct strbuf text = STRBUF_INIT;
    size_t n = sizeof(big_sizes) / sizeof(big_sizes[0]);
    int f, bad = 0;

    gen_lines(&text, big_sizes, n, 1);
    for (f = 0; f < F_COUNT; f++) {
        char path[256];

        if (make_file(path, sizeof(path), "big", text.buf, text.len, f) < 0) {
            bad++;
            continue;
        }
        bad += verify_lines(path, big_sizes, n, 0, fmt_comp(f));
        unlink(path);
    }
    CHECK(bad == 0);
    strbuf_release(&text);
}

TEST(last_big_line_without_newline)
{
    struct strbuf text = STRBUF_INIT;
    static const size_t sizes[] = {10, 700000};
    int f, bad = 0;

    gen_lines(&text, sizes, 2, 0);
    for (f = 0; f < F_COUNT; f++) {
        char path[256];

        if (make_file(path, sizeof(path), "nonl", text.buf, text.len, f) < 0) {
            bad++;
            continue;
        }
        bad += verify_lines(path, sizes, 2, 0, fmt_comp(f));
        unlink(path);
    }
    CHECK(bad == 0);
    strbuf_release(&text);
}

TEST(newline_at_boundaries)
{
    /* the first line ends exactly before, at and after each boundary */
    static const size_t first[] = {262142, 262143, 262144, 262145,
                                   524286, 524287, 524288, 524289};
    int f, bad = 0;
    size_t k;

    for (k = 0; k < sizeof(first) / sizeof(first[0]); k++) {
        struct strbuf text = STRBUF_INIT;
        size_t sizes[4] = {first[k], 1, 0, 5};

        gen_lines(&text, sizes, 4, 1);
        for (f = 0; f < F_COUNT; f++) {
            char path[256];

            if (f == F_GZ2 || f == F_ZD2)
                continue;
            if (make_file(path, sizeof(path), "edge", text.buf, text.len, f) <
                0) {
                bad++;
                continue;
            }
            bad += verify_lines(path, sizes, 4, 0, fmt_comp(f));
            unlink(path);
        }
        strbuf_release(&text);
    }
    CHECK(bad == 0);
}

TEST(max_line_small)
{
    static const char text[] = "short\n0123456789ABCDEF\nnext\n0123456789\n"
                               "0123456789A\n\nend";
    int f;

    for (f = 0; f < F_COUNT; f++) {
        char path[256];
        struct nh_reader *r = NULL;
        struct nh_error err = {0, ""};
        const char *line;
        size_t len;

        if (make_file(path, sizeof(path), "max", text, sizeof(text) - 1, f) <
                0 ||
            nh_reader_open(&r, path, &err) < 0) {
            CHECK(0);
            continue;
        }
        nh_reader_set_max_line(r, 10);
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 5 &&
              !memcmp(line, "short", 5));
        /* over the limit: the first max bytes, then reading goes on */
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG && len == 10 &&
              !memcmp(line, "0123456789", 10));
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 4 &&
              !memcmp(line, "next", 4));
        /* exactly at the limit is fine */
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 10 &&
              !memcmp(line, "0123456789", 10));
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG && len == 10 &&
              !memcmp(line, "0123456789", 10));
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 3 &&
              !memcmp(line, "end", 3));
        CHECK(nh_reader_lineno(r) == 7);
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        nh_reader_close(r);
        unlink(path);
    }
}

TEST(max_line_last_without_newline)
{
    struct strbuf got = STRBUF_INIT;
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    const char *line;
    size_t len;
    char path[256];

    CHECK(make_file(path, sizeof(path), "maxlast", "ok\nABCDEFGHIJKLMNOPQRST",
                    23, F_PLAIN) == 0);
    CHECK(nh_reader_open(&r, path, &err) == 0);
    if (r) {
        nh_reader_set_max_line(r, 10);
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 2);
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG && len == 10 &&
              !memcmp(line, "ABCDEFGHIJ", 10));
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        nh_reader_close(r);
    }
    unlink(path);
    strbuf_release(&got);
}

TEST(max_line_across_refills)
{
    /* over-limit lines that start in one buffer and end several refills
     * later, with the limit reached in the first buffer, in a middle one,
     * exactly at a buffer end, and only in the buffer holding '\n' */
    static const size_t sizes[] = {100, 600000, 50, 1500000, 7, 524288, 300000,
                                   2,   262144, 0,  1048577, 1, 550000, 4};
    static const size_t maxes[] = {1,      100,    262144, 300000,
                                   524288, 550000, 1000000};
    size_t n = sizeof(sizes) / sizeof(sizes[0]), m;
    struct strbuf text = STRBUF_INIT;
    int f, bad = 0;

    gen_lines(&text, sizes, n, 1);
    for (f = 0; f < F_COUNT; f++) {
        char path[256];

        if (f == F_GZ2 || f == F_ZD2)
            continue;
        if (make_file(path, sizeof(path), "maxbig", text.buf, text.len, f) <
            0) {
            bad++;
            continue;
        }
        for (m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
            bad += verify_lines(path, sizes, n, maxes[m], fmt_comp(f));
        unlink(path);
    }
    CHECK(bad == 0);
    strbuf_release(&text);
}

TEST(max_line_zero)
{
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    const char *line;
    size_t len;
    char path[256];

    CHECK(make_file(path, sizeof(path), "max0", "a\n\nbc\n", 6, F_PLAIN) == 0);
    CHECK(nh_reader_open(&r, path, &err) == 0);
    if (r) {
        nh_reader_set_max_line(r, 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG && len == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG && len == 0);
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        nh_reader_close(r);
    }
    unlink(path);
}

TEST(max_line_default)
{
    /* the default limit is 64 MiB: a line of exactly that is fine, one
     * byte more is not; written through the zstd writer to stay small */
    const size_t lim = (size_t)64 << 20, piece = 1 << 20;
    struct nh_writer *w = NULL;
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    const char *line;
    size_t len, i;
    char path[256], *buf = malloc(piece);

    CHECK(buf != NULL);
    if (!buf)
        return;
    tpath(path, sizeof(path), "huge.zst");
    CHECK(nh_writer_open(&w, path, 1, &err) == 0);
    if (!w) {
        free(buf);
        return;
    }
    memset(buf, 'x', piece);
    for (i = 0; i < lim; i += piece)
        nh_writer_write(w, buf, piece, &err);
    nh_writer_write(w, "\n", 1, &err);
    memset(buf, 'y', piece);
    for (i = 0; i < lim; i += piece)
        nh_writer_write(w, buf, piece, &err);
    nh_writer_write(w, "y\nok\n", 5, &err);
    CHECK(nh_writer_bytes(w) == 2 * (uint64_t)lim + 6);
    CHECK(nh_writer_commit(w, &err) == 0);
    CHECK(nh_reader_open(&r, path, &err) == 0);
    if (r) {
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == lim &&
              line[0] == 'x' && line[lim - 1] == 'x');
        CHECK(nh_reader_line(r, &line, &len, &err) == NH_ETOOBIG &&
              len == lim && line[0] == 'y' && line[lim - 1] == 'y');
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 2 &&
              !memcmp(line, "ok", 2));
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        nh_reader_close(r);
    }
    unlink(path);
    free(buf);
}

/* Read all lines of a file holding enc; the final code. */
static int
read_encoded(const char *name, const void *enc, size_t len,
             struct nh_error *err, size_t *nlines)
{
    struct strbuf got = STRBUF_INIT;
    char path[256];
    size_t i;
    int rc;

    tpath(path, sizeof(path), name);
    if (write_file(path, enc, len) < 0)
        return -100;
    rc = read_until_end(path, 0, &got, err);
    if (nlines) {
        *nlines = 0;
        for (i = 0; i < got.len; i++)
            *nlines += got.buf[i] == '|';
    }
    if (rc < 0 && !strstr(err->msg, path)) {
        printf("  message without the path: %s\n", err->msg);
        rc = -101;
    }
    unlink(path);
    strbuf_release(&got);
    return rc;
}

static void
gen_text(struct strbuf *out, size_t lines)
{
    size_t i;

    for (i = 0; i < lines; i++)
        strbuf_addf(out, "{\"id\":%zu,\"text\":\"line %zu %zu\"}\n", i,
                    i * 2654435761u % 1000003, i * i);
}

TEST(corrupt_gzip)
{
    struct strbuf text = STRBUF_INIT, gz = STRBUF_INIT;
    struct nh_error err = {0, ""};
    size_t lines;

    gen_text(&text, 20000);
    CHECK(gz_append(&gz, text.buf, text.len) == 0);
    CHECK(read_encoded("ok.gz", gz.buf, gz.len, &err, &lines) == 0);
    CHECK(lines == 20000);

    /* a damaged byte in the deflate data */
    gz.buf[gz.len / 2] ^= 0x55;
    err.code = 0;
    CHECK(read_encoded("bad.gz", gz.buf, gz.len, &err, NULL) == NH_EFORMAT);
    CHECK(err.code == NH_EFORMAT);
    gz.buf[gz.len / 2] ^= 0x55;

    /* a damaged CRC in the trailer */
    gz.buf[gz.len - 6] ^= 1;
    CHECK(read_encoded("crc.gz", gz.buf, gz.len, &err, NULL) == NH_EFORMAT);
    gz.buf[gz.len - 6] ^= 1;
    /* a damaged length in the trailer */
    gz.buf[gz.len - 1] ^= 1;
    CHECK(read_encoded("isize.gz", gz.buf, gz.len, &err, NULL) == NH_EFORMAT);
    gz.buf[gz.len - 1] ^= 1;
    /* a bad header: compression method 9 */
    gz.buf[2] = 9;
    CHECK(read_encoded("hdr.gz", gz.buf, gz.len, &err, NULL) == NH_EFORMAT);
    gz.buf[2] = 8;
    /* garbage after a complete member */
    strbuf_addstr(&gz, "garbage");
    CHECK(read_encoded("tail.gz", gz.buf, gz.len, &err, NULL) == NH_EFORMAT);
    strbuf_release(&text);
    strbuf_release(&gz);
}

TEST(truncated_gzip)
{
    struct strbuf text = STRBUF_INIT, gz = STRBUF_INIT;
    struct nh_error err = {0, ""};
    size_t cuts[6], k;

    gen_text(&text, 20000);
    CHECK(gz_append(&gz, text.buf, text.len) == 0);
    cuts[0] = gz.len - 1; /* inside the trailer */
    cuts[1] = gz.len - 4; /* the CRC but no length */
    cuts[2] = gz.len - 8; /* no trailer at all */
    cuts[3] = gz.len / 2; /* mid-stream */
    cuts[4] = 10;         /* the header only */
    cuts[5] = 3;          /* part of the header */
    for (k = 0; k < 6; k++) {
        err.code = 0;
        if (read_encoded("cut.gz", gz.buf, cuts[k], &err, NULL) != NH_EFORMAT) {
            printf("  cut at %zu of %zu\n", cuts[k], gz.len);
            CHECK(0);
        }
        CHECK(err.code == NH_EFORMAT);
    }
    /* a second member cut short */
    {
        size_t whole = gz.len;

        CHECK(gz_append(&gz, "more\n", 5) == 0);
        CHECK(read_encoded("two.gz", gz.buf, gz.len, &err, NULL) == 0);
        CHECK(read_encoded("two-cut.gz", gz.buf, gz.len - 3, &err, NULL) ==
              NH_EFORMAT);
        CHECK(read_encoded("two-magic.gz", gz.buf, whole + 2, &err, NULL) ==
              NH_EFORMAT);
    }
    strbuf_release(&text);
    strbuf_release(&gz);
}

TEST(corrupt_zstd)
{
    struct strbuf text = STRBUF_INIT, z = STRBUF_INIT;
    struct nh_error err = {0, ""};
    char path[256];
    size_t lines;

    gen_text(&text, 20000);
    /* written by nh_writer, so the frames carry a checksum */
    tpath(path, sizeof(path), "w.zst");
    CHECK(writer_file(path, text.buf, text.len, 3) == 0);
    CHECK(slurp(path, &z) == 0);
    unlink(path);
    CHECK(read_encoded("ok.zst", z.buf, z.len, &err, &lines) == 0);
    CHECK(lines == 20000);

    z.buf[z.len / 2] ^= 0x55;
    err.code = 0;
    CHECK(read_encoded("bad.zst", z.buf, z.len, &err, NULL) == NH_EFORMAT);
    CHECK(err.code == NH_EFORMAT);
    z.buf[z.len / 2] ^= 0x55;
    /* a damaged checksum */
    z.buf[z.len - 1] ^= 1;
    CHECK(read_encoded("sum.zst", z.buf, z.len, &err, NULL) == NH_EFORMAT);
    z.buf[z.len - 1] ^= 1;
    /* the magic number followed by garbage */
    CHECK(read_encoded("junk.zst", "\x28\xb5\x2f\xfd\xff\xff\xff\xff\xff", 9,
                       &err, NULL) == NH_EFORMAT);
    /* truncated: inside the checksum, mid-frame, just the magic */
    CHECK(read_encoded("cut1.zst", z.buf, z.len - 1, &err, NULL) == NH_EFORMAT);
    CHECK(read_encoded("cut2.zst", z.buf, z.len / 2, &err, NULL) == NH_EFORMAT);
    CHECK(read_encoded("cut3.zst", z.buf, 4, &err, NULL) == NH_EFORMAT);

    /* a frame from libzstd without a checksum, truncated */
    strbuf_reset(&z);
    CHECK(zstd_append(&z, text.buf, text.len) == 0);
    CHECK(read_encoded("d.zst", z.buf, z.len, &err, &lines) == 0);
    CHECK(lines == 20000);
    CHECK(read_encoded("dcut.zst", z.buf, z.len - 1, &err, NULL) == NH_EFORMAT);
    /* garbage after a complete frame */
    strbuf_addstr(&z, "garbage");
    CHECK(read_encoded("dtail.zst", z.buf, z.len, &err, NULL) == NH_EFORMAT);
    strbuf_release(&text);
    strbuf_release(&z);
}

TEST(reader_all)
{
    struct strbuf text = STRBUF_INIT;
    int f, bad = 0;

    gen_text(&text, 30000); /* over 1 MiB */
    for (f = 0; f < F_COUNT; f++) {
        struct strbuf out = STRBUF_INIT;
        struct nh_reader *r = NULL;
        struct nh_error err = {0, ""};
        char path[256];

        if (make_file(path, sizeof(path), "all", text.buf, text.len, f) < 0) {
            bad++;
            continue;
        }
        /* exactly the limit */
        CHECK(nh_reader_open(&r, path, &err) == 0);
        CHECK(nh_reader_all(r, &out, text.len, &err) == 0);
        CHECK(out.len == text.len && !memcmp(out.buf, text.buf, text.len));
        nh_reader_close(r);
        /* one byte short */
        strbuf_reset(&out);
        err.code = 0;
        CHECK(nh_reader_open(&r, path, &err) == 0);
        CHECK(nh_reader_all(r, &out, text.len - 1, &err) == NH_ETOOBIG);
        CHECK(err.code == NH_ETOOBIG && strstr(err.msg, path));
        CHECK(out.len < text.len);
        nh_reader_close(r);
        /* the limit counts only what this call appends */
        strbuf_reset(&out);
        strbuf_addstr(&out, "prefix:");
        CHECK(nh_reader_open(&r, path, &err) == 0);
        CHECK(nh_reader_all(r, &out, text.len, &err) == 0);
        CHECK(out.len == text.len + 7 &&
              !memcmp(out.buf + 7, text.buf, text.len));
        nh_reader_close(r);
        unlink(path);
        strbuf_release(&out);
    }
    CHECK(bad == 0);
    strbuf_release(&text);
}

TEST(reader_all_after_lines)
{
    struct strbuf out = STRBUF_INIT;
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    const char *line;
    size_t len;
    char path[256];

    CHECK(make_file(path, sizeof(path), "mix", "one\ntwo\nthree", 13, F_GZ) ==
          0);
    CHECK(nh_reader_open(&r, path, &err) == 0);
    if (r) {
        CHECK(nh_reader_line(r, &line, &len, &err) == 1 && len == 3);
        CHECK(nh_reader_all(r, &out, 100, &err) == 0);
        CHECK_STR(strbuf_str(&out), "two\nthree");
        CHECK(nh_reader_line(r, &line, &len, &err) == 0);
        nh_reader_close(r);
    }
    unlink(path);
    strbuf_release(&out);
}

TEST(missing_file)
{
    struct nh_reader *r = NULL;
    struct nh_error err = {0, ""};
    char path[256];

    tpath(path, sizeof(path), "no-such-file.jsonl");
    CHECK(nh_reader_open(&r, path, &err) == NH_EIO);
    CHECK(r == NULL);
    CHECK(err.code == NH_EIO);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, strerror(ENOENT)) != NULL);
    /* without an error struct */
    CHECK(nh_reader_open(&r, path, NULL) == NH_EIO);
    /* a directory opens but cannot be read */
    err.code = 0;
    CHECK(nh_reader_open(&r, tmpdir, &err) == NH_EIO);
    CHECK(r == NULL && strstr(err.msg, tmpdir) != NULL);
    nh_reader_close(NULL);
}

TEST(writer_commit)
{
    struct nh_writer *w = NULL;
    struct nh_error err = {0, ""};
    struct strbuf got = STRBUF_INIT;
    char path[256], tmp[300];

    tpath(path, sizeof(path), "out.jsonl");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(nh_writer_open(&w, path, 0, &err) == 0);
    if (!w)
        return;
    CHECK(exists(tmp));
    CHECK(!exists(path));
    CHECK(nh_writer_bytes(w) == 0);
    CHECK(nh_writer_write(w, "a\n", 2, &err) == 0);
    CHECK(nh_writer_write(w, "", 0, &err) == 0);
    CHECK(nh_writer_write(w, "bc\n", 3, &err) == 0);
    CHECK(nh_writer_bytes(w) == 5);
    CHECK(!exists(path));
    CHECK(nh_writer_commit(w, &err) == 0);
    CHECK(exists(path));
    CHECK(!exists(tmp));
    CHECK(slurp(path, &got) == 0);
    CHECK_STR(strbuf_str(&got), "a\nbc\n");

    /* commit replaces an existing file */
    w = NULL;
    CHECK(nh_writer_open(&w, path, 0, &err) == 0);
    if (w) {
        CHECK(nh_writer_write(w, "new\n", 4, &err) == 0);
        CHECK(nh_writer_commit(w, &err) == 0);
    }
    strbuf_reset(&got);
    CHECK(slurp(path, &got) == 0);
    CHECK_STR(strbuf_str(&got), "new\n");
    CHECK(!exists(tmp));
    unlink(path);
    strbuf_release(&got);
}

TEST(writer_abort)
{
    struct nh_writer *w = NULL;
    struct nh_error err = {0, ""};
    struct strbuf got = STRBUF_INIT;
    char path[256], tmp[300];

    tpath(path, sizeof(path), "aborted.jsonl");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(nh_writer_open(&w, path, 3, &err) == 0);
    if (!w)
        return;
    CHECK(nh_writer_write(w, "data\n", 5, &err) == 0);
    nh_writer_abort(w);
    CHECK(!exists(tmp));
    CHECK(!exists(path));
    nh_writer_abort(NULL);

    /* an abort leaves an existing final file alone */
    CHECK(write_file(path, "keep\n", 5) == 0);
    w = NULL;
    CHECK(nh_writer_open(&w, path, 0, &err) == 0);
    if (w) {
        CHECK(nh_writer_write(w, "other\n", 6, &err) == 0);
        nh_writer_abort(w);
    }
    CHECK(!exists(tmp));
    CHECK(slurp(path, &got) == 0);
    CHECK_STR(strbuf_str(&got), "keep\n");
    unlink(path);
    strbuf_release(&got);
}

TEST(writer_open_fails)
{
    struct nh_writer *w = NULL;
    struct nh_error err = {0, ""};
    char path[256];

    tpath(path, sizeof(path), "no-such-dir/out.jsonl");
    CHECK(nh_writer_open(&w, path, 0, &err) == NH_EIO);
    CHECK(w == NULL);
    CHECK(err.code == NH_EIO && strstr(err.msg, "out.jsonl.tmp") != NULL);
    CHECK(nh_writer_open(&w, path, 5, NULL) == NH_EIO);
    CHECK(w == NULL);
}

TEST(writer_commit_fails)
{
    struct nh_writer *w = NULL;
    struct nh_error err = {0, ""};
    char path[256], tmp[300];

    /* the temp file vanished: the rename fails, w is freed all the same */
    tpath(path, sizeof(path), "vanish.jsonl");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(nh_writer_open(&w, path, 0, &err) == 0);
    if (!w)
        return;
    CHECK(nh_writer_write(w, "x\n", 2, &err) == 0);
    CHECK(unlink(tmp) == 0);
    CHECK(nh_writer_commit(w, &err) == NH_EIO);
    CHECK(strstr(err.msg, tmp) != NULL);
    CHECK(!exists(path) && !exists(tmp));
}

TEST(writer_large_plain_and_zstd)
{
    /* well over the 256 KiB write buffer, in uneven pieces */
    static const int levels[] = {0, 1, 3};
    struct strbuf text = STRBUF_INIT;
    size_t i;

    gen_text(&text, 60000);
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        struct strbuf raw = STRBUF_INIT, all = STRBUF_INIT;
        struct nh_reader *r = NULL;
        struct nh_error err = {0, ""};
        char path[256];

        tpath(path, sizeof(path), "large.out");
        CHECK(writer_file(path, text.buf, text.len, levels[i]) == 0);
        CHECK(slurp(path, &raw) == 0);
        if (levels[i] == 0) {
            CHECK(raw.len == text.len && !memcmp(raw.buf, text.buf, text.len));
        } else {
            /* a zstd file that libzstd itself decodes, smaller than the
             * input */
            char *dec = malloc(text.len + 1);
            size_t n;

            CHECK(raw.len >= 4 && !memcmp(raw.buf, "\x28\xb5\x2f\xfd", 4));
            CHECK(raw.len < text.len / 2);
            CHECK(dec != NULL);
            if (dec) {
                n = ZSTD_decompress(dec, text.len + 1, raw.buf, raw.len);
                CHECK(!ZSTD_isError(n) && n == text.len &&
                      !memcmp(dec, text.buf, text.len));
                free(dec);
            }
        }
        CHECK(nh_reader_open(&r, path, &err) == 0);
        if (r) {
            CHECK(nh_reader_compression(r) ==
                  (levels[i] ? NH_COMP_ZSTD : NH_COMP_NONE));
            CHECK(nh_reader_all(r, &all, text.len, &err) == 0);
            CHECK(all.len == text.len && !memcmp(all.buf, text.buf, text.len));
            CHECK(nh_reader_raw_bytes(r) == raw.len);
            nh_reader_close(r);
        }
        unlink(path);
        strbuf_release(&raw);
        strbuf_release(&all);
    }
    strbuf_release(&text);
}

TEST(writer_zstd_roundtrip_lines)
{
    static const size_t sizes[] = {0, 1, 600000, 2, 524288, 3};
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    struct strbuf text = STRBUF_INIT;
    char path[256];

    gen_lines(&text, sizes, n, 1);
    tpath(path, sizeof(path), "rt.jsonl.zst");
    CHECK(writer_file(path, text.buf, text.len, 19) == 0);
    CHECK(verify_lines(path, sizes, n, 0, NH_COMP_ZSTD) == 0);
    unlink(path);
    /* an empty zstd shard is a valid, empty stream */
    CHECK(writer_file(path, "", 0, 3) == 0);
    CHECK(verify_lines(path, sizes, 0, 0, NH_COMP_ZSTD) == 0);
    unlink(path);
    strbuf_release(&text);
}

TEST(sync_parent_dir)
{
    char path[256];

    tpath(path, sizeof(path), "x");
    CHECK(nh_sync_parent_dir(path) == 0);
    CHECK(nh_sync_parent_dir("relative-name") == 0);
    CHECK(nh_sync_parent_dir("/no-such-dir-for-naohai/x") == NH_EIO);
}

/* Remove what a failed test may have left, then the directory. */
static int
cleanup(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    int left = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
        printf("  left behind: %s\n", path);
        unlink(path);
        left++;
    }
    closedir(d);
    if (rmdir(tmpdir) < 0)
        return -1;
    return left;
}

int
main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/nh-test-jsonl-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(small_all_formats);
    RUN(empty_lines_only);
    RUN(empty_files);
    RUN(single_newline);
    RUN(detect_by_magic);
    RUN(lines_across_buffers);
    RUN(last_big_line_without_newline);
    RUN(newline_at_boundaries);
    RUN(max_line_small);
    RUN(max_line_last_without_newline);
    RUN(max_line_across_refills);
    RUN(max_line_zero);
    RUN(max_line_default);
    RUN(corrupt_gzip);
    RUN(truncated_gzip);
    RUN(corrupt_zstd);
    RUN(reader_all);
    RUN(reader_all_after_lines);
    RUN(missing_file);
    RUN(writer_commit);
    RUN(writer_abort);
    RUN(writer_open_fails);
    RUN(writer_commit_fails);
    RUN(writer_large_plain_and_zstd);
    RUN(writer_zstd_roundtrip_lines);
    RUN(sync_parent_dir);
    if (cleanup() != 0) {
        printf("  temporary directory '%s' was not clean\n", tmpdir);
        test_failed++;
    }
    return test_summary();
}
