/* SPDX-License-Identifier: MIT */
/* upstream.h -- cloud models behind hearth: OpenAI-compatible APIs and
 * Anthropic's Messages API, called with libcurl's multi interface on the
 * libevent loop, with timeouts, retries, a concurrency cap and a circuit
 * breaker per upstream.
 *
 * Requests and answers are OpenAI chat shapes whatever the upstream speaks:
 * an Anthropic upstream converts both ways. Everything here runs on the loop
 * thread. API keys live only in the handle and in request headers; they are
 * never logged or reported. */
#ifndef HR_UPSTREAM_UPSTREAM_H
#define HR_UPSTREAM_UPSTREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct hr_upstreams hr_upstreams;
typedef struct hr_upstream hr_upstream;
typedef struct hr_upstream_call hr_upstream_call;

/* One upstream's settings. Zero means the default shown. */
typedef struct hr_upstream_opts {
    const char *name;      /* how routes refer to it */
    const char *kind;      /* "openai" (default) or "anthropic" */
    const char *base_url;  /* e.g. https://api.openai.com/v1 (".../chat/completions" is added) */
    const char *model;     /* the model name sent upstream */
    const char *api_key;   /* the key itself (the config names an env var); may be NULL */
    uint32_t connect_timeout_ms;    /* 0 = 5000 */
    uint32_t first_byte_timeout_ms; /* 0 = 30000 */
    uint32_t total_timeout_ms;      /* 0 = 120000 */
    int32_t retries;                /* retries after the first try; < 0 = 2 */
    uint32_t backoff_ms;            /* first backoff, doubled each retry, jittered; 0 = 250 */
    uint32_t max_concurrent;        /* calls in flight at most; 0 = 16 */
    uint32_t breaker_failures;      /* consecutive failures that open the circuit; 0 = 5 */
    uint32_t breaker_reset_ms;      /* open time before a half-open probe; 0 = 30000 */
    double price_in_per_m;          /* USD per 1M input tokens */
    double price_out_per_m;         /* USD per 1M output tokens */
} hr_upstream_opts;

/* Why a call failed; named by hr_upstream_reason for metrics and bodies. */
typedef enum hr_upstream_reason {
    HR_UP_OK = 0,
    HR_UP_TIMEOUT,      /* connect, first byte or total timeout */
    HR_UP_CONNECT,      /* could not connect, or the connection broke */
    HR_UP_HTTP_429,     /* rate limited beyond the retries */
    HR_UP_HTTP_5XX,     /* server errors beyond the retries */
    HR_UP_HTTP_4XX,     /* the upstream refused the request (401, 403, 404...) */
    HR_UP_MALFORMED,    /* unparseable or truncated answer */
    HR_UP_CIRCUIT_OPEN, /* too many recent failures: not tried */
    HR_UP_BUSY,         /* max_concurrent calls already in flight: not tried */
    HR_UP_REJECTED,     /* the upstream found the request itself invalid (400, 413,
                           422): the request's fault, so no strike against the
                           upstream's circuit */
    HR_UP_N_REASONS
} hr_upstream_reason;

const char *hr_upstream_reason_name(hr_upstream_reason r);

int hr_upstreams_new(hr_upstreams **out, struct event_base *base);
/* Cancels calls in flight (no callbacks). NULL is a no-op. */
void hr_upstreams_free(hr_upstreams *s);

/* Add an upstream (copies every string). */
int hr_upstream_add(hr_upstreams *s, const hr_upstream_opts *o, char *err, size_t errlen);
hr_upstream *hr_upstream_find(hr_upstreams *s, const char *name);
const char *hr_upstream_name(const hr_upstream *u);
const char *hr_upstream_model(const hr_upstream *u);
/* The cost in USD of n_in prompt and n_out completion tokens. */
double hr_upstream_cost(const hr_upstream *u, int64_t n_in, int64_t n_out);
/* True while the circuit is open (calls fail fast). */
bool hr_upstream_is_open(const hr_upstream *u);
/* How long the circuit stays open yet, in ms (0 when it is not open). */
double hr_upstream_open_for_ms(const hr_upstream *u);

typedef struct hr_upstream_handler {
    /* Streamed calls: one chat.completion.chunk per call, borrowed. Return
     * false to cancel the call (no on_done follows). */
    bool (*on_chunk)(void *ud, json_t *chunk);
    /* The end. reason HR_UP_OK: for a non-streamed call `response` is the
     * chat.completion (borrowed); a streamed call is over at its end marker,
     * even while the upstream's connection is still winding down. Otherwise
     * `msg` says what went wrong. */
    void (*on_done)(void *ud, hr_upstream_reason reason, json_t *response, const char *msg);
    /* Optional, for consumers that pass chunks through untouched: an
     * OpenAI-compatible upstream's chunk that is plainly not the last one
     * ("finish_reason":null) comes here as its raw JSON text instead, unparsed.
     * Return false to cancel. */
    bool (*on_raw)(void *ud, const char *data, size_t n);
    /* Optional, beside on_raw: the chunk that sets finish_reason, raw too.
     * Returns 1 when taken, 0 to cancel, -1 to have it parsed and passed
     * to on_chunk instead (a consumer that cannot use it as text). */
    int (*on_raw_last)(void *ud, const char *data, size_t n);
    /* Optional, beside on_raw: the usage chunk (no choices) raw, with its
     * prompt and completion tokens read off it. Return false to cancel. */
    bool (*on_raw_usage)(void *ud, const char *data, size_t n, int64_t in, int64_t out);
    /* Optional, streamed calls: the stream's end marker came, so the answer
     * is whole; on_done (HR_UP_OK) follows once curl has returned. It runs
     * inside curl's callback: a consumer may send the end of its reply here,
     * so that the client does not wait for curl's own wind-down, but must
     * not start or cancel upstream calls. */
    void (*on_end)(void *ud);
} hr_upstream_handler;

/* Send an OpenAI chat request (its "model" is replaced by the upstream's
 * and "stream" set as asked). Returns 0 and then calls on_done exactly once
 * (unless cancelled), or a negative code with no callback (HR_EINVAL: the
 * upstream's API cannot carry the request). *out, when not
 * NULL, receives a handle for hr_upstream_cancel. */
int hr_upstream_chat(hr_upstream *u, json_t *req, bool stream, const hr_upstream_handler *h,
                     void *ud, hr_upstream_call **out);

/* Stop a call; no callback follows. Not from inside that call's callbacks. */
void hr_upstream_cancel(hr_upstream_call *c);

/* Backpressure for a streamed call whose consumer cannot keep up (its
 * client reads slowly): pause stops passing chunks on and, from the next
 * bytes curl reads, stops reading the upstream, whose sends then block.
 * Pause may be called from on_chunk/on_raw; resume not from inside the
 * call's callbacks. Timeouts keep running while paused. */
void hr_upstream_pause(hr_upstream_call *c);
void hr_upstream_resume(hr_upstream_call *c);

#endif
