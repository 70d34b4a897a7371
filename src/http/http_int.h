/* SPDX-License-Identifier: MIT */
/* http_int.h -- what src/http's files share: the HTTP/1.1 connection layer
 * (server.c), the error and JSON helpers, metrics, and the handler context.
 * Everything here runs on the loop thread. */
#ifndef HR_HTTP_HTTP_INT_H
#define HR_HTTP_HTTP_INT_H

#include "http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "router/router.h"
#include "upstream/upstream.h"
#include "util/buf.h"

/* ---- response output (out.c) ------------------------------------------------
 * A connection's bytes on their way to its socket: queued pieces are
 * gathered until the end of the loop turn and sent in one system call;
 * written ones (after whatever was queued) go at once. What the socket does
 * not take waits in the bufferevent's output. */
struct bufferevent;
struct event;
struct event_base;
struct iovec;

typedef struct hr_out {
    struct bufferevent *bev;
    struct event *flush; /* made active when the first piece of a turn is queued */
    hr_buf pend;         /* pieces queued this turn */
} hr_out;

int hr__out_init(hr_out *o, struct event_base *base, struct bufferevent *bev);
void hr__out_deinit(hr_out *o);
void hr__out_queue(hr_out *o, const struct iovec *iov, int n);
void hr__out_write(hr_out *o, const struct iovec *iov, int n);
void hr__out_flush(hr_out *o);
size_t hr__out_pending(const hr_out *o); /* bytes not yet taken by the socket */

/* ---- connection layer (server.c) ------------------------------------------
 * A request lives from its first byte until its response ends or its client
 * goes away, whichever is first. After hr__http_respond or
 * hr__http_stream_end the request is gone; if the client goes first, the
 * on_close callback runs and the request is gone after it returns. */
typedef struct hr_srv hr_srv;
typedef struct hr_req hr_req;

typedef void (*hr_req_handler)(hr_req *req, void *ud);
typedef void (*hr_req_close_cb)(hr_req *req, void *ud);

typedef struct hr_srv_opts {
    const char *host;
    uint16_t port;
    size_t max_body_bytes;
    size_t max_header_bytes;
    uint32_t header_timeout_ms;
    uint32_t body_timeout_ms;
    uint32_t idle_timeout_ms;
    /* Called as each response starts (metrics); may be NULL. */
    void (*on_response)(hr_req *r, int status, void *ud);
    /* Called once for each request that reached its handler, just before it
     * is gone: its response ended (completed) or its client left. May be
     * NULL. */
    void (*on_done)(hr_req *r, bool completed, void *ud);
} hr_srv_opts;

int hr__srv_open(hr_srv **out, struct event_base *base, const hr_srv_opts *o, hr_req_handler h,
                 void *ud, char *err, size_t errlen);
void hr__srv_close(hr_srv *s);
uint16_t hr__srv_port(const hr_srv *s);
void hr__srv_stop_accepting(hr_srv *s);
size_t hr__srv_n_active(const hr_srv *s); /* requests being answered */
/* Close every connection now (clients of unfinished requests see a reset;
 * their on_close callbacks run). */
void hr__srv_drop_all(hr_srv *s);

const char *hr__req_method(const hr_req *r);
const char *hr__req_path(const hr_req *r);  /* without the query string */
const char *hr__req_header(const hr_req *r, const char *name); /* case-insensitive; NULL */
const char *hr__req_body(const hr_req *r, size_t *len);
uint64_t hr__req_id(const hr_req *r);
/* A static string naming the route, for metrics ("" until set). */
void hr__req_set_label(hr_req *r, const char *label);
const char *hr__req_label(const hr_req *r);
double hr__req_start_ms(const hr_req *r);

/* One pointer of the handler layer's own per-request state; the connection
 * layer only carries it (on_done is where its owner frees it). */
void hr__req_set_ext(hr_req *r, void *ext);
void *hr__req_ext(const hr_req *r);
/* The id of the API key the request came with ("key-" and 12 hex digits of
 * the key's SHA-256; never the key), or NULL without authentication. */
void hr__req_set_key_id(hr_req *r, const char *id);
const char *hr__req_key_id(const hr_req *r);
/* The response's status once it started, else 0. */
int hr__req_status(const hr_req *r);

/* Add a response header (before the response starts). */
int hr__req_add_header(hr_req *r, const char *name, const char *value);
void hr__req_on_close(hr_req *r, hr_req_close_cb cb, void *ud);
/* Bytes of the response the client's socket has not taken yet (it reads
 * slower than they come), and a callback for when they have all gone. */
size_t hr__req_backlog(const hr_req *r);
void hr__req_on_drain(hr_req *r, hr_req_close_cb cb, void *ud);

/* A complete response; the request is finished. */
void hr__http_respond(hr_req *r, int status, const char *content_type, const char *body,
                      size_t len);
/* A streamed response (chunked encoding). */
void hr__http_stream_start(hr_req *r, int status, const char *content_type);
void hr__http_stream_write(hr_req *r, const char *p, size_t n);
void hr__http_stream_end(hr_req *r);
/* The stream's last bytes go out now; the request stays until
 * hr__http_stream_end, which then only finishes it. For a caller that
 * knows the answer is whole while still inside work (an upstream transfer)
 * that must not start the next request. */
void hr__http_stream_close(hr_req *r);
/* One server-sent event, "data: " p "\n\n", as a single chunk. */
void hr__http_sse_data(hr_req *r, const char *p, size_t n);

/* Monotonic milliseconds. */
double hr__now_ms(void);

/* ---- errors and JSON (errors.c) -------------------------------------------- */

/* Answer with the OpenAI error shape {"error":{message,type,param,code}}.
 * type is derived from the status; param and code may be NULL. */
void hr__http_error(hr_req *r, int status, const char *code, const char *param,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answer with a JSON document (takes a reference: decrefs it). */
void hr__http_json(hr_req *r, int status, json_t *doc);

/* ---- OpenAI request bodies (openai_json.c) ------------------------------------ */

typedef struct hr_oai_err {
    int status;        /* HTTP status */
    const char *param; /* the offending parameter, or NULL */
    const char *code;  /* OpenAI error code, or NULL */
    char msg[256];
} hr_oai_err;

typedef struct hr_oai_req {
    hr_gen_params params; /* strings borrowed from the JSON document */
    const char *model;    /* NULL when absent */
    bool chat;            /* chat/completions rather than completions */
    bool stream;
    bool include_usage;   /* stream_options.include_usage */
    bool max_tokens_given;
    const struct hr_oai_need *need; /* what only an upstream can do, or NULL */
} hr_oai_req;

/* Something in a request the local model cannot do, so that only an
 * upstream can answer it: the parameter that asks for it, in words, and
 * the escalation reason. */
typedef struct hr_oai_need {
    const char *param, *what, *reason;
} hr_oai_need;

extern const hr_oai_need HR_NEED_TOOLS, HR_NEED_SCHEMA, HR_NEED_IMAGES, HR_NEED_N;

/* Fields common to both generation endpoints. Returns 0 or HR_EINVAL (e
 * filled). */
int hr__oai_parse_common(json_t *body, bool chat, hr_oai_req *r, hr_oai_err *e);

typedef struct hr_oai_msgs {
    hr_chat_msg *msgs; /* contents point into text[] */
    hr_buf *text;
    size_t n;
    size_t n_images;   /* image parts, left out of text[] */
} hr_oai_msgs;

/* messages[] into chat messages (text parts joined, image parts counted). Free with
 * hr__oai_msgs_free whatever the result. */
int hr__oai_parse_messages(json_t *body, hr_oai_msgs *out, hr_oai_err *e);
void hr__oai_msgs_free(hr_oai_msgs *m);

/* ---- metrics (metrics.c) ----------------------------------------------------- */

typedef struct hr_metrics hr_metrics;
int hr__metrics_new(hr_metrics **out);
void hr__metrics_free(hr_metrics *m);
void hr__metrics_request(hr_metrics *m, const char *endpoint, int status, double latency_ms);
void hr__metrics_tokens(hr_metrics *m, int64_t n_in, int64_t n_out);
void hr__metrics_ttft(hr_metrics *m, double ms);
/* Count one event in counter `name` with one label (all static strings). */
void hr__metrics_count(hr_metrics *m, const char *name, const char *label, const char *value);
int hr__metrics_render(const hr_metrics *m, const hr_engine_stats *st, hr_buf *out);

/* ---- the audit note (audit.c) ------------------------------------------------
 * What a request did, filled in by the handlers as it happens and logged as
 * one audit row when the request is done. Strings are static or outlive the
 * server (route and upstream names, PII class names). Only API requests that
 * reach a model get a note; hr__note() is NULL for the others and when the
 * audit log is off, and every writer checks. */
#define HR_NOTE_MAX_PII 24
typedef struct hr_req_note {
    const char *key_id;
    const char *route, *policy, *upstream, *upstream_model, *reason, *data_class;
    bool local_ran, escalated, degraded;
    int64_t local_in, local_out, up_in, up_out;
    double cost_usd;
    struct {
        const char *type, *action;
        int64_t count;
    } pii[HR_NOTE_MAX_PII];
    size_t n_pii;
} hr_req_note;

/* ---- handler context shared by the api_*.c files ----------------------------- */

typedef struct hr_gen_req hr_gen_req;     /* one generation in flight (gen.c) */
typedef struct hr_embed_req hr_embed_req; /* one embeddings request (api_embed.c) */

typedef struct hr_api {
    hr_model *model;
    hr_engine *engine;
    hr_model_info info;
    const char *model_id;     /* the name clients use */
    char **api_keys;          /* NULL-terminated, or NULL for no auth */
    hr_metrics *metrics;
    bool loading;             /* /health says 503 */
    uint64_t next_id;
    hr_gen_req *inflight;     /* generations waiting for engine events */
    hr_embed_req *embeds;     /* embedding requests waiting for engine events */
    hr_router *router;        /* routes ("auto" ...), or NULL */
    hr_upstreams *ups;        /* cloud upstreams, or NULL */
    struct hr_rreq *routed;   /* routed requests in flight (routed.c) */
    int64_t created;          /* unix time the model was loaded */
    struct hr_audit *audit;   /* the audit log, or NULL */
    struct hr_privacy *privacy; /* what may leave the machine, or NULL (all may) */
    bool log_prompts;         /* audit rows carry the prompt text */
} hr_api;

struct hr_audit;
/* Give r a note when the audit log is on (key_id: the caller's key's id). */
void hr__note_begin(hr_api *api, hr_req *r, const char *key_id);
hr_req_note *hr__note(hr_req *r);
/* Log r's row and free its note (the server's on_done). */
void hr__note_done(hr_api *api, hr_req *r, bool completed);
/* The audit log's counters in Prometheus text format (nothing when off). */
int hr__note_metrics(hr_api *api, hr_buf *out);

/* ---- a routed request's privacy (privacy.c) -----------------------------------
 * Decided once per request from the route's and the key's policies, the
 * X-Hearth-Data-Class header and the PII found in body (borrowed; must
 * outlive the hr_priv). HR_EINVAL means a bad header. */
typedef struct hr_priv hr_priv;
int hr__priv_begin(hr_api *api, hr_req *r, const char *policy, json_t *body, hr_priv **out);
void hr__priv_free(hr_priv *pv);
bool hr__priv_blocked(const hr_priv *pv); /* nothing may leave */
const char *hr__priv_blocked_what(const hr_priv *pv); /* the class that blocked it */
const char *hr__priv_policy(const hr_priv *pv);
/* The body to send upstream: the original, or a redacted copy (made on the
 * first call); NULL when redaction failed (then nothing may be sent). */
json_t *hr__priv_upstream_body(hr_priv *pv);
/* Whether answers need restoring (a redacted body went out). */
bool hr__priv_restores(const hr_priv *pv);
void hr__priv_restore_doc(hr_priv *pv, json_t *doc);
void hr__priv_restore_chunk(hr_priv *pv, json_t *chunk);
/* A chunk with text still held back at the end of a stream, or NULL. */
json_t *hr__priv_flush_chunk(hr_priv *pv);
/* Add {"privacy": {...}} to a hearth object. */
void hr__priv_decorate(const hr_priv *pv, json_t *hearth);

/* One route: method, path (exact, or a prefix when ending in '*'). */
typedef void (*hr_api_fn)(hr_api *api, hr_req *r);

void hr__api_chat(hr_api *api, hr_req *r);
void hr__api_completions(hr_api *api, hr_req *r);
void hr__api_embeddings(hr_api *api, hr_req *r);
void hr__api_models(hr_api *api, hr_req *r);
void hr__api_model(hr_api *api, hr_req *r);
void hr__api_health(hr_api *api, hr_req *r);
void hr__api_metrics(hr_api *api, hr_req *r);

/* Start a generation for r: checks the context, submits, and answers (as SSE
 * or JSON) as engine events arrive. Takes ownership of toks. */
void hr__gen_start(hr_api *api, hr_req *r, const hr_oai_req *o, int32_t *toks, size_t n);

/* Hooks that let the router watch a local generation and take its request
 * over (escalation). All optional; ud is the router's. */
#define HR_GEN_KEEP 0 /* send the local answer */
#define HR_GEN_TAKE 1 /* the hook now owns the request; the local job is cancelled */
typedef struct hr_gen_hooks {
    /* Every token as the engine reports it (logprobs and top-5 included). */
    void (*on_token)(void *ud, const hr_gen_event *t);
    /* The decision point: a streamed answer's hold-back is full or the
     * answer ended (doc NULL); a whole answer is ready (doc, borrowed, the
     * chat.completion about to be sent); or the local job failed (failed).
     * NULL means always keep. */
    int (*decide)(void *ud, json_t *doc, bool failed);
    /* Add fields to the final JSON document or the final stream chunk. */
    void (*decorate)(void *ud, json_t *doc);
    /* The client left while the generation owned the request. */
    void (*on_gone)(void *ud);
    /* The generation is over and forgotten; ud is not used again. */
    void (*on_end)(void *ud);
} hr_gen_hooks;

/* hr__gen_start with hooks; streamed output is held back (not sent, headers
 * included) until hold_tokens tokens or the end, then decide() is asked.
 * Returns 0 when started, HR_EQUEUEFULL when the engine is full (nothing
 * sent: the caller answers), or another code after answering an error. */
int hr__gen_start_ex(hr_api *api, hr_req *r, const hr_oai_req *o, int32_t *toks, size_t n,
                     const hr_gen_hooks *hooks, void *ud, uint32_t hold_tokens);

/* A chat request whose model names a route (routed.c): policy, confidence,
 * escalation. Takes ownership of toks; body is borrowed (kept with incref). */
void hr__route_chat(hr_api *api, hr_req *r, json_t *body, const hr_oai_req *o,
                    const hr_route *rt, const char *prompt, size_t prompt_len, int32_t *toks,
                    size_t n);
/* Forget routed requests (after the loop stopped); cancel their calls. */
void hr__route_free_all(hr_api *api);

/* Engine events for generations (gen.c) and embeddings (api_embed.c); each
 * returns false when the id is not one of its own. */
bool hr__gen_dispatch(hr_api *api, hr_engine_event *ev);
bool hr__embed_dispatch(hr_api *api, hr_engine_event *ev);
/* Cancel every job in flight (shutdown). */
void hr__gen_cancel_all(hr_api *api);
void hr__embed_cancel_all(hr_api *api);
/* Forget every job in flight without answering (after the loop stopped). */
void hr__gen_free_all(hr_api *api);
void hr__embed_free_all(hr_api *api);

/* Shared by the handlers (api.c): the body as a JSON object, or NULL after
 * answering 400; whether name is the served model, else answers 404. */
json_t *hr__api_body_json(hr_req *r);
bool hr__api_model_ok(hr_api *api, hr_req *r, const char *name);

#endif
