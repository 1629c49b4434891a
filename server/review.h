/* review.h - what other parts of nhd use of the review campaigns
 * (server/op-review.c; docs/REVIEW.md)
 *
 * The augment job (server/jobs.c) makes a campaign on the version it
 * committed, sampling only the augmented documents; dataset.show
 * (server/op-version.c) shows the campaign a version's job made.
 */
#ifndef NH_REVIEW_H
#define NH_REVIEW_H

#include "err.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Create a campaign as review.create does with args (its "args" object);
 * with augmented_only, only documents whose meta has "augmented_from"
 * can be drawn. On success *cid is the campaign and *out its summary
 * (the caller's). Runs its own transaction on db. */
int review_create(sqlite3 *db, const char *data_dir, const cJSON *args,
                  const char *user, bool augmented_only, int64_t *cid,
                  cJSON **out, struct nh_error *err);

/* {"campaign", "state", "stats"} of the campaign made by the job that
 * made version (jobs.campaign), in *out; *out = NULL when there is none. */
int review_of_version(sqlite3 *db, const char *version, cJSON **out,
                      struct nh_error *err);

#endif
