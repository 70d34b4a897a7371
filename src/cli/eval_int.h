/* SPDX-License-Identifier: MIT */
/* eval_int.h -- shared by eval.c (grading and the report), eval_run.c
 * (answering the items) and plot.c (the SVG). */
#ifndef HR_CLI_EVAL_INT_H
#define HR_CLI_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

#define HR_EVAL_CURVE 21 /* thresholds 0, 0.05, ..., 1 */

typedef struct hr_eval_item {
    char *prompt, *expected, *grader;
    char *local_answer, *cloud_answer;
    struct json_t *logprobs; /* the local answer's tokens, OpenAI "content" shape */
    double confidence;
    bool local_ok, cloud_ok;
    double cloud_cost;
    double local_ms, cloud_ms;
} hr_eval_item;

typedef struct hr_eval_summary {
    size_t n;
    double local_acc, cloud_acc, auroc, ece;
    bool have_cloud;
    double threshold, quality, share, cost, all_cloud_cost;
    double curve_t[HR_EVAL_CURVE], curve_q[HR_EVAL_CURVE], curve_share[HR_EVAL_CURVE];
    double curve_cost[HR_EVAL_CURVE];
    double best_t, best_q, best_cost; /* cheapest holding 95% on these items; t < 0: none */
    double safe_t, safe_q, safe_cost; /* the same with 95% confidence (eval.c); t < 0: none */
} hr_eval_summary;

bool hr__eval_grade(const char *grader, const char *answer, const char *expected);
bool hr__eval_grader_known(const char *grader);
void hr__eval_summarize(const hr_eval_item *it, size_t n, double threshold, bool have_cloud,
                        hr_eval_summary *s);
void hr__eval_print(const hr_eval_summary *s);
/* Write the deferral curve as an SVG; returns 0 or HR_EIO. */
int hr__eval_plot(const hr_eval_summary *s, const char *path);

#endif
