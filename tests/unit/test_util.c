/* SPDX-License-Identifier: MIT */
/* test_util.c -- src/util: buffers, number parsing, UTF-8, errors, alloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"

static void test_buf_append_printf(void **state)
{
    (void)state;
    hr_buf b = {0};
    assert_int_equal(hr_buf_append(&b, "ab", 2), 0);
    assert_int_equal(hr_buf_append(&b, "\0c", 2), 0); /* binary-safe */
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.p, "ab\0c", 4);
    assert_int_equal(b.p[4], '\0');
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(hr_buf_printf(&b, "%d,", i), 0);
    }
    assert_true(b.len > 3000);
    hr_buf_consume(&b, 4);
    assert_memory_equal(b.p, "0,1,2,", 6);
    hr_buf_consume(&b, b.len + 10);
    assert_int_equal(b.len, 0);
    char *s = hr_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_null(b.p);
    hr_free(s);
    hr_buf_deinit(&b);
}

static void test_buf_oom_keeps_contents(void **state)
{
    (void)state;
    hr_buf b = {0};
    assert_int_equal(hr_buf_append_str(&b, "keep"), 0);
    hr_alloc_fail_at(1);
    char big[200];
    memset(big, 'x', sizeof big);
    assert_int_equal(hr_buf_append(&b, big, sizeof big), HR_ENOMEM);
    hr_alloc_fail_at(0);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.p, "keep");
    hr_buf_deinit(&b);
}

static void test_parse_numbers(void **state)
{
    (void)state;
    int64_t v = 0;
    double d = 0;
    static const struct {
        const char *s;
        int rc;
        int64_t v;
    } ints[] = {
        {"42", 0, 42},          {"-7", 0, -7},      {"", HR_EINVAL, 0},
        {"12x", HR_EINVAL, 0},  {"x", HR_EINVAL, 0}, {"101", HR_ERANGE, 0},
        {"99999999999999999999", HR_ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        assert_int_equal(hr_parse_i64(ints[i].s, -100, 100, &v), ints[i].rc);
        if (ints[i].rc == 0) {
            assert_int_equal(v, ints[i].v);
        }
    }
    assert_int_equal(hr_parse_double("0.5", 0, 1, &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(hr_parse_double("nan", 0, 1, &d), HR_EINVAL);
    assert_int_equal(hr_parse_double("inf", -1e300, 1e300, &d), HR_ERANGE);
    assert_int_equal(hr_parse_double("2", 0, 1, &d), HR_ERANGE);
    assert_int_equal(hr_parse_double("1e", 0, 1, &d), HR_EINVAL);
}

static void test_utf8(void **state)
{
    (void)state;
    /* "é" is C3 A9; "€" is E2 82 AC; "😀" is F0 9F 98 80. */
    assert_int_equal(hr_utf8_complete_len("ab", 2), 2);
    assert_int_equal(hr_utf8_complete_len("a\xC3", 2), 1);
    assert_int_equal(hr_utf8_complete_len("a\xC3\xA9", 3), 3);
    assert_int_equal(hr_utf8_complete_len("\xE2\x82", 2), 0);
    assert_int_equal(hr_utf8_complete_len("x\xF0\x9F\x98", 4), 1);
    assert_int_equal(hr_utf8_complete_len("\xF0\x9F\x98\x80", 4), 4);
    assert_int_equal(hr_utf8_complete_len("\xFF", 1), 1); /* invalid: not held */
    assert_true(hr_utf8_valid("h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10));
    assert_false(hr_utf8_valid("\xC3", 1));
    assert_false(hr_utf8_valid("\xC0\xAF", 2));     /* overlong */
    assert_false(hr_utf8_valid("\xED\xA0\x80", 3)); /* surrogate */
    assert_false(hr_utf8_valid("\xF4\x90\x80\x80", 4));
}

static void test_strlcpy_and_errors(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(hr_strlcpy(small, "abc", sizeof small), 0);
    assert_int_equal(hr_strlcpy(small, "abcdef", sizeof small), HR_ETOOBIG);
    assert_string_equal(small, "abc");
    assert_string_equal(hr_err_name(HR_ENOMEM), "HR_ENOMEM");
    assert_string_equal(hr_strerror(HR_ECTXFULL), "context length exceeded");
    assert_string_equal(hr_err_name(12345), "HR_E?");
    char err[8];
    assert_int_equal(hr_errf(err, sizeof err, HR_EINVAL, "%s", "truncated message"), HR_EINVAL);
    assert_string_equal(err, "truncat");
    assert_int_equal(hr_errf(NULL, 0, HR_EIO, "x"), HR_EIO);
}

static void test_grow(void **state)
{
    (void)state;
    size_t cap = 0;
    int *v = hr_grow(NULL, &cap, 1, sizeof *v, 4);
    assert_non_null(v);
    assert_int_equal(cap, 4);
    assert_ptr_equal(hr_grow(v, &cap, 4, sizeof *v, 4), v); /* room already */
    int *w = hr_grow(v, &cap, 5, sizeof *v, 4);
    assert_non_null(w);
    assert_int_equal(cap, 8);
    w = hr_grow(w, &cap, 33, sizeof *w, 4); /* doubles until it fits */
    assert_non_null(w);
    assert_int_equal(cap, 64);
    assert_null(hr_grow(w, &cap, SIZE_MAX / 2, sizeof *w, 4)); /* overflow */
    assert_int_equal(cap, 64);
    hr_alloc_fail_at(1);
    assert_null(hr_grow(w, &cap, 65, sizeof *w, 4)); /* out of memory: unchanged */
    assert_int_equal(cap, 64);
    w[63] = 7; /* still valid */
    hr_free(w);
}

static void test_alloc_fault_injection(void **state)
{
    (void)state;
    hr_alloc_fail_at(2);
    void *a = hr_malloc(8);
    void *b = hr_malloc(8);
    void *c = hr_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    hr_free(a);
    hr_free(c);
    assert_null(hr_calloc(SIZE_MAX / 2, 4)); /* overflow is caught */
    hr_alloc_fail_at(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_printf),
        cmocka_unit_test(test_buf_oom_keeps_contents),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_strlcpy_and_errors),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_alloc_fault_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
