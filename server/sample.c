/* sample.c - bottom-k sampling of shard lines, by stratum (sample.h)
 *
 * One pass over the objects, block by block; a line that spans blocks is
 * carried over. Lines are parsed (cJSON) only when the design needs a
 * field of every line (strata, audit filters); a simple random sample
 * hashes lines and touches a heap only for keys below its current
 * maximum. The chosen lines are read again (pread) to fill their ids.
 */
#include "sample.h"

#include "hash.h"
#include "objstore.h"
#include "rstats.h"
#include "strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define MAX_LINE (64u << 20)
#define TABLE 4096 /* stratum hash slots, > 2 x SAMPLE_MAX_STRATA */

struct entry {
    uint64_t key;
    uint32_t shard;
    uint64_t offset, length;
};

struct stratum {
    char *name;
    uint64_t hash, N;
    struct entry *heap; /* max-heap on key, at most cap entries */
    size_t len;
};

struct pass {
    const struct sample_spec *spec;
    size_t cap; /* heap capacity per stratum */
    struct stratum *strata;
    size_t nstrata;
    int table[TABLE]; /* index + 1 into strata, 0: empty */
    uint64_t ordinal, population;
};

static void
heap_push(struct stratum *s, size_t cap, const struct entry *e)
{
    size_t i;

    if (s->len == cap) {
        if (e->key >= s->heap[0].key)
            return;
        /* replace the root and sift down */
        i = 0;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            uint64_t mk = e->key;

            if (l < s->len && s->heap[l].key > mk)
                m = l, mk = s->heap[l].key;
            if (r < s->len && s->heap[r].key > mk)
                m = r;
            if (m == i)
                break;
            s->heap[i] = s->heap[m];
            i = m;
        }
        s->heap[i] = *e;
        return;
    }
    i = s->len++;
    while (i > 0 && s->heap[(i - 1) / 2].key < e->key) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = *e;
}

static int
stratum_get(struct pass *p, const char *name, size_t len, struct stratum **out,
            struct nh_error *err)
{
    uint64_t h = nh_hash64(name, len);
    size_t slot = h % TABLE;
    struct stratum *grown, *s;

    while (p->table[slot]) {
        s = &p->strata[p->table[slot] - 1];
        if (s->hash == h && strlen(s->name) == len &&
            !memcmp(s->name, name, len)) {
            *out = s;
            return 0;
        }
        slot = (slot + 1) % TABLE;
    }
    if (p->nstrata == SAMPLE_MAX_STRATA)
        return nh_errorf(err, NH_ETOOBIG,
                         "more than %d strata: stratify by a coarser field",
                         SAMPLE_MAX_STRATA);
    grown = realloc(p->strata, (p->nstrata + 1) * sizeof(*grown));
    if (!grown)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    p->strata = grown;
    s = &p->strata[p->nstrata];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->name = strndup(name, len);
    s->heap = malloc(p->cap * sizeof(*s->heap));
    if (!s->name || !s->heap) {
        free(s->name);
        free(s->heap);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    p->table[slot] = (int)++p->nstrata;
    *out = s;
    return 0;
}

static bool
str_is(const cJSON *o, const char *key, const char *want)
{
    const char *v =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

    return v && !strcmp(v, want);
}

/* One document: filter, stratum, key, heap. */
static int
take_line(struct pass *p, uint32_t shard, uint64_t off, const char *line,
          size_t len, struct nh_error *err)
{
    const struct sample_spec *sp = p->spec;
    struct stratum *s = NULL;
    struct entry e;
    cJSON *doc = NULL;
    const char *name = "";
    int rc = 0;

    if (len == 0)
        return 0;
    e.key = nh_hash64_seed(line, len, sp->seed);
    e.key = nh_hash64_seed(&p->ordinal, sizeof(p->ordinal), e.key);
    e.shard = shard;
    e.offset = off;
    e.length = len;
    p->ordinal++;
    if (sp->strata || sp->removed_by || sp->augmented_only) {
        doc = cJSON_ParseWithLength(line, len);
        if (!doc)
            return 0; /* not JSON: cannot be in any stratum or filter */
        if (sp->removed_by &&
            (!str_is(doc, "removed_by", sp->removed_by) ||
             (sp->reason && !str_is(doc, "reason", sp->reason))))
            goto out;
        if (sp->augmented_only &&
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(doc, "meta"),
                "augmented_from")))
            goto out;
        if (sp->strata) {
            const char *v = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(doc, sp->strata));

            name = v ? v : "";
        }
    }
    p->population++;
    if (p->nstrata && (!sp->strata || !strcmp(p->strata[0].name, name)))
        s = &p->strata[0];
    else if ((rc = stratum_get(p, name, strlen(name), &s, err)) < 0)
        goto out;
    s->N++;
    heap_push(s, p->cap, &e);
out:
    cJSON_Delete(doc);
    return rc;
}

static int
scan_object(struct pass *p, const char *dir, const char *object, uint32_t shard,
            struct nh_error *err)
{
    struct strbuf path, carry;
    char *buf = NULL;
    uint64_t base = 0; /* file offset of buf[0] */
    ssize_t got;
    int fd = -1, rc = 0;

    strbuf_init(&path, 0);
    strbuf_init(&carry, MAX_LINE);
    if ((rc = objstore_path(dir, object, &path)) < 0) {
        rc = nh_errorf(err, rc, "bad object '%s'", object);
        goto out;
    }
    fd = open(strbuf_str(&path), O_RDONLY | O_CLOEXEC);
    buf = malloc(BLOCK);
    if (fd < 0 || !buf) {
        rc = fd < 0 ? nh_error_errno(err, "cannot open object '%s'", object)
                    : nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    while ((got = read(fd, buf, BLOCK)) > 0) {
        const char *p0 = buf, *end = buf + got, *nl;

        while ((nl = memchr(p0, '\n', (size_t)(end - p0)))) {
            if (carry.len) {
                uint64_t start = base + (uint64_t)(p0 - buf) - carry.len;

                if ((rc = strbuf_add(&carry, p0, (size_t)(nl - p0))) < 0) {
                    rc = nh_errorf(err, rc, "a line of object '%s' is too long",
                                   object);
                    goto out;
                }
                if ((rc = take_line(p, shard, start, carry.buf, carry.len,
                                    err)) < 0)
                    goto out;
                strbuf_reset(&carry);
            } else if ((rc = take_line(p, shard, base + (uint64_t)(p0 - buf),
                                       p0, (size_t)(nl - p0), err)) < 0) {
                goto out;
            }
            p0 = nl + 1;
        }
        if (p0 < end && (rc = strbuf_add(&carry, p0, (size_t)(end - p0))) < 0) {
            rc =
                nh_errorf(err, rc, "a line of object '%s' is too long", object);
            goto out;
        }
        base += (uint64_t)got;
    }
    if (got < 0)
        rc = nh_error_errno(err, "cannot read object '%s'", object);
    else if (carry.len)
        rc = take_line(p, shard, base - carry.len, carry.buf, carry.len, err);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    strbuf_release(&path);
    strbuf_release(&carry);
    return rc;
}

static int
cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

static int
cmp_item(const void *a, const void *b)
{
    const struct sample_item *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

int
sample_read_line(const char *data_dir, const char *object, uint64_t offset,
                 uint64_t length, char **out, struct nh_error *err)
{
    struct strbuf path;
    char *line = NULL;
    ssize_t got = -1;
    int fd = -1, rc = 0;

    if (length > MAX_LINE)
        return nh_errorf(err, NH_ETOOBIG, "line too long");
    strbuf_init(&path, 0);
    if ((rc = objstore_path(data_dir, object, &path)) < 0) {
        rc = nh_errorf(err, rc, "bad object '%s'", object);
        goto out;
    }
    fd = open(strbuf_str(&path), O_RDONLY | O_CLOEXEC);
    line = malloc(length + 1);
    if (fd < 0 || !line) {
        rc = fd < 0 ? nh_error_errno(err, "cannot open object '%s'", object)
                    : nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    got = pread(fd, line, length, (off_t)offset);
    if (got != (ssize_t)length) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "object '%s' is shorter than its "
                       "sample says",
                       object);
        goto out;
    }
    line[length] = '\0';
    *out = line;
    line = NULL;
out:
    if (fd >= 0)
        close(fd);
    free(line);
    strbuf_release(&path);
    return rc;
}

static char *
dup_field(const cJSON *o, const char *key)
{
    const char *v =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

    return v ? strdup(v) : NULL;
}

/* Fill the chosen items' ids and audit fields from their lines. */
static int
describe(const char *dir, const char *const *objects, struct sample *s,
         struct nh_error *err)
{
    for (size_t i = 0; i < s->nitems; i++) {
        struct sample_item *it = &s->items[i];
        char *line = NULL;
        cJSON *doc;
        int rc = sample_read_line(dir, objects[it->shard], it->offset,
                                  it->length, &line, err);

        if (rc < 0)
            return rc;
        doc = cJSON_Parse(line);
        free(line);
        if (doc) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
            char num[32];

            if (cJSON_IsString(id))
                it->doc_id = strdup(id->valuestring);
            else if (cJSON_IsNumber(id)) {
                snprintf(num, sizeof(num), "%.17g", id->valuedouble);
                it->doc_id = strdup(num);
            }
            it->removed_by = dup_field(doc, "removed_by");
            it->reason = dup_field(doc, "reason");
            it->duplicate_of = dup_field(doc, "duplicate_of");
        }
        cJSON_Delete(doc);
    }
    return 0;
}

int
sample_draw(const char *data_dir, const char *const *objects, size_t nobjects,
            const struct sample_spec *spec, struct sample *out,
            struct nh_error *err)
{
    struct pass p;
    uint64_t *Nh = NULL, *nh = NULL, n0, n;
    double *w = NULL;
    size_t i, k, total = 0;
    int rc = 0;

    memset(&p, 0, sizeof(p));
    memset(out, 0, sizeof(*out));
    p.spec = spec;
    /* the size without the finite-population correction bounds the one
     * with it, so heaps of n0 are enough before N is known */
    n0 = spec->n ? spec->n
                 : rstats_cochran(spec->margin, spec->confidence, 0.5, 0);
    if (n0 == 0 || n0 > SAMPLE_MAX_ITEMS)
        return nh_errorf(err, NH_EINVAL, "sample size must be 1..%d",
                         SAMPLE_MAX_ITEMS);
    p.cap = (size_t)n0;
    for (i = 0; i < nobjects; i++)
        if ((rc = scan_object(&p, data_dir, objects[i], (uint32_t)i, err)) < 0)
            goto out;
    n = spec->n
            ? spec->n
            : rstats_cochran(spec->margin, spec->confidence, 0.5, p.population);
    k = p.nstrata;
    Nh = calloc(k + 1, sizeof(*Nh));
    nh = calloc(k + 1, sizeof(*nh));
    w = calloc(k + 1, sizeof(*w));
    if (!Nh || !nh || !w) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < k; i++) {
        Nh[i] = p.strata[i].N;
        w[i] = spec->neyman
                   ? rstats_neyman_weight(
                         Nh[i], spec->prior ? spec->prior(p.strata[i].name,
                                                          spec->prior_arg)
                                            : 0.5)
                   : (double)Nh[i];
    }
    if (k && (rc = rstats_largest_remainder(Nh, w, k, n, nh)) < 0) {
        rc = nh_errorf(err, rc, "cannot allocate the sample to strata");
        goto out;
    }
    for (i = 0; i < k; i++)
        total += (size_t)nh[i];
    out->items = calloc(total + 1, sizeof(*out->items));
    out->strata = calloc(k + 1, sizeof(*out->strata));
    if (!out->items || !out->strata) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < k; i++) {
        struct stratum *s = &p.strata[i];

        qsort(s->heap, s->len, sizeof(*s->heap), cmp_entry);
        for (size_t j = 0; j < nh[i] && j < s->len; j++) {
            struct sample_item *it = &out->items[out->nitems++];

            it->key = s->heap[j].key;
            it->shard = s->heap[j].shard;
            it->offset = s->heap[j].offset;
            it->length = s->heap[j].length;
            if (spec->strata && !(it->stratum = strdup(s->name))) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
        }
        out->strata[out->nstrata].name = s->name;
        out->strata[out->nstrata].N = s->N;
        out->strata[out->nstrata].n = nh[i];
        out->nstrata++;
        s->name = NULL;
    }
    out->population = p.population;
    /* review order: by key across strata */
    qsort(out->items, out->nitems, sizeof(*out->items), cmp_item);
    rc = describe(data_dir, objects, out, err);
out:
    for (i = 0; i < p.nstrata; i++) {
        free(p.strata[i].name);
        free(p.strata[i].heap);
    }
    free(p.strata);
    free(Nh);
    free(nh);
    free(w);
    if (rc < 0)
        sample_release(out);
    return rc;
}

void
sample_release(struct sample *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nitems; i++) {
        free(s->items[i].stratum);
        free(s->items[i].doc_id);
        free(s->items[i].removed_by);
        free(s->items[i].reason);
        free(s->items[i].duplicate_of);
    }
    free(s->items);
    for (size_t i = 0; i < s->nstrata; i++)
        free(s->strata[i].name);
    free(s->strata);
    memset(s, 0, sizeof(*s));
}
