/* SPDX-License-Identifier: MIT */
/* router.h -- deciding where an answer comes from: confidence from token
 * logprobs, the route policies, the pre-gate, and the statistics used to
 * calibrate and evaluate them (AUROC, ECE, logistic and isotonic fits).
 *
 * Everything here is pure computation on plain data: no I/O except loading
 * and saving a calibration file, no threads, no llama.cpp. The HTTP layer
 * feeds it token logprobs; `hearth calibrate` and `hearth eval` feed it
 * labelled data. */
#ifndef HR_ROUTER_ROUTER_H
#define HR_ROUTER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- confidence ---------------------------------------------------------- */

/* The features, in this order:
 *   0 mean token logprob          4 mean entropy of the top-k (nats)
 *   1 min token logprob           5 share of tokens below HR_CONF_LOW_LOGPROB
 *   2 10th-percentile logprob     6 log(1 + answer tokens)
 *   3 25th-percentile logprob
 * An answer with no tokens has all features 0 except 1..3 = HR_CONF_EMPTY. */
#define HR_CONF_N_FEATURES 7
#define HR_CONF_LOW_LOGPROB (-2.302585f) /* p < 0.1 */
#define HR_CONF_EMPTY (-10.0)

/* Token statistics gathered as tokens arrive (a streamed answer is scored
 * on its first K tokens, a whole one on all). Zero-initialise; free with
 * hr_conf_acc_deinit. */
typedef struct hr_conf_acc {
    float *lp;       /* each token's logprob */
    size_t n, cap;
    double entropy_sum;
    size_t n_entropy;
} hr_conf_acc;

/* Add one token: its logprob and the logprobs of the top alternatives (the
 * token itself usually among them); n_top may be 0. Returns 0 or HR_ENOMEM. */
int hr_conf_acc_add(hr_conf_acc *a, float logprob, const float *top_lp, size_t n_top);
void hr_conf_acc_deinit(hr_conf_acc *a);
void hr_conf_features(const hr_conf_acc *a, double f[HR_CONF_N_FEATURES]);

#define HR_ISO_MAX 64

/* A logistic model over the features, then optionally a calibration map
 * from its output to a probability of being right. */
typedef struct hr_conf_model {
    double bias;
    double w[HR_CONF_N_FEATURES];
    double mean[HR_CONF_N_FEATURES]; /* features are standardised first */
    double scale[HR_CONF_N_FEATURES];
    int calibration;                 /* HR_CALIB_NONE, _PLATT or _ISOTONIC */
    double platt_a, platt_b;         /* p = 1 / (1 + exp(a * raw + b)) */
    double iso_x[HR_ISO_MAX], iso_y[HR_ISO_MAX]; /* a step function, x ascending */
    size_t iso_n;
    bool fitted;                     /* false: the shipped, uncalibrated defaults */
} hr_conf_model;

#define HR_CALIB_NONE 0
#define HR_CALIB_PLATT 1
#define HR_CALIB_ISOTONIC 2

/* The shipped defaults: hand-set weights that rank answers sensibly but are
 * NOT calibrated probabilities; run `hearth calibrate` on your own data. */
void hr_conf_model_default(hr_conf_model *m);

/* The logistic output in (0, 1), before calibration. */
double hr_conf_raw(const hr_conf_model *m, const double f[HR_CONF_N_FEATURES]);

/* The final confidence in [0, 1]: raw, then the calibration map. */
double hr_conf_score(const hr_conf_model *m, const double f[HR_CONF_N_FEATURES]);

/* Load or save a model as JSON. Returns 0, HR_ENOENT, HR_EFORMAT (message in
 * err) or HR_EIO. */
int hr_conf_model_load(hr_conf_model *m, const char *path, char *err, size_t errlen);
int hr_conf_model_save(const hr_conf_model *m, const char *path, char *err, size_t errlen);

/* ---- fitting and metrics (calibrate, eval) -------------------------------- */

/* Fit logistic weights on x (n rows of HR_CONF_N_FEATURES) against labels y
 * (0/1), by Newton's method with a small L2 penalty, then an isotonic map on
 * the fitted outputs. Needs both classes present. */
int hr_conf_fit(const double *x, const int *y, size_t n, hr_conf_model *out, char *err,
                size_t errlen);

/* Expected calibration error with `bins` equal-width bins. */
double hr_stat_ece(const double *p, const int *y, size_t n, int bins);

/* Area under the ROC curve of scores p for labels y (ties count half);
 * 0.5 when one class is absent. */
double hr_stat_auroc(const double *p, const int *y, size_t n);

/* ---- policies -------------------------------------------------------------- */

typedef enum hr_policy {
    HR_POLICY_LOCAL_FIRST = 0, /* answer locally; escalate below the threshold */
    HR_POLICY_LOCAL_ONLY,      /* never leave the machine */
    HR_POLICY_CLOUD_ONLY,      /* always the upstream */
    HR_POLICY_CLOUD_FALLBACK,  /* the upstream only when local fails or is full */
} hr_policy;

/* "local_first" etc. to the enum; -1 when unknown. */
int hr_policy_parse(const char *s);
const char *hr_policy_name(hr_policy p);

/* ---- routes ---------------------------------------------------------------- */

#define HR_ROUTE_DEFAULT_THRESHOLD 0.85
#define HR_ROUTE_DEFAULT_HOLDBACK 32
#define HR_ROUTE_MAX_PATTERNS 32

/* A route as configured. Strings are copied by hr_router_add. */
typedef struct hr_route_opts {
    const char *name;          /* the "model" clients ask for, e.g. "auto" */
    hr_policy policy;
    const char *upstream;      /* upstream name; required unless local_only */
    double threshold;          /* escalate below this; < 0 = 0.85 */
    uint32_t holdback_tokens;  /* streamed answers are judged on these; 0 = 32 */
    int64_t max_prompt_tokens; /* pre-gate: longer prompts go to the cloud; 0 = off */
    const char *always_cloud[HR_ROUTE_MAX_PATTERNS]; /* pre-gate regexes (PCRE2) */
    size_t n_always_cloud;
    bool no_local_override;    /* ignore the X-Hearth-Route: local header */
    bool live_cloud_stream;    /* forward an escalated stream as it arrives
                                  (default: whole, so a broken one can still
                                  be replaced by the local answer) */
    const char *privacy;       /* the privacy policy's name; NULL = the default */
} hr_route_opts;

typedef struct hr_route hr_route; /* read-only once added */
typedef struct hr_router hr_router;

/* A router with the confidence model m (copied). */
int hr_router_new(hr_router **out, const hr_conf_model *m);
void hr_router_free(hr_router *r);
/* Add a route; compiles its patterns (with PCRE2's JIT where available). */
int hr_router_add(hr_router *r, const hr_route_opts *o, char *err, size_t errlen);
/* The route named name, or NULL. */
const hr_route *hr_router_find(const hr_router *r, const char *name);
const hr_conf_model *hr_router_conf(const hr_router *r);
/* Every route's name, for /v1/models: call with i = 0, 1, ... until NULL. */
const char *hr_router_route_name(const hr_router *r, size_t i);

const char *hr_route_name(const hr_route *rt);
hr_policy hr_route_policy(const hr_route *rt);
const char *hr_route_upstream(const hr_route *rt);
double hr_route_threshold(const hr_route *rt);
uint32_t hr_route_holdback(const hr_route *rt);
bool hr_route_local_override(const hr_route *rt);
bool hr_route_live_cloud_stream(const hr_route *rt);
const char *hr_route_privacy(const hr_route *rt); /* NULL: the default policy */

/* The pre-gate: a reason to skip local generation ("pregate_length",
 * "pregate_pattern"), or NULL to go on. text is the whole prompt. */
const char *hr_route_pregate(const hr_route *rt, const char *text, size_t len, size_t n_tokens);

#endif
