/* minhash.h - the parts of the dedup.minhash stage that tests and the
 * benchmark call directly: the LSH band/row choice and signatures
 *
 * The stage itself (pipeline/stage-dedup-minhash.c) is reached through
 * stage_find("dedup.minhash") like every other stage; these functions
 * expose its arithmetic so that it can be checked on its own.
 */
#ifndef NH_MINHASH_H
#define NH_MINHASH_H

#include <stddef.h>
#include <stdint.h>

/* P(s) = 1 - (1 - s^r)^b: the probability that two documents of Jaccard
 * similarity s share at least one of b bands of r rows. */
double minhash_prob(double s, int b, int r);

/* The (b, r) with b * r <= num_perm minimising
 * 0.5 * integral_0^t P(s) ds + 0.5 * integral_t^1 (1 - P(s)) ds. */
void minhash_choose(double threshold, int num_perm, int *bands, int *rows);

/* The num_perm minima of document text (normalised UTF-8) as the stage
 * computes them for conf (from the stage's init). sig holds num_perm
 * values; returns 0 or NH_ENOMEM. */
struct minhash_state;
struct minhash_state *minhash_state_new(const void *conf);
void minhash_state_free(struct minhash_state *st);
int minhash_signature(const void *conf, struct minhash_state *st,
                      const char *text, size_t len, uint64_t *sig);

/* The exact Jaccard similarity of the shingle sets of a and b into *sim
 * (1 for two empty sets); 0 or NH_ENOMEM. */
int minhash_jaccard(const void *conf, struct minhash_state *st, const char *a,
                    size_t alen, const char *b, size_t blen, double *sim);

/* Whether the stage would take character n-grams of this text. */
int minhash_is_cjk_text(const char *text, size_t len);

#endif
