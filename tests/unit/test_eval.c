/* SPDX-License-Identifier: MIT */
/* test_eval.c -- the graders of `hearth eval`, table-driven: what counts as
 * a right answer must not depend on floating-point luck (12-digit products)
 * or on leading zeros, signs and trailing punctuation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>

#include "cli/eval_int.h"

typedef struct grade_case {
    const char *grader, *answer, *expected;
    bool ok;
} grade_case;

static const grade_case cases[] = {
    {"numeric", "4", "4", true},
    {"numeric", " 499.", "499", true},
    {"numeric", "= 499", "499", true},
    {"numeric", "0499", "499", true},
    {"numeric", "-84", "-84", true},
    {"numeric", "84", "-84", false},
    {"numeric", "-0", "0", true},
    {"numeric", "123456789012", "123456789012", true},
    {"numeric", "123456789013", "123456789012", false},
    {"numeric", "123456789099", "123456789012", false},
    {"numeric", "999999999999999999999", "999999999999999999998", false},
    {"numeric", "499.0", "499", true},
    {"numeric", "499.5", "499", false},
    {"numeric", "3.14159", "3.14159", true},
    {"numeric", "3.1416", "3.14159", false},
    {"numeric", "1e3", "1000", true},
    {"numeric", "no number", "4", false},
    {"numeric", "4", "no number", false},
    {"exact", "Paris.", "paris", true},
    {"exact", "Paris is", "Paris", false},
    {"contains", "the capital is Paris", "paris", true},
    {"contains", "Lyon", "Paris", false},
    {"regex", "spam!", "(?i)^\\W*spam\\b", true},
    {"regex", "spammy", "(?i)^\\W*spam\\b", false},
    {"regex", "x", "(", false}, /* a bad pattern grades false, never crashes */
};

static void test_graders(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const grade_case *c = &cases[i];
        bool got = hr__eval_grade(c->grader, c->answer, c->expected);
        if (got != c->ok) {
            fail_msg("case %zu: %s(%s, %s) = %d", i, c->grader, c->answer, c->expected, got);
        }
    }
    assert_true(hr__eval_grader_known("numeric"));
    assert_false(hr__eval_grader_known("fuzzy"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
