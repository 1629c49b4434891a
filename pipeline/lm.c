/* lm.c - an interpolated modified Kneser-Ney n-gram language model
 *
 * Training (lm_train) reads documents, maps tokens to ids and counts the
 * highest-order n-grams (plus the shorter n-grams that start with <s>) in
 * open-addressing hash tables of packed token-id tuples. The lower orders
 * are derived from the order above, as lmplz does (Heafield et al. 2013,
 * section 3.2): the adjusted count of an n-gram is the number of distinct
 * n+1-grams it ends (its continuation count N1+(. w)), except for the
 * highest order and n-grams starting with <s>, which keep their raw
 * counts. Per order, the counts of adjusted counts give the discounts
 * D1, D2, D3+ (Chen & Goodman TR-10-98, eq. 26):
 *     Y = n1 / (n1 + 2 n2),  Dk = k - (k + 1) Y n(k+1) / nk
 * and the interpolated estimate (eq. 17, section 4.1.6 style):
 *     p(w|h) = (a(hw) - D(a(hw))) / sum_x a(hx) + gamma(h) p(w|h')
 *     gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / sum_x a(hx)
 * with the unigrams interpolated with the uniform distribution over the
 * vocabulary less <s> (so <unk>, never seen, gets gamma / |V|).
 *
 * The model keeps the backoff form that ARPA files hold: per n-gram
 * log10 p(w|h) and, for n-grams that are contexts, log10 gamma. Scoring
 * finds the longest stored n-gram ending at each token and adds the
 * backoff weights of the longer contexts; the weights of the n-grams
 * ending at the previous token are kept, so each token costs at most one
 * lookup per order. Tables are keyed by XXH3-64 of the id tuple only (16
 * bytes a slot, as KenLM's probing tables), so two n-grams whose hashes
 * collide would share a slot (about n^2 / 2^65 for n n-grams).
 */
#include "lm.h"

#include "hash.h"
#include "jsonl.h"
#include "strbuf.h"
#include "utf8.h"

#include <cjson/cJSON.h>
/* XXH3 inlined: the same function as nh_hash64, without a call per
 * n-gram on the hot paths */
#define XXH_INLINE_ALL
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define LM_MAGIC "NHLM"
#define LM_VERSION 1u
#define LM_BOM 0x01020304u
#define ID_UNK 0u
#define ID_BOS 1u
#define ID_EOS 2u
#define CPMAP_SIZE 0x30000u
#define NO_CP UINT32_MAX
#define PREFETCH 8 /* n-grams ahead */
#define RING (2 * PREFETCH)

/* ---- big tables ------------------------------------------------------ */

/* Zeroed memory for a big table, in transparent huge pages where the
 * kernel has them (madvise mode): far fewer page faults while it fills
 * and fewer TLB misses on the random probes. Freed by big_free with the
 * same size. */
#define BIG_MIN (4u << 20)

static void *
big_calloc(size_t n, size_t size)
{
    size_t bytes = n * size;
    void *p;

    if (size && bytes / size != n)
        return NULL;
    if (bytes < BIG_MIN)
        return calloc(n ? n : 1, size ? size : 1);
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void
big_free(void *p, size_t n, size_t size)
{
    if (!p)
        return;
    if (n * size < BIG_MIN)
        free(p);
    else
        munmap(p, n * size);
}

/* Grow a table made by big_calloc from old to size bytes (contents kept,
 * the rest zeroed); NULL on failure, the old one left as it was. */
static void *
big_realloc(void *p, size_t old, size_t size)
{
    void *q;

    if (old >= BIG_MIN) {
        q = mremap(p, old, size, MREMAP_MAYMOVE);
        return q == MAP_FAILED ? NULL : q;
    }
    if (!(q = big_calloc(size, 1)))
        return NULL;
    if (p) {
        memcpy(q, p, old);
        big_free(p, old, 1);
    }
    return q;
}

/* ---- vocabulary ------------------------------------------------------- */

struct vocab {
    char *str; /* NUL-terminated tokens, back to back */
    size_t str_len, str_cap;
    uint32_t *off; /* (n) offset of each token in str */
    uint32_t n, cap;
    uint64_t *slots; /* (hash >> 32) << 32 | (id + 1); 0 empty */
    uint64_t mask;
    uint32_t *cpmap; /* single code point token -> id + 1 */
};

static uint64_t
vocab_slot_pos(uint64_t h, uint64_t mask)
{
    return (h >> 32) & mask;
}

static int
vocab_rehash(struct vocab *v, uint64_t nslots)
{
    uint64_t *s = calloc(nslots, sizeof(*s));
    uint64_t i, mask = nslots - 1;

    if (!s)
        return NH_ENOMEM;
    for (i = 0; v->slots && i <= v->mask; i++) {
        uint64_t p;

        if (!v->slots[i])
            continue;
        for (p = vocab_slot_pos(v->slots[i], mask); s[p]; p = (p + 1) & mask)
            ;
        s[p] = v->slots[i];
    }
    free(v->slots);
    v->slots = s;
    v->mask = mask;
    return 0;
}

/* id of tok, or UINT32_MAX when absent */
static uint32_t
vocab_find(const struct vocab *v, const char *tok, size_t len, uint64_t h)
{
    uint64_t p, tag = h >> 32;

    for (p = vocab_slot_pos(h, v->mask); v->slots[p]; p = (p + 1) & v->mask) {
        uint64_t s = v->slots[p];
        uint32_t id;
        const char *w;

        if (s >> 32 != tag)
            continue;
        id = (uint32_t)s - 1;
        w = v->str + v->off[id];
        if (!memcmp(w, tok, len) && !w[len])
            return id;
    }
    return UINT32_MAX;
}

static int
vocab_add(struct vocab *v, const char *tok, size_t len, uint64_t h, uint32_t cp,
          uint32_t *id)
{
    uint64_t p;

    if (v->n >= UINT32_MAX - 2 || v->str_len + len + 1 > UINT32_MAX)
        return NH_ETOOBIG;
    if ((uint64_t)(v->n + 1) * 4 > (v->mask + 1) * 3 &&
        vocab_rehash(v, (v->mask + 1) * 2) < 0)
        return NH_ENOMEM;
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 1024;
        uint32_t *o = realloc(v->off, cap * sizeof(*o));

        if (!o)
            return NH_ENOMEM;
        v->off = o;
        v->cap = cap;
    }
    if (v->str_len + len + 1 > v->str_cap) {
        size_t cap = v->str_cap ? v->str_cap * 2 : 16384;
        char *s;

        while (cap < v->str_len + len + 1)
            cap *= 2;
        if (!(s = realloc(v->str, cap)))
            return NH_ENOMEM;
        v->str = s;
        v->str_cap = cap;
    }
    memcpy(v->str + v->str_len, tok, len);
    v->str[v->str_len + len] = 0;
    v->off[v->n] = (uint32_t)v->str_len;
    v->str_len += len + 1;
    for (p = vocab_slot_pos(h, v->mask); v->slots[p]; p = (p + 1) & v->mask)
        ;
    v->slots[p] = (h >> 32) << 32 | (uint64_t)(v->n + 1);
    if (cp != NO_CP && cp < CPMAP_SIZE)
        v->cpmap[cp] = v->n + 1;
    *id = v->n++;
    return 0;
}

static int
vocab_init(struct vocab *v)
{
    static const char *const special[] = {"<unk>", "<s>", "</s>"};
    uint32_t id;
    int i, rc;

    memset(v, 0, sizeof(*v));
    if (!(v->cpmap = calloc(CPMAP_SIZE, sizeof(*v->cpmap))) ||
        vocab_rehash(v, 4096) < 0)
        return NH_ENOMEM;
    for (i = 0; i < 3; i++) {
        size_t len = strlen(special[i]);

        if ((rc = vocab_add(v, special[i], len, nh_hash64(special[i], len),
                            NO_CP, &id)) < 0)
            return rc;
    }
    return 0;
}

static void
vocab_release(struct vocab *v, bool own_str)
{
    if (own_str)
        free(v->str);
    free(v->off);
    free(v->slots);
    free(v->cpmap);
    memset(v, 0, sizeof(*v));
}

/* ---- tokens ----------------------------------------------------------- */

struct lm_scratch {
    const struct lm_model *m;
    struct strbuf tok;   /* a token being rebuilt (case, repairs) */
    uint32_t *ids;       /* <s> tokens </s> of the document */
    size_t nids, capids; /* in ids */
};

/* White space: ASCII white space and NUL, NEL, the Unicode separators
 * (categories Zs, Zl, Zp: U+00A0, U+1680, U+2000-200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000), and U+200B, U+FEFF, as the pipeline's
 * tokenizers count them. Spelled out, as it is on the hot path. */
static inline bool
is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0;
    if (cp < 0x2000)
        return cp == 0x85 || cp == 0xA0 || cp == 0x1680;
    if (cp <= 0x3000)
        return cp <= 0x200B || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
               cp == 0x205F || cp == 0x3000;
    return cp == 0xFEFF;
}

/* fn gets each token and, for a one-code-point token, the code point */
typedef int tok_fn(void *arg, const char *tok, size_t len, uint32_t cp);

static long
tokenize(struct strbuf *sb, const char *text, size_t len, tok_fn *fn, void *arg)
{
    static const char repl[] = "\xEF\xBF\xBD";
    size_t i = 0, ncjk = 0, nruns = 0;
    bool in_run = false;
    long ntok = 0;
    int rc;

    /* pass 1: CJK characters against runs of other non-space characters */
    while (i < len) {
        uint32_t cp;
        size_t k;

        if ((unsigned char)text[i] < 0x80) {
            cp = (unsigned char)text[i];
            k = 1;
        } else {
            k = utf8_decode(text + i, len - i, &cp, NULL);
        }
        i += k;
        if (cp_is_cjk(cp)) {
            ncjk++;
            in_run = false;
        } else if (is_space(cp)) {
            in_run = false;
        } else if (!in_run) {
            nruns++;
            in_run = true;
        }
    }
    if (ncjk > 0 && ncjk >= nruns) {
        /* CJK: each non-space character is a token */
        for (i = 0; i < len;) {
            uint32_t cp;
            bool bad = false;
            size_t k;

            if ((unsigned char)text[i] < 0x80) {
                cp = (unsigned char)text[i];
                k = 1;
            } else {
                k = utf8_decode(text + i, len - i, &cp, &bad);
            }
            if (!is_space(cp)) {
                rc = bad ? fn(arg, repl, 3, cp) : fn(arg, text + i, k, cp);
                if (rc)
                    return rc;
                ntok++;
            }
            i += k;
        }
        return ntok;
    }
    /* words: white space separated, ASCII lowercased, repaired */
    for (i = 0; i < len;) {
        size_t start, ncp = 0;
        uint32_t cp, first = NO_CP;
        bool clean = true, bad;
        size_t k;

        /* skip white space */
        for (; i < len; i += k) {
            if ((unsigned char)text[i] < 0x80) {
                cp = (unsigned char)text[i];
                k = 1;
            } else {
                k = utf8_decode(text + i, len - i, &cp, NULL);
            }
            if (!is_space(cp))
                break;
        }
        if (i >= len)
            break;
        start = i;
        strbuf_reset(sb);
        for (; i < len; i += k) {
            bad = false;
            if ((unsigned char)text[i] < 0x80) {
                cp = (unsigned char)text[i];
                k = 1;
            } else {
                k = utf8_decode(text + i, len - i, &cp, &bad);
            }
            if (is_space(cp))
                break;
            if (!ncp++)
                first = cp;
            if (clean && (bad || (cp >= 'A' && cp <= 'Z'))) {
                clean = false;
                if (strbuf_add(sb, text + start, i - start) < 0)
                    return NH_ENOMEM;
            }
            if (clean)
                continue;
            if (bad)
                rc = strbuf_add(sb, repl, 3);
            else if (cp >= 'A' && cp <= 'Z')
                rc = strbuf_addch(sb, (int)(cp | 0x20));
            else
                rc = strbuf_add(sb, text + i, k);
            if (rc < 0)
                return NH_ENOMEM;
        }
        if (ncp != 1)
            first = NO_CP;
        else if (first >= 'A' && first <= 'Z')
            first |= 0x20;
        rc = clean ? fn(arg, text + start, i - start, first)
                   : fn(arg, sb->buf, sb->len, first);
        if (rc)
            return rc;
        ntok++;
    }
    return ntok;
}

struct user_tok {
    lm_token_fn *fn;
    void *arg;
};

static int
user_tok_cb(void *arg, const char *tok, size_t len, uint32_t cp)
{
    struct user_tok *u = arg;

    (void)cp;
    return u->fn(u->arg, tok, len);
}

long
lm_tokenize(struct lm_scratch *s, const char *text, size_t len, lm_token_fn *fn,
            void *arg)
{
    struct user_tok u = {fn, arg};

    return tokenize(&s->tok, text, len, user_tok_cb, &u);
}

static int
ids_push(struct lm_scratch *s, uint32_t id)
{
    if (s->nids == s->capids) {
        size_t cap = s->capids ? s->capids * 2 : 4096;
        uint32_t *p = realloc(s->ids, cap * sizeof(*p));

        if (!p)
            return NH_ENOMEM;
        s->ids = p;
        s->capids = cap;
    }
    s->ids[s->nids++] = id;
    return 0;
}

/* ---- documents in files ---------------------------------------------- */

static bool
name_is_jsonl(const char *path)
{
    return strstr(path, ".jsonl") || strstr(path, ".json");
}

int
lm_read_docs(const char *path, const char *text_field, lm_doc_fn *fn, void *arg,
             struct nh_error *err)
{
    const char *open_path = strcmp(path, "-") ? path : "/dev/stdin";
    const char *shown = strcmp(path, "-") ? path : "standard input";
    struct nh_reader *rd = NULL;
    const char *line;
    size_t len;
    int jsonl = name_is_jsonl(path) ? 1 : -1; /* -1: decide on line 1 */
    int rc;

    if (!text_field)
        text_field = "text";
    if ((rc = nh_reader_open(&rd, open_path, err)) < 0)
        return rc;
    while ((rc = nh_reader_line(rd, &line, &len, err)) == 1) {
        uint64_t lineno = nh_reader_lineno(rd);
        cJSON *j, *t, *id;
        char idbuf[32];
        const char *ids = NULL;

        if (len && line[len - 1] == '\r')
            len--;
        if (jsonl < 0) {
            size_t k = 0;

            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k == len)
                continue;
            jsonl = line[k] == '{';
        }
        if (!jsonl) {
            if ((rc = fn(arg, NULL, line, len)) != 0)
                goto out;
            continue;
        }
        if (!len)
            continue;
        if (!(j = cJSON_ParseWithLength(line, len)) || !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            rc = nh_errorf(err, NH_EFORMAT, "'%s' line %llu: not a JSON object",
                           shown, (unsigned long long)lineno);
            goto out;
        }
        t = cJSON_GetObjectItemCaseSensitive(j, text_field);
        if (!cJSON_IsString(t)) {
            cJSON_Delete(j);
            rc = nh_errorf(err, NH_EFORMAT,
                           "'%s' line %llu: no string field '%s'", shown,
                           (unsigned long long)lineno, text_field);
            goto out;
        }
        id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if (cJSON_IsString(id)) {
            ids = id->valuestring;
        } else if (cJSON_IsNumber(id)) {
            snprintf(idbuf, sizeof(idbuf), "%.17g", id->valuedouble);
            ids = idbuf;
        } else {
            snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)lineno);
            ids = idbuf;
        }
        rc = fn(arg, ids, t->valuestring, strlen(t->valuestring));
        cJSON_Delete(j);
        if (rc)
            goto out;
    }
    if (rc < 0 && rc == NH_ETOOBIG)
        rc = nh_errorf(err, NH_ETOOBIG, "'%s': a line is too long", shown);
out:
    nh_reader_close(rd);
    return rc < 0 ? rc : 0;
}

/* ---- the model -------------------------------------------------------- */

struct slot {
    uint64_t key; /* XXH3-64 of the ids; 0 empty */
    float prob;   /* log10 p(w|h) */
    float bow;    /* log10 backoff weight; 0 when not a context */
};

struct lm_model {
    int order;
    struct vocab v;
    float *uprob, *ubow; /* (nvocab) unigram log10 p and backoff */
    struct slot *tab[LM_MAX_ORDER + 1];
    uint64_t cap[LM_MAX_ORDER + 1];     /* slots of each table */
    uint32_t *ids[LM_MAX_ORDER + 1];    /* (count, n) n-grams, for ARPA */
    size_t ids_bytes[LM_MAX_ORDER + 1]; /* allocated, trained models */
    uint64_t count[LM_MAX_ORDER + 1];
    double disc[LM_MAX_ORDER + 1][3];
    uint64_t docs, tokens;
    void *blob; /* a loaded model's file image; arrays point into it */
    size_t blob_len;
};

static inline uint64_t
ngram_key(const uint32_t *ids, int n)
{
    uint64_t k = XXH3_64bits(ids, (size_t)n * sizeof(uint32_t));

    return k ? k : 1;
}

/* the home slot of key in a table of cap slots (Lemire's multiply-shift
 * range reduction, so that any size will do) */
static inline uint64_t
slot_pos(uint64_t key, uint64_t cap)
{
    return (uint64_t)(((unsigned __int128)key * cap) >> 64);
}

static const struct slot *
tab_find(const struct lm_model *m, int n, uint64_t key)
{
    const struct slot *t = m->tab[n];
    uint64_t cap = m->cap[n], p;

    for (p = slot_pos(key, cap); t[p].key; p = p + 1 == cap ? 0 : p + 1)
        if (t[p].key == key)
            return &t[p];
    return NULL;
}

int
lm_order(const struct lm_model *m)
{
    return m->order;
}

size_t
lm_vocab_size(const struct lm_model *m)
{
    return m->v.n;
}

const char *
lm_vocab_word(const struct lm_model *m, uint32_t id)
{
    return id < m->v.n ? m->v.str + m->v.off[id] : NULL;
}

uint32_t
lm_vocab_id(const struct lm_model *m, const char *tok, size_t len)
{
    uint32_t id = vocab_find(&m->v, tok, len, nh_hash64(tok, len));

    return id == UINT32_MAX ? ID_UNK : id;
}

uint64_t
lm_ngrams(const struct lm_model *m, int order)
{
    return order >= 1 && order <= m->order ? m->count[order] : 0;
}

void
lm_discounts(const struct lm_model *m, int order, double d[3])
{
    int k;

    for (k = 0; k < 3; k++)
        d[k] = order >= 1 && order <= m->order ? m->disc[order][k] : 0;
}

void
lm_train_stats(const struct lm_model *m, uint64_t *docs, uint64_t *tokens)
{
    *docs = m->docs;
    *tokens = m->tokens;
}

size_t
lm_memory(const struct lm_model *m)
{
    size_t b = m->v.str_len + (size_t)m->v.n * 4 * sizeof(uint32_t) +
               (m->v.mask + 1) * sizeof(uint64_t) +
               CPMAP_SIZE * sizeof(uint32_t);
    int n;

    for (n = 2; n <= m->order; n++)
        b += m->cap[n] * sizeof(struct slot) +
             m->count[n] * (size_t)n * sizeof(uint32_t);
    return b;
}

void
lm_free(struct lm_model *m)
{
    int n;

    if (!m)
        return;
    vocab_release(&m->v, !m->blob);
    if (!m->blob) {
        free(m->uprob);
        free(m->ubow);
        for (n = 2; n <= LM_MAX_ORDER; n++) {
            if (m->tab[n])
                big_free(m->tab[n], m->cap[n], sizeof(struct slot));
            if (m->ids[n])
                big_free(m->ids[n], m->ids_bytes[n], 1);
        }
    }
    if (m->blob)
        big_free(m->blob, m->blob_len, 1);
    free(m);
}

struct lm_scratch *
lm_scratch_new(const struct lm_model *m)
{
    struct lm_scratch *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->m = m;
    strbuf_init(&s->tok, 0);
    return s;
}

void
lm_scratch_free(struct lm_scratch *s)
{
    if (!s)
        return;
    strbuf_release(&s->tok);
    free(s->ids);
    free(s);
}

/* ---- scoring ---------------------------------------------------------- */

double
lm_logprob_ids(const struct lm_model *m, const uint32_t *ctx, size_t nctx,
               uint32_t word)
{
    uint32_t g[LM_MAX_ORDER];
    size_t k = nctx < (size_t)m->order - 1 ? nctx : (size_t)m->order - 1;
    size_t len, matched = 1, i;
    double lp;

    if (word >= m->v.n)
        word = ID_UNK;
    if (k)
        memcpy(g, ctx + nctx - k, k * sizeof(*g));
    g[k] = word;
    lp = m->uprob[word];
    for (len = 2; len <= k + 1; len++) {
        const struct slot *s =
            tab_find(m, (int)len, ngram_key(g + k + 1 - len, (int)len));

        if (!s)
            break;
        lp = s->prob;
        matched = len;
    }
    /* backoff weights of the contexts longer than the match */
    for (i = matched; i <= k; i++) {
        const uint32_t *h = g + k - i; /* the last i ids of the context */
        const struct slot *s;

        if (i == 1) {
            lp += m->ubow[h[0] < m->v.n ? h[0] : ID_UNK];
            continue;
        }
        if (!(s = tab_find(m, (int)i, ngram_key(h, (int)i))))
            break;
        lp += s->bow;
    }
    return lp;
}

static int
score_tok_cb(void *arg, const char *tok, size_t len, uint32_t cp)
{
    struct lm_scratch *s = arg;
    const struct vocab *v = &s->m->v;
    uint32_t id;

    if (cp != NO_CP && cp < CPMAP_SIZE) {
        id = v->cpmap[cp] ? v->cpmap[cp] - 1 : ID_UNK;
    } else {
        id = vocab_find(v, tok, len, nh_hash64(tok, len));
        if (id == UINT32_MAX || id == ID_BOS || id == ID_EOS)
            id = ID_UNK; /* "<s>" in the text is an unknown word */
    }
    return ids_push(s, id);
}

int
lm_score(const struct lm_model *m, struct lm_scratch *s, const char *text,
         size_t len, double *log10prob, size_t *n)
{
    uint64_t keys[RING][LM_MAX_ORDER + 1];
    int prev_m, N = m->order;
    float prev_bow;
    double total = 0;
    long rc;
    size_t i;

    s->m = m;
    s->nids = 0;
    if (ids_push(s, ID_BOS) < 0)
        return NH_ENOMEM;
    if ((rc = tokenize(&s->tok, text, len, score_tok_cb, s)) < 0)
        return (int)rc;
    if (ids_push(s, ID_EOS) < 0)
        return NH_ENOMEM;
    /* the longest n-gram matched at the previous token, and its backoff */
    prev_m = 1;
    prev_bow = m->ubow[ID_BOS];
    /* the keys of the n-grams ending at token i + PREFETCH are computed
     * and the longest ones prefetched while token i is scored */
    for (i = 1; i < s->nids + PREFETCH; i++) {
        size_t ahead = i, cur;
        const struct slot *sl = NULL;
        uint32_t w;
        int maxlen, k, matched, L;
        float bow;
        double lp;

        if (ahead < s->nids) {
            int ml = ahead + 1 < (size_t)N ? (int)ahead + 1 : N;

            for (k = 2; k <= ml; k++) {
                uint64_t key = ngram_key(s->ids + ahead + 1 - k, k);

                keys[ahead % RING][k] = key;
                if (k >= ml - 1)
                    __builtin_prefetch(&m->tab[k][slot_pos(key, m->cap[k])]);
            }
        }
        if (i < 1 + PREFETCH)
            continue;
        cur = i - PREFETCH;
        w = s->ids[cur];
        maxlen = cur + 1 < (size_t)N ? (int)cur + 1 : N;
        /* the longest stored n-gram ending at cur, longest first: as an
         * n-gram's context is stored whenever it is, none is longer than
         * the previous match plus one */
        for (k = maxlen < prev_m + 1 ? maxlen : prev_m + 1; k >= 2; k--)
            if ((sl = tab_find(m, k, keys[cur % RING][k])))
                break;
        if (k >= 2) {
            matched = k;
            lp = sl->prob;
            bow = sl->bow;
        } else {
            matched = 1;
            lp = m->uprob[w];
            bow = m->ubow[w];
        }
        /* backoff weights of the contexts from matched to the previous
         * match (those are stored: suffixes of a stored n-gram) */
        for (L = matched; L <= maxlen - 1 && L <= prev_m; L++) {
            const struct slot *c;

            if (L == prev_m)
                lp += prev_bow;
            else if (L == 1)
                lp += m->ubow[s->ids[cur - 1]];
            else if ((c = tab_find(m, L, keys[(cur - 1) % RING][L])))
                lp += c->bow;
        }
        total += lp;
        prev_m = matched;
        prev_bow = bow;
    }
    *log10prob = total;
    *n = s->nids - 1;
    return 0;
}

/* ---- training: counting ---------------------------------------------- */

/* n-grams of one order: dense tuples, an index of slots holding the
 * XXH3-64 of the tuple and its count. Equality is equality of the 64-bit
 * hashes, as in the model's tables. */
struct gslot {
    uint64_t h;
    uint32_t idx1; /* index + 1; 0 empty */
    uint32_t cnt;  /* adjusted count */
};

struct gtab {
    int n;
    uint32_t *ids; /* (count, n) */
    uint32_t *cnt; /* (count) adjusted counts, once counting is over */
    uint64_t count, cap;
    struct gslot *slots;
    uint64_t mask;
};

static int
gtab_init(struct gtab *t, int n)
{
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->mask = 65535;
    t->slots = big_calloc(t->mask + 1, sizeof(*t->slots));
    return t->slots ? 0 : NH_ENOMEM;
}

static void
gtab_release(struct gtab *t)
{
    if (t->ids)
        big_free(t->ids, t->cap * t->n * sizeof(uint32_t), 1);
    if (t->cnt)
        big_free(t->cnt, t->count ? t->count : 1, sizeof(uint32_t));
    if (t->slots)
        big_free(t->slots, t->mask + 1, sizeof(*t->slots));
    memset(t, 0, sizeof(*t));
}

static int
gtab_grow(struct gtab *t)
{
    uint64_t nslots = (t->mask + 1) * 2, mask = nslots - 1, i;
    struct gslot *s;

    if (nslots > ((uint64_t)1 << 34))
        return NH_ETOOBIG;
    if (!(s = big_calloc(nslots, sizeof(*s))))
        return NH_ENOMEM;
    for (i = 0; i <= t->mask; i++) {
        uint64_t p;

        if (!t->slots[i].idx1)
            continue;
        for (p = t->slots[i].h & mask; s[p].idx1; p = (p + 1) & mask)
            ;
        s[p] = t->slots[i];
    }
    big_free(t->slots, t->mask + 1, sizeof(*s));
    t->slots = s;
    t->mask = mask;
    return 0;
}

static inline void
gtab_prefetch(const struct gtab *t, uint64_t h)
{
    __builtin_prefetch(&t->slots[h & t->mask]);
}

/* add inc to the count of the tuple g (hash h), inserting it when
 * absent; its index (stable), or a negative NH_E* */
static int64_t
gtab_add(struct gtab *t, const uint32_t *g, uint64_t h, uint32_t inc)
{
    size_t bytes = (size_t)t->n * sizeof(uint32_t);
    struct gslot *sl;
    uint64_t p;

    for (p = h & t->mask; t->slots[p].idx1; p = (p + 1) & t->mask) {
        if (t->slots[p].h == h) {
            t->slots[p].cnt += inc;
            return (int64_t)t->slots[p].idx1 - 1;
        }
    }
    if (t->count >= UINT32_MAX - 1)
        return NH_ETOOBIG;
    if (t->count == t->cap) {
        uint64_t cap = t->cap ? t->cap * 2 : 65536;
        uint32_t *ids = big_realloc(t->ids, t->cap * bytes, cap * bytes);

        if (!ids)
            return NH_ENOMEM;
        t->ids = ids;
        t->cap = cap;
    }
    memcpy(t->ids + t->count * t->n, g, bytes);
    sl = &t->slots[p];
    sl->h = h;
    sl->cnt = inc;
    sl->idx1 = (uint32_t)++t->count;
    if (t->count * 10 > (t->mask + 1) * 7) {
        int rc = gtab_grow(t);

        if (rc < 0)
            return rc;
    }
    return (int64_t)t->count - 1;
}

/* index of the tuple with hash h, or -1 */
static int64_t
gtab_find(const struct gtab *t, uint64_t h)
{
    uint64_t p;

    for (p = h & t->mask; t->slots[p].idx1; p = (p + 1) & t->mask)
        if (t->slots[p].h == h)
            return (int64_t)t->slots[p].idx1 - 1;
    return -1;
}

/* the counts, by index, out of the slots */
static int
gtab_counts(struct gtab *t)
{
    uint64_t i;

    if (!(t->cnt = big_calloc(t->count ? t->count : 1, sizeof(*t->cnt))))
        return NH_ENOMEM;
    for (i = 0; i <= t->mask; i++)
        if (t->slots[i].idx1)
            t->cnt[t->slots[i].idx1 - 1] = t->slots[i].cnt;
    return 0;
}

static inline uint64_t
tuple_hash(const uint32_t *g, int n)
{
    return XXH3_64bits(g, (size_t)n * sizeof(uint32_t));
}

struct trainer {
    int N;
    struct vocab v;
    struct gtab g[LM_MAX_ORDER + 1]; /* orders 2..N */
    uint32_t *cnt1;                  /* (cap1) unigram adjusted counts */
    size_t cap1;
    struct lm_scratch *s; /* the document's ids */
    uint64_t *hash;       /* (caphash) hashes of the document's n-grams */
    size_t caphash;
    uint64_t docs, tokens, bytes, next_progress;
    int progress;
    time_t t0;
};

static int
train_tok_cb(void *arg, const char *tok, size_t len, uint32_t cp)
{
    struct trainer *tr = arg;
    struct vocab *v = &tr->v;
    uint32_t id;
    int rc;

    if (cp != NO_CP && cp < CPMAP_SIZE && v->cpmap[cp]) {
        id = v->cpmap[cp] - 1;
    } else {
        uint64_t h = nh_hash64(tok, len);

        id = vocab_find(v, tok, len, h);
        if (id == UINT32_MAX && (rc = vocab_add(v, tok, len, h, cp, &id)) < 0)
            return rc;
        if (id == ID_BOS || id == ID_EOS)
            id = ID_UNK; /* "<s>" in the text is an unknown word */
    }
    return ids_push(tr->s, id);
}

static int
cnt1_fit(struct trainer *tr, uint32_t n)
{
    if (n > tr->cap1) {
        size_t cap = tr->cap1 ? tr->cap1 : 4096;
        uint32_t *c;

        while (cap < n)
            cap *= 2;
        if (!(c = realloc(tr->cnt1, cap * sizeof(*c))))
            return NH_ENOMEM;
        memset(c + tr->cap1, 0, (cap - tr->cap1) * sizeof(*c));
        tr->cnt1 = c;
        tr->cap1 = cap;
    }
    return 0;
}

static int
hash_fit(struct trainer *tr, size_t n)
{
    if (n > tr->caphash) {
        size_t cap = tr->caphash ? tr->caphash : 4096;
        uint64_t *h;

        while (cap < n)
            cap *= 2;
        if (!(h = realloc(tr->hash, cap * sizeof(*h))))
            return NH_ENOMEM;
        tr->hash = h;
        tr->caphash = cap;
    }
    return 0;
}

static int
train_doc(void *arg, const char *id, const char *text, size_t len)
{
    struct trainer *tr = arg;
    struct lm_scratch *s = tr->s;
    long ntok;
    size_t j;
    int N = tr->N, rc;

    (void)id;
    tr->bytes += len + 1;
    s->nids = 0;
    if (ids_push(s, ID_BOS) < 0)
        return NH_ENOMEM;
    if ((ntok = tokenize(&s->tok, text, len, train_tok_cb, tr)) < 0)
        return (int)ntok;
    if (ntok == 0)
        return 0;
    if (ids_push(s, ID_EOS) < 0 || cnt1_fit(tr, tr->v.n) < 0)
        return NH_ENOMEM;
    if (tr->tokens + (uint64_t)ntok + 1 >= UINT32_MAX)
        return NH_ETOOBIG;
    tr->docs++;
    tr->tokens += (uint64_t)ntok;
    tr->cnt1[ID_BOS]++;
    if (N == 1) {
        for (j = 1; j < s->nids; j++)
            tr->cnt1[s->ids[j]]++;
        return 0;
    }
    /* the n-gram ending at j: an N-gram, or a shorter one from <s> */
    if (hash_fit(tr, s->nids) < 0)
        return NH_ENOMEM;
    for (j = 1; j < s->nids; j++) {
        int n = j + 1 >= (size_t)N ? N : (int)j + 1;

        tr->hash[j] = tuple_hash(s->ids + j + 1 - n, n);
    }
    for (j = 1; j < s->nids; j++) {
        int n = j + 1 >= (size_t)N ? N : (int)j + 1;

        if (j + PREFETCH < s->nids)
            gtab_prefetch(&tr->g[N], tr->hash[j + PREFETCH]);
        int64_t e = gtab_add(&tr->g[n], s->ids + j + 1 - n, tr->hash[j], 1);

        if (e < 0)
            return (int)e;
    }
    if (tr->progress && tr->bytes >= tr->next_progress) {
        fprintf(stderr, "\rlm: %llu documents, %.0f MB read",
                (unsigned long long)tr->docs, (double)tr->bytes / 1e6);
        tr->next_progress = tr->bytes + (8u << 20);
    }
    rc = 0;
    return rc;
}

/* ---- training: estimation -------------------------------------------- */

/* Per order: discounts from the counts of adjusted counts t1..t4
 * (TR-10-98 eq. 26); lmplz's fallback 0.5, 1, 1.5 when they are not
 * usable (tiny corpora). */
static void
discounts(const uint64_t t[5], double d[3])
{
    double y;
    int k;

    for (k = 1; k <= 4; k++)
        if (!t[k])
            goto fallback;
    y = (double)t[1] / ((double)t[1] + 2.0 * (double)t[2]);
    for (k = 1; k <= 3; k++) {
        d[k - 1] = k - (k + 1) * y * (double)t[k + 1] / (double)t[k];
        if (!(d[k - 1] > 0) || d[k - 1] > k)
            goto fallback;
    }
    return;
fallback:
    d[0] = 0.5;
    d[1] = 1.0;
    d[2] = 1.5;
}

static double
disc_of(const double d[3], uint32_t a)
{
    return a >= 3 ? d[2] : d[a - 1];
}

/* context statistics of one order's contexts */
/* A context h of one order: first the sum of the adjusted counts of its
 * extensions and how many have count 1, 2, 3+; then, once the discounts
 * of the order above are known, gamma(h) and 1 / the sum. 16 bytes, so
 * that a random access touches one cache line. */
union ctxstat {
    struct {
        uint32_t den, nk[3];
    } c;
    struct {
        double gamma, inv_den;
    } g;
};

/* counts to gamma form, with the discounts of the extensions' order */
static void
ctxstat_finish(union ctxstat *cs, uint64_t n, const double d[3])
{
    uint64_t i;

    for (i = 0; i < n; i++) {
        uint32_t den = cs[i].c.den;
        double g = 1.0, inv = 0;

        if (den) {
            inv = 1.0 / (double)den;
            g = (d[0] * cs[i].c.nk[0] + d[1] * cs[i].c.nk[1] +
                 d[2] * cs[i].c.nk[2]) /
                (double)den;
        }
        cs[i].g.gamma = g;
        cs[i].g.inv_den = inv;
    }
}

static int
slots_alloc(struct lm_model *m, int n, uint64_t count)
{
    uint64_t cap = count + count / 2 + 1; /* load 2/3, as KenLM's default */

    if (!(m->tab[n] = big_calloc(cap, sizeof(struct slot))))
        return NH_ENOMEM;
    m->cap[n] = cap;
    return 0;
}

static void
slot_put(struct lm_model *m, int n, uint64_t key, float prob, float bow)
{
    struct slot *t = m->tab[n];
    uint64_t p;

    for (p = slot_pos(key, m->cap[n]); t[p].key;
         p = p + 1 == m->cap[n] ? 0 : p + 1)
        if (t[p].key == key)
            return; /* a 64-bit collision: the first one stays */
    t[p].key = key;
    t[p].prob = prob;
    t[p].bow = bow;
}

static float
log10f_of(double p)
{
    return p > 0 ? (float)log10(p) : -99.0f;
}

static int
estimate(struct trainer *tr, struct lm_model *m, struct nh_error *err)
{
    int N = tr->N, n, rc = NH_ENOMEM;
    uint32_t V = tr->v.n;
    union ctxstat *cs[LM_MAX_ORDER + 1] = {0};
    uint32_t *suf[LM_MAX_ORDER + 1] = {0}, *ctx[LM_MAX_ORDER + 1] = {0};
    double *prob[LM_MAX_ORDER + 1] = {0};
    uint64_t den0 = 0, nk0[3] = {0}, e, t[5];
    double gamma0;
    uint32_t w;

    /* adjusted counts of the lower orders, from the order above: each
     * distinct n-gram adds one to the count of its suffix, whose index
     * is remembered */
    for (n = N; n >= 2; n--) {
        struct gtab *g = &tr->g[n];
        uint64_t hs[RING];

        if (!(suf[n] = big_calloc(g->count ? g->count : 1, sizeof(uint32_t))))
            goto out;
        if (n == 2) {
            for (e = 0; e < g->count; e++) {
                suf[n][e] = g->ids[e * 2 + 1];
                tr->cnt1[suf[n][e]]++;
            }
            continue;
        }
        for (e = 0; e < g->count + PREFETCH; e++) {
            if (e < g->count) {
                hs[e % RING] = tuple_hash(g->ids + e * n + 1, n - 1);
                gtab_prefetch(&tr->g[n - 1], hs[e % RING]);
            }
            if (e >= PREFETCH) {
                uint64_t x = e - PREFETCH;
                int64_t i = gtab_add(&tr->g[n - 1], g->ids + x * n + 1,
                                     hs[x % RING], 1);

                if (i < 0) {
                    rc = (int)i;
                    goto out;
                }
                suf[n][x] = (uint32_t)i;
            }
        }
    }
    for (n = 2; n <= N; n++)
        if (gtab_counts(&tr->g[n]) < 0)
            goto out;
    /* unigrams: counts of counts, the empty context */
    memset(t, 0, sizeof(t));
    for (w = 0; w < V; w++) {
        uint32_t a = tr->cnt1[w];

        if (w == ID_BOS || !a)
            continue;
        if (a <= 4)
            t[a]++;
        den0 += a;
        nk0[a >= 3 ? 2 : a - 1]++;
    }
    if (!den0) {
        rc = nh_errorf(err, NH_EINVAL, "no documents to train on");
        goto out;
    }
    discounts(t, m->disc[1]);
    m->count[1] = V;
    /* contexts of each order n >= 2, and its counts of counts */
    for (n = 2; n <= N; n++) {
        struct gtab *g = &tr->g[n];
        uint64_t hs[RING], nctx = n == 2 ? V : tr->g[n - 1].count;
        union ctxstat *c;

        if (!(c = cs[n - 1] = big_calloc(nctx, sizeof(*c))) ||
            !(ctx[n] = big_calloc(g->count ? g->count : 1, sizeof(uint32_t))))
            goto out;
        memset(t, 0, sizeof(t));
        for (e = 0; e < g->count + PREFETCH; e++) {
            const uint32_t *ids;
            uint32_t a;
            int64_t i;
            uint64_t x;

            if (n > 2 && e < g->count) {
                hs[e % RING] = tuple_hash(g->ids + e * n, n - 1);
                gtab_prefetch(&tr->g[n - 1], hs[e % RING]);
            }
            if (e < PREFETCH)
                continue;
            x = e - PREFETCH;
            ids = g->ids + x * n;
            a = g->cnt[x];
            i = n == 2 ? (int64_t)ids[0]
                       : gtab_find(&tr->g[n - 1], hs[x % RING]);
            if (i < 0) {
                rc = nh_errorf(err, NH_ECORRUPT,
                               "internal error: missing context");
                goto out;
            }
            ctx[n][x] = (uint32_t)i;
            if (a <= 4)
                t[a]++;
            c[i].c.den += a;
            c[i].c.nk[a >= 3 ? 2 : a - 1]++;
        }
        discounts(t, m->disc[n]);
        ctxstat_finish(c, nctx, m->disc[n]);
        m->count[n] = g->count;
    }
    for (n = 2; n <= N; n++) {
        big_free(tr->g[n].slots, tr->g[n].mask + 1, sizeof(struct gslot));
        tr->g[n].slots = NULL;
    }
    /* probabilities, bottom up; the backoff weight of a context is gamma */
    if (!(m->uprob = malloc(V * sizeof(float))) ||
        !(m->ubow = malloc(V * sizeof(float))) ||
        !(prob[1] = big_calloc(V, sizeof(double))))
        goto out;
    gamma0 = (m->disc[1][0] * nk0[0] + m->disc[1][1] * nk0[1] +
              m->disc[1][2] * nk0[2]) /
             (double)den0;
    for (w = 0; w < V; w++) {
        uint32_t a = tr->cnt1[w];
        double p = gamma0 / (double)(V - 1);

        if (w == ID_BOS)
            p = 0;
        else if (a)
            p += (a - disc_of(m->disc[1], a)) / (double)den0;
        prob[1][w] = p;
        m->uprob[w] = log10f_of(p);
        m->ubow[w] = N > 1 ? (float)log10(cs[1][w].g.gamma) : 0;
    }
    for (n = 2; n <= N; n++) {
        struct gtab *g = &tr->g[n];
        uint64_t keys[RING], nctx = n == 2 ? V : tr->g[n - 1].count;
        struct slot *sl;

        if (!(prob[n] = big_calloc(g->count ? g->count : 1, sizeof(double))) ||
            slots_alloc(m, n, g->count) < 0)
            goto out;
        sl = m->tab[n];
        for (e = 0; e < g->count + PREFETCH; e++) {
            const union ctxstat *h;
            uint64_t x;
            uint32_t a;
            double p;
            float bow = 0;

            if (e < g->count) {
                keys[e % RING] = ngram_key(g->ids + e * n, n);
                __builtin_prefetch(&sl[slot_pos(keys[e % RING], m->cap[n])]);
                __builtin_prefetch(&prob[n - 1][suf[n][e]]);
                __builtin_prefetch(&cs[n - 1][ctx[n][e]]);
            }
            if (e < PREFETCH)
                continue;
            x = e - PREFETCH;
            h = &cs[n - 1][ctx[n][x]];
            a = g->cnt[x];
            p = (a - disc_of(m->disc[n], a)) * h->g.inv_den +
                h->g.gamma * prob[n - 1][suf[n][x]];
            prob[n][x] = p;
            if (n < N)
                bow = (float)log10(cs[n][x].g.gamma);
            slot_put(m, n, keys[x % RING], log10f_of(p), bow);
        }
        big_free(prob[n - 1], n == 2 ? V : tr->g[n - 1].count, sizeof(double));
        prob[n - 1] = NULL;
        /* the model keeps the tuples (for ARPA); the trainer lets go */
        m->ids[n] = g->ids;
        m->ids_bytes[n] = g->cap * n * sizeof(uint32_t);
        g->ids = NULL;
        big_free(cs[n - 1], nctx, sizeof(union ctxstat));
        cs[n - 1] = NULL;
        big_free(suf[n], g->count ? g->count : 1, sizeof(uint32_t));
        suf[n] = NULL;
        big_free(ctx[n], g->count ? g->count : 1, sizeof(uint32_t));
        ctx[n] = NULL;
    }
    rc = 0;
out:
    for (n = 1; n <= LM_MAX_ORDER; n++) {
        if (cs[n])
            big_free(cs[n], n == 1 ? V : tr->g[n].count, sizeof(union ctxstat));
        uint64_t cnt = n == 1 ? V : tr->g[n].count ? tr->g[n].count : 1;

        if (suf[n])
            big_free(suf[n], cnt, sizeof(uint32_t));
        if (ctx[n])
            big_free(ctx[n], cnt, sizeof(uint32_t));
        if (prob[n])
            big_free(prob[n], cnt, sizeof(double));
    }
    return rc;
}

int
lm_train(const struct lm_opts *o, char *const *paths, size_t npaths,
         struct lm_model **out, struct nh_error *err)
{
    struct trainer tr;
    struct lm_model *m = NULL;
    int N = o && o->order ? o->order : 5, n, rc = NH_ENOMEM;
    size_t i;

    memset(&tr, 0, sizeof(tr));
    if (N < 1 || N > LM_MAX_ORDER)
        return nh_errorf(err, NH_EINVAL, "order must be 1..%d", LM_MAX_ORDER);
    tr.N = N;
    tr.progress = o ? o->progress : 0;
    if (vocab_init(&tr.v) < 0 || !(tr.s = lm_scratch_new(NULL)))
        goto out;
    for (n = 2; n <= N; n++)
        if (gtab_init(&tr.g[n], n) < 0)
            goto out;
    for (i = 0; i < npaths; i++) {
        rc = lm_read_docs(paths[i], o ? o->text_field : NULL, train_doc, &tr,
                          err);
        if (rc == NH_ENOMEM)
            nh_errorf(err, rc, "out of memory");
        else if (rc == NH_ETOOBIG && err && !err->msg[0])
            nh_errorf(err, rc, "'%s': the corpus is over 4G tokens", paths[i]);
        if (rc < 0)
            goto out;
    }
    if (tr.progress)
        fprintf(stderr, "\r\033[K");
    rc = NH_ENOMEM;
    if (cnt1_fit(&tr, tr.v.n) < 0 || !(m = calloc(1, sizeof(*m))))
        goto out;
    m->order = N;
    m->docs = tr.docs;
    m->tokens = tr.tokens;
    if ((rc = estimate(&tr, m, err)) < 0) {
        if (rc == NH_ENOMEM)
            nh_errorf(err, rc, "out of memory");
        goto out;
    }
    m->v = tr.v;
    memset(&tr.v, 0, sizeof(tr.v));
    *out = m;
    m = NULL;
    rc = 0;
out:
    lm_free(m);
    vocab_release(&tr.v, true);
    for (n = 2; n <= LM_MAX_ORDER; n++)
        gtab_release(&tr.g[n]);
    free(tr.cnt1);
    free(tr.hash);
    lm_scratch_free(tr.s);
    return rc;
}

/* ---- the binary model ------------------------------------------------- */

/* Host byte order (bom tells); sections padded to 8 bytes:
 *   header | vocab tokens, NUL-terminated | unigram log10 p (float, V) |
 *   unigram log10 backoff (float, V) | per order 2..N: slots (16 B
 *   each), tuples (n uint32 each) | XXH3-128 of all the above (16 B) */
struct file_hdr {
    char magic[8];
    uint32_t version, bom;
    uint32_t order, nvocab;
    uint64_t vocab_bytes;
    uint64_t docs, tokens;
    uint64_t count[LM_MAX_ORDER + 1];
    uint64_t nslots[LM_MAX_ORDER + 1];
    double disc[LM_MAX_ORDER + 1][3];
};

static uint64_t
pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

struct hwriter {
    struct nh_writer *w;
    struct nh_hash_state *h;
    struct nh_error *err;
};

static int
hw_write(struct hwriter *hw, const void *p, size_t len)
{
    static const char zero[8];

    if (!p)
        p = zero;
    nh_hash128_update(hw->h, p, len);
    return nh_writer_write(hw->w, p, len, hw->err);
}

static int
hw_pad(struct hwriter *hw, uint64_t len)
{
    return len == pad8(len) ? 0 : hw_write(hw, NULL, pad8(len) - len);
}

int
lm_save(const struct lm_model *m, const char *path, struct nh_error *err)
{
    struct file_hdr h;
    struct hwriter hw = {NULL, NULL, err};
    struct nh_h128 sum;
    uint64_t tail[2];
    int n, rc;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, LM_MAGIC, 4);
    h.version = LM_VERSION;
    h.bom = LM_BOM;
    h.order = (uint32_t)m->order;
    h.nvocab = m->v.n;
    h.vocab_bytes = m->v.str_len;
    h.docs = m->docs;
    h.tokens = m->tokens;
    for (n = 1; n <= m->order; n++) {
        h.count[n] = m->count[n];
        h.nslots[n] = n > 1 ? m->cap[n] : 0;
        memcpy(h.disc[n], m->disc[n], sizeof(h.disc[n]));
    }
    if ((rc = nh_writer_open(&hw.w, path, 0, err)) < 0)
        return rc;
    if (!(hw.h = nh_hash128_begin())) {
        nh_writer_abort(hw.w);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    if ((rc = hw_write(&hw, &h, sizeof(h))) < 0 ||
        (rc = hw_write(&hw, m->v.str, m->v.str_len)) < 0 ||
        (rc = hw_pad(&hw, m->v.str_len)) < 0 ||
        (rc = hw_write(&hw, m->uprob, m->v.n * sizeof(float))) < 0 ||
        (rc = hw_write(&hw, m->ubow, m->v.n * sizeof(float))) < 0 ||
        (rc = hw_pad(&hw, (uint64_t)m->v.n * 8)) < 0)
        goto fail;
    for (n = 2; n <= m->order; n++) {
        uint64_t idb = m->count[n] * (uint64_t)n * sizeof(uint32_t);

        if ((rc = hw_write(&hw, m->tab[n], m->cap[n] * sizeof(struct slot))) <
                0 ||
            (rc = hw_write(&hw, m->ids[n], idb)) < 0 ||
            (rc = hw_pad(&hw, idb)) < 0)
            goto fail;
    }
    sum = nh_hash128_end(hw.h);
    hw.h = NULL;
    tail[0] = sum.hi;
    tail[1] = sum.lo;
    if ((rc = nh_writer_write(hw.w, tail, sizeof(tail), err)) < 0)
        goto fail;
    return nh_writer_commit(hw.w, err);
fail:
    if (hw.h)
        nh_hash128_end(hw.h);
    nh_writer_abort(hw.w);
    return rc;
}

static int
read_file(const char *path, void **out, size_t *len, struct nh_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return nh_error_errno(err, "cannot open '%s'", path);
    if (fstat(fd, &st) < 0) {
        rc = nh_error_errno(err, "cannot stat '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = nh_errorf(err, NH_EINVAL, "'%s' is not a file", path);
        goto out;
    }
    if (!(buf = big_calloc(st.st_size ? (size_t)st.st_size : 1, 1))) {
        rc = nh_errorf(err, NH_ENOMEM, "'%s': out of memory", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = nh_error_errno(err, "cannot read '%s'", path);
            goto out;
        }
        if (!r)
            break;
        got += (size_t)r;
    }
    if (got != (size_t)st.st_size) {
        rc = nh_errorf(err, NH_EIO, "'%s' changed while read", path);
        goto out;
    }
    *out = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    if (buf)
        big_free(buf, st.st_size ? (size_t)st.st_size : 1, 1);
    close(fd);
    return rc;
}

static int
corrupt(struct nh_error *err, const char *path, const char *why)
{
    return nh_errorf(err, NH_ECORRUPT,
                     "'%s' is not a usable language model: %s", path, why);
}

int
lm_load(struct lm_model **out, const char *path, struct nh_error *err)
{
    struct lm_model *m = NULL;
    struct file_hdr h;
    struct nh_h128 sum;
    uint64_t tail[2], need, off;
    uint32_t i;
    size_t len = 0;
    void *blob = NULL;
    char *p;
    int n, rc;

    if ((rc = read_file(path, &blob, &len, err)) < 0)
        return rc;
    p = blob;
    if (len < sizeof(h) + 16 || memcmp(p, LM_MAGIC, 5)) {
        rc = corrupt(err, path, "no NHLM header");
        goto out;
    }
    memcpy(&h, p, sizeof(h));
    if (h.bom != LM_BOM || h.version != LM_VERSION) {
        rc = corrupt(err, path,
                     h.bom != LM_BOM ? "other byte order" : "unknown version");
        goto out;
    }
    if (h.order < 1 || h.order > LM_MAX_ORDER || h.nvocab < 3 ||
        h.count[1] != h.nvocab || h.vocab_bytes > ((uint64_t)1 << 40)) {
        rc = corrupt(err, path, "bad header");
        goto out;
    }
    need = sizeof(h) + pad8(h.vocab_bytes) + (uint64_t)h.nvocab * 8;
    for (n = 2; n <= (int)h.order; n++) {
        uint64_t s = h.nslots[n];

        if (s > ((uint64_t)1 << 36) || h.count[n] >= s) {
            rc = corrupt(err, path, "bad table size");
            goto out;
        }
        need += s * sizeof(struct slot) + pad8(h.count[n] * n * 4);
    }
    if (need + 16 != len) {
        rc = corrupt(err, path, len < need + 16 ? "truncated" : "bad size");
        goto out;
    }
    sum = nh_hash128(p, need);
    memcpy(tail, p + need, sizeof(tail));
    if (tail[0] != sum.hi || tail[1] != sum.lo) {
        rc = corrupt(err, path, "checksum mismatch");
        goto out;
    }
    if (!(m = calloc(1, sizeof(*m)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    m->blob = blob;
    m->blob_len = len;
    blob = NULL;
    m->order = (int)h.order;
    m->docs = h.docs;
    m->tokens = h.tokens;
    memcpy(m->count, h.count, sizeof(m->count));
    memcpy(m->disc, h.disc, sizeof(m->disc));
    /* vocabulary: exactly nvocab NUL-terminated tokens */
    off = sizeof(h);
    m->v.str = p + off;
    m->v.str_len = h.vocab_bytes;
    if (!(m->v.off = malloc(h.nvocab * sizeof(uint32_t))) ||
        !(m->v.cpmap = calloc(CPMAP_SIZE, sizeof(uint32_t))) ||
        vocab_rehash(&m->v, 4096) < 0) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    m->v.cap = h.nvocab;
    {
        uint64_t at = 0;

        for (i = 0; i < h.nvocab; i++) {
            const char *w = m->v.str + at;
            const char *z = memchr(w, 0, h.vocab_bytes - at);
            uint64_t hh, slot;
            uint32_t cp = NO_CP;
            size_t wl;

            if (!z || at >= h.vocab_bytes) {
                rc = corrupt(err, path, "bad vocabulary");
                goto out;
            }
            wl = (size_t)(z - w);
            if (wl && utf8_decode(w, wl, &cp, NULL) != wl)
                cp = NO_CP;
            hh = nh_hash64(w, wl);
            if (vocab_find(&m->v, w, wl, hh) != UINT32_MAX) {
                rc = corrupt(err, path, "repeated token");
                goto out;
            }
            if ((uint64_t)(m->v.n + 1) * 4 > (m->v.mask + 1) * 3 &&
                vocab_rehash(&m->v, (m->v.mask + 1) * 2) < 0) {
                rc = nh_errorf(err, NH_ENOMEM, "out of memory");
                goto out;
            }
            m->v.off[i] = (uint32_t)at;
            for (slot = vocab_slot_pos(hh, m->v.mask); m->v.slots[slot];
                 slot = (slot + 1) & m->v.mask)
                ;
            m->v.slots[slot] = (hh >> 32) << 32 | (uint64_t)(i + 1);
            if (cp != NO_CP && cp < CPMAP_SIZE)
                m->v.cpmap[cp] = i + 1;
            m->v.n = i + 1;
            at += wl + 1;
        }
        if (at != h.vocab_bytes) {
            rc = corrupt(err, path, "bad vocabulary");
            goto out;
        }
    }
    off += pad8(h.vocab_bytes);
    m->uprob = (float *)(void *)(p + off);
    m->ubow = m->uprob + h.nvocab;
    off += (uint64_t)h.nvocab * 8;
    for (n = 2; n <= m->order; n++) {
        m->tab[n] = (struct slot *)(void *)(p + off);
        m->cap[n] = h.nslots[n];
        off += h.nslots[n] * sizeof(struct slot);
        m->ids[n] = (uint32_t *)(void *)(p + off);
        off += pad8(h.count[n] * n * 4);
        /* probes end at an empty slot: there must be one */
        {
            uint64_t used = 0, k;

            for (k = 0; k < m->cap[n]; k++)
                used += m->tab[n][k].key != 0;
            if (used > h.count[n]) {
                rc = corrupt(err, path, "bad table");
                goto out;
            }
        }
    }
    *out = m;
    m = NULL;
    rc = 0;
out:
    if (blob)
        big_free(blob, len, 1);
    lm_free(m);
    return rc;
}

/* ---- ARPA -------------------------------------------------------------- */

static int
arpa_flush(struct nh_writer *w, struct strbuf *sb, bool force,
           struct nh_error *err)
{
    int rc = 0;

    if (sb->len >= (1u << 20) || (force && sb->len)) {
        rc = nh_writer_write(w, sb->buf, sb->len, err);
        strbuf_reset(sb);
    }
    return rc;
}

int
lm_write_arpa(const struct lm_model *m, const char *path, struct nh_error *err)
{
    struct nh_writer *w = NULL;
    struct strbuf sb = STRBUF_INIT;
    uint64_t e;
    uint32_t i;
    int n, k, rc;

    if ((rc = nh_writer_open(&w, path, 0, err)) < 0)
        return rc;
    rc = strbuf_addstr(&sb, "\\data\\\n");
    for (n = 1; n <= m->order && rc >= 0; n++)
        rc = strbuf_addf(&sb, "ngram %d=%llu\n", n,
                         (unsigned long long)m->count[n]);
    if (rc >= 0)
        rc = strbuf_addf(&sb, "\n\\1-grams:\n");
    for (i = 0; i < m->v.n && rc >= 0; i++) {
        rc = strbuf_addf(&sb, "%.9g\t%s", (double)m->uprob[i],
                         lm_vocab_word(m, i));
        if (rc >= 0 && m->order > 1)
            rc = strbuf_addf(&sb, "\t%.9g", (double)m->ubow[i]);
        if (rc >= 0)
            rc = strbuf_addch(&sb, '\n');
        if (rc >= 0)
            rc = arpa_flush(w, &sb, false, err);
    }
    for (n = 2; n <= m->order && rc >= 0; n++) {
        rc = strbuf_addf(&sb, "\n\\%d-grams:\n", n);
        for (e = 0; e < m->count[n] && rc >= 0; e++) {
            const uint32_t *g = m->ids[n] + e * n;
            const struct slot *s = tab_find(m, n, ngram_key(g, n));

            if (!s)
                continue;
            rc = strbuf_addf(&sb, "%.9g\t", (double)s->prob);
            for (k = 0; k < n && rc >= 0; k++) {
                if (g[k] >= m->v.n) {
                    rc = nh_errorf(err, NH_ECORRUPT, "bad token id in model");
                    break;
                }
                rc = strbuf_addf(&sb, "%s%s", k ? " " : "",
                                 lm_vocab_word(m, g[k]));
            }
            if (rc >= 0 && n < m->order)
                rc = strbuf_addf(&sb, "\t%.9g", (double)s->bow);
            if (rc >= 0)
                rc = strbuf_addch(&sb, '\n');
            if (rc >= 0)
                rc = arpa_flush(w, &sb, false, err);
        }
    }
    if (rc >= 0)
        rc = strbuf_addstr(&sb, "\n\\end\\\n");
    if (rc >= 0)
        rc = arpa_flush(w, &sb, true, err);
    strbuf_release(&sb);
    if (rc < 0) {
        if (err && !err->msg[0])
            nh_errorf(err, rc, "cannot write '%s': %s", path, nh_strerror(rc));
        nh_writer_abort(w);
        return rc;
    }
    return nh_writer_commit(w, err);
}

/* ---- percentiles ------------------------------------------------------- */

struct pct {
    const struct lm_model *m;
    struct lm_scratch *s;
    double *v;
    size_t n, cap;
};

static int
pct_doc(void *arg, const char *id, const char *text, size_t len)
{
    struct pct *p = arg;
    double lp;
    size_t n;
    int rc;

    (void)id;
    if ((rc = lm_score(p->m, p->s, text, len, &lp, &n)) < 0)
        return rc;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        double *v = realloc(p->v, cap * sizeof(*v));

        if (!v)
            return NH_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = lm_perplexity(lp, n);
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double
lm_quantile(const double *sorted, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;

    if (!n)
        return 0;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

int
lm_percentiles(const struct lm_model *m, char *const *paths, size_t n,
               double p30_p60[2], struct nh_error *err)
{
    struct pct p = {m, NULL, NULL, 0, 0};
    size_t i;
    int rc = 0;

    if (!(p.s = lm_scratch_new(m)))
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    for (i = 0; i < n && rc >= 0; i++) {
        rc = lm_read_docs(paths[i], NULL, pct_doc, &p, err);
        if (rc == NH_ENOMEM)
            nh_errorf(err, rc, "out of memory");
    }
    if (rc >= 0 && !p.n)
        rc = nh_errorf(err, NH_EINVAL, "no documents to measure");
    if (rc >= 0) {
        qsort(p.v, p.n, sizeof(*p.v), cmp_double);
        p30_p60[0] = lm_quantile(p.v, p.n, 0.3);
        p30_p60[1] = lm_quantile(p.v, p.n, 0.6);
    }
    free(p.v);
    lm_scratch_free(p.s);
    return rc < 0 ? rc : 0;
}
