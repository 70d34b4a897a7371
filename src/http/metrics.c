/* SPDX-License-Identifier: MIT */
/* metrics.c -- counters and histograms for GET /metrics (Prometheus text
 * format 0.0.4). Updated and rendered on the loop thread only; the engine's
 * slot and queue figures come from hr_engine_get_stats at render time. */
#include "http/http_int.h"

#include <stdbool.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define MAX_SERIES 64
#define N_BUCKETS 13

static const double BUCKETS_MS[N_BUCKETS] = {5,    10,   25,   50,    100,   250,  500,
                                             1000, 2500, 5000, 10000, 30000, 60000};

typedef struct histo {
    uint64_t counts[N_BUCKETS + 1]; /* the last one is +Inf */
    double sum_ms;
    uint64_t n;
} histo;

typedef struct series {
    const char *endpoint; /* a route's static string */
    int status;
    uint64_t n;
} series;

typedef struct labeled {
    const char *name;  /* static strings */
    const char *label;
    const char *value;
    uint64_t n;
} labeled;

struct hr_metrics {
    series req[MAX_SERIES];
    size_t n_req;
    labeled counts[MAX_SERIES];
    size_t n_counts;
    int64_t tokens_in, tokens_out;
    histo ttft, latency;
};

int hr__metrics_new(hr_metrics **out)
{
    *out = hr_calloc(1, sizeof **out);
    return *out ? 0 : HR_ENOMEM;
}

void hr__metrics_free(hr_metrics *m)
{
    hr_free(m);
}

static void observe(histo *h, double ms)
{
    size_t i = 0;
    while (i < N_BUCKETS && ms > BUCKETS_MS[i]) {
        i++;
    }
    h->counts[i]++;
    h->sum_ms += ms;
    h->n++;
}

void hr__metrics_request(hr_metrics *m, const char *endpoint, int status, double latency_ms)
{
    size_t i = 0;
    while (i < m->n_req && !(m->req[i].status == status && strcmp(m->req[i].endpoint, endpoint) == 0)) {
        i++;
    }
    if (i == m->n_req && m->n_req < MAX_SERIES) {
        m->req[m->n_req++] = (series){.endpoint = endpoint, .status = status};
    }
    if (i < m->n_req) {
        m->req[i].n++;
    }
    observe(&m->latency, latency_ms);
}

void hr__metrics_count(hr_metrics *m, const char *name, const char *label, const char *value)
{
    size_t i = 0;
    while (i < m->n_counts && !(strcmp(m->counts[i].name, name) == 0 &&
                                strcmp(m->counts[i].value, value) == 0)) {
        i++;
    }
    if (i == m->n_counts && m->n_counts < MAX_SERIES) {
        m->counts[m->n_counts++] = (labeled){.name = name, .label = label, .value = value};
    }
    if (i < m->n_counts) {
        m->counts[i].n++;
    }
}

/* Samples of one family must be contiguous in the text format. */
static int render_counts(const hr_metrics *m, hr_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n_counts; i++) {
        bool first = true;
        for (size_t k = 0; k < i; k++) {
            first &= strcmp(m->counts[k].name, m->counts[i].name) != 0;
        }
        if (!first) {
            continue;
        }
        rc = hr_buf_printf(out, "# TYPE %s counter\n", m->counts[i].name);
        for (size_t k = i; rc == 0 && k < m->n_counts; k++) {
            const labeled *c = &m->counts[k];
            if (strcmp(c->name, m->counts[i].name) == 0) {
                rc = hr_buf_printf(out, "%s{%s=\"%s\"} %llu\n", c->name, c->label, c->value,
                                   (unsigned long long)c->n);
            }
        }
    }
    return rc;
}

void hr__metrics_tokens(hr_metrics *m, int64_t n_in, int64_t n_out)
{
    m->tokens_in += n_in;
    m->tokens_out += n_out;
}

void hr__metrics_ttft(hr_metrics *m, double ms)
{
    observe(&m->ttft, ms);
}

static int render_histo(hr_buf *out, const char *name, const char *help, const histo *h)
{
    int rc = hr_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; rc == 0 && i <= N_BUCKETS; i++) {
        cum += h->counts[i];
        if (i < N_BUCKETS) {
            rc = hr_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS_MS[i] / 1000.0,
                               (unsigned long long)cum);
        } else {
            rc = hr_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    if (rc == 0) {
        rc = hr_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum_ms / 1000.0, name,
                           (unsigned long long)h->n);
    }
    return rc;
}

int hr__metrics_render(const hr_metrics *m, const hr_engine_stats *st, hr_buf *out)
{
    int rc = hr_buf_printf(out, "# HELP hearth_requests_total HTTP requests by endpoint and "
                                "status.\n# TYPE hearth_requests_total counter\n");
    for (size_t i = 0; rc == 0 && i < m->n_req; i++) {
        rc = hr_buf_printf(out, "hearth_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                           m->req[i].endpoint, m->req[i].status, (unsigned long long)m->req[i].n);
    }
    if (rc == 0) {
        rc = hr_buf_printf(out,
                           "# HELP hearth_tokens_in_total Prompt tokens processed.\n"
                           "# TYPE hearth_tokens_in_total counter\nhearth_tokens_in_total %lld\n"
                           "# HELP hearth_tokens_out_total Tokens generated.\n"
                           "# TYPE hearth_tokens_out_total counter\nhearth_tokens_out_total %lld\n"
                           "# HELP hearth_slots_busy Slots running a request.\n"
                           "# TYPE hearth_slots_busy gauge\nhearth_slots_busy %u\n"
                           "# HELP hearth_queue_depth Requests waiting for a slot.\n"
                           "# TYPE hearth_queue_depth gauge\nhearth_queue_depth %u\n",
                           (long long)m->tokens_in, (long long)m->tokens_out, st->slots_busy,
                           st->queue_depth);
    }
    if (rc == 0) {
        rc = render_counts(m, out);
    }
    if (rc == 0) {
        rc = render_histo(out, "hearth_ttft_seconds", "Time to first token.", &m->ttft);
    }
    if (rc == 0) {
        rc = render_histo(out, "hearth_request_duration_seconds", "Request latency.", &m->latency);
    }
    return rc;
}
