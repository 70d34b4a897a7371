/* SPDX-License-Identifier: MIT */
/* calibrate.c -- `hearth calibrate --data labeled.jsonl --out calib.json`:
 * fit the confidence model on answers whose correctness is known, and show
 * how well the shipped defaults and the fitted model are calibrated.
 *
 * Each line: {"prompt": ..., "answer": ..., "logprobs": L, "correct": bool}
 * (or 0/1) where L is what an OpenAI-compatible server returns for the
 * answer: chat's {"content": [{"token", "logprob", "top_logprobs":
 * [{"logprob"}, ...]}]}, the bare "content" list, completions' legacy
 * {"token_logprobs": [...], "top_logprobs": [{token: logprob}, ...]}, or a
 * list of numbers. Main thread. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "router/router.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

#define TOP_MAX 20

/* The legacy completions shape: parallel lists, alternatives as objects
 * from token to logprob; a null logprob (an echoed first token) is skipped. */
static int acc_from_legacy(json_t *lp, hr_conf_acc *acc)
{
    json_t *tops = json_object_get(lp, "top_logprobs");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(lp, "token_logprobs"), i, v) {
        float top[TOP_MAX];
        size_t n_top = 0;
        const char *tok;
        json_t *a;
        if (json_is_null(v)) {
            continue;
        }
        if (!json_is_number(v)) {
            return HR_EFORMAT;
        }
        json_object_foreach(json_array_get(tops, i), tok, a) {
            if (json_is_number(a) && n_top < TOP_MAX) {
                top[n_top++] = (float)json_number_value(a);
            }
        }
        if (hr_conf_acc_add(acc, (float)json_number_value(v), top, n_top) < 0) {
            return HR_ENOMEM;
        }
    }
    return 0;
}

/* Token logprobs in any of the accepted shapes into acc. */
static int acc_from_json(json_t *lp, hr_conf_acc *acc)
{
    if (json_is_array(json_object_get(lp, "token_logprobs"))) {
        return acc_from_legacy(lp, acc);
    }
    if (json_is_object(lp)) {
        lp = json_object_get(lp, "content");
    }
    if (!json_is_array(lp)) {
        return HR_EFORMAT;
    }
    size_t i;
    json_t *t;
    json_array_foreach(lp, i, t) {
        float top[TOP_MAX];
        size_t n_top = 0;
        json_t *v = json_is_number(t) ? t : json_object_get(t, "logprob");
        if (!json_is_number(v)) {
            return HR_EFORMAT;
        }
        size_t k;
        json_t *alt;
        json_array_foreach(json_object_get(t, "top_logprobs"), k, alt) {
            json_t *a = json_object_get(alt, "logprob");
            if (json_is_number(a) && n_top < TOP_MAX) {
                top[n_top++] = (float)json_number_value(a);
            }
        }
        if (hr_conf_acc_add(acc, (float)json_number_value(v), top, n_top) < 0) {
            return HR_ENOMEM;
        }
    }
    return 0;
}

/* One row's logprobs into acc and its label ("correct": true/false or 1/0). */
static int labeled_row(json_t *row, hr_conf_acc *acc, bool *correct)
{
    json_t *c = json_object_get(row, "correct");
    json_int_t ci = json_is_integer(c) ? json_integer_value(c) : -1;
    if (!json_is_object(row) || !(json_is_boolean(c) || ci == 0 || ci == 1)) {
        return HR_EFORMAT;
    }
    *correct = json_is_true(c) || ci == 1;
    return acc_from_json(json_object_get(row, "logprobs"), acc);
}

/* Labelled rows: features into *x (n x HR_CONF_N_FEATURES) and labels into
 * *y; free both with hr_free. */
static int read_labeled(const char *path, double **x, int **y, size_t *n, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return hr_errf(err, errlen, HR_ENOENT, "%s: cannot open", path);
    }
    hr_buf line = {0};
    size_t cap = 0, lineno = 0;
    int rc = 0;
    char chunk[4096];
    *x = NULL;
    *y = NULL;
    *n = 0;
    while (rc == 0 && fgets(chunk, sizeof chunk, f)) {
        hr_buf_append_str(&line, chunk);
        if (!strchr(chunk, '\n') && !feof(f)) {
            continue;
        }
        lineno++;
        json_t *row = json_loadb(line.p, line.len, 0, NULL);
        bool blank = strspn(line.p, " \t\r\n") == line.len;
        hr_buf_reset(&line);
        if (blank) {
            continue;
        }
        hr_conf_acc acc = {0};
        bool correct = false;
        if (labeled_row(row, &acc, &correct) < 0) {
            rc = hr_errf(err, errlen, HR_EFORMAT, "%s:%zu: expected {\"logprobs\": [...], "
                         "\"correct\": true|false|1|0}", path, lineno);
        } else if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            double *nx = hr_realloc(*x, cap * HR_CONF_N_FEATURES * sizeof *nx);
            int *ny = nx ? hr_realloc(*y, cap * sizeof *ny) : NULL;
            *x = nx ? nx : *x;
            *y = ny ? ny : *y;
            rc = nx && ny ? 0 : hr_errf(err, errlen, HR_ENOMEM, "out of memory");
        }
        if (rc == 0) {
            hr_conf_features(&acc, *x + *n * HR_CONF_N_FEATURES);
            (*y)[(*n)++] = correct;
        }
        hr_conf_acc_deinit(&acc);
        json_decref(row);
    }
    hr_buf_deinit(&line);
    fclose(f);
    if (rc == 0 && *n == 0) {
        rc = hr_errf(err, errlen, HR_EFORMAT, "%s: no rows", path);
    }
    return rc;
}

static void print_row(const char *label, const double *p, const int *y, size_t n, int bins)
{
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        mean += p[i];
    }
    printf("| %-26s | %7.4f | %7.4f | %9.4f |\n", label, hr_stat_auroc(p, y, n),
           hr_stat_ece(p, y, n, bins), mean / (double)n);
}

static void report(const char *label, const hr_conf_model *m, const double *x, const int *y,
                   size_t n, int bins)
{
    double *p = hr_calloc(n, sizeof *p);
    if (!p) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p[i] = hr_conf_score(m, x + i * HR_CONF_N_FEATURES);
    }
    print_row(label, p, y, n, bins);
    hr_free(p);
}

/* Each row scored by a model fitted without it (5 folds by row index), so
 * the figure says how the fit does on answers it has not seen. */
static void report_cv(const double *x, const int *y, size_t n, int bins)
{
    enum { K = 5 };
    double *p = hr_calloc(n, sizeof *p);
    double *tx = hr_calloc(n * HR_CONF_N_FEATURES, sizeof *tx);
    int *ty = hr_calloc(n, sizeof *ty);
    bool ok = p && tx && ty && n >= 2 * K;
    for (int k = 0; ok && k < K; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if ((int)(i % K) != k) {
                memcpy(tx + m * HR_CONF_N_FEATURES, x + i * HR_CONF_N_FEATURES,
                       HR_CONF_N_FEATURES * sizeof *tx);
                ty[m++] = y[i];
            }
        }
        hr_conf_model fold;
        ok = hr_conf_fit(tx, ty, m, &fold, NULL, 0) == 0;
        for (size_t i = (size_t)k; ok && i < n; i += K) {
            p[i] = hr_conf_score(&fold, x + i * HR_CONF_N_FEATURES);
        }
    }
    if (ok) {
        print_row("fitted, 5-fold held out", p, y, n, bins);
    } else {
        printf("| %-26s | (too few rows of each kind for 5 folds) |\n", "fitted, 5-fold held out");
    }
    hr_free(p);
    hr_free(tx);
    hr_free(ty);
}

static const char CAL_USAGE[] =
    "--data LABELED.jsonl --out CALIB.json [options]\n\n"
    "Fit the confidence model (logistic over logprob features, then isotonic\n"
    "calibration) on answers labelled correct or not, print AUROC and ECE of\n"
    "the shipped defaults and of the fit, and write the fit for\n"
    "`hearth serve --calibration` (or confidence.calibration in the config).";

int hr__cli_calibrate(int argc, char **argv)
{
    const char *data = NULL, *out = NULL;
    int64_t bins = 10;
    const hr_opt opts[] = {
        {"data", 'd', HR_OPT_STRING, &data, 0, 0, NULL, "FILE", "labelled rows, one JSON object a line"},
        {"out", 'o', HR_OPT_STRING, &out, 0, 0, NULL, "FILE", "where to write the calibration"},
        {"bins", 0, HR_OPT_INT, &bins, 2, 100, NULL, "N", "ECE bins (default 10)"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    size_t n_pos = 0;
    int rc = hr__cli_parse("calibrate", CAL_USAGE, opts, argc, argv, pos, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (!data || !out) {
        fprintf(stderr, "hearth calibrate: --data and --out are required\n");
        return HR_CLI_USAGE;
    }
    char err[512];
    double *x = NULL;
    int *y = NULL;
    size_t n = 0;
    hr_conf_model def, fit;
    hr_conf_model_default(&def);
    rc = read_labeled(data, &x, &y, &n, err, sizeof err);
    rc = rc < 0 ? rc : hr_conf_fit(x, y, n, &fit, err, sizeof err);
    rc = rc < 0 ? rc : hr_conf_model_save(&fit, out, err, sizeof err);
    if (rc == 0) {
        size_t pos_n = 0;
        for (size_t i = 0; i < n; i++) {
            pos_n += y[i] != 0;
        }
        printf("%zu rows, %zu correct (%.1f%%)\n\n", n, pos_n, 100.0 * pos_n / n);
        printf("| %-26s | %7s | %7s | %9s |\n|---|---:|---:|---:|\n", "model", "AUROC", "ECE",
               "mean conf");
        report("shipped defaults", &def, x, y, n, (int)bins);
        report("fitted (in-sample)", &fit, x, y, n, (int)bins);
        report_cv(x, y, n, (int)bins);
        printf("\nwrote %s\n", out);
    } else {
        fprintf(stderr, "hearth calibrate: %s\n", err);
    }
    hr_free(x);
    hr_free(y);
    return rc == 0 ? HR_CLI_OK : HR_CLI_FAIL;
}
