/* mix.h - drawing a corpus mixture in given proportions
 *
 * `nh-clean mix` (pipeline/cli-mix.c) measures every document of each
 * source (tokens, documents or bytes), then mix_plan() says how many
 * times each document goes into the mixture so that source i gets
 * weight_i / sum(weights) of the target: every document floor(e) times
 * for e = target_i / total_i epochs, and the fraction by taking
 * documents in the order of XXH3-64(seed, source, ordinal) while the
 * taken measure stays nearest the rest of the target. A small source is
 * thus up-sampled (e > 1), a large one down-sampled, and the same seed
 * always gives the same draw. docs/MIX.md has the report and the token
 * estimate.
 */
#ifndef NH_MIX_H
#define NH_MIX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mix_source {
    const char *name;
    double weight;   /* > 0; normalized over the sources */
    uint64_t ndocs;  /* documents */
    const double *m; /* per document measure (ndocs), caller's */
    double total;    /* sum of m */
    /* out (mix_plan): copies per document (ndocs, malloc'd, caller
     * frees), the target and what was taken */
    uint16_t *count;
    double target, taken, epochs;
};

/* Plan the draw of target (in the measure's unit) from n sources.
 * NH_EINVAL when a source with weight > 0 is empty or a source would
 * need more than 65535 epochs. */
int mix_plan(struct mix_source *s, size_t n, double target, uint64_t seed,
             struct nh_error *err);

/* The documented token estimate of a text: one token per CJK character
 * (cp_is_cjk), one per run of other letters, marks and digits, one per
 * other non-space character (punctuation, symbols). */
uint64_t mix_tokens(const char *text, size_t len);

/* `nh-clean mix` (pipeline/cli-mix.c); returns the exit status. */
int cmd_mix(int argc, char **argv);

#endif
