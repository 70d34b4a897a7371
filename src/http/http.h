/* SPDX-License-Identifier: MIT */
/* http.h -- hearth's HTTP front: the OpenAI-compatible API over an engine.
 *
 * hr_http runs on a libevent loop (the loop thread): it accepts connections,
 * routes requests to the API handlers, feeds generations to the engine and
 * streams results back. Every function here runs on the loop thread. */
#ifndef HR_HTTP_HTTP_H
#define HR_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct event_base;
typedef struct hr_http hr_http;

/* A zero-initialised struct means all defaults. */
typedef struct hr_http_opts {
    const char *host;          /* listen address; NULL = 127.0.0.1 */
    uint16_t port;             /* 0 = any free port (see hr_http_port) */
    const char *model_id;      /* the name clients use; NULL = the model's file name */
    const char *const *api_keys; /* NULL-terminated accepted keys; NULL = no auth */
    size_t max_body_bytes;     /* 0 = 8 MiB */
    size_t max_header_bytes;   /* 0 = 16 KiB */
    uint32_t header_timeout_ms; /* 0 = 10 s to send the headers */
    uint32_t body_timeout_ms;  /* 0 = 30 s to send the body */
    uint32_t idle_timeout_ms;  /* 0 = 60 s between keep-alive requests */
} hr_http_opts;

/* Listen and serve. The model and engine may be attached later with
 * hr_http_set_model; until then /health answers 503 and the API 503 with
 * Retry-After. */
int hr_http_open(hr_http **out, struct event_base *base, const hr_http_opts *opts, char *err,
                 size_t errlen);

/* Attach the loaded model and its running engine (both stay owned by the
 * caller and must outlive the server). */
int hr_http_set_model(hr_http *h, hr_model *m, hr_engine *e);

struct hr_router;
struct hr_upstreams;
/* Routes ("auto" ...) and the upstreams they escalate to; both stay owned
 * by the caller and must outlive the server. Either may be NULL. */
void hr_http_set_routing(hr_http *h, struct hr_router *router, struct hr_upstreams *ups);

struct hr_audit;
/* Log one audit row per API request to a (owned by the caller, outliving
 * the server; NULL turns it off), with the prompt text only when
 * log_prompts. */
void hr_http_set_audit(hr_http *h, struct hr_audit *a, bool log_prompts);

struct hr_privacy;
/* What may leave the machine when a routed request escalates (owned by the
 * caller, outliving the server); NULL lets everything go as it is. */
void hr_http_set_privacy(hr_http *h, struct hr_privacy *p);

/* The id under which an API key appears in logs, audit rows and per-key
 * policies: "key-" and the first 12 hex digits of its SHA-256. */
void hr_http_key_id(const char *key, char out[20]);

/* The port actually bound. */
uint16_t hr_http_port(const hr_http *h);

/* Graceful shutdown: stop accepting, let requests in flight finish for up to
 * grace_ms, then cancel what is left; calls event_base_loopexit when done. */
void hr_http_shutdown(hr_http *h, uint32_t grace_ms);

/* Free everything (after the loop has stopped). NULL is a no-op. */
void hr_http_close(hr_http *h);

#endif
