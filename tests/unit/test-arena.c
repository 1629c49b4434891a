/* test-arena.c - unit tests for common/arena.c
 *
 * The bump allocator hands out 16-byte aligned blocks that die together.
 * These tests check the contract in arena.h: alignment, independence of
 * blocks, large requests in dedicated chunks, reuse of the first chunk
 * after arena_reset(), failure (NULL) instead of wrap-around for absurd
 * sizes, and the strdup helpers.
 */
#include "arena.h"

#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

TEST(alignment)
{
    struct arena a = ARENA_INIT;
    size_t n, misaligned = 0, nulls = 0;

    for (n = 0; n < 300; n++) {
        void *p = arena_alloc(&a, n % 37);

        if (!p)
            nulls++;
        else if (!aligned16(p))
            misaligned++;
    }
    CHECK(nulls == 0);
    CHECK(misaligned == 0);
    arena_release(&a);
    CHECK(a.head == NULL);
}

TEST(blocks_independent)
{
    struct arena a = ARENA_INIT;
    unsigned char *p[500];
    size_t sz[500], i, j, bad = 0;

    /* small chunks force many chunk changes */
    a.chunk_size = 1000;
    for (i = 0; i < 500; i++) {
        sz[i] = 1 + (i * 37) % 200;
        p[i] = arena_alloc(&a, sz[i]);
        CHECK(p[i] != NULL);
        if (!p[i]) {
            arena_release(&a);
            return;
        }
        memset(p[i], (int)(i & 0xff), sz[i]);
    }
    for (i = 0; i < 500; i++) {
        if (!aligned16(p[i]))
            bad++;
        for (j = 0; j < sz[i]; j++)
            if (p[i][j] != (unsigned char)(i & 0xff))
                bad++;
    }
    CHECK(bad == 0);
    arena_release(&a);
}

TEST(zero_size)
{
    struct arena a = ARENA_INIT;
    void *p = arena_alloc(&a, 0);
    void *q = arena_alloc(&a, 0);

    CHECK(p != NULL && q != NULL);
    CHECK(p != q);
    CHECK(aligned16(p) && aligned16(q));
    arena_release(&a);
}

TEST(consecutive)
{
    struct arena a = ARENA_INIT;
    char *p = arena_alloc(&a, 1);
    char *q = arena_alloc(&a, 16);
    char *r = arena_alloc(&a, 17);
    char *s = arena_alloc(&a, 1);

    /* a bump allocator: rounded sizes, no gaps within a chunk */
    CHECK(q == p + 16);
    CHECK(r == q + 16);
    CHECK(s == r + 32);
    arena_release(&a);
}

TEST(big)
{
    struct arena a = ARENA_INIT;
    char *small1, *small2, *big, *big2;
    size_t i, bad = 0;

    small1 = arena_alloc(&a, 16);
    big = arena_alloc(&a, (size_t)1 << 20); /* 16 times the chunk size */
    small2 = arena_alloc(&a, 16);
    CHECK(small1 && big && small2);
    if (!small1 || !big || !small2)
        return;
    CHECK(aligned16(big));
    memset(big, 'b', (size_t)1 << 20);
    /* the big block got its own chunk; the regular one keeps filling */
    CHECK(small2 == small1 + 16);
    big2 = arena_alloc(&a, (size_t)3 << 20);
    CHECK(big2 != NULL && aligned16(big2));
    if (big2)
        memset(big2, 'c', (size_t)3 << 20);
    for (i = 0; i < (size_t)1 << 20; i++)
        if (big[i] != 'b')
            bad++;
    CHECK(bad == 0);
    CHECK(arena_alloc(&a, 16) == small2 + 16);
    arena_release(&a);
}

TEST(big_first)
{
    struct arena a = ARENA_INIT;
    char *big, *p, *q;

    /* a big request into an empty arena, then small ones */
    big = arena_alloc(&a, 200000);
    p = arena_alloc(&a, 10);
    q = arena_alloc(&a, 10);
    CHECK(big && p && q);
    CHECK(q == p + 16);
    if (big)
        memset(big, 1, 200000);
    arena_reset(&a);
    p = arena_alloc(&a, 10);
    CHECK(p != NULL && aligned16(p));
    arena_release(&a);
}

TEST(exact_chunk)
{
    struct arena a = ARENA_INIT;
    char *p, *q;

    a.chunk_size = 256;
    p = arena_alloc(&a, 256); /* fills a chunk exactly */
    q = arena_alloc(&a, 1);   /* so this needs a new one */
    CHECK(p && q);
    if (p)
        memset(p, 'x', 256);
    CHECK(q && aligned16(q));
    CHECK(q < p || q >= p + 256);
    arena_release(&a);
}

TEST(overflow)
{
    struct arena a = ARENA_INIT;

    /* sizes that would wrap around when rounded up to 16 must fail,
     * not return a 16-byte block */
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 1) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 14) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 15) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 20) == NULL);
    /* the arena is still usable */
    CHECK(arena_alloc(&a, 8) != NULL);
    arena_release(&a);
}

TEST(reset_reuse)
{
    struct arena a = ARENA_INIT;
    char *p1, *p2;
    int i;

    arena_reset(&a); /* empty arena: nothing to do */
    CHECK(a.head == NULL);
    p1 = arena_alloc(&a, 100);
    for (i = 0; i < 10000; i++) /* ~1 MiB: many chunks */
        arena_alloc(&a, 100);
    arena_reset(&a);
    p2 = arena_alloc(&a, 100);
    CHECK(p1 != NULL && p2 == p1);
    /* and again, many times: memory is reused, not leaked */
    for (i = 0; i < 50; i++) {
        int k;

        for (k = 0; k < 2000; k++)
            arena_alloc(&a, 64);
        arena_reset(&a);
    }
    CHECK(arena_alloc(&a, 100) == p1);
    arena_release(&a);
    CHECK(a.head == NULL);
    /* release leaves a usable, empty arena */
    CHECK(arena_alloc(&a, 1) != NULL);
    arena_release(&a);
    arena_release(&a); /* twice is harmless */
}

TEST(reset_keeps_first_chunk)
{
    struct arena a = ARENA_INIT;
    char *p1, *p2;
    int i;

    /* "arena_reset() drops them all and keeps the first chunk": a big
     * dedicated chunk allocated while the first chunk was the only one
     * must not be what survives the reset */
    p1 = arena_alloc(&a, 100);
    CHECK(arena_alloc(&a, (size_t)1 << 20) != NULL);
    for (i = 0; i < 2000; i++)
        arena_alloc(&a, 100);
    arena_reset(&a);
    p2 = arena_alloc(&a, 100);
    CHECK(p1 != NULL && p2 == p1);
    arena_release(&a);
}

TEST(strndup)
{
    struct arena a = ARENA_INIT;
    char *s, *t, *u;

    s = arena_strndup(&a, "hello world", 5);
    CHECK_STR(s, "hello");
    t = arena_strndup(&a, "xyz", 0);
    CHECK_STR(t, "");
    u = arena_strdup(&a, "中文");
    CHECK_STR(u, "中文");
    CHECK(s && aligned16(s) && t && aligned16(t));
    /* binary-safe copy of exactly n bytes, NUL-terminated */
    s = arena_strndup(&a, "a\0b", 3);
    CHECK(s && memcmp(s, "a\0b\0", 4) == 0);
    /* the copy is independent of the source */
    {
        char src[8] = "abcdefg";

        t = arena_strdup(&a, src);
        src[0] = 'X';
        CHECK_STR(t, "abcdefg");
    }
    arena_release(&a);
}

TEST(strdup_long)
{
    struct arena a = ARENA_INIT;
    char *src = malloc(300001), *s;

    CHECK(src != NULL);
    if (!src)
        return;
    memset(src, 'q', 300000);
    src[300000] = '\0';
    s = arena_strdup(&a, src);
    CHECK(s != NULL && strlen(s) == 300000);
    CHECK(s && memcmp(s, src, 300001) == 0);
    free(src);
    arena_release(&a);
}

int
main(void)
{
    RUN(alignment);
    RUN(blocks_independent);
    RUN(zero_size);
    RUN(consecutive);
    RUN(big);
    RUN(big_first);
    RUN(exact_chunk);
    RUN(overflow);
    RUN(reset_reuse);
    RUN(reset_keeps_first_chunk);
    RUN(strndup);
    RUN(strdup_long);
    return test_summary();
}
