/* stage-dedup-exact.c - drop exact duplicates across the whole run
 *
 * A global stage: the driver hashes every document's text with XXH3-128
 * in the worker threads (key); the global pass (pipeline/join.c) joins
 * documents with equal hashes, one band of 16 bytes. The first document
 * with a given hash is kept; each later one is dropped and names the kept
 * one in "duplicate_of". Runs after normalize, so texts that differ only
 * in width forms, whitespace or control characters count as the same.
 * A document and its own augmented copies are one family (join.h) and
 * never removed as duplicates of each other, unless "families": false.
 */
#include "config.h"
#include "hash.h"
#include "stage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct exact_conf {
    bool families; /* join_spec.families */
};

static void
dedup_free(void *conf)
{
    free(conf);
}

static int
dedup_init(const cJSON *params, const char *where, void **conf,
           struct nh_error *err)
{
    static const char *const keys[] = {"families", NULL};
    struct exact_conf *c;
    bool families;
    int rc;

    *conf = NULL;
    if ((rc = cfg_check_keys(params, where, keys, err)) < 0 ||
        (rc = cfg_bool(params, where, "families", true, &families, err)) < 0)
        return rc;
    if (!(c = malloc(sizeof(*c))))
        return NH_ENOMEM;
    c->families = families;
    *conf = c;
    return 0;
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
    js->families = ((const struct exact_conf *)conf)->families;
    js->bands = 1;
    js->band_size = sizeof(struct nh_h128);
    js->reason = "exact_duplicate";
}

const struct stage_ops stage_dedup_exact = {
    .name = "dedup.exact",
    .init = dedup_init,
    .free = dedup_free,
    .join_spec = dedup_join_spec,
    .key = dedup_key,
};
