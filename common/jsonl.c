/* jsonl.c - streaming line reader (plain, gzip, zstd) and shard writer
 *
 * Reading goes file -> raw buffer -> (zlib or zstd) -> decoded buffer ->
 * lines. A line inside the decoded buffer is returned in place; only a
 * line that straddles two refills is copied into a side buffer. Writing
 * goes through a user-space buffer, optionally through a zstd stream.
 */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define RAW_SIZE (256 * 1024)
#define DEC_SIZE (512 * 1024)
#define DEFAULT_MAX_LINE ((size_t)64 << 20)

struct nh_reader {
    int fd;
    char *path;
    enum nh_compression comp;
    z_stream z;
    ZSTD_DCtx *zd;
    unsigned char *raw;
    size_t raw_pos, raw_len;
    int raw_eof;
    int dec_eof;
    int in_member; /* inside a gzip member or zstd frame */
    char *dec;
    size_t dec_pos, dec_len;
    struct strbuf line;
    size_t max_line;
    uint64_t lineno, raw_bytes;
};

static int
read_raw(struct nh_reader *r, struct nh_error *err)
{
    ssize_t n;

    if (r->raw_pos < r->raw_len || r->raw_eof)
        return 0;
    do {
        n = read(r->fd, r->raw, RAW_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return nh_error_errno(err, "cannot read '%s'", r->path);
    r->raw_pos = 0;
    r->raw_len = (size_t)n;
    r->raw_bytes += (uint64_t)n;
    if (n == 0)
        r->raw_eof = 1;
    return 0;
}

/* Refill r->dec from the current position; sets dec_eof at the end. */
static int
refill(struct nh_reader *r, struct nh_error *err)
{
    int rc;

    r->dec_pos = r->dec_len = 0;
    while (r->dec_len == 0 && !r->dec_eof) {
        /* plain files are read straight into dec, below */
        if (r->comp != NH_COMP_NONE && (rc = read_raw(r, err)) < 0)
            return rc;
        if (r->comp == NH_COMP_NONE) {
            ssize_t n;

            if (r->raw_pos < r->raw_len) {
                /* the block read at open to sniff the compression */
                n = (ssize_t)(r->raw_len - r->raw_pos);
                memcpy(r->dec, r->raw + r->raw_pos, (size_t)n);
                r->raw_pos = r->raw_len;
            } else {
                do {
                    n = read(r->fd, r->dec, DEC_SIZE);
                } while (n < 0 && errno == EINTR);
                if (n < 0)
                    return nh_error_errno(err, "cannot read '%s'", r->path);
                r->raw_bytes += (uint64_t)n;
            }
            if (n == 0) {
                r->raw_eof = r->dec_eof = 1;
                break;
            }
            r->dec_len = (size_t)n;
            continue;
        } else if (r->comp == NH_COMP_GZIP) {
            if (r->raw_eof && r->raw_pos >= r->raw_len) {
                if (r->in_member)
                    return nh_errorf(err, NH_EFORMAT,
                                     "'%s': truncated gzip data", r->path);
                r->dec_eof = 1;
                break;
            }
            r->in_member = 1;
            r->z.next_in = r->raw + r->raw_pos;
            r->z.avail_in = (uInt)(r->raw_len - r->raw_pos);
            r->z.next_out = (unsigned char *)r->dec;
            r->z.avail_out = DEC_SIZE;
            rc = inflate(&r->z, Z_NO_FLUSH);
            r->raw_pos = r->raw_len - r->z.avail_in;
            r->dec_len = DEC_SIZE - r->z.avail_out;
            if (rc == Z_STREAM_END) {
                /* concatenated gzip members: start the next one */
                inflateReset(&r->z);
                r->in_member = 0;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                return nh_errorf(err, NH_EFORMAT, "'%s': corrupt gzip data",
                                 r->path);
            }
        } else {
            ZSTD_inBuffer in = {r->raw, r->raw_len, r->raw_pos};
            ZSTD_outBuffer out = {r->dec, DEC_SIZE, 0};
            size_t zr;

            if (r->raw_eof && r->raw_pos >= r->raw_len) {
                if (r->in_member)
                    return nh_errorf(err, NH_EFORMAT,
                                     "'%s': truncated zstd data", r->path);
                r->dec_eof = 1;
                break;
            }
            zr = ZSTD_decompressStream(r->zd, &out, &in);
            if (ZSTD_isError(zr))
                return nh_errorf(err, NH_EFORMAT, "'%s': corrupt zstd data: %s",
                                 r->path, ZSTD_getErrorName(zr));
            /* zr == 0: a frame ended exactly here */
            r->in_member = zr != 0;
            r->raw_pos = in.pos;
            r->dec_len = out.pos;
        }
    }
    return 0;
}

int
nh_reader_open(struct nh_reader **out, const char *path, struct nh_error *err)
{
    struct nh_reader *r;
    int rc = NH_ENOMEM;

    r = calloc(1, sizeof(*r));
    if (!r)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    r->fd = -1;
    r->max_line = DEFAULT_MAX_LINE;
    r->path = strdup(path);
    r->raw = malloc(RAW_SIZE);
    r->dec = malloc(DEC_SIZE);
    if (!r->path || !r->raw || !r->dec) {
        nh_errorf(err, rc, "out of memory");
        goto fail;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = nh_error_errno(err, "cannot open '%s'", path);
        goto fail;
    }
    if ((rc = read_raw(r, err)) < 0)
        goto fail;
    if (r->raw_len >= 2 && r->raw[0] == 0x1f && r->raw[1] == 0x8b) {
        r->comp = NH_COMP_GZIP;
        if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto fail;
        }
    } else if (r->raw_len >= 4 && !memcmp(r->raw, "\x28\xb5\x2f\xfd", 4)) {
        r->comp = NH_COMP_ZSTD;
        r->zd = ZSTD_createDCtx();
        if (!r->zd) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = r;
    return 0;
fail:
    nh_reader_close(r);
    return rc;
}

void
nh_reader_set_max_line(struct nh_reader *r, size_t max)
{
    r->max_line = max;
}

int
nh_reader_line(struct nh_reader *r, const char **line, size_t *len,
               struct nh_error *err)
{
    int rc, over = 0;

    strbuf_reset(&r->line);
    for (;;) {
        char *start, *nl;
        size_t avail;

        if (r->dec_pos >= r->dec_len) {
            if (r->dec_eof)
                break;
            if ((rc = refill(r, err)) < 0)
                return rc;
            continue;
        }
        start = r->dec + r->dec_pos;
        avail = r->dec_len - r->dec_pos;
        nl = memchr(start, '\n', avail);
        if (nl) {
            size_t n = (size_t)(nl - start);

            r->dec_pos += n + 1;
            r->lineno++;
            if (r->line.len == 0 && !over) {
                if (n > r->max_line) {
                    *line = start;
                    *len = r->max_line;
                    return NH_ETOOBIG;
                }
                *line = start;
                *len = n;
                return 1;
            }
            if (!over && r->line.len + n > r->max_line) {
                n = r->max_line - r->line.len;
                over = 1;
            }
            if (!over || r->line.len < r->max_line)
                if ((rc = strbuf_add(&r->line, start, n)) < 0)
                    return nh_errorf(err, rc, "out of memory");
            *line = strbuf_str(&r->line);
            *len = r->line.len;
            return over ? NH_ETOOBIG : 1;
        }
        /* no newline in the buffer: keep what fits the limit */
        if (!over) {
            size_t take = avail;

            if (r->line.len + take > r->max_line) {
                take = r->max_line - r->line.len;
                over = 1;
            }
            if ((rc = strbuf_add(&r->line, start, take)) < 0)
                return nh_errorf(err, rc, "out of memory");
        }
        r->dec_pos = r->dec_len;
    }
    /* end of input: a last line without '\n' */
    if (r->line.len == 0 && !over)
        return 0;
    r->lineno++;
    *line = strbuf_str(&r->line);
    *len = r->line.len;
    return over ? NH_ETOOBIG : 1;
}

int
nh_reader_all(struct nh_reader *r, struct strbuf *out, size_t max,
              struct nh_error *err)
{
    size_t start = out->len;
    int rc;

    for (;;) {
        size_t avail = r->dec_len - r->dec_pos;

        if (avail) {
            if (out->len - start + avail > max)
                return nh_errorf(err, NH_ETOOBIG,
                                 "'%s' is larger than %zu bytes", r->path, max);
            if ((rc = strbuf_add(out, r->dec + r->dec_pos, avail)) < 0)
                return nh_errorf(err, rc, "out of memory");
            r->dec_pos = r->dec_len;
        }
        if (r->dec_eof)
            return 0;
        if ((rc = refill(r, err)) < 0)
            return rc;
    }
}

enum nh_compression
nh_reader_compression(const struct nh_reader *r)
{
    return r->comp;
}

uint64_t
nh_reader_lineno(const struct nh_reader *r)
{
    return r->lineno;
}

uint64_t
nh_reader_raw_bytes(const struct nh_reader *r)
{
    return r->raw_bytes;
}

void
nh_reader_close(struct nh_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->comp == NH_COMP_GZIP)
        inflateEnd(&r->z);
    ZSTD_freeDCtx(r->zd);
    strbuf_release(&r->line);
    free(r->raw);
    free(r->dec);
    free(r->path);
    free(r);
}

struct nh_writer {
    int fd;
    char *path, *tmp;
    ZSTD_CCtx *zc;
    char *buf; /* pending uncompressed bytes */
    size_t len;
    char *zbuf;
    size_t zcap;
    uint64_t bytes;
    bool write_behind;
    off_t on_disk, kicked; /* file bytes written; writeback started */
};

#define WBUF_SIZE (256 * 1024)

static int
write_all(struct nh_writer *w, const void *p, size_t n, struct nh_error *err)
{
    const char *s = p;

    while (n) {
        ssize_t k = write(w->fd, s, n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return nh_error_errno(err, "cannot write '%s'", w->tmp);
        s += k;
        n -= (size_t)k;
        w->on_disk += k;
    }
    if (w->write_behind && w->on_disk - w->kicked >= (8 << 20)) {
        /* a hint: failure only means the fsync will wait longer */
        sync_file_range(w->fd, w->kicked, w->on_disk - w->kicked,
                        SYNC_FILE_RANGE_WRITE);
        w->kicked = w->on_disk;
    }
    return 0;
}

void
nh_writer_write_behind(struct nh_writer *w)
{
    w->write_behind = true;
}

static int
writer_flush(struct nh_writer *w, int end, struct nh_error *err)
{
    ZSTD_inBuffer in = {w->buf, w->len, 0};
    int rc;

    if (!w->zc) {
        rc = write_all(w, w->buf, w->len, err);
        w->len = 0;
        return rc;
    }
    for (;;) {
        ZSTD_outBuffer out = {w->zbuf, w->zcap, 0};
        size_t left = ZSTD_compressStream2(w->zc, &out, &in,
                                           end ? ZSTD_e_end : ZSTD_e_continue);

        if (ZSTD_isError(left))
            return nh_errorf(err, NH_EIO, "cannot compress '%s': %s", w->tmp,
                             ZSTD_getErrorName(left));
        if ((rc = write_all(w, w->zbuf, out.pos, err)) < 0)
            return rc;
        if (end ? left == 0 : in.pos == in.size)
            break;
    }
    w->len = 0;
    return 0;
}

static void
writer_free(struct nh_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    ZSTD_freeCCtx(w->zc);
    free(w->buf);
    free(w->zbuf);
    free(w->path);
    free(w->tmp);
    free(w);
}

int
nh_writer_open(struct nh_writer **out, const char *path, int zstd_level,
               struct nh_error *err)
{
    struct nh_writer *w = calloc(1, sizeof(*w));
    struct strbuf tmp = STRBUF_INIT;

    if (!w)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    w->fd = -1;
    if (strbuf_addf(&tmp, "%s.tmp", path) < 0)
        goto nomem;
    w->tmp = strbuf_detach(&tmp, NULL);
    w->path = strdup(path);
    w->buf = malloc(WBUF_SIZE);
    if (!w->tmp || !w->path || !w->buf)
        goto nomem;
    if (zstd_level > 0) {
        w->zc = ZSTD_createCCtx();
        w->zcap = ZSTD_CStreamOutSize();
        w->zbuf = malloc(w->zcap);
        if (!w->zc || !w->zbuf)
            goto nomem;
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, zstd_level);
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);
    }
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = nh_error_errno(err, "cannot create '%s'", w->tmp);

        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
nomem:
    writer_free(w);
    return nh_errorf(err, NH_ENOMEM, "out of memory");
}

int
nh_writer_write(struct nh_writer *w, const void *data, size_t len,
                struct nh_error *err)
{
    const char *p = data;
    int rc;

    w->bytes += len;
    while (len) {
        size_t n = WBUF_SIZE - w->len;

        if (n > len)
            n = len;
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        p += n;
        len -= n;
        if (w->len == WBUF_SIZE && (rc = writer_flush(w, 0, err)) < 0)
            return rc;
    }
    return 0;
}

uint64_t
nh_writer_bytes(const struct nh_writer *w)
{
    return w->bytes;
}

int
nh_sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    struct strbuf dir = STRBUF_INIT;
    int fd, rc = 0;

    if (!slash)
        rc = strbuf_addch(&dir, '.');
    else
        rc = strbuf_add(&dir, path, slash == path ? 1 : (size_t)(slash - path));
    if (rc < 0)
        return rc;
    fd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    strbuf_release(&dir);
    if (fd < 0)
        return NH_EIO;
    if (fsync(fd) < 0)
        rc = NH_EIO;
    close(fd);
    return rc;
}

static int
writer_commit(struct nh_writer *w, bool sync, struct nh_error *err)
{
    int rc;

    if ((rc = writer_flush(w, 1, err)) < 0)
        goto fail;
    if (sync && fsync(w->fd) < 0) {
        rc = nh_error_errno(err, "cannot sync '%s'", w->tmp);
        goto fail;
    }
    if (close(w->fd) < 0) {
        w->fd = -1;
        rc = nh_error_errno(err, "cannot close '%s'", w->tmp);
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s'", w->tmp);
        goto fail;
    }
    if (sync)
        nh_sync_parent_dir(w->path);
    writer_free(w);
    return 0;
fail:
    unlink(w->tmp);
    writer_free(w);
    return rc;
}

int
nh_writer_commit(struct nh_writer *w, struct nh_error *err)
{
    return writer_commit(w, true, err);
}

int
nh_writer_commit_nosync(struct nh_writer *w, struct nh_error *err)
{
    return writer_commit(w, false, err);
}

void
nh_writer_abort(struct nh_writer *w)
{
    if (!w)
        return;
    unlink(w->tmp);
    writer_free(w);
}
