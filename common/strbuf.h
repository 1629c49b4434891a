/* strbuf.h - growable byte buffer with a hard size limit
 *
 * A strbuf owns sb->buf (malloc'd). sb->buf[sb->len] is always '\0' once
 * anything has been added, so the contents can be used as a C string when
 * they hold no NUL. Growing past sb->max fails with NH_ETOOBIG instead of
 * allocating, so hostile input gets an error, not an out-of-memory.
 *
 *   struct strbuf sb = STRBUF_INIT;
 *   if (strbuf_add(&sb, p, n) < 0) ...
 *   strbuf_release(&sb);
 */
#ifndef NH_STRBUF_H
#define NH_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#define STRBUF_DEFAULT_MAX ((size_t)1 << 32) /* 4 GiB */

struct strbuf {
    char *buf;
    size_t len;
    size_t alloc;
    size_t max; /* hard limit on len; 0 means STRBUF_DEFAULT_MAX */
};

#define STRBUF_INIT                                                            \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

void strbuf_init(struct strbuf *sb, size_t max);

/* Make room for extra more bytes (plus the NUL): 0, NH_ENOMEM or
 * NH_ETOOBIG. */
int strbuf_grow(struct strbuf *sb, size_t extra);

int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Append s as a JSON string literal, quotes included. */
int strbuf_add_json_str(struct strbuf *sb, const char *s, size_t len);

/* The contents as a C string; "" for an empty, never-grown buffer. */
const char *strbuf_str(const struct strbuf *sb);

/* Keep the allocation, drop the contents. */
void strbuf_reset(struct strbuf *sb);
void strbuf_setlen(struct strbuf *sb, size_t len);

/* Exchange the contents of two buffers (cheap: pointers only). */
void strbuf_swap(struct strbuf *a, struct strbuf *b);

/* Free the contents; sb is then empty and reusable. */
void strbuf_release(struct strbuf *sb);

/* Hand the buffer to the caller (who frees it); sb is then empty. Never
 * returns NULL unless allocation fails. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

#endif
