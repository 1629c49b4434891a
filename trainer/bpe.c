/* bpe.c - byte-level BPE: pre-tokenization, training, encoding, the file
 *
 * The tokenizer of nh-train (bpe.h has the contract, docs/TRAINER.md the
 * rules and the file format). Training works on distinct pieces with
 * their counts: each piece is an array of symbols, every adjacent pair
 * has a count and the list of pieces it occurs in, and a max-heap keyed
 * by (count, pair) picks the next merge. A merge rewrites only the pieces
 * that hold the pair and adjusts the counts of the neighbouring pairs, so
 * the cost of a merge is the size of the pieces it touches, not the
 * corpus. Heap entries are lazy: counts of old pairs only ever go down,
 * so a popped entry whose count is out of date is pushed again with the
 * current count. Encoding applies merges by rank inside each piece and
 * caches piece -> ids.
 */
#include "bpe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "jsonl.h"
#include "utf8.h"

#define NO_ID UINT32_MAX
#define PIECE_MAX_BYTES 512          /* > the longest piece pretok makes */
#define CACHE_MAX_ENTRIES (1u << 18) /* encode cache, reset when full */
#define CACHE_MAX_IDS (1u << 22)

/* ---------------------------------------------------------------- */
/* Pre-tokenization                                                  */

enum pclass { PC_CJK, PC_LETTER, PC_DIGIT, PC_SPACE, PC_PUNCT, PC_BAD };

static enum pclass
cp_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return PC_LETTER;
        if (cp >= '0' && cp <= '9')
            return PC_DIGIT;
        if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
            return PC_SPACE;
        return PC_PUNCT;
    }
    if (cp_is_cjk(cp))
        return PC_CJK;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return PC_LETTER;
    case UTF8PROC_CATEGORY_ND:
        return PC_DIGIT;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return PC_SPACE;
    default:
        return PC_PUNCT;
    }
}

/* Class of the code point at s (len > 0); *n gets its length. */
static enum pclass
peek(const char *s, size_t len, size_t *n, uint32_t *cpo)
{
    uint32_t cp;
    bool bad = false;

    if ((unsigned char)s[0] < 0x80) {
        *n = 1;
        *cpo = (unsigned char)s[0];
        return cp_class(*cpo);
    }
    *n = utf8_decode(s, len, &cp, &bad);
    *cpo = cp;
    return bad ? PC_BAD : cp_class(cp);
}

size_t
bpe_pretok_next(const char *s, size_t len)
{
    size_t i, n, n2;
    uint32_t cp, cp2;
    enum pclass c = peek(s, len, &n, &cp), c2;
    int count = 1, max;

    if (c == PC_BAD)
        return 1;
    i = n;
    if (c == PC_SPACE && cp == ' ' && i < len) {
        /* one ' ' before a word, a number or a symbol belongs to it */
        c2 = peek(s + i, len - i, &n2, &cp2);
        if (c2 != PC_SPACE && c2 != PC_BAD) {
            c = c2, count = 1, i += n2;
        }
    }
    switch (c) {
    case PC_CJK:
        max = BPE_CJK_RUN_MAX;
        break;
    case PC_DIGIT:
        max = BPE_DIGIT_RUN_MAX;
        break;
    default:
        max = BPE_RUN_MAX;
        break;
    }
    while (i < len && count < max) {
        c2 = peek(s + i, len - i, &n2, &cp2);
        if (c2 != c)
            break;
        if (c == PC_SPACE && cp2 == ' ' && i + n2 < len) {
            c2 = peek(s + i + n2, len - i - n2, &n, &cp);
            if (c2 != PC_SPACE && c2 != PC_BAD)
                break; /* leave that space to what follows it */
        }
        i += n2;
        count++;
    }
    return i;
}

/* ---------------------------------------------------------------- */
/* Small containers                                                  */

int
bpe_ids_push(struct bpe_ids *ids, uint32_t id)
{
    if (ids->n == ids->alloc) {
        size_t na = ids->alloc ? ids->alloc * 2 : 256;
        uint32_t *v = realloc(ids->v, na * sizeof(*v));

        if (!v)
            return NH_ENOMEM;
        ids->v = v;
        ids->alloc = na;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void
bpe_ids_release(struct bpe_ids *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->alloc = 0;
}

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* u64 key -> u32 value, open addressing; NO_ID marks an empty slot. */
struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
};

static uint32_t
u64map_get(const struct u64map *m, uint64_t key)
{
    size_t i;

    if (!m->cap)
        return NO_ID;
    for (i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == NO_ID)
            return NO_ID;
        if (m->keys[i] == key)
            return m->vals[i];
    }
}

static int u64map_put(struct u64map *m, uint64_t key, uint32_t val);

static int
u64map_grow(struct u64map *m)
{
    struct u64map nm;
    size_t i;

    nm.cap = m->cap ? m->cap * 2 : 1024;
    nm.n = 0;
    nm.keys = malloc(nm.cap * sizeof(*nm.keys));
    nm.vals = malloc(nm.cap * sizeof(*nm.vals));
    if (!nm.keys || !nm.vals) {
        free(nm.keys);
        free(nm.vals);
        return NH_ENOMEM;
    }
    memset(nm.vals, 0xff, nm.cap * sizeof(*nm.vals));
    for (i = 0; i < m->cap; i++)
        if (m->vals[i] != NO_ID)
            u64map_put(&nm, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = nm;
    return 0;
}

/* Insert or overwrite. */
static int
u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap && u64map_grow(m) < 0)
        return NH_ENOMEM;
    for (i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == NO_ID) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return 0;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return 0;
        }
    }
}

static void
u64map_release(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* Byte string -> u64 value, strings kept in a pool. */
struct strtab_ent {
    uint64_t hash;
    size_t off;
    uint32_t len;
    uint64_t val;
};

struct strtab {
    struct strtab_ent *ents;
    size_t n, alloc;
    uint32_t *slots; /* entry index + 1; 0 is empty */
    size_t cap;
    struct strbuf pool;
};

static int
strtab_rehash(struct strtab *t, size_t cap)
{
    uint32_t *s = calloc(cap, sizeof(*s));
    size_t i, j;

    if (!s)
        return NH_ENOMEM;
    for (i = 0; i < t->n; i++) {
        for (j = t->ents[i].hash & (cap - 1); s[j]; j = (j + 1) & (cap - 1))
            ;
        s[j] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return 0;
}

/* Index of s in t, adding it with value 0 when absent; negative NH_E*. */
static long
strtab_intern(struct strtab *t, const char *s, size_t len, uint64_t h)
{
    size_t j;
    struct strtab_ent *e;

    if ((t->n + 1) * 2 > t->cap &&
        strtab_rehash(t, t->cap ? t->cap * 2 : 4096) < 0)
        return NH_ENOMEM;
    for (j = h & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
        e = &t->ents[t->slots[j] - 1];
        if (e->hash == h && e->len == len &&
            !memcmp(t->pool.buf + e->off, s, len))
            return (long)(t->slots[j] - 1);
    }
    if (t->n >= UINT32_MAX - 1)
        return NH_ETOOBIG;
    if (t->n == t->alloc) {
        size_t na = t->alloc ? t->alloc * 2 : 4096;
        struct strtab_ent *ne = realloc(t->ents, na * sizeof(*ne));

        if (!ne)
            return NH_ENOMEM;
        t->ents = ne;
        t->alloc = na;
    }
    e = &t->ents[t->n];
    e->hash = h;
    e->off = t->pool.len;
    e->len = (uint32_t)len;
    e->val = 0;
    if (strbuf_add(&t->pool, s, len) < 0)
        return NH_ENOMEM;
    t->slots[j] = (uint32_t)(t->n + 1);
    return (long)t->n++;
}

static long
strtab_find(const struct strtab *t, const char *s, size_t len, uint64_t h)
{
    size_t j;
    const struct strtab_ent *e;

    if (!t->cap)
        return -1;
    for (j = h & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
        e = &t->ents[t->slots[j] - 1];
        if (e->hash == h && e->len == len &&
            !memcmp(t->pool.buf + e->off, s, len))
            return (long)(t->slots[j] - 1);
    }
    return -1;
}

static void
strtab_clear(struct strtab *t)
{
    if (t->slots)
        memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
    strbuf_reset(&t->pool);
}

static void
strtab_release(struct strtab *t)
{
    free(t->ents);
    free(t->slots);
    strbuf_release(&t->pool);
    memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- */
/* The tokenizer                                                     */

struct bpe {
    uint32_t vocab, nsp, nmerges;
    char **specials;       /* nsp names */
    uint32_t (*merges)[2]; /* merge r makes id 256 + nsp + r */
    size_t *tok_off;       /* vocab + 1 offsets into tok_pool */
    char *tok_pool;
    struct u64map rank;  /* (a << 32 | b) -> merged id */
    struct strtab cache; /* piece -> (ids offset << 16 | count) */
    struct bpe_ids cache_ids;
    struct nh_h128 hash;
};

static uint64_t
pair_key(uint32_t a, uint32_t b)
{
    return (uint64_t)a << 32 | b;
}

void
bpe_free(struct bpe *b)
{
    uint32_t i;

    if (!b)
        return;
    for (i = 0; b->specials && i < b->nsp; i++)
        free(b->specials[i]);
    free(b->specials);
    free(b->merges);
    free(b->tok_off);
    free(b->tok_pool);
    u64map_release(&b->rank);
    strtab_release(&b->cache);
    bpe_ids_release(&b->cache_ids);
    free(b);
}

static bool
special_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > BPE_MAX_SPECIAL_LEN)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Token bytes, the rank map and the hash, once merges and specials are
 * set; NH_ECORRUPT for a merge that refers to a later id or repeats. */
static int
bpe_build(struct bpe *b, struct nh_error *err)
{
    uint32_t id, first = 256 + b->nsp, r;
    size_t total = 0, off;
    struct strbuf sb = STRBUF_INIT;
    int rc;

    b->tok_off = malloc(((size_t)b->vocab + 1) * sizeof(*b->tok_off));
    if (!b->tok_off)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    for (id = 0; id < b->vocab; id++) {
        b->tok_off[id] = total;
        if (id < 256)
            total += 1;
        else if (id < first)
            total += strlen(b->specials[id - 256]);
        else {
            r = id - first;
            if (b->merges[r][0] >= id || b->merges[r][1] >= id ||
                (b->merges[r][0] >= 256 && b->merges[r][0] < first) ||
                (b->merges[r][1] >= 256 && b->merges[r][1] < first))
                return nh_errorf(err, NH_ECORRUPT,
                                 "merge %u refers to a bad id", r);
            total +=
                (b->tok_off[b->merges[r][0] + 1] -
                 b->tok_off[b->merges[r][0]]) +
                (b->tok_off[b->merges[r][1] + 1] - b->tok_off[b->merges[r][1]]);
            if (u64map_get(&b->rank,
                           pair_key(b->merges[r][0], b->merges[r][1])) != NO_ID)
                return nh_errorf(err, NH_ECORRUPT, "merge %u repeats", r);
            if (u64map_put(&b->rank, pair_key(b->merges[r][0], b->merges[r][1]),
                           id) < 0)
                return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        b->tok_off[id + 1] = total;
    }
    b->tok_pool = malloc(total ? total : 1);
    if (!b->tok_pool)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    for (id = 0; id < b->vocab; id++) {
        off = b->tok_off[id];
        if (id < 256) {
            b->tok_pool[off] = (char)id;
        } else if (id < first) {
            memcpy(b->tok_pool + off, b->specials[id - 256],
                   strlen(b->specials[id - 256]));
        } else {
            uint32_t x = b->merges[id - first][0], y = b->merges[id - first][1];
            size_t lx = b->tok_off[x + 1] - b->tok_off[x];

            memcpy(b->tok_pool + off, b->tok_pool + b->tok_off[x], lx);
            memcpy(b->tok_pool + off + lx, b->tok_pool + b->tok_off[y],
                   b->tok_off[y + 1] - b->tok_off[y]);
        }
    }
    rc = bpe_serialize(b, &sb);
    if (rc < 0) {
        strbuf_release(&sb);
        return nh_errorf(err, rc, "out of memory");
    }
    b->hash = nh_hash128(sb.buf, sb.len);
    strbuf_release(&sb);
    return 0;
}

uint32_t
bpe_vocab(const struct bpe *b)
{
    return b->vocab;
}

uint32_t
bpe_nspecials(const struct bpe *b)
{
    return b->nsp;
}

uint32_t
bpe_nmerges(const struct bpe *b)
{
    return b->nmerges;
}

struct nh_h128
bpe_hash(const struct bpe *b)
{
    return b->hash;
}

long
bpe_special_id(const struct bpe *b, const char *name)
{
    uint32_t i;

    for (i = 0; i < b->nsp; i++)
        if (!strcmp(b->specials[i], name))
            return 256 + (long)i;
    return -1;
}

const char *
bpe_token_bytes(const struct bpe *b, uint32_t id, size_t *len)
{
    if (id >= b->vocab)
        return NULL;
    *len = b->tok_off[id + 1] - b->tok_off[id];
    return b->tok_pool + b->tok_off[id];
}

/* ---------------------------------------------------------------- */
/* Training                                                          */

struct bpe_trainer {
    struct strtab pieces; /* val = count */
    uint64_t bytes;
};

int
bpe_trainer_new(struct bpe_trainer **out)
{
    struct bpe_trainer *t = calloc(1, sizeof(*t));

    if (!t)
        return NH_ENOMEM;
    strbuf_init(&t->pieces.pool, 0);
    *out = t;
    return 0;
}

void
bpe_trainer_free(struct bpe_trainer *t)
{
    if (!t)
        return;
    strtab_release(&t->pieces);
    free(t);
}

int
bpe_trainer_add(struct bpe_trainer *t, const char *text, size_t len)
{
    size_t pos = 0, n;
    long i;

    while (pos < len) {
        n = bpe_pretok_next(text + pos, len - pos);
        i = strtab_intern(&t->pieces, text + pos, n, nh_hash64(text + pos, n));
        if (i < 0)
            return (int)i;
        t->pieces.ents[i].val++;
        pos += n;
    }
    t->bytes += len;
    return 0;
}

uint64_t
bpe_trainer_pieces(const struct bpe_trainer *t)
{
    return t->pieces.n;
}

uint64_t
bpe_trainer_bytes(const struct bpe_trainer *t)
{
    return t->bytes;
}

struct word {
    size_t off; /* into sym */
    uint32_t len;
    uint64_t count;
};

struct pair {
    uint32_t a, b;
    int64_t count;
    uint32_t *where; /* words that held the pair when it was counted */
    uint32_t nw, aw;
    bool touched;
};

struct hent {
    int64_t count;
    uint64_t key;
};

struct train {
    struct word *words;
    size_t nwords;
    uint32_t *sym;
    struct pair *pairs;
    size_t npairs, apairs;
    struct u64map index; /* key -> pair index */
    struct hent *heap;
    size_t nheap, aheap;
    uint32_t *touched;
    size_t ntouched, atouched;
};

/* a before b in the heap: larger count, then smaller pair */
static bool
hent_before(const struct hent *x, const struct hent *y)
{
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static void
heap_down(struct hent *h, size_t n, size_t i)
{
    struct hent tmp;
    size_t c;

    for (;;) {
        c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && hent_before(&h[c + 1], &h[c]))
            c++;
        if (!hent_before(&h[c], &h[i]))
            return;
        tmp = h[c];
        h[c] = h[i];
        h[i] = tmp;
        i = c;
    }
}

static int
heap_push(struct train *tr, int64_t count, uint64_t key)
{
    struct hent tmp;
    size_t i;

    if (tr->nheap == tr->aheap) {
        size_t na = tr->aheap ? tr->aheap * 2 : 4096;
        struct hent *nh = realloc(tr->heap, na * sizeof(*nh));

        if (!nh)
            return NH_ENOMEM;
        tr->heap = nh;
        tr->aheap = na;
    }
    i = tr->nheap++;
    tr->heap[i].count = count;
    tr->heap[i].key = key;
    while (i > 0 && hent_before(&tr->heap[i], &tr->heap[(i - 1) / 2])) {
        tmp = tr->heap[i];
        tr->heap[i] = tr->heap[(i - 1) / 2];
        tr->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
    return 0;
}

static struct hent
heap_pop(struct train *tr)
{
    struct hent top = tr->heap[0];

    tr->heap[0] = tr->heap[--tr->nheap];
    heap_down(tr->heap, tr->nheap, 0);
    return top;
}

/* Index of pair (a, b), created with count 0 if new; negative NH_E*. */
static long
pair_get(struct train *tr, uint32_t a, uint32_t b)
{
    uint64_t key = pair_key(a, b);
    uint32_t i = u64map_get(&tr->index, key);
    struct pair *p;

    if (i != NO_ID)
        return i;
    if (tr->npairs >= NO_ID - 1)
        return NH_ETOOBIG;
    if (tr->npairs == tr->apairs) {
        size_t na = tr->apairs ? tr->apairs * 2 : 4096;
        struct pair *np = realloc(tr->pairs, na * sizeof(*np));

        if (!np)
            return NH_ENOMEM;
        tr->pairs = np;
        tr->apairs = na;
    }
    p = &tr->pairs[tr->npairs];
    memset(p, 0, sizeof(*p));
    p->a = a;
    p->b = b;
    if (u64map_put(&tr->index, key, (uint32_t)tr->npairs) < 0)
        return NH_ENOMEM;
    return (long)tr->npairs++;
}

static int
pair_add_where(struct pair *p, uint32_t w)
{
    if (p->nw && p->where[p->nw - 1] == w)
        return 0;
    if (p->nw == p->aw) {
        uint32_t na = p->aw ? p->aw * 2 : 2;
        uint32_t *nw = realloc(p->where, na * sizeof(*nw));

        if (!nw)
            return NH_ENOMEM;
        p->where = nw;
        p->aw = na;
    }
    p->where[p->nw++] = w;
    return 0;
}

/* Add delta to the count of (a, b); a positive delta records word w and
 * marks the pair for a heap push after the merge. */
static int
pair_add(struct train *tr, uint32_t a, uint32_t b, int64_t delta, uint32_t w)
{
    long i = pair_get(tr, a, b);
    struct pair *p;

    if (i < 0)
        return (int)i;
    p = &tr->pairs[i];
    p->count += delta;
    if (delta <= 0)
        return 0;
    if (pair_add_where(p, w) < 0)
        return NH_ENOMEM;
    if (!p->touched) {
        if (tr->ntouched == tr->atouched) {
            size_t na = tr->atouched ? tr->atouched * 2 : 256;
            uint32_t *nt = realloc(tr->touched, na * sizeof(*nt));

            if (!nt)
                return NH_ENOMEM;
            tr->touched = nt;
            tr->atouched = na;
        }
        p->touched = true;
        tr->touched[tr->ntouched++] = (uint32_t)i;
    }
    return 0;
}

/* Replace each (a, b) in word w by c, adjusting neighbouring pairs. */
static int
merge_word(struct train *tr, uint32_t w, uint32_t a, uint32_t b, uint32_t c)
{
    struct word *wd = &tr->words[w];
    uint32_t *s = tr->sym + wd->off, n = wd->len, i = 0, j = 0;
    int64_t cnt = (int64_t)wd->count;
    int rc;

    while (i < n) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (j > 0) {
                if ((rc = pair_add(tr, s[j - 1], a, -cnt, w)) < 0 ||
                    (rc = pair_add(tr, s[j - 1], c, cnt, w)) < 0)
                    return rc;
            }
            if (i + 2 < n) {
                if ((rc = pair_add(tr, b, s[i + 2], -cnt, w)) < 0 ||
                    (rc = pair_add(tr, c, s[i + 2], cnt, w)) < 0)
                    return rc;
            }
            if ((rc = pair_add(tr, a, b, -cnt, w)) < 0)
                return rc;
            s[j++] = c;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    wd->len = j;
    return 0;
}

static void
train_release(struct train *tr)
{
    size_t i;

    for (i = 0; i < tr->npairs; i++)
        free(tr->pairs[i].where);
    free(tr->pairs);
    free(tr->words);
    free(tr->sym);
    free(tr->heap);
    free(tr->touched);
    u64map_release(&tr->index);
}

/* Words and the initial pair counts from the counted pieces. */
static int
train_setup(struct train *tr, const struct bpe_trainer *t)
{
    size_t i, total = 0, off = 0;
    uint32_t k;
    long p;
    int rc;

    for (i = 0; i < t->pieces.n; i++)
        if (t->pieces.ents[i].len >= 2)
            total += t->pieces.ents[i].len, tr->nwords++;
    tr->words = malloc((tr->nwords ? tr->nwords : 1) * sizeof(*tr->words));
    tr->sym = malloc((total ? total : 1) * sizeof(*tr->sym));
    if (!tr->words || !tr->sym)
        return NH_ENOMEM;
    tr->nwords = 0;
    for (i = 0; i < t->pieces.n; i++) {
        const struct strtab_ent *e = &t->pieces.ents[i];
        const unsigned char *s =
            (const unsigned char *)t->pieces.pool.buf + e->off;
        struct word *w;

        if (e->len < 2)
            continue;
        w = &tr->words[tr->nwords];
        w->off = off;
        w->len = e->len;
        w->count = e->val;
        for (k = 0; k < e->len; k++)
            tr->sym[off + k] = s[k];
        for (k = 0; k + 1 < e->len; k++) {
            p = pair_get(tr, s[k], s[k + 1]);
            if (p < 0)
                return (int)p;
            tr->pairs[p].count += (int64_t)e->val;
            if ((rc = pair_add_where(&tr->pairs[p], (uint32_t)tr->nwords)) < 0)
                return rc;
        }
        off += e->len;
        tr->nwords++;
    }
    tr->aheap = tr->npairs ? tr->npairs : 1;
    tr->heap = malloc(tr->aheap * sizeof(*tr->heap));
    if (!tr->heap)
        return NH_ENOMEM;
    for (i = 0; i < tr->npairs; i++) {
        tr->heap[i].count = tr->pairs[i].count;
        tr->heap[i].key = pair_key(tr->pairs[i].a, tr->pairs[i].b);
    }
    tr->nheap = tr->npairs;
    for (i = tr->nheap / 2; i-- > 0;)
        heap_down(tr->heap, tr->nheap, i);
    return 0;
}

int
bpe_trainer_finish(struct bpe_trainer *t, const struct bpe_train_opts *o,
                   struct bpe **out, struct nh_error *err)
{
    struct train tr;
    struct bpe *b = NULL;
    uint32_t target, first, c, *where, nw, k;
    uint64_t min_count = o->min_count ? o->min_count : 2;
    size_t i, j;
    int rc = 0;

    memset(&tr, 0, sizeof(tr));
    if (o->nspecials > BPE_MAX_SPECIALS)
        return nh_errorf(err, NH_EINVAL, "too many special tokens (max %u)",
                         BPE_MAX_SPECIALS);
    first = 256 + 1 + (uint32_t)o->nspecials;
    if (o->vocab < first || o->vocab > BPE_MAX_VOCAB)
        return nh_errorf(err, NH_EINVAL,
                         "vocabulary size %u out of range (%u..%u)", o->vocab,
                         first, BPE_MAX_VOCAB);
    for (i = 0; i < o->nspecials; i++) {
        if (!special_name_ok(o->specials[i]) ||
            !strcmp(o->specials[i], BPE_EOT_NAME))
            return nh_errorf(err, NH_EINVAL, "bad special token '%s'",
                             o->specials[i]);
        for (j = 0; j < i; j++)
            if (!strcmp(o->specials[i], o->specials[j]))
                return nh_errorf(err, NH_EINVAL,
                                 "special token '%s' given twice",
                                 o->specials[i]);
    }
    target = o->vocab - first;

    b = calloc(1, sizeof(*b));
    if (!b)
        goto nomem;
    strbuf_init(&b->cache.pool, 0);
    b->nsp = first - 256;
    b->specials = calloc(b->nsp, sizeof(*b->specials));
    b->merges = malloc((target ? target : 1) * sizeof(*b->merges));
    if (!b->specials || !b->merges)
        goto nomem;
    for (k = 0; k < b->nsp; k++) {
        b->specials[k] = strdup(k ? o->specials[k - 1] : BPE_EOT_NAME);
        if (!b->specials[k])
            goto nomem;
    }

    if ((rc = train_setup(&tr, t)) < 0)
        goto fail;
    while (b->nmerges < target && tr.nheap > 0) {
        struct hent top = heap_pop(&tr);
        uint32_t pi = u64map_get(&tr.index, top.key);
        struct pair *p = &tr.pairs[pi];
        uint32_t a = p->a, bb = p->b;

        if (p->count != top.count) {
            if (p->count > 0 && (rc = heap_push(&tr, p->count, top.key)) < 0)
                goto fail;
            continue;
        }
        if ((uint64_t)p->count < min_count)
            break;
        c = first + b->nmerges;
        b->merges[b->nmerges][0] = a;
        b->merges[b->nmerges][1] = bb;
        b->nmerges++;
        where = p->where;
        nw = p->nw;
        p->where = NULL;
        p->nw = p->aw = 0;
        for (k = 0; k < nw && rc == 0; k++)
            rc = merge_word(&tr, where[k], a, bb, c);
        free(where);
        if (rc < 0)
            goto fail;
        for (i = 0; i < tr.ntouched; i++) {
            p = &tr.pairs[tr.touched[i]];
            p->touched = false;
            if (p->count > 0 &&
                (rc = heap_push(&tr, p->count, pair_key(p->a, p->b))) < 0)
                goto fail;
        }
        tr.ntouched = 0;
        if (o->progress && b->nmerges % 1000 == 0)
            o->progress(b->nmerges, target, o->progress_arg);
    }
    train_release(&tr);
    b->vocab = first + b->nmerges;
    if ((rc = bpe_build(b, err)) < 0) {
        bpe_free(b);
        return rc;
    }
    *out = b;
    return 0;

nomem:
    rc = NH_ENOMEM;
fail:
    train_release(&tr);
    bpe_free(b);
    return nh_errorf(err, rc, "training: %s", nh_strerror(rc));
}

/* ---------------------------------------------------------------- */
/* The file                                                          */

int
bpe_serialize(const struct bpe *b, struct strbuf *out)
{
    size_t start = out->len;
    uint32_t i;
    int rc = 0;

    rc |= strbuf_addf(out, "%s %d\nvocab %u\nspecials %u\nmerges %u\n",
                      BPE_MAGIC, BPE_VERSION, b->vocab, b->nsp, b->nmerges);
    rc |= strbuf_addf(out, "pretok cjk%d-run%d-digit%d-sp\n", BPE_CJK_RUN_MAX,
                      BPE_RUN_MAX, BPE_DIGIT_RUN_MAX);
    for (i = 0; i < b->nsp; i++)
        rc |= strbuf_addf(out, "special %u %s\n", 256 + i, b->specials[i]);
    for (i = 0; i < b->nmerges && rc == 0; i++)
        rc |= strbuf_addf(out, "%u %u\n", b->merges[i][0], b->merges[i][1]);
    if (rc)
        return NH_ENOMEM;
    return strbuf_addf(
        out, "checksum %016llx\n",
        (unsigned long long)nh_hash64(out->buf + start, out->len - start));
}

int
bpe_save(const struct bpe *b, const char *path, struct nh_error *err)
{
    struct strbuf sb = STRBUF_INIT;
    struct nh_writer *w = NULL;
    int rc;

    if ((rc = bpe_serialize(b, &sb)) < 0) {
        nh_errorf(err, rc, "out of memory");
        goto out;
    }
    if ((rc = nh_writer_open(&w, path, 0, err)) < 0)
        goto out;
    if ((rc = nh_writer_write(w, sb.buf, sb.len, err)) < 0) {
        nh_writer_abort(w);
        goto out;
    }
    rc = nh_writer_commit(w, err);
out:
    strbuf_release(&sb);
    return rc;
}

/* Next line of [*p, end) without its '\n' into buf; false at the end or
 * for a line without '\n' or too long. */
static bool
next_line(const char **p, const char *end, char *buf, size_t cap)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n;

    if (!nl)
        return false;
    n = (size_t)(nl - *p);
    if (n >= cap)
        return false;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = nl + 1;
    return true;
}

static bool
parse_u32(const char *s, uint32_t *v, const char **rest)
{
    char *e;
    unsigned long x;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    x = strtoul(s, &e, 10);
    if (errno || x > UINT32_MAX)
        return false;
    *v = (uint32_t)x;
    *rest = e;
    return true;
}

int
bpe_parse(struct bpe **out, const char *data, size_t len, struct nh_error *err)
{
    const char *p = data, *end = data + len, *r, *body_end;
    char line[256], want[64];
    struct bpe *b = NULL;
    uint32_t v, ver, i, id;
    unsigned long long sum;
    int n = 0;

    /* the checksum line ends the file; it covers everything before it */
    body_end = end;
    if (len >= 2 && end[-1] == '\n') {
        for (body_end = end - 1; body_end > data && body_end[-1] != '\n';
             body_end--)
            ;
    }
    if (body_end == end ||
        sscanf(body_end, "checksum %16llx\n%n", &sum, &n) != 1 ||
        body_end + n != end)
        return nh_errorf(err, NH_ECORRUPT,
                         "not a tokenizer file "
                         "(no checksum line)");
    if (!next_line(&p, body_end, line, sizeof(line)) ||
        sscanf(line, BPE_MAGIC " %u%n", &ver, &n) != 1 || line[n])
        return nh_errorf(err, NH_ECORRUPT, "not a tokenizer file");
    if (ver != BPE_VERSION)
        return nh_errorf(err, NH_ECORRUPT,
                         "tokenizer file version %u (this is version %d)", ver,
                         BPE_VERSION);
    if (nh_hash64(data, (size_t)(body_end - data)) != sum)
        return nh_errorf(err, NH_ECORRUPT, "tokenizer checksum mismatch");

    b = calloc(1, sizeof(*b));
    if (!b)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    strbuf_init(&b->cache.pool, 0);
    if (!next_line(&p, body_end, line, sizeof(line)) ||
        sscanf(line, "vocab %u%n", &b->vocab, &n) != 1 || line[n] ||
        !next_line(&p, body_end, line, sizeof(line)) ||
        sscanf(line, "specials %u%n", &b->nsp, &n) != 1 || line[n] ||
        !next_line(&p, body_end, line, sizeof(line)) ||
        sscanf(line, "merges %u%n", &b->nmerges, &n) != 1 || line[n])
        goto corrupt;
    if (b->nsp < 1 || b->nsp > BPE_MAX_SPECIALS || b->vocab > BPE_MAX_VOCAB ||
        (uint64_t)b->vocab != 256ull + b->nsp + b->nmerges)
        goto corrupt;
    snprintf(want, sizeof(want), "pretok cjk%d-run%d-digit%d-sp",
             BPE_CJK_RUN_MAX, BPE_RUN_MAX, BPE_DIGIT_RUN_MAX);
    if (!next_line(&p, body_end, line, sizeof(line)) || strcmp(line, want)) {
        bpe_free(b);
        return nh_errorf(err, NH_ECORRUPT,
                         "tokenizer made with another pre-tokenizer");
    }
    b->specials = calloc(b->nsp, sizeof(*b->specials));
    b->merges = malloc((b->nmerges ? b->nmerges : 1) * sizeof(*b->merges));
    if (!b->specials || !b->merges) {
        bpe_free(b);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    for (i = 0; i < b->nsp; i++) {
        if (!next_line(&p, body_end, line, sizeof(line)) ||
            strncmp(line, "special ", 8) || !parse_u32(line + 8, &id, &r) ||
            id != 256 + i || *r != ' ' || !special_name_ok(r + 1) ||
            (i == 0 && strcmp(r + 1, BPE_EOT_NAME)))
            goto corrupt;
        b->specials[i] = strdup(r + 1);
        if (!b->specials[i]) {
            bpe_free(b);
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
    }
    for (i = 0; i < b->nmerges; i++) {
        if (!next_line(&p, body_end, line, sizeof(line)) ||
            !parse_u32(line, &b->merges[i][0], &r) || *r != ' ' ||
            !parse_u32(r + 1, &v, &r) || *r)
            goto corrupt;
        b->merges[i][1] = v;
    }
    if (p != body_end)
        goto corrupt;
    if (bpe_build(b, err) < 0) {
        bpe_free(b);
        return NH_ECORRUPT;
    }
    *out = b;
    return 0;
corrupt:
    bpe_free(b);
    return nh_errorf(err, NH_ECORRUPT, "bad tokenizer file: '%s'", line);
}

int
bpe_load(struct bpe **out, const char *path, struct nh_error *err)
{
    struct nh_reader *rd = NULL;
    struct strbuf sb = STRBUF_INIT;
    struct nh_error e2;
    int rc;

    if ((rc = nh_reader_open(&rd, path, err)) < 0)
        return rc;
    rc = nh_reader_all(rd, &sb, (size_t)1 << 30, err);
    nh_reader_close(rd);
    if (rc < 0)
        goto out;
    if ((rc = bpe_parse(out, sb.buf ? sb.buf : "", sb.len, &e2)) < 0)
        nh_errorf(err, rc, "'%s': %s", path, e2.msg);
out:
    strbuf_release(&sb);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Encoding and decoding                                             */

/* The ids of one piece by applying merges in rank order. */
static int
encode_piece_slow(const struct bpe *b, const unsigned char *s, size_t n,
                  struct bpe_ids *out)
{
    uint32_t sym[PIECE_MAX_BYTES], rk[PIECE_MAX_BYTES];
    size_t m = n, i, k;
    uint32_t best;
    int rc;

    for (i = 0; i < m; i++)
        sym[i] = s[i];
    for (i = 0; i + 1 < m; i++)
        rk[i] = u64map_get(&b->rank, pair_key(sym[i], sym[i + 1]));
    while (m > 1) {
        best = NO_ID;
        k = 0;
        for (i = 0; i + 1 < m; i++)
            if (rk[i] < best)
                best = rk[i], k = i;
        if (best == NO_ID)
            break;
        sym[k] = best;
        if (k + 2 < m)
            memmove(sym + k + 1, sym + k + 2, (m - k - 2) * sizeof(*sym));
        if (k + 3 < m)
            memmove(rk + k + 1, rk + k + 2, (m - k - 3) * sizeof(*rk));
        m--;
        if (k > 0)
            rk[k - 1] = u64map_get(&b->rank, pair_key(sym[k - 1], sym[k]));
        if (k + 1 < m)
            rk[k] = u64map_get(&b->rank, pair_key(sym[k], sym[k + 1]));
    }
    for (i = 0; i < m; i++)
        if ((rc = bpe_ids_push(out, sym[i])) < 0)
            return rc;
    return 0;
}

static int
encode_piece(struct bpe *b, const char *s, size_t n, struct bpe_ids *out)
{
    uint64_t h;
    long e;
    size_t before = out->n, i, off;
    int rc;

    if (n == 1)
        return bpe_ids_push(out, (unsigned char)s[0]);
    if (n > PIECE_MAX_BYTES) { /* not made by pretok; encode in parts */
        for (i = 0; i < n; i += PIECE_MAX_BYTES)
            if ((rc = encode_piece(
                     b, s + i,
                     n - i < PIECE_MAX_BYTES ? n - i : PIECE_MAX_BYTES, out)) <
                0)
                return rc;
        return 0;
    }
    h = nh_hash64(s, n);
    e = strtab_find(&b->cache, s, n, h);
    if (e >= 0) {
        uint64_t v = b->cache.ents[e].val;

        off = (size_t)(v >> 16);
        for (i = 0; i < (v & 0xffff); i++)
            if ((rc = bpe_ids_push(out, b->cache_ids.v[off + i])) < 0)
                return rc;
        return 0;
    }
    if ((rc = encode_piece_slow(b, (const unsigned char *)s, n, out)) < 0)
        return rc;
    if (b->cache.n >= CACHE_MAX_ENTRIES ||
        b->cache_ids.n + (out->n - before) > CACHE_MAX_IDS) {
        strtab_clear(&b->cache);
        b->cache_ids.n = 0;
    }
    e = strtab_intern(&b->cache, s, n, h);
    if (e < 0)
        return 0; /* the cache is an optimisation only */
    off = b->cache_ids.n;
    for (i = before; i < out->n; i++)
        if (bpe_ids_push(&b->cache_ids, out->v[i]) < 0) {
            strtab_clear(&b->cache);
            b->cache_ids.n = 0;
            return 0;
        }
    b->cache.ents[e].val = (uint64_t)off << 16 | (out->n - before);
    return 0;
}

/* Special token starting at s, or -1. */
static long
special_at(const struct bpe *b, const char *s, size_t len, size_t *n)
{
    uint32_t i;
    size_t l;

    for (i = 0; i < b->nsp; i++) {
        l = strlen(b->specials[i]);
        if (l <= len && !memcmp(s, b->specials[i], l)) {
            *n = l;
            return 256 + (long)i;
        }
    }
    return -1;
}

int
bpe_encode(struct bpe *b, const char *s, size_t len, int flags,
           struct bpe_ids *out)
{
    size_t pos = 0, n, k, sl;
    long sp;
    int rc;

    while (pos < len) {
        if (flags & BPE_ALLOW_SPECIAL) {
            sp = s[pos] == '<' ? special_at(b, s + pos, len - pos, &sl) : -1;
            if (sp >= 0) {
                if ((rc = bpe_ids_push(out, (uint32_t)sp)) < 0)
                    return rc;
                pos += sl;
                continue;
            }
        }
        n = bpe_pretok_next(s + pos, len - pos);
        if (flags & BPE_ALLOW_SPECIAL) { /* a special cuts the piece */
            for (k = 1; k < n; k++)
                if (s[pos + k] == '<' &&
                    special_at(b, s + pos + k, len - pos - k, &sl) >= 0) {
                    n = k;
                    break;
                }
        }
        if ((rc = encode_piece(b, s + pos, n, out)) < 0)
            return rc;
        pos += n;
    }
    return 0;
}

int
bpe_decode(const struct bpe *b, const uint32_t *ids, size_t n,
           struct strbuf *out, struct nh_error *err)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] >= b->vocab)
            return nh_errorf(err, NH_EINVAL,
                             "token id %u out of range (vocabulary %u)", ids[i],
                             b->vocab);
        if (strbuf_add(out, b->tok_pool + b->tok_off[ids[i]],
                       b->tok_off[ids[i] + 1] - b->tok_off[ids[i]]) < 0)
            return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    return 0;
}
