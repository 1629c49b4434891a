/* text.c - UTF-8 text laid out in terminal columns (see text.h)
 *
 * The layout the workbench draws with: widths per character from
 * utf8proc, and a greedy wrapper that remembers the last place a line
 * may break (after a run of spaces, or next to a wide character) and
 * goes back to it when the next character does not fit.
 */
#include "text.h"

#include "err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

size_t
text_next(const char *s, size_t n, int32_t *cp)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t k;

    if (n == 0) {
        *cp = -1;
        return 0;
    }
    k = utf8proc_iterate((const utf8proc_uint8_t *)s,
                         n > 4 ? 4 : (utf8proc_ssize_t)n, &c);
    if (k <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)k;
}

int
text_cp_width(int32_t cp)
{
    int w;

    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
        return 1;
    w = utf8proc_charwidth(cp);
    return w < 0 ? 1 : w;
}

int
text_width(const char *s, size_t len)
{
    size_t i = 0;
    int w = 0;

    while (i < len) {
        int32_t cp;
        i += text_next(s + i, len - i, &cp);
        w += text_cp_width(cp);
    }
    return w;
}

size_t
text_fit(const char *s, size_t len, int cols, int *used)
{
    size_t i = 0;
    int w = 0;

    while (i < len) {
        int32_t cp;
        size_t k = text_next(s + i, len - i, &cp);
        int cw = text_cp_width(cp);
        if (w + cw > cols)
            break;
        w += cw;
        i += k;
    }
    if (used)
        *used = w;
    return i;
}

static int
push(struct text_lines *tl, size_t start, size_t len, int width)
{
    if (tl->n == tl->cap) {
        size_t cap = tl->cap ? tl->cap * 2 : 64;
        struct text_line *v = realloc(tl->v, cap * sizeof(*v));
        if (!v)
            return NH_ENOMEM;
        tl->v = v;
        tl->cap = cap;
    }
    tl->v[tl->n].start = start;
    tl->v[tl->n].len = len;
    tl->v[tl->n].width = width;
    tl->n++;
    return 0;
}

/* Lay out one paragraph s[start, end) (no newline in it). */
static int
wrap_para(const char *s, size_t start, size_t end, int width,
          struct text_lines *out)
{
    size_t ls = start; /* the current line's start */
    size_t i = start;
    int w = 0;
    /* the last break: the line would end at brk_end (width brk_w) and
     * the next start at brk_next */
    size_t brk_end = 0, brk_next = 0;
    int brk_w = 0;
    bool have_brk = false, prev_wide = false;

    while (i < end) {
        int32_t cp;
        size_t k = text_next(s + i, end - i, &cp);
        int cw = text_cp_width(cp);
        bool wide = cw >= 2;

        if (cp == ' ') {
            /* a run of spaces: a break before it, the next line after */
            size_t j = i;
            while (j < end && s[j] == ' ')
                j++;
            if (i > ls) {
                brk_end = i;
                brk_w = w;
                brk_next = j;
                have_brk = true;
            }
            if (w + (int)(j - i) > width) {
                /* the spaces do not fit: break here, drop them */
                int rc = push(out, ls, i - ls, w);
                if (rc < 0)
                    return rc;
                ls = i = j;
                w = 0;
                have_brk = prev_wide = false;
                continue;
            }
            w += (int)(j - i);
            i = j;
            prev_wide = false;
            continue;
        }
        if ((wide || prev_wide) && i > ls) {
            brk_end = brk_next = i;
            brk_w = w;
            have_brk = true;
        }
        if (w + cw > width && i > ls) {
            int rc;
            if (have_brk) {
                rc = push(out, ls, brk_end - ls, brk_w);
                ls = brk_next;
            } else {
                rc = push(out, ls, i - ls, w);
                ls = i;
            }
            if (rc < 0)
                return rc;
            w = text_width(s + ls, i - ls);
            have_brk = false;
        }
        w += cw;
        i += k;
        prev_wide = wide;
    }
    return push(out, ls, end - ls, w);
}

int
text_wrap(const char *s, size_t len, int width, struct text_lines *out)
{
    size_t p = 0;

    if (width < 1)
        width = 1;
    for (;;) {
        const char *nl = memchr(s + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - s) : len;
        int rc = wrap_para(s, p, end, width, out);
        if (rc < 0)
            return rc;
        if (!nl)
            return 0;
        p = end + 1;
        if (p == len)
            return 0;
    }
}

void
text_lines_reset(struct text_lines *tl)
{
    tl->n = 0;
}

void
text_lines_release(struct text_lines *tl)
{
    free(tl->v);
    tl->v = NULL;
    tl->n = tl->cap = 0;
}

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

long
text_find(const char *s, size_t len, size_t from, const char *needle,
          size_t nlen)
{
    size_t i, j;

    if (nlen == 0 || nlen > len)
        return -1;
    for (i = from; i + nlen <= len; i++) {
        for (j = 0; j < nlen; j++)
            if (lower((unsigned char)s[i + j]) !=
                lower((unsigned char)needle[j]))
                break;
        if (j == nlen)
            return (long)i;
    }
    return -1;
}

static bool
is_ph(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

long
text_find_placeholder(const char *s, size_t len, size_t from, size_t *plen)
{
    size_t i, j;

    for (i = from; i < len; i++) {
        if (s[i] != '<')
            continue;
        for (j = i + 1; j < len && j - i <= 33 && is_ph((unsigned char)s[j]);
             j++)
            ;
        if (j < len && s[j] == '>' && j - i - 1 >= 2 && j - i - 1 <= 32) {
            *plen = j - i + 1;
            return (long)i;
        }
    }
    return -1;
}
