/* augment.h - data augmentation operators for `nh-clean augment`
 *
 * An operator file (OPS.json, docs/AUGMENT.md) lists operators:
 *   {"ops": [{"op": "char_noise", "rate": 0.05}, {"op": "window"}, ...]}
 * augment_doc() makes the augmented copies of one document: the number
 * of copies is floor(ratio) plus one more with probability frac(ratio);
 * each copy picks one operator (by "weight", default 1) and applies it.
 * Every choice comes from a generator seeded by (seed, document id,
 * copy number), so the output depends only on the seed and the input,
 * never on the order of other documents or on threads. All operators
 * work on whole code points (a base character with its combining marks,
 * variation selectors and ZWJ sequences), so no UTF-8 sequence is split.
 *
 * Each augmented record is a copy of the original with a new "id"
 * (ORIG#aN, or ORIG#aN.cM for the M-th window), the new text, and in
 * "meta": "augmented_from" (the original id), "augment_op",
 * "augment_params" (the operator's parameters with defaults filled in),
 * "augment_seed", and op-specific details ("masked_spans", "window",
 * "recombined_with").
 *
 * Adding an operator: a parse and an apply function in augment.c, one
 * line in the operator table there, a section in docs/AUGMENT.md and a
 * case in tests/unit/test-augment.c.
 *
 * Ownership: struct augment is the caller's (augment_free). It keeps
 * state between documents (OpenCC handles; the previous document of
 * each source, for recombine), so one augment serves one thread.
 */
#ifndef NH_AUGMENT_H
#define NH_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

struct augment;

/* Parse an operator file (json, len bytes; where names it in messages,
 * e.g. "ops.json"). A bad value is NH_EINVAL naming the field:
 *   ops.json: ops[1] (span_mask): 'rate' must be between 0 and 1 (got 7) */
int augment_parse(struct augment **out, const char *json, size_t len,
                  const char *where, struct nh_error *err);

void augment_free(struct augment *a);

/* Called with each augmented record, which the callee then owns. */
typedef int (*augment_emit_fn)(void *arg, cJSON *record);

/* Per-operator counts since augment_parse: copies made by each op. */
cJSON *augment_counts(const struct augment *a);

/* Augment one document: orig is its record (not modified), id its id,
 * source its source ("" when none), text its text (valid UTF-8).
 * Returns the number of records emitted, or a negative NH_E* (the
 * emit callback's error is passed through). */
int augment_doc(struct augment *a, uint64_t seed, double ratio,
                const cJSON *orig, const char *id, const char *source,
                const char *text, size_t len, augment_emit_fn emit, void *arg,
                struct nh_error *err);

/* `nh-clean augment` (pipeline/cli-augment.c); returns the exit status. */
int cmd_augment(int argc, char **argv);

#endif
