/* strbuf.c - growable byte buffer with a hard size limit
 *
 * The one string builder of naohai: JSON output, text rewriting in the
 * pipeline stages and message assembly in the server all use it. Growth is
 * geometric and always checked against the buffer's limit first.
 */
#include "strbuf.h"

#include "err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strbuf_init(struct strbuf *sb, size_t max)
{
    sb->buf = NULL;
    sb->len = 0;
    sb->alloc = 0;
    sb->max = max;
}

int
strbuf_grow(struct strbuf *sb, size_t extra)
{
    size_t max = sb->max ? sb->max : STRBUF_DEFAULT_MAX;
    size_t want, n;
    char *p;

    /* len + extra + 1 (the NUL) must not wrap when max is SIZE_MAX */
    if (extra > max || sb->len > max - extra || sb->len + extra == SIZE_MAX)
        return NH_ETOOBIG;
    want = sb->len + extra + 1;
    if (want <= sb->alloc)
        return 0;
    n = sb->alloc ? sb->alloc : 64;
    while (n < want)
        n = n > SIZE_MAX / 2 ? want : n * 2;
    p = realloc(sb->buf, n);
    if (!p)
        return NH_ENOMEM;
    sb->buf = p;
    sb->alloc = n;
    return 0;
}

int
strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    int rc = strbuf_grow(sb, len);

    if (rc < 0)
        return rc;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int
strbuf_addstr(struct strbuf *sb, const char *s)
{
    return strbuf_add(sb, s, strlen(s));
}

int
strbuf_addch(struct strbuf *sb, int c)
{
    int rc = strbuf_grow(sb, 1);

    if (rc < 0)
        return rc;
    sb->buf[sb->len++] = (char)c;
    sb->buf[sb->len] = '\0';
    return 0;
}

int
strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return NH_EINVAL;
    rc = strbuf_grow(sb, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

int
strbuf_add_json_str(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    int rc;

    /* worst case: every byte becomes \u00XX */
    if (len > (SIZE_MAX - 2) / 6)
        return NH_ETOOBIG;
    rc = strbuf_grow(sb, len + 2);
    if (rc < 0)
        return rc;
    sb->buf[sb->len++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c;
        char esc[6];
        size_t elen = 2;

        /* skip eight plain bytes at a time: none below 0x20, no '"', no
         * '\\' (the has-zero-byte test of each condition) */
        while (i + 8 <= len) {
            const uint64_t ones = 0x0101010101010101ull;
            const uint64_t highs = 0x8080808080808080ull;
            uint64_t w, q, b;

            memcpy(&w, s + i, 8);
            q = w ^ (ones * '"');
            b = w ^ (ones * '\\');
            if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
                 ((b - ones) & ~b)) &
                highs)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((rc = strbuf_add(sb, s + run, i - run)) < 0)
            return rc;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((rc = strbuf_add(sb, esc, elen)) < 0)
            return rc;
        run = i + 1;
    }
    if ((rc = strbuf_add(sb, s + run, len - run)) < 0)
        return rc;
    return strbuf_addch(sb, '"');
}

const char *
strbuf_str(const struct strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

void
strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

void
strbuf_setlen(struct strbuf *sb, size_t len)
{
    if (!sb->buf || len >= sb->alloc)
        return;
    sb->len = len;
    sb->buf[len] = '\0';
}

void
strbuf_swap(struct strbuf *a, struct strbuf *b)
{
    struct strbuf t = *a;

    *a = *b;
    *b = t;
}

void
strbuf_release(struct strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = 0;
    sb->alloc = 0;
}

char *
strbuf_detach(struct strbuf *sb, size_t *len)
{
    char *p;

    if (!sb->buf && strbuf_grow(sb, 0) < 0)
        return NULL;
    p = sb->buf;
    p[sb->len] = '\0';
    if (len)
        *len = sb->len;
    sb->buf = NULL;
    sb->len = 0;
    sb->alloc = 0;
    return p;
}
