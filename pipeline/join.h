/* join.h - the global pass of a dedup stage: join documents that share
 * a key, in bounded memory, on one machine or across MPI ranks
 *
 * The worker threads write, per work unit, one record per document to a
 * keys file: the stage's key (struct join_spec: bands band keys, then
 * the quality), then u64 text bytes, u64 offset of the document's line in
 * the unit's documents file, u64 family (join_family), u32 id length,
 * the id. join_run() reads
 * those files, band by band: (band key, document number) pairs are
 * sorted in memory up to the memory budget and in sorted runs on disk
 * beyond it, then merged; documents with equal keys are joined in a
 * union-find (one uint32 per document), and each unit gets a decisions
 * file for the driver ("0" keep, or ["reason","kept id",cluster]).
 * docs/PIPELINE.md ("Global passes") has the design and its costs.
 */
#ifndef NH_JOIN_H
#define NH_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "err.h"
#include "stage.h"
#include "stats.h"
#include "strbuf.h"

enum join_file { JOIN_KEYS, JOIN_DOCS, JOIN_DECISIONS };

struct join_job {
    const struct stage_ops *ops;
    const void *conf;
    const char *where;      /* "cfg.json: stages[3] (dedup.minhash)" */
    const char *text_field; /* for verify: the text in the docs files */
    size_t nunits;
    /* path of unit u's file of the given kind */
    void (*path)(void *arg, size_t u, enum join_file kind, struct strbuf *sb);
    void *arg;
    size_t memory;           /* bytes for sorting one band's keys */
    const char *tmpdir;      /* sorted runs go here */
    const struct dist *dist; /* NULL: one process */
    size_t unit_lo, unit_hi; /* this rank's units (all without dist) */

    /* out (rank 0): the stage's counters and its "clusters",
     * "cluster_sizes" and "runs" in st->extra */
    struct stage_stats st;
};

/* The record layout after the key. */
#define JOIN_TRAILER 28 /* u64 bytes, u64 offset, u64 family, u32 id length */

/* A document's family: the XXH3-64 of its meta.augmented_from (set by
 * `nh-clean augment`, pipeline/augment.h) or else of its id, so that a
 * document and its own augmented copies share one; bit 0 is set for an
 * augmented copy. With join_spec.families, a document whose cluster
 * keeps a member of its family is kept too when one of the two is an
 * augmented copy: augmentations are never removed as duplicates of their
 * original (or of each other); two originals that only share an id are
 * deduplicated as usual, and so are copies against other documents. */
uint64_t join_family(const cJSON *obj, const char *id);

int join_run(struct join_job *j, struct nh_error *err);

#endif
