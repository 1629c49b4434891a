/* stage-extract.c - turn HTML documents into their main text
 *
 * The first stage of a pipeline over crawled pages: a record whose
 * "format" is "html" (the driver sets it for .html inputs; crawled JSONL
 * may carry it) is parsed with gumbo, and its text becomes the readable
 * text of the page: scripts, styles, navigation, headers, footers, forms
 * and elements whose class or id names them as boilerplate are left out,
 * block elements become line and paragraph breaks, and blocks made mostly
 * of links are dropped as navigation. The record then says "format":
 * "text" and meta.extracted_from = "html", so later stages (normalize,
 * filter.rules, ...) see plain text. Other records pass untouched.
 *
 * Speed: gumbo is the cost (about 20 MB/s). A first pass over the
 * markup takes the text of scripts and style sheets out before gumbo sees
 * it, and finds what would be too deep for it.
 *
 * Hostile markup: gumbo has no depth limit, and some of its steps walk the
 * whole stack of open elements, so 100000 nested <div>s cost it minutes.
 * A cheap scan of the markup estimates the nesting depth first and drops
 * documents deeper than "max_depth" (html_too_deep). Gumbo cannot report
 * a failed allocation, so it allocates from a per-thread pool with a
 * budget; running out of it (or of memory) jumps back out of the parser
 * (html_too_complex, or NH_ENOMEM). The pool also makes a parse cost no
 * malloc in steady state: it is rewound, not freed, between documents.
 * The tree is then walked with an explicit stack, never by recursion.
 */
#include "stage.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gumbo.h>

#include "config.h"
#include "utf8.h"

/* ---- configuration ---------------------------------------------------- */

enum title_mode { TITLE_PREPEND, TITLE_META, TITLE_DROP };

struct extract_conf {
    bool detect;
    enum title_mode title;
    long min_chars;
    double max_link_density;
    long min_links;
    long max_depth;
    char **tokens; /* boilerplate class/id tokens, lowercase, owned */
    size_t *token_len;
    size_t ntokens;
};

/* Class and id tokens that mark boilerplate blocks: the project's list
 * (docs/stages/extract.md). It overlaps with the class/id vocabulary that
 * Mozilla Readability's REGEXPS.unlikelyCandidates treats as unlikely
 * content (ad, banner, comment, footer, header, menu, sidebar). Whole
 * tokens only: "nav" matches class="main-nav", not "navigation". */
static const char *const default_tokens[] = {
    "nav",   "menu",   "footer", "header", "sidebar", "breadcrumb", "comment",
    "share", "advert", "ad",     "banner", "cookie",  "copyright",
};

/* A boilerplate token right after one of these describes a state of the
 * element ("has-sidebar", "no-comment", "with-header"), usually on a page
 * wrapper, not the boilerplate block itself. */
static const char *const modifier_tokens[] = {
    "has", "with", "no", "without", "hide", "show", "is",
};

/* ---- element kinds ---------------------------------------------------- */

enum kind {
    K_INLINE = 0, /* text flows through (also unknown elements) */
    K_BLOCK,      /* line or paragraph break around it */
    K_SKIP,       /* left out with everything inside */
    K_HEAD,       /* only its <title> is looked at */
    K_TITLE,      /* captured as the title, never in the body text */
    K_BR,         /* one newline */
    K_HR,         /* paragraph break */
    K_LINK,       /* <a>: counted for the link density */
    K_PRE,        /* paragraph, whitespace kept */
    K_CELL,       /* table cell: a tab before the next cell's text */
};

struct kind_ent {
    unsigned char kind;
    unsigned char level; /* K_BLOCK, K_PRE: 1 newline, 2 blank line */
};

/* Breaks follow the HTML Standard's innerText rules ("rendered text
 * collection steps": a block box gives one line break, <p> two, <br> a
 * newline, a table cell a tab, a row a newline), except that headings,
 * lists, tables, pre, blockquote and sectioning elements are paragraphs
 * too, so that paragraphs come out separated by a blank line. */
static const struct kind_ent kind_table[GUMBO_TAG_LAST + 1] = {
    [GUMBO_TAG_HEAD] = {K_HEAD, 0},
    [GUMBO_TAG_TITLE] = {K_TITLE, 0},
    [GUMBO_TAG_BR] = {K_BR, 0},
    [GUMBO_TAG_HR] = {K_HR, 2},
    [GUMBO_TAG_A] = {K_LINK, 0},
    [GUMBO_TAG_TD] = {K_CELL, 0},
    [GUMBO_TAG_TH] = {K_CELL, 0},

    [GUMBO_TAG_PRE] = {K_PRE, 2},
    [GUMBO_TAG_LISTING] = {K_PRE, 2},
    [GUMBO_TAG_XMP] = {K_PRE, 2},
    [GUMBO_TAG_PLAINTEXT] = {K_PRE, 2},

    [GUMBO_TAG_P] = {K_BLOCK, 2},
    [GUMBO_TAG_H1] = {K_BLOCK, 2},
    [GUMBO_TAG_H2] = {K_BLOCK, 2},
    [GUMBO_TAG_H3] = {K_BLOCK, 2},
    [GUMBO_TAG_H4] = {K_BLOCK, 2},
    [GUMBO_TAG_H5] = {K_BLOCK, 2},
    [GUMBO_TAG_H6] = {K_BLOCK, 2},
    [GUMBO_TAG_HGROUP] = {K_BLOCK, 2},
    [GUMBO_TAG_BLOCKQUOTE] = {K_BLOCK, 2},
    [GUMBO_TAG_UL] = {K_BLOCK, 2},
    [GUMBO_TAG_OL] = {K_BLOCK, 2},
    [GUMBO_TAG_DL] = {K_BLOCK, 2},
    [GUMBO_TAG_DIR] = {K_BLOCK, 2},
    [GUMBO_TAG_TABLE] = {K_BLOCK, 2},
    [GUMBO_TAG_SECTION] = {K_BLOCK, 2},
    [GUMBO_TAG_ARTICLE] = {K_BLOCK, 2},
    [GUMBO_TAG_MAIN] = {K_BLOCK, 2},
    [GUMBO_TAG_FIGURE] = {K_BLOCK, 2},
    [GUMBO_TAG_ADDRESS] = {K_BLOCK, 2},
    [GUMBO_TAG_DETAILS] = {K_BLOCK, 2},
    [GUMBO_TAG_FIELDSET] = {K_BLOCK, 2},

    [GUMBO_TAG_DIV] = {K_BLOCK, 1},
    [GUMBO_TAG_LI] = {K_BLOCK, 1},
    [GUMBO_TAG_DT] = {K_BLOCK, 1},
    [GUMBO_TAG_DD] = {K_BLOCK, 1},
    [GUMBO_TAG_TR] = {K_BLOCK, 1},
    [GUMBO_TAG_THEAD] = {K_BLOCK, 1},
    [GUMBO_TAG_TBODY] = {K_BLOCK, 1},
    [GUMBO_TAG_TFOOT] = {K_BLOCK, 1},
    [GUMBO_TAG_CAPTION] = {K_BLOCK, 1},
    [GUMBO_TAG_FIGCAPTION] = {K_BLOCK, 1},
    [GUMBO_TAG_SUMMARY] = {K_BLOCK, 1},
    [GUMBO_TAG_LEGEND] = {K_BLOCK, 1},
    [GUMBO_TAG_CENTER] = {K_BLOCK, 1},
    [GUMBO_TAG_MULTICOL] = {K_BLOCK, 1},

    /* not text, or not the page's own text (docs/stages/extract.md) */
    [GUMBO_TAG_SCRIPT] = {K_SKIP, 0},
    [GUMBO_TAG_STYLE] = {K_SKIP, 0},
    [GUMBO_TAG_NOSCRIPT] = {K_SKIP, 0},
    [GUMBO_TAG_TEMPLATE] = {K_SKIP, 0},
    [GUMBO_TAG_SVG] = {K_SKIP, 0},
    [GUMBO_TAG_IFRAME] = {K_SKIP, 0},
    [GUMBO_TAG_NAV] = {K_SKIP, 0},
    [GUMBO_TAG_HEADER] = {K_SKIP, 0},
    [GUMBO_TAG_FOOTER] = {K_SKIP, 0},
    [GUMBO_TAG_ASIDE] = {K_SKIP, 0},
    [GUMBO_TAG_FORM] = {K_SKIP, 0},
    [GUMBO_TAG_BUTTON] = {K_SKIP, 0},
    [GUMBO_TAG_SELECT] = {K_SKIP, 0},
    [GUMBO_TAG_OPTION] = {K_SKIP, 0},
    [GUMBO_TAG_MENU] = {K_SKIP, 0},
    /* more of the same: form controls, embedded content and its fallback
     * text, frames, ruby annotations (pinyin / furigana over the text) */
    [GUMBO_TAG_TEXTAREA] = {K_SKIP, 0},
    [GUMBO_TAG_DATALIST] = {K_SKIP, 0},
    [GUMBO_TAG_OPTGROUP] = {K_SKIP, 0},
    [GUMBO_TAG_MENUITEM] = {K_SKIP, 0},
    [GUMBO_TAG_CANVAS] = {K_SKIP, 0},
    [GUMBO_TAG_AUDIO] = {K_SKIP, 0},
    [GUMBO_TAG_VIDEO] = {K_SKIP, 0},
    [GUMBO_TAG_OBJECT] = {K_SKIP, 0},
    [GUMBO_TAG_EMBED] = {K_SKIP, 0},
    [GUMBO_TAG_APPLET] = {K_SKIP, 0},
    [GUMBO_TAG_NOEMBED] = {K_SKIP, 0},
    [GUMBO_TAG_NOFRAMES] = {K_SKIP, 0},
    [GUMBO_TAG_FRAMESET] = {K_SKIP, 0},
    [GUMBO_TAG_MAP] = {K_SKIP, 0},
    [GUMBO_TAG_RT] = {K_SKIP, 0},
    [GUMBO_TAG_RP] = {K_SKIP, 0},
};

/* ---- gumbo's memory: a rewindable pool with a budget ------------------ */

#define POOL_CHUNK ((size_t)256 * 1024)
#define POOL_BIG (POOL_CHUNK / 4) /* larger requests get their own block */
#define POOL_KEEP 64              /* chunks kept between documents: 16 MiB */

/* Gumbo allocates about 10.5 bytes per byte of input (measured on the
 * debian-reference HTML files, 9.4x to 10.9x, reallocation garbage
 * included); a document needing more than POOL_BASE + POOL_RATIO times its
 * size is pathological (e.g. thousands of formatting elements reopened in
 * every paragraph) and dropped as html_too_complex. */
#define POOL_BASE ((size_t)16 * 1024 * 1024)
#define POOL_RATIO 32

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

struct pool {
    struct pool_chunk *head, *cur; /* cur is being filled; after it, spares */
    struct pool_chunk *big;        /* oversized blocks, freed on rewind */
    size_t used, limit; /* bytes handed out for this document, budget */
    int fail;           /* why the last allocation failed */
};

static void *
pool_alloc(struct pool *p, size_t n)
{
    struct pool_chunk *c;

    n = n ? (n + 15) & ~(size_t)15 : 16;
    if (n < 16 || n > p->limit - p->used) {
        p->fail = NH_ETOOBIG;
        return NULL;
    }
    if (n > POOL_BIG) {
        c = malloc(sizeof(*c) + n);
        if (!c) {
            p->fail = NH_ENOMEM;
            return NULL;
        }
        c->next = p->big;
        c->used = c->size = n;
        p->big = c;
        p->used += n;
        return c->data;
    }
    if (!p->cur || p->cur->size - p->cur->used < n) {
        if (p->cur && p->cur->next) {
            p->cur = p->cur->next;
            p->cur->used = 0;
        } else {
            c = malloc(sizeof(*c) + POOL_CHUNK);
            if (!c) {
                p->fail = NH_ENOMEM;
                return NULL;
            }
            c->next = NULL;
            c->used = 0;
            c->size = POOL_CHUNK;
            if (p->cur)
                p->cur->next = c;
            else
                p->head = c;
            p->cur = c;
        }
    }
    c = p->cur;
    c->used += n;
    p->used += n;
    return c->data + c->used - n;
}

static void
pool_free_list(struct pool_chunk *c)
{
    struct pool_chunk *next;

    for (; c; c = next) {
        next = c->next;
        free(c);
    }
}

/* Forget every allocation; keep up to POOL_KEEP chunks for the next
 * document. */
static void
pool_rewind(struct pool *p)
{
    struct pool_chunk *c = p->head;
    size_t i;

    pool_free_list(p->big);
    p->big = NULL;
    p->used = 0;
    p->cur = p->head;
    if (!c)
        return;
    c->used = 0;
    for (i = 1; i < POOL_KEEP && c->next; i++)
        c = c->next;
    pool_free_list(c->next);
    c->next = NULL;
}

static void
pool_release(struct pool *p)
{
    pool_free_list(p->big);
    pool_free_list(p->head);
    memset(p, 0, sizeof(*p));
}

/* ---- per-thread state ------------------------------------------------- */

/* One open element of the tree walk. */
struct frame {
    const GumboVector *kids;
    unsigned int next; /* index of the next child to visit */
    unsigned char kind, level;
    bool link, density; /* an <a href>; a block checked for links */
    size_t out_len;     /* output length, counters when it was entered */
    size_t chars, link_chars, links;
};

/* One open element of the depth estimate (see prescan()). */
struct scan_ent {
    const char *name; /* into the input; compared case-insensitively */
    unsigned int len;
    unsigned short tag; /* GumboTag, GUMBO_TAG_UNKNOWN: compare name */
    bool foreign_kids;  /* children are in SVG or MathML content */
    bool in_table;      /* a <table> is open here (see scan_select()) */
    bool sel_table;     /* ... below the <select> that sel names */
    unsigned int sel;   /* 1 + index of the <select> open here, or 0 */
};

struct extract_tstate {
    struct pool pool;
    jmp_buf jmp; /* gumbo's allocator jumps here when the pool fails */
    struct frame *frames;
    size_t aframes;
    struct scan_ent *scan;
    size_t ascan;
    struct strbuf title;
};

/* arr (of *alloc elements of size sz) grown to hold at least n: the new
 * array, or NULL with arr untouched when out of memory. */
static void *
grow_array(void *arr, size_t *alloc, size_t n, size_t sz)
{
    size_t na = *alloc ? *alloc : 64;
    void *p;

    if (n <= *alloc)
        return arr;
    while (na < n) {
        if (na > SIZE_MAX / 2 / sz)
            return NULL;
        na *= 2;
    }
    if (!(p = realloc(arr, na * sz)))
        return NULL;
    *alloc = na;
    return p;
}

/* ---- small helpers ---------------------------------------------------- */

static inline int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static inline bool
is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static inline bool
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
same_ci(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* s (len bytes) starts with the lowercase ASCII word w, ignoring case. */
static bool
starts_ci(const char *s, size_t len, const char *w)
{
    size_t n = strlen(w);

    return len >= n && same_ci(s, w, n);
}

/* ---- the first pass: depth estimate, raw text taken out -------------- */

/* Elements that never nest (void) or whose end tag is optional and that
 * the parser closes on its own (p, li, td, ...): not counted. */
static bool
scan_uncounted(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BASEFONT:
    case GUMBO_TAG_BGSOUND:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMAGE:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_ISINDEX:
    case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_MENUITEM:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR:
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_P:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_OPTION:
    case GUMBO_TAG_OPTGROUP:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_COLGROUP:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_RB:
    case GUMBO_TAG_RT:
    case GUMBO_TAG_RTC:
    case GUMBO_TAG_RP:
        return true;
    default:
        return false;
    }
}

/* Elements whose content is text up to their end tag (script data,
 * RAWTEXT, RCDATA), outside SVG and MathML. */
static bool
scan_rawtext(GumboTag t)
{
    return t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE ||
           t == GUMBO_TAG_XMP || t == GUMBO_TAG_IFRAME ||
           t == GUMBO_TAG_NOEMBED || t == GUMBO_TAG_NOFRAMES ||
           t == GUMBO_TAG_TEXTAREA || t == GUMBO_TAG_TITLE;
}

/* A start tag that closes an open element of the same name first... */
static bool
scan_reopens(GumboTag t)
{
    return t == GUMBO_TAG_A || t == GUMBO_TAG_NOBR || t == GUMBO_TAG_BUTTON ||
           t == GUMBO_TAG_FORM;
}

/* ... unless one of these lies between: they shield what is above them
 * (markers of the list of active formatting elements, scope boundaries),
 * and "<a href=x><object>" repeated nests for real. */
static bool
scan_shields(GumboTag t)
{
    return t == GUMBO_TAG_APPLET || t == GUMBO_TAG_OBJECT ||
           t == GUMBO_TAG_MARQUEE || t == GUMBO_TAG_TEMPLATE ||
           t == GUMBO_TAG_TABLE || t == GUMBO_TAG_SVG || t == GUMBO_TAG_MATH;
}

/* HTML start tags that end SVG or MathML content (the HTML Standard's
 * "rules for parsing tokens in foreign content"). */
static bool
scan_breakout(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_B:
    case GUMBO_TAG_BIG:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_CODE:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_EM:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FONT:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_I:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_LISTING:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_META:
    case GUMBO_TAG_NOBR:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_RUBY:
    case GUMBO_TAG_S:
    case GUMBO_TAG_SMALL:
    case GUMBO_TAG_SPAN:
    case GUMBO_TAG_STRONG:
    case GUMBO_TAG_STRIKE:
    case GUMBO_TAG_SUB:
    case GUMBO_TAG_SUP:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TT:
    case GUMBO_TAG_U:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_VAR:
        return true;
    default:
        return false;
    }
}

/* SVG and MathML elements whose children are HTML again. */
static bool
scan_integration_point(GumboTag t)
{
    return t == GUMBO_TAG_FOREIGNOBJECT || t == GUMBO_TAG_DESC ||
           t == GUMBO_TAG_TITLE || t == GUMBO_TAG_MI || t == GUMBO_TAG_MO ||
           t == GUMBO_TAG_MN || t == GUMBO_TAG_MS || t == GUMBO_TAG_MTEXT ||
           t == GUMBO_TAG_ANNOTATION_XML;
}

/* Index just past the next '>' at or after i, or len. */
static size_t
skip_past_gt(const char *s, size_t len, size_t i)
{
    const char *p = i < len ? memchr(s + i, '>', len - i) : NULL;

    return p ? (size_t)(p - s) + 1 : len;
}

/* Skip a tag's attributes from i (just after its name), as the HTML
 * tokenizer does: quoted values may hold '>'. Returns the index past the
 * '>', or 0 when the input ends inside the tag (then it is no tag). */
static size_t
skip_attributes(const char *s, size_t len, size_t i, bool *self_closing)
{
    *self_closing = false;
    while (i < len) {
        int c = (unsigned char)s[i];

        if (is_space(c)) {
            i++;
            continue;
        }
        if (c == '>')
            return i + 1;
        if (c == '/') {
            if (i + 1 < len && s[i + 1] == '>') {
                *self_closing = true;
                return i + 2;
            }
            i++;
            continue;
        }
        /* attribute name ('=' first is part of the name) */
        i++;
        while (i < len && !is_space((unsigned char)s[i]) && s[i] != '/' &&
               s[i] != '>' && s[i] != '=')
            i++;
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        if (i >= len || s[i] != '=')
            continue;
        i++;
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        if (i < len && (s[i] == '"' || s[i] == '\'')) {
            const char *q = memchr(s + i + 1, s[i], len - i - 1);

            if (!q)
                return 0;
            i = (size_t)(q - s) + 1;
        } else {
            while (i < len && !is_space((unsigned char)s[i]) && s[i] != '>')
                i++;
        }
    }
    return 0;
}

/* Does s[i..] hold the tag name name (n bytes, any case), followed by
 * what ends a tag name ("script" in "<script>", not in "<scripts>")? */
static bool
tag_name_at(const char *s, size_t len, size_t i, const char *name, size_t n)
{
    return i + n < len && same_ci(s + i, name, n) &&
           (is_space((unsigned char)s[i + n]) || s[i + n] == '/' ||
            s[i + n] == '>');
}

/* Index of the '<' of the end tag "</name" that ends RAWTEXT or RCDATA
 * started at i, or len. */
static size_t
find_rawtext_end(const char *s, size_t len, size_t i, const char *name,
                 size_t nlen)
{
    while (i < len) {
        const char *p = memchr(s + i, '<', len - i);
        size_t j;

        if (!p)
            return len;
        j = (size_t)(p - s);
        if (j + 1 < len && s[j + 1] == '/' &&
            tag_name_at(s, len, j + 2, name, nlen))
            return j;
        i = j + 1;
    }
    return len;
}

/* Index of the '<' of the "</script" that ends script data started at i,
 * or len. Follows the tokenizer's script data states: inside "<!--", a
 * "<script" makes the next "</script" part of the text (document.write
 * of a script inside an old-style commented-out script). */
static size_t
find_script_end(const char *s, size_t len, size_t i)
{
    enum { DATA, ESCAPED, DOUBLE } st = DATA;
    int dashes = 0;

    for (; i < len; i++) {
        char ch = s[i];

        if (ch == '<') {
            dashes = 0;
            if (i + 1 < len && s[i + 1] == '/' &&
                tag_name_at(s, len, i + 2, "script", 6)) {
                if (st != DOUBLE)
                    return i;
                st = ESCAPED;
                i += 7;
            } else if (st == DATA && i + 3 < len && s[i + 1] == '!' &&
                       s[i + 2] == '-' && s[i + 3] == '-') {
                st = ESCAPED;
                dashes = 2;
                i += 3;
            } else if (st == ESCAPED &&
                       tag_name_at(s, len, i + 1, "script", 6)) {
                st = DOUBLE;
                i += 6;
            }
        } else if (st == DATA) {
            continue;
        } else if (ch == '-') {
            dashes += dashes < 2;
        } else {
            if (ch == '>' && dashes == 2)
                st = DATA;
            dashes = 0;
        }
    }
    return len;
}

/* Index just past the comment whose "<!--" ends at i. Handles "<!-->",
 * "<!--->" and the "--!>" ending like the HTML tokenizer. */
static size_t
skip_comment(const char *s, size_t len, size_t i)
{
    if (i < len && s[i] == '>')
        return i + 1;
    if (i + 1 < len && s[i] == '-' && s[i + 1] == '>')
        return i + 2;
    while (i + 2 < len) {
        const char *p = memchr(s + i, '-', len - i - 2);
        size_t j;

        if (!p)
            return len;
        j = (size_t)(p - s);
        if (s[j + 1] == '-' && s[j + 2] == '>')
            return j + 3;
        if (j + 3 < len && s[j + 1] == '-' && s[j + 2] == '!' &&
            s[j + 3] == '>')
            return j + 4;
        i = j + 1;
    }
    return len;
}

static bool
scan_same(const struct scan_ent *e, GumboTag t, const char *name, size_t len)
{
    if ((GumboTag)e->tag != t)
        return false;
    return t != GUMBO_TAG_UNKNOWN ||
           (e->len == len && same_ci(e->name, name, len));
}

/* Raw text elements whose text the walk leaves out anyway: prescan()
 * takes it out before parsing. Gumbo tokenizes script text at about 17
 * MB/s, a memchr() skips it at memory speed, and inline scripts and style
 * sheets are often a large share of a crawled page's bytes. */
static bool
scan_elided(GumboTag t)
{
    return t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE ||
           t == GUMBO_TAG_TEXTAREA || t == GUMBO_TAG_IFRAME ||
           t == GUMBO_TAG_NOEMBED || t == GUMBO_TAG_NOFRAMES;
}

static bool
scan_is_table_part(GumboTag t)
{
    return t == GUMBO_TAG_CAPTION || t == GUMBO_TAG_TABLE ||
           t == GUMBO_TAG_TBODY || t == GUMBO_TAG_TFOOT ||
           t == GUMBO_TAG_THEAD || t == GUMBO_TAG_TR || t == GUMBO_TAG_TD ||
           t == GUMBO_TAG_TH;
}

/* The state of prescan(). */
struct scan {
    struct extract_tstate *ts; /* ts->scan is the stack */
    const char *s;
    size_t len, depth, max;
    size_t svg_open, math_open; /* <svg>, <math> pushed, not yet closed */
    bool keep_text;             /* tags may parse differently from here */
    struct strbuf *copy;        /* the markup without elided text */
    size_t from;                /* s[from..] is not in copy yet */
    bool elided;
};

static bool
scan_foreign(const struct scan *sc)
{
    return sc->depth && sc->ts->scan[sc->depth - 1].foreign_kids;
}

/* 1 + the index of the open <select> the parser would be in, or 0; *table
 * says whether a table holds it ("in select in table"). A <template> or
 * SVG and MathML content in between hide it. Kept per entry, so that this
 * costs no walk down the stack. */
static size_t
scan_select(const struct scan *sc, bool *table)
{
    const struct scan_ent *e;

    *table = false;
    if (!sc->depth)
        return 0;
    e = &sc->ts->scan[sc->depth - 1];
    *table = e->sel_table;
    return e->sel;
}

/* Fill in e's scan_select() fields from its parent's. */
static void
scan_inherit(struct scan_ent *e, const struct scan_ent *parent,
             unsigned int index)
{
    GumboTag t = (GumboTag)e->tag;

    if (t == GUMBO_TAG_TEMPLATE || e->foreign_kids) {
        e->sel = 0;
        e->sel_table = e->in_table = false;
        return;
    }
    e->in_table = t == GUMBO_TAG_TABLE || (parent && parent->in_table);
    if (t == GUMBO_TAG_SELECT) {
        e->sel = index + 1;
        e->sel_table = parent && parent->in_table;
    } else {
        e->sel = parent ? parent->sel : 0;
        e->sel_table = parent && parent->sel_table;
    }
}

static void
scan_leave_foreign(struct scan *sc)
{
    while (scan_foreign(sc))
        sc->depth--;
}

static void
scan_end_tag(struct scan *sc, GumboTag t, const char *name, size_t nlen)
{
    bool table;
    size_t sel = scan_foreign(sc) ? 0 : scan_select(sc, &table), k;

    if (sel && t != GUMBO_TAG_SELECT && t != GUMBO_TAG_TEMPLATE) {
        if (!table || !scan_is_table_part(t))
            return; /* ignored in a select */
        sc->depth = sel - 1;
    }
    if (t == GUMBO_TAG_SVG && sc->svg_open)
        sc->svg_open--;
    else if (t == GUMBO_TAG_MATH && sc->math_open)
        sc->math_open--;
    for (k = sc->depth; k; k--)
        if (scan_same(&sc->ts->scan[k - 1], t, name, nlen))
            break;
    if (k)
        sc->depth = k - 1;
    else /* maybe an uncounted ancestor: leave foreign content */
        scan_leave_foreign(sc);
}

/* Skip the text of the raw text element t that starts at *i; take it out
 * of the copy if the walk does not need it. 0 or NH_E*. */
static int
scan_rawtext_body(struct scan *sc, GumboTag t, const char *name, size_t nlen,
                  size_t *i)
{
    size_t stop = t == GUMBO_TAG_SCRIPT
                      ? find_script_end(sc->s, sc->len, *i)
                      : find_rawtext_end(sc->s, sc->len, *i, name, nlen);
    int rc;

    if (sc->svg_open || sc->math_open) /* raw text, or SVG or MathML? */
        sc->keep_text = true;
    if (scan_elided(t) && stop > *i && !sc->keep_text) {
        if (!sc->elided)
            strbuf_reset(sc->copy);
        sc->elided = true;
        if ((rc = strbuf_add(sc->copy, sc->s + sc->from, *i - sc->from)) < 0)
            return rc;
        sc->from = stop;
    }
    *i = stop;
    return 0;
}

/* A start tag t (name, nlen) whose '>' ends just before *i. Returns 0, 1
 * when it makes the stack deeper than allowed, 2 when the rest of the
 * input is text, NH_E*. */
static int
scan_start_tag(struct scan *sc, GumboTag t, const char *name, size_t nlen,
               bool self_closing, size_t *i)
{
    struct scan_ent *e;
    bool foreign = scan_foreign(sc), table;
    size_t sel;

    if (foreign && scan_breakout(t)) {
        scan_leave_foreign(sc);
        foreign = false;
    }
    if (foreign && self_closing)
        return 0;
    if (!foreign && (sel = scan_select(sc, &table))) {
        if (t == GUMBO_TAG_SELECT) { /* only closes the open one */
            sc->depth = sel - 1;
            return 0;
        }
        if (t == GUMBO_TAG_INPUT || t == GUMBO_TAG_KEYGEN ||
            t == GUMBO_TAG_TEXTAREA || (table && scan_is_table_part(t)))
            sc->depth = sel - 1;
        else if (t != GUMBO_TAG_SCRIPT && t != GUMBO_TAG_TEMPLATE)
            return 0; /* ignored in a select */
    }
    if (!foreign) {
        if (t == GUMBO_TAG_PLAINTEXT)
            return 2;
        if (t == GUMBO_TAG_FRAMESET)
            sc->keep_text = true;
        if (scan_rawtext(t))
            return scan_rawtext_body(sc, t, name, nlen, i);
        if (scan_uncounted(t))
            return 0;
        if ((t == GUMBO_TAG_SVG || t == GUMBO_TAG_MATH) && self_closing)
            return 0;
        if (scan_reopens(t)) {
            size_t k = sc->depth;

            while (k && (GumboTag)sc->ts->scan[k - 1].tag != t &&
                   !scan_shields((GumboTag)sc->ts->scan[k - 1].tag))
                k--;
            if (k && (GumboTag)sc->ts->scan[k - 1].tag == t)
                sc->depth = k - 1;
        }
    }
    if (sc->depth >= sc->max)
        return 1;
    if (sc->depth >= sc->ts->ascan) {
        void *a = grow_array(sc->ts->scan, &sc->ts->ascan, sc->depth + 1,
                             sizeof(*sc->ts->scan));

        if (!a)
            return NH_ENOMEM;
        sc->ts->scan = a;
    }
    e = &sc->ts->scan[sc->depth++];
    e->name = name;
    e->len = (unsigned int)(nlen < UINT_MAX ? nlen : 0);
    e->tag = (unsigned short)t;
    e->foreign_kids = foreign ? !scan_integration_point(t)
                              : t == GUMBO_TAG_SVG || t == GUMBO_TAG_MATH;
    scan_inherit(e, sc->depth > 1 ? e - 1 : NULL,
                 (unsigned int)(sc->depth - 1));
    if (t == GUMBO_TAG_SVG)
        sc->svg_open++;
    else if (t == GUMBO_TAG_MATH)
        sc->math_open++;
    return 0;
}

/* One pass over the markup before the parser sees it.
 *
 * It estimates how deeply the markup nests elements, the way the HTML
 * parser would, without building a tree: a stack of open elements that
 * start tags push and end tags pop back to their match. Void elements and
 * those with optional end tags (p, li, td, ...) are not counted; comments
 * and the text of script, style, textarea and the like are skipped; in SVG
 * and MathML "<x/>" opens nothing; in a <select> most tags are ignored.
 * Meant for the accidental pathologies of real pages (thousands of
 * unclosed <div> or <font>); markup crafted to fool it is still bounded
 * by the parser's memory budget.
 *
 * And it copies the markup into copy without the text of the elements
 * scan_elided() names (their tags stay), when there is any: *elided says
 * whether copy is to be parsed instead of s. Where the estimate may be
 * unsure whether a tag starts raw text (in SVG or MathML, in a frameset
 * page) nothing is taken out, so that the parser sees the same tags.
 *
 * Returns 1 when the depth exceeds max, 0 when not, NH_ENOMEM. */
static int
prescan(struct extract_tstate *ts, const char *s, size_t len, size_t max,
        struct strbuf *copy, bool *elided)
{
    struct scan sc = {.ts = ts, .s = s, .len = len, .max = max, .copy = copy};
    size_t i = 0;
    int rc = 0;

    while (i < len && rc == 0) {
        const char *p = memchr(s + i, '<', len - i);
        size_t j, nlen;
        bool end, self_closing;
        GumboTag t;

        if (!p)
            break;
        i = (size_t)(p - s) + 1;
        if (i >= len)
            break;
        if (s[i] == '!') {
            if (i + 2 < len && s[i + 1] == '-' && s[i + 2] == '-') {
                i = skip_comment(s, len, i + 3);
                continue;
            }
            /* in SVG or MathML a CDATA section runs to "]]>" */
            if ((sc.svg_open || sc.math_open) &&
                starts_ci(s + i, len - i, "![cdata["))
                sc.keep_text = true;
            i = skip_past_gt(s, len, i); /* doctype, bogus comment */
            continue;
        }
        if (s[i] == '?') {
            i = skip_past_gt(s, len, i);
            continue;
        }
        end = s[i] == '/';
        if (end)
            i++;
        if (i >= len || !is_alpha((unsigned char)s[i])) {
            if (end)
                i = skip_past_gt(s, len, i); /* "</>", "</3": ignored */
            continue;
        }
        j = i;
        while (i < len && !is_space((unsigned char)s[i]) && s[i] != '/' &&
               s[i] != '>')
            i++;
        nlen = i - j;
        t = nlen < UINT_MAX ? gumbo_tagn_enum(s + j, (unsigned int)nlen)
                            : GUMBO_TAG_UNKNOWN;
        if (!(i = skip_attributes(s, len, i, &self_closing)))
            break; /* the input ends inside the tag */
        if (end)
            scan_end_tag(&sc, t, s + j, nlen);
        else
            rc = scan_start_tag(&sc, t, s + j, nlen, self_closing, &i);
    }
    if (rc == 2)
        rc = 0;
    if (rc == 0 && sc.elided &&
        (rc = strbuf_add(copy, s + sc.from, len - sc.from)) < 0)
        return rc;
    *elided = sc.elided;
    return rc;
}

/* ---- parsing ---------------------------------------------------------- */

static void *
gumbo_alloc_cb(void *userdata, size_t n)
{
    struct extract_tstate *ts = userdata;
    void *p = pool_alloc(&ts->pool, n);

    /* gumbo dereferences what it gets: never hand it NULL */
    if (!p)
        longjmp(ts->jmp, 1);
    return p;
}

static void
gumbo_free_cb(void *userdata, void *p)
{
    (void)userdata;
    (void)p; /* the pool is rewound after each document */
}

/* Parse buf into *out (allocated from ts->pool, valid until
 * pool_rewind()). Returns 0, NH_ETOOBIG when the pool's budget ran out,
 * NH_ENOMEM. Everything gumbo allocated is in the pool, and gumbo keeps no
 * global state, so leaving it by longjmp leaks and breaks nothing. */
static int
parse_html(struct extract_tstate *ts, const char *buf, size_t len,
           GumboOutput **out)
{
    GumboOptions opt = kGumboDefaultOptions;

    opt.allocator = gumbo_alloc_cb;
    opt.deallocator = gumbo_free_cb;
    opt.userdata = ts;
    opt.max_errors = 0; /* do not collect parse errors */
    if (len >= UINT_MAX)
        return NH_ETOOBIG; /* gumbo's offsets are unsigned int */
    ts->pool.limit = POOL_BASE + (len < (SIZE_MAX - POOL_BASE) / POOL_RATIO
                                      ? len * POOL_RATIO
                                      : SIZE_MAX - POOL_BASE);
    ts->pool.fail = 0;
    if (setjmp(ts->jmp))
        return ts->pool.fail;
    *out = gumbo_parse_with_options(&opt, buf, len);
    return 0;
}

/* ---- text output ------------------------------------------------------ */

enum sep { SEP_NONE, SEP_SPACE, SEP_SEGMENT, SEP_TAB };

/* The output being built: text is appended lazily, so that whitespace and
 * breaks between two pieces of text collapse into the strongest one and
 * none is left at the start or end. */
struct emit {
    struct strbuf *out;
    int brk;           /* newlines owed before the next text: 0..2 */
    enum sep sep;      /* separator owed when no break is */
    unsigned int pre;  /* inside <pre>: whitespace kept */
    unsigned int link; /* inside <a href> */
    size_t chars;      /* non-space characters written */
    size_t link_chars; /* ... of them inside links */
    size_t links;      /* <a href> elements entered */
};

static inline void
raise_brk(struct emit *e, int level)
{
    if (e->brk < level)
        e->brk = level;
}

/* Last code point of the output. */
static uint32_t
last_cp(const struct strbuf *sb)
{
    size_t i = sb->len;
    uint32_t cp;

    while (i > 0 && sb->len - i < 4 &&
           ((unsigned char)sb->buf[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return 0;
    utf8_decode(sb->buf + i - 1, sb->len - i + 1, &cp, NULL);
    return cp;
}

static inline bool
is_cjk_cp(uint32_t cp)
{
    return cp_is_cjk(cp) || cp_is_cjk_punct(cp);
}

/* Write what is owed before the text at next (n > 0 bytes). A whitespace
 * run holding a line break between two CJK characters disappears (CSS
 * Text 3, "segment break transformation rules"): HTML sources wrap
 * Chinese text at any character. */
static int
emit_flush(struct emit *e, const char *next, size_t n)
{
    struct strbuf *sb = e->out;
    int rc = 0;

    if (!sb->len) {
        e->brk = 0;
        e->sep = SEP_NONE;
        return 0;
    }
    if (e->brk) {
        int have = 0;

        while (have < e->brk && (size_t)have < sb->len &&
               sb->buf[sb->len - 1 - have] == '\n')
            have++;
        for (; have < e->brk && !rc; have++)
            rc = strbuf_addch(sb, '\n');
    } else if (e->sep == SEP_TAB) {
        rc = strbuf_addch(sb, '\t');
    } else if (e->sep == SEP_SEGMENT && (unsigned char)*next >= 0x80 &&
               (unsigned char)sb->buf[sb->len - 1] >= 0x80) {
        uint32_t cp;

        utf8_decode(next, n, &cp, NULL);
        if (!is_cjk_cp(cp) || !is_cjk_cp(last_cp(sb)))
            rc = strbuf_addch(sb, ' ');
    } else if (e->sep != SEP_NONE) {
        rc = strbuf_addch(sb, ' ');
    }
    e->brk = 0;
    e->sep = SEP_NONE;
    return rc;
}

static inline bool
is_nbsp(const unsigned char *p)
{
    return p[0] == 0xC2 && p[1] == 0xA0;
}

/* Append a text node's text (NUL-terminated, valid UTF-8 from gumbo). */
static int
emit_text(struct emit *e, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    int rc;

    if (e->pre) {
        size_t n, i, chars = 0;

        if (!e->out->len) { /* no blank lines at the start */
            const char *q = text;

            for (i = 0; is_space(p[i]); i++)
                if (p[i] == '\n')
                    q = text + i + 1;
            if (!p[i])
                return 0;
            text = q;
            p = (const unsigned char *)q;
        }
        n = strlen(text);
        for (i = 0; i < n; i++)
            chars += (p[i] & 0xC0) != 0x80 && !is_space(p[i]);
        if ((rc = emit_flush(e, text, n)) < 0 ||
            (rc = strbuf_add(e->out, text, n)) < 0)
            return rc;
        e->chars += chars;
        if (e->link)
            e->link_chars += chars;
        return 0;
    }
    while (*p) {
        const unsigned char *q;
        size_t chars = 0;

        if (is_space(*p)) {
            enum sep s = *p == '\n' || *p == '\r' ? SEP_SEGMENT : SEP_SPACE;

            if (e->sep < s)
                e->sep = s;
            p++;
            continue;
        }
        if (is_nbsp(p)) { /* &nbsp;: a space like any other */
            if (e->sep < SEP_SPACE)
                e->sep = SEP_SPACE;
            p += 2;
            continue;
        }
        for (q = p; *p && !is_space(*p) && !is_nbsp(p); p++)
            chars += (*p & 0xC0) != 0x80;
        if ((rc = emit_flush(e, (const char *)q, (size_t)(p - q))) < 0 ||
            (rc = strbuf_add(e->out, q, (size_t)(p - q))) < 0)
            return rc;
        e->chars += chars;
        if (e->link)
            e->link_chars += chars;
    }
    return 0;
}

/* Collapse the title's text into ts->title. */
static int
capture_title(struct extract_tstate *ts, const GumboElement *el)
{
    unsigned int i;
    int rc = 0;

    for (i = 0; i < el->children.length && !rc; i++) {
        const GumboNode *n = el->children.data[i];
        const unsigned char *p;
        bool space = false;

        if (n->type != GUMBO_NODE_TEXT && n->type != GUMBO_NODE_WHITESPACE)
            continue;
        p = (const unsigned char *)n->v.text.text;
        while (*p && !rc) {
            if (is_space(*p)) {
                space = true;
                p++;
            } else if (is_nbsp(p)) {
                space = true;
                p += 2;
            } else {
                if (space && ts->title.len)
                    rc = strbuf_addch(&ts->title, ' ');
                space = false;
                if (!rc)
                    rc = strbuf_addch(&ts->title, *p++);
            }
        }
    }
    return rc;
}

/* ---- boilerplate classes ---------------------------------------------- */

static bool
is_token_sep(int c)
{
    return c == '-' || c == '_' || is_space(c);
}

static bool
is_modifier(const char *w, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof(modifier_tokens) / sizeof(*modifier_tokens); i++)
        if (strlen(modifier_tokens[i]) == n &&
            same_ci(w, modifier_tokens[i], n))
            return true;
    return false;
}

/* Does the class or id value v hold one of the configured tokens? */
static bool
has_boilerplate_token(const struct extract_conf *c, const char *v)
{
    const char *prev = NULL;
    size_t prev_len = 0;

    while (*v) {
        const char *w;
        size_t n, k;

        while (*v && is_token_sep((unsigned char)*v))
            v++;
        for (w = v; *v && !is_token_sep((unsigned char)*v); v++)
            ;
        n = (size_t)(v - w);
        if (!n)
            break;
        for (k = 0; k < c->ntokens; k++) {
            if (c->token_len[k] == n && same_ci(w, c->tokens[k], n) &&
                !(prev && is_modifier(prev, prev_len)))
                return true;
        }
        prev = w;
        prev_len = n;
    }
    return false;
}

static bool
is_boilerplate(const struct extract_conf *c, const GumboElement *el)
{
    unsigned int i;

    switch (el->tag) {
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_ARTICLE:
        return false; /* "has-sidebar" on these is about the page */
    default:
        break;
    }
    for (i = 0; i < el->attributes.length; i++) {
        const GumboAttribute *a = el->attributes.data[i];

        if ((!strcmp(a->name, "class") || !strcmp(a->name, "id")) &&
            has_boilerplate_token(c, a->value))
            return true;
    }
    return false;
}

/* ---- the walk --------------------------------------------------------- */

static void
frame_leave(const struct extract_conf *c, struct emit *e, const struct frame *f)
{
    if (f->link)
        e->link--;
    if (f->kind == K_PRE)
        e->pre--;
    if (f->density) {
        size_t chars = e->chars - f->chars;
        size_t lchars = e->link_chars - f->link_chars;

        if (e->links - f->links >= (size_t)c->min_links && chars &&
            (double)lchars > c->max_link_density * (double)chars) {
            /* navigation: take back what the block wrote */
            strbuf_setlen(e->out, f->out_len);
            e->chars = f->chars;
            e->link_chars = f->link_chars;
            e->links = f->links;
            e->sep = SEP_NONE;
        }
    }
    if (f->kind == K_CELL)
        e->sep = SEP_TAB; /* only written if more text follows in the row */
    raise_brk(e, f->level);
}

/* Walk the tree from the document node, writing the body text through e
 * and the first <title> into ts->title. Iterative: the tree may be as deep
 * as the input allows. */
static int
walk(const struct extract_conf *c, struct extract_tstate *ts, GumboNode *doc,
     struct emit *e)
{
    size_t n = 1;
    bool have_title = false;
    void *grown;
    int rc;

    if (!(grown = grow_array(ts->frames, &ts->aframes, 1, sizeof(*ts->frames))))
        return NH_ENOMEM;
    ts->frames = grown;
    memset(&ts->frames[0], 0, sizeof(ts->frames[0]));
    ts->frames[0].kids = &doc->v.document.children;
    while (n) {
        struct frame *f = &ts->frames[n - 1];
        const GumboNode *node;
        const GumboElement *el;
        struct kind_ent k;

        if (f->next >= f->kids->length) {
            frame_leave(c, e, f);
            n--;
            continue;
        }
        node = f->kids->data[f->next++];
        switch (node->type) {
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_WHITESPACE:
        case GUMBO_NODE_CDATA:
            if ((rc = emit_text(e, node->v.text.text)) < 0)
                return rc;
            continue;
        case GUMBO_NODE_ELEMENT:
            break;
        default: /* comments, and <template> contents */
            continue;
        }
        el = &node->v.element;
        if (el->tag_namespace == GUMBO_NAMESPACE_HTML)
            k = kind_table[el->tag];
        else if (el->tag == GUMBO_TAG_SVG)
            k = (struct kind_ent){K_SKIP, 0};
        else
            k = (struct kind_ent){K_INLINE, 0}; /* MathML text stays */
        switch (k.kind) {
        case K_SKIP:
            continue;
        case K_HEAD: {
            unsigned int i;

            for (i = 0; i < el->children.length && !have_title; i++) {
                const GumboNode *t = el->children.data[i];

                if (t->type == GUMBO_NODE_ELEMENT &&
                    t->v.element.tag == GUMBO_TAG_TITLE) {
                    if ((rc = capture_title(ts, &t->v.element)) < 0)
                        return rc;
                    have_title = true;
                }
            }
            continue;
        }
        case K_TITLE:
            if (!have_title && (rc = capture_title(ts, el)) < 0)
                return rc;
            have_title = true;
            continue;
        case K_BR:
            if (e->pre && e->out->len) {
                if ((rc = emit_flush(e, "\n", 1)) < 0 ||
                    (rc = strbuf_addch(e->out, '\n')) < 0)
                    return rc;
            } else if (!e->pre && e->brk < 2) {
                e->brk++;
            }
            continue;
        case K_HR:
            raise_brk(e, 2);
            continue;
        default:
            break;
        }
        if (el->attributes.length && c->ntokens && is_boilerplate(c, el))
            continue;
        if (!(grown = grow_array(ts->frames, &ts->aframes, n + 1,
                                 sizeof(*ts->frames))))
            return NH_ENOMEM;
        ts->frames = grown;
        f = &ts->frames[n++];
        f->kids = &el->children;
        f->next = 0;
        f->kind = k.kind;
        f->level = k.level;
        f->link = k.kind == K_LINK &&
                  gumbo_get_attribute(&el->attributes, "href") != NULL;
        f->density = k.level > 0;
        f->out_len = e->out->len;
        f->chars = e->chars;
        f->link_chars = e->link_chars;
        f->links = e->links;
        raise_brk(e, k.level);
        if (f->link) {
            e->link++;
            e->links++;
        }
        if (k.kind == K_PRE)
            e->pre++;
    }
    return 0;
}

/* ---- the stage -------------------------------------------------------- */

/* Does d hold HTML? Its "format" says so; with "detect", so does text
 * that opens like an HTML document (after white space, a byte order mark
 * and an XML declaration, as XHTML pages have). */
static bool
is_html(const struct extract_conf *c, const struct doc *d)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(d->obj, "format");
    const char *s = d->text.buf;
    size_t len = d->text.len, i = 0;

    if (cJSON_IsString(f) && !strcmp(f->valuestring, "html"))
        return true;
    if (!c->detect || !s)
        return false;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < len && is_space((unsigned char)s[i]))
        i++;
    if (starts_ci(s + i, len - i, "<?xml")) {
        i = skip_past_gt(s, len, i);
        while (i < len && is_space((unsigned char)s[i]))
            i++;
    }
    if (starts_ci(s + i, len - i, "<!doctype html"))
        i += 14;
    else if (starts_ci(s + i, len - i, "<html"))
        i += 5;
    else
        return false;
    return i == len || is_space((unsigned char)s[i]) || s[i] == '>' ||
           s[i] == '/';
}

/* Set obj[key] to the string v, reusing the item when it is a string. */
static int
set_string(cJSON *obj, const char *key, const char *v)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (cJSON_IsString(it))
        return cJSON_SetValuestring(it, v) ? 0 : NH_ENOMEM;
    if (it) {
        cJSON *n = cJSON_CreateString(v);

        if (!n)
            return NH_ENOMEM;
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, n);
        return 0;
    }
    return cJSON_AddStringToObject(obj, key, v) ? 0 : NH_ENOMEM;
}

/* Finish a kept document: the title per the "title" mode, the new text,
 * "format" and meta. */
static int
finish(const struct extract_conf *c, struct extract_tstate *ts,
       struct stage_ctx *ctx, struct doc *d)
{
    struct strbuf *body = &ctx->scratch, *text = body;
    const struct strbuf *t = &ts->title;
    cJSON *meta;
    int rc;

    if (c->title == TITLE_PREPEND && t->len &&
        (body->len < t->len || memcmp(body->buf, t->buf, t->len))) {
        text = &ctx->scratch2;
        strbuf_reset(text);
        if ((rc = strbuf_add(text, t->buf, t->len)) < 0 ||
            (rc = strbuf_add(text, "\n\n", 2)) < 0 ||
            (rc = strbuf_add(text, body->buf, body->len)) < 0)
            return rc;
    }
    if (!(meta = doc_meta(d)))
        return NH_ENOMEM;
    if ((rc = set_string(meta, "extracted_from", "html")) < 0)
        return rc;
    if (c->title == TITLE_META && t->len &&
        (rc = set_string(meta, "title", strbuf_str(t))) < 0)
        return rc;
    if ((rc = set_string(d->obj, "format", "text")) < 0)
        return rc;
    doc_swap_text(d, text);
    d->bad_utf8 = false; /* gumbo decoded it, bad bytes became U+FFFD */
    return 0;
}

static int
extract_apply(const void *conf, struct stage_ctx *ctx, struct doc *d,
              const char **reason)
{
    const struct extract_conf *c = conf;
    struct extract_tstate *ts = ctx->tstate;
    struct emit e;
    GumboOutput *out = NULL;
    const char *html;
    size_t len, n;
    bool elided;
    int rc;

    if (!is_html(c, d))
        return STAGE_KEEP;
    if (!ts)
        return NH_ENOMEM;
    memset(&e, 0, sizeof(e));
    e.out = &ctx->scratch;
    html = d->text.buf ? d->text.buf : "";
    len = d->text.len;
    if (len >= 3 && !memcmp(html, "\xEF\xBB\xBF", 3)) {
        html += 3; /* a byte order mark is no text (gumbo keeps it) */
        len -= 3;
    }
    rc = prescan(ts, html, len, (size_t)c->max_depth, &ctx->scratch2, &elided);
    if (rc) {
        *reason = "html_too_deep";
        return rc < 0 ? rc : STAGE_DROP;
    }
    if (elided) { /* scratch2 is free again once the tree is gone */
        html = strbuf_str(&ctx->scratch2);
        len = ctx->scratch2.len;
    }
    rc = parse_html(ts, html, len, &out);
    if (rc == 0) {
        strbuf_reset(&ctx->scratch);
        strbuf_reset(&ts->title);
        rc = walk(c, ts, out->document, &e);
    }
    pool_rewind(&ts->pool); /* the tree is gone from here on */
    if (rc == NH_ETOOBIG && !out) {
        *reason = "html_too_complex";
        return STAGE_DROP;
    }
    if (rc < 0)
        return rc;
    n = ctx->scratch.len; /* <pre> text may end in white space */
    while (n && is_space((unsigned char)ctx->scratch.buf[n - 1]))
        n--;
    strbuf_setlen(&ctx->scratch, n);
    if (e.chars < (size_t)c->min_chars) {
        *reason = "empty_html";
        return STAGE_DROP;
    }
    if ((rc = finish(c, ts, ctx, d)) < 0)
        return rc;
    return STAGE_KEEP;
}

static void
extract_free(void *conf)
{
    struct extract_conf *c = conf;
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->ntokens; i++)
        free(c->tokens[i]);
    free(c->tokens);
    free(c->token_len);
    free(c);
}

/* Copy the boilerplate tokens (the parameter's, or the defaults) into c,
 * lowercased. */
static int
load_tokens(struct extract_conf *c, const cJSON *list, const char *where,
            struct nh_error *err)
{
    size_t n = list ? (size_t)cJSON_GetArraySize(list)
                    : sizeof(default_tokens) / sizeof(*default_tokens);
    const cJSON *it = list ? list->child : NULL;
    size_t i, k;

    c->tokens = calloc(n ? n : 1, sizeof(*c->tokens));
    c->token_len = calloc(n ? n : 1, sizeof(*c->token_len));
    if (!c->tokens || !c->token_len)
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    for (i = 0; i < n; i++) {
        const char *s = list ? it->valuestring : default_tokens[i];
        size_t len = strlen(s);

        if (list)
            it = it->next;
        for (k = 0; k < len; k++)
            if (is_token_sep((unsigned char)s[k]))
                break;
        if (!len || k < len)
            return nh_errorf(err, NH_EINVAL,
                             "%s: 'boilerplate_classes' entries must be "
                             "non-empty words without '-', '_' or spaces "
                             "(got \"%s\")",
                             where, s);
        if (!(c->tokens[i] = malloc(len + 1)))
            return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
        for (k = 0; k <= len; k++)
            c->tokens[i][k] = (char)lower((unsigned char)s[k]);
        c->token_len[i] = len;
        c->ntokens = i + 1;
    }
    return 0;
}

static int
extract_init(const cJSON *params, const char *where, void **conf,
             struct nh_error *err)
{
    static const char *const known[] = {
        "detect",    "title",     "min_chars",           "max_link_density",
        "min_links", "max_depth", "boilerplate_classes", NULL,
    };
    static const char *const titles[] = {"prepend", "meta", "drop", NULL};
    struct extract_conf *c;
    const cJSON *list;
    const char *title;
    int rc;

    if ((rc = cfg_check_keys(params, where, known, err)) < 0)
        return rc;
    if (!(c = calloc(1, sizeof(*c))))
        return nh_errorf(err, NH_ENOMEM, "%s: out of memory", where);
    if ((rc = cfg_bool(params, where, "detect", false, &c->detect, err)) < 0 ||
        (rc = cfg_str(params, where, "title", "prepend", titles, &title, err)) <
            0 ||
        (rc = cfg_int(params, where, "min_chars", 1, 1, 1L << 30, &c->min_chars,
                      err)) < 0 ||
        (rc = cfg_num(params, where, "max_link_density", 0.5, 0.0, 1.0,
                      &c->max_link_density, err)) < 0 ||
        (rc = cfg_int(params, where, "min_links", 2, 1, 1L << 30, &c->min_links,
                      err)) < 0 ||
        (rc = cfg_int(params, where, "max_depth", 512, 16, 1L << 20,
                      &c->max_depth, err)) < 0 ||
        (rc = cfg_strlist(params, where, "boilerplate_classes", &list, err)) <
            0 ||
        (rc = load_tokens(c, list, where, err)) < 0) {
        extract_free(c);
        return rc;
    }
    c->title = !strcmp(title, "meta")   ? TITLE_META
               : !strcmp(title, "drop") ? TITLE_DROP
                                        : TITLE_PREPEND;
    *conf = c;
    return 0;
}

static void *
extract_thread_init(const void *conf)
{
    (void)conf;
    return calloc(1, sizeof(struct extract_tstate));
}

static void
extract_thread_free(void *tstate)
{
    struct extract_tstate *ts = tstate;

    if (!ts)
        return;
    pool_release(&ts->pool);
    free(ts->frames);
    free(ts->scan);
    strbuf_release(&ts->title);
    free(ts);
}

const struct stage_ops stage_extract = {
    .name = "extract",
    .init = extract_init,
    .thread_init = extract_thread_init,
    .thread_free = extract_thread_free,
    .apply = extract_apply,
    .free = extract_free,
};
