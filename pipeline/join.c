/* join.c - the global pass of a dedup stage (see join.h)
 *
 * One band at a time:
 *   1. every rank reads its units' keys files and makes (band key,
 *      document number) entries; under MPI each entry goes to the rank
 *      that owns its key (the key's first 8 bytes mod ranks, one
 *      all-to-all), so equal keys meet on one rank;
 *   2. the entries are sorted by key with a stable LSD radix sort, so
 *      equal keys stay in document order; past the memory budget each
 *      full buffer is sorted and written as a run to disk, and the runs
 *      are merged with a heap;
 *   3. in each group of equal keys, every member is joined to the first
 *      one; under MPI these edges are gathered on rank 0.
 * Rank 0 keeps the union-find: one uint32 per document, a root being the
 * cluster's lowest document number. Then, reading the keys files again,
 * it picks each cluster's kept document (the root, or the best quality),
 * numbers the clusters in input order of their first dropped member and
 * writes every unit's decisions.
 */
#include "join.h"

#include "arena.h"
#include "hash.h"
#include "jsonl.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS 1000 /* open files while merging */

struct krec {
    const unsigned char *key;
    uint64_t bytes, off, family;
    const char *id;
    uint32_t idlen;
};

struct kreader {
    FILE *fp;
    size_t ksz;
    struct strbuf buf;
    char *path;
};

/* A cluster with two or more documents, found by its root. */
struct cluster {
    uint32_t root, kept, size;
    double q;
    uint64_t number; /* 0 until its first dropped member is written */
    char *id;        /* the kept document's id */
    uint64_t family; /* the kept document's family */
};

struct band;

struct jstate {
    struct join_job *j;
    struct join_spec spec;
    size_t ksz, esz; /* key record bytes; entry bytes (band key + u64) */
    uint64_t n;
    uint64_t *ustart; /* nunits + 1 document numbers */
    uint32_t *parent;
    uint64_t *offs; /* verify: each document's line offset */
    /* clusters: open addressing on the root */
    struct cluster *cl;
    size_t clcap, ncl;
    struct arena ids;
    /* verify */
    void *tstate;
    struct strbuf ta, tb, line;
    uint64_t ta_doc; /* document in ta, or UINT64_MAX */
    int fd;
    size_t fd_unit;
    uint64_t rejected, runs;
    struct strbuf edges; /* MPI: u32 pairs for rank 0 */
    struct band *band;   /* the band being read (band_rec) */
    struct strbuf *out;  /* decisions of the unit being written */
    uint64_t numbered;   /* clusters numbered so far */
    struct nh_error *err;
};

static bool
is_root(const struct jstate *s)
{
    return !s->j->dist || s->j->dist->rank == 0;
}

/* ---- keys files -------------------------------------------------------- */

static int
kr_open(struct kreader *kr, const char *path, size_t ksz, struct nh_error *err)
{
    memset(kr, 0, sizeof(*kr));
    kr->ksz = ksz;
    if (!(kr->path = strdup(path)))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if (!(kr->fp = fopen(path, "rb"))) {
        int rc = nh_error_errno(err, "cannot open '%s'", path);

        free(kr->path);
        return rc;
    }
    setvbuf(kr->fp, NULL, _IOFBF, 1 << 16);
    return 0;
}

static void
kr_close(struct kreader *kr)
{
    if (kr->fp)
        fclose(kr->fp);
    strbuf_release(&kr->buf);
    free(kr->path);
    kr->fp = NULL;
    kr->path = NULL;
}

/* 1 with rec filled, 0 at the end, or an error. */
static int
kr_next(struct kreader *kr, struct krec *rec, struct nh_error *err)
{
    size_t h = kr->ksz + JOIN_TRAILER, got;
    const unsigned char *b;

    strbuf_reset(&kr->buf);
    if (strbuf_grow(&kr->buf, h) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    got = fread(kr->buf.buf, 1, h, kr->fp);
    if (got == 0 && !ferror(kr->fp))
        return 0;
    if (got < h)
        goto corrupt;
    b = (const unsigned char *)kr->buf.buf;
    memcpy(&rec->bytes, b + kr->ksz, 8);
    memcpy(&rec->off, b + kr->ksz + 8, 8);
    memcpy(&rec->family, b + kr->ksz + 16, 8);
    memcpy(&rec->idlen, b + kr->ksz + 24, 4);
    if (rec->idlen > (1u << 30) || strbuf_grow(&kr->buf, h + rec->idlen) < 0)
        goto corrupt;
    if (fread(kr->buf.buf + h, 1, rec->idlen, kr->fp) != rec->idlen)
        goto corrupt;
    rec->key = (const unsigned char *)kr->buf.buf;
    rec->id = kr->buf.buf + h;
    return 1;
corrupt:
    return nh_errorf(err, NH_ECORRUPT, "'%s' is corrupt", kr->path);
}

typedef int (*rec_fn)(struct jstate *s, uint64_t doc, const struct krec *r);

/* Call fn for every record of units [lo, hi), in input order; doc counts
 * from first. */
static int
scan(struct jstate *s, size_t lo, size_t hi, uint64_t first, rec_fn fn)
{
    struct strbuf path = STRBUF_INIT;
    struct kreader kr;
    struct krec rec;
    uint64_t doc = first;
    size_t u;
    int rc = 0;

    for (u = lo; u < hi && rc >= 0; u++) {
        strbuf_reset(&path);
        s->j->path(s->j->arg, u, JOIN_KEYS, &path);
        if ((rc = kr_open(&kr, path.buf, s->ksz, s->err)) < 0)
            break;
        while ((rc = kr_next(&kr, &rec, s->err)) == 1)
            if ((rc = fn(s, doc++, &rec)) < 0)
                break;
        kr_close(&kr);
    }
    strbuf_release(&path);
    return rc < 0 ? rc : 0;
}

/* ---- union-find ---------------------------------------------------------- */

static uint32_t
uf_find(uint32_t *p, uint32_t i)
{
    while (p[i] != i) {
        p[i] = p[p[i]]; /* path halving */
        i = p[i];
    }
    return i;
}

/* The root of a cluster is its lowest document number. */
static void
uf_join(uint32_t *p, uint32_t a, uint32_t b)
{
    a = uf_find(p, a);
    b = uf_find(p, b);
    if (a < b)
        p[b] = a;
    else if (b < a)
        p[a] = b;
}

/* ---- verify: the texts of two candidates ------------------------------- */

static size_t
unit_of(const struct jstate *s, uint64_t doc)
{
    size_t lo = 0, hi = s->j->nunits; /* ustart[lo] <= doc < ustart[hi] */

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->ustart[mid] <= doc)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int
fetch_text(struct jstate *s, uint64_t doc, struct strbuf *text)
{
    struct strbuf path = STRBUF_INIT;
    size_t u = unit_of(s, doc);
    uint64_t off = s->offs[doc];
    cJSON *obj = NULL;
    const cJSON *t;
    char *nl = NULL;
    int rc = 0;

    if (s->fd < 0 || s->fd_unit != u) {
        if (s->fd >= 0)
            close(s->fd);
        s->j->path(s->j->arg, u, JOIN_DOCS, &path);
        s->fd = open(path.buf, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            rc = nh_error_errno(s->err, "cannot open '%s'", path.buf);
            goto out;
        }
        s->fd_unit = u;
    }
    strbuf_reset(&s->line);
    while (!nl) {
        ssize_t got;

        if (strbuf_grow(&s->line, 1 << 16) < 0) {
            rc = nh_errorf(s->err, NH_ENOMEM, "out of memory");
            goto out;
        }
        got = pread(s->fd, s->line.buf + s->line.len, 1 << 16,
                    (off_t)(off + s->line.len));
        if (got <= 0)
            break;
        nl = memchr(s->line.buf + s->line.len, '\n', (size_t)got);
        s->line.len += (size_t)got;
    }
    obj = nl ? cJSON_ParseWithLength(s->line.buf, (size_t)(nl - s->line.buf))
             : NULL;
    t = cJSON_GetObjectItemCaseSensitive(obj, s->j->text_field);
    if (!cJSON_IsString(t)) {
        rc = nh_errorf(s->err, NH_ECORRUPT,
                       "work file of unit %zu is corrupt at offset %llu", u,
                       (unsigned long long)off);
        goto out;
    }
    strbuf_reset(text);
    if (strbuf_addstr(text, t->valuestring) < 0)
        rc = nh_errorf(s->err, NH_ENOMEM, "out of memory");
out:
    cJSON_Delete(obj);
    strbuf_release(&path);
    return rc;
}

/* Member b of a group whose first document is a. */
static int
edge(struct jstate *s, uint64_t a, uint64_t b)
{
    double sim;
    int rc;

    if (!s->spec.verify) {
        uf_join(s->parent, (uint32_t)a, (uint32_t)b);
        return 0;
    }
    if (uf_find(s->parent, (uint32_t)a) == uf_find(s->parent, (uint32_t)b))
        return 0;
    if (s->ta_doc != a) {
        if ((rc = fetch_text(s, a, &s->ta)) < 0)
            return rc;
        s->ta_doc = a;
    }
    if ((rc = fetch_text(s, b, &s->tb)) < 0)
        return rc;
    rc = s->j->ops->similarity(s->j->conf, s->tstate, s->ta.buf, s->ta.len,
                               s->tb.buf, s->tb.len, &sim);
    if (rc < 0)
        return nh_errorf(s->err, rc, "%s: %s", s->j->where, nh_strerror(rc));
    if (sim >= s->spec.verify)
        uf_join(s->parent, (uint32_t)a, (uint32_t)b);
    else
        s->rejected++;
    return 0;
}

/* ---- sorting one band -------------------------------------------------- */

/* Stable LSD radix sort of n entries of esz bytes by their first ksz
 * bytes (byte ksz - 1 most significant); the result is in *a. */
static void
radix_sort(unsigned char **a, unsigned char **tmp, size_t n, size_t esz,
           size_t ksz)
{
    size_t count[256], p, i;

    for (p = 0; p < ksz; p++) {
        unsigned char *src = *a, *dst = *tmp, *t;
        size_t sum = 0;

        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++)
            count[src[i * esz + p]]++;
        if (n && count[src[p]] == n)
            continue; /* one value: nothing moves */
        for (i = 0; i < 256; i++) {
            size_t c = count[i];

            count[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            memcpy(dst + esz * count[src[i * esz + p]]++, src + i * esz, esz);
        t = *a;
        *a = *tmp;
        *tmp = t;
    }
}

/* The order radix_sort() sorts in. */
static int
key_cmp(const unsigned char *x, const unsigned char *y, size_t ksz)
{
    while (ksz--)
        if (x[ksz] != y[ksz])
            return x[ksz] < y[ksz] ? -1 : 1;
    return 0;
}

/* Groups of equal keys in sorted entries, fed one at a time. */
struct grouper {
    unsigned char key[64];
    uint64_t first;
    bool have;
};

static int
group_feed(struct jstate *s, struct grouper *g, const unsigned char *e)
{
    size_t bsz = s->spec.band_size;
    uint64_t doc;

    memcpy(&doc, e + bsz, 8);
    if (g->have && !memcmp(g->key, e, bsz)) {
        if (s->j->dist) {
            uint32_t pair[2] = {(uint32_t)g->first, (uint32_t)doc};

            if (strbuf_add(&s->edges, pair, sizeof(pair)) < 0)
                return nh_errorf(s->err, NH_ENOMEM, "out of memory");
            return 0;
        }
        return edge(s, g->first, doc);
    }
    memcpy(g->key, e, bsz);
    g->first = doc;
    g->have = true;
    return 0;
}

struct band {
    struct jstate *s;
    size_t band;
    unsigned char *buf, *tmp;
    size_t n, cap;
    FILE **runs;
    size_t nruns;
    struct strbuf *send; /* MPI: one buffer per rank */
};

static void
run_path(const struct band *b, size_t k, struct strbuf *sb)
{
    strbuf_reset(sb);
    strbuf_addf(sb, "%s/join-run-%zu", b->s->j->tmpdir, k);
}

/* Sort the buffer and write it as run b->nruns (kept open to merge). */
static int
spill(struct band *b)
{
    struct jstate *s = b->s;
    struct strbuf path = STRBUF_INIT;
    FILE *fp;
    int rc = 0;

    if (b->nruns == MAX_RUNS)
        return nh_errorf(s->err, NH_ENOMEM,
                         "%s: more than %d sorted runs: raise --memory",
                         s->j->where, MAX_RUNS);
    radix_sort(&b->buf, &b->tmp, b->n, s->esz, s->spec.band_size);
    run_path(b, b->nruns, &path);
    fp = fopen(path.buf, "w+b");
    if (!fp) {
        rc = nh_error_errno(s->err, "cannot create '%s'", path.buf);
    } else {
        unlink(path.buf); /* gone when closed, even after a crash */
        if (fwrite(b->buf, s->esz, b->n, fp) != b->n || fflush(fp) != 0 ||
            fseek(fp, 0, SEEK_SET) != 0) {
            rc = nh_error_errno(s->err, "cannot write '%s'", path.buf);
            fclose(fp);
        } else {
            setvbuf(fp, NULL, _IOFBF, 1 << 16);
            b->runs[b->nruns++] = fp;
            s->runs++;
        }
    }
    b->n = 0;
    strbuf_release(&path);
    return rc;
}

static int
band_add(struct band *b, const unsigned char *key, uint64_t doc)
{
    struct jstate *s = b->s;
    size_t bsz = s->spec.band_size;

    if (s->j->dist) {
        uint64_t h;
        struct strbuf *to;

        memcpy(&h, key, 8);
        to = &b->send[h % (uint64_t)s->j->dist->size];
        if (strbuf_add(to, key, bsz) < 0 || strbuf_add(to, &doc, 8) < 0)
            return nh_errorf(s->err, NH_ENOMEM, "out of memory");
        return 0;
    }
    if (b->n == b->cap) {
        int rc = spill(b);

        if (rc < 0)
            return rc;
    }
    memcpy(b->buf + b->n * s->esz, key, bsz);
    memcpy(b->buf + b->n * s->esz + bsz, &doc, 8);
    b->n++;
    return 0;
}

static int
band_rec(struct jstate *s, uint64_t doc, const struct krec *r)
{
    size_t bsz = s->spec.band_size;

    return band_add(s->band, r->key + s->band->band * bsz, doc);
}

/* Heap order of run heads: key, then the lower run (earlier documents). */
static bool
head_less(const struct band *b, const unsigned char *head, size_t x, size_t y)
{
    size_t esz = b->s->esz;
    int c = key_cmp(head + x * esz, head + y * esz, b->s->spec.band_size);

    return c < 0 || (c == 0 && x < y);
}

/* Merge the runs in key order, ties to the lower run (earlier documents). */
static int
merge_runs(struct band *b)
{
    struct jstate *s = b->s;
    size_t k = b->nruns, *heap, nh = 0, i, esz = s->esz;
    unsigned char *head = malloc(k * esz);
    struct grouper g = {0};
    int rc = 0;

    heap = malloc(k * sizeof(*heap));
    if (!head || !heap) {
        rc = nh_errorf(s->err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < k; i++) {
        if (fread(head + i * esz, esz, 1, b->runs[i]) != 1)
            continue;
        /* sift up */
        heap[nh] = i;
        for (size_t c = nh++;
             c > 0 && head_less(b, head, heap[c], heap[(c - 1) / 2]);
             c = (c - 1) / 2) {
            size_t t = heap[c];

            heap[c] = heap[(c - 1) / 2];
            heap[(c - 1) / 2] = t;
        }
    }
    while (nh > 0 && rc == 0) {
        size_t top = heap[0], c = 0;

        rc = group_feed(s, &g, head + top * esz);
        if (fread(head + top * esz, esz, 1, b->runs[top]) != 1)
            heap[0] = heap[--nh];
        for (;;) { /* sift down */
            size_t l = 2 * c + 1, m = c, t;

            if (l < nh && head_less(b, head, heap[l], heap[m]))
                m = l;
            if (l + 1 < nh && head_less(b, head, heap[l + 1], heap[m]))
                m = l + 1;
            if (m == c)
                break;
            t = heap[c];
            heap[c] = heap[m];
            heap[m] = t;
            c = m;
        }
    }
out:
    free(head);
    free(heap);
    return rc;
}

static int
feed_sorted(struct jstate *s, unsigned char *e, size_t n)
{
    struct grouper g = {0};
    size_t i;
    int rc;

    for (i = 0; i < n; i++)
        if ((rc = group_feed(s, &g, e + i * s->esz)) < 0)
            return rc;
    return 0;
}

/* MPI: send the entries to their owners, sort what arrives, find the
 * groups, and bring the edges to rank 0. */
static int
band_exchange(struct band *b)
{
    struct jstate *s = b->s;
    const struct dist *d = s->j->dist;
    struct strbuf recv = STRBUF_INIT, all = STRBUF_INIT;
    unsigned char *a, *t = NULL;
    size_t n, i;
    int rc;

    rc = d->exchange(d, b->send, &recv);
    for (i = 0; i < (size_t)d->size; i++)
        strbuf_release(&b->send[i]);
    n = recv.len / s->esz;
    if (rc == 0 && n && !(t = malloc(n * s->esz)))
        rc = NH_ENOMEM;
    if ((rc = d->agree(d, rc)) < 0)
        goto out;
    a = (unsigned char *)recv.buf;
    radix_sort(&a, &t, n, s->esz, s->spec.band_size);
    strbuf_reset(&s->edges);
    rc = feed_sorted(s, a, n);
    if (a != (unsigned char *)recv.buf) { /* keep ownership straight */
        t = (unsigned char *)recv.buf;
        recv.buf = (char *)a;
    }
    if ((rc = d->agree(d, rc)) < 0)
        goto out;
    rc = d->gather(d, s->edges.buf, s->edges.len, &all);
    if ((rc = d->agree(d, rc)) < 0)
        goto out;
    if (d->rank == 0)
        for (i = 0; i + 8 <= all.len && rc == 0; i += 8) {
            uint32_t pair[2];

            memcpy(pair, all.buf + i, 8);
            rc = edge(s, pair[0], pair[1]);
        }
    rc = d->agree(d, rc);
out:
    if (rc < 0 && !s->err->code)
        nh_errorf(s->err, rc, "%s: %s", s->j->where, nh_strerror(rc));
    free(t);
    strbuf_release(&recv);
    strbuf_release(&all);
    return rc;
}

static int
do_band(struct jstate *s, size_t band)
{
    const struct dist *d = s->j->dist;
    struct band b = {.s = s, .band = band};
    size_t i;
    int rc;

    if (d) {
        if (!(b.send = calloc((size_t)d->size, sizeof(*b.send))))
            return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    } else {
        b.cap = s->j->memory / (2 * s->esz);
        if (b.cap < 64)
            b.cap = 64;
        if (b.cap > s->n)
            b.cap = s->n ? s->n : 1;
        b.buf = malloc(b.cap * s->esz);
        b.tmp = malloc(b.cap * s->esz);
        b.runs = calloc(MAX_RUNS, sizeof(*b.runs));
        if (!b.buf || !b.tmp || !b.runs) {
            rc = nh_errorf(s->err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    s->band = &b;
    rc = scan(s, s->j->unit_lo, s->j->unit_hi, s->ustart[s->j->unit_lo],
              band_rec);
    s->band = NULL;
    if (d) {
        rc = dist_agree(d, rc);
        if (rc == 0)
            rc = band_exchange(&b);
    } else if (rc == 0 && b.nruns == 0) {
        radix_sort(&b.buf, &b.tmp, b.n, s->esz, s->spec.band_size);
        rc = feed_sorted(s, b.buf, b.n);
    } else if (rc == 0) {
        if (b.n && (rc = spill(&b)) < 0)
            goto out;
        free(b.buf);
        free(b.tmp);
        b.buf = b.tmp = NULL; /* the merge needs only the run heads */
        rc = merge_runs(&b);
    }
out:
    for (i = 0; i < b.nruns; i++)
        fclose(b.runs[i]);
    if (b.send)
        for (i = 0; i < (size_t)d->size; i++)
            strbuf_release(&b.send[i]);
    free(b.send);
    free(b.runs);
    free(b.buf);
    free(b.tmp);
    return rc;
}

uint64_t
join_family(const cJSON *obj, const char *id)
{
    const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "meta"), "augmented_from"));

    if (!f)
        return nh_hash64(id, strlen(id)) & ~(uint64_t)1;
    return nh_hash64(f, strlen(f)) | 1;
}

/* Whether families a and b are one and at least one of them is an
 * augmented copy: two originals that merely share an id (the same
 * file imported twice) are not a family. */
static bool
same_family(uint64_t a, uint64_t b)
{
    return (a | 1) == (b | 1) && ((a | b) & 1);
}

/* ---- clusters and decisions --------------------------------------------- */

/* The cluster of root r, added when add; NULL when absent (or no memory,
 * with add: s->err is then set). */
static struct cluster *
cluster_of(struct jstate *s, uint32_t r, bool add)
{
    size_t i;

    if (add && 2 * (s->ncl + 1) > s->clcap) {
        size_t nc = s->clcap ? 2 * s->clcap : 1024, k;
        struct cluster *t = malloc(nc * sizeof(*t));

        if (!t) {
            nh_errorf(s->err, NH_ENOMEM, "out of memory");
            return NULL;
        }
        for (k = 0; k < nc; k++)
            t[k].root = UINT32_MAX;
        for (k = 0; k < s->clcap; k++) {
            if (s->cl[k].root == UINT32_MAX)
                continue;
            for (i = nh_hash64(&s->cl[k].root, 4) & (nc - 1);
                 t[i].root != UINT32_MAX; i = (i + 1) & (nc - 1))
                ;
            t[i] = s->cl[k];
        }
        free(s->cl);
        s->cl = t;
        s->clcap = nc;
    }
    if (!s->clcap)
        return NULL;
    for (i = nh_hash64(&r, 4) & (s->clcap - 1);; i = (i + 1) & (s->clcap - 1)) {
        if (s->cl[i].root == r)
            return &s->cl[i];
        if (s->cl[i].root == UINT32_MAX) {
            if (!add)
                return NULL;
            memset(&s->cl[i], 0, sizeof(s->cl[i]));
            s->cl[i].root = r;
            s->cl[i].kept = r;
            s->cl[i].size = 1;
            s->ncl++;
            return &s->cl[i];
        }
    }
}

static double
rec_quality(const struct jstate *s, const struct krec *r)
{
    double q;

    memcpy(&q, r->key + s->spec.bands * s->spec.band_size, sizeof(q));
    return q;
}

static int
best_rec(struct jstate *s, uint64_t doc, const struct krec *r)
{
    struct cluster *c = cluster_of(s, uf_find(s->parent, (uint32_t)doc), false);
    double q = rec_quality(s, r);

    if (c && (c->root == doc || q > c->q)) {
        c->kept = (uint32_t)doc;
        c->q = q;
    }
    return 0;
}

static int
id_rec(struct jstate *s, uint64_t doc, const struct krec *r)
{
    struct cluster *c = cluster_of(s, uf_find(s->parent, (uint32_t)doc), false);

    if (c && c->kept == doc &&
        !(c->id = arena_strndup(&s->ids, r->id, r->idlen)))
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    if (c && c->kept == doc)
        c->family = r->family;
    return 0;
}

static int
decide_rec(struct jstate *s, uint64_t doc, const struct krec *r)
{
    struct cluster *c = cluster_of(s, uf_find(s->parent, (uint32_t)doc), false);
    const char *why = s->spec.reason;
    struct strbuf *out = s->out;
    int rc;

    s->j->st.bytes_in += r->bytes;
    if (c && c->kept == doc && !s->spec.by_quality &&
        (rc = id_rec(s, doc, r)) < 0) /* the root comes first */
        return rc;
    if (!c || c->kept == doc ||
        (s->spec.families && c->id && same_family(r->family, c->family))) {
        s->j->st.docs_out++;
        s->j->st.bytes_out += r->bytes;
        rc = strbuf_add(out, "0\n", 2);
    } else {
        if (!c->number)
            c->number = ++s->numbered;
        strbuf_addch(out, '[');
        strbuf_add_json_str(out, why, strlen(why));
        strbuf_addch(out, ',');
        strbuf_add_json_str(out, c->id, strlen(c->id));
        rc = strbuf_addf(out, ",%llu]\n", (unsigned long long)c->number);
    }
    return rc < 0 ? nh_errorf(s->err, NH_ENOMEM, "out of memory") : 0;
}

static int
decide(struct jstate *s)
{
    static const char *const bins[] = {"2", "3", "4-7", "8-15", "16+"};
    struct join_job *j = s->j;
    struct strbuf out = STRBUF_INIT, path = STRBUF_INIT;
    uint64_t hist[5] = {0}, i, nclusters;
    cJSON *h;
    size_t u;
    int rc = 0;

    for (i = 0; i < s->n; i++) {
        uint32_t r = uf_find(s->parent, (uint32_t)i);
        struct cluster *c;

        if (r == i)
            continue;
        if (!(c = cluster_of(s, r, true)))
            return NH_ENOMEM;
        c->size++;
    }
    nclusters = s->ncl;
    for (i = 0; i < s->clcap; i++) {
        uint32_t m = s->cl[i].size;

        if (s->cl[i].root != UINT32_MAX)
            hist[m == 2 ? 0 : m == 3 ? 1 : m < 8 ? 2 : m < 16 ? 3 : 4]++;
    }
    if (s->spec.by_quality && ((rc = scan(s, 0, j->nunits, 0, best_rec)) < 0 ||
                               (rc = scan(s, 0, j->nunits, 0, id_rec)) < 0))
        return rc;
    s->out = &out;
    for (u = 0; u < j->nunits && rc == 0; u++) {
        struct nh_writer *w;

        strbuf_reset(&out);
        if ((rc = scan(s, u, u + 1, s->ustart[u], decide_rec)) < 0)
            break;
        strbuf_reset(&path);
        j->path(j->arg, u, JOIN_DECISIONS, &path);
        if ((rc = nh_writer_open(&w, path.buf, 0, s->err)) < 0)
            break;
        if ((rc = nh_writer_write(w, out.buf ? out.buf : "", out.len, s->err)) <
            0) {
            nh_writer_abort(w);
            break;
        }
        rc = nh_writer_commit(w, s->err);
    }
    s->out = NULL;
    strbuf_release(&out);
    strbuf_release(&path);
    if (rc < 0)
        return rc;
    j->st.docs_in = s->n;
    if (s->n > j->st.docs_out &&
        stats_removed(&j->st, s->spec.reason, s->n - j->st.docs_out) < 0)
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    if (!(j->st.extra = cJSON_CreateObject()) ||
        !cJSON_AddNumberToObject(j->st.extra, "clusters", (double)nclusters) ||
        !(h = cJSON_AddObjectToObject(j->st.extra, "cluster_sizes")))
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    for (i = 0; i < 5; i++)
        if (!cJSON_AddNumberToObject(h, bins[i], (double)hist[i]))
            return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    if (s->spec.verify &&
        !cJSON_AddNumberToObject(j->st.extra, "candidates_rejected",
                                 (double)s->rejected))
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    if (!cJSON_AddNumberToObject(j->st.extra, "sorted_runs", (double)s->runs))
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    return 0;
}

/* ---- the pass -------------------------------------------------------- */

static int
count_units(struct jstate *s)
{
    struct join_job *j = s->j;
    uint64_t *cnt = calloc(j->nunits + 1, sizeof(*cnt));
    struct strbuf path = STRBUF_INIT;
    size_t u;
    int rc = 0;

    if (!cnt)
        return nh_errorf(s->err, NH_ENOMEM, "out of memory");
    for (u = j->unit_lo; u < j->unit_hi && rc == 0; u++) {
        struct kreader kr;
        struct krec rec;

        strbuf_reset(&path);
        j->path(j->arg, u, JOIN_KEYS, &path);
        if ((rc = kr_open(&kr, path.buf, s->ksz, s->err)) < 0)
            break;
        while ((rc = kr_next(&kr, &rec, s->err)) == 1)
            cnt[u]++;
        kr_close(&kr);
    }
    strbuf_release(&path);
    if (j->dist) {
        rc = dist_agree(j->dist, rc);
        if (rc == 0 && (rc = j->dist->sum(j->dist, cnt, j->nunits)) < 0)
            nh_errorf(s->err, rc, "%s: %s", j->where, nh_strerror(rc));
        rc = dist_agree(j->dist, rc);
    }
    if (rc < 0) {
        free(cnt);
        return rc;
    }
    s->ustart[0] = 0;
    for (u = 0; u < j->nunits; u++)
        s->ustart[u + 1] = s->ustart[u] + cnt[u];
    s->n = s->ustart[j->nunits];
    free(cnt);
    return 0;
}

static int
offset_rec(struct jstate *s, uint64_t doc, const struct krec *r)
{
    s->offs[doc] = r->off;
    return 0;
}

int
join_run(struct join_job *j, struct nh_error *err)
{
    struct jstate s = {.j = j, .err = err, .fd = -1, .ta_doc = UINT64_MAX};
    uint64_t i;
    size_t b;
    int rc;

    j->ops->join_spec(j->conf, &s.spec);
    if (s.spec.verify > 0 && !j->ops->similarity)
        return nh_errorf(err, NH_EINVAL, "%s: cannot verify candidates",
                         j->where);
    s.ksz = stage_key_size(j->ops, j->conf);
    s.esz = s.spec.band_size + 8;
    if (s.spec.band_size < 8 || s.spec.band_size > 64)
        return nh_errorf(err, NH_EINVAL, "%s: band keys of %zu bytes", j->where,
                         s.spec.band_size);
    if (!(s.ustart = calloc(j->nunits + 1, sizeof(*s.ustart))))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((rc = count_units(&s)) < 0)
        goto out;
    if (s.n >= UINT32_MAX) {
        rc = nh_errorf(err, NH_EINVAL,
                       "%s: %llu documents: at most %u in one run", j->where,
                       (unsigned long long)s.n, UINT32_MAX - 1);
        goto out;
    }
    if (is_root(&s)) {
        if (!(s.parent = malloc((s.n ? s.n : 1) * sizeof(*s.parent))))
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        for (i = 0; rc == 0 && i < s.n; i++)
            s.parent[i] = (uint32_t)i;
        if (rc == 0 && s.spec.verify) {
            s.tstate =
                j->ops->thread_init ? j->ops->thread_init(j->conf) : NULL;
            s.offs = malloc((s.n ? s.n : 1) * sizeof(*s.offs));
            if (!s.offs || (j->ops->thread_init && !s.tstate))
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            else
                rc = scan(&s, 0, j->nunits, 0, offset_rec);
        }
    }
    rc = dist_agree(j->dist, rc);
    for (b = 0; b < s.spec.bands && rc == 0; b++) {
        rc = do_band(&s, b);
        rc = dist_agree(j->dist, rc);
    }
    if (rc == 0 && is_root(&s))
        rc = decide(&s);
    if (rc == 0)
        nh_debug("%s: %llu documents, %llu clusters, %llu sorted runs",
                 j->where, (unsigned long long)s.n, (unsigned long long)s.ncl,
                 (unsigned long long)s.runs);
out:
    if (s.fd >= 0)
        close(s.fd);
    if (s.tstate && j->ops->thread_free)
        j->ops->thread_free(s.tstate);
    free(s.ustart);
    free(s.parent);
    free(s.offs);
    free(s.cl);
    arena_release(&s.ids);
    strbuf_release(&s.ta);
    strbuf_release(&s.tb);
    strbuf_release(&s.line);
    strbuf_release(&s.edges);
    return rc;
}
