/* SPDX-License-Identifier: MIT */
/* test_textout.c -- stop strings and UTF-8 safety of streamed text
 * (src/engine/textout.c, through engine_int.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine_int.h"
#include "util/str.h"

typedef struct textout_case {
    const char *name;
    const char *pieces[8]; /* NULL-terminated token pieces */
    const char *stop[3];   /* NULL-terminated stop strings */
    const char *want;      /* all text emitted, flush included */
    int stopped;           /* a stop string was hit */
} textout_case;

static const textout_case cases[] = {
    {"no stops", {"Once", " upon", " a", " time", NULL}, {NULL}, "Once upon a time", 0},
    {"stop inside one piece", {"Hello", " wor", "ld!", NULL}, {"wor", NULL}, "Hello ", 1},
    {"stop split across pieces", {"a", "b", "S", "T", "O", "P", "c", NULL}, {"STOP", NULL}, "ab", 1},
    {"stop split, text after it", {"x ST", "OP y", NULL}, {"STOP", NULL}, "x ", 1},
    {"false start is released", {"S", "T", "x", NULL}, {"STOP", NULL}, "STx", 0},
    {"held prefix flushed at end", {"abc", "ST", NULL}, {"STOP", NULL}, "abcST", 0},
    {"earliest of two stops", {"one two three", NULL}, {"three", "two", NULL}, "one ", 1},
    {"stop at very start", {"END", "more", NULL}, {"END", NULL}, "", 1},
    {"utf8 split across pieces", {"caf", "\xC3", "\xA9", "!", NULL}, {NULL}, "caf\xC3\xA9!", 0},
    {"4-byte char in 4 pieces", {"\xF0", "\x9F", "\x98", "\x80", NULL}, {NULL}, "\xF0\x9F\x98\x80", 0},
    {"unfinished char at end", {"ok", "\xE2\x82", NULL}, {NULL}, "ok\xEF\xBF\xBD", 0},
    {"invalid byte replaced", {"a\xFF", "b", NULL}, {NULL}, "a\xEF\xBF\xBD" "b", 0},
    {"multibyte stop string", {"x\xC3", "\xA9y", NULL}, {"\xC3\xA9", NULL}, "x", 1},
    {"newline stop", {"line one", "\n", "line two", NULL}, {"\n", NULL}, "line one", 1},
};

static void run_case(const textout_case *c)
{
    size_t n_stop = 0;
    while (c->stop[n_stop]) {
        n_stop++;
    }
    hr_textout t;
    hr__textout_init(&t, c->stop, n_stop);
    hr_buf all = {0};
    hr_buf step = {0};
    int stopped = 0;
    for (size_t i = 0; c->pieces[i] && !stopped; i++) {
        hr_buf_reset(&step);
        stopped = hr__textout_push(&t, c->pieces[i], strlen(c->pieces[i]), &step);
        assert_true(stopped >= 0);
        /* Every emitted chunk is whole, valid UTF-8 on its own. */
        assert_true(hr_utf8_valid(step.p ? step.p : "", step.len));
        hr_buf_append(&all, step.p ? step.p : "", step.len);
    }
    assert_int_equal(hr__textout_flush(&t, &all), 0);
    if (strcmp(all.p ? all.p : "", c->want) != 0 || stopped != c->stopped) {
        fail_msg("case '%s': got '%s' stopped=%d", c->name, all.p ? all.p : "", stopped);
    }
    hr_buf_deinit(&all);
    hr_buf_deinit(&step);
    hr__textout_deinit(&t);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(&cases[i]);
    }
}

static void test_nothing_after_stop(void **state)
{
    (void)state;
    const char *stop[] = {"X"};
    hr_textout t;
    hr__textout_init(&t, stop, 1);
    hr_buf out = {0};
    assert_int_equal(hr__textout_push(&t, "aXb", 3, &out), 1);
    assert_int_equal(hr__textout_push(&t, "more", 4, &out), 1);
    assert_int_equal(hr__textout_flush(&t, &out), 0);
    assert_string_equal(out.p, "a");
    hr_buf_deinit(&out);
    hr__textout_deinit(&t);
}

static void test_logprobs_math(void **state)
{
    (void)state;
    float logits[5] = {1.0f, 3.0f, 2.0f, -1.0f, 3.0f};
    hr_token_prob top[3];
    float lp = hr__logprobs(logits, 5, 2, top, 3);
    double sum = 0;
    for (int i = 0; i < 5; i++) {
        sum += exp(logits[i]);
    }
    assert_float_equal(lp, 2.0 - log(sum), 1e-6);
    assert_true(top[0].id == 1 || top[0].id == 4);
    assert_float_equal(top[0].logprob, 3.0 - log(sum), 1e-6);
    assert_float_equal(top[1].logprob, 3.0 - log(sum), 1e-6);
    assert_int_equal(top[2].id, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_nothing_after_stop),
        cmocka_unit_test(test_logprobs_math),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
