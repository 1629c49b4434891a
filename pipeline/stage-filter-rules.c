/* stage-filter-rules.c - heuristic quality rules, Chinese first
 *
 * The filter.rules stage drops documents that fail cheap heuristics. One
 * pass over the text gathers every statistic: characters, CJK share,
 * digits, symbols, URLs, mojibake, per-line facts (punctuation at the
 * end, bullets, ellipses, length, duplicates by XXH3 hash), whitespace
 * words and the matches of an Aho-Corasick automaton over bytes (bad
 * words, "lorem ipsum", GBK mojibake such as 锟斤拷). The document is then
 * classed CJK or not and judged by that rule set, in a fixed order; the
 * first failing rule names the drop. CJK rules follow ChineseWebText
 * (Chen et al. 2023, arXiv:2311.01149), the others Gopher (Rae et al.
 * 2021, Table A1), C4 (Raffel et al. 2020) and FineWeb (Penedo et al.
 * 2024). Every rule, default and source is in docs/stages/filter-rules.md.
 */
#include "config.h"
#include "hash.h"
#include "stage.h"
#include "utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <utf8proc.h>

/* clang-format off */
enum rule {
    R_TOO_SHORT, R_TOO_LONG, R_GARBLED, R_LOW_CJK, R_SHORT_LINES, R_SYMBOL,
    R_DIGIT, R_URL, R_FEW_PUNCT, R_BAD_WORDS, R_G_WORDS, R_G_WLEN,
    R_G_SYMBOL, R_G_BULLET, R_G_ELLIPSIS, R_G_ALPHA, R_G_STOP, R_C4_LOREM,
    R_C4_CURLY, R_FW_PUNCT, R_FW_DUP, R_FW_SHORT, R_COUNT
};

static const char *const rule_names[R_COUNT] = {
    "too_short", "too_long", "garbled", "low_cjk_ratio", "short_lines",
    "symbol_ratio", "digit_ratio", "url_ratio", "few_punct_lines",
    "bad_words", "gopher_word_count", "gopher_mean_word_len",
    "gopher_symbol_ratio", "gopher_bullet_lines", "gopher_ellipsis_lines",
    "gopher_alpha_words", "gopher_stop_words", "c4_lorem_ipsum",
    "c4_curly_bracket", "fineweb_punct_lines", "fineweb_dup_line_chars",
    "fineweb_short_lines",
};

/* The statistics the rules test, as meta.rules names them. */
enum rstat {
    S_CHARS, S_CJK, S_LINE, S_SYMBOL, S_DIGIT, S_URL, S_GARBLED, S_PUNCT,
    S_BADCOUNT, S_BADDENS, S_WORDS, S_WLEN, S_GSYM, S_BULLET, S_ELLIPSIS,
    S_ALPHA, S_STOP, S_LOREM, S_CURLY, S_DUP, S_SHORT, S_COUNT
};

static const char *const stat_names[S_COUNT] = {
    "chars", "cjk_ratio", "mean_line_chars", "symbol_ratio", "digit_ratio",
    "url_ratio", "garbled_ratio", "punct_line_frac", "bad_words",
    "badword_density", "words", "mean_word_len", "gopher_symbol_ratio",
    "bullet_line_frac", "ellipsis_line_frac", "alpha_word_frac",
    "stop_words", "lorem_ipsum", "curly_brackets", "dup_line_char_frac",
    "short_line_frac",
};

/* Built-in spam, gambling, fraud and porn-advert terms (our own list).
 * Chinese terms match anywhere; a term whose first or last byte is an
 * ASCII letter or digit must sit at an ASCII word boundary there. */
static const char *const builtin_badwords[] = {
    /* gambling */
    "澳门赌场", "网上赌场", "在线赌场", "博彩", "百家乐", "六合彩", "时时彩",
    "赌球", "真人荷官", "老虎机", "送彩金", "北京赛车", "幸运飞艇", "娱乐城",
    /* fraud, fake documents, grey-market adverts */
    "代开发票", "发票代开", "代开增值税", "办假证", "刻章", "网赚", "刷单",
    "日赚", "加微信", "加v信", "加vx", "私服", "高仿", "信用卡套现",
    "无抵押贷款", "黑户贷款", "代孕", "出售枪支", "冰毒", "迷药", "听话水",
    "催情",
    /* porn adverts */
    "裸聊", "约炮", "一夜情", "成人视频", "色情", "黄色网站", "无码",
    "激情视频", "同城约", "上门服务", "援交", "包夜", "av女优",
    /* English */
    "online casino", "casino bonus", "free spins", "no deposit bonus",
    "viagra", "cialis", "levitra", "payday loan", "porn", "porno", "sex cam",
    "live sex", "escort service", "hot singles", "replica watches",
    "buy followers", "adult dating", "nude pics", "penis enlargement",
    "weight loss pills", "crypto giveaway",
};
/* clang-format on */

/* Mojibake that decodes to valid Han: U+FFFD pairs read as GBK, and the
 * MSVC fill bytes 0xCC / 0xCD read as GBK. */
static const char *const builtin_garble[] = {"锟斤拷", "烫烫烫", "屯屯屯"};

/* C4 (tfds c4_utils.py): lines naming these are cookie/policy banners. */
static const char *const c4_policy[] = {
    "javascript",   "terms of use",   "privacy policy", "cookie policy",
    "uses cookies", "use of cookies", "use cookies",
};

enum lang { LANG_AUTO, LANG_ZH, LANG_ANY };
static const char *const lang_names[] = {"auto", "zh", "any", NULL};

/* What an automaton pattern counts as when it matches. */
enum pat_kind { PK_BAD, PK_LOREM, PK_GARBLE };

struct ac_pat {
    uint32_t len; /* bytes */
    uint8_t kind; /* enum pat_kind */
    bool lb, rb;  /* check an ASCII word boundary on the left / right */
};

/* A full DFA over byte classes. delta[row + cls[b]] is the next state's
 * row (state * ncls) shifted left once, with bit 0 set when the next
 * state or one of its suffixes ends a pattern. */
struct ac {
    uint32_t *delta;
    int32_t *out;  /* per state: the pattern ending here, or -1 */
    int32_t *dict; /* per state: next suffix state with output, or -1 */
    struct ac_pat *pats;
    uint32_t ncls, nstates, npats;
    uint8_t cls[256]; /* byte -> class, ASCII case folded; 0 = none */
    /* bit cp set: from the start state the three-byte UTF-8 of cp
     * (U+0800-FFFF) leads back to the start state and ends no pattern,
     * so it can be skipped there */
    uint64_t inert3[0x10000 / 64];
};

#define AC_MAX_BYTES ((size_t)256 << 20) /* transition table cap */
#define BADWORDS_MAX_FILE ((long long)64 << 20)

struct rules_conf {
    int lang;
    uint32_t disabled; /* bit (1u << enum rule) set: skip that rule */
    bool annotate, c4_curly, c4_line_filter, builtin;
    double cjk_doc_ratio;
    double min_chars, max_chars, min_cjk_ratio, min_mean_line_chars;
    double max_symbol_ratio, max_digit_ratio, max_url_ratio;
    double min_punct_frac, max_garbled_ratio;
    double max_badword_density, min_badword_count;
    double g_min_words, g_max_words, g_min_wlen, g_max_wlen, g_max_symbol;
    double g_max_bullet, g_max_ellipsis, g_min_alpha, g_min_stop;
    double c4_min_line_words, c4_curly_max, zero;
    double fw_min_punct, fw_max_dup, fw_max_short, fw_short_chars;
    struct ac ac;
    uint16_t *bmp; /* cp_class() of every code point below U+10000 */
};

#define OFF(f) offsetof(struct rules_conf, f)

/* Numeric parameters: key, field, default, range, integer. */
struct param {
    const char *key;
    size_t off;
    double def, min, max;
    bool integer;
};

#define BIG 2e9

static const struct param params[] = {
    /* own choice, mirroring ChineseWebText's 30% */
    {"cjk_doc_ratio", OFF(cjk_doc_ratio), 0.3, 0, 1, false},
    /* ChineseWebText preprocess.py: min_len=200, drops len <= 200 */
    {"min_chars", OFF(min_chars), 201, 0, BIG, true},
    /* own sanity cap, ~3 MB of UTF-8 Chinese */
    {"max_chars", OFF(max_chars), 1000000, 1, BIG, true},
    /* ChineseWebText: min_zh_percent=0.3, min_line_len=10 */
    {"min_cjk_ratio", OFF(min_cjk_ratio), 0.3, 0, 1, false},
    {"min_mean_line_chars", OFF(min_mean_line_chars), 10, 0, BIG, false},
    /* Gopher's 0.1 symbol-to-word ratio, per character here */
    {"max_symbol_ratio", OFF(max_symbol_ratio), 0.1, 0, 1, false},
    /* own: ChineseWebText's README sample (quality 0.95) has 0.28 */
    {"max_digit_ratio", OFF(max_digit_ratio), 0.4, 0, 1, false},
    /* own choices, see the docs */
    {"min_punct_end_line_frac", OFF(min_punct_frac), 0.1, 0, 1, false},
    {"max_url_ratio", OFF(max_url_ratio), 0.2, 0, 1, false},
    {"max_garbled_ratio", OFF(max_garbled_ratio), 0.05, 0, 1, false},
    {"max_badword_density", OFF(max_badword_density), 3.0, 0, 1000, false},
    {"min_badword_count", OFF(min_badword_count), 3, 1, BIG, true},
    /* Gopher, Rae et al. 2021, Table A1 (and datatrove's defaults) */
    {"gopher_min_words", OFF(g_min_words), 50, 0, BIG, true},
    {"gopher_max_words", OFF(g_max_words), 100000, 0, BIG, true},
    {"gopher_min_mean_word_len", OFF(g_min_wlen), 3, 0, 1000, false},
    {"gopher_max_mean_word_len", OFF(g_max_wlen), 10, 0, 1000, false},
    {"gopher_max_symbol_ratio", OFF(g_max_symbol), 0.1, 0, BIG, false},
    {"gopher_max_bullet_frac", OFF(g_max_bullet), 0.9, 0, 1, false},
    {"gopher_max_ellipsis_frac", OFF(g_max_ellipsis), 0.3, 0, 1, false},
    {"gopher_min_alpha_word_frac", OFF(g_min_alpha), 0.8, 0, 1, false},
    {"gopher_min_stop_words", OFF(g_min_stop), 2, 0, BIG, true},
    /* C4, tfds c4_utils.py: _MIN_WORDS_PER_LINE = 5 */
    {"c4_min_line_words", OFF(c4_min_line_words), 5, 0, 1000, true},
    /* FineWeb, Penedo et al. 2024, section 3.5 */
    {"fineweb_min_punct_frac", OFF(fw_min_punct), 0.12, 0, 1, false},
    {"fineweb_max_dup_line_char_frac", OFF(fw_max_dup), 0.1, 0, 1, false},
    {"fineweb_max_short_line_frac", OFF(fw_max_short), 0.67, 0, 1, false},
    {"fineweb_short_line_chars", OFF(fw_short_chars), 30, 0, BIG, true},
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* A rule test: drop when stat > (gt) or < (!gt) the threshold at off. */
struct check {
    uint8_t rule, stat;
    bool gt;
    size_t off;
};

static const struct check cjk_checks[] = {
    {R_TOO_SHORT, S_CHARS, false, OFF(min_chars)},
    {R_TOO_LONG, S_CHARS, true, OFF(max_chars)},
    {R_GARBLED, S_GARBLED, true, OFF(max_garbled_ratio)},
    {R_LOW_CJK, S_CJK, false, OFF(min_cjk_ratio)},
    {R_SHORT_LINES, S_LINE, false, OFF(min_mean_line_chars)},
    {R_SYMBOL, S_SYMBOL, true, OFF(max_symbol_ratio)},
    {R_DIGIT, S_DIGIT, true, OFF(max_digit_ratio)},
    {R_URL, S_URL, true, OFF(max_url_ratio)},
    {R_FEW_PUNCT, S_PUNCT, false, OFF(min_punct_frac)},
    {R_BAD_WORDS, S_BADDENS, true, OFF(max_badword_density)},
};

static const struct check other_checks[] = {
    {R_GARBLED, S_GARBLED, true, OFF(max_garbled_ratio)},
    {R_G_WORDS, S_WORDS, false, OFF(g_min_words)},
    {R_G_WORDS, S_WORDS, true, OFF(g_max_words)},
    {R_G_WLEN, S_WLEN, false, OFF(g_min_wlen)},
    {R_G_WLEN, S_WLEN, true, OFF(g_max_wlen)},
    {R_G_SYMBOL, S_GSYM, true, OFF(g_max_symbol)},
    {R_G_BULLET, S_BULLET, true, OFF(g_max_bullet)},
    {R_G_ELLIPSIS, S_ELLIPSIS, true, OFF(g_max_ellipsis)},
    {R_G_ALPHA, S_ALPHA, false, OFF(g_min_alpha)},
    {R_G_STOP, S_STOP, false, OFF(g_min_stop)},
    {R_C4_LOREM, S_LOREM, true, OFF(zero)},
    {R_C4_CURLY, S_CURLY, true, OFF(c4_curly_max)},
    {R_FW_PUNCT, S_PUNCT, false, OFF(fw_min_punct)},
    {R_FW_DUP, S_DUP, true, OFF(fw_max_dup)},
    {R_FW_SHORT, S_SHORT, true, OFF(fw_max_short)},
    {R_URL, S_URL, true, OFF(max_url_ratio)},
    {R_BAD_WORDS, S_BADDENS, true, OFF(max_badword_density)},
};

/* Everything one pass learns about a text. Characters are code points
 * that are not whitespace; lines are lines with such a character. */
struct rstats {
    size_t chars, letters, cjk, digits, symbols, hashes, ellipses, urls;
    size_t garbled, badwords, lorem, curly;
    size_t lines, punct_lines, bullet_lines, ellipsis_lines, short_lines;
    size_t line_chars, dup_chars;
    size_t words, alnum_words, alnum_chars, alpha_words, stop_words;
};

/* Per thread: a set of line hashes, valid where gen matches. */
struct line_slot {
    uint64_t h;
    uint32_t gen;
};

struct rules_tstate {
    struct line_slot *slots;
    size_t cap, used; /* cap is a power of two */
    uint32_t gen;
};

/* Character classes. */
enum {
    K_SPACE = 1 << 0,
    K_ALPHA = 1 << 1,
    K_DIGIT = 1 << 2,
    K_CJK = 1 << 3,
    K_SYM = 1 << 4,      /* symbol for symbol_ratio */
    K_ELLIP = 1 << 5,    /* U+2026 */
    K_GARBLE = 1 << 6,   /* U+FFFD, private use */
    K_HI = 1 << 7,       /* U+0080-00FF or a cp1252 0x80-0x9F character */
    K_HISYM = 1 << 8,    /* K_HI but not a Latin-1 letter */
    K_C1 = 1 << 9,       /* C1 control U+0080-009F */
    K_SPECIAL = 1 << 10, /* ASCII '#', '.', '{' or a control */
    K_LATIN1 = 1 << 11,  /* U+0080-00FF itself */
};

/* clang-format off */
#define C_ K_SPECIAL
#define S_ K_SPACE
#define D_ K_DIGIT
#define A_ K_ALPHA
static const uint16_t ascii_class[128] = {
    C_, C_, C_, C_, C_, C_, C_, C_, C_, S_, S_, S_, S_, S_, C_, C_, /* 00 */
    C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, C_, /* 10 */
    S_, 0,  0,  C_, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  C_, 0,  /* 20 */
    D_, D_, D_, D_, D_, D_, D_, D_, D_, D_, 0,  0,  0,  0,  0,  0,  /* 30 */
    0,  A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, /* 40 */
    A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, 0,  0,  0,  0,  0,  /* 50 */
    0,  A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, /* 60 */
    A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, A_, C_, 0,  0,  0,  C_, /* 70 */
};
#undef C_
#undef S_
#undef D_
#undef A_
/* clang-format on */

static bool
is_alnum_byte(unsigned char b)
{
    return b < 0x80 && (ascii_class[b] & (K_ALPHA | K_DIGIT));
}

/* An ASCII letter, ascii_class[b] == K_ALPHA, in three operations. */
static inline bool
is_letter(unsigned char b)
{
    return (unsigned)((b | 0x20) - 'a') < 26;
}

static bool
is_space_byte(unsigned char b)
{
    return b < 0x80 && (ascii_class[b] & K_SPACE);
}

static bool
is_alpha_byte(unsigned char b)
{
    return b < 0x80 && (ascii_class[b] & K_ALPHA);
}

/* The characters cp1252 puts at 0x80-0x9F, typical of mojibake. */
static inline bool
is_cp1252_high(uint32_t cp)
{
    switch (cp) {
    case 0x20AC:
    case 0x201A:
    case 0x0192:
    case 0x201E:
    case 0x2026:
    case 0x2020:
    case 0x2021:
    case 0x02C6:
    case 0x2030:
    case 0x0160:
    case 0x2039:
    case 0x0152:
    case 0x017D:
    case 0x2018:
    case 0x2019:
    case 0x201C:
    case 0x201D:
    case 0x2022:
    case 0x2013:
    case 0x2014:
    case 0x02DC:
    case 0x2122:
    case 0x0161:
    case 0x203A:
    case 0x0153:
    case 0x017E:
    case 0x0178:
        return true;
    default:
        return false;
    }
}

/* Ends a sentence: . ! ? " ' and 。！？…；」』”’．｡ */
static inline bool
is_terminal(uint32_t cp)
{
    switch (cp) {
    case '.':
    case '!':
    case '?':
    case '"':
    case '\'':
    case 0x3002:
    case 0xFF01:
    case 0xFF1F:
    case 0x2026:
    case 0xFF1B:
    case 0x300D:
    case 0x300F:
    case 0x201D:
    case 0x2019:
    case 0xFF0E:
    case 0xFF61:
        return true;
    default:
        return false;
    }
}

/* Starts a list item: - * + • ‣ ⁃ ● ○ ◦ ▪ ■ □ ◆ ◇ ► ▶ ➢ · ∙ ・ */
static inline bool
is_bullet(uint32_t cp)
{
    switch (cp) {
    case '-':
    case '*':
    case '+':
    case 0x2022:
    case 0x2023:
    case 0x2043:
    case 0x25CF:
    case 0x25CB:
    case 0x25E6:
    case 0x25AA:
    case 0x25A0:
    case 0x25A1:
    case 0x25C6:
    case 0x25C7:
    case 0x25BA:
    case 0x25B6:
    case 0x27A2:
    case 0x00B7:
    case 0x2219:
    case 0x30FB:
        return true;
    default:
        return false;
    }
}

/* Classes of a non-ASCII code point; the common cases come first. */
static unsigned
cp_class(uint32_t cp)
{
    unsigned k = 0;
    int cat;

    if (cp >= 0x4E00 && cp <= 0x9FFF)
        return K_ALPHA | K_CJK;
    if (cp < 0x100) {
        if (cp < 0xA0)
            return K_HI | K_HISYM | K_C1 | K_LATIN1;
        if (cp == 0xA0)
            return K_SPACE;
        if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7)
            return K_HI | K_HISYM | K_LATIN1;
        return K_HI | K_ALPHA | K_LATIN1;
    }
    if (cp >= 0x3000 && cp <= 0x303F)
        return cp == 0x3000 ? K_SPACE : cp == 0x3007 ? K_ALPHA | K_CJK : 0;
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        if (cp >= 0xFF10 && cp <= 0xFF19)
            return K_DIGIT;
        if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A))
            return K_ALPHA;
        return 0;
    }
    if (cp >= 0x2000 && cp <= 0x206F) {
        if (cp <= 0x200D || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
            cp == 0x205F || cp == 0x2060)
            return K_SPACE;
        if (cp == 0x2026)
            return K_SYM | K_ELLIP | K_HI | K_HISYM;
        return is_cp1252_high(cp) ? K_HI | K_HISYM : 0;
    }
    if (cp_is_cjk(cp))
        return K_ALPHA | K_CJK;
    if (cp == UTF8_REPLACEMENT || (cp >= 0xE000 && cp <= 0xF8FF) ||
        cp >= 0xF0000)
        return K_GARBLE;
    if (cp == 0xFEFF || cp == 0x1680)
        return K_SPACE;
    /* arrows, technical, box drawing, blocks, shapes, dingbats, emoji */
    if ((cp >= 0x2190 && cp <= 0x23FF) || (cp >= 0x2500 && cp <= 0x27BF) ||
        (cp >= 0x2B00 && cp <= 0x2BFF) || (cp >= 0x1F000 && cp <= 0x1FAFF))
        return K_SYM;
    if (is_cp1252_high(cp))
        k = K_HI | K_HISYM;
    cat = utf8proc_category((utf8proc_int32_t)cp);
    if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO)
        return (k & ~(unsigned)K_HISYM) | K_ALPHA;
    if (cat == UTF8PROC_CATEGORY_ND)
        return k | K_DIGIT;
    return k;
}

/* Gopher's stop words, matched case-insensitively with surrounding ASCII
 * punctuation stripped; packed little-end first, four bytes at most. */
#define W4(a, b, c, d)                                                         \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |                \
     (uint32_t)(d) << 24)

static bool
is_stop_word(const char *s, size_t n)
{
    uint32_t w = 0;
    size_t i;

    while (n && (unsigned char)s[0] < 0x80 && !is_alpha_byte(s[0])) {
        s++;
        n--;
    }
    while (n && (unsigned char)s[n - 1] < 0x80 && !is_alpha_byte(s[n - 1]))
        n--;
    if (n < 2 || n > 4)
        return false;
    for (i = 0; i < n; i++)
        w |= (uint32_t)((unsigned char)s[i] | 0x20) << (8 * i);
    switch (w) {
    case W4('t', 'h', 'e', 0):
    case W4('b', 'e', 0, 0):
    case W4('t', 'o', 0, 0):
    case W4('o', 'f', 0, 0):
    case W4('a', 'n', 'd', 0):
    case W4('t', 'h', 'a', 't'):
    case W4('h', 'a', 'v', 'e'):
    case W4('w', 'i', 't', 'h'):
        return true;
    default:
        return false;
    }
}

/* Add h to the line set; true if it was there already. NH_ENOMEM < 0. */
static int
line_seen(struct rules_tstate *ts, uint64_t h)
{
    size_t i;

    if ((ts->used + 1) * 2 > ts->cap) {
        size_t ncap = ts->cap ? ts->cap * 2 : 1024, j;
        struct line_slot *ns = calloc(ncap, sizeof(*ns));

        if (!ns)
            return NH_ENOMEM;
        for (j = 0; j < ts->cap; j++) {
            if (ts->slots[j].gen != ts->gen)
                continue;
            i = ts->slots[j].h & (ncap - 1);
            while (ns[i].gen == ts->gen)
                i = (i + 1) & (ncap - 1);
            ns[i] = ts->slots[j];
        }
        free(ts->slots);
        ts->slots = ns;
        ts->cap = ncap;
    }
    for (i = h & (ts->cap - 1); ts->slots[i].gen == ts->gen;
         i = (i + 1) & (ts->cap - 1))
        if (ts->slots[i].h == h)
            return 1;
    ts->slots[i].h = h;
    ts->slots[i].gen = ts->gen;
    ts->used++;
    return 0;
}

/* The scanner's running state over one text. */
struct scan {
    const struct rules_conf *c;
    struct rules_tstate *ts;
    struct rstats *st;
    const char *s;
    size_t n;
    size_t ncp;           /* code points so far */
    size_t lfirst, llast; /* line's first non-space byte, end of last */
    size_t lcp0, lcp1;    /* code point index of the same */
    uint32_t lfirst_cp, llast_cp;
    bool inword, walpha;
    size_t wstart, walnum;
    size_t hirun; /* run of K_HI characters */
    bool hisym, hic1, hilat;
    size_t dots, url_end, garble_end;
    int err;
};

static inline void
end_word(struct scan *z, size_t i)
{
    struct rstats *st = z->st;

    st->words++;
    if (z->walnum) {
        st->alnum_words++;
        st->alnum_chars += z->walnum;
    }
    if (z->walpha)
        st->alpha_words++;
    /* a stop word has two ASCII letters at least, each counted in
     * walnum */
    if (z->walnum >= 2 && i - z->wstart <= 8 &&
        is_stop_word(z->s + z->wstart, i - z->wstart))
        st->stop_words++;
    z->inword = false;
}

static void
end_line(struct scan *z)
{
    struct rstats *st = z->st;
    size_t len = z->lcp1 - z->lcp0;
    const char *e;
    int seen;

    if (z->lfirst == SIZE_MAX)
        return;
    e = z->s + z->llast;
    st->lines++;
    st->line_chars += len;
    if ((double)len < z->c->fw_short_chars)
        st->short_lines++;
    if (is_terminal(z->llast_cp))
        st->punct_lines++;
    if (is_bullet(z->lfirst_cp))
        st->bullet_lines++;
    if (z->llast_cp == 0x2026 ||
        (z->llast_cp == '.' && len >= 3 && e[-2] == '.' && e[-3] == '.'))
        st->ellipsis_lines++;
    seen = line_seen(z->ts, nh_hash64(z->s + z->lfirst, z->llast - z->lfirst));
    if (seen < 0)
        z->err = seen;
    else if (seen)
        st->dup_chars += len;
    z->lfirst = SIZE_MAX;
}

/* A run of mojibake-looking Latin-1 ends: count it when it has a C1
 * control, or is >= 3 long, or is 2 long with a non-letter (UTF-8 read
 * as Latin-1/cp1252 gives "ä¸­", GBK read as Latin-1 gives "ÖÐÎÄ";
 * Portuguese "ção" has two letters side by side and is not counted). A
 * run without any U+0080-00FF character is never counted: Chinese text
 * is full of the cp1252 punctuation “”‘’—… on its own. */
static void
end_hirun(struct scan *z)
{
    if (z->hilat && (z->hic1 || z->hirun >= 3 || (z->hirun == 2 && z->hisym)))
        z->st->garbled += z->hirun;
    z->hirun = 0;
    z->hisym = z->hic1 = z->hilat = false;
}

static inline void
see_char(struct scan *z, size_t i, size_t nb, uint32_t cp, unsigned k)
{
    struct rstats *st = z->st;

    st->chars++;
    if (z->lfirst == SIZE_MAX) {
        z->lfirst = i;
        z->lcp0 = z->ncp;
        z->lfirst_cp = cp;
    }
    z->llast = i + nb;
    z->lcp1 = z->ncp + 1;
    z->llast_cp = cp;
    if (!z->inword) {
        z->inword = true;
        z->wstart = i;
        z->walnum = 0;
        z->walpha = false;
    }
    if (k & K_ALPHA) {
        st->letters++;
        z->walnum++;
        z->walpha = true;
        if (k & K_CJK)
            st->cjk++;
    } else if (k & K_DIGIT) {
        st->digits++;
        z->walnum++;
    }
}

/* The first letter of a run of ASCII or Han letters at byte i: what
 * see_char() does but for the counts, which the caller adds for the whole
 * run at once. */
static inline void
run_start(struct scan *z, size_t i, uint32_t cp)
{
    if (z->lfirst == SIZE_MAX) {
        z->lfirst = i;
        z->lcp0 = z->ncp;
        z->lfirst_cp = cp;
    }
    if (!z->inword) {
        z->inword = true;
        z->wstart = i;
        z->walnum = 0;
    }
    z->walpha = true;
}

static bool
url_byte(unsigned char b)
{
    return b > 0x20 && b < 0x7F && !strchr("<>\"'`{}|\\^()[]", b);
}

/* '#', '.', '{' and control characters. */
static void
special(struct scan *z, unsigned char b)
{
    struct rstats *st = z->st;

    if (b == '#') {
        st->hashes++;
        st->symbols++;
    } else if (b == '.') {
        if (++z->dots % 3 == 0) {
            st->ellipses++;
            st->symbols++;
        }
    } else if (b == '{') {
        st->curly++;
    } else {
        st->garbled++; /* a control character */
    }
}

/* At the start of a run of letters: does a URL begin here? */
static void
url_at(struct scan *z, size_t i)
{
    const char *p = z->s + i;
    size_t left = z->n - i, j;

    if (i < z->url_end || !((left >= 7 && !memcmp(p, "http://", 7)) ||
                            (left >= 8 && !memcmp(p, "https://", 8)) ||
                            (left >= 4 && !memcmp(p, "www.", 4))))
        return;
    for (j = i; j < z->n && url_byte((unsigned char)z->s[j]); j++)
        ;
    z->st->urls += j - i;
    z->url_end = j;
}

/* Count the matches ending at byte i; state is the automaton state. */
static void
ac_hit(struct scan *z, uint32_t state, size_t i)
{
    const struct ac *ac = &z->c->ac;
    const unsigned char *s = (const unsigned char *)z->s;
    int32_t q = (int32_t)state;

    if (ac->out[q] < 0)
        q = ac->dict[q];
    for (; q >= 0; q = ac->dict[q]) {
        const struct ac_pat *p = &ac->pats[ac->out[q]];
        size_t start = i + 1 - p->len;

        if (p->lb && start > 0 && is_alnum_byte(s[start - 1]))
            continue;
        if (p->rb && i + 1 < z->n && is_alnum_byte(s[i + 1]))
            continue;
        if (p->kind == PK_BAD) {
            z->st->badwords++;
        } else if (p->kind == PK_LOREM) {
            z->st->lorem++;
        } else {
            size_t from = start > z->garble_end ? start : z->garble_end;

            /* garble patterns are 3-byte Han: count new characters */
            z->st->garbled += (i + 1 - from) / 3;
            z->garble_end = i + 1;
        }
    }
}

/* utf8_decode() with the three-byte case (all of Han) inline. */
static inline size_t
decode(const unsigned char *u, size_t left, uint32_t *cp)
{
    if ((u[0] & 0xF0) == 0xE0 && left >= 3 && (u[1] & 0xC0) == 0x80 &&
        (u[2] & 0xC0) == 0x80) {
        uint32_t c = (uint32_t)(u[0] & 0x0F) << 12 |
                     (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);

        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) {
            *cp = c;
            return 3;
        }
    }
    return utf8_decode((const char *)u, left, cp, NULL);
}

/* The code point of a CJK ideograph U+4E00-9FFF (E4 B8 80 to E9 BF BF)
 * at u, or 0: the bulk of Chinese text, classed K_ALPHA | K_CJK. */
static inline uint32_t
cjk_at(const unsigned char *u, size_t left)
{
    uint32_t c;

    /* b ^ 0x80 < 0x40 for continuation bytes only; a lead byte below
     * 0xE0 wraps c far above the range, one above 0xEF puts it past
     * U+FFFF */
    if (left < 3 || ((u[1] ^ 0x80) | (u[2] ^ 0x80)) >= 0x40)
        return 0;
    c = ((uint32_t)u[0] - 0xE0) << 12 | (uint32_t)(u[1] & 0x3F) << 6 |
        (u[2] & 0x3F);
    return c - 0x4E00 < 0xA000 - 0x4E00 ? c : 0;
}

/* Feed the three bytes at u[i..i+3) to the automaton from *row; the
 * output bits are tested once for all three. */
static inline void
ac_step3(struct scan *z, const uint32_t *delta, const uint8_t *cls,
         uint32_t *row, const unsigned char *u, size_t i)
{
    uint32_t v1 = delta[*row + cls[u[i]]];
    uint32_t v2 = delta[(v1 >> 1) + cls[u[i + 1]]];
    uint32_t v3 = delta[(v2 >> 1) + cls[u[i + 2]]];

    if ((v1 | v2 | v3) & 1) {
        uint32_t ncls = z->c->ac.ncls;

        if (v1 & 1)
            ac_hit(z, (v1 >> 1) / ncls, i);
        if (v2 & 1)
            ac_hit(z, (v2 >> 1) / ncls, i + 1);
        if (v3 & 1)
            ac_hit(z, (v3 >> 1) / ncls, i + 2);
    }
    *row = v3 >> 1;
}

/* One pass over s: every statistic of struct rstats. */
static int
scan_text(const struct rules_conf *c, struct rules_tstate *ts, const char *s,
          size_t n, struct rstats *st)
{
    const unsigned char *u = (const unsigned char *)s;
    const uint32_t *delta = c->ac.delta;
    const uint8_t *cls = c->ac.cls;
    const uint64_t *inert = c->ac.inert3;
    uint32_t row = 0, ncls = c->ac.ncls;
    struct scan z;
    size_t i = 0, xletters = 0, xcjk = 0; /* letters counted in runs */

    memset(st, 0, sizeof(*st));
    memset(&z, 0, sizeof(z));
    z.c = c;
    z.ts = ts;
    z.st = st;
    z.s = s;
    z.n = n;
    z.lfirst = SIZE_MAX;
    if (++ts->gen == 0) {
        if (ts->slots)
            memset(ts->slots, 0, ts->cap * sizeof(*ts->slots));
        ts->gen = 1;
    }
    ts->used = 0;
    while (i < n) {
        unsigned char b = u[i];
        uint32_t v, cp;
        unsigned k;
        size_t nb, j;

        if (is_letter(b)) {
            /* a run of ASCII letters, the bulk of English: one update */
            if ((b == 'h' || b == 'w') && (i == 0 || !is_alnum_byte(u[i - 1])))
                url_at(&z, i);
            j = i;
            do {
                v = delta[row + cls[u[j]]];
                row = v >> 1;
                if (v & 1)
                    ac_hit(&z, row / ncls, j);
                j++;
            } while (j < n && is_letter(u[j]) && row);
            /* Back at the start state inside the run, no match can
             * start before j any more. One starting at a letter after
             * a letter fails its left word boundary (a pattern that
             * starts with a letter has one), so the rest of the run
             * ends no counted match and leaves the start state for the
             * text after it. */
            while (j < n && is_letter(u[j]))
                j++;
            if (z.hirun)
                end_hirun(&z);
            z.dots = 0;
            run_start(&z, i, b);
            nb = j - i;
            xletters += nb;
            z.walnum += nb;
            z.ncp += nb;
            z.llast = j;
            z.lcp1 = z.ncp;
            z.llast_cp = u[j - 1];
            i = j;
            continue;
        }
        if (b < 0x80) {
            v = delta[row + cls[b]];
            row = v >> 1;
            if (v & 1)
                ac_hit(&z, row / ncls, i);
            k = ascii_class[b];
            if (z.hirun)
                end_hirun(&z);
            if (b != '.')
                z.dots = 0;
            if (k & K_SPACE) {
                if (z.inword)
                    end_word(&z, i);
                if (b == '\n')
                    end_line(&z);
            } else {
                if (k & K_SPECIAL)
                    special(&z, b);
                see_char(&z, i, 1, b, k);
            }
            z.ncp++;
            i++;
            continue;
        }
        if ((cp = cjk_at(u + i, n - i))) {
            /* a run of Han, the bulk of Chinese: one update */
            size_t run = 0;

            z.dots = 0;
            if (z.hirun)
                end_hirun(&z);
            run_start(&z, i, cp);
            do {
                if (row || !(inert[cp / 64] >> (cp & 63) & 1))
                    ac_step3(&z, delta, cls, &row, u, i);
                v = cp;
                run++;
                i += 3;
            } while ((cp = cjk_at(u + i, n - i)));
            cp = v;
            xletters += run;
            xcjk += run;
            z.walnum += run;
            z.ncp += run;
            z.llast = i;
            z.lcp1 = z.ncp;
            z.llast_cp = cp;
            continue;
        }
        nb = decode(u + i, n - i, &cp);
        if (nb == 3) {
            if (row || !(inert[cp / 64] >> (cp & 63) & 1))
                ac_step3(&z, delta, cls, &row, u, i);
        } else {
            for (j = 0; j < nb; j++) {
                v = delta[row + cls[u[i + j]]];
                row = v >> 1;
                if (v & 1)
                    ac_hit(&z, row / ncls, i + j);
            }
        }
        z.dots = 0;
        k = cp < 0x10000 ? c->bmp[cp] : cp_class(cp);
        if (k & K_HI) {
            z.hirun++;
            z.hisym |= (k & K_HISYM) != 0;
            z.hic1 |= (k & K_C1) != 0;
            z.hilat |= (k & K_LATIN1) != 0;
        } else if (z.hirun) {
            end_hirun(&z);
        }
        if (k & K_SPACE) {
            if (z.inword)
                end_word(&z, i);
        } else {
            if (k & K_GARBLE)
                st->garbled++;
            if (k & K_SYM)
                st->symbols++;
            if (k & K_ELLIP)
                st->ellipses++;
            see_char(&z, i, nb, cp, k);
        }
        z.ncp++;
        i += nb;
    }
    if (z.hirun)
        end_hirun(&z);
    if (z.inword)
        end_word(&z, n);
    end_line(&z);
    st->chars += xletters;
    st->letters += xletters;
    st->cjk += xcjk;
    return z.err;
}

static double
ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* The statistics of st that the rules and meta.rules use. */
static void
stats_of(const struct rules_conf *c, const struct rstats *st, double *v)
{
    v[S_CHARS] = (double)st->chars;
    v[S_CJK] = ratio(st->cjk, st->chars);
    v[S_LINE] = ratio(st->chars, st->lines);
    v[S_SYMBOL] = ratio(st->symbols, st->chars);
    v[S_DIGIT] = ratio(st->digits, st->chars);
    v[S_URL] = ratio(st->urls, st->chars);
    v[S_GARBLED] = ratio(st->garbled, st->chars);
    v[S_PUNCT] = ratio(st->punct_lines, st->lines);
    v[S_BADCOUNT] = (double)st->badwords;
    /* below min_badword_count the density does not count */
    v[S_BADDENS] = (double)st->badwords < c->min_badword_count
                       ? 0
                       : 1000.0 * ratio(st->badwords, st->chars);
    v[S_WORDS] = (double)st->words;
    v[S_WLEN] = ratio(st->alnum_chars, st->alnum_words);
    v[S_GSYM] =
        ratio(st->hashes > st->ellipses ? st->hashes : st->ellipses, st->words);
    v[S_BULLET] = ratio(st->bullet_lines, st->lines);
    v[S_ELLIPSIS] = ratio(st->ellipsis_lines, st->lines);
    v[S_ALPHA] = ratio(st->alpha_words, st->words);
    v[S_STOP] = (double)st->stop_words;
    v[S_LOREM] = (double)st->lorem;
    v[S_CURLY] = (double)st->curly;
    v[S_DUP] = ratio(st->dup_chars, st->line_chars);
    v[S_SHORT] = ratio(st->short_lines, st->lines);
}

/* The first failing rule of a rule set, or R_COUNT. */
static int
judge(const struct rules_conf *c, const double *v, const struct check *ck,
      size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        double t = *(const double *)(const void *)((const char *)c + ck[i].off);

        if (c->disabled & (1u << ck[i].rule))
            continue;
        if (ck[i].gt ? v[ck[i].stat] > t : v[ck[i].stat] < t)
            return ck[i].rule;
    }
    return R_COUNT;
}

/* Case-insensitive (ASCII) search for a lowercase needle. */
static bool
ci_contains(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle), i, j;

    for (i = 0; i + m <= n; i++) {
        for (j = 0; j < m; j++) {
            unsigned char b = (unsigned char)s[i + j];

            if ((b >= 'A' && b <= 'Z' ? b + 32 : b) != (unsigned char)needle[j])
                break;
        }
        if (j == m)
            return true;
    }
    return false;
}

/* C4's line filter: keep a line only if it ends in . ? ! " (not an
 * ellipsis), has enough words and names no javascript or policy. Writes
 * the kept lines to out; returns the number of lines removed or < 0. */
static int
c4_lines(const struct rules_conf *c, const char *s, size_t n,
         struct strbuf *out)
{
    size_t a = 0;
    int removed = 0, rc;

    while (a < n) {
        const char *nl = memchr(s + a, '\n', n - a);
        size_t b = nl ? (size_t)(nl - s) : n, ta = a, tb = b, words = 0, k;
        bool keep, inw = false;

        while (ta < tb && is_space_byte(s[ta]))
            ta++;
        while (tb > ta && is_space_byte(s[tb - 1]))
            tb--;
        for (k = ta; k < tb; k++) {
            bool sp = is_space_byte(s[k]);

            words += !sp && !inw;
            inw = !sp;
        }
        keep = tb > ta && s[tb - 1] && strchr(".?!\"", s[tb - 1]) &&
               !(tb - ta >= 3 && !memcmp(s + tb - 3, "...", 3)) &&
               (double)words >= c->c4_min_line_words;
        for (k = 0; keep && k < sizeof(c4_policy) / sizeof(c4_policy[0]); k++)
            keep = !ci_contains(s + ta, tb - ta, c4_policy[k]);
        if (keep) {
            if (out->len && (rc = strbuf_addch(out, '\n')) < 0)
                return rc;
            if ((rc = strbuf_add(out, s + a, b - a)) < 0)
                return rc;
        } else {
            removed++;
        }
        a = b + 1;
    }
    return removed;
}

static double
round4(double x)
{
    return floor(x * 10000.0 + 0.5) / 10000.0;
}

/* meta.rules: the statistics behind the verdict, for reviewers. */
static int
annotate(struct doc *d, const double *v, bool cjk)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(d->obj, "meta");
    cJSON *meta, *r;
    size_t i;

    if (old && !cJSON_IsObject(old))
        return 0; /* a non-object meta is the user's; leave it alone */
    if (!(meta = doc_meta(d)))
        return NH_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "rules");
    if (!(r = cJSON_AddObjectToObject(meta, "rules")) ||
        !cJSON_AddStringToObject(r, "lang", cjk ? "cjk" : "other"))
        return NH_ENOMEM;
    /* the names are static: add them as constant keys, not copies */
    for (i = 0; i < S_COUNT; i++) {
        cJSON *num = cJSON_CreateNumber(round4(v[i]));

        if (!num || !cJSON_AddItemToObjectCS(r, stat_names[i], num)) {
            cJSON_Delete(num);
            return NH_ENOMEM;
        }
    }
    return 0;
}

static int
rules_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
            const char **reason)
{
    const struct rules_conf *c = conf;
    struct rstats st;
    double v[S_COUNT];
    bool cjk;
    int rc, r;

    if (!ctx->tstate)
        return NH_ENOMEM;
    rc = scan_text(c, ctx->tstate, d->text.buf, d->text.len, &st);
    if (rc < 0)
        return rc;
    cjk = c->lang == LANG_ZH ||
          (c->lang == LANG_AUTO && st.letters &&
           (double)st.cjk >= c->cjk_doc_ratio * (double)st.letters);
    if (!cjk && c->c4_line_filter) {
        strbuf_reset(&ctx->scratch);
        rc = c4_lines(c, d->text.buf, d->text.len, &ctx->scratch);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            doc_swap_text(d, &ctx->scratch);
            rc = scan_text(c, ctx->tstate, d->text.buf, d->text.len, &st);
            if (rc < 0)
                return rc;
        }
    }
    stats_of(c, &st, v);
    if (cjk)
        r = judge(c, v, cjk_checks, sizeof(cjk_checks) / sizeof(cjk_checks[0]));
    else
        r = judge(c, v, other_checks,
                  sizeof(other_checks) / sizeof(other_checks[0]));
    if (c->annotate && (rc = annotate(d, v, cjk)) < 0)
        return rc;
    if (r == R_COUNT)
        return STAGE_KEEP;
    *reason = rule_names[r];
    return STAGE_DROP;
}

static void *
rules_thread_init(const void *conf)
{
    (void)conf;
    return calloc(1, sizeof(struct rules_tstate));
}

static void
rules_thread_free(void *tstate)
{
    struct rules_tstate *ts = tstate;

    if (ts)
        free(ts->slots);
    free(ts);
}

/* A pattern source for the automaton: bytes, length, kind. */
struct pat_src {
    const char *s;
    size_t n;
    uint8_t kind;
};

static unsigned char
fold(unsigned char b)
{
    return b >= 'A' && b <= 'Z' ? (unsigned char)(b + 32) : b;
}

static void
ac_release(struct ac *ac)
{
    free(ac->delta);
    free(ac->out);
    free(ac->dict);
    free(ac->pats);
    memset(ac, 0, sizeof(*ac));
}

/* Build the automaton over src[0..np). 0, NH_ENOMEM or NH_ETOOBIG. */
static int
ac_build(struct ac *ac, const struct pat_src *src, size_t np)
{
    size_t maxst = 1, i, j, cells, head = 0, tail = 0;
    uint32_t *fail = NULL, *queue = NULL, ns = 1, c;
    bool used[256] = {false};
    bool *hasout = NULL;
    int rc = NH_ENOMEM;

    memset(ac, 0, sizeof(*ac));
    for (i = 0; i < np; i++) {
        maxst += src[i].n;
        for (j = 0; j < src[i].n; j++)
            used[fold((unsigned char)src[i].s[j])] = true;
    }
    ac->ncls = 1;
    for (i = 0; i < 256; i++)
        if (used[i])
            ac->cls[i] = (uint8_t)ac->ncls++;
    for (i = 'A'; i <= 'Z'; i++)
        ac->cls[i] = ac->cls[i + 32];
    if (maxst > AC_MAX_BYTES / sizeof(uint32_t) / ac->ncls)
        return NH_ETOOBIG;
    cells = maxst * ac->ncls;
    ac->delta = calloc(cells, sizeof(uint32_t));
    ac->out = malloc(maxst * sizeof(int32_t));
    ac->dict = malloc(maxst * sizeof(int32_t));
    ac->pats = calloc(np ? np : 1, sizeof(struct ac_pat));
    fail = calloc(maxst, sizeof(uint32_t));
    queue = malloc(maxst * sizeof(uint32_t));
    hasout = calloc(maxst, sizeof(bool));
    if (!ac->delta || !ac->out || !ac->dict || !ac->pats || !fail || !queue ||
        !hasout)
        goto out;
    memset(ac->out, 0xFF, maxst * sizeof(int32_t));
    memset(ac->dict, 0xFF, maxst * sizeof(int32_t));
    /* the trie; during construction 0 means "no edge" */
    for (i = 0; i < np; i++) {
        uint32_t s = 0;
        const unsigned char *p = (const unsigned char *)src[i].s;

        for (j = 0; j < src[i].n; j++) {
            uint32_t *e = &ac->delta[(size_t)s * ac->ncls + ac->cls[p[j]]];

            if (!*e)
                *e = ns++;
            s = *e;
        }
        if (ac->out[s] >= 0)
            continue; /* a duplicate term counts once */
        ac->out[s] = (int32_t)ac->npats;
        ac->pats[ac->npats].len = (uint32_t)src[i].n;
        ac->pats[ac->npats].kind = src[i].kind;
        ac->pats[ac->npats].lb = is_alnum_byte(p[0]);
        ac->pats[ac->npats].rb = is_alnum_byte(p[src[i].n - 1]);
        ac->npats++;
    }
    ac->nstates = ns;
    /* breadth first: failure links, output links, the full DFA */
    for (c = 0; c < ac->ncls; c++)
        if (ac->delta[c])
            queue[tail++] = ac->delta[c];
    while (head < tail) {
        uint32_t s = queue[head++], f = fail[s];
        uint32_t *row = &ac->delta[(size_t)s * ac->ncls];
        const uint32_t *frow = &ac->delta[(size_t)f * ac->ncls];

        ac->dict[s] = ac->out[f] >= 0 ? (int32_t)f : ac->dict[f];
        hasout[s] = ac->out[s] >= 0 || ac->dict[s] >= 0;
        for (c = 0; c < ac->ncls; c++) {
            if (row[c]) {
                fail[row[c]] = frow[c];
                queue[tail++] = row[c];
            } else {
                row[c] = frow[c];
            }
        }
    }
    /* encode: next row, shifted, with the output bit */
    for (i = 0; i < (size_t)ns * ac->ncls; i++) {
        uint32_t t = ac->delta[i];

        ac->delta[i] = (t * ac->ncls) << 1 | hasout[t];
    }
    for (c = 0x800; c < 0x10000; c++) {
        uint32_t v1 = ac->delta[ac->cls[0xE0 | c >> 12]];
        uint32_t v2 = ac->delta[(v1 >> 1) + ac->cls[0x80 | (c >> 6 & 0x3F)]];
        uint32_t v3 = ac->delta[(v2 >> 1) + ac->cls[0x80 | (c & 0x3F)]];

        if (!((v1 | v2 | v3) & 1) && v3 >> 1 == 0)
            ac->inert3[c / 64] |= (uint64_t)1 << (c & 63);
    }
    rc = 0;
out:
    free(fail);
    free(queue);
    free(hasout);
    if (rc < 0)
        ac_release(ac);
    return rc;
}

/* Read all of path into *buf (malloc'd, NUL-terminated) and *len. */
static int
read_file(const char *path, const char *where, char **buf, size_t *len,
          struct nh_error *err)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    int rc = 0;

    *buf = NULL;
    if (!f)
        return nh_error_errno(err, "%s: cannot open '%s'", where, path);
    if (fstat(fileno(f), &sb) < 0)
        rc = nh_error_errno(err, "%s: cannot stat '%s'", where, path);
    else if (sb.st_size > BADWORDS_MAX_FILE)
        rc = nh_errorf(err, NH_ETOOBIG, "%s: '%s' is over 64 MiB", where, path);
    else if (!(*buf = malloc((size_t)sb.st_size + 1)))
        rc = nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    else if ((*len = fread(*buf, 1, (size_t)sb.st_size, f)) !=
             (size_t)sb.st_size)
        rc = nh_error_errno(err, "%s: cannot read '%s'", where, path);
    fclose(f);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    (*buf)[*len] = '\0';
    return 0;
}

/* Append the terms of a badwords file (one a line, '#' comments) held in
 * buf to src, which has room for one per line. */
static int
parse_badwords(char *buf, size_t len, const char *path, const char *where,
               struct pat_src *src, size_t *np, struct nh_error *err)
{
    size_t a = 0, lineno = 0;

    while (a < len) {
        char *s = buf + a, *nl = memchr(s, '\n', len - a);
        size_t n = nl ? (size_t)(nl - s) : len - a;

        a += n + 1;
        lineno++;
        while (n && is_space_byte(s[n - 1]))
            n--;
        while (n && is_space_byte(s[0])) {
            s++;
            n--;
        }
        if (!n || s[0] == '#')
            continue;
        if (n > 1024 || !utf8_valid(s, n) || memchr(s, '\0', n))
            return nh_errorf(err, NH_EINVAL,
                             "%s: '%s' line %zu: not a UTF-8 term of at most "
                             "1024 bytes",
                             where, path, lineno);
        src[(*np)++] = (struct pat_src){s, n, PK_BAD};
    }
    return 0;
}

static int
rules_patterns(struct rules_conf *c, const char *file, const char *where,
               struct nh_error *err)
{
    size_t nb = sizeof(builtin_badwords) / sizeof(builtin_badwords[0]);
    size_t ng = sizeof(builtin_garble) / sizeof(builtin_garble[0]);
    size_t maxnp = nb + ng + 1, np = 0, len = 0, i;
    struct pat_src *src = NULL;
    char *buf = NULL;
    int rc;

    if (file && (rc = read_file(file, where, &buf, &len, err)) < 0)
        return rc;
    for (i = 0; i < len; i++)
        maxnp += buf[i] == '\n';
    if (!(src = malloc((maxnp + 1) * sizeof(*src)))) {
        rc = nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
        goto out;
    }
    for (i = 0; c->builtin && i < nb; i++)
        src[np++] = (struct pat_src){builtin_badwords[i],
                                     strlen(builtin_badwords[i]), PK_BAD};
    for (i = 0; i < ng; i++)
        src[np++] = (struct pat_src){builtin_garble[i],
                                     strlen(builtin_garble[i]), PK_GARBLE};
    src[np++] = (struct pat_src){"lorem ipsum", 11, PK_LOREM};
    if (buf && (rc = parse_badwords(buf, len, file, where, src, &np, err)) < 0)
        goto out;
    if ((rc = ac_build(&c->ac, src, np)) < 0)
        nh_errorf(err, rc, "%s: %s building the bad word automaton", where,
                  nh_strerror(rc));
out:
    free(src);
    free(buf);
    return rc;
}

static void
rules_free(void *conf)
{
    struct rules_conf *c = conf;

    if (c) {
        ac_release(&c->ac);
        free(c->bmp);
    }
    free(c);
}

static int
rules_init(const cJSON *p, const char *where, void **conf, struct nh_error *err)
{
    static const char *const other_keys[] = {
        "language",         "disable",        "annotate",
        "c4_curly_bracket", "c4_line_filter", "badwords_file",
        "badwords_builtin",
    };
    const char *known[NPARAMS + sizeof(other_keys) / sizeof(other_keys[0]) + 1];
    const char *lang, *file;
    const cJSON *dis, *it;
    struct rules_conf *c;
    size_t i, nk = 0;
    int rc;

    for (i = 0; i < NPARAMS; i++)
        known[nk++] = params[i].key;
    for (i = 0; i < sizeof(other_keys) / sizeof(other_keys[0]); i++)
        known[nk++] = other_keys[i];
    known[nk] = NULL;
    if ((rc = cfg_check_keys(p, where, known, err)) < 0)
        return rc;
    if (!(c = calloc(1, sizeof(*c))))
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    for (i = 0; i < NPARAMS; i++) {
        const struct param *q = &params[i];
        double *dst = (double *)(void *)((char *)c + q->off);
        long l;

        if (q->integer) {
            rc = cfg_int(p, where, q->key, (long)q->def, (long)q->min,
                         (long)q->max, &l, err);
            *dst = (double)l;
        } else {
            rc = cfg_num(p, where, q->key, q->def, q->min, q->max, dst, err);
        }
        if (rc < 0)
            goto fail;
    }
    if ((rc = cfg_str(p, where, "language", "auto", lang_names, &lang, err)) <
            0 ||
        (rc = cfg_bool(p, where, "annotate", false, &c->annotate, err)) < 0 ||
        (rc = cfg_bool(p, where, "c4_curly_bracket", false, &c->c4_curly,
                       err)) < 0 ||
        (rc = cfg_bool(p, where, "c4_line_filter", false, &c->c4_line_filter,
                       err)) < 0 ||
        (rc = cfg_bool(p, where, "badwords_builtin", true, &c->builtin, err)) <
            0 ||
        (rc = cfg_str(p, where, "badwords_file", NULL, NULL, &file, err)) < 0 ||
        (rc = cfg_strlist(p, where, "disable", &dis, err)) < 0)
        goto fail;
    for (i = 0; lang_names[i]; i++)
        if (!strcmp(lang, lang_names[i]))
            c->lang = (int)i;
    cJSON_ArrayForEach(it, dis)
    {
        for (i = 0; i < R_COUNT && strcmp(rule_names[i], it->valuestring); i++)
            ;
        if (i == R_COUNT) {
            rc = nh_errorf(err, NH_EINVAL,
                           "%s: 'disable' names unknown rule '%s'", where,
                           it->valuestring);
            goto fail;
        }
        c->disabled |= 1u << i;
    }
    c->c4_curly_max = c->c4_curly ? 0 : HUGE_VAL; /* any '{' drops */
    if (c->min_chars > c->max_chars || c->g_min_words > c->g_max_words ||
        c->g_min_wlen > c->g_max_wlen) {
        rc = nh_errorf(err, NH_EINVAL,
                       "%s: a minimum is above its maximum ('min_chars', "
                       "'gopher_min_words' or 'gopher_min_mean_word_len')",
                       where);
        goto fail;
    }
    if ((rc = rules_patterns(c, file, where, err)) < 0)
        goto fail;
    if (!(c->bmp = malloc(0x10000 * sizeof(*c->bmp)))) {
        rc = nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
        goto fail;
    }
    for (i = 0; i < 0x10000; i++)
        c->bmp[i] = (uint16_t)cp_class((uint32_t)i);
    *conf = c;
    return 0;
fail:
    rules_free(c);
    return rc;
}

const struct stage_ops stage_filter_rules = {
    .name = "filter.rules",
    .init = rules_init,
    .thread_init = rules_thread_init,
    .thread_free = rules_thread_free,
    .apply = rules_apply,
    .free = rules_free,
};
