/* stage-dedup-exact.c - drop exact duplicates across the whole run
 *
 * A global stage: the driver hashes every document's text with XXH3-128
 * in the worker threads (key); the global pass (pipeline/join.c) joins
 * documents with equal hashes, one band of 16 bytes. The first document
 * with a given hash is kept; each later one is dropped and names the kept
 * one in "duplicate_of". Runs after normalize, so texts that differ only
 * in width forms, whitespace or control characters count as the same.
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

static void
dedup_join_spec(const void *conf, struct join_spec *js)
{
    (void)conf;
    js->bands = 1;
    js->band_size = sizeof(struct nh_h128);
    js->reason = "exact_duplicate";
}

const struct stage_ops stage_dedup_exact = {
    .name = "dedup.exact",
    .init = dedup_init,
    .join_spec = dedup_join_spec,
    .key = dedup_key,
};
