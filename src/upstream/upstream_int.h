/* SPDX-License-Identifier: MIT */
/* upstream_int.h -- shared by src/upstream's files: the handles, and the
 * per-protocol request/response mapping (proto.c) used by the transport
 * (upstream.c). Loop thread only. */
#ifndef HR_UPSTREAM_UPSTREAM_INT_H
#define HR_UPSTREAM_UPSTREAM_INT_H

#include "upstream/upstream.h"

#include <curl/curl.h>

#include "util/buf.h"

#define HR_UP_KIND_OPENAI 0
#define HR_UP_KIND_ANTHROPIC 1

typedef enum breaker_state { BR_CLOSED, BR_OPEN, BR_HALF_OPEN } breaker_state;

struct hr_upstream {
    hr_upstreams *set;
    hr_upstream *next;
    hr_upstream_opts o;       /* strings point to the copies below */
    char *name, *base_url, *model, *api_key;
    int kind;
    uint32_t in_flight;
    uint32_t failures;        /* consecutive */
    breaker_state breaker;
    double open_until_ms;
    bool probe_in_flight;
    hr_buf url;                     /* the endpoint, and the request headers */
    struct curl_slist *headers[2];  /* (auth included) without / with stream: */
    CURL *spare[16];                /* built once, as are idle easy handles */
    int n_spare;                    /* set up for this upstream */
};

/* Per-call state of a streamed answer being translated (Anthropic). */
typedef struct hr_up_stream_state {
    char id[64];
    int64_t created;
    int64_t in_tokens, out_tokens;
    bool done;                /* the protocol's end marker was seen */
} hr_up_stream_state;

/* Fill u->url and u->headers, once per upstream. */
int hr__up_prepare(hr_upstream *u);
/* The JSON body of one request. */
int hr__up_body(const hr_upstream *u, json_t *req, bool stream, hr_buf *body);

/* A non-streamed answer as an OpenAI chat.completion (new reference), or
 * NULL when it is not one. */
json_t *hr__up_parse_response(const hr_upstream *u, const char *p, size_t n);

/* One SSE event (name may be NULL, data is its joined data lines). Returns 0
 * and maybe *chunk (a new reference to pass on), 1 at the end marker, or
 * HR_EFORMAT. */
int hr__up_stream_event(const hr_upstream *u, hr_up_stream_state *st, const char *event,
                        const char *data, json_t **chunk);

#endif
