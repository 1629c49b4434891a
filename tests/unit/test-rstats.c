/* test-rstats.c - unit tests for server/rstats.c
 *
 * The statistics a review campaign reports (docs/REVIEW.md) checked
 * against values worked out by hand; each test shows the arithmetic in a
 * comment. Reference quantiles are from Python's
 * statistics.NormalDist().inv_cdf. Edge cases pin the documented
 * conventions: n = 0, all raters agreeing on one category (kappa NAN),
 * capped strata, ties.
 */
#include "err.h"
#include "rstats.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

static int
near(double x, double want, double tol)
{
    return fabs(x - want) <= tol;
}

TEST(norm_quantile)
{
    /* statistics.NormalDist().inv_cdf(p), to 1e-12 relative: the Halley
     * step takes Acklam's 1.15e-9 to double precision */
    static const struct {
        double p, x;
    } ref[] = {
        {1e-10, -6.361340902404056}, {1e-5, -4.2648907939228256},
        {0.001, -3.090232306167813}, {0.01, -2.3263478740408408},
        {0.3, -0.5244005127080407},  {0.975, 1.9599639845400536},
        {0.995, 2.5758293035489},    {0.5, 0.0},
    };
    size_t i;

    for (i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
        CHECK(near(rstats_norm_quantile(ref[i].p), ref[i].x,
                   1e-12 * fmax(1.0, fabs(ref[i].x))));
    /* symmetry */
    CHECK(near(rstats_norm_quantile(0.025), -1.9599639845400536, 1e-12));
    CHECK(isnan(rstats_norm_quantile(0.0)));
    CHECK(isnan(rstats_norm_quantile(1.0)));
    CHECK(isnan(rstats_norm_quantile(-0.5)));
    CHECK(isnan(rstats_norm_quantile(NAN)));
}

TEST(z)
{
    CHECK(near(rstats_z(0.95), 1.959964, 5e-7));
    CHECK(near(rstats_z(0.90), 1.6448536269514715, 1e-12));
    CHECK(near(rstats_z(0.99), 2.5758293035489, 1e-12));
    CHECK(isnan(rstats_z(0.0)));
    CHECK(isnan(rstats_z(1.0)));
    CHECK(isnan(rstats_z(1.5)));
}

TEST(cochran)
{
    /* z = 1.959964, n0 = z^2 * 0.25 / 0.0025 = 384.1459 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 0) == 385);
    CHECK(rstats_cochran(0.05, 0.95, 0.5, UINT64_C(100000000)) == 385);
    /* N = 1000: 384.1459 / (1 + 383.1459/1000) = 277.733 -> 278 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 1000) == 278);
    /* N = 100: 384.1459 / 4.831459 = 79.509 -> 80 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 100) == 80);
    /* N = 10000: 384.1459 / 1.03831459 = 369.971 -> 370 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 10000) == 370);
    /* N = 385: 384.1459 / 1.995184 = 192.537 -> 193 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 385) == 193);
    /* N = 1: 384.1459 / 384.1459 = 1 (exactly, not 2 from noise) */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 1) == 1);
    /* N = 2: 384.1459 / 192.573 = 1.9948 -> 2 */
    CHECK(rstats_cochran(0.05, 0.95, 0.5, 2) == 2);
    /* +-3% at 99%: 2.5758293^2 * 0.25 / 0.0009 = 1843.03 -> 1844 */
    CHECK(rstats_cochran(0.03, 0.99, 0.5, 0) == 1844);
    /* p = 0.1, +-2%, N = 5000: n0 = 1.959964^2 * 0.09 / 0.0004 = 864.328,
     * 864.328 / (1 + 863.328/5000) = 737.06 -> 738 */
    CHECK(rstats_cochran(0.02, 0.95, 0.1, 5000) == 738);
    /* p = 0 or 1: n0 = 0, at least one item */
    CHECK(rstats_cochran(0.05, 0.95, 0.0, 0) == 1);
    CHECK(rstats_cochran(0.05, 0.95, 1.0, 1000) == 1);
    /* bad arguments */
    CHECK(rstats_cochran(0.0, 0.95, 0.5, 0) == 0);
    CHECK(rstats_cochran(1.0, 0.95, 0.5, 0) == 0);
    CHECK(rstats_cochran(0.05, 1.0, 0.5, 0) == 0);
    CHECK(rstats_cochran(0.05, 0.95, 1.5, 0) == 0);
    CHECK(rstats_cochran(NAN, 0.95, 0.5, 0) == 0);
}

TEST(wilson)
{
    double z = rstats_z(0.95), lo, hi;

    /* 81/263: p = 0.30798, z^2 = 3.841459,
     * centre = (0.30798 + 3.841459/526) / (1 + 3.841459/263),
     * half = z sqrt(p q / 263 + 3.841459 / (4 * 263^2)) / same
     * = [0.255289, 0.366210] */
    rstats_wilson(81, 263, z, &lo, &hi);
    CHECK(near(lo, 0.2552885198782743, 1e-9));
    CHECK(near(hi, 0.36620957698280016, 1e-9));
    /* 0/10: lo exactly 0, hi = (z^2/20 + z^2/20) / (1 + z^2/10) =
     * 0.384146 / 1.384146 = 0.277533 */
    rstats_wilson(0, 10, z, &lo, &hi);
    CHECK(lo == 0.0);
    CHECK(near(hi, 0.27753279986288915, 1e-9));
    /* 10/10 mirrors it */
    rstats_wilson(10, 10, z, &lo, &hi);
    CHECK(near(lo, 0.7224672001371109, 1e-9));
    CHECK(hi == 1.0);
    /* 1/1: lo = 1 / (1 + z^2) = 0.206549 */
    rstats_wilson(1, 1, z, &lo, &hi);
    CHECK(near(lo, 0.2065493143772375, 1e-9));
    CHECK(hi == 1.0);
    /* n = 0: no information */
    rstats_wilson(0, 0, z, &lo, &hi);
    CHECK(lo == 0.0 && hi == 1.0);
    /* successes > n count as n */
    rstats_wilson(12, 10, z, &lo, &hi);
    CHECK(near(lo, 0.7224672001371109, 1e-9) && hi == 1.0);
}

TEST(rule_of_three)
{
    CHECK(rstats_rule_of_three(0) == 1.0);
    CHECK(rstats_rule_of_three(2) == 1.0);
    CHECK(rstats_rule_of_three(3) == 1.0);
    CHECK(near(rstats_rule_of_three(300), 0.01, 1e-15));
}

TEST(stratified)
{
    double z = rstats_z(0.95);
    struct rstats_stratum s[3] = {
        {600, 20, 18}, /* W 0.6, p 0.9 */
        {400, 10, 5},  /* W 0.4, p 0.5 */
        {1000, 0, 0},  /* not judged yet: left out */
    };
    struct rstats_estimate e;

    /* p_st = 0.6 * 0.9 + 0.4 * 0.5 = 0.74
     * Var = 0.36 (1 - 20/600) 0.09 / 19 + 0.16 (1 - 10/400) 0.25 / 9
     *     = 0.00164842 + 0.00433333 = 0.00598175
     * 0.74 -+ 1.959964 * 0.0773418 = [0.588413, 0.891587] */
    CHECK(rstats_stratified(s, 3, z, &e) == 0);
    CHECK(near(e.p, 0.74, 1e-12));
    CHECK(near(e.var, 0.0059817543859649125, 1e-12));
    CHECK(near(e.lo, 0.5884128529551708, 1e-9));
    CHECK(near(e.hi, 0.8915871470448292, 1e-9));
    CHECK(e.n == 30 && e.strata == 2);
    /* the same without the unjudged stratum */
    CHECK(rstats_stratified(s, 2, z, &e) == 0);
    CHECK(near(e.p, 0.74, 1e-12) && e.strata == 2);

    /* clipped: W 0.5 each, p 1.0 and 0.9;
     * Var = 0 + 0.25 (1 - 10/100) 0.09 / 9 = 0.00225,
     * 0.95 + 1.959964 * 0.047434 = 1.04297 -> 1 */
    {
        struct rstats_stratum c[2] = {{100, 10, 10}, {100, 10, 9}};

        CHECK(rstats_stratified(c, 2, z, &e) == 0);
        CHECK(near(e.p, 0.95, 1e-12));
        CHECK(near(e.var, 0.00225, 1e-12));
        CHECK(near(e.lo, 0.8570307451543158, 1e-9));
        CHECK(e.hi == 1.0);
    }
    /* a census stratum (n = N) has no sampling variance; n_h = 1 uses
     * divisor 1 (and p_h(1-p_h) is 0 there anyway) */
    {
        struct rstats_stratum c[2] = {{10, 10, 4}, {90, 1, 1}};

        /* p = 0.1 * 0.4 + 0.9 * 1 = 0.94, Var 0 */
        CHECK(rstats_stratified(c, 2, z, &e) == 0);
        CHECK(near(e.p, 0.94, 1e-12));
        CHECK(e.var == 0.0);
        CHECK(near(e.lo, 0.94, 1e-12) && near(e.hi, 0.94, 1e-12));
    }
    /* nothing judged */
    {
        struct rstats_stratum c[2] = {{10, 0, 0}, {90, 0, 0}};

        CHECK(rstats_stratified(c, 2, z, &e) == 0);
        CHECK(isnan(e.p) && isnan(e.var));
        CHECK(e.lo == 0.0 && e.hi == 1.0 && e.n == 0 && e.strata == 0);
        CHECK(rstats_stratified(NULL, 0, z, &e) == 0 && isnan(e.p));
    }
    /* invalid: accepted > n, n > N, bad z; out untouched */
    {
        struct rstats_stratum bad1[1] = {{10, 3, 4}};
        struct rstats_stratum bad2[1] = {{10, 11, 4}};

        e.p = 0.5;
        CHECK(rstats_stratified(bad1, 1, z, &e) == NH_EINVAL);
        CHECK(rstats_stratified(bad2, 1, z, &e) == NH_EINVAL);
        CHECK(rstats_stratified(s, 2, NAN, &e) == NH_EINVAL);
        CHECK(rstats_stratified(s, 2, -1.0, &e) == NH_EINVAL);
        CHECK(e.p == 0.5);
    }
}

static int
alloc_is(const uint64_t *N, const double *w, size_t k, uint64_t n,
         const uint64_t *want)
{
    uint64_t got[8];
    size_t h;

    if (rstats_largest_remainder(N, w, k, n, got) != 0)
        return 0;
    for (h = 0; h < k; h++)
        if (got[h] != want[h]) {
            printf("    stratum %zu: got %llu, want %llu\n", h,
                   (unsigned long long)got[h], (unsigned long long)want[h]);
            return 0;
        }
    return 1;
}

TEST(largest_remainder)
{
    /* exact proportional shares: 100 * 500/1000, ... */
    {
        uint64_t N[3] = {500, 300, 200}, want[3] = {50, 30, 20};
        double w[3] = {500, 300, 200};

        CHECK(alloc_is(N, w, 3, 100, want));
    }
    /* 7 over 10/20/70: quotas 0.7, 1.4, 4.9, floors 0 1 4 (5), two
     * more to the largest remainders 0.9 (#2) and 0.7 (#0) */
    {
        uint64_t N[3] = {10, 20, 70}, want[3] = {1, 1, 5};
        double w[3] = {10, 20, 70};

        CHECK(alloc_is(N, w, 3, 7, want));
    }
    /* equal remainders: ties go to the lower index */
    {
        uint64_t N[3] = {1, 1, 1}, want[3] = {1, 1, 0};
        double w[3] = {1, 1, 1};

        CHECK(alloc_is(N, w, 3, 2, want));
    }
    /* capped: quotas 10 and 10, but stratum 0 has only 5; the other
     * gets the remaining 15 */
    {
        uint64_t N[2] = {5, 95}, want[2] = {5, 15};
        double w[2] = {50, 50};

        CHECK(alloc_is(N, w, 2, 20, want));
    }
    /* two capped in one round: quotas 10/10/10 over N 2/3/100, the
     * third gets the remaining 25 */
    {
        uint64_t N[3] = {2, 3, 100}, want[3] = {2, 3, 25};
        double w[3] = {1, 1, 1};

        CHECK(alloc_is(N, w, 3, 30, want));
    }
    /* more asked than there is: everything */
    {
        uint64_t N[2] = {3, 4}, want[2] = {3, 4};
        double w[2] = {3, 4};

        CHECK(alloc_is(N, w, 2, 100, want));
    }
    /* all weights 0: shared by N_h, 8 * 30/40 = 6, 8 * 10/40 = 2 */
    {
        uint64_t N[2] = {30, 10}, want[2] = {6, 2};
        double w[2] = {0, 0};

        CHECK(alloc_is(N, w, 2, 8, want));
    }
    /* stratum 1 takes its 10, then only a weight-0 stratum is open: the
     * remaining 5 go to it */
    {
        uint64_t N[2] = {30, 10}, want[2] = {5, 10};
        double w[2] = {0, 1};

        CHECK(alloc_is(N, w, 2, 15, want));
    }
    /* an empty stratum gets nothing */
    {
        uint64_t N[2] = {0, 10}, want[2] = {0, 5};
        double w[2] = {0, 10};

        CHECK(alloc_is(N, w, 2, 5, want));
    }
    /* Neyman with the 0.5 prior equals proportional: 37 over
     * 500/300/200 -> 18.5, 11.1, 7.4 -> 18 11 7 + 1 to #0 */
    {
        uint64_t N[3] = {500, 300, 200}, want[3] = {19, 11, 7};
        double w[3];
        size_t h;

        for (h = 0; h < 3; h++)
            w[h] = rstats_neyman_weight(N[h], 0.5);
        CHECK(near(w[0], 250.0, 1e-12));
        CHECK(alloc_is(N, w, 3, 37, want));
        for (h = 0; h < 3; h++)
            w[h] = (double)N[h];
        CHECK(alloc_is(N, w, 3, 37, want));
    }
    /* Neyman: S = sqrt(.25) = 0.5 and sqrt(.09) = 0.3, weights 500 and
     * 300, 80 -> 50 and 30 */
    {
        uint64_t N[2] = {1000, 1000}, want[2] = {50, 30};
        double w[2] = {rstats_neyman_weight(1000, 0.5),
                       rstats_neyman_weight(1000, 0.1)};

        CHECK(near(w[1], 300.0, 1e-9));
        CHECK(alloc_is(N, w, 2, 80, want));
        CHECK(rstats_neyman_weight(1000, 1.0) == 0.0);
        CHECK(rstats_neyman_weight(1000, 2.0) == 0.0);
    }
    /* n 0, k 0 */
    {
        uint64_t N[2] = {3, 4}, want[2] = {0, 0};
        double w[2] = {3, 4};

        CHECK(alloc_is(N, w, 2, 0, want));
        CHECK(rstats_largest_remainder(NULL, NULL, 0, 10, NULL) == 0);
    }
    /* the total is always min(n, sum N) and no stratum overflows */
    {
        uint64_t N[5] = {7, 1, 13, 0, 29}, got[5], sum;
        double w[5] = {0.3, 5.0, 1.0, 2.0, 0.01};
        uint64_t n;
        size_t h;
        int ok = 1;

        for (n = 0; n <= 60; n++) {
            if (rstats_largest_remainder(N, w, 5, n, got) != 0)
                ok = 0;
            for (sum = 0, h = 0; h < 5; h++) {
                sum += got[h];
                if (got[h] > N[h])
                    ok = 0;
            }
            if (sum != (n < 50 ? n : 50))
                ok = 0;
        }
        CHECK(ok);
    }
    /* invalid weights, overflowing population */
    {
        uint64_t N[2] = {3, 4}, big[2] = {UINT64_MAX, 1}, got[2] = {9, 9};
        double neg[2] = {-1, 4}, nan_[2] = {NAN, 4}, inf[2] = {INFINITY, 4};
        double ones[2] = {1, 1};

        CHECK(rstats_largest_remainder(N, neg, 2, 5, got) == NH_EINVAL);
        CHECK(rstats_largest_remainder(N, nan_, 2, 5, got) == NH_EINVAL);
        CHECK(rstats_largest_remainder(N, inf, 2, 5, got) == NH_EINVAL);
        CHECK(rstats_largest_remainder(big, ones, 2, 5, got) == NH_ETOOBIG);
        CHECK(got[0] == 9 && got[1] == 9);
    }
}

TEST(cohen)
{
    /* the classic 2x2 table (50 items): yes/yes 20, A yes B no 5,
     * A no B yes 10, no/no 15. p_o = 35/50 = 0.7; A yes 25/50, B yes
     * 30/50: p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2/0.5 = 0.4 */
    unsigned a[50], b[50];
    size_t i, n = 0;
    double k = 0.0;

    for (i = 0; i < 20; i++, n++)
        a[n] = 1, b[n] = 1;
    for (i = 0; i < 5; i++, n++)
        a[n] = 1, b[n] = 0;
    for (i = 0; i < 10; i++, n++)
        a[n] = 0, b[n] = 1;
    for (i = 0; i < 15; i++, n++)
        a[n] = 0, b[n] = 0;
    CHECK(rstats_cohen(a, b, 50, 2, &k) == 0);
    CHECK(near(k, 0.4, 1e-12));
    /* three categories, unused categories allowed: (0,0) (1,1) (2,2)
     * (0,1) over C = 4: p_o = 3/4; A: 2/4 1/4 1/4, B: 1/4 2/4 1/4,
     * p_e = (2 + 2 + 1)/16 = 5/16; kappa = (12/16 - 5/16) / (11/16) =
     * 7/11 */
    {
        unsigned a3[4] = {0, 1, 2, 0}, b3[4] = {0, 1, 2, 1};

        CHECK(rstats_cohen(a3, b3, 4, 4, &k) == 0);
        CHECK(near(k, 7.0 / 11.0, 1e-12));
    }
    /* full agreement with two categories in use: 1 */
    {
        unsigned x[4] = {0, 1, 1, 0};

        CHECK(rstats_cohen(x, x, 4, 2, &k) == 0);
        CHECK(k == 1.0);
    }
    /* full agreement on one category: p_e = 1, undefined */
    {
        unsigned x[3] = {1, 1, 1};

        CHECK(rstats_cohen(x, x, 3, 2, &k) == 0);
        CHECK(isnan(k));
    }
    /* systematic disagreement: A all 0, B all 1: p_o 0, p_e 0, kappa 0 */
    {
        unsigned x[3] = {0, 0, 0}, y[3] = {1, 1, 1};

        CHECK(rstats_cohen(x, y, 3, 2, &k) == 0);
        CHECK(k == 0.0);
    }
    /* fewer than 2 items */
    CHECK(rstats_cohen(a, b, 1, 2, &k) == 0 && isnan(k));
    CHECK(rstats_cohen(NULL, NULL, 0, 2, &k) == 0 && isnan(k));
    /* bad categories: kappa untouched */
    k = 0.25;
    CHECK(rstats_cohen(a, b, 50, 1, &k) == NH_EINVAL);
    CHECK(rstats_cohen(a, b, 50, 0, &k) == NH_EINVAL);
    CHECK(k == 0.25);
}

TEST(fleiss)
{
    /* Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10
     * items, 14 raters, 5 categories; published kappa 0.210 (P-bar
     * 0.378, P_e 0.213) */
    static const uint64_t wiki[10 * 5] = {
        0, 0, 0, 0, 14, /**/ 0, 2, 6, 4, 2, /**/ 0, 0, 3, 5, 6, /**/
        0, 3, 9, 2, 0,  /**/ 2, 2, 8, 1, 1, /**/ 7, 7, 0, 0, 0, /**/
        3, 2, 6, 3, 0,  /**/ 2, 5, 3, 2, 2, /**/ 6, 5, 2, 1, 0, /**/
        0, 2, 2, 3, 7,
    };
    double k = 0.0;

    CHECK(rstats_fleiss(wiki, 10, 5, &k) == 0);
    CHECK(near(k, 0.210, 5e-4));
    CHECK(near(k, 0.20993070442195522, 1e-12));

    /* two raters per item is Scott's pi: items (1,1,0) (2,0,0) (0,1,1)
     * (0,0,2) (0,2,0): p_o = 3/5; pooled shares 3/10 4/10 3/10, p_e =
     * 0.09 + 0.16 + 0.09 = 0.34; kappa = 0.26/0.66 = 13/33 */
    {
        static const uint64_t m2[5 * 3] = {1, 1, 0, 2, 0, 0, 0, 1,
                                           1, 0, 0, 2, 0, 2, 0};

        CHECK(rstats_fleiss(m2, 5, 3, &k) == 0);
        CHECK(near(k, 13.0 / 33.0, 1e-12));
    }
    /* varying m_i, accept/reject: (2,0) (1,1) (3,0) (0,2) (2,1) and
     * (1,0), left out (one rating). n' = 5, M = 12, mbar = 2.4, accept
     * share 8/12. Fleiss-Levin-Paik: 1 - sum x(m-x)/m / (n'(mbar-1)pq)
     * with sum x(m-x)/m = 0 + 1/2 + 0 + 0 + 2/3 = 7/6 and
     * n'(mbar-1)pq = 5 * 1.4 * 2/9 = 14/9: 1 - 63/84 = 0.25 */
    {
        static const uint64_t v[6 * 2] = {2, 0, 1, 1, 3, 0, 0, 2, 2, 1, 1, 0};

        CHECK(rstats_fleiss(v, 6, 2, &k) == 0);
        CHECK(near(k, 0.25, 1e-12));
    }
    /* all ratings in one category: p_e = 1, undefined */
    {
        static const uint64_t same[3 * 2] = {3, 0, 2, 0, 4, 0};

        CHECK(rstats_fleiss(same, 3, 2, &k) == 0);
        CHECK(isnan(k));
    }
    /* perfect agreement over two categories: 1 */
    {
        static const uint64_t agree[3 * 2] = {3, 0, 0, 2, 4, 0};

        CHECK(rstats_fleiss(agree, 3, 2, &k) == 0);
        CHECK(near(k, 1.0, 1e-15));
    }
    /* fewer than 2 items with 2+ ratings */
    {
        static const uint64_t few[3 * 2] = {1, 0, 2, 1, 0, 0};

        CHECK(rstats_fleiss(few, 3, 2, &k) == 0);
        CHECK(isnan(k));
        CHECK(rstats_fleiss(NULL, 0, 2, &k) == 0 && isnan(k));
    }
    k = 0.25;
    CHECK(rstats_fleiss(wiki, 10, 0, &k) == NH_EINVAL);
    CHECK(k == 0.25);
}

TEST(majority)
{
    CHECK(rstats_majority(0, 0) == RSTATS_NONE);
    CHECK(rstats_majority(1, 0) == RSTATS_ACCEPT);
    CHECK(rstats_majority(0, 1) == RSTATS_REJECT);
    CHECK(rstats_majority(2, 1) == RSTATS_ACCEPT);
    CHECK(rstats_majority(1, 1) == RSTATS_REJECT); /* tie: conservative */
    CHECK(rstats_majority(2, 3) == RSTATS_REJECT);
}

TEST(decision)
{
    CHECK_STR(rstats_decision(0.92, 0.97, 0.9), "accept");
    CHECK_STR(rstats_decision(0.9, 0.97, 0.9), "accept"); /* lo >= t */
    CHECK_STR(rstats_decision(0.7, 0.85, 0.9), "reject");
    CHECK_STR(rstats_decision(0.8, 0.9, 0.9), "continue"); /* hi == t */
    CHECK_STR(rstats_decision(0.85, 0.95, 0.9), "continue");
    CHECK_STR(rstats_decision(0.0, 1.0, 0.9), "continue");
    CHECK_STR(rstats_decision(NAN, 1.0, 0.9), "continue");
    CHECK_STR(rstats_decision(0.95, 0.99, NAN), "continue");
}

int
main(void)
{
    RUN(norm_quantile);
    RUN(z);
    RUN(cochran);
    RUN(wilson);
    RUN(rule_of_three);
    RUN(stratified);
    RUN(largest_remainder);
    RUN(cohen);
    RUN(fleiss);
    RUN(majority);
    RUN(decision);
    return test_summary();
}
