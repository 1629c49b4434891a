/* stage-normalize.c - repair, NFKC, t2s, control and whitespace clean-up
 *
 * The normalize stage runs first after extraction, so every later stage
 * (filters, PII, repetition, dedup) sees one canonical spelling of the
 * text: valid UTF-8, Unicode NFKC (full-width ASCII becomes ASCII),
 * optionally simplified Chinese, no control or zero-width characters, and
 * single spaces with at most one blank line between paragraphs.
 *
 * Each step is one pass over the text and copies nothing when it changes
 * nothing (struct writer below). NFKC takes a fast path: tables built
 * once per process mark the code points that are "inert" (NFKC leaves
 * them alone and nothing can combine with them from the left); runs of
 * those are skipped, a compatibility character followed by a boundary is
 * replaced from a precomputed table, and only the rare spans holding
 * combining marks go through utf8proc. Traditional-to-simplified
 * conversion hands OpenCC only the lines that hold a character OpenCC
 * would change, found with a table probed from OpenCC at init.
 * Parameters, defaults and their sources are in docs/stages/normalize.md.
 */
#include "config.h"
#include "stage.h"
#include "utf8.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <opencc/opencc.h>
#include <utf8proc.h>

struct norm_conf {
    bool reject_bad; /* invalid_utf8 "reject" */
    bool nfkc;
    bool keep_fw_punct;
    bool fw2hw; /* full-width to half-width when nfkc is off */
    bool t2s;
    bool ctrl_remove; /* control_chars "remove" */
    bool ws;
    char *opencc_config; /* malloc'd copy, NULL unless t2s */
    /* ws_pass(): 1 for the bytes that start a character it may change */
    uint8_t ws_special[256];
    /* code points that make a document go through OpenCC: the BMP, and
     * planes 2 and 3 (U+20000-3FFFF) */
    uint64_t t2s_bmp[0x10000 / 64];
    uint64_t t2s_sip[0x20000 / 64];
};

/* Per worker thread: the UTF-32 buffer for NFKC spans (its second half is
 * the reordering scratch), their UTF-8 encoding, and the OpenCC handle. */
struct norm_thread {
    utf8proc_int32_t *u32;
    size_t u32_cap; /* entries in each half */
    struct strbuf enc;
    opencc_t cc; /* NULL unless t2s */
};

/* ---- NFKC tables ------------------------------------------------------- */

/*
 * A code point c has a boundary before it when NFKC(x c y) = NFKC(x)
 * NFKC(c y) for all x, y: the first character of its NFKD has combining
 * class 0 and is not the second of any canonical composition pair (UAX
 * #15, section 9). It is inert when, in addition, NFKC(c) = c. A text
 * therefore splits into segments, each a boundary character followed by
 * non-boundary ones, and NFKC works segment by segment:
 *   - an inert character followed by a boundary is copied as it is;
 *   - any other boundary character followed by a boundary (NFKC_MAPPED)
 *     becomes its precomputed NFKC;
 *   - a segment with non-boundary characters (NFKC_NONBB) goes through
 *     utf8proc, together with the boundary character that starts it.
 * Inert code points are not stored: the BMP has a bitmap, and the hash
 * table holds only the ~6,000 non-inert code points of all planes.
 */
enum { NFKC_MAPPED = 1, NFKC_NONBB = 2 };

#define NFKC_HASH_BITS 14
#define NFKC_HASH_SIZE (1u << NFKC_HASH_BITS)
#define NFKC_POOL_SIZE 65536
#define NFKC_OPTS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT)

struct nfkc_entry {
    uint32_t cp;  /* 0: empty slot (U+0000 is inert) */
    uint16_t off; /* NFKC_MAPPED: the NFKC in pool[off, off + len) */
    uint8_t len;
    uint8_t cls;
};

/* Built once per process by nfkc_build(), read-only afterwards. */
static struct {
    int rc;
    uint64_t inert[0x10000 / 64];
    /* 1 for the lead bytes of sequences that may not be inert; ASCII,
     * continuation bytes and the lead bytes of all-inert ranges (CJK,
     * Hangul syllables) are 0 */
    uint8_t look[256];
    struct nfkc_entry hash[NFKC_HASH_SIZE];
    char pool[NFKC_POOL_SIZE];
    size_t pool_len;
} nfkc;

static pthread_once_t nfkc_once = PTHREAD_ONCE_INIT;

static inline bool
bit_get(const uint64_t *bits, uint32_t i)
{
    return (bits[i >> 6] >> (i & 63)) & 1;
}

static inline void
bit_set(uint64_t *bits, uint32_t i)
{
    bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

static inline int
ccc(utf8proc_int32_t cp)
{
    return utf8proc_get_property(cp)->combining_class;
}

static inline uint32_t
nfkc_slot(uint32_t cp)
{
    return (cp * 2654435761u) >> (32 - NFKC_HASH_BITS);
}

static inline const struct nfkc_entry *
nfkc_lookup(uint32_t cp)
{
    uint32_t h = nfkc_slot(cp);

    for (;;) {
        const struct nfkc_entry *e = &nfkc.hash[h];

        if (e->cp == 0)
            return NULL;
        if (e->cp == cp)
            return e;
        h = (h + 1) & (NFKC_HASH_SIZE - 1);
    }
}

/* Sort the n combining marks at b stably by combining class, as canonical
 * ordering requires; tmp has room for n entries. Insertion sort for the
 * usual short runs, a counting sort for long ones so that hostile input
 * (thousands of marks on one letter) stays linear. */
static void
sort_marks(utf8proc_int32_t *b, size_t n, utf8proc_int32_t *tmp)
{
    size_t i, j, count[256] = {0};

    if (n <= 32) {
        for (i = 1; i < n; i++) {
            utf8proc_int32_t v = b[i];
            int cv = ccc(v);

            for (j = i; j > 0 && ccc(b[j - 1]) > cv; j--)
                b[j] = b[j - 1];
            b[j] = v;
        }
        return;
    }
    for (i = 0; i < n; i++)
        count[ccc(b[i])]++;
    for (i = 0, j = 0; i < 256; i++) {
        size_t c = count[i];

        count[i] = j;
        j += c;
    }
    for (i = 0; i < n; i++)
        tmp[count[ccc(b[i])]++] = b[i];
    memcpy(b, tmp, n * sizeof(*b));
}

/* Canonical ordering of the decomposed b[0, n): each run of non-starters
 * sorted by combining class (what utf8proc_decompose does, in linear
 * time). */
static void
reorder(utf8proc_int32_t *b, size_t n, utf8proc_int32_t *tmp)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;

        while (j < n && ccc(b[j]) != 0)
            j++;
        if (j - i > 1)
            sort_marks(b + i, j - i, tmp);
        i = j + 1;
    }
}

/* NFKC of one code point into out (up to 18 code points are needed);
 * returns the length. */
static size_t
nfkc_one(utf8proc_int32_t cp, utf8proc_int32_t *out, size_t cap)
{
    utf8proc_int32_t tmp[32];
    int bc = 0;
    utf8proc_ssize_t n;

    n = utf8proc_decompose_char(cp, out, (utf8proc_ssize_t)cap, NFKC_OPTS, &bc);
    if (n < 0 || (size_t)n > cap)
        return 0;
    reorder(out, (size_t)n, tmp);
    n = utf8proc_normalize_utf32(out, n, NFKC_OPTS);
    return n < 0 ? 0 : (size_t)n;
}

static int
nfkc_insert(uint32_t cp, int cls, const utf8proc_int32_t *out, size_t n)
{
    uint32_t h = nfkc_slot(cp);
    struct nfkc_entry *e;
    size_t len = 0, k;

    while (nfkc.hash[h].cp)
        h = (h + 1) & (NFKC_HASH_SIZE - 1);
    e = &nfkc.hash[h];
    e->cp = cp;
    e->cls = (uint8_t)cls;
    if (cls != NFKC_MAPPED)
        return 0;
    for (k = 0; k < n; k++) {
        char u[4];
        size_t m = utf8_encode((uint32_t)out[k], u);

        if (nfkc.pool_len + len + m > NFKC_POOL_SIZE || len + m > 255)
            return NH_ETOOBIG;
        memcpy(nfkc.pool + nfkc.pool_len + len, u, m);
        len += m;
    }
    e->off = (uint16_t)nfkc.pool_len;
    e->len = (uint8_t)len;
    nfkc.pool_len += len;
    return 0;
}

/* What NFKC does to cp: 0 when it is inert, NFKC_MAPPED with its NFKC in
 * out[0, *m), or NFKC_NONBB; negative when utf8proc fails. second marks
 * the starters that can be the second of a canonical pair. */
static int
nfkc_classify(uint32_t cp, const uint8_t *second, utf8proc_int32_t *out,
              size_t *m)
{
    utf8proc_int32_t d0;
    utf8proc_ssize_t n;
    int bc = 0;

    n = utf8proc_decompose_char((utf8proc_int32_t)cp, out, 32, NFKC_OPTS, &bc);
    if (n < 1 || n > 32)
        return NH_EINVAL;
    d0 = out[0];
    if (ccc(d0) != 0 || ((second[d0 >> 3] >> (d0 & 7)) & 1))
        return NFKC_NONBB;
    if (n == 1 && (uint32_t)d0 == cp)
        return 0;
    if ((*m = nfkc_one((utf8proc_int32_t)cp, out, 32)) == 0)
        return NH_EINVAL;
    return *m == 1 && (uint32_t)out[0] == cp ? 0 : NFKC_MAPPED;
}

static void
nfkc_build(void)
{
    uint8_t *second = calloc(0x110000 / 8, 1);
    utf8proc_int32_t buf[32];
    size_t total = 0, m = 0;
    uint32_t cp, b;
    int bc = 0, cls, rc = NH_EINVAL;

    if (!second) {
        nfkc.rc = NH_ENOMEM;
        return;
    }
    /* Starters that can be the second of a canonical pair: the last code
     * point of a canonical decomposition (Hangul vowels and trailing
     * consonants, some Indic vowel signs). Excluded compositions are
     * included, which only costs speed. */
    for (cp = 0; cp < 0x110000; cp++) {
        utf8proc_ssize_t n;

        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 32,
                                    UTF8PROC_DECOMPOSE, &bc);
        if (n >= 2 && n <= 32 && ccc(buf[n - 1]) == 0)
            second[buf[n - 1] >> 3] |= (uint8_t)(1u << (buf[n - 1] & 7));
    }
    for (cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            bit_set(nfkc.inert, cp); /* never seen in valid UTF-8 */
            continue;
        }
        if ((cls = nfkc_classify(cp, second, buf, &m)) < 0)
            goto out;
        if (cls == 0) {
            if (cp < 0x10000)
                bit_set(nfkc.inert, cp);
            continue;
        }
        if (++total > NFKC_HASH_SIZE * 3 / 4 ||
            (rc = nfkc_insert(cp, cls, buf, m)) < 0)
            goto out;
    }
    /* lead bytes whose whole range is inert (CJK, Hangul syllables) */
    for (b = 0xC0; b < 0x100; b++)
        nfkc.look[b] = 1;
    for (b = 0xC2; b <= 0xEF; b++) {
        uint32_t lo = b < 0xE0 ? (b & 0x1F) << 6 : (b & 0x0F) << 12;
        uint32_t n = b < 0xE0 ? 64 : 4096, k;

        if (b == 0xE0) { /* E0 starts U+0800-0FFF only */
            lo = 0x800;
            n = 0x800;
        }
        for (k = 0; k < n && bit_get(nfkc.inert, lo + k); k++)
            ;
        if (k == n)
            nfkc.look[b] = 0;
    }
    rc = 0;
out:
    free(second);
    nfkc.rc = rc;
}

/* ---- decoding ---------------------------------------------------------- */

/* Decode the code point at s (rem > 0 bytes); *n = its length. Malformed
 * input (which the invalid_utf8 step has removed) reads as U+FFFD of one
 * byte, so nothing below can run off the end or hand utf8proc a bad
 * value. */
static inline uint32_t
dec(const unsigned char *s, size_t rem, size_t *n)
{
    uint32_t c = s[0];

    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF && rem >= 2 && (s[1] & 0xC0) == 0x80) {
        *n = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF && rem >= 3 && (s[1] & 0xC0) == 0x80 &&
        (s[2] & 0xC0) == 0x80) {
        c = ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
            *n = 3;
            return c;
        }
    } else if (c >= 0xF0 && c <= 0xF4 && rem >= 4 && (s[1] & 0xC0) == 0x80 &&
               (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
        c = ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
            ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (c >= 0x10000 && c <= 0x10FFFF) {
            *n = 4;
            return c;
        }
    }
    *n = 1;
    return UTF8_REPLACEMENT;
}

/* The first position from i on whose byte b has tbl[b] != 0, or len.
 * Eight independent lookups a step, folded into a bit mask, keep the
 * loads off the critical path (a loop like i += tbl[s[i]] waits for two
 * loads a step) and find the position without a branch per byte. */
static inline size_t
scan_to(const uint8_t *tbl, const unsigned char *s, size_t i, size_t len)
{
    while (i + 8 <= len) {
        unsigned m =
            (unsigned)tbl[s[i]] | (unsigned)tbl[s[i + 1]] << 1 |
            (unsigned)tbl[s[i + 2]] << 2 | (unsigned)tbl[s[i + 3]] << 3 |
            (unsigned)tbl[s[i + 4]] << 4 | (unsigned)tbl[s[i + 5]] << 5 |
            (unsigned)tbl[s[i + 6]] << 6 | (unsigned)tbl[s[i + 7]] << 7;

        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 8;
    }
    while (i < len && !tbl[s[i]])
        i++;
    return i;
}

/* Full-width ASCII punctuation and symbols (U+FF01-FF5E except digits and
 * letters), which keep_fullwidth_punct preserves. */
static inline bool
is_fw_punct(uint32_t cp)
{
    return cp >= 0xFF01 && cp <= 0xFF5E && !(cp >= 0xFF10 && cp <= 0xFF19) &&
           !(cp >= 0xFF21 && cp <= 0xFF3A) && !(cp >= 0xFF41 && cp <= 0xFF5A);
}

/* ---- copy-on-write output ---------------------------------------------- */

/*
 * A pass reads src and describes its output as replacements of source
 * ranges; the kept stretches in between are implied. Until the first
 * replacement that really differs from the source, nothing is copied
 * (out is untouched and the output is src[0, done)); after it, out holds
 * the output of src[0, done).
 */
struct writer {
    const char *src;
    size_t srclen;
    size_t done;
    struct strbuf *out;
    bool active;
};

static void
wr_init(struct writer *w, const struct strbuf *src, struct strbuf *out)
{
    w->src = src->buf;
    w->srclen = src->len;
    w->done = 0;
    w->out = out;
    w->active = false;
}

static int
wr_replace_slow(struct writer *w, size_t from, size_t to, const char *rep,
                size_t n)
{
    int rc;

    if (!w->active) {
        if (n == to - from && !memcmp(w->src + from, rep, n)) {
            w->done = to;
            return 0;
        }
        /* room for the whole source, the usual output size */
        strbuf_reset(w->out);
        if ((rc = strbuf_grow(w->out, w->srclen + 64)) < 0)
            return rc;
        w->active = true;
        w->done = 0;
    }
    if ((rc = strbuf_add(w->out, w->src + w->done, from - w->done)) < 0 ||
        (rc = strbuf_add(w->out, rep, n)) < 0)
        return rc;
    w->done = to;
    return 0;
}

/* Output src[done, from) unchanged, then rep instead of src[from, to). */
static inline int
wr_replace(struct writer *w, size_t from, size_t to, const char *rep, size_t n)
{
    struct strbuf *o = w->out;
    size_t keep = from - w->done;

    if (w->active && o->alloc - o->len > keep + n) {
        memcpy(o->buf + o->len, w->src + w->done, keep);
        memcpy(o->buf + o->len + keep, rep, n);
        o->len += keep + n;
        o->buf[o->len] = '\0';
        w->done = to;
        return 0;
    }
    return wr_replace_slow(w, from, to, rep, n);
}

/* The output is the rewritten src[0, end); make it d's text. */
static int
wr_finish(struct writer *w, struct doc *d, size_t end)
{
    int rc;

    if (!w->active) {
        if (end < d->text.len)
            strbuf_setlen(&d->text, end);
        return 0;
    }
    if ((rc = strbuf_add(w->out, w->src + w->done, end - w->done)) < 0)
        return rc;
    doc_swap_text(d, w->out);
    return 0;
}

/* ---- step 2: NFKC ------------------------------------------------------ */

/* Whether the code point at s has a boundary before it; *n = its length. */
static inline bool
boundary_at(const unsigned char *s, size_t rem, size_t *n)
{
    uint32_t cp = dec(s, rem, n);
    const struct nfkc_entry *e;

    if (cp < 0x10000 && bit_get(nfkc.inert, cp))
        return true;
    e = nfkc_lookup(cp);
    return !e || e->cls != NFKC_NONBB;
}

static int
thread_grow(struct norm_thread *t, size_t need)
{
    utf8proc_int32_t *p;
    size_t cap = t->u32_cap ? t->u32_cap : 256;

    while (cap < need)
        cap *= 2;
    if (cap > SIZE_MAX / 2 / sizeof(*p))
        return NH_ETOOBIG;
    p = realloc(t->u32, 2 * cap * sizeof(*p));
    if (!p)
        return NH_ENOMEM;
    t->u32 = p;
    t->u32_cap = cap;
    return 0;
}

/* NFKC of the span src[from, to) (a boundary character and the
 * non-boundary ones after it) through utf8proc. */
static int
nfkc_span(const struct norm_conf *c, struct norm_thread *t, struct writer *w,
          size_t from, size_t to)
{
    const unsigned char *s = (const unsigned char *)w->src;
    size_t i, n, len = 0, k;
    utf8proc_ssize_t m;
    int bc = 0, rc;

    if (c->keep_fw_punct && is_fw_punct(dec(s + from, to - from, &n)))
        from += n; /* kept as is; combines with nothing */
    for (i = from; i < to; i += n) {
        uint32_t cp = dec(s + i, to - i, &n);

        for (;;) {
            m = utf8proc_decompose_char((utf8proc_int32_t)cp, t->u32 + len,
                                        (utf8proc_ssize_t)(t->u32_cap - len),
                                        NFKC_OPTS, &bc);
            if (m < 0)
                return NH_EINVAL;
            if (len + (size_t)m <= t->u32_cap)
                break;
            if ((rc = thread_grow(t, len + (size_t)m)) < 0)
                return rc;
        }
        len += (size_t)m;
    }
    reorder(t->u32, len, t->u32 + t->u32_cap);
    m = utf8proc_normalize_utf32(t->u32, (utf8proc_ssize_t)len, NFKC_OPTS);
    if (m < 0)
        return NH_EINVAL;
    strbuf_reset(&t->enc);
    if ((rc = strbuf_grow(&t->enc, 4 * (size_t)m)) < 0)
        return rc;
    for (k = 0; k < (size_t)m; k++)
        t->enc.len += utf8_encode((uint32_t)t->u32[k], t->enc.buf + t->enc.len);
    t->enc.buf[t->enc.len] = '\0';
    return wr_replace(w, from, to, t->enc.buf, t->enc.len);
}

static int
nfkc_pass(const struct norm_conf *c, struct norm_thread *t,
          struct stage_ctx *ctx, struct doc *d)
{
    const unsigned char *s = (const unsigned char *)d->text.buf;
    size_t i = 0, len = d->text.len, n;
    struct writer w;
    int rc;

    wr_init(&w, &d->text, &ctx->scratch);
    while (i < len) {
        const struct nfkc_entry *e;
        size_t start, end, n2;
        uint32_t cp;

        if ((i = scan_to(nfkc.look, s, i, len)) >= len)
            break;
        cp = dec(s + i, len - i, &n);
        if (cp < 0x10000 && bit_get(nfkc.inert, cp)) {
            i += n;
            continue;
        }
        e = nfkc_lookup(cp);
        if (!e || (c->keep_fw_punct && is_fw_punct(cp))) {
            i += n;
            continue;
        }
        if (e->cls == NFKC_MAPPED) {
            if (i + n == len || boundary_at(s + i + n, len - i - n, &n2)) {
                rc = wr_replace(&w, i, i + n, nfkc.pool + e->off, e->len);
                if (rc < 0)
                    return rc;
                i += n;
                continue;
            }
            start = i;
        } else {
            /* back to the (inert, not yet written) character before */
            start = i;
            if (start > w.done) {
                start--;
                while (start > w.done && i - start < 4 &&
                       (s[start] & 0xC0) == 0x80)
                    start--;
            }
        }
        end = i + n;
        while (end < len && !boundary_at(s + end, len - end, &n2))
            end += n2;
        if ((rc = nfkc_span(c, t, &w, start, end)) < 0)
            return rc;
        i = end;
    }
    return wr_finish(&w, d, len);
}

/* ---- step 4: traditional to simplified --------------------------------- */

/* Characters that OpenCC's t2s changes only inside phrases (TSPhrases.ocd2
 * of OpenCC 1.1.6, e.g. 瞭解 -> 了解), so probing one by one misses them:
 * 沈 牴 瞭 藉 衹 覆. */
static const uint32_t t2s_phrase_only[] = {0x6C88, 0x7274, 0x77AD,
                                           0x85C9, 0x8879, 0x8986};

/* Code points probed at init: CJK radicals to Unified Ideographs, the
 * compatibility ideographs and forms, and planes 2 and 3 (extensions B-H,
 * compatibility supplement). */
static const uint32_t t2s_ranges[][2] = {
    {0x2E80, 0x9FFF},
    {0xF900, 0xFAFF},
    {0xFE30, 0xFE4F},
    {0x20000, 0x323AF},
};

static bool
t2s_get(const struct norm_conf *c, uint32_t cp)
{
    if (cp < 0x10000)
        return bit_get(c->t2s_bmp, cp);
    if (cp >= 0x20000 && cp < 0x40000)
        return bit_get(c->t2s_sip, cp - 0x20000);
    return false;
}

static void
t2s_set(struct norm_conf *c, uint32_t cp)
{
    if (cp < 0x10000)
        bit_set(c->t2s_bmp, cp);
    else if (cp >= 0x20000 && cp < 0x40000)
        bit_set(c->t2s_sip, cp - 0x20000);
}

/* Mark every probed code point that OpenCC converts on its own. All of
 * them go through OpenCC at once, one per line: no dictionary key holds a
 * newline, so each line converts as it would alone. */
static int
t2s_probe(struct norm_conf *c, opencc_t cc, const char *where,
          struct nh_error *err)
{
    struct strbuf in = STRBUF_INIT;
    char *out = NULL;
    const char *p;
    size_t r, k;
    uint32_t cp;
    int rc = 0;

    for (r = 0; r < sizeof(t2s_ranges) / sizeof(t2s_ranges[0]); r++) {
        for (cp = t2s_ranges[r][0]; cp <= t2s_ranges[r][1]; cp++) {
            char u[4];
            size_t n = utf8_encode(cp, u);

            if ((rc = strbuf_add(&in, u, n)) < 0 ||
                (rc = strbuf_addch(&in, '\n')) < 0) {
                nh_errorf(err, rc, "%s: out of memory", where);
                goto out;
            }
        }
    }
    out = opencc_convert_utf8(cc, in.buf, in.len);
    if (!out) {
        rc = nh_errorf(err, NH_EINVAL, "%s: opencc failed: %s", where,
                       opencc_error());
        goto out;
    }
    p = out;
    for (r = 0; r < sizeof(t2s_ranges) / sizeof(t2s_ranges[0]); r++) {
        for (cp = t2s_ranges[r][0]; cp <= t2s_ranges[r][1]; cp++) {
            const char *nl = strchr(p, '\n');
            char u[4];
            size_t n = utf8_encode(cp, u);

            if (!nl) {
                rc = nh_errorf(err, NH_EINVAL,
                               "%s: opencc config '%s' does not keep "
                               "line breaks",
                               where, c->opencc_config);
                goto out;
            }
            if ((size_t)(nl - p) != n || memcmp(p, u, n))
                t2s_set(c, cp);
            p = nl + 1;
        }
    }
    for (k = 0; k < sizeof(t2s_phrase_only) / sizeof(t2s_phrase_only[0]); k++)
        t2s_set(c, t2s_phrase_only[k]);
out:
    if (out)
        opencc_convert_utf8_free(out);
    strbuf_release(&in);
    return rc;
}

/* Whether s[0, len) holds a code point in the t2s set. */
static bool
t2s_line(const struct norm_conf *c, const unsigned char *s, size_t len)
{
    size_t i = 0, n;

    while (i < len) {
        if (s[i] < 0xE2) { /* ASCII, 2-byte, continuation: no Han */
            i++;
            continue;
        }
        if (t2s_get(c, dec(s + i, len - i, &n)))
            return true;
        i += n;
    }
    return false;
}

/* Convert src[from, to) with OpenCC, which reads C strings: the pieces
 * between NULs go one by one. */
static int
t2s_convert(struct norm_thread *t, struct writer *w, size_t from, size_t to)
{
    int rc;

    while (from < to) {
        const char *z = memchr(w->src + from, '\0', to - from);
        size_t q = z ? (size_t)(z - w->src) : to;

        if (q > from) {
            char *out = opencc_convert_utf8(t->cc, w->src + from, q - from);

            if (!out)
                return NH_ENOMEM;
            rc = wr_replace(w, from, q, out, strlen(out));
            opencc_convert_utf8_free(out);
            if (rc < 0)
                return rc;
        }
        from = q + 1;
    }
    return 0;
}

/* Only lines holding a character of the t2s set go through OpenCC (runs
 * of such lines at once). No dictionary key can hold a line break (the
 * dictionary source format is one entry per line), so this converts
 * exactly as OpenCC would convert the whole text. */
static int
t2s_pass(const struct norm_conf *c, struct norm_thread *t,
         struct stage_ctx *ctx, struct doc *d)
{
    const unsigned char *s = (const unsigned char *)d->text.buf;
    size_t p = 0, len = d->text.len, from = SIZE_MAX, to = 0;
    struct writer w;
    int rc;

    wr_init(&w, &d->text, &ctx->scratch);
    while (p < len) {
        const unsigned char *nl = memchr(s + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - s) : len;

        if (t2s_line(c, s + p, e - p)) {
            if (from == SIZE_MAX)
                from = p;
            to = e;
        } else if (from != SIZE_MAX) {
            if ((rc = t2s_convert(t, &w, from, to)) < 0)
                return rc;
            from = SIZE_MAX;
        }
        p = e + 1;
    }
    if (from != SIZE_MAX && (rc = t2s_convert(t, &w, from, to)) < 0)
        return rc;
    return wr_finish(&w, d, len);
}

/* ---- steps 3, 5, 6: full-width, controls, whitespace ------------------ */

enum ws_class {
    WS_TEXT,  /* kept */
    WS_SPACE, /* horizontal whitespace */
    WS_NL,    /* line break */
    WS_NL2,   /* paragraph separator U+2029 */
    WS_DROP,  /* removed */
    WS_MAP,   /* replaced by *map */
};

/* Characters this pass may change: C0 controls, space, DEL, and those
 * starting with the lead bytes of U+0080-00BF, U+1680, U+2000-206F,
 * U+3000, U+FEFF and U+FF01-FF5E. */
static void
ws_special_init(uint8_t *special)
{
    unsigned b;

    for (b = 0; b < 256; b++)
        special[b] = b <= 0x20 || b == 0x7F || b == 0xC2 || b == 0xE1 ||
                     b == 0xE2 || b == 0xE3 || b == 0xEF;
}

/* Whether the non-ASCII character at s (whose lead byte is special) may
 * change: a quick look at its bytes, so that the CJK punctuation sharing
 * those lead bytes (、。「」“”…) costs next to nothing. */
static inline bool
ws_may_change(const unsigned char *s, size_t rem)
{
    if (rem < 3)
        return true;
    switch (s[0]) {
    case 0xC2: /* C1 controls, U+00A0 */
        return s[1] <= 0xA0;
    case 0xE1: /* U+1680 */
        return s[1] == 0x9A && s[2] == 0x80;
    case 0xE2: /* U+2000-200D, 2028, 2029, 202F, 205F, 2060 */
        if (s[1] == 0x80)
            return s[2] <= 0x8D || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF;
        return s[1] == 0x81 && (s[2] == 0x9F || s[2] == 0xA0);
    case 0xE3: /* U+3000 */
        return s[1] == 0x80 && s[2] == 0x80;
    case 0xEF: /* U+FEFF, U+FF01-FF5E */
        return (s[1] == 0xBB && s[2] == 0xBF) ||
               (s[1] == 0xBC && s[2] >= 0x81) || (s[1] == 0xBD && s[2] <= 0x9E);
    default:
        return true;
    }
}

/* Classify the character at s; *n = bytes it takes (2 for "\r\n"). For
 * WS_MAP, map[0, *mlen) is its replacement. */
static enum ws_class
ws_classify(const struct norm_conf *c, const unsigned char *s, size_t rem,
            size_t *n, char *map, size_t *mlen)
{
    uint32_t cp = dec(s, rem, n);

    switch (cp) {
    case '\n':
        return c->ws ? WS_NL : WS_TEXT;
    case '\r':
        if (!c->ctrl_remove)
            return WS_TEXT;
        if (rem >= 2 && s[1] == '\n')
            *n = 2;
        break;
    case 0x85:   /* NEL */
    case 0x2028: /* line separator */
        if (!c->ctrl_remove)
            return WS_TEXT;
        break;
    case 0x2029: /* paragraph separator */
        if (!c->ctrl_remove)
            return WS_TEXT;
        if (c->ws)
            return WS_NL2;
        map[0] = map[1] = '\n';
        *mlen = 2;
        return WS_MAP;
    case '\t':
    case ' ':
    case 0xA0:
    case 0x1680:
    case 0x202F:
    case 0x205F:
        return c->ws ? WS_SPACE : WS_TEXT;
    case '\v':
    case '\f':
        if (c->ws)
            return WS_SPACE;
        if (!c->ctrl_remove)
            return WS_TEXT;
        map[0] = ' ';
        *mlen = 1;
        return WS_MAP;
    case 0x3000:
        if (c->ws)
            return WS_SPACE;
        if (c->nfkc || !c->fw2hw)
            return WS_TEXT;
        map[0] = ' ';
        *mlen = 1;
        return WS_MAP;
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
        return c->ctrl_remove ? WS_DROP : WS_TEXT;
    default:
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            return c->ctrl_remove ? WS_DROP : WS_TEXT;
        if (cp >= 0x2000 && cp <= 0x200A)
            return c->ws ? WS_SPACE : WS_TEXT;
        if (cp >= 0xFF01 && cp <= 0xFF5E && !c->nfkc && c->fw2hw &&
            !(c->keep_fw_punct && is_fw_punct(cp))) {
            map[0] = (char)(cp - 0xFEE0);
            *mlen = 1;
            return WS_MAP;
        }
        return WS_TEXT;
    }
    /* a line break: \r, \r\n, NEL or U+2028, with control_chars "remove" */
    if (c->ws)
        return WS_NL;
    map[0] = '\n';
    *mlen = 1;
    return WS_MAP;
}

#define WS_NONE ((size_t)-1)

/* The pending run of whitespace, line breaks and removed characters. */
struct ws_run {
    size_t from; /* where it starts, or WS_NONE */
    unsigned nl; /* line breaks in it */
    bool sp;     /* whitespace since its last line break */
    bool start;  /* nothing written yet: leading whitespace is trimmed */
};

/* Replace the pending run, which ends at to, by its normal form: nothing
 * at the start of the text, else up to two line breaks (the trailing
 * whitespace of each line dropped) and then one space for any whitespace
 * that followed. */
static int
ws_flush(struct writer *w, struct ws_run *run, size_t to)
{
    char rep[3];
    size_t k = 0;
    int rc;

    if (!run->start) {
        if (run->nl)
            rep[k++] = '\n';
        if (run->nl >= 2)
            rep[k++] = '\n';
        if (run->sp && !run->nl) /* no indentation after a break */
            rep[k++] = ' ';
    }
    rc = wr_replace(w, run->from, to, rep, k);
    run->from = WS_NONE;
    run->nl = 0;
    run->sp = false;
    return rc;
}

static int
ws_pass(const struct norm_conf *c, struct stage_ctx *ctx, struct doc *d)
{
    const unsigned char *s = (const unsigned char *)d->text.buf;
    size_t i = 0, len = d->text.len;
    struct ws_run run = {WS_NONE, 0, false, true};
    struct writer w;
    int rc;

    wr_init(&w, &d->text, &ctx->scratch);
    while (i < len) {
        size_t n, mlen = 0;
        enum ws_class cls;
        char map[2];

        if (!c->ws_special[s[i]]) { /* characters kept as they are */
            if (run.from != WS_NONE && (rc = ws_flush(&w, &run, i)) < 0)
                return rc;
            run.start = false;
            i = scan_to(c->ws_special, s, i + 1, len);
            continue;
        }
        /* the common case: one space or line break between words */
        if ((s[i] == ' ' || s[i] == '\n') && run.from == WS_NONE &&
            (!run.start || !c->ws) && i + 1 < len && !c->ws_special[s[i + 1]]) {
            i = scan_to(c->ws_special, s, i + 2, len);
            continue;
        }
        if (s[i] == ' ' && c->ws) { /* a run of spaces */
            if (run.from == WS_NONE)
                run.from = i;
            run.sp = true;
            while (++i < len && s[i] == ' ')
                ;
            continue;
        }
        if (s[i] >= 0x80 && !ws_may_change(s + i, len - i)) {
            cls = WS_TEXT;
            n = s[i] < 0xE0 ? 2 : 3;
        } else {
            cls = ws_classify(c, s + i, len - i, &n, map, &mlen);
        }
        if (cls == WS_TEXT || cls == WS_MAP) {
            if (run.from != WS_NONE && (rc = ws_flush(&w, &run, i)) < 0)
                return rc;
            run.start = false;
            if (cls == WS_MAP && (rc = wr_replace(&w, i, i + n, map, mlen)) < 0)
                return rc;
            i = scan_to(c->ws_special, s, i + n, len);
            continue;
        }
        if (run.from == WS_NONE)
            run.from = i;
        if (cls == WS_SPACE) {
            run.sp = true;
        } else if (cls != WS_DROP) {
            run.nl += cls == WS_NL2 ? 2 : 1;
            run.sp = false;
        }
        i += n;
    }
    /* a run still pending is trailing whitespace: trimmed */
    return wr_finish(&w, d, run.from == WS_NONE ? len : run.from);
}

/* ---- the stage --------------------------------------------------------- */

static const char *const norm_keys[] = {
    "invalid_utf8",           "nfkc",       "keep_fullwidth_punct",
    "fullwidth_to_halfwidth", "t2s",        "opencc_config",
    "control_chars",          "whitespace", NULL,
};
static const char *const invalid_choices[] = {"repair", "reject", NULL};
static const char *const control_choices[] = {"remove", "keep", NULL};

static void
norm_free(void *conf)
{
    struct norm_conf *c = conf;

    if (!c)
        return;
    free(c->opencc_config);
    free(c);
}

static int
norm_init(const cJSON *params, const char *where, void **conf,
          struct nh_error *err)
{
    struct norm_conf *c = calloc(1, sizeof(*c));
    const char *invalid, *control, *occ;
    int rc;

    if (!c)
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    if ((rc = cfg_check_keys(params, where, norm_keys, err)) < 0 ||
        (rc = cfg_str(params, where, "invalid_utf8", "repair", invalid_choices,
                      &invalid, err)) < 0 ||
        (rc = cfg_bool(params, where, "nfkc", true, &c->nfkc, err)) < 0 ||
        (rc = cfg_bool(params, where, "keep_fullwidth_punct", false,
                       &c->keep_fw_punct, err)) < 0 ||
        (rc = cfg_bool(params, where, "fullwidth_to_halfwidth", true, &c->fw2hw,
                       err)) < 0 ||
        (rc = cfg_bool(params, where, "t2s", false, &c->t2s, err)) < 0 ||
        (rc = cfg_str(params, where, "opencc_config",
                      OPENCC_DEFAULT_CONFIG_TRAD_TO_SIMP, NULL, &occ, err)) <
            0 ||
        (rc = cfg_str(params, where, "control_chars", "remove", control_choices,
                      &control, err)) < 0 ||
        (rc = cfg_bool(params, where, "whitespace", true, &c->ws, err)) < 0)
        goto fail;
    c->reject_bad = !strcmp(invalid, "reject");
    ws_special_init(c->ws_special);
    c->ctrl_remove = !strcmp(control, "remove");
    if (!*occ) {
        rc = nh_errorf(err, NH_EINVAL, "%s: 'opencc_config' must not be empty",
                       where);
        goto fail;
    }
    if (c->nfkc) {
        pthread_once(&nfkc_once, nfkc_build);
        if (nfkc.rc < 0) {
            rc = nh_errorf(err, nfkc.rc,
                           "%s: cannot build the NFKC tables from utf8proc "
                           "%s",
                           where, utf8proc_version());
            goto fail;
        }
    }
    if (c->t2s) {
        opencc_t cc;

        if (!(c->opencc_config = strdup(occ))) {
            rc = nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
            goto fail;
        }
        cc = opencc_open(c->opencc_config);
        if (cc == (opencc_t)-1) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: cannot open opencc config '%s': %s", where,
                           c->opencc_config, opencc_error());
            goto fail;
        }
        rc = t2s_probe(c, cc, where, err);
        opencc_close(cc);
        if (rc < 0)
            goto fail;
    }
    *conf = c;
    return 0;
fail:
    norm_free(c);
    return rc;
}

static void
norm_thread_free(void *tstate)
{
    struct norm_thread *t = tstate;

    if (!t)
        return;
    if (t->cc)
        opencc_close(t->cc);
    free(t->u32);
    strbuf_release(&t->enc);
    free(t);
}

/* One OpenCC handle per thread. opencc.h says only opencc_error() is not
 * thread-safe, so a shared handle would do; a private one (about 1 ms
 * and a few hundred KB for t2s.json) keeps the stage independent of that
 * promise. A NULL result makes apply() fail. */
static void *
norm_thread_init(const void *conf)
{
    const struct norm_conf *c = conf;
    struct norm_thread *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    if (thread_grow(t, 256) < 0)
        goto fail;
    if (c->t2s) {
        t->cc = opencc_open(c->opencc_config);
        if (t->cc == (opencc_t)-1) {
            t->cc = NULL;
            goto fail;
        }
    }
    return t;
fail:
    norm_thread_free(t);
    return NULL;
}

/* Step 1: replace malformed bytes by U+FFFD and count them in meta. */
static int
repair(struct stage_ctx *ctx, struct doc *d)
{
    cJSON *meta, *old, *num;
    long n;

    strbuf_reset(&ctx->scratch);
    n = utf8_repair(&ctx->scratch, d->text.buf, d->text.len);
    if (n < 0)
        return (int)n;
    doc_swap_text(d, &ctx->scratch);
    d->bad_utf8 = false;
    old = cJSON_GetObjectItemCaseSensitive(d->obj, "meta");
    if (old && !cJSON_IsObject(old))
        return 0; /* someone else's "meta": leave it alone */
    if (!(meta = doc_meta(d)) || !(num = cJSON_CreateNumber((double)n)))
        return NH_ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(meta, "utf8_repaired"))
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "utf8_repaired", num);
    else
        cJSON_AddItemToObject(meta, "utf8_repaired", num);
    return 0;
}

static int
norm_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
           const char **reason)
{
    const struct norm_conf *c = conf;
    struct norm_thread *t = ctx->tstate;
    int rc;

    if (!t)
        return NH_ENOMEM;
    if (d->bad_utf8) {
        if (c->reject_bad) {
            *reason = "invalid_utf8";
            return STAGE_DROP;
        }
        if ((rc = repair(ctx, d)) < 0)
            return rc;
    }
    if (c->nfkc && (rc = nfkc_pass(c, t, ctx, d)) < 0)
        return rc;
    if (c->t2s && (rc = t2s_pass(c, t, ctx, d)) < 0)
        return rc;
    if ((c->ctrl_remove || c->ws || (!c->nfkc && c->fw2hw)) &&
        (rc = ws_pass(c, ctx, d)) < 0)
        return rc;
    if (d->text.len == 0) {
        *reason = "empty_after_normalize";
        return STAGE_DROP;
    }
    return STAGE_KEEP;
}

const struct stage_ops stage_normalize = {
    .name = "normalize",
    .init = norm_init,
    .thread_init = norm_thread_init,
    .thread_free = norm_thread_free,
    .apply = norm_apply,
    .free = norm_free,
};
