/* tokshard.c - writing and reading token shards
 *
 * The writer streams tokens into PATH.tmp through a block buffer while
 * hashing them (XXH3-64), then fills in the header, fsyncs and renames.
 * The reader maps the file read-only and checks the header against the
 * file size before handing out tokens, so a truncated or foreign file is
 * refused, never read past its end. tokshard.h has the format.
 */
#include "tokshard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "jsonl.h"
#include "strbuf.h"

#define WBUF 65536

uint32_t
tokshard_width(uint32_t vocab)
{
    return vocab <= 65536 ? 2 : 4;
}

static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void
put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

struct tokshard_writer {
    int fd;
    char *path, *tmp;
    struct tokshard_info info;
    XXH3_state_t *hs;
    unsigned char buf[WBUF];
    size_t nbuf;
};

static void
writer_free(struct tokshard_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    XXH3_freeState(w->hs);
    free(w->path);
    free(w->tmp);
    free(w);
}

void
tokshard_writer_abort(struct tokshard_writer *w)
{
    if (!w)
        return;
    unlink(w->tmp);
    writer_free(w);
}

static int
write_all(int fd, const void *p, size_t n, off_t at)
{
    const char *c = p;
    ssize_t k;

    while (n > 0) {
        k = pwrite(fd, c, n, at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return NH_EIO;
        c += k, n -= (size_t)k, at += k;
    }
    return 0;
}

int
tokshard_writer_open(struct tokshard_writer **out, const char *path,
                     uint32_t vocab, uint32_t eot, uint64_t tok_hash,
                     struct nh_error *err)
{
    struct tokshard_writer *w;
    struct strbuf sb = STRBUF_INIT;

    if (vocab == 0 || eot >= vocab)
        return nh_errorf(err, NH_EINVAL,
                         "bad vocabulary size %u or "
                         "end-of-text id %u",
                         vocab, eot);
    w = calloc(1, sizeof(*w));
    if (!w || strbuf_addf(&sb, "%s.tmp", path) < 0) {
        free(w);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    w->fd = -1;
    w->tmp = strbuf_detach(&sb, NULL);
    w->path = strdup(path);
    w->hs = XXH3_createState();
    if (!w->tmp || !w->path || !w->hs) {
        writer_free(w);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    XXH3_64bits_reset(w->hs);
    w->info.version = TOKSHARD_VERSION;
    w->info.vocab = vocab;
    w->info.width = tokshard_width(vocab);
    w->info.eot = eot;
    w->info.tokenizer_hash = tok_hash;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        nh_error_errno(err, "cannot create '%s'", w->tmp);
        writer_free(w);
        return NH_EIO;
    }
    *out = w;
    return 0;
}

static int
writer_flush(struct tokshard_writer *w, struct nh_error *err)
{
    off_t at = TOKSHARD_HEADER + (off_t)(w->info.tokens * w->info.width) -
               (off_t)w->nbuf;

    if (!w->nbuf)
        return 0;
    XXH3_64bits_update(w->hs, w->buf, w->nbuf);
    if (write_all(w->fd, w->buf, w->nbuf, at) < 0)
        return nh_error_errno(err, "cannot write '%s'", w->tmp);
    w->nbuf = 0;
    return 0;
}

static int
writer_put(struct tokshard_writer *w, uint32_t id, struct nh_error *err)
{
    int rc;

    if (id >= w->info.vocab)
        return nh_errorf(err, NH_EINVAL,
                         "token id %u out of range "
                         "(vocabulary %u)",
                         id, w->info.vocab);
    if (w->nbuf + 4 > WBUF) {
        if ((rc = writer_flush(w, err)) < 0)
            return rc;
    }
    if (w->info.width == 2) {
        w->buf[w->nbuf++] = (unsigned char)id;
        w->buf[w->nbuf++] = (unsigned char)(id >> 8);
    } else {
        put32(w->buf + w->nbuf, id);
        w->nbuf += 4;
    }
    w->info.tokens++;
    return 0;
}

int
tokshard_writer_doc(struct tokshard_writer *w, const uint32_t *ids, size_t n,
                    struct nh_error *err)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++)
        if ((rc = writer_put(w, ids[i], err)) < 0)
            return rc;
    if ((rc = writer_put(w, w->info.eot, err)) < 0)
        return rc;
    w->info.documents++;
    return 0;
}

int
tokshard_writer_commit(struct tokshard_writer *w, struct tokshard_info *info,
                       struct nh_error *err)
{
    unsigned char h[TOKSHARD_HEADER];
    int rc;

    if ((rc = writer_flush(w, err)) < 0)
        goto fail;
    w->info.payload_hash = XXH3_64bits_digest(w->hs);
    memset(h, 0, sizeof(h));
    memcpy(h, TOKSHARD_MAGIC, 8);
    put32(h + 8, w->info.version);
    put32(h + 12, TOKSHARD_HEADER);
    put32(h + 16, w->info.vocab);
    put32(h + 20, w->info.width);
    put32(h + 24, w->info.eot);
    put32(h + 28, 0);
    put64(h + 32, w->info.tokens);
    put64(h + 40, w->info.documents);
    put64(h + 48, w->info.payload_hash);
    put64(h + 56, w->info.tokenizer_hash);
    if (write_all(w->fd, h, sizeof(h), 0) < 0 || fsync(w->fd) < 0) {
        rc = nh_error_errno(err, "cannot write '%s'", w->tmp);
        goto fail;
    }
    if (close(w->fd) < 0) {
        w->fd = -1;
        rc = nh_error_errno(err, "cannot write '%s'", w->tmp);
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) < 0) {
        rc = nh_error_errno(err, "cannot rename '%s'", w->tmp);
        goto fail;
    }
    nh_sync_parent_dir(w->path);
    if (info)
        *info = w->info;
    writer_free(w);
    return 0;
fail:
    tokshard_writer_abort(w);
    return rc;
}

struct tokshard {
    struct tokshard_info info;
    unsigned char *map;
    size_t len;
};

int
tokshard_open(struct tokshard **out, const char *path, int verify,
              struct nh_error *err)
{
    struct tokshard *s;
    struct stat st;
    const unsigned char *h;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nh_error_errno(err, "cannot open '%s'", path);
    if (fstat(fd, &st) < 0) {
        rc = nh_error_errno(err, "cannot stat '%s'", path);
        close(fd);
        return rc;
    }
    if (st.st_size < TOKSHARD_HEADER) {
        close(fd);
        return nh_errorf(err, NH_ECORRUPT, "'%s': not a token shard", path);
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    s->len = (size_t)st.st_size;
    s->map = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (s->map == MAP_FAILED) {
        free(s);
        return nh_error_errno(err, "cannot map '%s'", path);
    }
    h = s->map;
    s->info.version = get32(h + 8);
    s->info.vocab = get32(h + 16);
    s->info.width = get32(h + 20);
    s->info.eot = get32(h + 24);
    s->info.tokens = get64(h + 32);
    s->info.documents = get64(h + 40);
    s->info.payload_hash = get64(h + 48);
    s->info.tokenizer_hash = get64(h + 56);
    if (memcmp(h, TOKSHARD_MAGIC, 8)) {
        rc = nh_errorf(err, NH_ECORRUPT, "'%s': not a token shard", path);
    } else if (s->info.version != TOKSHARD_VERSION ||
               get32(h + 12) != TOKSHARD_HEADER) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s': token shard version %u (this is version %d)",
                       path, s->info.version, TOKSHARD_VERSION);
    } else if (s->info.width != tokshard_width(s->info.vocab) ||
               s->info.eot >= s->info.vocab ||
               s->info.tokens > (s->len - TOKSHARD_HEADER) / s->info.width ||
               TOKSHARD_HEADER + s->info.tokens * s->info.width != s->len) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s': header does not match the file (truncated?)",
                       path);
    } else if (verify &&
               XXH3_64bits(s->map + TOKSHARD_HEADER,
                           s->len - TOKSHARD_HEADER) != s->info.payload_hash) {
        rc = nh_errorf(err, NH_ECORRUPT, "'%s': checksum mismatch", path);
    }
    if (rc < 0) {
        tokshard_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

const struct tokshard_info *
tokshard_info(const struct tokshard *s)
{
    return &s->info;
}

int
tokshard_read(const struct tokshard *s, uint64_t start, size_t n, uint32_t *out)
{
    const unsigned char *p;
    size_t i;

    if (start > s->info.tokens || n > s->info.tokens - start)
        return NH_EINVAL;
    p = s->map + TOKSHARD_HEADER + start * s->info.width;
    if (s->info.width == 2)
        for (i = 0; i < n; i++)
            out[i] = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
    else
        for (i = 0; i < n; i++)
            out[i] = get32(p + 4 * i);
    return 0;
}

void
tokshard_close(struct tokshard *s)
{
    if (!s)
        return;
    munmap(s->map, s->len);
    free(s);
}
