/* driver.h - run a pipeline config over sharded input, resumably
 *
 * A pipeline is the parsed config: global settings and a list of stages.
 * The stages are cut into segments at each global stage (one that sees
 * all documents, such as dedup.exact): segment k runs its local stages
 * on every work unit in parallel and computes the keys of the global
 * stage that ends it; a single-threaded pass then decides that stage;
 * segment k+1 applies the decisions and goes on. Every (segment, unit)
 * result is written under OUT/.work with a temporary name and renamed,
 * its stats file last, so a killed run restarts from what is complete.
 * The last step concatenates the units' outputs, in input order, into
 * size-capped shards in OUT/data and OUT/removed: the output does not
 * depend on the number of threads.
 */
#ifndef NH_DRIVER_H
#define NH_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "input.h"
#include "stage.h"

struct pstage {
    const struct stage_ops *ops;
    void *conf;
    char where[96]; /* "stages[2] (filter.rules)" for messages */
    char *name;     /* "name" from the config, or the op */
};

struct segment {
    size_t first, count; /* local stages of the segment */
    long global;         /* stage index of the global stage ending it, -1 */
};

struct pipeline {
    char *text_field;
    uint64_t shard_bytes;
    int zstd_level; /* 0: plain JSONL output */
    size_t max_doc_bytes;
    struct pstage *stages;
    size_t nstages;
    struct segment *segs;
    size_t nsegs;
    char config_hash[33];
    bool repairs_utf8; /* a normalize stage repairs invalid UTF-8 */
};

/* The built-in pipeline used when no --config is given. */
extern const char pipeline_default_json[];

/* Parse and validate a config (JSON text). Errors name the field; they
 * are NH_EINVAL. p is owned by the caller: pipeline_release(). */
int pipeline_parse(struct pipeline *p, const char *json, size_t len,
                   const char *origin, struct nh_error *err);
void pipeline_release(struct pipeline *p);

enum progress_mode { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_JSON };

struct dist;

struct run_opts {
    const char *out;
    int threads;
    enum progress_mode progress;
    size_t memory;           /* bytes for a global pass's sort (--memory) */
    const struct dist *dist; /* NULL: one process; else this rank's view */
};

/* Run p over in into opts->out; resumes a partial run of the same config
 * and inputs. NH_EEXIST (with err) when out holds something else. */
int driver_run(const struct pipeline *p, const struct input_set *in,
               const struct run_opts *opts, struct nh_error *err);

/* Print the per-stage table of a finished run's stats.json. */
int driver_print_summary(const char *out_dir, FILE *fp, struct nh_error *err);

#endif
