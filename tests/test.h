/* test.h - the unit test harness: one binary per module
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(a, b); }
 *   int main(void) { RUN(name); return test_summary(); }
 *
 * Each binary prints one line per failed check and ends with
 * "N passed, N failed" (counting tests, not checks); its exit status is
 * non-zero when any test failed.
 */
#ifndef NH_TEST_H
#define NH_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            test_cur_failed = 1;                                               \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *ca_ = (a), *cb_ = (b);                                     \
        if (!ca_ || !cb_ || strcmp(ca_, cb_)) {                                \
            printf("  FAIL %s:%d: %s == %s\n    got:  \"%s\"\n    want: "      \
                   "\"%s\"\n",                                                 \
                   __FILE__, __LINE__, #a, #b, ca_ ? ca_ : "(null)",           \
                   cb_ ? cb_ : "(null)");                                      \
            test_cur_failed = 1;                                               \
        }                                                                      \
    } while (0)

#define RUN(name)                                                              \
    do {                                                                       \
        test_cur_failed = 0;                                                   \
        test_##name();                                                         \
        if (test_cur_failed) {                                                 \
            test_failed++;                                                     \
            printf("not ok %s\n", #name);                                      \
        } else {                                                               \
            test_passed++;                                                     \
            printf("ok %s\n", #name);                                          \
        }                                                                      \
    } while (0)

static inline int
test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
