/* SPDX-License-Identifier: MIT */
/* fit.c -- fitting and judging confidence: logistic regression by Newton's
 * method, isotonic calibration by pool-adjacent-violators, ECE and AUROC.
 * Small dense problems (7 features, thousands of rows): plain loops suffice. */
#include "router/router.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define NF HR_CONF_N_FEATURES
#define NP (NF + 1) /* with the bias */

/* Solve the NP x NP system a x = b in place (Gaussian elimination with
 * partial pivoting). Returns false when singular. */
static bool solve(double a[NP][NP], double b[NP])
{
    for (int c = 0; c < NP; c++) {
        int piv = c;
        for (int r = c + 1; r < NP; r++) {
            piv = fabs(a[r][c]) > fabs(a[piv][c]) ? r : piv;
        }
        if (fabs(a[piv][c]) < 1e-12) {
            return false;
        }
        for (int k = 0; k < NP; k++) {
            double t = a[c][k];
            a[c][k] = a[piv][k];
            a[piv][k] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (int r = 0; r < NP; r++) {
            if (r != c) {
                double f = a[r][c] / a[c][c];
                for (int k = c; k < NP; k++) {
                    a[r][k] -= f * a[c][k];
                }
                b[r] -= f * b[c];
            }
        }
    }
    for (int c = 0; c < NP; c++) {
        b[c] /= a[c][c];
    }
    return true;
}

static void standardise(const double *x, size_t n, hr_conf_model *m)
{
    for (int j = 0; j < NF; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            s += x[i * NF + j];
            s2 += x[i * NF + j] * x[i * NF + j];
        }
        m->mean[j] = s / (double)n;
        double var = s2 / (double)n - m->mean[j] * m->mean[j];
        m->scale[j] = var > 1e-12 ? sqrt(var) : 1.0;
    }
}

/* Newton iterations on the L2-penalised log-likelihood. */
static bool newton(const double *x, const int *y, size_t n, hr_conf_model *m)
{
    double beta[NP] = {0};
    const double lambda = 1e-3;
    for (int it = 0; it < 50; it++) {
        double h[NP][NP] = {{0}};
        double g[NP] = {0};
        for (size_t i = 0; i < n; i++) {
            double z[NP] = {1.0};
            for (int j = 0; j < NF; j++) {
                z[j + 1] = (x[i * NF + j] - m->mean[j]) / m->scale[j];
            }
            double eta = 0;
            for (int j = 0; j < NP; j++) {
                eta += beta[j] * z[j];
            }
            double p = 1.0 / (1.0 + exp(-eta));
            double w = p * (1 - p);
            for (int j = 0; j < NP; j++) {
                g[j] += (y[i] - p) * z[j];
                for (int k = 0; k < NP; k++) {
                    h[j][k] += w * z[j] * z[k];
                }
            }
        }
        for (int j = 1; j < NP; j++) {
            g[j] -= lambda * (double)n * beta[j];
            h[j][j] += lambda * (double)n;
        }
        if (!solve(h, g)) {
            return false;
        }
        double step = 0;
        for (int j = 0; j < NP; j++) {
            beta[j] += g[j];
            step += fabs(g[j]);
        }
        if (step < 1e-8) {
            break;
        }
    }
    m->bias = beta[0];
    memcpy(m->w, beta + 1, NF * sizeof *m->w);
    return true;
}

typedef struct pair {
    double x;
    int y;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const pair *)a)->x, y = ((const pair *)b)->x;
    return (x > y) - (x < y);
}

/* Pool adjacent violators on (raw, label) sorted by raw; the blocks become
 * at most HR_ISO_MAX knots (block centres and means). */
static int fit_isotonic(pair *p, size_t n, hr_conf_model *m)
{
    double *sum = hr_calloc(n, sizeof *sum), *cnt = hr_calloc(n, sizeof *cnt);
    double *xs = hr_calloc(n, sizeof *xs);
    if (!sum || !cnt || !xs) {
        hr_free(sum), hr_free(cnt), hr_free(xs);
        return HR_ENOMEM;
    }
    qsort(p, n, sizeof *p, cmp_pair);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        sum[nb] = p[i].y;
        cnt[nb] = 1;
        xs[nb] = p[i].x;
        nb++;
        while (nb > 1 && sum[nb - 2] / cnt[nb - 2] >= sum[nb - 1] / cnt[nb - 1]) {
            xs[nb - 2] = (xs[nb - 2] * cnt[nb - 2] + xs[nb - 1] * cnt[nb - 1]) /
                         (cnt[nb - 2] + cnt[nb - 1]);
            sum[nb - 2] += sum[nb - 1];
            cnt[nb - 2] += cnt[nb - 1];
            nb--;
        }
    }
    /* Keep at most HR_ISO_MAX knots, evenly spread over the blocks. */
    size_t k = nb < HR_ISO_MAX ? nb : HR_ISO_MAX;
    for (size_t i = 0; i < k; i++) {
        size_t b = k == 1 ? 0 : i * (nb - 1) / (k - 1);
        m->iso_x[i] = xs[b];
        m->iso_y[i] = sum[b] / cnt[b];
    }
    m->iso_n = k;
    m->calibration = HR_CALIB_ISOTONIC;
    hr_free(sum), hr_free(cnt), hr_free(xs);
    return 0;
}

int hr_conf_fit(const double *x, const int *y, size_t n, hr_conf_model *m, char *err,
                size_t errlen)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += y[i] != 0;
    }
    if (n < 4 || pos == 0 || pos == n) {
        return hr_errf(err, errlen, HR_EINVAL, "need at least 4 rows with both correct and "
                       "incorrect answers (got %zu rows, %zu correct)", n, pos);
    }
    hr_conf_model_default(m);
    standardise(x, n, m);
    if (!newton(x, y, n, m)) {
        return hr_errf(err, errlen, HR_EINVAL, "the features are degenerate (singular fit)");
    }
    pair *p = hr_calloc(n, sizeof *p);
    if (!p) {
        return HR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        p[i].x = hr_conf_raw(m, x + i * NF);
        p[i].y = y[i] != 0;
    }
    int rc = fit_isotonic(p, n, m);
    hr_free(p);
    m->fitted = rc == 0;
    return rc;
}

double hr_stat_ece(const double *p, const int *y, size_t n, int bins)
{
    double ece = 0.0;
    for (int b = 0; b < bins && n > 0; b++) {
        double lo = (double)b / bins, hi = (double)(b + 1) / bins;
        double conf = 0, acc = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            bool in = p[i] >= lo && (p[i] < hi || (b == bins - 1 && p[i] <= hi));
            if (in) {
                conf += p[i];
                acc += y[i] != 0;
                cnt++;
            }
        }
        if (cnt) {
            ece += (double)cnt / (double)n * fabs(acc / cnt - conf / cnt);
        }
    }
    return ece;
}

double hr_stat_auroc(const double *p, const int *y, size_t n)
{
    double pos = 0, neg = 0, wins = 0;
    for (size_t i = 0; i < n; i++) {
        pos += y[i] != 0;
        neg += y[i] == 0;
    }
    if (pos == 0 || neg == 0) {
        return 0.5;
    }
    /* O(n^2) pair counting: exact with ties, and n is small here. */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; y[i] && j < n; j++) {
            if (!y[j]) {
                wins += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
            }
        }
    }
    return wins / (pos * neg);
}

int hr_policy_parse(const char *s)
{
    static const char *names[] = {"local_first", "local_only", "cloud_only", "cloud_fallback"};
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *hr_policy_name(hr_policy p)
{
    static const char *names[] = {"local_first", "local_only", "cloud_only", "cloud_fallback"};
    return (unsigned)p < 4 ? names[p] : "?";
}
