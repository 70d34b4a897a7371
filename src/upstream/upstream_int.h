/* SPDX-License-Identifier: MIT */
/* upstream_int.h -- shared by src/upstream's files: the handles, the
 * per-protocol request/response mapping (proto.c, anthropic.c) and the
 * reading of a call's response (stream.c), used by the transport
 * (upstream.c). Loop thread only. */
#ifndef HR_UPSTREAM_UPSTREAM_INT_H
#define HR_UPSTREAM_UPSTREAM_INT_H

#include "upstream/upstream.h"

#include <curl/curl.h>

#include "util/buf.h"

struct event;

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
    bool no_stream_usage;           /* it refused stream_options: never send it again */
};

/* Per-call state of a streamed answer being translated (Anthropic). */
typedef struct hr_up_stream_state {
    char id[64];
    int64_t created;
    int64_t in_tokens, out_tokens;
    int n_tools;              /* tool_use blocks so far: the next call's index */
    bool tool_open;           /* the block being streamed is a tool_use */
    bool schema_tool;         /* a tool_use is the answer's content (a JSON schema
                                 response format, asked for as a forced tool) */
    bool done;                /* the protocol's end marker was seen */
} hr_up_stream_state;

/* One call: its tries, its response so far, its consumer. */
struct hr_upstream_call {
    hr_upstream *u;
    hr_upstream_call *prev, *next;
    CURL *easy;
    json_t *req;   /* the request, to build the body again without stream_options */
    hr_buf body, resp, sse;
    hr_buf evdata; /* the event being delivered: kept, not allocated per event */
    hr_up_stream_state st;
    bool stream, delivered, got_byte, consumer_stopped, is_probe;
    bool paused;   /* the consumer is not taking chunks (hr_upstream_pause) */
    bool ended;    /* the end marker came: nothing after it is the answer's */
    bool schema_tool; /* hr_up_stream_state's, kept across tries */
    bool retry_after_ms_set; /* this try's answer had retry-after-ms */
    bool settled;  /* ended, and the consumer was told (on_done) */
    hr_upstream_call *ended_next; /* on the set's list of ended, unsettled calls */
    int tries;
    long status;
    double t_start, retry_after_ms;
    struct event *retry_timer, *fb_timer;
    hr_upstream_reason fb_reason; /* set when the first-byte timer fired */
    hr_upstream_handler h;
    void *ud;
};

/* curl's write and header callbacks for a call (stream.c). */
size_t hr__up_on_write(char *p, size_t size, size_t nmemb, void *ud);
size_t hr__up_on_header(char *p, size_t size, size_t nmemb, void *ud);
/* Pass the whole events read so far on, until the consumer pauses; false
 * when it stopped or the stream is malformed. */
bool hr__up_drain(hr_upstream_call *c);
/* The call's end marker came (upstream.c): its consumer is told once curl
 * has returned. */
void hr__up_ended(hr_upstream_call *c);

/* Fill u->url and u->headers, once per upstream. */
int hr__up_prepare(hr_upstream *u);
/* The JSON body of one request; HR_EINVAL when the upstream's API cannot
 * carry it. */
int hr__up_body(const hr_upstream *u, json_t *req, bool stream, hr_buf *body);

/* A non-streamed answer as an OpenAI chat.completion (new reference), or
 * NULL when it is not one. */
json_t *hr__up_parse_response(const hr_upstream *u, const char *p, size_t n, bool schema_tool);

/* One SSE event (name may be NULL, data is its joined data lines). Returns 0
 * and maybe *chunk (a new reference to pass on), 1 at the end marker, or
 * HR_EFORMAT. */
int hr__up_stream_event(const hr_upstream *u, hr_up_stream_state *st, const char *event,
                        const char *data, json_t **chunk);

/* The Anthropic Messages API (anthropic.c): a request body, a message as
 * a chat.completion (new references, NULL when not sendable or not one),
 * and one stream event as hr__up_stream_event says. */
json_t *hr__anth_body(const hr_upstream *u, json_t *req, bool stream);
json_t *hr__anth_message(json_t *m, bool schema_tool);
/* Does req ask for a JSON schema response format (sent as a forced tool)? */
bool hr__anth_schema_tool(json_t *req);
int hr__anth_event(const hr_upstream *u, hr_up_stream_state *st, json_t *ev, json_t **chunk);

#endif
