/* rstats.h - the statistics of review campaigns, as pure functions
 *
 * docs/REVIEW.md ("Statistics" and the sampling size) says what a review
 * campaign reports; this module computes it from plain numbers: no SQLite,
 * no I/O, no global state, so every formula is unit-tested against values
 * worked out by hand (tests/unit/test-rstats.c). The review ops gather the
 * counts from the database and call these.
 *
 *   rstats_z                 two-sided normal quantile for a confidence
 *   rstats_cochran           sample size for a margin of error
 *   rstats_wilson            score interval of a proportion
 *   rstats_rule_of_three     95% upper bound when nothing failed
 *   rstats_stratified        stratified estimate of a proportion
 *   rstats_neyman_weight     the Neyman allocation weight of a stratum
 *   rstats_largest_remainder integer allocation of a sample to strata
 *   rstats_cohen             Cohen's kappa, two rating slots
 *   rstats_fleiss            Fleiss' kappa, m_i >= 2 ratings per item
 *   rstats_majority          an item's verdict from its votes
 *   rstats_decision          accept / reject / continue
 *
 * Nothing here allocates memory it hands back; the functions that need
 * scratch space allocate and free it themselves (NH_ENOMEM if that fails).
 * Functions that can fail return 0 or a negative NH_E* code
 * (common/err.h) and write their out-parameters only on success.
 * Counts above 2^53 lose precision where they are turned into doubles.
 */
#ifndef NH_RSTATS_H
#define NH_RSTATS_H

#include <stddef.h>
#include <stdint.h>

/* The standard normal quantile Phi^-1(p) for 0 < p < 1 (NAN outside),
 * to about 1e-15 relative error: Acklam's rational approximation (P. J.
 * Acklam, "An algorithm for computing the inverse normal cumulative
 * distribution function", 2003; relative error below 1.15e-9) followed
 * by one Halley step on erfc() from libm. */
double rstats_norm_quantile(double p);

/* The two-sided critical value z for a confidence level in (0, 1):
 * Phi^-1((1 + confidence) / 2); 0.95 -> 1.959964. NAN outside (0, 1). */
double rstats_z(double confidence);

/* Cochran's sample size for estimating a proportion (Sampling
 * Techniques, 1977, 4.4): n0 = z^2 p(1-p) / e^2, then the finite
 * population correction n = ceil(n0 / (1 + (n0 - 1) / N)). population 0
 * means infinite (n = ceil(n0)). The result is at least 1 and at most
 * the population; a value within 1e-9 above an integer counts as that
 * integer (floating noise, not a sample unit). margin in (0, 1),
 * confidence in (0, 1), p in [0, 1]; 0 for arguments outside those.
 * margin 0.05, confidence 0.95, p 0.5: 385 (infinite), 278 (N = 1000). */
uint64_t rstats_cochran(double margin, double confidence, double p,
                        uint64_t population);

/* The Wilson score interval (Wilson 1927) for successes out of n at
 * critical value z: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) /
 * (1 + z^2/n), clipped to [0, 1], *lo exactly 0 when successes is 0 and
 * *hi exactly 1 when successes is n. n 0 gives [0, 1]; successes above
 * n count as n. */
void rstats_wilson(uint64_t successes, uint64_t n, double z, double *lo,
                   double *hi);

/* The "rule of three": 3/n bounds a proportion from above at 95% when
 * none of n trials failed. At most 1; n 0 gives 1. */
double rstats_rule_of_three(uint64_t n);

/* One stratum of a stratified sample: its population size N, the
 * number n of its sampled items that have a verdict (accepted plus
 * rejected), and how many of them were accepted. */
struct rstats_stratum {
    uint64_t N;
    uint64_t n;
    uint64_t accepted;
};

/* A proportion with its interval. */
struct rstats_estimate {
    double p;      /* the estimate; NAN when nothing was judged */
    double var;    /* its estimated variance; NAN when p is */
    double lo, hi; /* p -+ z sqrt(var), clipped to [0, 1] */
    uint64_t n;    /* judged items, all strata */
    size_t strata; /* strata that took part (n_h > 0) */
};

/* The stratified estimate (Cochran 1977, 5.3) of the pass rate over k
 * strata at critical value z:
 *   p_st = sum W_h p_h,  p_h = accepted_h / n_h,
 *   Var  = sum W_h^2 (1 - n_h/N_h) p_h (1 - p_h) / max(n_h - 1, 1).
 * W_h = N_h / N' where N' sums N_h over the strata with n_h > 0 only: a
 * stratum nobody has judged yet is left out and the weights are
 * renormalised over the others (the estimate is then of the judged
 * strata's population). With no judged stratum at all, p and var are NAN
 * and the interval is [0, 1]. NH_EINVAL (out untouched) when a stratum
 * has accepted > n or n > N, or z is negative or not finite. */
int rstats_stratified(const struct rstats_stratum *s, size_t k, double z,
                      struct rstats_estimate *out);

/* The Neyman allocation weight N_h S_h with S_h = sqrt(p_h (1 - p_h)),
 * p_h the prior pass rate of the stratum (clamped to [0, 1]). */
double rstats_neyman_weight(uint64_t N_h, double p_h);

/* Allocate a sample of n over k strata in proportion to weight_h, in
 * integers, by largest remainders, never giving a stratum more than its
 * N_h: a stratum whose share would exceed N_h gets N_h and the rest is
 * shared again over the others. The total is min(n, sum N_h). Ties in
 * the remainders go to the lower index. When every stratum that can
 * still take items has weight 0 (e.g. Neyman with prior pass rates of 0
 * or 1), what is left is shared in proportion to N_h. Proportional
 * allocation: weight_h = N_h; Neyman: rstats_neyman_weight(). n_h[] gets
 * k entries. NH_EINVAL for a negative or non-finite weight, NH_ETOOBIG
 * when sum N_h overflows, NH_ENOMEM. */
int rstats_largest_remainder(const uint64_t *N_h, const double *weight_h,
                             size_t k, uint64_t n, uint64_t *n_h);

/* Cohen's kappa (Cohen 1960) for n items each rated once in slot A
 * (a[i]) and once in slot B (b[i]), categories 0..C-1:
 *   kappa = (p_o - p_e) / (1 - p_e),  p_e = sum_c pA_c pB_c
 * with each slot's own marginals. *kappa is NAN when undefined: fewer
 * than 2 items, or p_e = 1 (both slots put every item in the one same
 * category, so perfect agreement is all chance). Agreement on every item
 * with at least two categories in use gives 1. NH_EINVAL (kappa
 * untouched) for C 0 or a category >= C; NH_ENOMEM. */
int rstats_cohen(const unsigned *a, const unsigned *b, size_t n, unsigned C,
                 double *kappa);

/* Fleiss' kappa for n items over C categories; counts[i*C + c] is how
 * many ratings put item i in category c, and item i has m_i = sum_c
 * counts[i*C + c] ratings. Items with m_i < 2 are left out. With n'
 * items left, M = sum m_i, mbar = M/n', p_c = sum_i counts[i*C+c] / M:
 *   kappa = 1 - [sum_i sum_c x_ic (m_i - x_ic) / m_i]
 *               / [n' (mbar - 1) sum_c p_c (1 - p_c)]
 * This is Fleiss' (1971) kappa when every m_i is equal, and for varying
 * m_i the form of Fleiss, Levin & Paik (Statistical Methods for Rates and
 * Proportions, 3rd ed., 2003) for two categories, summed over the
 * categories. *kappa is NAN when undefined: fewer than 2 items left, or
 * p_e = sum_c p_c^2 = 1 (every rating in one category). NH_EINVAL
 * (kappa untouched) for C 0; NH_ENOMEM. */
int rstats_fleiss(const uint64_t *counts, size_t n, unsigned C, double *kappa);

enum rstats_verdict {
    RSTATS_NONE = 0, /* no accept or reject vote */
    RSTATS_ACCEPT,
    RSTATS_REJECT,
};

/* An item's verdict from its current non-skip votes: the majority, a tie
 * counting as reject (conservative); none without votes. */
enum rstats_verdict rstats_majority(uint64_t accepts, uint64_t rejects);

/* The campaign decision for an interval [lo, hi] and a threshold:
 * "accept" when lo >= threshold, "reject" when hi < threshold, else
 * "continue" (also when any argument is NAN). A static string. */
const char *rstats_decision(double lo, double hi, double threshold);

#endif
