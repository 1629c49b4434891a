/* stats.h - per-stage counters of a run, and their JSON form
 *
 * A run's statistics are one struct stage_stats per stage plus one for
 * reading ("read": bad lines, files). Workers fill their own copy per
 * work unit; the driver adds the units up in input order, so the totals
 * are the same for any number of threads.
 */
#ifndef NH_STATS_H
#define NH_STATS_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct reason_count {
    char *reason; /* owned */
    uint64_t n;
};

struct stage_stats {
    uint64_t docs_in, docs_out, bytes_in, bytes_out;
    double seconds; /* thread time spent in the stage */
    struct reason_count *removed;
    size_t nremoved, cap;
    cJSON *extra; /* a stage's own members (stats_json), owned, or NULL */
};

/* Count n removals for reason (copied on first use); 0 or NH_ENOMEM. */
int stats_removed(struct stage_stats *s, const char *reason, uint64_t n);
uint64_t stats_removed_total(const struct stage_stats *s);

/* JSON object {"docs_in":..., "removed": {...}}; NULL on no memory. */
cJSON *stats_to_json(const struct stage_stats *s);
/* Add the same members to an existing object; 0 or NH_ENOMEM. */
int stats_fill_json(cJSON *o, const struct stage_stats *s);
/* Add the counters of a stats_to_json() object into s. */
int stats_add_json(struct stage_stats *s, const cJSON *o);
void stats_release(struct stage_stats *s);

#endif
