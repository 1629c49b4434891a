/* arena.c - bump allocator for things that die together
 *
 * Chunks form a singly linked list, newest first; an allocation that does
 * not fit the head chunk starts a new one (or a dedicated one when it is
 * larger than the chunk size).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *
arena_alloc(struct arena *a, size_t n)
{
    size_t csize = a->chunk_size ? a->chunk_size : 64 * 1024;
    struct arena_chunk *c = a->head;
    void *p;

    if (n > SIZE_MAX - 15)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (!c || c->size - c->used < n) {
        size_t size = n > csize ? n : csize;

        if (size > SIZE_MAX - sizeof(*c))
            return NULL;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = size;
        /* a dedicated big chunk goes second, so the head keeps filling */
        if (a->head && size > csize) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    p = c->data + c->used;
    c->used += n;
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void
arena_reset(struct arena *a)
{
    size_t csize = a->chunk_size ? a->chunk_size : 64 * 1024;
    struct arena_chunk *c, *next, *keep = NULL;

    /* keep the oldest regular-sized chunk, the last one of its size in
     * the list; dedicated big chunks all go, even one inserted after it */
    for (c = a->head; c; c = next) {
        next = c->next;
        if (c->size <= csize) {
            free(keep);
            keep = c;
        } else {
            free(c);
        }
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
}

void
arena_release(struct arena *a)
{
    struct arena_chunk *c, *next;

    for (c = a->head; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}
