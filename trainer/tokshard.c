/* tokshard.c - writing and reading token shards
 *
 * The writer streams tokens into PATH.tmp through a block buffer while
 * hashing them (XXH3-64), then fills in the header, fsyncs and renames.
 * The reader maps the file read-only and checks the header against the
 * file size before handing out tokens, so a truncated or foreign file is
 * refused, never read past its end. A tokdir is a tokenized directory:
 * its manifest checked against the shards, read as one token sequence.
 * tokshard.h has the format.
 */
#include "tokshard.h"

#include <cjson/cJSON.h>
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

/* ---------------------------------------------------------------- */
/* A directory of shards                                             */

struct tokdir {
    struct tokshard **shards;
    uint64_t *first; /* global index of each shard's first token */
    size_t n;
    uint64_t tokens, documents;
    uint32_t vocab;
};

void
tokdir_close(struct tokdir *d)
{
    size_t i;

    if (!d)
        return;
    for (i = 0; i < d->n; i++)
        tokshard_close(d->shards[i]);
    free(d->shards);
    free(d->first);
    free(d);
}

/* A non-negative integer member of o, or -1. */
static double
json_count(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : -1;
}

static int
tokdir_check_shard(struct tokdir *d, const char *dir, const cJSON *sh,
                   uint64_t tok_lo, int verify, struct nh_error *err)
{
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(sh, "file");
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(sh, "payload_xxh3");
    struct strbuf path = STRBUF_INIT;
    struct tokshard *s = NULL;
    const struct tokshard_info *in;
    char hex[17];
    int rc;

    if (!cJSON_IsString(file) || strchr(file->valuestring, '/') ||
        !cJSON_IsString(ph))
        return nh_errorf(err, NH_ECORRUPT,
                         "'%s/manifest.json': bad shard entry %zu", dir, d->n);
    if (strbuf_addf(&path, "%s/%s", dir, file->valuestring) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    rc = tokshard_open(&s, path.buf, verify, err);
    if (rc < 0)
        goto out;
    in = tokshard_info(s);
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)in->payload_hash);
    if ((double)in->tokens != json_count(sh, "tokens") ||
        (double)in->documents != json_count(sh, "documents") ||
        strcmp(hex, ph->valuestring) || in->vocab != d->vocab ||
        in->tokenizer_hash != tok_lo) {
        rc = nh_errorf(err, NH_ECORRUPT, "'%s' does not match the manifest",
                       path.buf);
        goto out;
    }
    d->shards[d->n] = s;
    d->first[d->n] = d->tokens;
    d->n++;
    d->tokens += in->tokens;
    d->documents += in->documents;
    s = NULL;
out:
    tokshard_close(s);
    strbuf_release(&path);
    return rc;
}

int
tokdir_open(struct tokdir **out, const char *dir, int verify,
            struct nh_error *err)
{
    struct nh_reader *rd = NULL;
    struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
    cJSON *m = NULL;
    const cJSON *fmt, *tok, *shards, *sh, *hash;
    struct tokdir *d = NULL;
    uint64_t tok_lo = 0;
    size_t ns;
    int rc;

    if (strbuf_addf(&path, "%s/manifest.json", dir) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((rc = nh_reader_open(&rd, path.buf, err)) < 0)
        goto out;
    rc = nh_reader_all(rd, &text, (size_t)64 << 20, err);
    nh_reader_close(rd);
    if (rc < 0)
        goto out;
    m = cJSON_ParseWithLength(text.buf ? text.buf : "", text.len);
    fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
    tok = cJSON_GetObjectItemCaseSensitive(m, "tokenizer");
    shards = cJSON_GetObjectItemCaseSensitive(m, "shards");
    hash = cJSON_GetObjectItemCaseSensitive(tok, "xxh3");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "naohai-tokens-1") ||
        !cJSON_IsArray(shards) || !cJSON_IsString(hash) ||
        strlen(hash->valuestring) != 32 || json_count(tok, "vocab") < 1 ||
        json_count(tok, "vocab") > UINT32_MAX) {
        rc =
            nh_errorf(err, NH_ECORRUPT, "'%s': not a token manifest", path.buf);
        goto out;
    }
    tok_lo = strtoull(hash->valuestring + 16, NULL, 16);
    ns = (size_t)cJSON_GetArraySize(shards);
    d = calloc(1, sizeof(*d));
    if (!d || !(d->shards = calloc(ns ? ns : 1, sizeof(*d->shards))) ||
        !(d->first = calloc(ns ? ns : 1, sizeof(*d->first)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    d->vocab = (uint32_t)json_count(tok, "vocab");
    cJSON_ArrayForEach(sh, shards)
    {
        if ((rc = tokdir_check_shard(d, dir, sh, tok_lo, verify, err)) < 0)
            goto out;
    }
    if ((double)d->tokens != json_count(m, "tokens") ||
        (double)d->documents != json_count(m, "documents")) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s': totals do not match the "
                       "shards",
                       path.buf);
        goto out;
    }
    *out = d;
    d = NULL;
    rc = 0;
out:
    tokdir_close(d);
    cJSON_Delete(m);
    strbuf_release(&path);
    strbuf_release(&text);
    return rc;
}

uint64_t
tokdir_tokens(const struct tokdir *d)
{
    return d->tokens;
}

uint64_t
tokdir_documents(const struct tokdir *d)
{
    return d->documents;
}

uint32_t
tokdir_vocab(const struct tokdir *d)
{
    return d->vocab;
}

size_t
tokdir_nshards(const struct tokdir *d)
{
    return d->n;
}

const struct tokshard *
tokdir_shard(const struct tokdir *d, size_t i)
{
    return i < d->n ? d->shards[i] : NULL;
}

int
tokdir_read(const struct tokdir *d, uint64_t start, size_t n, uint32_t *out)
{
    size_t lo = 0, hi = d->n, i;
    uint64_t take;

    if (start > d->tokens || n > d->tokens - start)
        return NH_EINVAL;
    while (hi - lo > 1) { /* last shard whose first token <= start */
        size_t mid = (lo + hi) / 2;

        if (d->first[mid] <= start)
            lo = mid;
        else
            hi = mid;
    }
    for (i = lo; n > 0 && i < d->n; i++) {
        uint64_t off = start - d->first[i], have = d->shards[i]->info.tokens;

        if (off >= have)
            continue;
        take = have - off < n ? have - off : n;
        tokshard_read(d->shards[i], off, (size_t)take, out);
        out += take;
        n -= (size_t)take;
        start += take;
    }
    return 0;
}
