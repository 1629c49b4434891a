/* test-hash.c - unit tests for common/hash.c
 *
 * Content hashes name shards and documents on disk, so their values must
 * never drift. The expected digests below were computed with xxhsum 0.8.1
 * (Debian package xxhash): `xxhsum -H2 FILE` for XXH3-128 and
 * `xxhsum -H3 FILE` for XXH3-64, over the inputs built by pattern() and
 * the literal strings, and are checked against the one-shot, the hex
 * spelling and the streaming interface (split at every offset).
 */
#include "hash.h"

#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The test input of n bytes: byte i is i mod 251. */
static unsigned char *
pattern(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    size_t i;

    if (p)
        for (i = 0; i < n; i++)
            p[i] = (unsigned char)(i % 251);
    return p;
}

static const struct {
    size_t len;
    const char *h128, *h64;
} known[] = {
    /* lengths chosen to cover each XXH3 code path: 0, 1-3, 4-8, 9-16,
     * 17-128, 129-240 and the long-input loop */
    {0, "99aa06d3014798d86001c324468d497f", "2d06800538d394c2"},
    {1, "a6cd5e9392000f6ac44bdff4074eecdb", "c44bdff4074eecdb"},
    {3, "e3b55f57945a17cf5f4299fc161c9cbb", "5f4299fc161c9cbb"},
    {4, "eb70bf5fc779e9e6a6111d53e80a3db5", "60dab036a58211f2"},
    {8, "e1e4432a62217fe4cfd50c61c8bb98c1", "3a1c2d7c85af88f8"},
    {9, "16c769d83e4aebce907931979dca3746", "e9612598145bb9dc"},
    {16, "72950631827607e2842812cc870dcae2", "8355e3a6f61770db"},
    {17, "685bc458b37d057fc06e233df7729217", "9ef341a99de37328"},
    {128, "14792fc3af88dc6c05321a0b64d67b41", "85c6174c7ff4c46b"},
    {129, "dd5e74ac6b45f54ebc30b63382b09a3b", "ec7642b431ba3e5a"},
    {240, "65b5be86da5540e7c92b68e16f83bbb6", "375a384d957fe865"},
    {241, "1da1cb61bcb8a2a102e8cd95421c6d02", "02e8cd95421c6d02"},
    {1024, "d0ac1f7b93bf57b9e5d78bafa45b2aa5", "e5d78bafa45b2aa5"},
    {5000, "b92ec02c39d33ce7b418500fc42320ee", "b418500fc42320ee"},
};

TEST(known_128)
{
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        unsigned char *p = pattern(known[i].len);
        char hex[33];

        if (!p)
            continue;
        nh_h128_hex(nh_hash128(p, known[i].len), hex);
        if (strcmp(hex, known[i].h128))
            printf("  len %zu\n", known[i].len);
        CHECK_STR(hex, known[i].h128);
        free(p);
    }
}

TEST(known_64)
{
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        unsigned char *p = pattern(known[i].len);
        char hex[17];

        if (!p)
            continue;
        snprintf(hex, sizeof(hex), "%016llx",
                 (unsigned long long)nh_hash64(p, known[i].len));
        CHECK_STR(hex, known[i].h64);
        free(p);
    }
}

TEST(known_strings)
{
    static const unsigned char zeros[1000];
    char hex[33];

    nh_h128_hex(nh_hash128("a", 1), hex);
    CHECK_STR(hex, "a96faf705af16834e6c632b61e964e1f");
    nh_h128_hex(nh_hash128("abc", 3), hex);
    CHECK_STR(hex, "06b05ab6733a618578af5f94892f3950");
    nh_h128_hex(nh_hash128("中文", 6), hex);
    CHECK_STR(hex, "e488e3b4925a7257a29d0eeb66ee134a");
    nh_h128_hex(nh_hash128(zeros, sizeof(zeros)), hex);
    CHECK_STR(hex, "3fb94aea6d09b97224c1ea6074dd588c");
    CHECK(nh_hash64("中文", 6) == 0x8dbce87fe32cdda6ull);
    CHECK(nh_hash64(zeros, sizeof(zeros)) == 0x24c1ea6074dd588cull);
    /* NULL with length 0 is the empty input */
    nh_h128_hex(nh_hash128(NULL, 0), hex);
    CHECK_STR(hex, "99aa06d3014798d86001c324468d497f");
}

TEST(matches_xxh3)
{
    unsigned char *p = pattern(3000);
    size_t n, bad = 0;

    if (!p)
        return;
    for (n = 0; n <= 3000; n += (n < 300 ? 1 : 97)) {
        XXH128_hash_t x = XXH3_128bits(p, n);
        struct nh_h128 h = nh_hash128(p, n);

        if (h.hi != x.high64 || h.lo != x.low64)
            bad++;
        if (nh_hash64(p, n) != XXH3_64bits(p, n))
            bad++;
        if (nh_hash64_seed(p, n, 0) != nh_hash64(p, n))
            bad++;
        if (nh_hash64_seed(p, n, 42) != XXH3_64bits_withSeed(p, n, 42))
            bad++;
    }
    CHECK(bad == 0);
    /* the seed matters */
    CHECK(nh_hash64_seed(p, 100, 1) != nh_hash64_seed(p, 100, 2));
    free(p);
}

TEST(hex_spelling)
{
    struct nh_h128 h = {0x0123456789abcdefull, 0xfedcba9876543210ull};
    struct nh_h128 z = {0, 1};
    XXH128_canonical_t canon;
    XXH128_hash_t x;
    char hex[33], want[33];
    int i;

    nh_h128_hex(h, hex);
    CHECK_STR(hex, "0123456789abcdeffedcba9876543210");
    CHECK(strlen(hex) == 32);
    nh_h128_hex(z, hex); /* leading zeros are kept */
    CHECK_STR(hex, "00000000000000000000000000000001");
    /* the same spelling as xxHash's canonical (big-endian) form */
    x = XXH3_128bits("abc", 3);
    XXH128_canonicalFromHash(&canon, x);
    for (i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", canon.digest[i]);
    h.hi = x.high64;
    h.lo = x.low64;
    nh_h128_hex(h, hex);
    CHECK_STR(hex, want);
}

static struct nh_h128
stream(const unsigned char *p, size_t n, const size_t *cuts, size_t ncuts)
{
    struct nh_hash_state *st = nh_hash128_begin();
    size_t i, at = 0;

    if (!st) {
        struct nh_h128 zero = {0, 0};

        CHECK(st != NULL);
        return zero;
    }
    for (i = 0; i < ncuts; i++) {
        nh_hash128_update(st, p + at, cuts[i] - at);
        at = cuts[i];
    }
    nh_hash128_update(st, p + at, n - at);
    return nh_hash128_end(st);
}

static int
same(struct nh_h128 a, struct nh_h128 b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

TEST(stream_one_split)
{
    size_t n = 2500, k, bad = 0;
    unsigned char *p = pattern(n);
    struct nh_h128 one;

    if (!p)
        return;
    one = nh_hash128(p, n);
    /* every split point, across XXH3's internal 256-byte buffer and
     * 1024-byte blocks */
    for (k = 0; k <= n; k++)
        if (!same(stream(p, n, &k, 1), one))
            bad++;
    CHECK(bad == 0);
    free(p);
}

TEST(stream_two_splits)
{
    size_t n = 1100, a, b, bad = 0;
    unsigned char *p = pattern(n);
    struct nh_h128 one;

    if (!p)
        return;
    one = nh_hash128(p, n);
    for (a = 0; a <= n; a += 7)
        for (b = a; b <= n; b += 13) {
            size_t cuts[2] = {a, b};

            if (!same(stream(p, n, cuts, 2), one))
                bad++;
        }
    CHECK(bad == 0);
    free(p);
}

TEST(stream_pieces)
{
    size_t n = 70000, i, piece, bad = 0;
    unsigned char *p = pattern(n);
    struct nh_h128 one;

    if (!p)
        return;
    one = nh_hash128(p, n);
    /* many equal pieces, including one byte at a time */
    for (piece = 1; piece <= 70000; piece = piece * 3 + 1) {
        struct nh_hash_state *st = nh_hash128_begin();

        if (!st)
            break;
        for (i = 0; i < n; i += piece)
            nh_hash128_update(st, p + i, n - i < piece ? n - i : piece);
        if (!same(nh_hash128_end(st), one))
            bad++;
    }
    CHECK(bad == 0);
    free(p);
}

TEST(stream_empty)
{
    struct nh_hash_state *st = nh_hash128_begin();
    char hex[33];

    CHECK(st != NULL);
    if (!st)
        return;
    nh_hash128_update(st, "", 0);
    nh_hash128_update(st, NULL, 0);
    nh_h128_hex(nh_hash128_end(st), hex);
    CHECK_STR(hex, "99aa06d3014798d86001c324468d497f");
    /* a state with nothing fed at all */
    st = nh_hash128_begin();
    if (st) {
        nh_h128_hex(nh_hash128_end(st), hex);
        CHECK_STR(hex, "99aa06d3014798d86001c324468d497f");
    }
}

TEST(stream_known)
{
    unsigned char *p = pattern(5000);
    size_t cuts[3] = {1, 1000, 4097};
    char hex[33];

    if (!p)
        return;
    nh_h128_hex(stream(p, 5000, cuts, 3), hex);
    CHECK_STR(hex, "b92ec02c39d33ce7b418500fc42320ee");
    free(p);
}

int
main(void)
{
    RUN(known_128);
    RUN(known_64);
    RUN(known_strings);
    RUN(matches_xxh3);
    RUN(hex_spelling);
    RUN(stream_one_split);
    RUN(stream_two_splits);
    RUN(stream_pieces);
    RUN(stream_empty);
    RUN(stream_known);
    return test_summary();
}
