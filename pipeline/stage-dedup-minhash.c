/* stage-dedup-minhash.c - drop near duplicates across the whole run
 *
 * A global stage, like dedup.exact: key() runs in the worker threads and
 * turns each document into b band keys (MinHash signature, then locality
 * sensitive hashing by bands, Leskovec, Rajaraman, Ullman, "Mining of
 * Massive Datasets", ch. 3); the global pass (pipeline/join.c) joins
 * documents that share a band key into clusters, keeps the first document
 * of each cluster (or, with "keep": "quality", the one with the highest
 * meta.quality) and drops the others with "duplicate_of" naming it and
 * "cluster" numbering the cluster. With "verify", candidates are joined
 * only when the exact Jaccard similarity of their shingles
 * (minhash_jaccard) reaches the threshold.
 *
 *   shingles  character n-grams (code points, white space left out) when
 *             CJK characters are at least half of the tokens, else word
 *             n-grams (words split on white space and punctuation, ASCII
 *             lowercased); each hashed to 64 bits with XXH3
 *   minima    h_i(x) = a_i x + b_i mod 2^64 for num_perm (a_i odd, from
 *             splitmix64 of the seed); the minimum of each over shingles
 *   bands     XXH3-64 of each band's r minima, seeded with the band number
 *
 * docs/stages/dedup.minhash.md has the parameters and the costs.
 */
#include "config.h"
#include "hash.h"
#include "minhash.h"
#include "stage.h"
#include "utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* The weight of false positives against false negatives when choosing
 * (b, r): 0.4 / 0.6 gives b = 10, r = 12 for the defaults, which finds
 * 99.5% of pairs with Jaccard >= 0.9 (0.5 / 0.5 gives 9 x 13: 98.8%)
 * while pairs below 0.7 rarely become candidates; docs/BENCHMARKS.md
 * ("dedup.minhash accuracy") has the measurements behind the choice. */
#define MH_FP_WEIGHT 0.4

#define LANES 8 /* minima computed together; num_perm is padded to this */

struct mh_conf {
    int ngram, num_perm, bands, rows;
    bool by_quality; /* keep: "quality" (a double follows the band keys) */
    bool families;   /* join_spec.families */
    double verify;   /* > 0: candidates need this exact Jaccard */
    size_t lanes;    /* num_perm rounded up to LANES */
    uint64_t *a, *b;
};

struct minhash_state {
    uint32_t *cps;   /* non-space code points (character shingles) */
    uint64_t *words; /* word hashes (word shingles) */
    uint64_t *sh;    /* shingle hashes */
    uint64_t *sig;   /* lanes minima */
    size_t cap, sig_cap;
    struct strbuf word; /* one lowercased word */
};

/* ---- parameters ---------------------------------------------------------- */

double
minhash_prob(double s, int b, int r)
{
    return 1.0 - pow(1.0 - pow(s, r), b);
}

/* Composite Simpson's rule of P (or 1 - P) over [lo, hi]. */
static double
integrate(double lo, double hi, int b, int r, bool complement)
{
    const int n = 200; /* even */
    double h = (hi - lo) / n, sum = 0;
    int i;

    for (i = 0; i <= n; i++) {
        double p = minhash_prob(lo + i * h, b, r);
        double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);

        sum += w * (complement ? 1.0 - p : p);
    }
    return sum * h / 3;
}

void
minhash_choose(double threshold, int num_perm, int *bands, int *rows)
{
    double best = INFINITY;
    int b, r;

    *bands = 1;
    *rows = 1;
    for (b = 1; b <= num_perm; b++) {
        for (r = 1; b * r <= num_perm; r++) {
            double fp = integrate(0, threshold, b, r, false);
            double fn = integrate(threshold, 1, b, r, true);
            double e = MH_FP_WEIGHT * fp + (1 - MH_FP_WEIGHT) * fn;

            if (e < best) {
                best = e;
                *bands = b;
                *rows = r;
            }
        }
    }
}

static int
mh_init(const cJSON *params, const char *where, void **conf,
        struct nh_error *err)
{
    static const char *const keys[] = {
        "ngram", "num_perm", "bands", "rows",     "threshold",
        "seed",  "verify",   "keep",  "families", NULL};
    struct mh_conf *c;
    long ngram, num_perm, bands, rows, seed;
    double threshold;
    bool verify, by_quality = false, families;
    const cJSON *keep = cJSON_GetObjectItemCaseSensitive(params, "keep");
    uint64_t x;
    size_t i;
    int rc;

    *conf = NULL;
    if ((rc = cfg_check_keys(params, where, keys, err)) < 0 ||
        (rc = cfg_int(params, where, "ngram", 5, 1, 64, &ngram, err)) < 0 ||
        (rc = cfg_int(params, where, "num_perm", 128, 1, 1024, &num_perm,
                      err)) < 0 ||
        (rc = cfg_int(params, where, "bands", 0, 1, 1024, &bands, err)) < 0 ||
        (rc = cfg_int(params, where, "rows", 0, 1, 1024, &rows, err)) < 0 ||
        (rc = cfg_num(params, where, "threshold", 0.8, 0.01, 0.99, &threshold,
                      err)) < 0 ||
        (rc = cfg_int(params, where, "seed", 1, 0, INT64_MAX, &seed, err)) <
            0 ||
        (rc = cfg_bool(params, where, "verify", false, &verify, err)) < 0 ||
        (rc = cfg_bool(params, where, "families", true, &families, err)) < 0)
        return rc;
    if (keep &&
        !(cJSON_IsString(keep) && (!strcmp(keep->valuestring, "first") ||
                                   !strcmp(keep->valuestring, "quality"))))
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'keep' must be \"first\" or \"quality\"", where);
    if (keep)
        by_quality = !strcmp(keep->valuestring, "quality");
    if (!bands != !rows)
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'bands' and 'rows' go together (give both or "
                         "neither)",
                         where);
    if (bands && !verify &&
        cJSON_GetObjectItemCaseSensitive(params, "threshold"))
        return nh_errorf(err, NH_EINVAL,
                         "%s: give either 'threshold' or 'bands' and 'rows' "
                         "(both only with 'verify', which checks candidates "
                         "against 'threshold')",
                         where);
    if (bands && bands * rows > num_perm)
        return nh_errorf(err, NH_EINVAL,
                         "%s: 'bands' x 'rows' (%ld) must be <= 'num_perm' "
                         "(%ld)",
                         where, bands * rows, num_perm);
    if (!(c = calloc(1, sizeof(*c))))
        return NH_ENOMEM;
    c->ngram = (int)ngram;
    c->num_perm = (int)num_perm;
    c->by_quality = by_quality;
    c->families = families;
    c->verify = verify ? threshold : 0;
    if (bands) {
        c->bands = (int)bands;
        c->rows = (int)rows;
    } else {
        minhash_choose(threshold, c->num_perm, &c->bands, &c->rows);
    }
    c->lanes = ((size_t)num_perm + LANES - 1) / LANES * LANES;
    c->a = malloc(c->lanes * sizeof(*c->a));
    c->b = malloc(c->lanes * sizeof(*c->b));
    if (!c->a || !c->b) {
        free(c->a);
        free(c->b);
        free(c);
        return NH_ENOMEM;
    }
    /* splitmix64 (Steele, Lea, Flood 2014) */
    x = (uint64_t)seed;
    for (i = 0; i < 2 * c->lanes; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);

        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        if (i % 2 == 0)
            c->a[i / 2] = z | 1;
        else
            c->b[i / 2] = z;
    }
    *conf = c;
    return 0;
}

static void
mh_free(void *conf)
{
    struct mh_conf *c = conf;

    if (c) {
        free(c->a);
        free(c->b);
        free(c);
    }
}

static void
mh_join_spec(const void *conf, struct join_spec *js)
{
    const struct mh_conf *c = conf;

    js->bands = (size_t)c->bands;
    js->band_size = sizeof(uint64_t);
    js->by_quality = c->by_quality;
    js->verify = c->verify;
    js->reason = "near_duplicate";
    js->families = c->families;
}

/* ---- shingles ------------------------------------------------------------ */

struct minhash_state *
minhash_state_new(const void *conf)
{
    (void)conf;
    return calloc(1, sizeof(struct minhash_state));
}

void
minhash_state_free(struct minhash_state *st)
{
    if (st) {
        free(st->cps);
        free(st->words);
        free(st->sh);
        free(st->sig);
        strbuf_release(&st->word);
        free(st);
    }
}

static int
reserve(struct minhash_state *st, size_t n)
{
    size_t cap = st->cap ? st->cap : 256;
    void *p;

    if (n <= st->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    if (!(p = realloc(st->cps, cap * sizeof(*st->cps))))
        return NH_ENOMEM;
    st->cps = p;
    if (!(p = realloc(st->words, cap * sizeof(*st->words))))
        return NH_ENOMEM;
    st->words = p;
    if (!(p = realloc(st->sh, cap * sizeof(*st->sh))))
        return NH_ENOMEM;
    st->sh = p;
    st->cap = cap;
    return 0;
}

/* Split text into code points (white space left out) and word hashes;
 * returns the counts and whether the text is mostly CJK. At most len of
 * each, so reserve(len + 1) beforehand. */
static bool
split(struct minhash_state *st, const char *text, size_t len, size_t *ncp,
      size_t *nwords, int *rc)
{
    size_t i = 0, nc = 0, nw = 0, cjk = 0;
    bool inword = false;

    *rc = 0;
    strbuf_reset(&st->word);
    while (i <= len) {
        uint32_t cp = 0;
        size_t k = 1;
        int cl = CP_SPACE;

        if (i < len) {
            unsigned char ch = (unsigned char)text[i];

            if (ch < 0x80)
                cp = ch;
            else
                k = utf8_decode(text + i, len - i, &cp, NULL);
            cl = cp_token_class(cp);
        }
        if (cl != CP_WORD && inword) {
            st->words[nw++] = nh_hash64(st->word.buf, st->word.len);
            strbuf_reset(&st->word);
            inword = false;
        }
        if (i == len)
            break;
        if (cl != CP_SPACE)
            st->cps[nc++] = cp;
        if (cl == CP_CJK) {
            st->words[nw++] = nh_hash64(text + i, k);
            cjk++;
        } else if (cl == CP_WORD) {
            inword = true;
            if (cp < 0x80) {
                char lc = (char)(cp >= 'A' && cp <= 'Z' ? cp | 0x20 : cp);

                *rc = strbuf_addch(&st->word, lc);
            } else {
                *rc = strbuf_add(&st->word, text + i, k);
            }
            if (*rc < 0)
                return false;
        }
        i += k;
    }
    *ncp = nc;
    *nwords = nw;
    return nw > 0 && 2 * cjk >= nw;
}

/* The minima of a_i x + b_i over the n shingle hashes x, LANES at a time
 * with the lanes in registers; written so that GCC vectorises the lane
 * loop (AVX-512 has 64-bit multiply and unsigned minimum; clones for
 * AVX2 and the x86-64 baseline are picked at load time). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
static void
minima(const uint64_t *restrict a, const uint64_t *restrict b, size_t lanes,
       const uint64_t *restrict x, size_t n, uint64_t *restrict sig)
{
    size_t p, s, l;

    for (p = 0; p < lanes; p += LANES) {
        uint64_t m[LANES];

        for (l = 0; l < LANES; l++)
            m[l] = UINT64_MAX;
        for (s = 0; s < n; s++) {
            uint64_t v = x[s];

            for (l = 0; l < LANES; l++) {
                uint64_t h = a[p + l] * v + b[p + l];

                m[l] = h < m[l] ? h : m[l];
            }
        }
        for (l = 0; l < LANES; l++)
            sig[p + l] = m[l];
    }
}

int
minhash_is_cjk_text(const char *text, size_t len)
{
    struct minhash_state *st = minhash_state_new(NULL);
    size_t nc, nw;
    int rc = NH_ENOMEM;
    bool cjk = false;

    if (st && (rc = reserve(st, len + 1)) == 0)
        cjk = split(st, text, len, &nc, &nw, &rc);
    minhash_state_free(st);
    return rc < 0 ? rc : cjk;
}

/* Fill st->sh with the shingle hashes of text; their number in *ns. */
static int
shingles(const struct mh_conf *c, struct minhash_state *st, const char *text,
         size_t len, size_t *ns)
{
    size_t nc, nw, i, n = (size_t)c->ngram;
    int rc;
    bool cjk;

    *ns = 0;
    if ((rc = reserve(st, len + 1)) < 0)
        return rc;
    cjk = split(st, text, len, &nc, &nw, &rc);
    if (rc < 0)
        return rc;
    if (cjk) {
        if (nc < n)
            st->sh[(*ns)++] = nh_hash64(st->cps, nc * sizeof(*st->cps));
        else
            for (i = 0; i + n <= nc; i++)
                st->sh[(*ns)++] = nh_hash64(st->cps + i, n * sizeof(*st->cps));
    } else {
        if (nw < n)
            st->sh[(*ns)++] = nh_hash64(st->words, nw * sizeof(*st->words));
        else
            for (i = 0; i + n <= nw; i++)
                st->sh[(*ns)++] =
                    nh_hash64(st->words + i, n * sizeof(*st->words));
    }
    return 0;
}

/* Fill st->sig (c->lanes minima) for text. */
static int
signature(const struct mh_conf *c, struct minhash_state *st, const char *text,
          size_t len)
{
    size_t ns;
    int rc;

    if (st->sig_cap < c->lanes) {
        void *p = realloc(st->sig, c->lanes * sizeof(*st->sig));

        if (!p)
            return NH_ENOMEM;
        st->sig = p;
        st->sig_cap = c->lanes;
    }
    if ((rc = shingles(c, st, text, len, &ns)) < 0)
        return rc;
    minima(c->a, c->b, c->lanes, st->sh, ns, st->sig);
    return 0;
}

static int
cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

/* Sort and drop repeats; the new count. */
static size_t
sort_unique(uint64_t *v, size_t n)
{
    size_t i, m = 0;

    qsort(v, n, sizeof(*v), cmp_u64);
    for (i = 0; i < n; i++)
        if (m == 0 || v[i] != v[m - 1])
            v[m++] = v[i];
    return m;
}

int
minhash_jaccard(const void *conf, struct minhash_state *st, const char *a,
                size_t alen, const char *b, size_t blen, double *sim)
{
    const struct mh_conf *c = conf;
    size_t na, nb, i = 0, k = 0, both = 0;
    uint64_t *sa;
    int rc;

    if ((rc = shingles(c, st, a, alen, &na)) < 0)
        return rc;
    if (!(sa = malloc((na ? na : 1) * sizeof(*sa))))
        return NH_ENOMEM;
    memcpy(sa, st->sh, na * sizeof(*sa));
    na = sort_unique(sa, na);
    if ((rc = shingles(c, st, b, blen, &nb)) < 0) {
        free(sa);
        return rc;
    }
    nb = sort_unique(st->sh, nb);
    while (i < na && k < nb) {
        if (sa[i] == st->sh[k]) {
            both++;
            i++;
            k++;
        } else if (sa[i] < st->sh[k]) {
            i++;
        } else {
            k++;
        }
    }
    free(sa);
    *sim = na + nb - both ? (double)both / (double)(na + nb - both) : 1.0;
    return 0;
}

int
minhash_signature(const void *conf, struct minhash_state *st, const char *text,
                  size_t len, uint64_t *sig)
{
    const struct mh_conf *c = conf;
    int rc = signature(c, st, text, len);

    if (rc == 0)
        memcpy(sig, st->sig, (size_t)c->num_perm * sizeof(*sig));
    return rc;
}

/* ---- the stage ----------------------------------------------------------- */

static void *
mh_thread_init(const void *conf)
{
    return minhash_state_new(conf);
}

static void
mh_thread_free(void *tstate)
{
    minhash_state_free(tstate);
}

static int
mh_key(const void *conf, struct stage_ctx *ctx, struct doc *d, void *key)
{
    const struct mh_conf *c = conf;
    struct minhash_state *st = ctx->tstate;
    size_t j, r = (size_t)c->rows;
    int rc;

    if (!st)
        return NH_ENOMEM;
    rc = signature(c, st, d->text.buf ? d->text.buf : "", d->text.len);
    if (rc < 0)
        return rc;
    for (j = 0; j < (size_t)c->bands; j++) {
        uint64_t k = nh_hash64_seed(st->sig + j * r, r * sizeof(uint64_t), j);

        memcpy((char *)key + j * sizeof(k), &k, sizeof(k));
    }
    if (c->by_quality) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(d->obj, "meta");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(meta, "quality");
        double v = cJSON_IsNumber(q) ? q->valuedouble : -INFINITY;

        memcpy((char *)key + (size_t)c->bands * sizeof(uint64_t), &v,
               sizeof(v));
    }
    return 0;
}

static int
mh_similarity(const void *conf, void *tstate, const char *a, size_t alen,
              const char *b, size_t blen, double *sim)
{
    return tstate ? minhash_jaccard(conf, tstate, a, alen, b, blen, sim)
                  : NH_ENOMEM;
}

const struct stage_ops stage_dedup_minhash = {
    .name = "dedup.minhash",
    .init = mh_init,
    .thread_init = mh_thread_init,
    .thread_free = mh_thread_free,
    .free = mh_free,
    .join_spec = mh_join_spec,
    .key = mh_key,
    .similarity = mh_similarity,
};
