/* sample.h - drawing a review sample in one streaming pass
 *
 * Every document (a line of the given shard objects, in order) gets the
 * key XXH3-64 of (its bytes, seeded with the seed) mixed with its
 * ordinal; a sample of n is the n smallest keys: a uniform sample
 * without replacement that the same (shards, seed) always reproduce
 * (bottom-k sampling). With strata, each stratum keeps its own n
 * smallest keys in a bounded heap while its size N_h is counted; after
 * the pass the allocation (rstats.h) says how many each stratum gives.
 * Memory is O(n x strata), never the shards.
 *
 * The chosen items come back in key order (a random review order), each
 * with where its line is, its stratum, id and, for removed documents,
 * removed_by / reason / duplicate_of.
 */
#ifndef NH_SAMPLE_H
#define NH_SAMPLE_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAMPLE_MAX_STRATA 1000
#define SAMPLE_MAX_ITEMS 1000000

struct sample_spec {
    uint64_t seed;
    uint64_t n;         /* items wanted; 0: from margin (Cochran) */
    double margin;      /* with n == 0: e.g. 0.05 */
    double confidence;  /* e.g. 0.95 */
    const char *strata; /* top-level field naming the stratum, or NULL */
    bool neyman;        /* else proportional allocation */
    double (*prior)(const char *stratum, void *arg); /* Neyman p_h */
    void *prior_arg;
    const char *removed_by; /* audit: only lines whose removed_by is this */
    const char *reason;     /* audit: and whose reason is this (or NULL) */
    bool augmented_only;    /* only lines whose meta has "augmented_from" */
};

struct sample_item {
    uint64_t key;
    uint32_t shard; /* index into the objects given */
    uint64_t offset, length;
    char *stratum;                                     /* NULL without strata */
    char *doc_id, *removed_by, *reason, *duplicate_of; /* or NULL */
};

struct sample_stratum {
    char *name;
    uint64_t N, n; /* population, allocated */
};

struct sample {
    struct sample_item *items; /* in key order */
    size_t nitems;
    struct sample_stratum *strata;
    size_t nstrata;
    uint64_t population; /* documents that could be drawn */
};

/* Draw from the shard objects (hashes in data_dir's object store). */
int sample_draw(const char *data_dir, const char *const *objects,
                size_t nobjects, const struct sample_spec *spec,
                struct sample *out, struct nh_error *err);

void sample_release(struct sample *s);

/* Read the line at (offset, length) of object into a malloc'd NUL-
 * terminated string (*out). */
int sample_read_line(const char *data_dir, const char *object, uint64_t offset,
                     uint64_t length, char **out, struct nh_error *err);

#endif
