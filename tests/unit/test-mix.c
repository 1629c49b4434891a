/* test-mix.c - unit tests for the mixture plan and the token estimate
 *
 * mix_plan() on synthetic sources: the shares it reaches, up- and
 * down-sampling (whole epochs plus a part), the same seed giving the
 * same counts and another seed others, and its errors; mix_tokens() on
 * Chinese, English and mixed text.
 */
#include "mix.h"

#include "test.h"

#include <math.h>
#include <stdlib.h>

#define N1 1000
#define N2 50

static double m1[N1], m2[N2];

static void
fill(void)
{
    for (int i = 0; i < N1; i++)
        m1[i] = 50 + (i * 37) % 400; /* 50..449 */
    for (int i = 0; i < N2; i++)
        m2[i] = 100 + (i * 13) % 200;
}

static double
sum(const double *m, int n)
{
    double s = 0;

    for (int i = 0; i < n; i++)
        s += m[i];
    return s;
}

static void
setup(struct mix_source *s)
{
    memset(s, 0, 2 * sizeof(*s));
    s[0].name = "big";
    s[0].weight = 0.7;
    s[0].ndocs = N1;
    s[0].m = m1;
    s[0].total = sum(m1, N1);
    s[1].name = "small";
    s[1].weight = 0.3;
    s[1].ndocs = N2;
    s[1].m = m2;
    s[1].total = sum(m2, N2);
}

static double
taken(const struct mix_source *s)
{
    double t = 0;

    for (uint64_t d = 0; d < s->ndocs; d++)
        t += s->m[d] * s->count[d];
    return t;
}

TEST(shares_and_epochs)
{
    struct mix_source s[2];
    struct nh_error err = {0};
    double target = 100000, t0, t1;

    fill();
    setup(s);
    CHECK(mix_plan(s, 2, target, 7, &err) == 0);
    t0 = taken(&s[0]);
    t1 = taken(&s[1]);
    CHECK(t0 == s[0].taken && t1 == s[1].taken);
    CHECK(fabs(t0 / (t0 + t1) - 0.7) < 0.005);
    CHECK(fabs(t1 - 30000) < 300);
    /* small: 30000 / ~9900 = 3.0 epochs: every document 3 times at least */
    CHECK(s[1].epochs > 2.9 && s[1].epochs < 3.2);
    for (int d = 0; d < N2; d++)
        CHECK(s[1].count[d] >= 3 && s[1].count[d] <= 4);
    /* big: sampled, each document at most once */
    CHECK(s[0].epochs < 0.5);
    for (int d = 0; d < N1; d++)
        CHECK(s[0].count[d] <= 1);
    free(s[0].count);
    free(s[1].count);
}

TEST(same_seed_same_draw)
{
    struct mix_source a[2], b[2];
    struct nh_error err = {0};
    int same = 1, diff = 0;

    fill();
    setup(a);
    setup(b);
    CHECK(mix_plan(a, 2, 50000, 1, &err) == 0);
    CHECK(mix_plan(b, 2, 50000, 1, &err) == 0);
    for (int d = 0; d < N1; d++)
        same &= a[0].count[d] == b[0].count[d];
    CHECK(same);
    free(b[0].count);
    free(b[1].count);
    setup(b);
    CHECK(mix_plan(b, 2, 50000, 2, &err) == 0);
    for (int d = 0; d < N1; d++)
        diff += a[0].count[d] != b[0].count[d];
    CHECK(diff > 50);
    for (int i = 0; i < 2; i++) {
        free(a[i].count);
        free(b[i].count);
    }
}

TEST(errors)
{
    struct mix_source s[2];
    struct nh_error err = {0};

    fill();
    setup(s);
    s[1].total = 0;
    s[1].ndocs = 0;
    CHECK(mix_plan(s, 2, 1000, 1, &err) == NH_EINVAL);
    CHECK_STR(err.msg, "source 'small' is empty");
    free(s[0].count);
    free(s[1].count);
    setup(s);
    CHECK(mix_plan(s, 2, 1e12, 1, &err) == NH_EINVAL);
    CHECK(strstr(err.msg, "epochs") != NULL);
    free(s[0].count);
    free(s[1].count);
    setup(s);
    s[0].weight = s[1].weight = 0;
    CHECK(mix_plan(s, 2, 1000, 1, &err) == NH_EINVAL);
}

TEST(tokens)
{
    CHECK(mix_tokens("", 0) == 0);
    CHECK(mix_tokens("中文分词", 12) == 4);
    CHECK(mix_tokens("hello world", 11) == 2);
    CHECK(mix_tokens("Hello, world!", 13) == 4);
    CHECK(mix_tokens("用GPT-4写代码。", 20) == 8); /* 用 GPT - 4 写 代 码 。 */
    CHECK(mix_tokens("caf\xc3\xa9 2024", 10) == 2);
}

int
main(void)
{
    RUN(shares_and_epochs);
    RUN(same_seed_same_draw);
    RUN(errors);
    RUN(tokens);
    return test_summary();
}
