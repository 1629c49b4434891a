/* utf8.h - UTF-8 decoding, validation, repair and CJK classification
 *
 * Pure functions over byte ranges; nothing here allocates except
 * utf8_repair(), which appends to a caller-owned strbuf. Unicode
 * normalization lives in the pipeline's normalize stage (utf8proc).
 */
#ifndef NH_UTF8_H
#define NH_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define UTF8_REPLACEMENT 0xFFFDu

/* Decode one code point at s (len > 0 bytes available). Returns the bytes
 * consumed (1..4) and sets *cp. A malformed, overlong, surrogate or
 * truncated sequence consumes 1 byte and sets *cp = UTF8_REPLACEMENT and
 * *bad = true (bad may be NULL). */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp, bool *bad);

/* Encode cp (<= 0x10FFFF, not a surrogate) into out; returns 1..4, or 0
 * for an invalid code point. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Length of the longest valid UTF-8 prefix of s. s is valid iff the
 * result equals len. Fast on ASCII runs. */
size_t utf8_valid_prefix(const char *s, size_t len);

static inline bool
utf8_valid(const char *s, size_t len)
{
    return utf8_valid_prefix(s, len) == len;
}

/* Append s to out with each malformed byte replaced by U+FFFD; returns
 * the number of replacements, or a negative NH_E* from the strbuf. */
long utf8_repair(struct strbuf *out, const char *s, size_t len);

/* Number of code points (malformed bytes count one each). */
size_t utf8_count(const char *s, size_t len);

/* Han ideographs (CJK Unified, extensions A-G, compatibility). */
bool cp_is_han(uint32_t cp);

/* Han, kana, Hangul, bopomofo: scripts written without spaces between
 * words, where the pipeline tokenizes by character. */
bool cp_is_cjk(uint32_t cp);

/* How the tokenizers (dedup.minhash, repetition, the classifier) see a
 * code point: white space (Unicode Z*, the ASCII spaces, U+0085, U+200B,
 * U+FEFF), a CJK character (cp_is_cjk: a token by itself), a word
 * character (letters, marks and digits outside CJK: Unicode L*, M*, N*),
 * or a separator (punctuation, symbols, controls). */
enum cp_token { CP_SEP, CP_SPACE, CP_WORD, CP_CJK };
enum cp_token cp_token_class(uint32_t cp);

/* CJK and full-width punctuation (U+3000-303F, U+FF00-FF65 punctuation,
 * general punctuation quotes and dashes as used in Chinese). */
bool cp_is_cjk_punct(uint32_t cp);

#endif
