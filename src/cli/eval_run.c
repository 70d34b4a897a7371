/* SPDX-License-Identifier: MIT */
/* eval_run.c -- `hearth eval`: read the items, answer each locally (a
 * session on the main thread) and on the upstream (libcurl on a libevent
 * loop run until the answer is in), grade, then report (eval.c). */
#include "cli/eval_int.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/config.h"
#include "engine/engine.h"
#include "router/router.h"
#include "upstream/upstream.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct eval_opts {
    const char *data, *model, *config, *upstream, *grader, *calibration, *plot, *details, *report;
    double threshold;
    int64_t max_tokens;
} eval_opts;

typedef struct local_ctx {
    hr_buf text;
    hr_conf_acc acc;
    json_t *content; /* per token: {logprob, top_logprobs: [{logprob}]}, for --details */
    bool oom;
} local_ctx;

/* One answer token as calibrate reads it back: its logprob and the top
 * alternatives' logprobs (the token text is not needed for the features). */
static void keep_token(local_ctx *lc, const hr_gen_event *ev)
{
    json_t *top = json_array();
    for (size_t i = 0; top && i < ev->n_top; i++) {
        if (json_array_append_new(top, json_pack("{s:f}", "logprob", ev->top[i].logprob)) < 0) {
            lc->oom = true;
        }
    }
    json_t *tok = top ? json_pack("{s:f, s:o}", "logprob", ev->logprob, "top_logprobs", top)
                      : NULL;
    if (!tok || json_array_append_new(lc->content, tok) < 0) {
        lc->oom = true;
    }
}

static bool on_token(const hr_gen_event *ev, void *ud)
{
    local_ctx *lc = ud;
    float top[HR_GEN_MAX_TOP_LOGPROBS];
    for (size_t i = 0; i < ev->n_top; i++) {
        top[i] = ev->top[i].logprob;
    }
    hr_buf_append(&lc->text, ev->text, ev->text_len);
    if (ev->piece_len) { /* the end-of-text token is not part of the answer */
        hr_conf_acc_add(&lc->acc, ev->logprob, top, ev->n_top);
        keep_token(lc, ev);
    }
    return true;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int answer_local(hr_session *s, const hr_model *m, const hr_conf_model *conf,
                        int64_t max_tokens, hr_eval_item *it)
{
    hr_gen_params p;
    hr_gen_params_init(&p);
    p.temperature = 0.0f;
    p.max_tokens = (int32_t)max_tokens;
    p.logprobs = true;
    p.top_logprobs = 5;
    hr_buf prompt = {0};
    hr_model_info info;
    hr_model_get_info(m, &info);
    hr_chat_msg msg = {"user", it->prompt};
    int rc = info.has_chat_template ? hr_model_chat_apply(m, &msg, 1, true, &prompt, NULL)
                                    : hr_buf_append_str(&prompt, it->prompt);
    local_ctx lc = {0};
    lc.content = json_array();
    rc = rc < 0 ? rc : lc.content ? 0 : HR_ENOMEM;
    double t0 = now_ms();
    char err[256];
    rc = rc < 0 ? rc : hr_session_generate(s, prompt.p, prompt.len, &p, on_token, &lc, NULL, err,
                                           sizeof err);
    it->local_ms = now_ms() - t0;
    double f[HR_CONF_N_FEATURES];
    hr_conf_features(&lc.acc, f);
    it->confidence = hr_conf_score(conf, f);
    it->local_answer = hr_buf_take(&lc.text);
    it->logprobs = lc.content;
    hr_conf_acc_deinit(&lc.acc);
    hr_buf_deinit(&prompt);
    return rc < 0 ? rc : it->local_answer && !lc.oom ? 0 : HR_ENOMEM;
}

/* ---- the upstream ------------------------------------------------------------ */

typedef struct cloud_ctx {
    struct event_base *base;
    hr_upstream *up;
    hr_eval_item *it;
    bool done;
    const char *msg;
} cloud_ctx;

static void cloud_done(void *ud, hr_upstream_reason r, json_t *resp, const char *msg)
{
    cloud_ctx *cc = ud;
    cc->done = true;
    cc->msg = r == HR_UP_OK ? NULL : msg ? msg : hr_upstream_reason_name(r);
    const char *text = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "message"),
        "content"));
    json_t *u = json_object_get(resp, "usage");
    cc->it->cloud_answer = hr_strdup(text ? text : "");
    cc->it->cloud_cost = hr_upstream_cost(
        cc->up, json_integer_value(json_object_get(u, "prompt_tokens")),
        json_integer_value(json_object_get(u, "completion_tokens")));
    event_base_loopbreak(cc->base);
}

static int answer_cloud(cloud_ctx *cc, int64_t max_tokens, hr_eval_item *it)
{
    static const hr_upstream_handler h = {.on_done = cloud_done};
    json_t *req = json_pack("{s:[{s:s, s:s}], s:I, s:i}", "messages", "role", "user", "content",
                            it->prompt, "max_tokens", (json_int_t)max_tokens, "temperature", 0);
    cc->it = it;
    cc->done = false;
    double t0 = now_ms();
    int rc = req ? hr_upstream_chat(cc->up, req, false, &h, cc, NULL) : HR_ENOMEM;
    json_decref(req);
    while (rc == 0 && !cc->done) {
        event_base_loop(cc->base, EVLOOP_ONCE);
    }
    it->cloud_ms = now_ms() - t0;
    if (rc == 0 && cc->msg) {
        fprintf(stderr, "hearth eval: upstream failed on an item (%s); counted as wrong\n",
                cc->msg);
    }
    return rc;
}

/* ---- items -------------------------------------------------------------------- */

static void items_free(hr_eval_item *it, size_t n)
{
    for (size_t i = 0; it && i < n; i++) {
        hr_free(it[i].prompt);
        hr_free(it[i].expected);
        hr_free(it[i].grader);
        hr_free(it[i].local_answer);
        json_decref(it[i].logprobs);
        hr_free(it[i].cloud_answer);
    }
    hr_free(it);
}

/* One JSON object into an item; HR_EFORMAT when it is not one. */
static int item_from(json_t *row, const char *grader, hr_eval_item *it)
{
    const char *p = json_string_value(json_object_get(row, "prompt"));
    json_t *ev = json_object_get(row, "expected");
    const char *g = json_string_value(json_object_get(row, "grader"));
    g = g ? g : grader;
    memset(it, 0, sizeof *it);
    if (!p || !(json_is_string(ev) || json_is_number(ev)) || !hr__eval_grader_known(g)) {
        return HR_EFORMAT;
    }
    it->prompt = hr_strdup(p);
    /* A number as JSON writes it ("expected": 42 for the numeric grader). */
    it->expected = json_is_string(ev) ? hr_strdup(json_string_value(ev))
                                      : json_dumps(ev, JSON_ENCODE_ANY);
    it->grader = g ? hr_strdup(g) : NULL;
    return it->prompt && it->expected && (!g || it->grader) ? 0 : HR_ENOMEM;
}

/* True when only whitespace is left in f. */
static bool at_end(FILE *f)
{
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t') {
    }
    return c == EOF;
}

static int read_items(const char *path, const char *grader, hr_eval_item **out, size_t *n,
                      char *err, size_t errlen)
{
    json_error_t je;
    FILE *f = fopen(path, "r");
    if (!f) {
        return hr_errf(err, errlen, HR_ENOENT, "%s: cannot open", path);
    }
    size_t cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    for (size_t k = 1; rc == 0; k++) {
        json_t *row = json_loadf(f, JSON_DISABLE_EOF_CHECK, &je);
        if (!row) {
            rc = at_end(f) ? 0 : hr_errf(err, errlen, HR_EFORMAT, "%s: item %zu: %s", path, k,
                                         je.text);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            hr_eval_item *bigger = hr_realloc(*out, cap * sizeof *bigger);
            rc = bigger ? 0 : HR_ENOMEM;
            *out = bigger ? bigger : *out;
        }
        if (rc == 0) {
            rc = item_from(row, grader, &(*out)[*n]);
            (*n)++; /* even half-filled: it is freed with the rest */
        }
        if (rc == HR_EFORMAT) {
            hr_errf(err, errlen, rc, "%s: item %zu: needs \"prompt\" and \"expected\" strings "
                    "(grader: exact, numeric, contains or regex)", path, k);
        }
        json_decref(row);
    }
    fclose(f);
    return rc == 0 && *n == 0 ? hr_errf(err, errlen, HR_EFORMAT, "%s: no items", path) : rc;
}

static int write_details(const char *path, const hr_eval_item *it, size_t n)
{
    FILE *f = fopen(path, "w");
    for (size_t i = 0; f && i < n; i++) {
        /* "answer", "correct" and "logprobs" make each line a labelled row
         * that `hearth calibrate --data` reads as it is. */
        json_t *row = json_pack("{s:s, s:s, s:s, s:b, s:f, s:s?, s:b, s:f, s:f, s:f, s:s, s:b,"
                                " s:{s:O?}}",
                                "prompt", it[i].prompt, "expected", it[i].expected,
                                "local_answer", it[i].local_answer, "local_correct",
                                it[i].local_ok, "confidence", it[i].confidence, "cloud_answer",
                                it[i].cloud_answer, "cloud_correct", it[i].cloud_ok,
                                "cloud_cost", it[i].cloud_cost, "local_ms", it[i].local_ms,
                                "cloud_ms", it[i].cloud_ms, "answer", it[i].local_answer,
                                "correct", it[i].local_ok, "logprobs", "content",
                                it[i].logprobs);
        int rc = row ? json_dumpf(row, f, JSON_COMPACT) : -1;
        json_decref(row);
        if (rc < 0 || fputc('\n', f) == EOF) {
            fclose(f);
            return HR_EIO;
        }
    }
    return f && fclose(f) == 0 ? 0 : HR_EIO;
}

static json_t *doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_array_append_new(a, json_real(v[i]));
    }
    return a;
}

static int write_report(const char *path, const hr_eval_summary *s)
{
    json_t *r = json_pack(
        "{s:I, s:f, s:f, s:f, s:f, s:b, s:{s:f, s:f, s:f, s:f, s:f}, s:o, s:o, "
        "s:{s:o, s:o, s:o, s:o}}",
        "n", (json_int_t)s->n, "local_accuracy", s->local_acc, "cloud_accuracy", s->cloud_acc,
        "auroc", s->auroc, "ece", s->ece, "have_cloud", s->have_cloud, "at_threshold",
        "threshold", s->threshold, "quality", s->quality, "escalated", s->share, "cost", s->cost,
        "all_cloud_cost", s->all_cloud_cost, "best",
        s->best_t >= 0 ? json_pack("{s:f, s:f, s:f}", "threshold", s->best_t, "quality",
                                   s->best_q, "cost", s->best_cost)
                       : json_null(),
        "best_confident",
        s->safe_t >= 0 ? json_pack("{s:f, s:f, s:f}", "threshold", s->safe_t, "quality",
                                   s->safe_q, "cost", s->safe_cost)
                       : json_null(),
        "curve", "threshold", doubles(s->curve_t, HR_EVAL_CURVE), "quality",
        doubles(s->curve_q, HR_EVAL_CURVE), "escalated", doubles(s->curve_share, HR_EVAL_CURVE),
        "cost", doubles(s->curve_cost, HR_EVAL_CURVE));
    int rc = r && json_dump_file(r, path, JSON_INDENT(2)) == 0 ? 0 : HR_EIO;
    json_decref(r);
    return rc;
}

/* ---- the command -------------------------------------------------------------- */

typedef struct eval_env {
    hr_model *model;
    hr_session *sess;
    hr_conf_model conf;
    hr_config cfg;
    struct event_base *base;
    hr_upstreams *ups;
    hr_upstream *up;
} eval_env;

static int open_env(eval_env *v, const eval_opts *o, char *err, size_t errlen)
{
    hr_conf_model_default(&v->conf);
    hr_config_init(&v->cfg);
    int rc = o->calibration ? hr_conf_model_load(&v->conf, o->calibration, err, errlen) : 0;
    if (rc == 0 && o->config) {
        rc = hr_config_load(&v->cfg, o->config, err, errlen);
    }
    if (rc == 0 && o->upstream) {
        v->base = event_base_new();
        rc = v->base && hr_upstreams_new(&v->ups, v->base) == 0 ? 0 : HR_ENOMEM;
        for (size_t i = 0; rc == 0 && i < v->cfg.n_upstreams; i++) {
            if (!strcmp(v->cfg.upstreams[i].name, o->upstream)) {
                rc = hr_upstream_add(v->ups, &v->cfg.upstreams[i], err, errlen);
            }
        }
        v->up = rc == 0 ? hr_upstream_find(v->ups, o->upstream) : NULL;
        if (rc == 0 && !v->up) {
            rc = hr_errf(err, errlen, HR_EINVAL, "no upstream named %s in the config", o->upstream);
        }
    }
    hr_engine_init(false);
    rc = rc < 0 ? rc : hr_model_load(&v->model, o->model, NULL, err, errlen);
    return rc < 0 ? rc : hr_session_new(&v->sess, v->model, NULL, err, errlen);
}

static void close_env(eval_env *v)
{
    hr_session_free(v->sess);
    hr_model_free(v->model);
    hr_upstreams_free(v->ups);
    if (v->base) {
        event_base_free(v->base);
    }
    hr_config_free(&v->cfg);
}

static int run_items(eval_env *v, const eval_opts *o, hr_eval_item *it, size_t n)
{
    cloud_ctx cc = {.base = v->base, .up = v->up};
    for (size_t i = 0; i < n; i++) {
        int rc = answer_local(v->sess, v->model, &v->conf, o->max_tokens, &it[i]);
        if (rc == 0 && v->up) {
            rc = answer_cloud(&cc, o->max_tokens, &it[i]);
        }
        if (rc < 0) {
            return rc;
        }
        it[i].local_ok = hr__eval_grade(it[i].grader, it[i].local_answer, it[i].expected);
        it[i].cloud_ok = it[i].cloud_answer &&
                         hr__eval_grade(it[i].grader, it[i].cloud_answer, it[i].expected);
        fprintf(stderr, "\reval: %zu/%zu", i + 1, n);
    }
    fprintf(stderr, "\n");
    return 0;
}

static const char EVAL_USAGE[] =
    "--data EVAL.jsonl [options]\n\n"
    "Answer every item locally and (with --config/--upstream) on the upstream,\n"
    "grade both, and report accuracy, AUROC and ECE of the confidence, the\n"
    "deferral curve, and cost at the threshold against all-cloud.\n"
    "Each line: {\"prompt\": ..., \"expected\": ..., \"grader\": exact|numeric|contains|regex}";

int hr__cli_eval(int argc, char **argv)
{
    eval_opts o = {.threshold = 0.85, .max_tokens = 32, .grader = "exact"};
    const hr_opt opts[] = {
        {"data", 'd', HR_OPT_STRING, &o.data, 0, 0, NULL, "FILE", "items, one JSON object a line"},
        {"model", 'm', HR_OPT_STRING, &o.model, 0, 0, NULL, "PATH", "local model (default: as serve)"},
        {"config", 0, HR_OPT_STRING, &o.config, 0, 0, NULL, "FILE", "config that defines the upstream"},
        {"upstream", 0, HR_OPT_STRING, &o.upstream, 0, 0, NULL, "NAME", "the upstream to compare with"},
        {"grader", 0, HR_OPT_STRING, &o.grader, 0, 0, NULL, "G", "exact, numeric, contains or regex (default exact)"},
        {"threshold", 0, HR_OPT_DOUBLE, &o.threshold, 0, 1, NULL, "T", "escalate below this (default 0.85)"},
        {"max-tokens", 'n', HR_OPT_INT, &o.max_tokens, 1, 100000, NULL, "N", "answer length (default 32)"},
        {"calibration", 0, HR_OPT_STRING, &o.calibration, 0, 0, NULL, "FILE", "from `hearth calibrate`"},
        {"plot", 0, HR_OPT_STRING, &o.plot, 0, 0, NULL, "FILE.svg", "write the deferral curve"},
        {"details", 0, HR_OPT_STRING, &o.details, 0, 0, NULL, "FILE", "write one JSON line per item"},
        {"report", 0, HR_OPT_STRING, &o.report, 0, 0, NULL, "FILE", "write the summary as JSON"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    size_t n_pos = 0;
    int rc = hr__cli_parse("eval", EVAL_USAGE, opts, argc, argv, pos, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (!o.data || !hr__eval_grader_known(o.grader) || (o.upstream && !o.config)) {
        fprintf(stderr, "hearth eval: --data is required, --grader must be exact, numeric, "
                        "contains or regex, and --upstream needs --config\n");
        return HR_CLI_USAGE;
    }
    o.model = o.model ? o.model : hr__cli_default_model();
    char err[512] = "";
    hr_eval_item *it = NULL;
    size_t n = 0;
    eval_env v = {0};
    rc = read_items(o.data, o.grader, &it, &n, err, sizeof err);
    rc = rc < 0 ? rc : open_env(&v, &o, err, sizeof err);
    rc = rc < 0 ? rc : run_items(&v, &o, it, n);
    if (rc == 0) {
        hr_eval_summary s;
        hr__eval_summarize(it, n, o.threshold, v.up != NULL, &s);
        hr__eval_print(&s);
        if ((o.plot && hr__eval_plot(&s, o.plot) < 0) ||
            (o.details && write_details(o.details, it, n) < 0) ||
            (o.report && write_report(o.report, &s) < 0)) {
            rc = hr_errf(err, sizeof err, HR_EIO, "cannot write an output file");
        }
    }
    if (rc < 0) {
        fprintf(stderr, "hearth eval: %s\n", err[0] ? err : hr_strerror(rc));
    }
    close_env(&v);
    items_free(it, n);
    return rc == 0 ? HR_CLI_OK : HR_CLI_FAIL;
}
