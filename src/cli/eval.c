/* SPDX-License-Identifier: MIT */
/* eval.c -- `hearth eval --data eval.jsonl`: how good is "local first,
 * escalate when unsure" on your own data?
 *
 * Each line: {"prompt": ..., "expected": ... (text, or a number), "grader"?:
 * exact|numeric|contains|regex}. Every prompt is answered locally (greedy,
 * with logprobs) and, when --config names an upstream, by the upstream too.
 * The report:
 * accuracy of each, AUROC of the confidence for local correctness, ECE, the
 * deferral curve (quality against share escalated, as a table and an SVG
 * plot), cost at the chosen threshold against all-cloud, and the cheapest
 * threshold that keeps 95% of all-cloud quality. Main thread; the upstream
 * calls run a libevent loop until each answer is in. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "cli/eval_int.h"

#include <event2/event.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "router/router.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/str.h"

/* ---- graders ----------------------------------------------------------------- */

static void trim(const char **p, size_t *n)
{
    while (*n && strchr(" \t\r\n", (*p)[0])) {
        (*p)++, (*n)--;
    }
    while (*n && strchr(" \t\r\n.", (*p)[*n - 1])) {
        (*n)--;
    }
}

/* Where the first number in s starts, or NULL. */
static const char *number_start(const char *s)
{
    for (; *s; s++) {
        if ((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '.') && s[1] >= '0' && s[1] <= '9')) {
            return s;
        }
    }
    return NULL;
}

/* The first number in s, or NAN. */
static double first_number(const char *s)
{
    const char *p = number_start(s);
    char *end = NULL;
    double v = p ? strtod(p, &end) : NAN;
    return p && end != p ? v : NAN;
}

/* If the first number in s is an integer (no fraction digits, no exponent),
 * its sign and its digits without leading zeros. Integers are compared
 * digit by digit: a double cannot tell 123456789012 from 123456789013 at
 * the relative tolerance that suits fractions. */
static bool first_integer(const char *s, bool *neg, const char **digits, size_t *n)
{
    const char *p = number_start(s);
    if (!p || *p == '.') {
        return false;
    }
    *neg = *p == '-';
    p += *neg;
    size_t len = strspn(p, "0123456789");
    const char *after = p + len;
    bool frac = *after == '.' && after[1] >= '0' && after[1] <= '9';
    if (frac || ((*after == 'e' || *after == 'E') && number_start(after) == after + 1)) {
        return false;
    }
    while (len > 1 && *p == '0') {
        p++, len--;
    }
    *digits = p;
    *n = len;
    return true;
}

static bool numeric_equal(const char *answer, const char *expected)
{
    bool na, ne;
    const char *da, *de;
    size_t la, le;
    if (first_integer(answer, &na, &da, &la) && first_integer(expected, &ne, &de, &le)) {
        bool zero = la == 1 && *da == '0';
        return la == le && memcmp(da, de, la) == 0 && (na == ne || zero);
    }
    double x = first_number(answer), y = first_number(expected);
    return !isnan(x) && !isnan(y) && fabs(x - y) <= 1e-6 * fmax(1.0, fabs(y));
}

bool hr__eval_grade(const char *grader, const char *answer, const char *expected)
{
    const char *a = answer, *e = expected;
    size_t na = strlen(a), ne = strlen(e);
    trim(&a, &na);
    trim(&e, &ne);
    if (!grader || !strcmp(grader, "exact")) {
        return na == ne && strncasecmp(a, e, na) == 0;
    }
    if (!strcmp(grader, "numeric")) {
        return numeric_equal(answer, expected);
    }
    if (!strcmp(grader, "contains")) {
        for (size_t i = 0; ne && i + ne <= na; i++) {
            if (strncasecmp(a + i, e, ne) == 0) {
                return true;
            }
        }
        return ne == 0;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)expected, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code,
                                   &off, NULL);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    bool ok = md && pcre2_match(re, (PCRE2_SPTR)answer, strlen(answer), 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ok;
}

bool hr__eval_grader_known(const char *g)
{
    return !g || !strcmp(g, "exact") || !strcmp(g, "numeric") || !strcmp(g, "contains") ||
           !strcmp(g, "regex");
}

/* ---- the report ------------------------------------------------------------- */

/* Quality and cost if everything below threshold t is escalated. */
static void at_threshold(const hr_eval_item *it, size_t n, double t, double *quality,
                         double *share, double *cost)
{
    double q = 0, s = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        bool esc = it[i].confidence < t || t >= 1.0;
        q += esc ? it[i].cloud_ok : it[i].local_ok;
        s += esc;
        c += esc ? it[i].cloud_cost : 0.0;
    }
    *quality = q / (double)n;
    *share = s / (double)n;
    *cost = c;
}

/* The one-sided 95% lower bound of the mean of d = (the answer given at t)
 * - 0.95 x (the cloud's answer), 1 right and 0 wrong, over the items. The
 * cheapest threshold whose point estimate holds the bar sits at the edge,
 * so on new items it falls below about half the time; a bound >= 0 says
 * the bar holds for the population the items come from, at 95% confidence
 * (normal approximation to the paired difference). */
#define Z_95 1.6448536269514722

static double bar_lower_bound(const hr_eval_item *it, size_t n, double t)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        bool esc = it[i].confidence < t || t >= 1.0;
        double d = (esc ? it[i].cloud_ok : it[i].local_ok) - 0.95 * it[i].cloud_ok;
        sum += d;
        sq += d * d;
    }
    double m = sum / (double)n;
    double var = n > 1 ? (sq - (double)n * m * m) / (double)(n - 1) : 0.0;
    return m - Z_95 * sqrt(var > 0 ? var / (double)n : 0.0);
}

void hr__eval_summarize(const hr_eval_item *it, size_t n, double threshold, bool have_cloud,
                        hr_eval_summary *s)
{
    memset(s, 0, sizeof *s);
    double *p = hr_calloc(n, sizeof *p);
    int *y = hr_calloc(n, sizeof *y);
    s->n = n;
    for (size_t i = 0; p && y && i < n; i++) {
        p[i] = it[i].confidence;
        y[i] = it[i].local_ok;
        s->local_acc += it[i].local_ok;
        s->cloud_acc += it[i].cloud_ok;
        s->all_cloud_cost += it[i].cloud_cost;
    }
    s->local_acc /= (double)n;
    s->cloud_acc /= (double)n;
    s->auroc = p && y ? hr_stat_auroc(p, y, n) : 0.5;
    s->ece = p && y ? hr_stat_ece(p, y, n, 10) : 0.0;
    hr_free(p);
    hr_free(y);
    s->threshold = threshold;
    s->have_cloud = have_cloud;
    at_threshold(it, n, threshold, &s->quality, &s->share, &s->cost);
    for (int k = 0; k <= HR_EVAL_CURVE - 1; k++) {
        double t = (double)k / (HR_EVAL_CURVE - 1);
        s->curve_t[k] = t;
        at_threshold(it, n, t, &s->curve_q[k], &s->curve_share[k], &s->curve_cost[k]);
    }
    /* The cheapest threshold keeping 95% of all-cloud quality: on these
     * items, and with 95% confidence. */
    s->best_t = s->safe_t = -1;
    for (int k = 0; have_cloud && k < HR_EVAL_CURVE; k++) {
        if (s->curve_q[k] >= 0.95 * s->cloud_acc &&
            (s->best_t < 0 || s->curve_cost[k] < s->best_cost)) {
            s->best_t = s->curve_t[k];
            s->best_cost = s->curve_cost[k];
            s->best_q = s->curve_q[k];
        }
        if (bar_lower_bound(it, n, s->curve_t[k]) >= 0 &&
            (s->safe_t < 0 || s->curve_cost[k] < s->safe_cost)) {
            s->safe_t = s->curve_t[k];
            s->safe_cost = s->curve_cost[k];
            s->safe_q = s->curve_q[k];
        }
    }
}

void hr__eval_print(const hr_eval_summary *s)
{
    printf("%zu items: local accuracy %.1f%%", s->n, 100 * s->local_acc);
    if (s->have_cloud) {
        printf(", cloud accuracy %.1f%%", 100 * s->cloud_acc);
    }
    printf("\nconfidence vs local correctness: AUROC %.4f, ECE %.4f\n\n", s->auroc, s->ece);
    if (!s->have_cloud) {
        printf("(no upstream: give --config and --upstream for the deferral curve and cost)\n");
        return;
    }
    printf("| threshold | escalated | quality | cost (USD) |\n|---:|---:|---:|---:|\n");
    for (int k = 0; k < HR_EVAL_CURVE; k += 2) {
        printf("| %.2f | %5.1f%% | %5.1f%% | %.6f |\n", s->curve_t[k], 100 * s->curve_share[k],
               100 * s->curve_q[k], s->curve_cost[k]);
    }
    printf("\nat threshold %.2f: quality %.1f%%, %.1f%% escalated, cost %.6f vs all-cloud %.6f "
           "(%.1f%%)\n", s->threshold, 100 * s->quality, 100 * s->share, s->cost,
           s->all_cloud_cost, s->all_cloud_cost > 0 ? 100 * s->cost / s->all_cloud_cost : 0.0);
    if (s->best_t >= 0) {
        printf("cheapest threshold keeping >= 95%% of all-cloud quality: %.2f (quality %.1f%%, "
               "cost %.6f)\n", s->best_t, 100 * s->best_q, s->best_cost);
    } else {
        printf("no threshold keeps 95%% of all-cloud quality\n");
    }
    if (s->safe_t >= 0) {
        printf("cheapest threshold keeping >= 95%% of all-cloud quality with 95%% confidence: %.2f "
               "(quality %.1f%%, cost %.6f)\n", s->safe_t, 100 * s->safe_q, s->safe_cost);
    } else {
        printf("no threshold keeps 95%% of all-cloud quality with 95%% confidence\n");
    }
}
