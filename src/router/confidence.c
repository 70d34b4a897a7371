/* SPDX-License-Identifier: MIT */
/* confidence.c -- from token logprobs to a confidence in [0, 1]: features,
 * a logistic model over them, and a calibration map (Platt or isotonic).
 * Pure computation, callable from any thread; the model file is JSON. */
#include "router/router.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

int hr_conf_acc_add(hr_conf_acc *a, float logprob, const float *top_lp, size_t n_top)
{
    float *lp = hr_grow(a->lp, &a->cap, a->n + 1, sizeof *lp, 64);
    if (!lp) {
        return HR_ENOMEM;
    }
    a->lp = lp;
    a->lp[a->n++] = logprob;
    if (n_top > 0) {
        /* Entropy of the top-k renormalised: how spread the likely choices are. */
        double z = 0.0, h = 0.0;
        for (size_t i = 0; i < n_top; i++) {
            z += exp(top_lp[i]);
        }
        for (size_t i = 0; i < n_top && z > 0.0; i++) {
            double p = exp(top_lp[i]) / z;
            h -= p > 0.0 ? p * log(p) : 0.0;
        }
        a->entropy_sum += h;
        a->n_entropy++;
    }
    return 0;
}

void hr_conf_acc_deinit(hr_conf_acc *a)
{
    hr_free(a->lp);
    memset(a, 0, sizeof *a);
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* Nearest-rank quantile of sorted v[0..n). */
static double quantile(const float *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k > 0 ? k - 1 : 0];
}

void hr_conf_features(const hr_conf_acc *a, double f[HR_CONF_N_FEATURES])
{
    memset(f, 0, HR_CONF_N_FEATURES * sizeof *f);
    if (a->n == 0) {
        f[1] = f[2] = f[3] = HR_CONF_EMPTY;
        return;
    }
    float *s = hr_calloc(a->n, sizeof *s);
    double sum = 0.0;
    size_t low = 0;
    for (size_t i = 0; i < a->n; i++) {
        sum += a->lp[i];
        low += a->lp[i] < HR_CONF_LOW_LOGPROB;
    }
    f[0] = sum / (double)a->n;
    if (s) {
        memcpy(s, a->lp, a->n * sizeof *s);
        qsort(s, a->n, sizeof *s, cmp_float);
        f[1] = s[0];
        f[2] = quantile(s, a->n, 0.10);
        f[3] = quantile(s, a->n, 0.25);
        hr_free(s);
    } else {
        f[1] = f[2] = f[3] = f[0]; /* out of memory: a cruder but safe estimate */
    }
    f[4] = a->n_entropy ? a->entropy_sum / (double)a->n_entropy : 0.0;
    f[5] = (double)low / (double)a->n;
    f[6] = log1p((double)a->n);
}

void hr_conf_model_default(hr_conf_model *m)
{
    /* Hand-set so that an answer whose tokens mostly have p > 0.9 scores
     * about 0.9 and one with many doubtful tokens scores near 0. They rank
     * answers; they are not calibrated probabilities. */
    static const double w[HR_CONF_N_FEATURES] = {4.0, 0.3, 0.5, 0.5, -1.0, -3.0, 0.0};
    memset(m, 0, sizeof *m);
    m->bias = 3.5;
    memcpy(m->w, w, sizeof w);
    for (int i = 0; i < HR_CONF_N_FEATURES; i++) {
        m->scale[i] = 1.0;
    }
}

double hr_conf_raw(const hr_conf_model *m, const double f[HR_CONF_N_FEATURES])
{
    double z = m->bias;
    for (int i = 0; i < HR_CONF_N_FEATURES; i++) {
        double s = m->scale[i] != 0.0 ? m->scale[i] : 1.0;
        z += m->w[i] * (f[i] - m->mean[i]) / s;
    }
    return 1.0 / (1.0 + exp(-z));
}

static double isotonic(const hr_conf_model *m, double x)
{
    if (m->iso_n == 0) {
        return x;
    }
    if (x <= m->iso_x[0]) {
        return m->iso_y[0];
    }
    for (size_t i = 1; i < m->iso_n; i++) {
        if (x <= m->iso_x[i]) {
            /* Linear between block centres keeps the map monotone and smooth. */
            double t = (x - m->iso_x[i - 1]) / (m->iso_x[i] - m->iso_x[i - 1]);
            return m->iso_y[i - 1] + t * (m->iso_y[i] - m->iso_y[i - 1]);
        }
    }
    return m->iso_y[m->iso_n - 1];
}

double hr_conf_score(const hr_conf_model *m, const double f[HR_CONF_N_FEATURES])
{
    double raw = hr_conf_raw(m, f);
    double p = raw;
    if (m->calibration == HR_CALIB_PLATT) {
        p = 1.0 / (1.0 + exp(m->platt_a * raw + m->platt_b));
    } else if (m->calibration == HR_CALIB_ISOTONIC) {
        p = isotonic(m, raw);
    }
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

static json_t *doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_array_append_new(a, json_real(v[i]));
    }
    return a;
}

int hr_conf_model_save(const hr_conf_model *m, const char *path, char *err, size_t errlen)
{
    static const char *cal[] = {"none", "platt", "isotonic"};
    json_t *doc = json_pack("{s:s, s:f, s:o, s:o, s:o, s:s, s:f, s:f, s:o, s:o}", "features",
                            "mean_lp,min_lp,p10_lp,p25_lp,topk_entropy,low_share,log_len", "bias",
                            m->bias, "weights", doubles(m->w, HR_CONF_N_FEATURES), "mean",
                            doubles(m->mean, HR_CONF_N_FEATURES), "scale",
                            doubles(m->scale, HR_CONF_N_FEATURES), "calibration",
                            cal[m->calibration], "platt_a", m->platt_a, "platt_b", m->platt_b,
                            "iso_x", doubles(m->iso_x, m->iso_n), "iso_y",
                            doubles(m->iso_y, m->iso_n));
    int rc = doc && json_dump_file(doc, path, JSON_INDENT(2)) == 0 ? 0 : HR_EIO;
    json_decref(doc);
    return rc < 0 ? hr_errf(err, errlen, rc, "cannot write %s", path) : 0;
}

/* Read a numeric array of exactly n (or, with n_out, up to max) values. */
static int read_doubles(json_t *a, double *out, size_t n, size_t max, size_t *n_out)
{
    size_t len = json_array_size(a);
    if (!json_is_array(a) || (n_out ? len > max : len != n)) {
        return HR_EFORMAT;
    }
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) {
            return HR_EFORMAT;
        }
        out[i] = json_number_value(v);
    }
    if (n_out) {
        *n_out = len;
    }
    return 0;
}

int hr_conf_model_load(hr_conf_model *m, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        return hr_errf(err, errlen, HR_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
    }
    hr_conf_model_default(m);
    const char *cal = json_string_value(json_object_get(doc, "calibration"));
    int rc = json_is_number(json_object_get(doc, "bias")) ? 0 : HR_EFORMAT;
    m->bias = json_number_value(json_object_get(doc, "bias"));
    rc = rc ? rc : read_doubles(json_object_get(doc, "weights"), m->w, HR_CONF_N_FEATURES, 0, NULL);
    rc = rc ? rc : read_doubles(json_object_get(doc, "mean"), m->mean, HR_CONF_N_FEATURES, 0, NULL);
    rc = rc ? rc : read_doubles(json_object_get(doc, "scale"), m->scale, HR_CONF_N_FEATURES, 0, NULL);
    m->calibration = !cal || strcmp(cal, "none") == 0 ? HR_CALIB_NONE
                     : strcmp(cal, "platt") == 0      ? HR_CALIB_PLATT
                     : strcmp(cal, "isotonic") == 0   ? HR_CALIB_ISOTONIC
                                                      : -1;
    rc = rc ? rc : m->calibration < 0 ? HR_EFORMAT : 0;
    m->platt_a = json_number_value(json_object_get(doc, "platt_a"));
    m->platt_b = json_number_value(json_object_get(doc, "platt_b"));
    size_t ny = 0;
    rc = rc ? rc : read_doubles(json_object_get(doc, "iso_x"), m->iso_x, 0, HR_ISO_MAX, &m->iso_n);
    rc = rc ? rc : read_doubles(json_object_get(doc, "iso_y"), m->iso_y, 0, HR_ISO_MAX, &ny);
    rc = rc ? rc : ny == m->iso_n ? 0 : HR_EFORMAT;
    json_decref(doc);
    if (rc < 0) {
        hr_conf_model_default(m);
        return hr_errf(err, errlen, rc, "%s: not a hearth calibration file (needs bias, weights, "
                       "mean, scale of %d numbers, calibration)", path, HR_CONF_N_FEATURES);
    }
    m->fitted = true;
    return 0;
}
