/* utf8.c - UTF-8 decoding, validation, repair and CJK classification
 *
 * The byte-level Unicode helpers every component uses: the JSONL reader
 * validates text with utf8_valid_prefix(), the pipeline stages walk code
 * points with utf8_decode(), and the classifiers below decide whether a
 * text is tokenized by character (CJK) or by word.
 */
#include "utf8.h"

#include <string.h>

#include <utf8proc.h>

size_t
utf8_decode(const char *str, size_t len, uint32_t *cp, bool *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    uint32_t c = s[0], min;
    size_t n, i;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        goto invalid;
    }
    if (len < n)
        goto invalid;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto invalid;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        goto invalid;
    *cp = c;
    return n;
invalid:
    *cp = UTF8_REPLACEMENT;
    if (bad)
        *bad = true;
    return 1;
}

size_t
utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        return 0;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t
utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c;

        /* eight ASCII bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;

            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c >= 0xE1 && c <= 0xEC && i + 2 < len &&
                   (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
            /* the common three-byte case (all of CJK): no overlong or
             * surrogate is possible with these lead bytes */
            i += 3;
        } else if (c >= 0xC2 && c <= 0xDF && i + 1 < len &&
                   (s[i + 1] & 0xC0) == 0x80) {
            i += 2;
        } else {
            uint32_t cp;
            bool bad = false;
            size_t n = utf8_decode(str + i, len - i, &cp, &bad);

            if (bad)
                return i;
            i += n;
        }
    }
    return len;
}

long
utf8_repair(struct strbuf *out, const char *s, size_t len)
{
    static const char repl[] = "\xEF\xBF\xBD";
    long fixed = 0;
    size_t i = 0;
    int rc;

    while (i < len) {
        size_t ok = utf8_valid_prefix(s + i, len - i);

        if ((rc = strbuf_add(out, s + i, ok)) < 0)
            return rc;
        i += ok;
        if (i < len) {
            if ((rc = strbuf_add(out, repl, 3)) < 0)
                return rc;
            fixed++;
            i++;
        }
    }
    return fixed;
}

size_t
utf8_count(const char *s, size_t len)
{
    size_t i = 0, n = 0;

    /* in a valid run every byte that is not a continuation byte starts a
     * code point; each malformed byte after the run counts on its own,
     * as utf8_decode() and utf8_repair() see it */
    while (i < len) {
        size_t end = i + utf8_valid_prefix(s + i, len - i);

        for (; i < end; i++)
            n += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (i < len) {
            n++;
            i++;
        }
    }
    return n;
}

bool
cp_is_han(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* CJK Unified */
           (cp >= 0x3400 && cp <= 0x4DBF) ||   /* Extension A */
           (cp >= 0xF900 && cp <= 0xFAFF) ||   /* Compatibility */
           (cp >= 0x20000 && cp <= 0x323AF) || /* Extensions B-H */
           cp == 0x3007;                       /* ideographic zero */
}

bool
cp_is_cjk(uint32_t cp)
{
    return cp_is_han(cp) || (cp >= 0x3040 && cp <= 0x30FF) || /* kana */
           (cp >= 0x31F0 && cp <= 0x31FF) ||                  /* kana ext */
           (cp >= 0xAC00 && cp <= 0xD7AF) ||                  /* Hangul */
           (cp >= 0x1100 && cp <= 0x11FF) ||                  /* jamo */
           (cp >= 0x3100 && cp <= 0x312F) ||                  /* bopomofo */
           (cp >= 0x3130 && cp <= 0x318F) || /* Hangul compatibility jamo */
           (cp >= 0x31A0 && cp <= 0x31BF) || /* bopomofo extended */
           (cp >= 0xFF66 && cp <= 0xFF9F) || /* half-width katakana */
           (cp >= 0x1B000 && cp <= 0x1B16F); /* kana supplement, ext. */
}

bool
cp_is_cjk_punct(uint32_t cp)
{
    if (cp >= 0x3000 && cp <= 0x303F)
        return true;
    if (cp >= 0xFF01 && cp <= 0xFF65)
        return !((cp >= 0xFF10 && cp <= 0xFF19) ||
                 (cp >= 0xFF21 && cp <= 0xFF3A) ||
                 (cp >= 0xFF41 && cp <= 0xFF5A));
    return cp == 0x2014 || cp == 0x2026 || cp == 0x2018 || cp == 0x2019 ||
           cp == 0x201C || cp == 0x201D || cp == 0x00B7 || cp == 0xFE30 ||
           (cp >= 0xFE10 && cp <= 0xFE19) || (cp >= 0xFE50 && cp <= 0xFE6B);
}

enum cp_token
cp_token_class(uint32_t cp)
{
    utf8proc_category_t c;

    if (cp < 0x80) {
        if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
            return CP_SPACE;
        if ((cp | 0x20) - 'a' < 26 || cp - '0' < 10)
            return CP_WORD;
        return CP_SEP;
    }
    if (cp_is_cjk(cp))
        return CP_CJK;
    if (cp == 0x85 || cp == 0xFEFF || cp == 0x200B)
        return CP_SPACE;
    c = utf8proc_category((utf8proc_int32_t)cp);
    if (c >= UTF8PROC_CATEGORY_ZS && c <= UTF8PROC_CATEGORY_ZP)
        return CP_SPACE;
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO ? CP_WORD
                                                                  : CP_SEP;
}
