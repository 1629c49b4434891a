/* text.h - UTF-8 text laid out in terminal columns (the workbench)
 *
 * Pure functions, no curses: the review reader and every table of the
 * workbench (wb.c, view-*.c) measure and wrap text with them, and
 * tests/unit/test-text.c checks them. A display line is a byte range of
 * the source text, so highlights found in the source (search matches,
 * pipeline placeholders) map onto lines without copying.
 *
 * Widths come from utf8proc_charwidth: CJK and other wide characters
 * take two columns, combining marks none; a control character or an
 * invalid byte takes one column (it is drawn as a placeholder).
 */
#ifndef NH_TEXT_H
#define NH_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* One display line: bytes [start, start + len) of the source, width
 * columns wide (len excludes the newline or the spaces it broke at). */
struct text_line {
    size_t start, len;
    int width;
};

/* A growable array of lines; text_lines_release() frees v. */
struct text_lines {
    struct text_line *v;
    size_t n, cap;
};

#define TEXT_LINES_INIT                                                        \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Decode the character at s (n bytes left): its code point in *cp (-1
 * for an invalid byte) and its length in bytes (>= 1 when n >= 1). */
size_t text_next(const char *s, size_t n, int32_t *cp);

/* Columns the code point takes (-1, an invalid byte, and controls: 1). */
int text_cp_width(int32_t cp);

/* Columns the first len bytes of s take. */
int text_width(const char *s, size_t len);

/* How many bytes of s (len bytes) fit in cols columns without splitting
 * a character; *used (may be NULL) gets their width. */
size_t text_fit(const char *s, size_t len, int cols, int *used);

/* Lay out s (len bytes) in lines at most width columns wide (width >= 1;
 * a wide character in width 1 takes a line of its own). A newline ends a
 * line; Latin words wrap at spaces (the spaces are dropped at the break);
 * a word longer than the line, and text of wide (CJK) characters, break
 * between any two characters. Empty text is one empty line. Appends to
 * *out (reset it first to start over). 0 or NH_ENOMEM. */
int text_wrap(const char *s, size_t len, int width, struct text_lines *out);

void text_lines_reset(struct text_lines *tl);
void text_lines_release(struct text_lines *tl);

/* Find needle (nlen bytes) in s from byte from on, ASCII letters
 * compared without case: the byte offset of the match, or -1. */
long text_find(const char *s, size_t len, size_t from, const char *needle,
               size_t nlen);

/* Find the next pipeline placeholder (`<PHONE>`, `<EMAIL>`: '<', 2 to 32
 * upper-case letters, digits or '_', '>') at or after from: its offset
 * and *plen its length, or -1. */
long text_find_placeholder(const char *s, size_t len, size_t from,
                           size_t *plen);

#endif
