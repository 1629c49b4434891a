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
     * others, e.g. deduplication. The driver computes key() for every
     * document reaching the stage, in parallel, then calls decide() once
     * with all keys in input order; decide() sets keep_of[i] = -1 to keep
     * record i, or the index j < i of the record it duplicates to drop it
     * (the driver then adds "duplicate_of": id of j; j > i is allowed, for
     * a stage that keeps a later member of a group). key_size is the
     * size of one key; a stage whose key size depends on its parameters
     * sets key_size_of instead, which the driver asks once per run. */
    size_t key_size;
    size_t (*key_size_of)(const void *conf);
    int (*key)(const void *conf, struct stage_ctx *ctx, struct doc *d,
               void *key);
    int (*decide)(const void *conf, const void *keys, size_t n,
                  long long *keep_of, const char **reason);

    /* Optional, global stages: the driver also gives each dropped record
     * "cluster": a number shared by the records dropped in favour of the
     * same kept one (1, 2, ... in input order of the clusters' first
     * dropped member). */
    bool cluster_ids;
    /* Optional, global stages: add the stage's own members to its entry
     * in stats.json (out already holds docs_in, removed, ...) from the
     * decisions keep_of[0..n). 0 or NH_ENOMEM. */
    int (*stats_json)(const void *conf, const long long *keep_of, size_t n,
                      cJSON *out);
};

/* The key size of a global stage with configuration conf. */
static inline size_t
stage_key_size(const struct stage_ops *ops, const void *conf)
{
    return ops->key_size_of ? ops->key_size_of(conf) : ops->key_size;
}

/* Look up an op by name; NULL when unknown. */
const struct stage_ops *stage_find(const char *name);

/* All known ops, NULL-terminated. */
extern const struct stage_ops *const stage_table[];

#endif
