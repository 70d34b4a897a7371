/* SPDX-License-Identifier: MIT */
/* routed.c -- a chat request sent to a route ("auto", ...): answer locally
 * first and escalate when unsure, by the route's policy.
 *
 *   local_first     pre-gate -> local generation, watched (gen.c hooks) ->
 *                   confidence >= threshold: the local answer goes out;
 *                   below: the local job is cancelled and the upstream asked.
 *                   Streamed answers are judged on their first K tokens,
 *                   held back, so a rejected local token never reaches the
 *                   client.
 *   local_only      local, always (confidence still reported)
 *   cloud_only      the upstream, always
 *   cloud_fallback  local; the upstream only if local fails or is full
 *
 * When the upstream fails (timeout, 5xx, 429 after retries, circuit open,
 * malformed or truncated answer) before anything of it reached the client,
 * the client gets the local answer with "degraded": true -- the one already
 * generated, or a fresh local generation. Only cloud_only answers 502, and
 * a request only an upstream can answer (tools, images, a JSON schema: it
 * escalates before any local generation) -- a 400 where the upstream found
 * the request itself invalid.
 * Every answer says how it was made: X-Hearth-Route, X-Hearth-Confidence
 * and a "hearth" object in the body (or the final stream chunk).
 *
 * Lifetime: an hr_rreq lives until its generation has ended (on_end), its
 * upstream call is over and it no longer holds the request. Loop thread. */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/list.h"
#include "util/log.h"

typedef struct hr_rreq {
    struct hr_rreq *prev, *next;
    hr_api *api;
    hr_req *req;           /* while the client is there */
    bool own_req;          /* we (not a generation) answer req */
    int gens;              /* generations pointing at us (an escalated one may
                              still be winding down beside a fallback) */
    int busy;              /* nested calls that must not free us */
    hr_upstream_call *call;
    const hr_route *rt;
    hr_upstream *up;
    json_t *body;
    hr_oai_req o;
    int32_t *toks;
    size_t n;
    hr_conf_acc acc;
    double confidence;
    bool have_conf, degraded, cloud_started, cloud_closed, force_local;
    const char *reason;    /* why it escalated, or NULL */
    const char *route;     /* "local" or "cloud" */
    const char *degraded_reason;
    double t0, local_ms, up_t0, upstream_ms;
    json_t *local_doc;     /* a whole local answer kept for a fallback */
    json_t *cloud_chunks;  /* a buffered cloud stream, sent once complete */
    hr_priv *priv;         /* what may leave, or NULL when anything may */
} hr_rreq;

/* The upstream's usage: tokens and cost, for the audit row. */
static void note_tokens(hr_rreq *rr, int64_t in, int64_t out)
{
    hr_req_note *n = hr__note(rr->req);
    if (!n || !rr->up) {
        return;
    }
    n->up_in = in;
    n->up_out = out;
    n->cost_usd = hr_upstream_cost(rr->up, in, out);
}

static void note_usage(hr_rreq *rr, json_t *usage)
{
    if (json_is_object(usage)) {
        note_tokens(rr, json_integer_value(json_object_get(usage, "prompt_tokens")),
                    json_integer_value(json_object_get(usage, "completion_tokens")));
    }
}

static void maybe_free(hr_rreq *rr)
{
    if (rr->busy || rr->gens || rr->call || rr->own_req) {
        return;
    }
    HR_DLIST_REMOVE(rr->api->routed, rr);
    json_decref(rr->body);
    json_decref(rr->local_doc);
    json_decref(rr->cloud_chunks);
    hr__priv_free(rr->priv);
    hr_conf_acc_deinit(&rr->acc);
    hr_free(rr->toks);
    hr_free(rr);
}

/* The "hearth" object: how the answer was made. */
static json_t *hearth_object(const hr_rreq *rr)
{
    json_t *h = json_pack("{s:s, s:o, s:s?, s:f, s:s?, s:o, s:b}", "route", rr->route,
                          "confidence", rr->have_conf ? json_real(rr->confidence) : json_null(),
                          "escalation_reason", rr->reason, "local_ms", rr->local_ms, "upstream",
                          rr->up && rr->upstream_ms > 0 ? hr_upstream_name(rr->up) : NULL,
                          "upstream_ms", rr->upstream_ms > 0 ? json_real(rr->upstream_ms)
                                                             : json_null(),
                          "degraded", rr->degraded);
    if (h && rr->degraded_reason) {
        json_object_set_new(h, "degraded_reason", json_string(rr->degraded_reason));
    }
    hr__priv_decorate(rr->priv, h);
    return h;
}

static void decorate(void *ud, json_t *doc)
{
    json_object_set_new(doc, "hearth", hearth_object(ud));
}

static void add_route_headers(hr_rreq *rr)
{
    char conf[32];
    hr__req_add_header(rr->req, "X-Hearth-Route", rr->route);
    if (rr->have_conf) {
        snprintf(conf, sizeof conf, "%.4f", rr->confidence);
        hr__req_add_header(rr->req, "X-Hearth-Confidence", conf);
    }
    if (rr->reason) {
        hr__req_add_header(rr->req, "X-Hearth-Escalation-Reason", rr->reason);
    }
    if (rr->degraded) {
        hr__req_add_header(rr->req, "X-Hearth-Degraded", "true");
    }
    hr__metrics_count(rr->api->metrics, "hearth_route_total", "route", rr->route);
}

static void on_client_gone(hr_req *r, void *ud)
{
    hr_rreq *rr = ud;
    rr->req = NULL;
    rr->own_req = false;
    if (rr->call) {
        hr_upstream_cancel(rr->call);
        rr->call = NULL;
    }
    maybe_free(rr);
}

/* ---- local generations ---------------------------------------------------- */

static void hook_token(void *ud, const hr_gen_event *t)
{
    hr_rreq *rr = ud;
    float top[HR_GEN_MAX_TOP_LOGPROBS];
    for (size_t i = 0; i < t->n_top; i++) {
        top[i] = t->top[i].logprob;
    }
    hr_conf_acc_add(&rr->acc, t->logprob, top, t->n_top);
}

static void hook_gone(void *ud)
{
    hr_rreq *rr = ud;
    rr->req = NULL;
}

static void hook_end(void *ud)
{
    hr_rreq *rr = ud;
    rr->gens--;
    maybe_free(rr);
}

static void escalate(hr_rreq *rr, const char *reason);

static void score(hr_rreq *rr)
{
    double f[HR_CONF_N_FEATURES];
    hr_conf_features(&rr->acc, f);
    rr->confidence = hr_conf_score(hr_router_conf(rr->api->router), f);
    rr->have_conf = true;
}

static int hook_decide(void *ud, json_t *doc, bool failed)
{
    hr_rreq *rr = ud;
    hr_policy pol = hr_route_policy(rr->rt);
    rr->local_ms = hr__now_ms() - rr->t0;
    bool cloud_ok = rr->up && !rr->force_local &&
                    (pol == HR_POLICY_LOCAL_FIRST || pol == HR_POLICY_CLOUD_FALLBACK);
    const char *reason = NULL;
    if (failed) {
        reason = cloud_ok ? "local_failed" : NULL;
    } else {
        score(rr);
        double th = hr_route_threshold(rr->rt);
        bool low = rr->confidence < th || th >= 1.0;
        reason = cloud_ok && pol == HR_POLICY_LOCAL_FIRST && low ? "low_confidence" : NULL;
    }
    if (!reason) {
        rr->route = "local";
        add_route_headers(rr);
        return HR_GEN_KEEP;
    }
    /* Take the request over; keep a whole local answer for a fallback. */
    rr->local_doc = json_incref(doc);
    rr->own_req = true;
    hr__req_on_close(rr->req, on_client_gone, rr);
    escalate(rr, reason);
    return HR_GEN_TAKE;
}

static const hr_gen_hooks WATCH = {hook_token, hook_decide, decorate, hook_gone, hook_end};
static const hr_gen_hooks PLAIN = {NULL, NULL, decorate, hook_gone, hook_end};

/* Start a local generation that owns the request. Returns HR_EQUEUEFULL
 * without answering when the engine is full. */
static int start_local(hr_rreq *rr, const hr_gen_hooks *hooks, uint32_t hold)
{
    int32_t *copy = hr_calloc(rr->n, sizeof *copy);
    if (!copy) {
        hr__http_error(rr->req, 500, NULL, NULL, "out of memory");
        rr->own_req = false;
        return HR_ENOMEM;
    }
    memcpy(copy, rr->toks, rr->n * sizeof *copy);
    hr_req *req = rr->req;
    if (hooks == &PLAIN && !rr->req) {
        hr_free(copy);
        return 0;
    }
    /* A stream that is not held back starts at once: say how now. */
    if (hooks == &PLAIN || (rr->o.stream && hold == 0)) {
        add_route_headers(rr);
    }
    int rc = hr__gen_start_ex(rr->api, req, &rr->o, copy, rr->n, hooks, rr, hold);
    if (rc == 0) {
        rr->own_req = false;
        rr->gens++;
    } else if (rc != HR_EQUEUEFULL) {
        rr->own_req = false; /* an error was sent */
    }
    return rc;
}

/* ---- the upstream ------------------------------------------------------------ */

static void send_chunk(hr_req *r, json_t *chunk)
{
    char *s = json_dumps(chunk, JSON_COMPACT);
    if (s) {
        hr__http_sse_data(r, s, strlen(s));
        hr_free(s); /* jansson allocates through hr_malloc */
    }
}

/* A live cloud stream goes at the client's pace: past this much that its
 * socket has not taken, the upstream call pauses until all of it has gone,
 * so a client that stops reading does not make hearth hold the answer. */
#define CLOUD_BACKLOG_MAX (1u << 20)

static void on_client_drain(hr_req *r, void *ud)
{
    hr_rreq *rr = ud;
    if (rr->call) {
        hr_upstream_resume(rr->call);
    }
}

static void keep_pace(hr_rreq *rr)
{
    if (rr->call && hr__req_backlog(rr->req) > CLOUD_BACKLOG_MAX) {
        hr_upstream_pause(rr->call);
    }
}

static void cloud_stream_start(hr_rreq *rr)
{
    rr->cloud_started = true;
    hr__req_on_drain(rr->req, on_client_drain, rr);
    rr->route = "cloud";
    add_route_headers(rr);
    hr__req_add_header(rr->req, "Cache-Control", "no-cache");
    hr__http_stream_start(rr->req, 200, "text/event-stream");
}

static void send_cloud_chunk(hr_rreq *rr, json_t *chunk)
{
    json_t *usage = json_object_get(chunk, "usage");
    note_usage(rr, usage);
    json_t *choices = json_object_get(chunk, "choices");
    if (json_is_object(usage) && json_array_size(choices) == 0 && !rr->o.include_usage) {
        return; /* asked for by hearth, for the audit log only */
    }
    hr__priv_restore_chunk(rr->priv, chunk);
    json_t *ch = json_array_get(choices, 0);
    json_t *fin = json_object_get(ch, "finish_reason");
    if (fin && !json_is_null(fin)) {
        rr->upstream_ms = hr__now_ms() - rr->up_t0;
        decorate(rr, chunk);
    }
    send_chunk(rr->req, chunk);
}

/* Live routes pass chunks on at once; the others keep them until the
 * stream is known to be whole. */
static bool up_chunk(void *ud, json_t *chunk)
{
    hr_rreq *rr = ud;
    if (!rr->req) {
        return false;
    }
    if (!hr_route_live_cloud_stream(rr->rt)) {
        if (!rr->cloud_chunks) {
            rr->cloud_chunks = json_array();
        }
        return json_array_append(rr->cloud_chunks, chunk) == 0;
    }
    if (!rr->cloud_started) {
        cloud_stream_start(rr);
    }
    send_cloud_chunk(rr, chunk);
    keep_pace(rr);
    return true;
}

/* The cloud stream is whole: the rest of it goes out, and its last byte. */
static void close_cloud_stream(hr_rreq *rr)
{
    if (rr->cloud_closed) {
        return;
    }
    rr->cloud_closed = true;
    if (!rr->cloud_started) {
        cloud_stream_start(rr);
    }
    size_t i;
    json_t *c;
    json_array_foreach(rr->cloud_chunks, i, c) {
        send_cloud_chunk(rr, c);
    }
    json_t *rest = hr__priv_flush_chunk(rr->priv); /* a stream that ended mid-placeholder */
    if (rest) {
        send_chunk(rr->req, rest);
        json_decref(rest);
    }
    hr__http_sse_data(rr->req, "[DONE]", 6);
    hr__http_stream_close(rr->req);
}

/* The end marker, seen inside the transfer: the client gets its last byte
 * now, not after curl has wound the transfer down and the audit row is
 * written (about 50 us at one client here); up_done does the rest. */
static void up_end(void *ud)
{
    hr_rreq *rr = ud;
    if (rr->req && rr->o.stream) {
        close_cloud_stream(rr);
    }
}

/* The upstream's failure as the client's error, where no local answer can
 * stand in: the request's own fault (400, with what the upstream said), not
 * tried (503 and when to try again), or failed (502). */
static void upstream_error(hr_rreq *rr, hr_upstream_reason why, const char *msg)
{
    const char *up = rr->up ? hr_upstream_name(rr->up) : "(none)";
    if (why == HR_UP_REJECTED) {
        hr__http_error(rr->req, 400, "upstream_rejected", NULL,
                       "upstream %s rejected the request: %s", up, msg);
    } else if (why == HR_UP_BUSY || why == HR_UP_CIRCUIT_OPEN) {
        char after[24];
        double ms = rr->up ? hr_upstream_open_for_ms(rr->up) : 0;
        snprintf(after, sizeof after, "%.0f", why == HR_UP_BUSY || ms < 1000 ? 1 : ms / 1000 + 0.5);
        hr__req_add_header(rr->req, "Retry-After", after);
        hr__http_error(rr->req, 503, "upstream_unavailable", NULL,
                       "upstream %s is not taking calls now: %s", up, msg);
    } else {
        hr__http_error(rr->req, 502, "upstream_failed", NULL, "upstream %s failed: %s", up, msg);
    }
}

/* The upstream failed before anything of it was sent: answer locally. */
static void fall_back(hr_rreq *rr, hr_upstream_reason why, const char *msg)
{
    const char *rname = hr_upstream_reason_name(why);
    hr__metrics_count(rr->api->metrics, "hearth_degraded_total", "reason", rname);
    rr->degraded = true;
    rr->degraded_reason = rname;
    hr_req_note *n = hr__note(rr->req);
    if (n) {
        n->degraded = true;
    }
    /* A request with tools (images, a schema) has no local answer: one that
     * ignored them would not be it. */
    if (hr_route_policy(rr->rt) == HR_POLICY_CLOUD_ONLY || rr->o.need) {
        rr->own_req = false;
        upstream_error(rr, why, msg ? msg : rname);
        return;
    }
    rr->route = "local";
    if (rr->local_doc) {
        add_route_headers(rr);
        decorate(rr, rr->local_doc);
        rr->own_req = false;
        hr__http_json(rr->req, 200, json_incref(rr->local_doc));
        return;
    }
    if (start_local(rr, &PLAIN, 0) == HR_EQUEUEFULL) {
        rr->own_req = false;
        hr__req_add_header(rr->req, "Retry-After", "1");
        hr__http_error(rr->req, 503, "server_overloaded", NULL,
                       "the upstream failed (%s) and every local slot is busy", rname);
    }
}

static void up_done(void *ud, hr_upstream_reason why, json_t *resp, const char *msg)
{
    hr_rreq *rr = ud;
    rr->call = NULL;
    rr->upstream_ms = hr__now_ms() - rr->up_t0;
    rr->busy++;
    if (!rr->req) {
        rr->own_req = false;
    } else if (why == HR_UP_OK && rr->o.stream) {
        close_cloud_stream(rr);
        rr->own_req = false;
        hr__http_stream_end(rr->req);
    } else if (why == HR_UP_OK) {
        json_t *doc = json_deep_copy(resp);
        note_usage(rr, json_object_get(resp, "usage"));
        rr->route = "cloud";
        add_route_headers(rr);
        if (doc) {
            hr__priv_restore_doc(rr->priv, doc);
            decorate(rr, doc);
        }
        rr->own_req = false;
        hr__http_json(rr->req, 200, doc);
    } else if (rr->cloud_started) {
        /* Part of a live cloud answer is out: a local one cannot be spliced in. */
        hr__metrics_count(rr->api->metrics, "hearth_degraded_total", "reason",
                          hr_upstream_reason_name(why));
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "message",
                              "the upstream stream broke off", "type", "upstream_error");
        send_chunk(rr->req, e);
        json_decref(e);
        rr->own_req = false;
        hr__http_stream_end(rr->req);
    } else {
        fall_back(rr, why, msg);
    }
    rr->busy--;
    maybe_free(rr);
}

static bool up_raw(void *ud, const char *data, size_t n)
{
    hr_rreq *rr = ud;
    if (!rr->req) {
        return false;
    }
    if (!rr->cloud_started) {
        cloud_stream_start(rr);
    }
    hr__http_sse_data(rr->req, data, n);
    keep_pace(rr);
    return true;
}

/* The final chunk gets the hearth object spliced into its text: parsing
 * and re-serialising it was most of the end of a stream's cost (the client
 * waits for exactly this chunk). A chunk with usage to note, or a hearth
 * object of its own (an upstream hearth), takes the parsed path. */
static size_t closing_brace(const char *data, size_t n)
{
    while (n > 0 && (data[n - 1] == ' ' || data[n - 1] == '\n' || data[n - 1] == '\t')) {
        n--;
    }
    size_t i = 1;
    while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t')) {
        i++;
    }
    bool members = n >= 2 && data[n - 1] == '}' && i < n - 1; /* not "{}" */
    return members && !strstr(data, "\"usage\":{") && !strstr(data, "\"hearth\"") ? n - 1 : 0;
}

static int up_raw_last(void *ud, const char *data, size_t n)
{
    hr_rreq *rr = ud;
    if (!rr->req) {
        return 0;
    }
    size_t end = closing_brace(data, n);
    if (!end) {
        return -1;
    }
    rr->upstream_ms = hr__now_ms() - rr->up_t0;
    json_t *obj = hearth_object(rr);
    char *h = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    hr_buf b = {0};
    int rc = h ? hr_buf_append(&b, data, end) : HR_ENOMEM;
    rc = rc ? rc : hr_buf_printf(&b, ",\"hearth\":%s}", h);
    hr_free(h);
    if (rc < 0) {
        hr_buf_deinit(&b);
        return -1;
    }
    if (!rr->cloud_started) {
        cloud_stream_start(rr);
    }
    hr__http_sse_data(rr->req, b.p, b.len);
    hr_buf_deinit(&b);
    keep_pace(rr);
    return 1;
}

/* The usage chunk hearth asked for goes on only to a client that asked. */
static bool up_raw_usage(void *ud, const char *data, size_t n, int64_t in, int64_t out)
{
    hr_rreq *rr = ud;
    if (!rr->req) {
        return false;
    }
    note_tokens(rr, in, out);
    return !rr->o.include_usage || up_raw(rr, data, n);
}

static const hr_upstream_handler UP = {.on_chunk = up_chunk, .on_done = up_done,
                                       .on_end = up_end};
static const hr_upstream_handler UP_LIVE = {.on_chunk = up_chunk,
                                            .on_done = up_done,
                                            .on_raw = up_raw,
                                            .on_raw_last = up_raw_last,
                                            .on_raw_usage = up_raw_usage,
                                            .on_end = up_end};

static void escalate(hr_rreq *rr, const char *reason)
{
    rr->reason = reason;
    hr_req_note *n = hr__note(rr->req);
    if (n) {
        n->escalated = true;
        n->reason = reason;
        n->upstream = rr->up ? hr_upstream_name(rr->up) : NULL;
        n->upstream_model = rr->up ? hr_upstream_model(rr->up) : NULL;
        if (rr->acc.n) { /* a local answer was started and judged */
            n->local_ran = true;
            n->local_in = (int64_t)rr->n;
            n->local_out = (int64_t)rr->acc.n;
        }
    }
    hr__metrics_count(rr->api->metrics, "hearth_escalations_total", "reason", reason);
    rr->up_t0 = hr__now_ms();
    if (!rr->up) {
        fall_back(rr, HR_UP_CONNECT, "the route has no upstream");
        return;
    }
    json_t *body = rr->priv ? hr__priv_upstream_body(rr->priv) : rr->body;
    if (!body || hr__priv_blocked(rr->priv)) {
        fall_back(rr, HR_UP_CONNECT, "the request may not leave this machine");
        return;
    }
    rr->busy++;
    hr_upstream_call *c = NULL;
    /* Raw pass-through only when nothing has to be restored on the way back. */
    bool raw = hr_route_live_cloud_stream(rr->rt) && !hr__priv_restores(rr->priv);
    int rc = hr_upstream_chat(rr->up, body, rr->o.stream, raw ? &UP_LIVE : &UP, rr, &c);
    if (rc == HR_EINVAL) {
        fall_back(rr, HR_UP_HTTP_4XX, "its API cannot carry this request");
    } else if (rc < 0) {
        fall_back(rr, HR_UP_CONNECT, "could not start the upstream call");
    } else if (c) {
        rr->call = c;
    }
    rr->busy--;
}

/* ---- entry ----------------------------------------------------------------- */

static void run_policy(hr_rreq *rr, const char *prompt, size_t len)
{
    hr_policy pol = hr_route_policy(rr->rt);
    const hr_oai_need *need = rr->o.need;
    if (pol == HR_POLICY_CLOUD_ONLY && !rr->force_local) {
        escalate(rr, "policy_cloud_only");
        return;
    }
    if (need && rr->up && !rr->force_local && pol != HR_POLICY_LOCAL_ONLY) {
        escalate(rr, need->reason); /* a local answer would ignore it */
        return;
    }
    if (need) {
        rr->own_req = false;
        hr__http_error(rr->req, 400, "unsupported_parameter", need->param,
                       "route '%s' answers this request locally, and the local model cannot "
                       "use %s", hr_route_name(rr->rt), need->what);
        return;
    }
    bool local_first = pol == HR_POLICY_LOCAL_FIRST && !rr->force_local;
    const char *gate = local_first ? hr_route_pregate(rr->rt, prompt, len, rr->n) : NULL;
    if (gate) {
        escalate(rr, gate);
        return;
    }
    uint32_t hold = local_first ? hr_route_holdback(rr->rt) : 0;
    int rc = start_local(rr, &WATCH, hold);
    if (rc == HR_EQUEUEFULL && rr->up && !rr->force_local && pol != HR_POLICY_LOCAL_ONLY) {
        escalate(rr, "local_overloaded");
    } else if (rc == HR_EQUEUEFULL) {
        rr->own_req = false;
        hr__req_add_header(rr->req, "Retry-After", "1");
        hr__http_error(rr->req, 503, "server_overloaded", NULL,
                       "all slots are busy and the queue is full; retry shortly");
    }
}

/* Decide what may leave before anything is generated. A request that may
 * not leave is answered locally -- or refused (403) by a cloud_only route,
 * naming the data class, never the data. Returns -1 after answering. */
static int check_privacy(hr_rreq *rr)
{
    int rc = hr__priv_begin(rr->api, rr->req, hr_route_privacy(rr->rt), rr->body, &rr->priv);
    if (rc == HR_EINVAL) {
        hr__http_error(rr->req, 400, "invalid_data_class", NULL, "X-Hearth-Data-Class must be "
                       "public, internal or restricted");
        return -1;
    }
    if (rc < 0) {
        hr__http_error(rr->req, 500, NULL, NULL, "privacy check failed: %s", hr_strerror(rc));
        return -1;
    }
    if (!hr__priv_blocked(rr->priv) || rr->force_local) {
        return 0;
    }
    hr__metrics_count(rr->api->metrics, "hearth_privacy_blocked_total", "class",
                      hr__priv_blocked_what(rr->priv));
    if (hr_route_policy(rr->rt) == HR_POLICY_CLOUD_ONLY || rr->o.need) {
        hr__http_error(rr->req, 403, "data_blocked", NULL,
                       "this request holds %s data, which privacy policy '%s' keeps on this "
                       "machine, and route '%s' answers it only from an upstream",
                       hr__priv_blocked_what(rr->priv), hr__priv_policy(rr->priv),
                       hr_route_name(rr->rt));
        return -1;
    }
    rr->force_local = true; /* answered here, whatever its confidence */
    return 0;
}

void hr__route_chat(hr_api *api, hr_req *r, json_t *body, const hr_oai_req *o,
                    const hr_route *rt, const char *prompt, size_t prompt_len, int32_t *toks,
                    size_t n)
{
    hr_rreq *rr = hr_calloc(1, sizeof *rr);
    const char *up_name = hr_route_upstream(rt);
    if (!rr) {
        hr_free(toks);
        hr__http_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    rr->api = api;
    rr->req = r;
    rr->own_req = true;
    rr->rt = rt;
    rr->up = up_name ? hr_upstream_find(api->ups, up_name) : NULL;
    rr->body = json_incref(body);
    rr->o = *o;
    rr->toks = toks;
    rr->n = n;
    rr->route = "local";
    rr->t0 = hr__now_ms();
    const char *hdr = hr__req_header(r, "X-Hearth-Route");
    rr->force_local = hdr && strcmp(hdr, "local") == 0 && hr_route_local_override(rt);
    HR_DLIST_PUSH(api->routed, rr);
    hr__req_on_close(r, on_client_gone, rr);
    if (api->privacy && rr->up && check_privacy(rr) < 0) {
        rr->own_req = false;
        maybe_free(rr);
        return;
    }
    hr_req_note *note = hr__note(r);
    if (note) {
        note->route = hr_route_name(rt);
        note->policy = hr_policy_name(hr_route_policy(rt));
    }
    rr->busy++;
    run_policy(rr, prompt, prompt_len);
    rr->busy--;
    maybe_free(rr);
}

void hr__route_free_all(hr_api *api)
{
    while (api->routed) {
        hr_rreq *rr = api->routed;
        if (rr->call) {
            hr_upstream_cancel(rr->call);
        }
        rr->call = NULL;
        rr->gens = 0;
        rr->own_req = false;
        rr->busy = 0;
        maybe_free(rr);
    }
}
