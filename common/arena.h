/* arena.h - bump allocator for things that die together
 *
 * One arena per document batch, request or model: allocations are never
 * freed one by one; arena_reset() drops them all and keeps the first chunk
 * for reuse, arena_release() frees everything. Returned memory is aligned
 * to 16 bytes and owned by the arena.
 */
#ifndef NH_ARENA_H
#define NH_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    size_t chunk_size; /* default size of new chunks; 0 means 64 KiB */
};

#define ARENA_INIT                                                             \
    {                                                                          \
        NULL, 0                                                                \
    }

/* NULL on allocation failure. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);

void arena_reset(struct arena *a);
void arena_release(struct arena *a);

#endif
