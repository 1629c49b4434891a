/* ftc.c - a supervised linear text classifier in the manner of fastText
 *
 * The model of Joulin, Grave, Bojanowski, Mikolov 2017, "Bag of Tricks for
 * Efficient Text Classification" (section 2): a text is a bag of features
 * (dictionary words, hashed word n-grams, section 2.2, and optionally the
 * hashed character n-grams of each word, Bojanowski et al. 2017, section
 * 3.2); its hidden vector is the average of the features' rows of the
 * input matrix A; the label distribution is softmax(B h), or a
 * hierarchical softmax over a Huffman tree built from the label counts
 * (section 2.1). Training minimises the negative log-likelihood by SGD
 * with the learning rate decaying linearly to zero over all epochs, on
 * several threads at once without locks (Hogwild, Recht et al. 2011), as
 * fastText does.
 *
 * Tokens: words are runs of letters and digits (ASCII lowercased); white
 * space and punctuation separate them; every CJK character is a token of
 * its own, so that text without spaces works and word bigrams of Chinese
 * are character bigrams. Each text ends with the token "</s>" (fastText's
 * end of line), which acts as a bias row.
 *
 * The whole training file is tokenized once into token numbers held in
 * memory (4 bytes a token); the epochs run over that array. The file
 * format is in docs/CLASSIFIER.md and at ftc_save below.
 */
#include "ftc.h"

#include "clock.h"
#include "hash.h"
#include "jsonl.h"
#include "strbuf.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#define FTC_MAGIC "NHFTC\0"
#define FTC_MAGIC_LEN 6
#define FTC_VERSION 1u
#define LABEL_PREFIX "__label__"
#define LABEL_PREFIX_LEN 9
#define EOS "</s>"
#define MAX_NAME 4096 /* bytes of a word or label in a model file */

/* Four floats; rows are padded to a multiple of 4 (the padding stays 0),
 * so that the inner loops are whole vectors on any target. */
typedef float v4f __attribute__((vector_size(16)));

/* ---- dictionary: strings with counts and 64-bit hashes ------------------ */

struct dict {
    struct strbuf bytes; /* all strings, each NUL-terminated */
    size_t *off;         /* (n) */
    uint64_t *count;     /* (n) */
    uint64_t *hash;      /* (n) */
    int n, cap;
    int32_t *tab; /* open addressing: id, or -1 empty; size mask + 1 */
    size_t mask;
};

static void
dict_release(struct dict *d)
{
    strbuf_release(&d->bytes);
    free(d->off);
    free(d->count);
    free(d->hash);
    free(d->tab);
    memset(d, 0, sizeof(*d));
}

static const char *
dict_str(const struct dict *d, int id)
{
    return d->bytes.buf + d->off[id];
}

static int
dict_find(const struct dict *d, uint64_t h, const char *s, size_t len)
{
    size_t i;

    if (!d->tab)
        return -1;
    for (i = h & d->mask;; i = (i + 1) & d->mask) {
        int32_t id = d->tab[i];

        if (id < 0)
            return -1;
        if (d->hash[id] == h && !memcmp(dict_str(d, id), s, len) &&
            dict_str(d, id)[len] == '\0')
            return id;
    }
}

static int
dict_rehash(struct dict *d, size_t size)
{
    int32_t *tab = malloc(size * sizeof(*tab));
    int id;

    if (!tab)
        return NH_ENOMEM;
    memset(tab, 0xff, size * sizeof(*tab));
    free(d->tab);
    d->tab = tab;
    d->mask = size - 1;
    for (id = 0; id < d->n; id++) {
        size_t i = d->hash[id] & d->mask;

        while (tab[i] >= 0)
            i = (i + 1) & d->mask;
        tab[i] = id;
    }
    return 0;
}

/* The id of s (added with count 0 when new), or a negative code. */
static int
dict_add(struct dict *d, uint64_t h, const char *s, size_t len)
{
    int id = dict_find(d, h, s, len);
    int rc;

    if (id >= 0)
        return id;
    if (d->n == INT32_MAX - 1)
        return NH_ETOOBIG;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 1024;
        size_t *off = realloc(d->off, (size_t)cap * sizeof(*off));
        uint64_t *count, *hash;

        if (!off)
            return NH_ENOMEM;
        d->off = off;
        if (!(count = realloc(d->count, (size_t)cap * sizeof(*count))))
            return NH_ENOMEM;
        d->count = count;
        if (!(hash = realloc(d->hash, (size_t)cap * sizeof(*hash))))
            return NH_ENOMEM;
        d->hash = hash;
        d->cap = cap;
    }
    d->off[d->n] = d->bytes.len;
    if ((rc = strbuf_add(&d->bytes, s, len)) < 0 ||
        (rc = strbuf_addch(&d->bytes, '\0')) < 0)
        return rc;
    d->count[d->n] = 0;
    d->hash[d->n] = h;
    id = d->n++;
    if (!d->tab || (size_t)d->n * 2 > d->mask + 1) {
        if ((rc = dict_rehash(d, d->tab ? (d->mask + 1) * 2 : 2048)) < 0)
            return rc;
    } else {
        size_t i = h & d->mask;

        while (d->tab[i] >= 0)
            i = (i + 1) & d->mask;
        d->tab[i] = id;
    }
    return id;
}

/* ---- tokens ------------------------------------------------------------- */

/* The tokens of one text: their bytes (each NUL-terminated) in buf. */
struct tokens {
    struct strbuf buf;
    size_t *off; /* (n) */
    uint32_t *len;
    uint64_t *hash;
    size_t n, cap;
};

static void
tokens_release(struct tokens *t)
{
    strbuf_release(&t->buf);
    free(t->off);
    free(t->len);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}

static int
tokens_push(struct tokens *t, size_t start)
{
    size_t len = t->buf.len - start;
    int rc;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        size_t *off = realloc(t->off, cap * sizeof(*off));
        uint32_t *ln;
        uint64_t *h;

        if (!off)
            return NH_ENOMEM;
        t->off = off;
        if (!(ln = realloc(t->len, cap * sizeof(*ln))))
            return NH_ENOMEM;
        t->len = ln;
        if (!(h = realloc(t->hash, cap * sizeof(*h))))
            return NH_ENOMEM;
        t->hash = h;
        t->cap = cap;
    }
    if (len > MAX_NAME) { /* keep absurd "words" bounded */
        strbuf_setlen(&t->buf, start + MAX_NAME);
        len = MAX_NAME;
    }
    t->off[t->n] = start;
    t->len[t->n] = (uint32_t)len;
    t->hash[t->n] = nh_hash64(t->buf.buf + start, len);
    t->n++;
    if ((rc = strbuf_addch(&t->buf, '\0')) < 0)
        return rc;
    return 0;
}

/* Split text into tokens, "</s>" last. 0 or a negative code. */
static int
tokenize(struct tokens *t, const char *text, size_t len)
{
    size_t i = 0, start = 0;
    bool inword = false;
    int rc;

    strbuf_reset(&t->buf);
    t->n = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)text[i];
        uint32_t cp = ch;
        size_t k = 1;
        int cl;

        if (ch >= 0x80)
            k = utf8_decode(text + i, len - i, &cp, NULL);
        cl = cp_token_class(cp);
        if (cl != CP_WORD && inword) {
            if ((rc = tokens_push(t, start)) < 0)
                return rc;
            inword = false;
        }
        if (cl == CP_CJK) {
            start = t->buf.len;
            if ((rc = strbuf_add(&t->buf, text + i, k)) < 0 ||
                (rc = tokens_push(t, start)) < 0)
                return rc;
        } else if (cl == CP_WORD) {
            if (!inword) {
                start = t->buf.len;
                inword = true;
            }
            if (ch < 0x80)
                rc = strbuf_addch(&t->buf,
                                  ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
            else
                rc = strbuf_add(&t->buf, text + i, k);
            if (rc < 0)
                return rc;
        }
        i += k;
    }
    if (inword && (rc = tokens_push(t, start)) < 0)
        return rc;
    start = t->buf.len;
    if ((rc = strbuf_addstr(&t->buf, EOS)) < 0)
        return rc;
    return tokens_push(t, start);
}

/* ---- the model ---------------------------------------------------------- */

struct ftc_model {
    struct ftc_opts o;
    int stride; /* dim rounded up to 4 */
    struct dict words, labels;
    int nout;  /* rows of out: labels (softmax) or labels - 1 (hs) */
    float *in; /* (words.n + bucket, stride) */
    float *out;
    /* hierarchical softmax: internal node j (0..nlabels-2) has children
     * child[2j] (code 0) and child[2j+1] (code 1), a child number < nlabels
     * being a leaf (label), else the internal node number + nlabels; the
     * root is internal node nlabels - 2. Each label's path from the root
     * is path[path_off[l] .. path_off[l+1]) with codes in code[]. */
    int *child, *path_off, *path;
    unsigned char *code;
};

static float *
rows_alloc(size_t rows, int stride)
{
    size_t bytes = rows * (size_t)stride * sizeof(float);
    float *p;

    if (rows && bytes / rows / sizeof(float) != (size_t)stride)
        return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void
ftc_opts_default(struct ftc_opts *o)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof(*o));
    o->epoch = 5;
    o->dim = 100;
    o->word_ngrams = 1;
    o->min_count = 1;
    o->bucket = 2000000;
    o->threads = n > 0 ? (int)(n < 64 ? n : 64) : 1;
    o->minn = 0;
    o->maxn = 0;
    o->lr = 0.1;
    o->loss = FTC_SOFTMAX;
    o->seed = 0;
}

void
ftc_free(struct ftc_model *m)
{
    if (!m)
        return;
    dict_release(&m->words);
    dict_release(&m->labels);
    free(m->in);
    free(m->out);
    free(m->child);
    free(m->path_off);
    free(m->path);
    free(m->code);
    free(m);
}

int
ftc_nlabels(const struct ftc_model *m)
{
    return m->labels.n;
}

int
ftc_nwords(const struct ftc_model *m)
{
    return m->words.n;
}

const char *
ftc_label(const struct ftc_model *m, int label)
{
    return label >= 0 && label < m->labels.n ? dict_str(&m->labels, label)
                                             : NULL;
}

int
ftc_label_find(const struct ftc_model *m, const char *name, size_t len)
{
    return dict_find(&m->labels, nh_hash64(name, len), name, len);
}

const struct ftc_opts *
ftc_model_opts(const struct ftc_model *m)
{
    return &m->o;
}

/* Build the Huffman tree of the label counts (labels are sorted by count,
 * most frequent first): merge the two least frequent nodes until one is
 * left, taking leaves from the end of the label list and internal nodes
 * in the order they were made (both queues stay sorted). */
static int
build_tree(struct ftc_model *m)
{
    int n = m->labels.n, ni = n - 1, leaf = n - 1, inner = 0, j, l;
    uint64_t *icount = NULL;
    int *parent = NULL, depth_total = 0, rc = NH_ENOMEM;
    unsigned char *pcode = NULL;

    if (n < 2) {
        m->path_off = calloc((size_t)n + 1, sizeof(int));
        m->path = malloc(sizeof(int));
        m->code = malloc(1);
        m->child = malloc(sizeof(int));
        return m->path_off && m->path && m->code && m->child ? 0 : NH_ENOMEM;
    }
    icount = malloc((size_t)ni * sizeof(*icount));
    parent = malloc((size_t)(n + ni) * sizeof(*parent));
    pcode = malloc((size_t)(n + ni));
    m->child = malloc((size_t)ni * 2 * sizeof(int));
    m->path_off = malloc(((size_t)n + 1) * sizeof(int));
    if (!icount || !parent || !pcode || !m->child || !m->path_off)
        goto out;
    for (j = 0; j < ni; j++) {
        int c;

        for (c = 0; c < 2; c++) {
            int node;
            uint64_t cnt;

            if (leaf >= 0 &&
                (inner >= j || m->labels.count[leaf] <= icount[inner])) {
                node = leaf;
                cnt = m->labels.count[leaf--];
            } else {
                node = n + inner;
                cnt = icount[inner++];
            }
            if (c == 0)
                icount[j] = cnt;
            else
                icount[j] += cnt;
            parent[node] = j;
            pcode[node] = (unsigned char)c;
            m->child[2 * j + c] = node;
        }
    }
    for (l = 0; l < n; l++) {
        int node = l, d = 0;

        while (node != n + ni - 1) {
            node = n + parent[node];
            d++;
        }
        m->path_off[l] = depth_total;
        depth_total += d;
    }
    m->path_off[n] = depth_total;
    m->path = malloc((size_t)depth_total * sizeof(int));
    m->code = malloc((size_t)depth_total);
    if (!m->path || !m->code)
        goto out;
    for (l = 0; l < n; l++) {
        int node = l, at = m->path_off[l + 1];

        while (node != n + ni - 1) { /* filled from the leaf upwards */
            at--;
            m->path[at] = parent[node];
            m->code[at] = pcode[node];
            node = n + parent[node];
        }
    }
    rc = 0;
out:
    free(icount);
    free(parent);
    free(pcode);
    return rc;
}

/* ---- vector arithmetic over padded rows --------------------------------- */

static inline float
dot(const float *a, const float *b, int stride)
{
    v4f s = {0, 0, 0, 0};
    int i;

    for (i = 0; i < stride; i += 4)
        s += *(const v4f *)(a + i) * *(const v4f *)(b + i);
    return s[0] + s[1] + s[2] + s[3];
}

/* y += a x */
static inline void
axpy(float *y, float a, const float *x, int stride)
{
    int i;

    for (i = 0; i < stride; i += 4)
        *(v4f *)(y + i) += a * *(const v4f *)(x + i);
}

/* ---- features ----------------------------------------------------------- */

/* Per-thread working memory for features and the forward pass. */
struct ftc_scratch {
    struct tokens tok;
    int32_t *wid; /* (tokens) dictionary row or -1 */
    size_t wid_cap;
    int32_t *feat; /* input rows */
    size_t nfeat, feat_cap;
    struct strbuf sub; /* "<word>" for character n-grams */
    float *hidden, *grad, *scores;
    struct ftc_pred *all;
    int nlabels;
};

static int
feat_push(struct ftc_scratch *s, int32_t row)
{
    if (s->nfeat == s->feat_cap) {
        size_t cap = s->feat_cap ? s->feat_cap * 2 : 1024;
        int32_t *f = realloc(s->feat, cap * sizeof(*f));

        if (!f)
            return NH_ENOMEM;
        s->feat = f;
        s->feat_cap = cap;
    }
    s->feat[s->nfeat++] = row;
    return 0;
}

/* The hashed character n-grams (minn..maxn code points) of "<word>"; the
 * single "<" and ">" are left out (Bojanowski et al. 2017, section 3.2). */
static int
add_subwords(const struct ftc_model *m, struct ftc_scratch *s, const char *word,
             size_t len)
{
    const char *w;
    size_t wl, i;
    int rc;

    strbuf_reset(&s->sub);
    if ((rc = strbuf_addch(&s->sub, '<')) < 0 ||
        (rc = strbuf_add(&s->sub, word, len)) < 0 ||
        (rc = strbuf_addch(&s->sub, '>')) < 0)
        return rc;
    w = s->sub.buf;
    wl = s->sub.len;
    for (i = 0; i < wl; i += utf8_decode(w + i, wl - i, &(uint32_t){0}, NULL)) {
        size_t j = i;
        int n;

        for (n = 1; n <= m->o.maxn && j < wl; n++) {
            j += utf8_decode(w + j, wl - j, &(uint32_t){0}, NULL);
            if (n >= m->o.minn && !(n == 1 && (i == 0 || j == wl))) {
                uint64_t h =
                    nh_hash64_seed(w + i, j - i, 0x63686172); /* char */

                if ((rc = feat_push(
                         s, m->words.n +
                                (int32_t)(h % (uint64_t)m->o.bucket))) < 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* The input rows of the tokens in s->tok (their rows in s->wid): each
 * dictionary word, each word's character n-grams, each word n-gram
 * (2..wordNgrams consecutive tokens, hashed; Joulin et al. section 2.2). */
static int
make_features(const struct ftc_model *m, struct ftc_scratch *s)
{
    const struct tokens *t = &s->tok;
    size_t i, nb = (size_t)m->o.bucket;
    int rc;

    s->nfeat = 0;
    for (i = 0; i < t->n; i++) {
        if (s->wid[i] >= 0 && (rc = feat_push(s, s->wid[i])) < 0)
            return rc;
        if (m->o.maxn > 0 && nb && i + 1 < t->n &&
            (rc = add_subwords(m, s, t->buf.buf + t->off[i], t->len[i])) < 0)
            return rc;
    }
    if (m->o.word_ngrams > 1 && nb) {
        for (i = 0; i < t->n; i++) {
            uint64_t h = t->hash[i];
            size_t j;

            for (j = i + 1; j < t->n && j < i + (size_t)m->o.word_ngrams; j++) {
                h = (h ^ t->hash[j]) * 0x9E3779B97F4A7C15ull;
                h ^= h >> 29;
                if ((rc = feat_push(s, m->words.n + (int32_t)(h % nb))) < 0)
                    return rc;
            }
        }
    }
    return 0;
}

static int
scratch_wid(struct ftc_scratch *s, size_t n)
{
    if (n > s->wid_cap) {
        size_t cap = n * 2;
        int32_t *w = realloc(s->wid, cap * sizeof(*w));

        if (!w)
            return NH_ENOMEM;
        s->wid = w;
        s->wid_cap = cap;
    }
    return 0;
}

static void
compute_hidden(const struct ftc_model *m, struct ftc_scratch *s)
{
    size_t i;
    int j;

    memset(s->hidden, 0, (size_t)m->stride * sizeof(float));
    for (i = 0; i < s->nfeat; i++)
        axpy(s->hidden, 1.0f, m->in + (size_t)s->feat[i] * m->stride,
             m->stride);
    if (s->nfeat)
        for (j = 0; j < m->stride; j++)
            s->hidden[j] *= 1.0f / (float)s->nfeat;
}

struct ftc_scratch *
ftc_scratch_new(const struct ftc_model *m)
{
    struct ftc_scratch *s = calloc(1, sizeof(*s));
    int nl = m->labels.n > 0 ? m->labels.n : 1;

    if (!s)
        return NULL;
    s->nlabels = m->labels.n;
    s->hidden = rows_alloc(1, m->stride);
    s->grad = rows_alloc(1, m->stride);
    s->scores = malloc((size_t)nl * sizeof(float));
    s->all = malloc((size_t)nl * sizeof(*s->all));
    if (!s->hidden || !s->grad || !s->scores || !s->all) {
        ftc_scratch_free(s);
        return NULL;
    }
    return s;
}

void
ftc_scratch_free(struct ftc_scratch *s)
{
    if (!s)
        return;
    tokens_release(&s->tok);
    strbuf_release(&s->sub);
    free(s->wid);
    free(s->feat);
    free(s->hidden);
    free(s->grad);
    free(s->scores);
    free(s->all);
    free(s);
}

/* ---- prediction --------------------------------------------------------- */

static int
pred_cmp(const void *a, const void *b)
{
    const struct ftc_pred *x = a, *y = b;

    if (x->prob != y->prob)
        return x->prob > y->prob ? -1 : 1;
    return x->label - y->label;
}

static double
sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Probabilities of all leaves under internal node j, given the
 * probability p of reaching it. */
static void
hs_walk(const struct ftc_model *m, struct ftc_scratch *s, int j, double p)
{
    int n = m->labels.n, c;
    double f =
        sigmoid(dot(m->out + (size_t)j * m->stride, s->hidden, m->stride));

    for (c = 0; c < 2; c++) {
        int node = m->child[2 * j + c];
        double q = p * (c ? f : 1.0 - f);

        if (node < n)
            s->all[node].prob = q;
        else
            hs_walk(m, s, node - n, q);
    }
}

int
ftc_predict(const struct ftc_model *m, struct ftc_scratch *s, const char *text,
            size_t len, int k, struct ftc_pred *out, int *n)
{
    int nl = m->labels.n, i, rc;

    *n = 0;
    if ((rc = tokenize(&s->tok, text, len)) < 0 ||
        (rc = scratch_wid(s, s->tok.n)) < 0)
        return rc == NH_ETOOBIG ? NH_ENOMEM : rc;
    for (i = 0; (size_t)i < s->tok.n; i++)
        s->wid[i] = dict_find(&m->words, s->tok.hash[i],
                              s->tok.buf.buf + s->tok.off[i], s->tok.len[i]);
    if ((rc = make_features(m, s)) < 0)
        return rc;
    compute_hidden(m, s);
    for (i = 0; i < nl; i++) {
        s->all[i].label = i;
        s->all[i].prob = 1.0;
    }
    if (nl > 1 && m->o.loss == FTC_HS) {
        hs_walk(m, s, nl - 2, 1.0);
    } else if (nl > 1) {
        double mx = -INFINITY, z = 0;

        for (i = 0; i < nl; i++) {
            s->scores[i] =
                dot(m->out + (size_t)i * m->stride, s->hidden, m->stride);
            if (s->scores[i] > mx)
                mx = s->scores[i];
        }
        for (i = 0; i < nl; i++)
            z += s->all[i].prob = exp(s->scores[i] - mx);
        for (i = 0; i < nl; i++)
            s->all[i].prob /= z;
    }
    qsort(s->all, (size_t)nl, sizeof(*s->all), pred_cmp);
    if (k > nl)
        k = nl;
    if (k < 0)
        k = 0;
    memcpy(out, s->all, (size_t)k * sizeof(*out));
    *n = k;
    return 0;
}

/* ---- the labeled reader ------------------------------------------------- */

struct ftc_reader {
    struct nh_reader *rd;
    struct strbuf text, lab;
    size_t *loff;
    const char **lptr;
    int nlab, lcap, lptr_cap;
    uint64_t lines, skipped, first_skipped;
    char reason[128], cur[128]; /* the first skip's reason, this line's */
};

int
ftc_reader_open(struct ftc_reader **out, const char *path, struct nh_error *err)
{
    struct ftc_reader *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((rc = nh_reader_open(&r->rd, path, err)) < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void
ftc_reader_close(struct ftc_reader *r)
{
    if (!r)
        return;
    nh_reader_close(r->rd);
    strbuf_release(&r->text);
    strbuf_release(&r->lab);
    free(r->loff);
    free(r->lptr);
    free(r);
}

void
ftc_reader_counts(const struct ftc_reader *r, uint64_t *lines,
                  uint64_t *skipped, uint64_t *first_skipped,
                  const char **reason)
{
    if (lines)
        *lines = r->lines;
    if (skipped)
        *skipped = r->skipped;
    if (first_skipped)
        *first_skipped = r->first_skipped;
    if (reason)
        *reason = r->reason;
}

static int
reader_label(struct ftc_reader *r, const char *s, size_t len)
{
    int rc;

    if (len >= LABEL_PREFIX_LEN && !memcmp(s, LABEL_PREFIX, LABEL_PREFIX_LEN)) {
        s += LABEL_PREFIX_LEN;
        len -= LABEL_PREFIX_LEN;
    }
    if (len == 0 || len > MAX_NAME)
        return 0;
    if (r->nlab == r->lcap) {
        int cap = r->lcap ? r->lcap * 2 : 8;
        size_t *o = realloc(r->loff, (size_t)cap * sizeof(*o));

        if (!o)
            return NH_ENOMEM;
        r->loff = o;
        r->lcap = cap;
    }
    r->loff[r->nlab++] = r->lab.len;
    if ((rc = strbuf_add(&r->lab, s, len)) < 0 ||
        (rc = strbuf_addch(&r->lab, '\0')) < 0)
        return rc;
    return 0;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' ||
           c == '\0';
}

/* One line into r->lab and r->text: 1 labeled, 0 not (r->cur says
 * why), or a negative code. */
static int
reader_parse(struct ftc_reader *r, const char *line, size_t len)
{
    size_t i = 0;
    int rc;

    r->nlab = 0;
    strbuf_reset(&r->lab);
    strbuf_reset(&r->text);
    while (i < len && is_space(line[i]))
        i++;
    if (i < len && line[i] == '{') {
        cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *l, *t, *it;

        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            snprintf(r->cur, sizeof(r->cur), "not a JSON object");
            return 0;
        }
        /* "labels" as `nh label export --format jsonl` writes it */
        l = cJSON_GetObjectItemCaseSensitive(o, "label");
        if (!l)
            l = cJSON_GetObjectItemCaseSensitive(o, "labels");
        t = cJSON_GetObjectItemCaseSensitive(o, "text");
        rc = 0;
        if (cJSON_IsString(l))
            rc = reader_label(r, l->valuestring, strlen(l->valuestring));
        else if (cJSON_IsArray(l))
            cJSON_ArrayForEach(it, l)
            {
                if (rc == 0 && cJSON_IsString(it))
                    rc = reader_label(r, it->valuestring,
                                      strlen(it->valuestring));
            }
        if (rc == 0 && cJSON_IsString(t))
            rc = strbuf_addstr(&r->text, t->valuestring);
        if (rc == 0 && !cJSON_IsString(t)) {
            snprintf(r->cur, sizeof(r->cur), "no \"text\" string");
            r->nlab = 0;
        } else if (rc == 0 && r->nlab == 0) {
            snprintf(r->cur, sizeof(r->cur), "no \"label\" or \"labels\"");
        }
        cJSON_Delete(o);
        if (rc < 0)
            return rc;
        return r->nlab > 0;
    }
    while (i < len) {
        size_t start = i;

        while (i < len && !is_space(line[i]))
            i++;
        if (i - start > LABEL_PREFIX_LEN &&
            !memcmp(line + start, LABEL_PREFIX, LABEL_PREFIX_LEN)) {
            rc = reader_label(r, line + start, i - start);
        } else {
            if (r->text.len && (rc = strbuf_addch(&r->text, ' ')) < 0)
                return rc;
            rc = strbuf_add(&r->text, line + start, i - start);
        }
        if (rc < 0)
            return rc;
        while (i < len && is_space(line[i]))
            i++;
    }
    if (r->nlab == 0)
        snprintf(r->cur, sizeof(r->cur), "no __label__ token");
    return r->nlab > 0;
}

int
ftc_reader_next(struct ftc_reader *r, const char *const **labels, int *nlabels,
                const char **text, size_t *len, struct nh_error *err)
{
    for (;;) {
        const char *line;
        size_t n, i;
        int rc = nh_reader_line(r->rd, &line, &n, err);
        char why[128];

        if (rc == 0)
            return 0;
        if (rc < 0 && rc != NH_ETOOBIG)
            return rc;
        r->lines++;
        if (rc == NH_ETOOBIG) {
            snprintf(why, sizeof(why), "line too long");
        } else {
            for (i = 0; i < n && is_space(line[i]); i++)
                ;
            if (i == n)
                continue; /* blank lines are not examples */
            if ((rc = reader_parse(r, line, n)) < 0)
                return nh_errorf(err, rc, "out of memory");
            if (rc == 1) {
                if (r->lptr_cap < r->nlab) {
                    const char **p =
                        realloc(r->lptr, (size_t)r->lcap * sizeof(*p));

                    if (!p)
                        return nh_errorf(err, NH_ENOMEM, "out of memory");
                    r->lptr = p;
                    r->lptr_cap = r->lcap;
                }
                for (i = 0; i < (size_t)r->nlab; i++)
                    r->lptr[i] = r->lab.buf + r->loff[i];
                *labels = r->lptr;
                *nlabels = r->nlab;
                *text = strbuf_str(&r->text);
                *len = r->text.len;
                return 1;
            }
            snprintf(why, sizeof(why), "%s", r->cur);
        }
        if (r->skipped++ == 0) {
            r->first_skipped = r->lines;
            snprintf(r->reason, sizeof(r->reason), "%s", why);
        }
    }
}

/* ---- training ----------------------------------------------------------- */

/* The training file in memory: per example its token count, label count,
 * tokens (numbers in the full dictionary, before minCount) and labels. */
struct trainset {
    struct dict all; /* every token seen */
    uint32_t *data;
    size_t n, cap;
    size_t *ex; /* (nex) offsets into data */
    size_t nex, excap;
    uint64_t ntokens;
    int32_t *row;  /* (all.n) row in the model, or -1 below minCount */
    int32_t *lmap; /* label number while reading -> final */
};

static int
ts_push(struct trainset *ts, uint32_t v)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 1 << 20;
        uint32_t *d = realloc(ts->data, cap * sizeof(*d));

        if (!d)
            return NH_ENOMEM;
        ts->data = d;
        ts->cap = cap;
    }
    ts->data[ts->n++] = v;
    return 0;
}

static void
ts_release(struct trainset *ts)
{
    dict_release(&ts->all);
    free(ts->data);
    free(ts->ex);
    free(ts->row);
    free(ts->lmap);
}

struct trainer {
    struct ftc_model *m;
    const struct trainset *ts;
    struct ftc_train_info *info;
    atomic_ullong done; /* tokens processed, all threads */
    uint64_t total;     /* epoch x tokens */
    int nthreads;
};

struct worker {
    struct trainer *tr;
    int id;
    uint64_t rng;
    struct ftc_scratch *s;
    double loss;
    uint64_t nloss;
    pthread_t th;
    int rc;
};

static uint64_t
next_rand(uint64_t *x) /* splitmix64 */
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One SGD step on the example whose features are in s, for target label
 * y, at learning rate lr: the gradient of -log p(y) with respect to the
 * output rows and the hidden vector, the latter spread evenly over the
 * input rows (the average's derivative). Returns the loss. */
static double
sgd_step(struct ftc_model *m, struct ftc_scratch *s, int y, float lr)
{
    int nl = m->labels.n, st = m->stride, i;
    double loss = 0;
    size_t f;

    compute_hidden(m, s);
    memset(s->grad, 0, (size_t)st * sizeof(float));
    if (m->o.loss == FTC_HS) {
        for (i = m->path_off[y]; i < m->path_off[y + 1]; i++) {
            float *wo = m->out + (size_t)m->path[i] * st;
            float p = 1.0f / (1.0f + expf(-dot(wo, s->hidden, st)));
            float a = lr * ((float)m->code[i] - p);

            axpy(s->grad, a, wo, st);
            axpy(wo, a, s->hidden, st);
            loss -= log(m->code[i] ? p + 1e-5 : 1.0 - p + 1e-5);
        }
    } else {
        float mx = -INFINITY, z = 0;

        for (i = 0; i < nl; i++) {
            s->scores[i] = dot(m->out + (size_t)i * st, s->hidden, st);
            if (s->scores[i] > mx)
                mx = s->scores[i];
        }
        for (i = 0; i < nl; i++)
            z += s->scores[i] = expf(s->scores[i] - mx);
        for (i = 0; i < nl; i++) {
            float *wo = m->out + (size_t)i * st;
            float p = s->scores[i] / z;
            float a = lr * ((float)(i == y) - p);

            axpy(s->grad, a, wo, st);
            axpy(wo, a, s->hidden, st);
        }
        loss = -log(s->scores[y] / z + 1e-5);
    }
    for (i = 0; i < st; i++)
        s->grad[i] *= 1.0f / (float)s->nfeat;
    for (f = 0; f < s->nfeat; f++)
        axpy(m->in + (size_t)s->feat[f] * st, 1.0f, s->grad, st);
    return loss;
}

/* A thread: starts at its share of the examples and goes round them until
 * all threads together have processed epoch x tokens. The rows of the
 * model are updated without locks, as in fastText (Hogwild): two threads
 * may add to the same float at once and one addition may be lost, which
 * SGD tolerates; nothing else is shared but the atomic token counter. */
static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    struct trainer *tr = w->tr;
    const struct trainset *ts = tr->ts;
    struct ftc_model *m = tr->m;
    struct ftc_scratch *s = w->s;
    size_t e = ts->nex * (size_t)w->id / (size_t)tr->nthreads;
    uint64_t local = 0, since = 0;
    double recent = 0;
    uint64_t nrecent = 0;

    for (;;) {
        uint64_t done = atomic_load_explicit(&tr->done, memory_order_relaxed);
        const uint32_t *ex = ts->data + ts->ex[e];
        uint32_t ntok = ex[0], nlab = ex[1], i;
        float lr;
        double l;
        int y;

        if (done >= tr->total)
            break;
        lr = (float)(m->o.lr * (1.0 - (double)done / (double)tr->total));
        if ((w->rc = scratch_wid(s, ntok)) < 0)
            return NULL;
        /* the token arrays of s->tok: only hashes and rows are needed,
         * strings only for character n-grams */
        s->tok.n = 0;
        strbuf_reset(&s->tok.buf);
        for (i = 0; i < ntok; i++) {
            uint32_t t = ex[2 + i];

            if (s->tok.n == s->tok.cap) {
                size_t cap = s->tok.cap ? s->tok.cap * 2 : 256;
                size_t *off = realloc(s->tok.off, cap * sizeof(*off));
                uint32_t *ln;
                uint64_t *h;

                if (off)
                    s->tok.off = off;
                ln = off ? realloc(s->tok.len, cap * sizeof(*ln)) : NULL;
                if (ln)
                    s->tok.len = ln;
                h = ln ? realloc(s->tok.hash, cap * sizeof(*h)) : NULL;
                if (!h) {
                    w->rc = NH_ENOMEM;
                    return NULL;
                }
                s->tok.hash = h;
                s->tok.cap = cap;
            }
            s->tok.hash[s->tok.n] = ts->all.hash[t];
            s->wid[s->tok.n] = ts->row[t];
            if (m->o.maxn > 0) {
                const char *str = dict_str(&ts->all, (int)t);
                size_t sl = strlen(str);

                s->tok.off[s->tok.n] = s->tok.buf.len;
                s->tok.len[s->tok.n] = (uint32_t)sl;
                if ((w->rc = strbuf_add(&s->tok.buf, str, sl + 1)) < 0)
                    return NULL;
            }
            s->tok.n++;
        }
        if ((w->rc = make_features(m, s)) < 0)
            return NULL;
        y = (int)ex[2 + ntok];
        if (nlab > 1) /* one of the labels, at random, as fastText does */
            y = (int)ex[2 + ntok + next_rand(&w->rng) % nlab];
        y = ts->lmap[y];
        if (s->nfeat) {
            l = sgd_step(m, s, y, lr);
            w->loss += l;
            w->nloss++;
            recent += l;
            nrecent++;
        }
        local += ntok;
        if (local >= 256) {
            atomic_fetch_add_explicit(&tr->done, local, memory_order_relaxed);
            since += local;
            local = 0;
            if (w->id == 0 && tr->info && tr->info->progress &&
                since >= 200000) {
                tr->info->progress((double)done / (double)tr->total,
                                   nrecent ? recent / (double)nrecent : 0,
                                   tr->info->progress_arg);
                since = 0;
                recent = 0;
                nrecent = 0;
            }
        }
        if (++e == ts->nex)
            e = 0;
    }
    return NULL;
}

static int
check_opts(const struct ftc_opts *o, struct nh_error *err)
{
    if (o->epoch < 1 || o->epoch > 100000)
        return nh_errorf(err, NH_EINVAL, "epoch %d out of range 1..100000",
                         o->epoch);
    if (o->dim < 1 || o->dim > 4096)
        return nh_errorf(err, NH_EINVAL, "dim %d out of range 1..4096", o->dim);
    if (o->word_ngrams < 1 || o->word_ngrams > 16)
        return nh_errorf(err, NH_EINVAL, "wordNgrams %d out of range 1..16",
                         o->word_ngrams);
    if (o->min_count < 1)
        return nh_errorf(err, NH_EINVAL, "minCount %d must be at least 1",
                         o->min_count);
    if (o->bucket < 0 || o->bucket > 100000000)
        return nh_errorf(err, NH_EINVAL, "bucket %d out of range 0..100000000",
                         o->bucket);
    if (o->threads < 1 || o->threads > 1024)
        return nh_errorf(err, NH_EINVAL, "threads %d out of range 1..1024",
                         o->threads);
    if (o->minn < 0 || o->maxn < 0 || o->maxn > 32 ||
        (o->maxn > 0 && (o->minn < 1 || o->minn > o->maxn)))
        return nh_errorf(err, NH_EINVAL,
                         "minn %d, maxn %d: need 1 <= minn <= maxn <= 32 "
                         "(maxn 0: no character n-grams)",
                         o->minn, o->maxn);
    if (!(o->lr > 0 && o->lr <= 100))
        return nh_errorf(err, NH_EINVAL, "lr %g out of range (0, 100]", o->lr);
    if (o->loss != FTC_SOFTMAX && o->loss != FTC_HS)
        return nh_errorf(err, NH_EINVAL, "unknown loss");
    return 0;
}

/* Read the whole file: tokens into the full dictionary, labels. */
static int
read_trainset(struct trainset *ts, struct dict *labels, const char *path,
              struct ftc_train_info *info, struct nh_error *err)
{
    struct ftc_reader *r = NULL;
    struct tokens tok = {0};
    const char *const *labs;
    const char *text;
    size_t len, i;
    int nlab, rc, j;

    if ((rc = ftc_reader_open(&r, path, err)) < 0)
        return rc;
    while ((rc = ftc_reader_next(r, &labs, &nlab, &text, &len, err)) == 1) {
        if ((rc = tokenize(&tok, text, len)) < 0)
            break;
        if (ts->nex == ts->excap) {
            size_t cap = ts->excap ? ts->excap * 2 : 4096;
            size_t *ex = realloc(ts->ex, cap * sizeof(*ex));

            if (!ex) {
                rc = NH_ENOMEM;
                break;
            }
            ts->ex = ex;
            ts->excap = cap;
        }
        ts->ex[ts->nex++] = ts->n;
        if ((rc = ts_push(ts, (uint32_t)tok.n)) < 0 ||
            (rc = ts_push(ts, (uint32_t)nlab)) < 0)
            break;
        for (i = 0; i < tok.n && rc >= 0; i++) {
            rc = dict_add(&ts->all, tok.hash[i], tok.buf.buf + tok.off[i],
                          tok.len[i]);
            if (rc >= 0) {
                ts->all.count[rc]++;
                rc = ts_push(ts, (uint32_t)rc);
            }
        }
        for (j = 0; j < nlab && rc >= 0; j++) {
            size_t ll = strlen(labs[j]);

            rc = dict_add(labels, nh_hash64(labs[j], ll), labs[j], ll);
            if (rc >= 0) {
                labels->count[rc]++;
                rc = ts_push(ts, (uint32_t)rc);
            }
        }
        if (rc < 0)
            break;
        ts->ntokens += tok.n;
    }
    if (rc < 0 && err && !err->msg[0])
        nh_errorf(err, rc, "reading '%s': %s", path, nh_strerror(rc));
    if (info) {
        ftc_reader_counts(r, &info->lines, &info->skipped, &info->first_skipped,
                          &text);
        snprintf(info->skip_reason, sizeof(info->skip_reason), "%s", text);
    }
    ftc_reader_close(r);
    tokens_release(&tok);
    return rc < 0 ? rc : 0;
}

static int
label_order(const void *a, const void *b, void *arg)
{
    const struct dict *d = arg;
    int x = *(const int *)a, y = *(const int *)b;

    if (d->count[x] != d->count[y])
        return d->count[x] > d->count[y] ? -1 : 1;
    return strcmp(dict_str(d, x), dict_str(d, y));
}

int
ftc_train_ex(const struct ftc_opts *o, const char *path, struct ftc_model **out,
             struct ftc_train_info *info, struct nh_error *err)
{
    struct trainset ts = {0};
    struct dict raw = {0};
    struct ftc_model *m = NULL;
    struct worker *w = NULL;
    struct trainer tr = {0};
    double t0 = nh_now(), inv;
    int *order = NULL, rc, i, nthreads = 0;
    size_t rows, r;
    uint64_t rng;

    if (err)
        err->msg[0] = '\0';
    if ((rc = check_opts(o, err)) < 0)
        return rc;
    if (!(m = calloc(1, sizeof(*m)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    m->o = *o;
    if (m->o.word_ngrams <= 1 && m->o.maxn == 0)
        m->o.bucket = 0; /* no hashed features: no buckets (fastText too) */
    m->stride = (o->dim + 3) & ~3;
    if ((rc = read_trainset(&ts, &raw, path, info, err)) < 0)
        goto out;
    if (ts.nex == 0) {
        rc = nh_errorf(err, NH_EFORMAT, "no labeled lines in '%s'", path);
        goto out;
    }
    /* labels by count, most frequent first (the Huffman tree wants them
     * sorted); words that reach minCount, in the order first seen */
    if (!(order = malloc((size_t)raw.n * sizeof(int))) ||
        !(ts.lmap = malloc((size_t)raw.n * sizeof(int32_t))) ||
        !(ts.row = malloc((size_t)ts.all.n * sizeof(int32_t)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < raw.n; i++)
        order[i] = i;
    qsort_r(order, (size_t)raw.n, sizeof(int), label_order, &raw);
    for (i = 0; i < raw.n && rc >= 0; i++) {
        const char *s = dict_str(&raw, order[i]);

        rc = dict_add(&m->labels, raw.hash[order[i]], s, strlen(s));
        if (rc >= 0) {
            m->labels.count[rc] = raw.count[order[i]];
            ts.lmap[order[i]] = rc;
        }
    }
    for (i = 0; i < ts.all.n && rc >= 0; i++) {
        const char *s = dict_str(&ts.all, i);

        ts.row[i] = -1;
        if (ts.all.count[i] < (uint64_t)o->min_count)
            continue;
        rc = dict_add(&m->words, ts.all.hash[i], s, strlen(s));
        if (rc >= 0) {
            m->words.count[rc] = ts.all.count[i];
            ts.row[i] = rc;
        }
    }
    if (rc < 0 || (rc = build_tree(m)) < 0) {
        rc = nh_errorf(err, rc, "out of memory");
        goto out;
    }
    /* A uniform in [-1/dim, 1/dim], B zero (fastText's initialisation) */
    rows = (size_t)m->words.n + (size_t)m->o.bucket;
    m->nout = m->o.loss == FTC_HS ? m->labels.n - 1 : m->labels.n;
    m->in = rows_alloc(rows, m->stride);
    m->out = rows_alloc(m->nout > 0 ? (size_t)m->nout : 1, m->stride);
    if (!m->in || !m->out) {
        rc = nh_errorf(err, NH_ENOMEM,
                       "out of memory for a %zu x %d input matrix", rows,
                       o->dim);
        goto out;
    }
    rng = o->seed ^ 0x6674632d696e6974ull;
    inv = 1.0 / o->dim;
    for (r = 0; r < rows; r++) {
        float *row = m->in + r * m->stride;

        for (i = 0; i < o->dim; i++)
            row[i] =
                (float)(((double)(next_rand(&rng) >> 11) * 0x1p-53 * 2 - 1) *
                        inv);
    }
    /* the threads */
    memset(&tr, 0, sizeof(tr));
    tr.m = m;
    tr.ts = &ts;
    tr.info = info;
    tr.total = (uint64_t)o->epoch * ts.ntokens;
    tr.nthreads = o->threads;
    if ((size_t)tr.nthreads > ts.nex)
        tr.nthreads = (int)ts.nex;
    atomic_init(&tr.done, 0);
    if (!(w = calloc((size_t)tr.nthreads, sizeof(*w)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < tr.nthreads; i++) {
        w[i].tr = &tr;
        w[i].id = i;
        w[i].rng = o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
        if (!(w[i].s = ftc_scratch_new(m))) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (nthreads = 1; nthreads < tr.nthreads; nthreads++)
        if (pthread_create(&w[nthreads].th, NULL, worker_run, &w[nthreads])) {
            atomic_store(&tr.done, tr.total); /* stop the others */
            rc = nh_errorf(err, NH_EIO, "cannot start a training thread");
            break;
        }
    if (rc >= 0)
        worker_run(&w[0]);
    for (i = 1; i < nthreads; i++)
        pthread_join(w[i].th, NULL);
    if (rc < 0)
        goto out;
    rc = 0;
    for (i = 0; i < tr.nthreads; i++)
        if (w[i].rc < 0)
            rc = w[i].rc;
    if (rc < 0) {
        rc = nh_errorf(err, rc, "out of memory while training");
        goto out;
    }
    if (info) {
        double l = 0;
        uint64_t n = 0;

        for (i = 0; i < tr.nthreads; i++) {
            l += w[i].loss;
            n += w[i].nloss;
        }
        info->examples = ts.nex;
        info->tokens = ts.ntokens;
        info->words = m->words.n;
        info->labels = m->labels.n;
        info->threads = tr.nthreads;
        info->loss = n ? l / (double)n : 0;
        info->seconds = nh_now() - t0;
        if (info->progress)
            info->progress(1.0, info->loss, info->progress_arg);
    }
    *out = m;
    m = NULL;
out:
    if (w)
        for (i = 0; i < tr.nthreads; i++)
            ftc_scratch_free(w[i].s);
    free(w);
    free(order);
    ts_release(&ts);
    dict_release(&raw);
    ftc_free(m);
    return rc;
}

int
ftc_train(const struct ftc_opts *o, const char *path, struct ftc_model **out,
          struct nh_error *err)
{
    return ftc_train_ex(o, path, out, NULL, err);
}

/* ---- the file format ---------------------------------------------------- */

/* All little-endian:
 *   "NHFTC\0", u32 version
 *   u32 dim, epoch, wordNgrams, minCount, bucket, minn, maxn, loss
 *   f64 lr, u64 seed
 *   u32 words, u32 labels
 *   each word, then each label: u32 length, the bytes, u64 count
 *   input matrix: (words + bucket) rows of dim f32
 *   output matrix: labels (softmax) or labels - 1 (hs) rows of dim f32
 *   XXH3-128 of everything before it (hi, lo as u64)
 */
struct wfile {
    struct nh_writer *w;
    struct nh_hash_state *h;
    int rc;
    struct nh_error *err;
};

static void
wf_put(struct wfile *f, const void *p, size_t n)
{
    if (f->rc < 0)
        return;
    nh_hash128_update(f->h, p, n);
    f->rc = nh_writer_write(f->w, p, n, f->err);
}

static void
wf_u32(struct wfile *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};

    wf_put(f, b, 4);
}

static void
wf_u64(struct wfile *f, uint64_t v)
{
    wf_u32(f, (uint32_t)v);
    wf_u32(f, (uint32_t)(v >> 32));
}

static void
wf_rows(struct wfile *f, const float *m, size_t rows, int dim, int stride)
{
    unsigned char buf[4 * 4096];
    size_t r;
    int i;

    for (r = 0; r < rows && f->rc >= 0; r++) {
        const float *row = m + r * (size_t)stride;

        for (i = 0; i < dim; i++) {
            uint32_t v;

            memcpy(&v, &row[i], 4);
            buf[4 * i] = (unsigned char)v;
            buf[4 * i + 1] = (unsigned char)(v >> 8);
            buf[4 * i + 2] = (unsigned char)(v >> 16);
            buf[4 * i + 3] = (unsigned char)(v >> 24);
        }
        wf_put(f, buf, (size_t)dim * 4);
    }
}

static void
wf_dict(struct wfile *f, const struct dict *d)
{
    int i;

    for (i = 0; i < d->n; i++) {
        const char *s = dict_str(d, i);
        size_t n = strlen(s);

        wf_u32(f, (uint32_t)n);
        wf_put(f, s, n);
        wf_u64(f, d->count[i]);
    }
}

int
ftc_save(const struct ftc_model *m, const char *path, struct nh_error *err)
{
    struct wfile f = {0};
    struct nh_h128 h;
    uint64_t lr;
    unsigned char tail[16];
    int i;

    f.err = err;
    if ((f.rc = nh_writer_open(&f.w, path, 0, err)) < 0)
        return f.rc;
    if (!(f.h = nh_hash128_begin())) {
        nh_writer_abort(f.w);
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    }
    wf_put(&f, FTC_MAGIC, FTC_MAGIC_LEN);
    wf_u32(&f, FTC_VERSION);
    wf_u32(&f, (uint32_t)m->o.dim);
    wf_u32(&f, (uint32_t)m->o.epoch);
    wf_u32(&f, (uint32_t)m->o.word_ngrams);
    wf_u32(&f, (uint32_t)m->o.min_count);
    wf_u32(&f, (uint32_t)m->o.bucket);
    wf_u32(&f, (uint32_t)m->o.minn);
    wf_u32(&f, (uint32_t)m->o.maxn);
    wf_u32(&f, (uint32_t)m->o.loss);
    memcpy(&lr, &m->o.lr, 8);
    wf_u64(&f, lr);
    wf_u64(&f, m->o.seed);
    wf_u32(&f, (uint32_t)m->words.n);
    wf_u32(&f, (uint32_t)m->labels.n);
    wf_dict(&f, &m->words);
    wf_dict(&f, &m->labels);
    wf_rows(&f, m->in, (size_t)m->words.n + (size_t)m->o.bucket, m->o.dim,
            m->stride);
    wf_rows(&f, m->out, (size_t)m->nout, m->o.dim, m->stride);
    h = nh_hash128_end(f.h);
    for (i = 0; i < 8; i++) {
        tail[i] = (unsigned char)(h.hi >> (8 * i));
        tail[8 + i] = (unsigned char)(h.lo >> (8 * i));
    }
    if (f.rc >= 0)
        f.rc = nh_writer_write(f.w, tail, 16, err);
    if (f.rc < 0) {
        nh_writer_abort(f.w);
        return f.rc;
    }
    return nh_writer_commit_nosync(f.w, err);
}

struct rfile {
    FILE *fp;
    struct nh_hash_state *h;
    uint64_t left; /* bytes of the file not read yet */
    const char *path;
    struct nh_error *err;
};

static int
rf_get(struct rfile *f, void *p, size_t n)
{
    if (n > f->left)
        return nh_errorf(f->err, NH_ECORRUPT,
                         "'%s' is not a classifier model: truncated", f->path);
    if (n && fread(p, 1, n, f->fp) != n)
        return nh_error_errno(f->err, "cannot read '%s'", f->path);
    f->left -= n;
    nh_hash128_update(f->h, p, n);
    return 0;
}

static int
rf_u32(struct rfile *f, uint32_t *v)
{
    unsigned char b[4];
    int rc = rf_get(f, b, 4);

    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
    return rc;
}

static int
rf_u64(struct rfile *f, uint64_t *v)
{
    uint32_t lo = 0, hi = 0;
    int rc;

    if ((rc = rf_u32(f, &lo)) < 0 || (rc = rf_u32(f, &hi)) < 0)
        return rc;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

static int
rf_dict(struct rfile *f, struct dict *d, uint32_t n, const char *what)
{
    char buf[MAX_NAME];
    uint32_t i, len;
    int rc, id;

    for (i = 0; i < n; i++) {
        uint64_t cnt;

        if ((rc = rf_u32(f, &len)) < 0)
            return rc;
        if (len == 0 || len > MAX_NAME)
            return nh_errorf(f->err, NH_ECORRUPT,
                             "'%s' is corrupt: %s %u has length %u", f->path,
                             what, i, len);
        if ((rc = rf_get(f, buf, len)) < 0 || (rc = rf_u64(f, &cnt)) < 0)
            return rc;
        if ((id = dict_add(d, nh_hash64(buf, len), buf, len)) < 0)
            return nh_errorf(f->err, id, "out of memory");
        if (id != d->n - 1)
            return nh_errorf(f->err, NH_ECORRUPT,
                             "'%s' is corrupt: %s %u appears twice", f->path,
                             what, i);
        d->count[id] = cnt;
    }
    return 0;
}

static int
rf_rows(struct rfile *f, float *m, size_t rows, int dim, int stride)
{
    unsigned char buf[4 * 4096];
    size_t r;
    int i, rc;

    for (r = 0; r < rows; r++) {
        float *row = m + r * (size_t)stride;

        if ((rc = rf_get(f, buf, (size_t)dim * 4)) < 0)
            return rc;
        for (i = 0; i < dim; i++) {
            uint32_t v = (uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 |
                         (uint32_t)buf[4 * i + 2] << 16 |
                         (uint32_t)buf[4 * i + 3] << 24;

            memcpy(&row[i], &v, 4);
            if (!isfinite(row[i]))
                return nh_errorf(f->err, NH_ECORRUPT,
                                 "'%s' is corrupt: a weight is not finite",
                                 f->path);
        }
    }
    return 0;
}

int
ftc_load(struct ftc_model **out, const char *path, struct nh_error *err)
{
    struct rfile f = {0};
    struct ftc_model *m = NULL;
    struct stat st;
    char magic[FTC_MAGIC_LEN];
    uint32_t ver, v[8], nw, nl;
    uint64_t lr, need, seed = 0;
    unsigned char tail[16];
    struct nh_h128 h;
    int rc, i;

    f.path = path;
    f.err = err;
    if (!(f.fp = fopen(path, "rb")))
        return nh_error_errno(err, "cannot open '%s'", path);
    if (fstat(fileno(f.fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = nh_errorf(err, NH_EIO, "'%s' is not a regular file", path);
        goto out;
    }
    f.left = (uint64_t)st.st_size;
    if (!(f.h = nh_hash128_begin()) || !(m = calloc(1, sizeof(*m)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    if (f.left < FTC_MAGIC_LEN + 4 + 16 ||
        (rc = rf_get(&f, magic, FTC_MAGIC_LEN)) < 0 ||
        memcmp(magic, FTC_MAGIC, FTC_MAGIC_LEN)) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s' is not a classifier model (no NHFTC magic)", path);
        goto out;
    }
    f.left -= 16; /* the checksum */
    if ((rc = rf_u32(&f, &ver)) < 0)
        goto out;
    if (ver != FTC_VERSION) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s': classifier model version %u, this program "
                       "reads version %u",
                       path, ver, FTC_VERSION);
        goto out;
    }
    for (i = 0; i < 8; i++)
        if ((rc = rf_u32(&f, &v[i])) < 0)
            goto out;
    if ((rc = rf_u64(&f, &lr)) < 0 || (rc = rf_u64(&f, &seed)) < 0 ||
        (rc = rf_u32(&f, &nw)) < 0 || (rc = rf_u32(&f, &nl)) < 0)
        goto out;
    m->o.dim = (int)v[0];
    m->o.epoch = (int)v[1];
    m->o.word_ngrams = (int)v[2];
    m->o.min_count = (int)v[3];
    m->o.bucket = (int)v[4];
    m->o.minn = (int)v[5];
    m->o.maxn = (int)v[6];
    m->o.loss = v[7] == FTC_HS ? FTC_HS : FTC_SOFTMAX;
    m->o.threads = 1;
    m->o.seed = seed;
    memcpy(&m->o.lr, &lr, 8);
    if (v[0] > 4096 || v[1] > 100000 || v[2] > 16 || v[3] > INT32_MAX ||
        v[4] > 100000000 || v[7] > 1 || nw > INT32_MAX / 2 || nl < 1 ||
        nl > (1u << 24) || check_opts(&m->o, NULL) < 0) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s' is corrupt: options or sizes out of range", path);
        goto out;
    }
    if (nw > f.left / 13 || nl > f.left / 13) { /* 4 + 1 + 8 bytes each */
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s' is not a classifier model: truncated", path);
        goto out;
    }
    if ((rc = rf_dict(&f, &m->words, nw, "word")) < 0 ||
        (rc = rf_dict(&f, &m->labels, nl, "label")) < 0)
        goto out;
    m->stride = (m->o.dim + 3) & ~3;
    m->nout = m->o.loss == FTC_HS ? (int)nl - 1 : (int)nl;
    need = ((uint64_t)nw + (uint64_t)m->o.bucket + (uint64_t)m->nout) *
           (uint64_t)m->o.dim * 4;
    if (need != f.left) {
        rc = nh_errorf(err, NH_ECORRUPT,
                       "'%s' is not a classifier model: %s (%llu bytes of "
                       "weights expected, %llu found)",
                       path, need > f.left ? "truncated" : "trailing bytes",
                       (unsigned long long)need, (unsigned long long)f.left);
        goto out;
    }
    m->in = rows_alloc((size_t)nw + (size_t)m->o.bucket, m->stride);
    m->out = rows_alloc(m->nout > 0 ? (size_t)m->nout : 1, m->stride);
    if (!m->in || !m->out) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory loading '%s'", path);
        goto out;
    }
    if ((rc = rf_rows(&f, m->in, (size_t)nw + (size_t)m->o.bucket, m->o.dim,
                      m->stride)) < 0 ||
        (rc = rf_rows(&f, m->out, (size_t)m->nout, m->o.dim, m->stride)) < 0)
        goto out;
    h = nh_hash128_end(f.h);
    f.h = NULL;
    if (fread(tail, 1, 16, f.fp) != 16) {
        rc = nh_error_errno(err, "cannot read '%s'", path);
        goto out;
    }
    for (i = 0; i < 8; i++)
        if (tail[i] != (unsigned char)(h.hi >> (8 * i)) ||
            tail[8 + i] != (unsigned char)(h.lo >> (8 * i)))
            break;
    if (i < 8) {
        rc = nh_errorf(err, NH_ECORRUPT, "'%s' is corrupt: checksum mismatch",
                       path);
        goto out;
    }
    if ((rc = build_tree(m)) < 0) {
        rc = nh_errorf(err, rc, "out of memory");
        goto out;
    }
    *out = m;
    m = NULL;
    rc = 0;
out:
    if (f.h)
        nh_hash128_end(f.h);
    fclose(f.fp);
    ftc_free(m);
    return rc;
}
