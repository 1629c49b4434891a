/* hash.c - content hashing over xxHash's XXH3
 *
 * Thin wrappers that fix the hash family naohai uses for content
 * addressing, so callers never depend on xxhash.h directly.
 */
#include "hash.h"

#include <stdio.h>
#include <xxhash.h>

uint64_t
nh_hash64(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

uint64_t
nh_hash64_seed(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

struct nh_h128
nh_hash128(const void *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    struct nh_h128 r = {h.high64, h.low64};

    return r;
}

void
nh_h128_hex(struct nh_h128 h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
}

struct nh_hash_state *
nh_hash128_begin(void)
{
    XXH3_state_t *st = XXH3_createState();

    if (st)
        XXH3_128bits_reset(st);
    return (struct nh_hash_state *)st;
}

void
nh_hash128_update(struct nh_hash_state *st, const void *data, size_t len)
{
    XXH3_128bits_update((XXH3_state_t *)st, data, len);
}

struct nh_h128
nh_hash128_end(struct nh_hash_state *st)
{
    XXH128_hash_t h = XXH3_128bits_digest((XXH3_state_t *)st);
    struct nh_h128 r = {h.high64, h.low64};

    XXH3_freeState((XXH3_state_t *)st);
    return r;
}
