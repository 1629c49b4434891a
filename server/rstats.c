/* rstats.c - the statistics of review campaigns, as pure functions
 *
 * The review ops (docs/REVIEW.md) size samples, allocate them to strata,
 * and report pass rates with intervals, agreement between reviewers and
 * a decision. The arithmetic lives here, apart from the database, so
 * that tests/unit/test-rstats.c can check each formula against numbers
 * worked out by hand. The contracts and the sources of the formulas are
 * in rstats.h.
 */
#include "rstats.h"
#include "err.h"

#include <math.h>
#include <stdlib.h>

/* Acklam's coefficients: a rational function of q = p - 1/2 in the
 * central region, of sqrt(-2 log p) in the tails. */
static const double ack_a[6] = {
    -3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
    1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00,
};
static const double ack_b[5] = {
    -5.447609879822406e+01, 1.615858368580409e+02,  -1.556989798598866e+02,
    6.680131188771972e+01,  -1.328068155288572e+01,
};
static const double ack_c[6] = {
    -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
    -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00,
};
static const double ack_d[4] = {
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e+00,
    3.754408661907416e+00,
};
#define ACK_P_LOW 0.02425

/* c[0] x^(n-1) + ... + c[n-1], by Horner's rule */
static double
horner(const double *c, size_t n, double x)
{
    double y = 0.0;
    size_t i;

    for (i = 0; i < n; i++)
        y = y * x + c[i];
    return y;
}

/* Acklam's lower tail, p < ACK_P_LOW; the result is negative */
static double
ack_tail(double p)
{
    double r = sqrt(-2.0 * log(p));

    return horner(ack_c, 6, r) / (horner(ack_d, 4, r) * r + 1.0);
}

double
rstats_norm_quantile(double p)
{
    double x, e, u;

    if (!(p > 0.0 && p < 1.0))
        return NAN;
    if (p < ACK_P_LOW) {
        x = ack_tail(p);
    } else if (p > 1.0 - ACK_P_LOW) {
        x = -ack_tail(1.0 - p);
    } else {
        double q = p - 0.5, r = q * q;

        x = horner(ack_a, 6, r) * q / (horner(ack_b, 5, r) * r + 1.0);
    }
    /* one Halley step on Phi(x) - p, Phi(x) = erfc(-x/sqrt 2) / 2 */
    e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
    return x - u / (1.0 + x * u / 2.0);
}

double
rstats_z(double confidence)
{
    if (!(confidence > 0.0 && confidence < 1.0))
        return NAN;
    return rstats_norm_quantile((1.0 + confidence) / 2.0);
}

/* ceil(x), treating x within 1e-9 above an integer as that integer */
static double
ceil_tolerant(double x)
{
    double f = floor(x);

    return x - f <= 1e-9 ? f : f + 1.0;
}

uint64_t
rstats_cochran(double margin, double confidence, double p, uint64_t population)
{
    double z = rstats_z(confidence), n0, n;

    if (!(margin > 0.0 && margin < 1.0) || isnan(z) || !(p >= 0.0 && p <= 1.0))
        return 0;
    n0 = z * z * p * (1.0 - p) / (margin * margin);
    if (population > 0)
        n = n0 / (1.0 + (n0 - 1.0) / (double)population);
    else
        n = n0;
    n = ceil_tolerant(n);
    if (n < 1.0)
        n = 1.0;
    if (population > 0 && n >= (double)population)
        return population;
    if (n >= 18446744073709551615.0)
        return UINT64_MAX;
    return (uint64_t)n;
}

void
rstats_wilson(uint64_t successes, uint64_t n, double z, double *lo, double *hi)
{
    double nn, p, z2, centre, half, denom;

    if (n == 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    if (successes > n)
        successes = n;
    nn = (double)n;
    p = (double)successes / nn;
    z2 = z * z;
    denom = 1.0 + z2 / nn;
    centre = p + z2 / (2.0 * nn);
    half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
    *lo = successes == 0 ? 0.0 : fmax(0.0, (centre - half) / denom);
    *hi = successes == n ? 1.0 : fmin(1.0, (centre + half) / denom);
}

double
rstats_rule_of_three(uint64_t n)
{
    return n < 3 ? 1.0 : 3.0 / (double)n;
}

int
rstats_stratified(const struct rstats_stratum *s, size_t k, double z,
                  struct rstats_estimate *out)
{
    struct rstats_estimate e = {NAN, NAN, 0.0, 1.0, 0, 0};
    double Nsum = 0.0, pst = 0.0, var = 0.0, half;
    size_t h;

    if (!(z >= 0.0) || isinf(z))
        return NH_EINVAL;
    for (h = 0; h < k; h++) {
        if (s[h].accepted > s[h].n || s[h].n > s[h].N)
            return NH_EINVAL;
        if (s[h].n > 0) {
            Nsum += (double)s[h].N;
            e.n += s[h].n;
            e.strata++;
        }
    }
    if (e.strata == 0) {
        *out = e;
        return 0;
    }
    for (h = 0; h < k; h++) {
        double W, ph, nh, fpc;

        if (s[h].n == 0)
            continue;
        W = (double)s[h].N / Nsum;
        nh = (double)s[h].n;
        ph = (double)s[h].accepted / nh;
        fpc = 1.0 - nh / (double)s[h].N;
        pst += W * ph;
        var += W * W * fpc * ph * (1.0 - ph) / (nh >= 2.0 ? nh - 1.0 : 1.0);
    }
    half = z * sqrt(var);
    e.p = pst;
    e.var = var;
    e.lo = fmax(0.0, pst - half);
    e.hi = fmin(1.0, pst + half);
    *out = e;
    return 0;
}

double
rstats_neyman_weight(uint64_t N_h, double p_h)
{
    if (isnan(p_h))
        return NAN;
    p_h = fmin(1.0, fmax(0.0, p_h));
    return (double)N_h * sqrt(p_h * (1.0 - p_h));
}

int
rstats_largest_remainder(const uint64_t *N_h, const double *weight_h, size_t k,
                         uint64_t n, uint64_t *n_h)
{
    double *quota = NULL, W;
    uint64_t total = 0, left, given;
    size_t h;
    int use_N = 0, capped, ret = 0;

    for (h = 0; h < k; h++) {
        if (!(weight_h[h] >= 0.0) || isinf(weight_h[h]))
            return NH_EINVAL;
        if (total > UINT64_MAX - N_h[h])
            return NH_ETOOBIG;
        total += N_h[h];
    }
    if (k == 0)
        return 0;
    quota = calloc(k, sizeof(*quota));
    if (!quota)
        return NH_ENOMEM;
    left = n < total ? n : total;

    /* A stratum is still open while n_h < N_h; open strata hold 0 until
     * the capping rounds end. A round shares what is left over the open
     * strata; any whose share reaches its N_h is capped at N_h, and the
     * rest is shared again. The round that caps nothing stands. */
    for (h = 0; h < k; h++)
        n_h[h] = 0;
    do {
        uint64_t R = left;

        capped = 0;
        W = 0.0;
        for (h = 0; h < k; h++)
            if (n_h[h] < N_h[h])
                W += use_N ? (double)N_h[h] : weight_h[h];
        if (W <= 0.0 && !use_N) {
            use_N = 1; /* every open weight is 0: share by N_h */
            for (h = 0; h < k; h++)
                if (n_h[h] < N_h[h])
                    W += (double)N_h[h];
        }
        for (h = 0; h < k; h++) {
            double w = use_N ? (double)N_h[h] : weight_h[h];

            if (n_h[h] >= N_h[h]) {
                quota[h] = -1.0;
                continue;
            }
            quota[h] = R > 0 && W > 0.0 ? (double)R * w / W : 0.0;
            if (quota[h] >= (double)N_h[h] && N_h[h] <= left) {
                n_h[h] = N_h[h];
                quota[h] = -1.0;
                left -= N_h[h];
                capped = 1;
            }
        }
    } while (capped);

    /* Floors of the quotas of the open strata, then one more each to the
     * largest remainders until the total is reached. */
    given = 0;
    for (h = 0; h < k; h++) {
        if (n_h[h] >= N_h[h])
            continue;
        n_h[h] = (uint64_t)floor(quota[h]);
        if (n_h[h] > N_h[h])
            n_h[h] = N_h[h];
        quota[h] -= (double)n_h[h];
        given += n_h[h];
    }
    /* floating noise could give more than left: take back the smallest
     * remainders first (never expected, but the total is a contract) */
    while (given > left) {
        size_t best = k;

        for (h = 0; h < k; h++)
            if (n_h[h] > 0 && n_h[h] < N_h[h] &&
                (best == k || quota[h] < quota[best]))
                best = h;
        if (best == k)
            break;
        n_h[best]--;
        quota[best] += 1.0;
        given--;
    }
    while (given < left) {
        size_t best = k;

        for (h = 0; h < k; h++)
            if (n_h[h] < N_h[h] && quota[h] >= 0.0 &&
                (best == k || quota[h] > quota[best]))
                best = h;
        if (best == k) {
            ret = NH_EINVAL; /* unreachable: left <= open capacity */
            break;
        }
        n_h[best]++;
        quota[best] = -1.0; /* one extra at most */
        given++;
    }
    free(quota);
    return ret;
}

int
rstats_cohen(const unsigned *a, const unsigned *b, size_t n, unsigned C,
             double *kappa)
{
    uint64_t *marg, agree = 0;
    double po, pe = 0.0, nn = (double)n;
    size_t i;
    unsigned c;
    int degenerate = 0;

    if (C == 0)
        return NH_EINVAL;
    for (i = 0; i < n; i++)
        if (a[i] >= C || b[i] >= C)
            return NH_EINVAL;
    if (n < 2) {
        *kappa = NAN;
        return 0;
    }
    marg = calloc(2 * (size_t)C, sizeof(*marg)); /* A's C, then B's C */
    if (!marg)
        return NH_ENOMEM;
    for (i = 0; i < n; i++) {
        marg[a[i]]++;
        marg[C + b[i]]++;
        agree += a[i] == b[i];
    }
    for (c = 0; c < C; c++) {
        pe += ((double)marg[c] / nn) * ((double)marg[C + c] / nn);
        if (marg[c] == n && marg[C + c] == n)
            degenerate = 1;
    }
    free(marg);
    po = (double)agree / nn;
    *kappa = degenerate ? NAN : (po - pe) / (1.0 - pe);
    return 0;
}

int
rstats_fleiss(const uint64_t *counts, size_t n, unsigned C, double *kappa)
{
    double *tot, M = 0.0, disagree = 0.0, items = 0.0, pq = 0.0;
    size_t i;
    unsigned c;
    int degenerate = 0;

    if (C == 0)
        return NH_EINVAL;
    tot = calloc(C, sizeof(*tot)); /* ratings per category, kept items */
    if (!tot)
        return NH_ENOMEM;
    for (i = 0; i < n; i++) {
        const uint64_t *x = counts + i * C;
        double m = 0.0, d = 0.0;

        for (c = 0; c < C; c++)
            m += (double)x[c];
        if (m < 2.0)
            continue;
        for (c = 0; c < C; c++) {
            d += (double)x[c] * (m - (double)x[c]);
            tot[c] += (double)x[c];
        }
        disagree += d / m;
        M += m;
        items += 1.0;
    }
    for (c = 0; c < C && items >= 2.0; c++) {
        double pc = tot[c] / M;

        if (tot[c] == M)
            degenerate = 1;
        pq += pc * (1.0 - pc);
    }
    free(tot);
    if (items < 2.0 || degenerate)
        *kappa = NAN;
    else /* mbar - 1 = (M - items) / items */
        *kappa = 1.0 - disagree / ((M - items) * pq);
    return 0;
}

enum rstats_verdict
rstats_majority(uint64_t accepts, uint64_t rejects)
{
    if (accepts == 0 && rejects == 0)
        return RSTATS_NONE;
    return accepts > rejects ? RSTATS_ACCEPT : RSTATS_REJECT;
}

const char *
rstats_decision(double lo, double hi, double threshold)
{
    if (isnan(lo) || isnan(hi) || isnan(threshold))
        return "continue";
    if (lo >= threshold)
        return "accept";
    if (hi < threshold)
        return "reject";
    return "continue";
}
