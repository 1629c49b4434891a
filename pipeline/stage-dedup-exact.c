/* stage-dedup-exact.c - drop exact duplicates across the whole run
 *
 * A global stage: the driver hashes every document's text with XXH3-128
 * in the worker threads (key), then calls decide once with all hashes in
 * input order. The first document with a given hash is kept; each later
 * one is dropped and names the kept one in "duplicate_of". Runs after
 * normalize, so texts that differ only in width forms, whitespace or
 * control characters count as the same. Memory: 16 bytes per document
 * for the keys, plus a table of 8 bytes per slot at most half full.
 */
#include "config.h"
#include "hash.h"
#include "stage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
dedup_init(const cJSON *params, const char *where, void **conf,
           struct nh_error *err)
{
    static const char *const keys[] = {NULL};
    int rc = cfg_check_keys(params, where, keys, err);

    *conf = NULL;
    return rc;
}

static int
dedup_key(const void *conf, struct stage_ctx *ctx, struct doc *d, void *key)
{
    struct nh_h128 h = nh_hash128(d->text.buf ? d->text.buf : "", d->text.len);

    (void)conf;
    (void)ctx;
    memcpy(key, &h, sizeof(h));
    return 0;
}

static int
dedup_decide(const void *conf, const void *keys, size_t n, long long *keep_of,
             const char **reason)
{
    const struct nh_h128 *k = keys;
    size_t cap = 16, mask, i;
    int64_t *slot; /* index + 1 of the first record with a hash; 0 = empty */

    (void)conf;
    *reason = "exact_duplicate";
    while (cap < 2 * n)
        cap *= 2;
    slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return NH_ENOMEM;
    mask = cap - 1;
    for (i = 0; i < n; i++) {
        struct nh_h128 h;
        size_t s;

        memcpy(&h, &k[i], sizeof(h));
        s = (size_t)h.lo & mask;
        keep_of[i] = -1;
        for (;;) {
            if (!slot[s]) {
                slot[s] = (int64_t)i + 1;
                break;
            }
            if (!memcmp(&k[slot[s] - 1], &h, sizeof(h))) {
                keep_of[i] = slot[s] - 1;
                break;
            }
            s = (s + 1) & mask;
        }
    }
    free(slot);
    return 0;
}

const struct stage_ops stage_dedup_exact = {
    .name = "dedup.exact",
    .init = dedup_init,
    .key_size = sizeof(struct nh_h128),
    .key = dedup_key,
    .decide = dedup_decide,
};
