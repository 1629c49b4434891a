/* hash.h - content hashing (xxHash XXH3, from Debian's libxxhash)
 *
 * XXH3-128 names content: shards in the object store, documents for exact
 * deduplication, versions. XXH3-64 is for hash tables and n-gram counting.
 * Not cryptographic: do not use for tokens or secrets.
 */
#ifndef NH_HASH_H
#define NH_HASH_H

#include <stddef.h>
#include <stdint.h>

struct nh_h128 {
    uint64_t hi, lo;
};

uint64_t nh_hash64(const void *data, size_t len);
uint64_t nh_hash64_seed(const void *data, size_t len, uint64_t seed);
struct nh_h128 nh_hash128(const void *data, size_t len);

/* 32 lowercase hex digits plus NUL, big-endian (hi then lo), the same
 * spelling xxhsum uses for XXH128. */
void nh_h128_hex(struct nh_h128 h, char out[33]);

/* Streaming XXH3-128 over several pieces (e.g. a file read in blocks). */
struct nh_hash_state;
struct nh_hash_state *nh_hash128_begin(void);
void nh_hash128_update(struct nh_hash_state *st, const void *data, size_t len);
/* Returns the digest and frees st. */
struct nh_h128 nh_hash128_end(struct nh_hash_state *st);

#endif
