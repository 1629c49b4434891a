/* stage-repetition.c - drop documents dominated by repeated text
 *
 * The repetition rules of Gopher's MassiveText quality filter (Rae et al.
 * 2021, "Scaling Language Models: Methods, Analysis & Insights from
 * Training Gopher", Appendix A, Table A1): a document is dropped when too
 * much of it is duplicated lines, duplicated paragraphs, one very frequent
 * short n-gram, or longer n-grams that occur more than once. A kept
 * document then loses the lines that repeat an earlier line of the same
 * document (navigation, footers, "返回顶部"), and its meta records how many
 * went. Meant to run after normalize (which repairs bad UTF-8 and
 * unifies white space); docs/stages/repetition.md describes the
 * parameters and the reasons.
 *
 * Tokens: every CJK character (cp_is_cjk) is one token and every run of
 * other letters, marks and digits is one word token; spaces, punctuation
 * and symbols separate tokens and are not tokens. So Chinese gets
 * character n-grams, English word n-grams, and mixed text both. A token's
 * length is its code point count.
 *
 * Gopher's n-gram limits are for word n-grams, and an English word comes
 * out as about 1.6 Chinese characters. So in a CJK document (CJK
 * characters are at least half of its tokens) the rule for word n-grams
 * of size n looks at token n-grams of size round(n x cjk_chars_per_word)
 * with the same limit, and min_tokens counts such words too: by default
 * the 5-gram rule sees 8-character n-grams. Other documents keep
 * Gopher's n.
 *
 * Speed: one pass decodes the text into 64-bit token hashes and line
 * records. The n-gram counts are then built level by level in one
 * open-addressing table that lives in the per-thread state and is cleared
 * by bumping a generation number. Level 2 counts every 2-gram that a
 * small keyless counter array (sift) has not already shown to be unique.
 * An n-gram can occur twice only if all the k-grams inside it do, so a
 * later level n counts only the positions where the level k before found
 * repeats at i, i + 1 .. i + n - k; on natural text that set shrinks
 * fast. Levels whose rule cannot fire any more are skipped (bounds in
 * next_level), so natural text usually costs level 2, the level of the
 * 5-word rule and a few short ones. The counts of every n-gram that occurs at
 * least twice are exact (up to 64-bit hash collisions), which is all the rules
 * need. No allocation per document once the buffers have grown to the largest
 * document seen.
 */
#include "config.h"
#include "hash.h"
#include "stage.h"
#include "utf8.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#define NG_MAX 10 /* longest word n-gram a rule looks at */
#define TOP_MAX 4 /* top n-gram rules are n = 2..4, dup rules 5..10 */
#define CPW_MAX 4 /* largest cjk_chars_per_word */
#define NO_POS SIZE_MAX
#define BIG_TOKENS ((size_t)1 << 20) /* keep buffers this big at most */

#define SEED_WORD 0x6e61686169726570ULL
#define SEED_CJK 0x6a09e667f3bcc909ULL
#define SEED_PARA 0x243f6a8885a308d3ULL
#define HASH_MUL 0x9e3779b97f4a7c15ULL

/* Reasons and parameter names of the n-gram rules, indexed by the word
 * n-gram size n. */
static const char *const ngram_key[NG_MAX + 1] = {
    NULL,
    NULL,
    "top_2gram_char_frac",
    "top_3gram_char_frac",
    "top_4gram_char_frac",
    "dup_5gram_char_frac",
    "dup_6gram_char_frac",
    "dup_7gram_char_frac",
    "dup_8gram_char_frac",
    "dup_9gram_char_frac",
    "dup_10gram_char_frac",
};

/* Gopher Table A1 thresholds, indexed by n. */
static const double ngram_default[NG_MAX + 1] = {
    0, 0, 0.20, 0.18, 0.16, 0.15, 0.14, 0.13, 0.12, 0.11, 0.10,
};

/* What a code point is to the scanner: cp_token_class() (utf8.h), and '\n'. */
enum {
    CL_SEP = CP_SEP,     /* punctuation, symbols: ends a word, is no token */
    CL_SPACE = CP_SPACE, /* white space: also trimmed from line ends */
    CL_WORD = CP_WORD,   /* letter, mark or digit outside CJK: in a word */
    CL_CJK = CP_CJK,     /* a token by itself */
    CL_NEWLINE,          /* '\n' */
};

struct rep_conf {
    uint8_t cls[0x10000]; /* CL_* of each BMP code point */
    uint8_t aword[256];   /* byte is an ASCII letter or digit */
    double dup_line_frac;
    double dup_para_frac;
    double dup_line_char_frac;
    double dup_para_char_frac;
    double ngram_frac[NG_MAX + 1]; /* [2..4] top, [5..10] dup */
    double cjk_chars_per_word;
    /* tokens in the n-grams of rule n: [0] other documents (n), [1] CJK
     * documents (round(n x cjk_chars_per_word)); increasing in n */
    uint8_t span[2][NG_MAX + 1];
    size_t min_ntok[2]; /* min_tokens words, as tokens: [0] other, [1] CJK */
    bool dedup_lines;
    long dedup_lines_min_chars;
    long min_tokens; /* words */
};

/* One table entry; an entry whose gen is not the table's is empty. */
struct rep_slot {
    uint64_t key;
    uint32_t gen;
    uint32_t val; /* occurrences, or for lines the first line's index */
};

/* A non-blank line. Offsets fit 32 bits: longer texts are not examined. */
struct rep_line {
    uint64_t hash;  /* of the trimmed content */
    uint32_t start; /* raw line is [start, end), end past its '\n' */
    uint32_t end;
    uint32_t off; /* trimmed content is [off, off + len) */
    uint32_t len;
    uint32_t chars;  /* code points of the content; set for dup lines */
    bool para_start; /* first line after a blank line (or of the text) */
    bool dup;        /* same content as an earlier line */
};

/* Per-thread state; the arrays grow to the largest document seen (and
 * are let go after a huge one, see rep_apply). */
struct rep_state {
    struct rep_slot *tab;
    size_t tab_cap; /* entries, a power of two */
    size_t mask;    /* the part in use: mask + 1 entries */
    uint32_t gen;

    uint64_t *tokh; /* hash of token i */
    uint64_t *gh;   /* hash of the n-gram starting at i, current level */
    uint32_t *cum;  /* chars of tokens 0..i-1, (ntok + 1) */
    uint32_t *pos;  /* start positions still in play */
    uint32_t *slot; /* table entry of pos[j]'s n-gram */
    size_t ntok, tok_cap;

    uint8_t *sieve; /* 2-gram pre-count, see sift() */
    size_t sieve_cap;

    struct rep_line *lines;
    size_t nlines, line_cap;
};

static inline uint64_t
mix64(uint64_t x)
{
    /* the 64-bit finalizer of MurmurHash3 (public domain): a bijection */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Hash of the sequence (a, then b): order matters. A CJK token's own
 * hash is only (cp + SEED_CJK) * HASH_MUL, a bijection; the mixing
 * happens here. */
static inline uint64_t
combine(uint64_t a, uint64_t b)
{
    return mix64(a * HASH_MUL + b);
}

/* Hash of a word token's bytes. A word has no NUL byte, so up to 8
 * bytes read as a little-endian number stand for the word; mix64 is a
 * bijection, so short words never collide with each other. Longer words
 * go to XXH3. */
static inline bool
little_endian(void)
{
    const union {
        uint32_t u;
        uint8_t b[4];
    } one = {1};

    return one.b[0] == 1;
}

static inline uint64_t
bswap64(uint64_t x)
{
    x = (x & 0x00FF00FF00FF00FFULL) << 8 | (x >> 8 & 0x00FF00FF00FF00FFULL);
    x = (x & 0x0000FFFF0000FFFFULL) << 16 | (x >> 16 & 0x0000FFFF0000FFFFULL);
    return x << 32 | x >> 32;
}

/* 8 bytes, the first in the low byte: how many lead bytes are ASCII
 * letters or digits (8 if all). Per-byte range tests that cannot carry
 * into the next byte (every part is below 0x80 before the add), so a
 * word ends without a branch per byte. */
static inline size_t
word_bytes8(uint64_t x)
{
    const uint64_t o = 0x0101010101010101ULL, h = 0x80 * o;
    uint64_t y = x & ~h, l = y | 0x20 * o, dig, alp, stop;

    dig = (y + (0x80 - '0') * o) & ~(y + (0x7F - '9') * o);
    alp = (l + (0x80 - 'a') * o) & ~(l + (0x7F - 'z') * o);
    stop = ~((dig | alp) & ~x) & h;
    return stop ? (size_t)__builtin_ctzll(stop) / 8 : 8;
}

/* The end of the run of ASCII letters and digits at b[i..len). */
static inline size_t
ascii_word_end(const struct rep_conf *cf, const unsigned char *b, size_t i,
               size_t len)
{
    while (len - i >= 8) {
        uint64_t x;
        size_t k;

        memcpy(&x, b + i, 8);
        k = word_bytes8(little_endian() ? x : bswap64(x));
        i += k;
        if (k < 8)
            return i;
    }
    while (i < len && cf->aword[b[i]])
        i++;
    return i;
}

/* room: bytes readable from p on (at least n). */
static inline uint64_t
word_hash(const unsigned char *p, size_t n, size_t room)
{
    uint64_t v = 0;
    size_t t;

    if (n > 8)
        return nh_hash64_seed(p, n, SEED_WORD);
    if (room >= 8) {
        /* one load, then only the word's bytes; the same number as the
         * loop below whatever the byte order */
        memcpy(&v, p, 8);
        v = little_endian() ? v : bswap64(v);
        if (n < 8)
            v &= ((uint64_t)1 << (8 * n)) - 1;
    } else {
        for (t = 0; t < n; t++)
            v |= (uint64_t)p[t] << (8 * t);
    }
    return mix64(v + SEED_WORD);
}

static int
classify(uint32_t cp)
{
    return cp == '\n' ? CL_NEWLINE : (int)cp_token_class(cp);
}

static inline int
class_of(const struct rep_conf *cf, uint32_t cp)
{
    return cp < 0x10000 ? cf->cls[cp] : classify(cp);
}

static int
get_frac(const cJSON *params, const char *where, const char *key, double def,
         double *out, struct nh_error *err)
{
    return cfg_num(params, where, key, def, 0.0, 1.0, out, err);
}

static int
rep_init(const cJSON *params, const char *where, void **conf,
         struct nh_error *err)
{
    static const char *const known[] = {
        "dup_line_frac",         "dup_para_frac",       "dup_line_char_frac",
        "dup_para_char_frac",    "top_2gram_char_frac", "top_3gram_char_frac",
        "top_4gram_char_frac",   "dup_5gram_char_frac", "dup_6gram_char_frac",
        "dup_7gram_char_frac",   "dup_8gram_char_frac", "dup_9gram_char_frac",
        "dup_10gram_char_frac",  "cjk_chars_per_word",  "dedup_lines",
        "dedup_lines_min_chars", "min_tokens",          NULL,
    };
    struct rep_conf *cf;
    int rc, n;

    rc = cfg_check_keys(params, where, known, err);
    if (rc < 0)
        return rc;
    cf = calloc(1, sizeof(*cf));
    if (!cf)
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    for (n = 0; n < 0x10000; n++)
        cf->cls[n] = classify((uint32_t)n);
    for (n = 0; n < 0x80; n++)
        cf->aword[n] = cf->cls[n] == CL_WORD;
    /* Gopher Table A1 */
    rc =
        get_frac(params, where, "dup_line_frac", 0.30, &cf->dup_line_frac, err);
    if (!rc)
        rc = get_frac(params, where, "dup_para_frac", 0.30, &cf->dup_para_frac,
                      err);
    if (!rc)
        rc = get_frac(params, where, "dup_line_char_frac", 0.20,
                      &cf->dup_line_char_frac, err);
    if (!rc)
        rc = get_frac(params, where, "dup_para_char_frac", 0.20,
                      &cf->dup_para_char_frac, err);
    for (n = 2; !rc && n <= NG_MAX; n++)
        rc = get_frac(params, where, ngram_key[n], ngram_default[n],
                      &cf->ngram_frac[n], err);
    /* 1.6: Chinese characters per English word in the Debian Reference
     * and its Chinese translation (measured: 1.60); a segmenter's mean
     * Chinese word is 1.66 to 1.8 characters. docs/stages/repetition.md
     * has the measurements. */
    if (!rc)
        rc = cfg_num(params, where, "cjk_chars_per_word", 1.6, 1.0, CPW_MAX,
                     &cf->cjk_chars_per_word, err);
    /* with a ratio >= 1 the spans grow by at least one token a step */
    for (n = 2; !rc && n <= NG_MAX; n++) {
        cf->span[0][n] = (uint8_t)n;
        /* half up; the epsilon keeps a tie such as 5 x 1.7 = 8.5 at 9
         * whatever the binary rounding of 1.7 */
        cf->span[1][n] =
            (uint8_t)floor(n * cf->cjk_chars_per_word + 0.5 + 1e-9);
    }
    if (!rc)
        rc =
            cfg_bool(params, where, "dedup_lines", true, &cf->dedup_lines, err);
    if (!rc)
        rc = cfg_int(params, where, "dedup_lines_min_chars", 1, 1, 1000000,
                     &cf->dedup_lines_min_chars, err);
    /* Gopher's quality filter keeps documents of 50 words or more (Table
     * A1), so shorter ones never reach its n-gram rules there either. */
    if (!rc)
        rc = cfg_int(params, where, "min_tokens", 50, 0, 1000000000,
                     &cf->min_tokens, err);
    if (rc < 0) {
        free(cf);
        return rc;
    }
    cf->min_ntok[0] = (size_t)cf->min_tokens;
    cf->min_ntok[1] =
        (size_t)ceil((double)cf->min_tokens * cf->cjk_chars_per_word - 1e-9);
    *conf = cf;
    return 0;
}

static void
rep_free(void *conf)
{
    free(conf);
}

static void *
rep_thread_init(const void *conf)
{
    (void)conf;
    return calloc(1, sizeof(struct rep_state));
}

/* Free st's buffers; they grow again on demand. */
static void
rep_state_release(struct rep_state *st)
{
    free(st->tab);
    free(st->tokh);
    free(st->gh);
    free(st->cum);
    free(st->pos);
    free(st->slot);
    free(st->sieve);
    free(st->lines);
    memset(st, 0, sizeof(*st));
}

static void
rep_thread_free(void *tstate)
{
    struct rep_state *st = tstate;

    if (!st)
        return;
    rep_state_release(st);
    free(st);
}

/* Grow an array to cap elements of size each; *p is kept on failure. */
static int
grow_array(void *p, size_t cap, size_t size)
{
    void **pp = p;
    void *q = realloc(*pp, cap * size);

    if (!q)
        return NH_ENOMEM;
    *pp = q;
    return 0;
}

static int
grow_tokens(struct rep_state *st)
{
    size_t cap = st->tok_cap ? st->tok_cap * 2 : 4096;

    if (grow_array(&st->tokh, cap, sizeof(*st->tokh)) < 0 ||
        grow_array(&st->gh, cap, sizeof(*st->gh)) < 0 ||
        grow_array(&st->cum, cap + 1, sizeof(*st->cum)) < 0 ||
        grow_array(&st->pos, cap, sizeof(*st->pos)) < 0 ||
        grow_array(&st->slot, cap, sizeof(*st->slot)) < 0)
        return NH_ENOMEM;
    st->tok_cap = cap;
    return 0;
}

static int
grow_lines(struct rep_state *st)
{
    size_t cap = st->line_cap ? st->line_cap * 2 : 256;

    if (grow_array(&st->lines, cap, sizeof(*st->lines)) < 0)
        return NH_ENOMEM;
    st->line_cap = cap;
    return 0;
}

/* Make the table empty and big enough for n insertions at load <= 1/2. */
static int
table_reset(struct rep_state *st, size_t n)
{
    size_t cap = 64;

    while (cap < 2 * n)
        cap *= 2;
    if (cap > st->tab_cap) {
        free(st->tab);
        st->tab = calloc(cap, sizeof(*st->tab));
        if (!st->tab) {
            st->tab_cap = 0;
            return NH_ENOMEM;
        }
        st->tab_cap = cap;
        st->gen = 0;
    }
    st->mask = cap - 1;
    if (++st->gen == 0) {
        memset(st->tab, 0, st->tab_cap * sizeof(*st->tab));
        st->gen = 1;
    }
    return 0;
}

/* Count one occurrence of key in tab (mask and gen from table_reset);
 * returns its entry. Whether the entry is new or seen is as likely as
 * not, so that case is a select, not a branch. The table's fields come
 * as arguments so that they stay in registers in the callers' loops. */
static inline uint32_t
table_count(struct rep_slot *tab, size_t mask, uint32_t gen, uint64_t key)
{
    size_t i = (size_t)key & mask;
    struct rep_slot *s = &tab[i];
    uint32_t used;

    /* One branch, taken only on a collision: whether the entry is new or
     * seen must not decide it (that is a coin toss), so the two ways to
     * stop are or-ed into one value. */
    while (((uint64_t)(s->gen ^ gen) | (uint64_t)(s->key == key)) == 0) {
        i = (i + 1) & mask;
        s = &tab[i];
    }
    used = s->gen == gen;
    s->val = (s->val & (0u - used)) + 1; /* a count of 1 when new */
    s->gen = gen;
    s->key = key;
    return (uint32_t)i;
}

/* Decode one non-ASCII code point. With valid set the text is known to
 * be valid UTF-8 (doc.bad_utf8 is false) and the lead byte tells the
 * length; otherwise utf8_decode checks every byte. Both stay inside
 * [p, end). */
static inline size_t
decode(const unsigned char *p, const unsigned char *end, bool valid,
       uint32_t *cp)
{
    unsigned c = p[0];
    size_t left = (size_t)(end - p);

    if (valid) {
        if ((c & 0xF0) == 0xE0 && left >= 3) {
            *cp = (c & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
            return 3;
        }
        if ((c & 0xE0) == 0xC0 && left >= 2) {
            *cp = (c & 0x1Fu) << 6 | (p[1] & 0x3Fu);
            return 2;
        }
        if ((c & 0xF8) == 0xF0 && left >= 4) {
            *cp = (c & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 |
                  (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
            return 4;
        }
    }
    return utf8_decode((const char *)p, left, cp, NULL);
}

/* The run of 3-byte CJK characters and punctuation marks at b[i..lim3)
 * in valid UTF-8 text: appends the tokens at *ntok, stopping at cap, and
 * returns where the run (or the room) ends. Every token is one character,
 * so cum[t] is t + off. A mark's token slot is written anyway and not
 * counted, and its cum[t] rewritten unchanged, so no branch. Its own
 * function so that its few variables stay in registers. */
static size_t
cjk_run(const uint8_t *cls, const unsigned char *b, size_t i, size_t lim3,
        uint64_t *tokh, uint32_t *cum, size_t *ntok, size_t cap, uint32_t off)
{
    size_t t = *ntok;

    while (i < lim3 && (b[i] & 0xF0) == 0xE0 && t < cap) {
        uint32_t c3 =
            (b[i] & 0x0Fu) << 12 | (b[i + 1] & 0x3Fu) << 6 | (b[i + 2] & 0x3Fu);
        unsigned k = cls[c3];

        if (!((1u << k) & (1u << CL_CJK | 1u << CL_SEP)))
            break;
        tokh[t] = (c3 + SEED_CJK) * HASH_MUL;
        t += k == CL_CJK;
        cum[t] = (uint32_t)t + off;
        i += 3;
    }
    *ntok = t;
    return i;
}

/* Record the line [start, end) (end past its '\n') whose content, less
 * white space at both ends, is [first, last); first == NO_POS for a blank
 * line. *para_break says a blank line came before. */
static int
add_line(struct rep_state *st, const char *s, size_t start, size_t end,
         size_t first, size_t last, bool *para_break)
{
    struct rep_line *l;

    if (first == NO_POS) {
        *para_break = true;
        return 0;
    }
    if (st->nlines == st->line_cap && grow_lines(st) < 0)
        return NH_ENOMEM;
    l = &st->lines[st->nlines++];
    l->start = (uint32_t)start;
    l->end = (uint32_t)end;
    l->off = (uint32_t)first;
    l->len = (uint32_t)(last - first);
    l->hash = nh_hash64(s + first, l->len);
    l->chars = 0;
    l->para_start = *para_break;
    l->dup = false;
    *para_break = false;
    return 0;
}

/* Tokenize s into st's tokens and lines; *nchars gets its code points
 * and *ncjk the number of CJK tokens. valid: s is known to be valid
 * UTF-8. The hot state stays in locals. */
static int
scan_text(const struct rep_conf *cf, struct rep_state *st, const char *s,
          size_t len, bool valid, size_t *nchars, size_t *ncjk)
{
    const unsigned char *b = (const unsigned char *)s;
    uint64_t *tokh;
    uint32_t *cum, sum = 0, wchars = 0;
    size_t i = 0, chars = 0, ntok = 0, cjk = 0, cap;
    size_t word = NO_POS, line = 0, first = NO_POS, last = 0;
    size_t lim3 = len > 2 ? len - 2 : 0; /* a 3-byte sequence fits below */
    bool para_break = true;
    int rc;

    st->ntok = 0;
    st->nlines = 0;
    if (!st->tok_cap && grow_tokens(st) < 0)
        return NH_ENOMEM;
    tokh = st->tokh;
    cum = st->cum;
    cap = st->tok_cap;
    cum[0] = 0;
    for (;;) {
        size_t at = i, n = 1;
        uint32_t cp;
        int cl;

        if (i < len) {
            cp = b[i];
            if (cp >= 0x80)
                n = decode(b + i, b + len, valid, &cp);
            i += n;
            chars++;
            cl = class_of(cf, cp);
        } else {
            cp = 0;
            cl = CL_NEWLINE; /* flush the last word and line */
        }
        if (cl == CL_WORD) {
            if (word == NO_POS) {
                word = at;
                wchars = 0;
            }
            /* the rest of an ASCII word in a tight loop */
            n = i;
            i = ascii_word_end(cf, b, i, len);
            wchars += (uint32_t)(i - n) + 1;
            chars += i - n;
            first = first == NO_POS ? at : first;
            last = i;
            continue;
        }
        if (word != NO_POS) {
            if (ntok == cap) {
                st->ntok = ntok;
                if (grow_tokens(st) < 0)
                    return NH_ENOMEM;
                tokh = st->tokh;
                cum = st->cum;
                cap = st->tok_cap;
            }
            tokh[ntok] = word_hash(b + word, at - word, len - word);
            sum += wchars;
            cum[++ntok] = sum;
            word = NO_POS;
        }
        if (cl == CL_CJK) {
            if (ntok == cap) {
                st->ntok = ntok;
                if (grow_tokens(st) < 0)
                    return NH_ENOMEM;
                tokh = st->tokh;
                cum = st->cum;
                cap = st->tok_cap;
            }
            tokh[ntok] = (cp + SEED_CJK) * HASH_MUL;
            cum[++ntok] = ++sum;
            cjk++;
            first = first == NO_POS ? at : first;
            /* The rest of a run of 3-byte CJK characters and punctuation
             * (most of Chinese text) in a tight loop: no word is pending,
             * and a punctuation mark only moves last. Its token slot is
             * written anyway and taken back, so no branch. Every token of
             * the run is one character: sum - ntok stays put, and cum[ntok]
             * is that plus ntok (rewritten unchanged after a mark). */
            if (valid) {
                size_t t0 = ntok, i0 = i;
                uint32_t off = sum - (uint32_t)ntok;

                /* stopped by a full buffer: grow it and go on */
                while ((i = cjk_run(cf->cls, b, i, lim3, tokh, cum, &ntok, cap,
                                    off)) < lim3 &&
                       ntok == cap) {
                    st->ntok = ntok;
                    if (grow_tokens(st) < 0)
                        return NH_ENOMEM;
                    tokh = st->tokh;
                    cum = st->cum;
                    cap = st->tok_cap;
                }
                sum += (uint32_t)(ntok - t0);
                cjk += ntok - t0;
                chars += (i - i0) / 3;
            }
            last = i;
            continue;
        }
        if (cl == CL_SEP) {
            first = first == NO_POS ? at : first;
            last = i;
        } else if (cl == CL_NEWLINE) {
            rc = add_line(st, s, line, i, first, last, &para_break);
            if (rc < 0)
                return rc;
            line = i;
            first = NO_POS;
            if (at == len)
                break;
        }
    }
    st->ntok = ntok;
    *nchars = chars;
    *ncjk = cjk;
    return 0;
}

/* Mark the lines whose content equals an earlier line's (compared byte
 * by byte, not only by hash: dedup_lines deletes them). */
static int
mark_dup_lines(struct rep_state *st, const char *s, size_t *ndup,
               size_t *dup_chars)
{
    size_t i, nd = 0, dc = 0;
    int rc = table_reset(st, st->nlines);

    if (rc < 0)
        return rc;
    for (i = 0; i < st->nlines; i++) {
        struct rep_line *l = &st->lines[i];
        size_t k = (size_t)l->hash & st->mask;

        for (;;) {
            struct rep_slot *e = &st->tab[k];
            const struct rep_line *f;

            if (e->gen != st->gen) {
                e->gen = st->gen;
                e->key = l->hash;
                e->val = (uint32_t)i;
                break;
            }
            f = &st->lines[e->val];
            if (e->key == l->hash && f->len == l->len &&
                !memcmp(s + f->off, s + l->off, l->len)) {
                l->dup = true;
                l->chars = (uint32_t)utf8_count(s + l->off, l->len);
                nd++;
                dc += l->chars;
                break;
            }
            k = (k + 1) & st->mask;
        }
    }
    *ndup = nd;
    *dup_chars = dc;
    return 0;
}

/* Paragraphs are runs of non-blank lines; two are equal when their
 * trimmed lines are (by hash). Counts them, and the repeats and their
 * characters (trimmed lines plus the newlines between them). */
static int
count_dup_paras(struct rep_state *st, const char *s, size_t *npara,
                size_t *ndup, size_t *dup_chars)
{
    size_t i = 0, np = 0, nd = 0, dc = 0;
    int rc = table_reset(st, st->nlines);

    if (rc < 0)
        return rc;
    while (i < st->nlines) {
        size_t j = i, chars;
        uint64_t h = SEED_PARA;

        do {
            h = combine(h, st->lines[j].hash);
            j++;
        } while (j < st->nlines && !st->lines[j].para_start);
        np++;
        if (st->tab[table_count(st->tab, st->mask, st->gen, h)].val > 1) {
            nd++;
            chars = j - i - 1; /* the newlines between its lines */
            for (; i < j; i++) {
                const struct rep_line *l = &st->lines[i];

                chars += l->dup ? l->chars : utf8_count(s + l->off, l->len);
            }
            dc += chars;
        }
        i = j;
    }
    *npara = np;
    *ndup = nd;
    *dup_chars = dc;
    return 0;
}

static inline bool
over(size_t part, size_t whole, double limit)
{
    return whole > 0 && (double)part / (double)whole > limit;
}

/* The line and paragraph rules; returns STAGE_DROP with *reason, 0 or a
 * negative NH_E*. */
static int
line_rules(const struct rep_conf *cf, struct rep_state *st, const char *s,
           size_t nchars, const char **reason)
{
    size_t ndup, line_chars, npara, npdup, para_chars;
    int rc;

    if ((rc = mark_dup_lines(st, s, &ndup, &line_chars)) < 0 ||
        (rc = count_dup_paras(st, s, &npara, &npdup, &para_chars)) < 0)
        return rc;
    if (over(ndup, st->nlines, cf->dup_line_frac))
        *reason = "dup_line_frac";
    else if (over(npdup, npara, cf->dup_para_frac))
        *reason = "dup_para_frac";
    else if (over(line_chars, nchars, cf->dup_line_char_frac))
        *reason = "dup_line_char_frac";
    else if (over(para_chars, nchars, cf->dup_para_char_frac))
        *reason = "dup_para_char_frac";
    else
        return 0;
    return STAGE_DROP;
}

/* Make gh[0..m) the hashes of the m 2-grams and put in pos the starts
 * of those that may occur twice.
 * A small array of saturating counters indexed by hash (no keys) sees
 * every 2-gram first: one whose counter stays at 1 occurs once. About
 * half the 2-grams of natural text do, and this way they never reach the
 * exact table; the few unique ones that share a counter with another
 * 2-gram pass and are counted exactly there. Returns how many passed, or
 * a negative NH_E*. */
static long
sift(struct rep_state *st, size_t m)
{
    const uint64_t *tokh = st->tokh;
    uint64_t *gh = st->gh;
    uint32_t *pos = st->pos;
    size_t cap = 256, j, k = 0;
    unsigned shift = 64 - 8;
    uint8_t *c;

    while (cap < 4 * m) {
        cap *= 2;
        shift--;
    }
    if (cap > st->sieve_cap) {
        if (grow_array(&st->sieve, cap, 1) < 0)
            return NH_ENOMEM;
        st->sieve_cap = cap;
    }
    c = st->sieve;
    memset(c, 0, cap);
    /* the table indexes by the low bits, the sieve by the high ones; the
     * 2-gram hashes are made in the same pass */
    for (j = 0; j < m; j++) {
        uint64_t h = combine(tokh[j], tokh[j + 1]);

        gh[j] = h;
        c[h >> shift] += c[h >> shift] < 2;
    }
    for (j = 0; j < m; j++) {
        pos[k] = (uint32_t)j;
        k += c[gh[j] >> shift] > 1;
    }
    return (long)k;
}

/* What level k found out about the repeated k-grams. */
struct level {
    uint64_t top;     /* max of count x chars over repeated k-grams */
    uint64_t covered; /* chars of the tokens inside repeated k-grams */
};

/* Count the k-grams gh[pos[j]], j < m (pos increasing); keep in pos the
 * starts of those that occur more than once, *np of them. */
static int
count_level(struct rep_state *st, size_t k, size_t m, size_t *np,
            struct level *lv)
{
    const uint32_t *cum = st->cum;
    const uint64_t *gh = st->gh;
    uint32_t *pos = st->pos, *slot = st->slot;
    struct rep_slot *tab;
    size_t j, kept = 0, end = 0, mask;
    uint64_t top = 0, covered = 0;
    uint32_t gen;
    int rc;

    if ((rc = table_reset(st, m)) < 0)
        return rc;
    tab = st->tab;
    mask = st->mask;
    gen = st->gen;
    for (j = 0; j < m; j++)
        slot[j] = table_count(tab, mask, gen, gh[pos[j]]);
    /* Repeated or not is a coin toss on natural text: masks, no
     * branches. */
    for (j = 0; j < m; j++) {
        size_t i = pos[j], lo, hi;
        uint32_t c = tab[slot[j]].val;
        uint64_t rep = -(uint64_t)(c > 1); /* all ones when repeated */
        uint64_t v = c * (uint64_t)(cum[i + k] - cum[i]) & rep;

        pos[kept] = (uint32_t)i;
        kept += rep & 1;
        top = v > top ? v : top;
        /* union of the windows [i, i + k), in increasing i */
        lo = i > end ? i : end;
        hi = i + k > end ? i + k : end;
        covered += (cum[hi] - cum[lo]) & rep;
        end ^= (end ^ hi) & rep;
    }
    lv->top = top;
    lv->covered = covered;
    *np = kept;
    return 0;
}

/* After level k: the span of the next rule (r or later) that can still
 * fire, or 0. The rules r.. look at n-grams of span[r] > k tokens and
 * more. A repeated n-gram lies inside repeated k-grams, so the dup rules
 * are bounded by lv->covered. A repeated n-gram with count c is covered
 * by ceil(n / j) j-grams that each occur at least c times, so its count
 * x chars is at most ceil(n / j) times the top of level j: top2 for
 * j = 2, lv->top for j = k. */
static size_t
next_level(const struct rep_conf *cf, const uint8_t *span, size_t r, size_t k,
           const struct level *lv, uint64_t top2, uint64_t total)
{
    size_t n;

    for (n = r; n <= NG_MAX; n++) {
        double limit = cf->ngram_frac[n];
        uint64_t len = span[n], a, b;

        if (n > TOP_MAX) {
            if (over(lv->covered, total, limit))
                return span[n];
            continue;
        }
        a = (len + 1) / 2 * top2;
        b = (len + k - 1) / k * lv->top;
        if (limit < 1.0 && over(a < b ? a : b, total, limit))
            return span[n];
    }
    return 0;
}

/* The n-gram rules over st's tokens, as line_rules. cjk: the document
 * is CJK, so the rule for word n-grams of size n looks at n-grams of
 * span[1][n] tokens, and min_tokens words are min_ntok[1] tokens. The
 * levels are n-gram sizes in tokens. Level 2 counts every 2-gram; each
 * later level counts only the n-grams whose k-grams all repeat (k the
 * level before), which is where every repeated n-gram is. */
static int
ngram_rules(const struct rep_conf *cf, struct rep_state *st, bool cjk,
            const char **reason)
{
    const uint8_t *span = cf->span[cjk];
    const uint64_t *tokh = st->tokh;
    uint64_t *gh = st->gh;
    uint32_t *pos = st->pos;
    uint64_t total = st->cum[st->ntok], top2 = 0;
    size_t n = st->ntok, m, np, j, k = 2, r = 2, next;
    long sifted;
    struct level lv;
    int rc;

    if (n < cf->min_ntok[cjk] || n < 2 || total == 0)
        return 0;
    if ((sifted = sift(st, n - 1)) < 0)
        return (int)sifted;
    m = (size_t)sifted;
    for (;;) {
        if ((rc = count_level(st, k, m, &np, &lv)) < 0)
            return rc;
        if (k == 2)
            top2 = lv.top;
        /* the spans increase, so at most rule r looks at k-grams */
        if (span[r] == k) {
            if (r <= TOP_MAX ? cf->ngram_frac[r] < 1.0 &&
                                   over(lv.top, total, cf->ngram_frac[r])
                             : over(lv.covered, total, cf->ngram_frac[r])) {
                *reason = ngram_key[r];
                return STAGE_DROP;
            }
            r++;
        }
        next = r > NG_MAX ? 0 : next_level(cf, span, r, k, &lv, top2, total);
        if (!next || np < 2)
            return 0;
        /* candidates: repeated k-grams start at i, i + 1 .. i + d */
        m = 0;
        for (j = 0; j + next - k < np; j++) {
            uint32_t i = pos[j];
            uint64_t h;
            size_t t;

            if (pos[j + next - k] != i + next - k)
                continue;
            h = gh[i];
            for (t = k; t < next; t++)
                h = combine(h, tokh[i + t]);
            gh[i] = h;
            pos[m++] = i;
        }
        /* the rules whose spans were skipped cannot fire */
        while (span[r] < next)
            r++;
        k = next;
    }
}

/* Delete the lines marked dup (and long enough) from d's text. */
static int
remove_dup_lines(const struct rep_conf *cf, struct rep_state *st,
                 struct stage_ctx *ctx, struct doc *d)
{
    const char *s = d->text.buf;
    size_t i, from = 0, removed = 0;
    struct strbuf *out = &ctx->scratch;
    cJSON *meta;
    int rc;

    for (i = 0; i < st->nlines; i++) {
        const struct rep_line *l = &st->lines[i];

        if (!l->dup || l->chars < (uint32_t)cf->dedup_lines_min_chars)
            continue;
        if (!removed) {
            strbuf_reset(out);
            if ((rc = strbuf_grow(out, d->text.len)) < 0)
                return rc;
        }
        if ((rc = strbuf_add(out, s + from, l->start - from)) < 0)
            return rc;
        from = l->end;
        removed++;
    }
    if (!removed)
        return 0;
    if ((rc = strbuf_add(out, s + from, d->text.len - from)) < 0)
        return rc;
    /* the last line went: drop the line end it leaves behind */
    if (d->text.buf[d->text.len - 1] != '\n' && out->len &&
        out->buf[out->len - 1] == '\n') {
        strbuf_setlen(out, out->len - 1);
        if (out->len && out->buf[out->len - 1] == '\r')
            strbuf_setlen(out, out->len - 1);
    }
    doc_swap_text(d, out);

    meta = doc_meta(d);
    if (!meta) /* "meta" is not an object: nowhere to record the count */
        return cJSON_GetObjectItemCaseSensitive(d->obj, "meta") ? 0 : NH_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "repeated_lines_removed");
    if (!cJSON_AddNumberToObject(meta, "repeated_lines_removed",
                                 (double)removed))
        return NH_ENOMEM;
    return 0;
}

static int
rep_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
          const char **reason)
{
    const struct rep_conf *cf = conf;
    struct rep_state *st = ctx->tstate;
    size_t nchars, ncjk;
    int rc;

    if (!st)
        return NH_ENOMEM;
    /* offsets are 32-bit; a text this size is not examined */
    if (d->text.len == 0 || d->text.len >= UINT32_MAX)
        return STAGE_KEEP;
    /* the buffers take 60 to 90 bytes a token: after a huge document,
     * give the memory back once documents are small again */
    if (st->tok_cap > BIG_TOKENS && d->text.len < st->tok_cap / 8)
        rep_state_release(st);
    if ((rc = scan_text(cf, st, d->text.buf, d->text.len, !d->bad_utf8, &nchars,
                        &ncjk)) < 0)
        return rc;
    rc = line_rules(cf, st, d->text.buf, nchars, reason);
    /* a CJK document: CJK characters are half of the tokens or more */
    if (rc == 0)
        rc = ngram_rules(cf, st, 2 * ncjk >= st->ntok, reason);
    if (rc == 0 && cf->dedup_lines)
        rc = remove_dup_lines(cf, st, ctx, d);
    return rc;
}

const struct stage_ops stage_repetition = {
    .name = "repetition",
    .init = rep_init,
    .thread_init = rep_thread_init,
    .thread_free = rep_thread_free,
    .apply = rep_apply,
    .free = rep_free,
};
