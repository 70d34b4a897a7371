/* SPDX-License-Identifier: MIT */
/* test_router.c -- confidence features, the default model, AUROC and ECE
 * against hand-computed cases, fitting and calibration on synthetic data
 * with a known answer, model files, and policy names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "router/router.h"
#include "util/err.h"

static void test_features(void **state)
{
    hr_conf_acc a = {0};
    const float lps[] = {-0.1f, -0.2f, -3.0f, -0.05f};
    const float top[] = {logf(0.5f), logf(0.5f)}; /* two equal choices: entropy ln 2 */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hr_conf_acc_add(&a, lps[i], top, 2), 0);
    }
    double f[HR_CONF_N_FEATURES];
    hr_conf_features(&a, f);
    assert_float_equal(f[0], (-0.1 - 0.2 - 3.0 - 0.05) / 4, 1e-6);
    assert_float_equal(f[1], -3.0, 1e-6);
    assert_float_equal(f[2], -3.0, 1e-6);  /* nearest rank: ceil(0.1 * 4) = 1st */
    assert_float_equal(f[3], -3.0, 1e-6);  /* ceil(0.25 * 4) = 1st */
    assert_float_equal(f[4], log(2.0), 1e-6);
    assert_float_equal(f[5], 0.25, 1e-9);
    assert_float_equal(f[6], log(5.0), 1e-9);
    hr_conf_acc_deinit(&a);
    hr_conf_features(&a, f); /* empty */
    assert_float_equal(f[1], HR_CONF_EMPTY, 0);
}

static double score_of(const float *lps, size_t n, float alt)
{
    hr_conf_acc a = {0};
    for (size_t i = 0; i < n; i++) {
        float top[2] = {lps[i], alt};
        hr_conf_acc_add(&a, lps[i], top, 2);
    }
    double f[HR_CONF_N_FEATURES];
    hr_conf_features(&a, f);
    hr_conf_acc_deinit(&a);
    hr_conf_model m;
    hr_conf_model_default(&m);
    return hr_conf_score(&m, f);
}

static void test_default_model_ranks(void **state)
{
    const float sure[] = {-0.01f, -0.02f, -0.05f, -0.01f, -0.1f, -0.03f};
    const float unsure[] = {-1.5f, -2.5f, -0.7f, -3.0f, -1.9f, -2.2f};
    double hi = score_of(sure, 6, -6.0f);
    double lo = score_of(unsure, 6, -1.0f);
    assert_true(hi > 0.85);
    assert_true(lo < 0.2);
}

static void test_auroc_and_ece_by_hand(void **state)
{
    const double p[] = {0.9, 0.8, 0.3, 0.2};
    const int y[] = {1, 0, 1, 0};
    assert_float_equal(hr_stat_auroc(p, y, 4), 0.75, 1e-12);
    const double q[] = {0.9, 0.9, 0.1, 0.1};
    const int z[] = {1, 0, 0, 0};
    assert_float_equal(hr_stat_ece(q, z, 4, 10), 0.25, 1e-12);
    const int all[] = {1, 1, 1, 1};
    assert_float_equal(hr_stat_auroc(p, all, 4), 0.5, 0); /* one class */
    const double tie[] = {0.5, 0.5};
    const int ty[] = {1, 0};
    assert_float_equal(hr_stat_auroc(tie, ty, 2), 0.5, 1e-12);
}

/* Correctness is drawn with P(correct) = sigmoid(3 * mean_lp + 2): a fit must
 * rank well and, after isotonic calibration, be nearly calibrated. */
static void test_fit_and_calibrate(void **state)
{
    enum { N = 2000 };
    static double x[N * HR_CONF_N_FEATURES];
    static int y[N];
    static double p_raw[N], p_fit[N];
    srand(1);
    for (int i = 0; i < N; i++) {
        double mean = -3.0 * rand() / (double)RAND_MAX;
        double *f = x + i * HR_CONF_N_FEATURES;
        f[0] = mean;
        f[1] = mean - 1.0;
        f[2] = mean - 0.5;
        f[3] = mean - 0.2;
        f[4] = 0.5 + 0.1 * rand() / (double)RAND_MAX;
        f[5] = -mean / 3.0;
        f[6] = log1p(10 + rand() % 50);
        double pc = 1.0 / (1.0 + exp(-(3.0 * mean + 2.0)));
        y[i] = rand() / (double)RAND_MAX < pc;
    }
    hr_conf_model def, m;
    hr_conf_model_default(&def);
    char err[128];
    assert_int_equal(hr_conf_fit(x, y, N, &m, err, sizeof err), 0);
    assert_true(m.fitted && m.calibration == HR_CALIB_ISOTONIC);
    for (int i = 0; i < N; i++) {
        p_raw[i] = hr_conf_score(&def, x + i * HR_CONF_N_FEATURES);
        p_fit[i] = hr_conf_score(&m, x + i * HR_CONF_N_FEATURES);
    }
    double auc = hr_stat_auroc(p_fit, y, N);
    double ece_before = hr_stat_ece(p_raw, y, N, 10);
    double ece_after = hr_stat_ece(p_fit, y, N, 10);
    assert_true(auc > 0.8);
    assert_true(ece_after < 0.05);
    assert_true(ece_after < ece_before);

    char path[] = "/tmp/hearth-calib-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hr_conf_model_save(&m, path, err, sizeof err), 0);
    hr_conf_model back;
    assert_int_equal(hr_conf_model_load(&back, path, err, sizeof err), 0);
    for (int i = 0; i < 20; i++) {
        assert_float_equal(hr_conf_score(&back, x + i * HR_CONF_N_FEATURES), p_fit[i], 1e-9);
    }
    FILE *fp = fopen(path, "w");
    fputs("{\"bias\": 1}", fp);
    fclose(fp);
    assert_int_equal(hr_conf_model_load(&back, path, err, sizeof err), HR_EFORMAT);
    unlink(path);
    /* One class only cannot be fitted. */
    int ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(hr_conf_fit(x, ones, 8, &m, err, sizeof err), HR_EINVAL);
}

static void test_policies(void **state)
{
    assert_int_equal(hr_policy_parse("local_first"), HR_POLICY_LOCAL_FIRST);
    assert_int_equal(hr_policy_parse("cloud_fallback"), HR_POLICY_CLOUD_FALLBACK);
    assert_int_equal(hr_policy_parse("sometimes"), -1);
    assert_int_equal(hr_policy_parse(NULL), -1);
    assert_string_equal(hr_policy_name(HR_POLICY_CLOUD_ONLY), "cloud_only");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_default_model_ranks),
        cmocka_unit_test(test_auroc_and_ece_by_hand),
        cmocka_unit_test(test_fit_and_calibrate),
        cmocka_unit_test(test_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
