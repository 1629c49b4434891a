/* augment.c - the augmentation operators and how a document's copies
 * are made (augment.h; docs/AUGMENT.md has each operator's parameters)
 *
 * A text is first cut into units: a code point with the combining marks,
 * variation selectors, emoji modifiers and ZWJ-joined code points that
 * follow it. Operators rearrange, drop, copy or replace whole units and
 * write the result with strbuf, so the output is valid UTF-8 whenever
 * the input is. Randomness is a splitmix64 generator per copy, seeded
 * from (seed, id, copy).
 */
#include "augment.h"

#include "config.h"
#include "hash.h"
#include "strbuf.h"
#include "utf8.h"

#include <math.h>
#include <opencc/opencc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define AUG_MAX_OPS 64
#define AUG_RECOMBINE_SOURCES 4096

/* ---- generator -------------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static size_t
rng_below(struct rng *r, size_t n)
{
    return n ? (size_t)(rng_next(r) % n) : 0;
}

/* ---- units ------------------------------------------------------------ */

struct unit {
    size_t off, len;
    uint32_t cp; /* the first code point */
};

struct units {
    struct unit *u;
    size_t n, cap;
};

static bool
cp_extends(uint32_t cp)
{
    utf8proc_category_t c;

    if (cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F) ||
        (cp >= 0xE0100 && cp <= 0xE01EF) || (cp >= 0x1F3FB && cp <= 0x1F3FF))
        return true;
    c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
           c == UTF8PROC_CATEGORY_ME;
}

static int
units_cut(struct units *us, const char *s, size_t len)
{
    size_t i = 0;
    bool join = false;

    us->n = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp, NULL);

        if (us->n && (join || cp_extends(cp))) {
            us->u[us->n - 1].len += k;
        } else {
            if (us->n == us->cap) {
                size_t nc = us->cap ? 2 * us->cap : 256;
                struct unit *t = realloc(us->u, nc * sizeof(*t));

                if (!t)
                    return NH_ENOMEM;
                us->u = t;
                us->cap = nc;
            }
            us->u[us->n].off = i;
            us->u[us->n].len = k;
            us->u[us->n].cp = cp;
            us->n++;
        }
        join = cp == 0x200D;
        i += k;
    }
    return 0;
}

static int
put_cp(struct strbuf *out, uint32_t cp)
{
    char b[4];
    size_t k = utf8_encode(cp, b);

    return strbuf_add(out, b, k);
}

static bool
is_space(uint32_t cp)
{
    return cp_token_class(cp) == CP_SPACE || cp == '\n' || cp == '\t' ||
           cp == '\r';
}

/* ---- operators ---------------------------------------------------------- */

enum op_kind {
    OP_CHAR_NOISE,
    OP_SENTENCE,
    OP_SPAN_MASK,
    OP_OPENCC,
    OP_PUNCT_WIDTH,
    OP_WHITESPACE,
    OP_WINDOW,
    OP_RECOMBINE,
};

struct aug_op {
    enum op_kind kind;
    const char *name;
    double weight;
    cJSON *params; /* with defaults filled in: the provenance record */
    double rate;
    double w_edit[4]; /* char_noise: insert, delete, swap, similar */
    int mode;         /* sentence: 0 drop 1 swap 2 shuffle; punct: 0 full 1
                         half */
    long span, size, stride, min_chars;
    const char *mask;
    opencc_t cc;
    uint64_t count;
};

struct recent {
    char *source, *id, *text;
    size_t len;
};

struct augment {
    struct aug_op ops[AUG_MAX_OPS];
    size_t nops;
    double wsum;
    struct units us, us2;
    struct strbuf sb, sb2;
    struct recent *recent; /* recombine: last document per source */
    size_t nrecent;
};

/* Visually similar characters, each line one group of code points that
 * are easy to mistake for each other. Compiled by hand for naohai from
 * the "form-similar characters" (形近字) drilled in Chinese primary
 * school and a few Latin homoglyphs; no outside file was copied. */
static const char *const similar_groups[] = {
    "己已巳", "末未", "人入八", "土士",   "日曰",   "戊戌戍", "大太犬",
    "王玉主", "天夭", "刀力",   "干千于", "木本术", "贝见",   "问间",
    "免兔",   "买卖", "候侯",   "壁璧",   "辨辩辫", "拨拔",   "籍藉",
    "即既",   "析折", "斤斥",   "今令",   "由甲申", "田由",   "白自",
    "目且",   "午牛", "失矢",   "母毋",   "冶治",   "孑孓",   "汩汨",
    "0OＯ",   "1lI",  "5S",     "uv",     "，,",    "。．",
};

static bool
similar_of(uint32_t cp, struct rng *r, uint32_t *out)
{
    for (size_t g = 0; g < sizeof(similar_groups) / sizeof(*similar_groups);
         g++) {
        const char *s = similar_groups[g];
        size_t len = strlen(s), i = 0, n = 0, hit = SIZE_MAX;
        uint32_t cps[8];

        while (i < len && n < 8) {
            i += utf8_decode(s + i, len - i, &cps[n], NULL);
            if (cps[n] == cp)
                hit = n;
            n++;
        }
        if (hit != SIZE_MAX && n > 1) {
            size_t k = rng_below(r, n - 1);

            *out = cps[k >= hit ? k + 1 : k];
            return true;
        }
    }
    return false;
}

static int
put_unit(struct strbuf *out, const char *t, const struct unit *u)
{
    return strbuf_add(out, t + u->off, u->len);
}

/* char_noise: each non-space unit, with probability rate, is edited. */
static int
apply_char_noise(struct aug_op *op, struct rng *r, const char *t,
                 struct units *us, struct strbuf *out)
{
    double wsum = op->w_edit[0] + op->w_edit[1] + op->w_edit[2] + op->w_edit[3];
    int rc = 0;

    for (size_t i = 0; i < us->n && rc == 0; i++) {
        const struct unit *u = &us->u[i];
        double x;
        uint32_t sim;

        if (is_space(u->cp) || rng_unit(r) >= op->rate) {
            rc = put_unit(out, t, u);
            continue;
        }
        x = rng_unit(r) * wsum;
        if (x < op->w_edit[0]) { /* insert a unit drawn from the text */
            const struct unit *v = &us->u[rng_below(r, us->n)];

            rc = put_unit(out, t, u);
            if (rc == 0 && !is_space(v->cp))
                rc = put_unit(out, t, v);
        } else if ((x -= op->w_edit[0]) < op->w_edit[1]) { /* delete */
            continue;
        } else if ((x -= op->w_edit[1]) < op->w_edit[2]) { /* swap */
            if (i + 1 < us->n && !is_space(us->u[i + 1].cp)) {
                rc = put_unit(out, t, &us->u[i + 1]);
                if (rc == 0)
                    rc = put_unit(out, t, u);
                i++;
            } else {
                rc = put_unit(out, t, u);
            }
        } else if (u->len == utf8_encode(u->cp, (char[4]){0}) &&
                   similar_of(u->cp, r, &sim)) {
            rc = put_cp(out, sim);
        } else {
            rc = put_unit(out, t, u);
        }
    }
    return rc;
}

static bool
ends_sentence(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == '!' ||
           cp == '?' || cp == 0xFF0E || cp == '\n';
}

static bool
closes(uint32_t cp)
{
    return cp == 0x201D || cp == 0x2019 || cp == 0x300D || cp == 0x300F ||
           cp == 0xFF09 || cp == ')' || cp == '"' || cp == '\'';
}

/* Sentence boundaries: unit indexes where each sentence starts, plus n.
 * A sentence ends after 。！？!? (or '.' followed by a space or the end,
 * or a newline), any closing quotes or brackets, and the spaces after. */
static size_t *
sentences(const struct units *us, size_t *count)
{
    size_t *b = malloc((us->n + 2) * sizeof(*b)), nb = 0, i = 0;

    if (!b)
        return NULL;
    b[nb++] = 0;
    while (i < us->n) {
        uint32_t cp = us->u[i].cp;
        bool end = ends_sentence(cp) ||
                   (cp == '.' && (i + 1 == us->n || is_space(us->u[i + 1].cp)));

        i++;
        if (!end)
            continue;
        while (i < us->n && (closes(us->u[i].cp) || ends_sentence(us->u[i].cp)))
            i++;
        while (i < us->n && is_space(us->u[i].cp))
            i++;
        if (i < us->n)
            b[nb++] = i;
    }
    b[nb] = us->n;
    *count = nb;
    return b;
}

static int
put_range(struct strbuf *out, const char *t, const struct units *us, size_t a,
          size_t b)
{
    if (a >= b)
        return 0;
    return strbuf_add(out, t + us->u[a].off,
                      us->u[b - 1].off + us->u[b - 1].len - us->u[a].off);
}

/* sentence: drop (each with probability rate, at least one kept), swap
 * (max(1, rate * n) random adjacent pairs) or shuffle (all of them). */
static int
apply_sentence(struct aug_op *op, struct rng *r, const char *t,
               struct units *us, struct strbuf *out)
{
    size_t n, *b = sentences(us, &n), *ord = NULL, kept = 0;
    int rc = 0;

    if (!b)
        return NH_ENOMEM;
    if (n < 2) { /* nothing to rearrange */
        rc = put_range(out, t, us, 0, us->n);
        goto out;
    }
    if (!(ord = malloc(n * sizeof(*ord)))) {
        rc = NH_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    if (op->mode == 0) {
        size_t keep_one = rng_below(r, n);

        for (size_t i = 0; i < n; i++)
            if (i == keep_one || rng_unit(r) >= op->rate)
                ord[kept++] = i;
        n = kept;
    } else if (op->mode == 1) {
        size_t swaps = (size_t)(op->rate * (double)n);

        for (size_t s = 0; s < (swaps ? swaps : 1); s++) {
            size_t i = rng_below(r, n - 1), x = ord[i];

            ord[i] = ord[i + 1];
            ord[i + 1] = x;
        }
    } else {
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = rng_below(r, i + 1), x = ord[i];

            ord[i] = ord[j];
            ord[j] = x;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_range(out, t, us, b[ord[i]], b[ord[i] + 1]);
out:
    free(ord);
    free(b);
    return rc;
}

/* span_mask: spans of 1..2*span-1 units start at each unit with
 * probability rate / span, and are replaced by the mask token; each
 * masked span is recorded as [start, length, original] in code units
 * of the original text (units, see above). */
static int
apply_span_mask(struct aug_op *op, struct rng *r, const char *t,
                struct units *us, struct strbuf *out, cJSON *meta)
{
    cJSON *spans = cJSON_AddArrayToObject(meta, "masked_spans");
    double p = op->rate / (double)op->span;
    int rc = 0;

    if (!spans)
        return NH_ENOMEM;
    for (size_t i = 0; i < us->n && rc == 0;) {
        size_t len, k;
        cJSON *e;

        if (is_space(us->u[i].cp) || rng_unit(r) >= p) {
            rc = put_unit(out, t, &us->u[i++]);
            continue;
        }
        len = 1 + rng_below(r, (size_t)(2 * op->span - 1));
        for (k = 0; k < len && i + k < us->n && !is_space(us->u[i + k].cp);)
            k++;
        e = cJSON_CreateArray();
        if (!e || !cJSON_AddItemToArray(spans, e))
            return NH_ENOMEM;
        {
            size_t off = us->u[i].off;
            size_t blen = us->u[i + k - 1].off + us->u[i + k - 1].len - off;
            char *orig = strndup(t + off, blen);
            cJSON *s = orig ? cJSON_CreateString(orig) : NULL;

            free(orig);
            if (!s || !cJSON_AddItemToArray(e, cJSON_CreateNumber((double)i)) ||
                !cJSON_AddItemToArray(e, cJSON_CreateNumber((double)k)) ||
                !cJSON_AddItemToArray(e, s))
                return NH_ENOMEM;
        }
        rc = strbuf_addstr(out, op->mask);
        i += k;
    }
    return rc;
}

static int
apply_opencc(struct aug_op *op, const char *t, size_t len, struct strbuf *out)
{
    char *c = opencc_convert_utf8(op->cc, t, len);
    int rc;

    if (!c)
        return NH_ENOMEM;
    rc = strbuf_addstr(out, c);
    opencc_convert_utf8_free(c);
    return rc;
}

static bool
ascii_punct(uint32_t cp)
{
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
           (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
}

/* punct_width: "full" turns ASCII punctuation into its full-width form
 * ('.' after a CJK character into 。); "half" the other way (。 to '.',
 * 、 to ',', the ideographic space to ' '). Each with probability rate. */
static int
apply_punct_width(struct aug_op *op, struct rng *r, const char *t,
                  struct units *us, struct strbuf *out)
{
    int rc = 0;

    for (size_t i = 0; i < us->n && rc == 0; i++) {
        uint32_t cp = us->u[i].cp, to = 0;

        if (op->mode == 0 && ascii_punct(cp) && us->u[i].len == 1)
            to = cp == '.' && i > 0 && cp_is_cjk(us->u[i - 1].cp) ? 0x3002
                                                                  : cp + 0xFEE0;
        else if (op->mode == 1 && cp >= 0xFF01 && cp <= 0xFF5E &&
                 ascii_punct(cp - 0xFEE0))
            to = cp - 0xFEE0;
        else if (op->mode == 1 && cp == 0x3002)
            to = '.';
        else if (op->mode == 1 && cp == 0x3001)
            to = ',';
        else if (op->mode == 1 && cp == 0x3000)
            to = ' ';
        if (to && rng_unit(r) < op->rate)
            rc = put_cp(out, to);
        else
            rc = put_unit(out, t, &us->u[i]);
    }
    return rc;
}

/* whitespace: each run of spaces (not newlines), with probability rate,
 * becomes two spaces, an ideographic space or nothing (only between two
 * CJK characters, where a space carries no meaning); between two
 * non-space units a space is inserted with probability rate / 4. */
static int
apply_whitespace(struct aug_op *op, struct rng *r, const char *t,
                 struct units *us, struct strbuf *out)
{
    int rc = 0;

    for (size_t i = 0; i < us->n && rc == 0;) {
        uint32_t cp = us->u[i].cp;

        if (cp_token_class(cp) == CP_SPACE && cp != '\n') {
            size_t j = i;

            while (j < us->n && cp_token_class(us->u[j].cp) == CP_SPACE &&
                   us->u[j].cp != '\n')
                j++;
            if (rng_unit(r) >= op->rate) {
                rc = put_range(out, t, us, i, j);
            } else {
                size_t v = rng_below(r, 3);
                bool cjk = i > 0 && j < us->n && cp_is_cjk(us->u[i - 1].cp) &&
                           cp_is_cjk(us->u[j].cp);

                if (v == 0)
                    rc = strbuf_addstr(out, "  ");
                else if (v == 1 || !cjk)
                    rc = put_cp(out, 0x3000);
            }
            i = j;
            continue;
        }
        rc = put_unit(out, t, &us->u[i]);
        if (rc == 0 && i + 1 < us->n && !is_space(cp) &&
            !is_space(us->u[i + 1].cp) && rng_unit(r) < op->rate / 4)
            rc = strbuf_addch(out, ' ');
        i++;
    }
    return rc;
}

/* ---- parsing ----------------------------------------------------------- */

static const char *const op_names[] = {
    "char_noise",  "sentence",   "span_mask", "opencc",
    "punct_width", "whitespace", "window",    "recombine",
};

static int
add_num(cJSON *p, const char *k, double v)
{
    return cJSON_AddNumberToObject(p, k, v) ? 0 : NH_ENOMEM;
}

static int
parse_op(struct aug_op *op, const cJSON *o, const char *where,
         struct nh_error *err)
{
    static const char *const k_noise[] = {
        "weight", "rate", "insert", "delete", "swap", "similar", NULL};
    static const char *const k_sent[] = {"weight", "rate", "mode", NULL};
    static const char *const k_mask[] = {"weight", "rate", "span", "mask",
                                         NULL};
    static const char *const k_cc[] = {"weight", "config", NULL};
    static const char *const k_punct[] = {"weight", "rate", "to", NULL};
    static const char *const k_ws[] = {"weight", "rate", NULL};
    static const char *const k_win[] = {"weight", "size", "stride", "min_chars",
                                        NULL};
    static const char *const k_rec[] = {"weight", NULL};
    static const char *const *const keys[] = {k_noise, k_sent, k_mask, k_cc,
                                              k_punct, k_ws,   k_win,  k_rec};
    static const char *const modes[] = {"drop", "swap", "shuffle", NULL};
    static const char *const widths[] = {"full", "half", NULL};
    static const char *const ccs[] = {"s2t.json",   "t2s.json",   "s2tw.json",
                                      "tw2s.json",  "s2hk.json",  "hk2s.json",
                                      "s2twp.json", "tw2sp.json", NULL};
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "op");
    const char *s;
    size_t k;
    int rc;

    if (!cJSON_IsString(name))
        return nh_errorf(err, NH_EINVAL, "%s: 'op' must be a string", where);
    for (k = 0; k < sizeof(op_names) / sizeof(*op_names); k++)
        if (!strcmp(name->valuestring, op_names[k]))
            break;
    if (k == sizeof(op_names) / sizeof(*op_names))
        return nh_errorf(err, NH_EINVAL, "%s: unknown operator '%s'", where,
                         name->valuestring);
    op->kind = (enum op_kind)k;
    op->name = op_names[k];
    if ((rc = cfg_check_keys(o, where, keys[k], err)) < 0 ||
        (rc = cfg_num(o, where, "weight", 1, 0, 1e6, &op->weight, err)) < 0)
        return rc;
    if (!(op->params = cJSON_CreateObject()))
        return NH_ENOMEM;
    switch (op->kind) {
    case OP_CHAR_NOISE:
        if ((rc = cfg_num(o, where, "rate", 0.05, 0, 1, &op->rate, err)) < 0 ||
            (rc = cfg_num(o, where, "insert", 1, 0, 1e6, &op->w_edit[0], err)) <
                0 ||
            (rc = cfg_num(o, where, "delete", 1, 0, 1e6, &op->w_edit[1], err)) <
                0 ||
            (rc = cfg_num(o, where, "swap", 1, 0, 1e6, &op->w_edit[2], err)) <
                0 ||
            (rc = cfg_num(o, where, "similar", 1, 0, 1e6, &op->w_edit[3],
                          err)) < 0)
            return rc;
        if (op->w_edit[0] + op->w_edit[1] + op->w_edit[2] + op->w_edit[3] <= 0)
            return nh_errorf(err, NH_EINVAL,
                             "%s: one of 'insert', 'delete', 'swap', "
                             "'similar' must be above 0",
                             where);
        if (add_num(op->params, "rate", op->rate) ||
            add_num(op->params, "insert", op->w_edit[0]) ||
            add_num(op->params, "delete", op->w_edit[1]) ||
            add_num(op->params, "swap", op->w_edit[2]) ||
            add_num(op->params, "similar", op->w_edit[3]))
            return NH_ENOMEM;
        break;
    case OP_SENTENCE:
        if ((rc = cfg_num(o, where, "rate", 0.2, 0, 1, &op->rate, err)) < 0 ||
            (rc = cfg_str(o, where, "mode", "drop", modes, &s, err)) < 0)
            return rc;
        op->mode = !strcmp(s, "drop") ? 0 : !strcmp(s, "swap") ? 1 : 2;
        if (!cJSON_AddStringToObject(op->params, "mode", s) ||
            add_num(op->params, "rate", op->rate))
            return NH_ENOMEM;
        break;
    case OP_SPAN_MASK:
        if ((rc = cfg_num(o, where, "rate", 0.15, 0, 1, &op->rate, err)) < 0 ||
            (rc = cfg_int(o, where, "span", 3, 1, 1000, &op->span, err)) < 0 ||
            (rc = cfg_str(o, where, "mask", "<mask>", NULL, &op->mask, err)) <
                0)
            return rc;
        if (!*op->mask || strlen(op->mask) > 64 ||
            !utf8_valid(op->mask, strlen(op->mask)))
            return nh_errorf(err, NH_EINVAL,
                             "%s: 'mask' must be 1-64 bytes of UTF-8", where);
        if (add_num(op->params, "rate", op->rate) ||
            add_num(op->params, "span", (double)op->span) ||
            !cJSON_AddStringToObject(op->params, "mask", op->mask))
            return NH_ENOMEM;
        op->mask =
            cJSON_GetObjectItemCaseSensitive(op->params, "mask")->valuestring;
        break;
    case OP_OPENCC:
        if ((rc = cfg_str(o, where, "config", "s2t.json", ccs, &s, err)) < 0)
            return rc;
        if (!cJSON_AddStringToObject(op->params, "config", s))
            return NH_ENOMEM;
        op->cc = opencc_open(s);
        if (op->cc == (opencc_t)-1) {
            op->cc = NULL;
            return nh_errorf(err, NH_EINVAL, "%s: cannot open OpenCC '%s'",
                             where, s);
        }
        break;
    case OP_PUNCT_WIDTH:
        if ((rc = cfg_num(o, where, "rate", 1, 0, 1, &op->rate, err)) < 0 ||
            (rc = cfg_str(o, where, "to", "full", widths, &s, err)) < 0)
            return rc;
        op->mode = !strcmp(s, "half");
        if (!cJSON_AddStringToObject(op->params, "to", s) ||
            add_num(op->params, "rate", op->rate))
            return NH_ENOMEM;
        break;
    case OP_WHITESPACE:
        if ((rc = cfg_num(o, where, "rate", 0.1, 0, 1, &op->rate, err)) < 0)
            return rc;
        if (add_num(op->params, "rate", op->rate))
            return NH_ENOMEM;
        break;
    case OP_WINDOW:
        if ((rc = cfg_int(o, where, "size", 512, 16, 1 << 24, &op->size, err)) <
                0 ||
            (rc = cfg_int(o, where, "stride", op->size * 3 / 4, 1, op->size,
                          &op->stride, err)) < 0 ||
            (rc = cfg_int(o, where, "min_chars", op->size + 1, 1, 1L << 30,
                          &op->min_chars, err)) < 0)
            return rc;
        if (add_num(op->params, "size", (double)op->size) ||
            add_num(op->params, "stride", (double)op->stride) ||
            add_num(op->params, "min_chars", (double)op->min_chars))
            return NH_ENOMEM;
        break;
    case OP_RECOMBINE:
        break;
    }
    return 0;
}

int
augment_parse(struct augment **out, const char *json, size_t len,
              const char *where, struct nh_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(root, "ops"), *o;
    struct augment *a = NULL;
    char w[300];
    int rc = 0;

    if (!root || !cJSON_IsObject(root)) {
        rc = nh_errorf(err, NH_EINVAL, "%s: not a JSON object", where);
        goto out;
    }
    if (!cJSON_IsArray(ops) || cJSON_GetArraySize(ops) < 1 ||
        cJSON_GetArraySize(ops) > AUG_MAX_OPS) {
        rc = nh_errorf(err, NH_EINVAL,
                       "%s: 'ops' must be an array of 1 to %d operators", where,
                       AUG_MAX_OPS);
        goto out;
    }
    for (o = root->child; o; o = o->next)
        if (strcmp(o->string, "ops")) {
            rc = nh_errorf(err, NH_EINVAL, "%s: unknown key '%s'", where,
                           o->string);
            goto out;
        }
    if (!(a = calloc(1, sizeof(*a)))) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    strbuf_init(&a->sb, 0);
    strbuf_init(&a->sb2, 0);
    cJSON_ArrayForEach(o, ops)
    {
        snprintf(w, sizeof(w), "%s: ops[%zu]", where, a->nops);
        if (!cJSON_IsObject(o)) {
            rc = nh_errorf(err, NH_EINVAL, "%s: must be an object", w);
            goto out;
        }
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "op");

            if (cJSON_IsString(nm))
                snprintf(w, sizeof(w), "%s: ops[%zu] (%.40s)", where, a->nops,
                         nm->valuestring);
        }
        rc = parse_op(&a->ops[a->nops], o, w, err);
        a->nops++;
        if (rc == NH_ENOMEM)
            nh_errorf(err, rc, "out of memory");
        if (rc < 0)
            goto out;
        a->wsum += a->ops[a->nops - 1].weight;
    }
    if (a->wsum <= 0)
        rc =
            nh_errorf(err, NH_EINVAL, "%s: every operator has weight 0", where);
out:
    cJSON_Delete(root);
    if (rc < 0) {
        augment_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void
augment_free(struct augment *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nops; i++) {
        cJSON_Delete(a->ops[i].params);
        if (a->ops[i].cc)
            opencc_close(a->ops[i].cc);
    }
    for (size_t i = 0; i < a->nrecent; i++) {
        free(a->recent[i].source);
        free(a->recent[i].id);
        free(a->recent[i].text);
    }
    free(a->recent);
    free(a->us.u);
    free(a->us2.u);
    strbuf_release(&a->sb);
    strbuf_release(&a->sb2);
    free(a);
}

cJSON *
augment_counts(const struct augment *a)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o && i < a->nops; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a->ops[i].name);

        if (v)
            cJSON_SetNumberValue(v, v->valuedouble + (double)a->ops[i].count);
        else if (!cJSON_AddNumberToObject(o, a->ops[i].name,
                                          (double)a->ops[i].count)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* ---- making the copies --------------------------------------------------- */

/* The record of copy `copy` (window chunk `chunk`, or -1) of orig with
 * text; extra's fields go into meta. NULL when out of memory. */
static cJSON *
make_record(const struct aug_op *op, uint64_t seed, const cJSON *orig,
            const char *id, int copy, long chunk, const struct strbuf *text,
            cJSON *extra)
{
    cJSON *rec = cJSON_Duplicate(orig, 1), *meta, *e;
    char nid[64];
    struct strbuf idb = STRBUF_INIT;

    if (!rec)
        return NULL;
    if (chunk >= 0)
        snprintf(nid, sizeof(nid), "#a%d.c%ld", copy, chunk);
    else
        snprintf(nid, sizeof(nid), "#a%d", copy);
    if (strbuf_addstr(&idb, id) < 0 || strbuf_addstr(&idb, nid) < 0)
        goto fail;
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "id");
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "text");
    meta = cJSON_GetObjectItemCaseSensitive(rec, "meta");
    if (!cJSON_IsObject(meta)) {
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "meta");
        meta = cJSON_AddObjectToObject(rec, "meta");
    }
    if (!meta || !cJSON_AddStringToObject(rec, "id", strbuf_str(&idb)) ||
        !cJSON_AddStringToObject(rec, "text", strbuf_str(text)))
        goto fail;
    /* drop an older provenance: this copy's is the one that counts */
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "augmented_from");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "augment_op");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "augment_params");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "augment_seed");
    if (!cJSON_AddStringToObject(meta, "augmented_from", id) ||
        !cJSON_AddStringToObject(meta, "augment_op", op->name) ||
        !(e = cJSON_Duplicate(op->params, 1)) ||
        !cJSON_AddItemToObject(meta, "augment_params", e) ||
        !cJSON_AddNumberToObject(meta, "augment_seed", (double)seed))
        goto fail;
    while (extra && extra->child) {
        cJSON *x = cJSON_DetachItemViaPointer(extra, extra->child);

        cJSON_DeleteItemFromObjectCaseSensitive(meta, x->string);
        cJSON_AddItemToObject(meta, x->string, x);
    }
    strbuf_release(&idb);
    return rec;
fail:
    strbuf_release(&idb);
    cJSON_Delete(rec);
    return NULL;
}

static int
emit_rec(cJSON *rec, augment_emit_fn emit, void *arg, struct nh_error *err)
{
    if (!rec)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    return emit(arg, rec);
}

static int
do_window(struct augment *a, struct aug_op *op, uint64_t seed,
          const cJSON *orig, const char *id, int copy, const char *t,
          augment_emit_fn emit, void *arg, struct nh_error *err)
{
    struct units *us = &a->us;
    long chunk = 0;
    int n = 0, rc;

    if ((long)us->n < op->min_chars)
        return 0;
    for (size_t s = 0;; s += (size_t)op->stride, chunk++) {
        size_t e = s + (size_t)op->size < us->n ? s + (size_t)op->size : us->n;
        cJSON *extra = cJSON_CreateObject(), *w;

        strbuf_reset(&a->sb);
        if (!extra || put_range(&a->sb, t, us, s, e) < 0 ||
            !(w = cJSON_AddArrayToObject(extra, "window")) ||
            !cJSON_AddItemToArray(w, cJSON_CreateNumber((double)s)) ||
            !cJSON_AddItemToArray(w, cJSON_CreateNumber((double)e))) {
            cJSON_Delete(extra);
            return nh_errorf(err, NH_ENOMEM, "out of memory");
        }
        rc = emit_rec(
            make_record(op, seed, orig, id, copy, chunk, &a->sb, extra), emit,
            arg, err);
        cJSON_Delete(extra);
        if (rc < 0)
            return rc;
        n++;
        if (e == us->n)
            break;
    }
    return n;
}

static struct recent *
recent_of(struct augment *a, const char *source)
{
    for (size_t i = 0; i < a->nrecent; i++)
        if (!strcmp(a->recent[i].source, source))
            return &a->recent[i];
    return NULL;
}

/* Remember (id, text) as the last document of source. */
static int
recent_set(struct augment *a, const char *source, const char *id, const char *t,
           size_t len)
{
    struct recent *r = recent_of(a, source);
    char *nid = strdup(id), *nt = strndup(t, len);

    if (!nid || !nt) {
        free(nid);
        free(nt);
        return NH_ENOMEM;
    }
    if (!r) {
        struct recent *x;

        if (a->nrecent == AUG_RECOMBINE_SOURCES) { /* forget the oldest */
            free(a->recent[0].source);
            free(a->recent[0].id);
            free(a->recent[0].text);
            memmove(a->recent, a->recent + 1,
                    (a->nrecent - 1) * sizeof(*a->recent));
            a->nrecent--;
        }
        x = realloc(a->recent, (a->nrecent + 1) * sizeof(*x));
        if (!x || !(x[a->nrecent].source = strdup(source))) {
            if (x)
                a->recent = x;
            free(nid);
            free(nt);
            return NH_ENOMEM;
        }
        a->recent = x;
        r = &a->recent[a->nrecent++];
        r->id = r->text = NULL;
    }
    free(r->id);
    free(r->text);
    r->id = nid;
    r->text = nt;
    r->len = len;
    return 0;
}

/* Paragraph starts (unit indexes after each run of newlines) plus n. */
static size_t *
paragraphs(const struct units *us, size_t *count)
{
    size_t *b = malloc((us->n + 2) * sizeof(*b)), nb = 0, i = 0;

    if (!b)
        return NULL;
    b[nb++] = 0;
    while (i < us->n) {
        if (us->u[i++].cp != '\n')
            continue;
        while (i < us->n && us->u[i].cp == '\n')
            i++;
        if (i < us->n)
            b[nb++] = i;
    }
    b[nb] = us->n;
    *count = nb;
    return b;
}

/* recombine: the first paragraphs of this document (1..n-1 of them)
 * followed by the last paragraphs of the previous document of the same
 * source. Nothing when there is no such document or either has a
 * single paragraph. */
static int
do_recombine(struct augment *a, struct rng *r, const char *t, const char *prev,
             size_t plen, struct strbuf *out)
{
    size_t na, nb, *pa = paragraphs(&a->us, &na), *pb;
    int rc = 1;

    if (!pa)
        return NH_ENOMEM;
    if (units_cut(&a->us2, prev, plen) < 0 ||
        !(pb = paragraphs(&a->us2, &nb))) {
        free(pa);
        return NH_ENOMEM;
    }
    if (na >= 2 && nb >= 2) {
        size_t i = 1 + rng_below(r, na - 1), j = 1 + rng_below(r, nb - 1);

        rc = put_range(out, t, &a->us, 0, pa[i]);
        if (rc == 0 && out->len && out->buf[out->len - 1] != '\n')
            rc = strbuf_addch(out, '\n');
        if (rc == 0)
            rc = put_range(out, prev, &a->us2, pb[j], a->us2.n);
    }
    free(pa);
    free(pb);
    return rc;
}

int
augment_doc(struct augment *a, uint64_t seed, double ratio, const cJSON *orig,
            const char *id, const char *source, const char *text, size_t len,
            augment_emit_fn emit, void *arg, struct nh_error *err)
{
    struct rng r0 = {nh_hash64_seed(id, strlen(id), seed)};
    int copies = (int)floor(ratio), emitted = 0, rc = 0;
    bool windowed = false;
    struct recent *prev = NULL;
    char *prev_id = NULL, *prev_text = NULL;
    size_t prev_len = 0;

    if (rng_unit(&r0) < ratio - floor(ratio))
        copies++;
    if (units_cut(&a->us, text, len) < 0)
        return nh_errorf(err, NH_ENOMEM, "out of memory");
    if ((prev = recent_of(a, source))) { /* take it: recent_set replaces it */
        prev_id = prev->id;
        prev_text = prev->text;
        prev_len = prev->len;
        prev->id = prev->text = NULL;
    }
    if ((rc = recent_set(a, source, id, text, len)) < 0) {
        rc = nh_errorf(err, NH_ENOMEM, "out of memory");
        goto out;
    }
    for (int c = 0; c < copies; c++) {
        struct rng r = {
            nh_hash64_seed(id, strlen(id),
                           seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(c + 1)))};
        double x = rng_unit(&r) * a->wsum;
        struct aug_op *op = &a->ops[0];
        cJSON *extra;

        for (size_t i = 0; i < a->nops; i++) {
            op = &a->ops[i];
            if (x < op->weight)
                break;
            x -= op->weight;
        }
        if (op->kind == OP_WINDOW) { /* once per document: the windows of
                                      * a second copy would be the same */
            if (windowed)
                continue;
            windowed = true;
            rc = do_window(a, op, seed, orig, id, c, text, emit, arg, err);
            if (rc < 0)
                goto out;
            op->count += rc > 0;
            emitted += rc;
            rc = 0;
            continue;
        }
        if (!(extra = cJSON_CreateObject())) {
            rc = nh_errorf(err, NH_ENOMEM, "out of memory");
            goto out;
        }
        strbuf_reset(&a->sb);
        switch (op->kind) {
        case OP_CHAR_NOISE:
            rc = apply_char_noise(op, &r, text, &a->us, &a->sb);
            break;
        case OP_SENTENCE:
            rc = apply_sentence(op, &r, text, &a->us, &a->sb);
            break;
        case OP_SPAN_MASK:
            rc = apply_span_mask(op, &r, text, &a->us, &a->sb, extra);
            break;
        case OP_OPENCC:
            rc = apply_opencc(op, text, len, &a->sb);
            break;
        case OP_PUNCT_WIDTH:
            rc = apply_punct_width(op, &r, text, &a->us, &a->sb);
            break;
        case OP_WHITESPACE:
            rc = apply_whitespace(op, &r, text, &a->us, &a->sb);
            break;
        case OP_RECOMBINE:
            rc = prev_text
                     ? do_recombine(a, &r, text, prev_text, prev_len, &a->sb)
                     : 1;
            if (rc == 0 &&
                !cJSON_AddStringToObject(extra, "recombined_with", prev_id))
                rc = NH_ENOMEM;
            break;
        case OP_WINDOW:
            break;
        }
        /* an unchanged copy (or none: 1) is not worth a document */
        if (rc == 0 && a->sb.len &&
            !(a->sb.len == len && !memcmp(a->sb.buf, text, len))) {
            rc = emit_rec(make_record(op, seed, orig, id, c, -1, &a->sb, extra),
                          emit, arg, err);
            if (rc == 0) {
                op->count++;
                emitted++;
            }
        } else if (rc == NH_ENOMEM) {
            nh_errorf(err, rc, "out of memory");
        } else if (rc > 0) {
            rc = 0;
        }
        cJSON_Delete(extra);
        if (rc < 0)
            goto out;
    }
out:
    free(prev_id);
    free(prev_text);
    return rc < 0 ? rc : emitted;
}
