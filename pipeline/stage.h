/* stage.h - the pipeline stage interface and the document a stage sees
 *
 * Adding a stage:
 *   1. write pipeline/stage-NAME.c defining `const struct stage_ops
 *      stage_NAME` (init/apply/free, optional thread state);
 *   2. add one line to stage_table[] in pipeline/stages.c;
 *   3. document its parameters and defaults in docs/stages/NAME.md and add
 *      a row to the table in docs/STAGES.md;
 *   4. add tests/unit/test-stage-NAME.c with Chinese and English cases.
 *
 * Threading: init() runs once, before any worker starts; the conf it
 * makes is read-only afterwards and shared by all workers. Each worker
 * thread has its own struct stage_ctx per stage (scratch buffers and the
 * optional per-thread state), so apply() needs no locks.
 */
#ifndef NH_STAGE_H
#define NH_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "strbuf.h"

/* One document on its way through the stages. The driver owns it. */
struct doc {
    cJSON *obj;         /* the whole record; unknown fields ride along */
    struct strbuf text; /* current text (UTF-8 unless bad_utf8) */
    const char *id;     /* obj's "id" (owned by obj), never NULL */
    const char *source; /* obj's "source" or "" */
    bool bad_utf8;      /* text holds invalid UTF-8 (normalize repairs) */
    size_t in_bytes;    /* text length when the document was read */
};

/* Replace the text with the contents of sb by swapping buffers: sb then
 * holds the old text (its scratch storage is reused, nothing is freed). */
static inline void
doc_swap_text(struct doc *d, struct strbuf *sb)
{
    strbuf_swap(&d->text, sb);
}

/* d->obj's "meta" object, created if absent; NULL on allocation failure
 * or when "meta" exists and is not an object. */
cJSON *doc_meta(struct doc *d);

/* Per worker thread, per stage. */
struct stage_ctx {
    void *tstate;          /* from ops->thread_init, or NULL */
    struct strbuf scratch; /* free for apply() to use */
    struct strbuf scratch2;
};

/* The shape of a global stage's keys and how the driver joins them (see
 * stage_ops.join_spec). */
struct join_spec {
    size_t bands, band_size; /* band keys per document, bytes per band key */
    bool by_quality;         /* a double (higher is better) follows */
    double verify;           /* > 0: candidates need similarity >= verify */
    const char *reason;      /* for dropped documents, e.g. "near_duplicate" */
    bool families; /* a document is never dropped as a duplicate of one
                      of its own family (join.h) */
};

enum stage_verdict {
    STAGE_KEEP = 0,
    STAGE_DROP = 1,
};

struct stage_ops {
    const char *name; /* the "op" in the pipeline config */

    /* Parse and validate params (the stage's config object, never NULL;
     * {"op": NAME} alone means all defaults) into *conf. On a bad value
     * return NH_EINVAL with err naming the field, e.g.
     *   "stages[2] (filter.rules): 'min_chars' must be >= 0".
     * where is the "stages[2] (filter.rules)" prefix to use. */
    int (*init)(const cJSON *params, const char *where, void **conf,
                struct nh_error *err);

    /* Optional: per-thread state, freed with thread_free. */
    void *(*thread_init)(const void *conf);
    void (*thread_free)(void *tstate);

    /* Judge (and possibly rewrite) one document. Return STAGE_KEEP, or
     * STAGE_DROP with *reason set to a static rule name (e.g. "too_short")
     * that becomes the stats key and the removed record's "reason". May
     * add fields to d->obj (a dropped document keeps them in removed/).
     * A negative NH_E* is a hard failure (out of memory) and stops the
     * run. */
    int (*apply)(const void *conf, struct stage_ctx *ctx, struct doc *d,
                 const char **reason);

    void (*free)(void *conf);

    /* Global stages (apply == NULL) judge each document against all the
     * others (deduplication). The driver calls key() for every document
     * reaching the stage, in the worker threads; the key is
     * join.bands band keys of join.band_size bytes each, then, with
     * join.by_quality, the document's quality as a double. The global
     * pass (pipeline/join.c) then joins documents that share a key in
     * the same band into clusters (transitively), keeps one document
     * per cluster (the first in input order, or the one with the highest
     * quality, ties to the first) and drops the others with join.reason,
     * "duplicate_of" (the kept id) and "cluster" (a number shared by the
     * cluster's dropped records: 1, 2, ... in input order of each
     * cluster's first dropped member). With join.verify > 0, two
     * candidates are joined only when similarity() of their texts is at
     * least join.verify. join_spec() fills the shape for conf, once per
     * run. */
    void (*join_spec)(const void *conf, struct join_spec *js);
    int (*key)(const void *conf, struct stage_ctx *ctx, struct doc *d,
               void *key);
    /* Optional (join.verify): the similarity of two texts in [0, 1] into
     * *sim; 0 or NH_ENOMEM. tstate is from thread_init. */
    int (*similarity)(const void *conf, void *tstate, const char *a,
                      size_t alen, const char *b, size_t blen, double *sim);
};

/* The key size of a global stage with configuration conf. */
static inline size_t
stage_key_size(const struct stage_ops *ops, const void *conf)
{
    struct join_spec js = {0};

    ops->join_spec(conf, &js);
    return js.bands * js.band_size + (js.by_quality ? sizeof(double) : 0);
}

/* Look up an op by name; NULL when unknown. */
const struct stage_ops *stage_find(const char *name);

/* All known ops, NULL-terminated. */
extern const struct stage_ops *const stage_table[];

#endif
