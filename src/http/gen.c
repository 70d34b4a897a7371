/* SPDX-License-Identifier: MIT */
/* gen.c -- one generation from submission to its last byte, for both
 * /v1/chat/completions and /v1/completions: submit to the engine, turn the
 * engine's events into SSE chunks or one JSON body, count usage, and cancel
 * the job when the client goes away.
 *
 * A hr_gen_req lives in api->inflight from submission until the engine's
 * DONE event for its id, even if its client left earlier (then req is NULL
 * and events are dropped). Loop thread only. */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/list.h"
#include "util/log.h"
#include "util/str.h"

struct hr_gen_req {
    hr_gen_req *prev, *next;
    hr_api *api;
    hr_req *req;          /* NULL once the client has gone */
    uint64_t id;
    bool chat, stream, include_usage, logprobs;
    char cid[48];
    int64_t created;
    hr_buf text;          /* the whole answer (non-streamed) */
    json_t *lp;           /* logprobs being collected (non-streamed) */
    size_t text_offset;   /* completions' text_offset */
    bool last_eog;        /* the last token ended generation */
    bool first_seen;
    size_t top_out;       /* alternatives the client asked for */
    const hr_gen_hooks *hooks;
    void *hook_ud;
    bool holding;         /* streamed output goes to held, not the wire */
    uint32_t hold;        /* tokens to hold before asking hooks->decide */
    uint32_t held_tokens;
    hr_buf held;
};

static void gen_free(hr_gen_req *g)
{
    HR_DLIST_REMOVE(g->api->inflight, g);
    hr_buf_deinit(&g->text);
    hr_buf_deinit(&g->held);
    json_decref(g->lp);
    if (g->hooks && g->hooks->on_end) {
        g->hooks->on_end(g->hook_ud);
    }
    hr_free(g);
}

static void on_client_gone(hr_req *r, void *ud)
{
    hr_gen_req *g = ud;
    g->req = NULL;
    if (g->hooks && g->hooks->on_gone) {
        g->hooks->on_gone(g->hook_ud);
    }
    hr_engine_cancel(g->api->engine, g->id);
    hr__metrics_request(g->api->metrics, g->chat ? "/v1/chat/completions" : "/v1/completions",
                        499, hr__now_ms() - hr__req_start_ms(r));
}

/* A token's text as a JSON string (invalid UTF-8 replaced) and its bytes. */
static json_t *token_string(const char *p, size_t n)
{
    hr_buf b = {0};
    if (hr_utf8_append_sanitized(&b, p, n) < 0) {
        return NULL;
    }
    json_t *s = json_stringn(b.p ? b.p : "", b.len);
    hr_buf_deinit(&b);
    return s;
}

static json_t *token_bytes(const char *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_array_append_new(a, json_integer((unsigned char)p[i]));
    }
    return a;
}

/* The raw text of token tok, into tmp. */
static void piece_of(hr_api *api, int32_t tok, hr_buf *tmp)
{
    hr_buf_reset(tmp);
    if (hr_model_token_piece(api->model, tok, tmp) < 0 || !tmp->p) {
        hr_buf_reset(tmp);
        hr_buf_append(tmp, "", 0);
    }
}

/* Chat shape: {"token","logprob","bytes","top_logprobs":[...]}, with at
 * most n_top alternatives. */
static json_t *chat_lp_entry(hr_api *api, const hr_gen_event *t, size_t n_top)
{
    hr_buf tmp = {0};
    json_t *top = json_array();
    for (size_t i = 0; top && i < t->n_top && i < n_top; i++) {
        piece_of(api, t->top[i].id, &tmp);
        json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token",
                                             token_string(tmp.p ? tmp.p : "", tmp.len), "logprob",
                                             (double)t->top[i].logprob, "bytes",
                                             token_bytes(tmp.p ? tmp.p : "", tmp.len)));
    }
    hr_buf_deinit(&tmp);
    return json_pack("{s:o, s:f, s:o, s:o}", "token", token_string(t->piece, t->piece_len),
                     "logprob", (double)t->logprob, "bytes", token_bytes(t->piece, t->piece_len),
                     "top_logprobs", top);
}

/* Completions shape: parallel arrays tokens/token_logprobs/top_logprobs/
 * text_offset; appended to lp (made on first use). */
static void completion_lp_add(hr_gen_req *g, json_t **lp, const hr_gen_event *t)
{
    if (!*lp) {
        *lp = json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs",
                        "text_offset");
        if (!*lp) {
            return;
        }
    }
    hr_buf tmp = {0};
    json_t *top = json_object();
    for (size_t i = 0; top && i < t->n_top && i < g->top_out; i++) {
        piece_of(g->api, t->top[i].id, &tmp);
        hr_buf clean = {0};
        hr_utf8_append_sanitized(&clean, tmp.p ? tmp.p : "", tmp.len);
        json_object_set_new(top, clean.p ? clean.p : "", json_real(t->top[i].logprob));
        hr_buf_deinit(&clean);
    }
    hr_buf_deinit(&tmp);
    json_array_append_new(json_object_get(*lp, "tokens"), token_string(t->piece, t->piece_len));
    json_array_append_new(json_object_get(*lp, "token_logprobs"), json_real(t->logprob));
    json_array_append_new(json_object_get(*lp, "top_logprobs"), top);
    json_array_append_new(json_object_get(*lp, "text_offset"), json_integer((json_int_t)g->text_offset));
}

/* Send one SSE event, or keep it while the output is held back. */
static void sse_send(hr_gen_req *g, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s) {
        return;
    }
    if (g->holding) {
        hr_buf_printf(&g->held, "data: %s\n\n", s);
    } else {
        hr__http_sse_data(g->req, s, strlen(s));
    }
    hr_free(s); /* jansson allocates through hr_malloc (http.c) */
}

static json_t *chunk_base(const hr_gen_req *g)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", g->cid, "object",
                     g->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)g->created, "model", g->api->model_id);
}

/* One streamed chunk for a token (the finish chunk is finish_stream's). */
static void stream_chunk(hr_gen_req *g, const hr_gen_event *t, bool with_lp)
{
    json_t *c = chunk_base(g);
    json_t *choice = json_pack("{s:i, s:n}", "index", 0, "finish_reason");
    json_t *lp = NULL;
    if (with_lp && g->chat) {
        lp = json_pack("{s:[o]}", "content", chat_lp_entry(g->api, t, g->top_out));
    } else if (with_lp) {
        completion_lp_add(g, &lp, t);
    }
    json_object_set_new(choice, "logprobs", lp ? lp : json_null());
    if (g->chat) {
        json_object_set_new(choice, "delta", json_pack("{s:s%}", "content", t->text, t->text_len));
    } else {
        json_object_set_new(choice, "text", json_stringn(t->text, t->text_len));
    }
    json_object_set_new(c, "choices", json_pack("[o]", choice));
    sse_send(g, c);
}

static json_t *usage_json(const hr_gen_result *res, int32_t n_out)
{
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", res->n_prompt,
                     "completion_tokens", n_out, "total_tokens", res->n_prompt + n_out,
                     "prompt_tokens_details", "cached_tokens", res->n_prompt_cached);
}

static const char *finish_name(hr_finish f)
{
    return f == HR_FINISH_LENGTH ? "length" : "stop";
}

/* Ask the hooks whether the held-back stream goes out (see http_int.h). */
static void decide_stream(hr_gen_req *g)
{
    int d = g->hooks && g->hooks->decide ? g->hooks->decide(g->hook_ud, NULL, false) : HR_GEN_KEEP;
    g->holding = false;
    if (d == HR_GEN_TAKE) {
        hr_engine_cancel(g->api->engine, g->id);
        g->req = NULL; /* the hook has it now; nothing more goes out from here */
        return;
    }
    hr__req_add_header(g->req, "Cache-Control", "no-cache");
    hr__http_stream_start(g->req, 200, "text/event-stream");
    hr__http_stream_write(g->req, g->held.p ? g->held.p : "", g->held.len);
    hr_buf_deinit(&g->held);
}

static void on_token(hr_gen_req *g, const hr_gen_event *t)
{
    hr_api *api = g->api;
    g->last_eog = hr_model_token_is_eog(api->model, t->token);
    if (!g->first_seen) {
        g->first_seen = true;
        hr__metrics_ttft(api->metrics, hr__now_ms() - hr__req_start_ms(g->req));
    }
    if (g->hooks && g->hooks->on_token && !g->last_eog) {
        g->hooks->on_token(g->hook_ud, t);
    }
    bool want_lp = g->logprobs && !g->last_eog;
    if (g->stream) {
        if (t->text_len > 0 || want_lp) {
            stream_chunk(g, t, want_lp);
        }
    } else {
        hr_buf_append(&g->text, t->text, t->text_len);
        if (want_lp && g->chat) {
            if (!g->lp) {
                g->lp = json_array();
            }
            json_array_append_new(g->lp, chat_lp_entry(api, t, g->top_out));
        } else if (want_lp) {
            completion_lp_add(g, &g->lp, t);
        }
    }
    g->text_offset += t->text_len;
    if (g->holding && !g->last_eog && ++g->held_tokens >= g->hold && !t->is_final) {
        decide_stream(g);
    }
}

static void finish_stream(hr_gen_req *g, const hr_gen_result *res, int32_t n_out)
{
    json_t *c = chunk_base(g);
    json_t *choice = json_pack("{s:i, s:s, s:n}", "index", 0, "finish_reason",
                               finish_name(res->finish), "logprobs");
    json_object_set_new(choice, g->chat ? "delta" : "text",
                        g->chat ? json_object() : json_string(""));
    json_object_set_new(c, "choices", json_pack("[o]", choice));
    if (g->hooks && g->hooks->decorate) {
        g->hooks->decorate(g->hook_ud, c);
    }
    sse_send(g, c);
    if (g->include_usage) {
        c = chunk_base(g);
        json_object_set_new(c, "choices", json_array());
        json_object_set_new(c, "usage", usage_json(res, n_out));
        sse_send(g, c);
    }
    hr__http_sse_data(g->req, "[DONE]", 6);
    hr__http_stream_end(g->req);
}

static json_t *final_json(hr_gen_req *g, const hr_gen_result *res, int32_t n_out)
{
    json_t *choice;
    const char *text = g->text.p ? g->text.p : "";
    if (g->chat) {
        json_t *lp = g->lp ? json_pack("{s:O, s:n}", "content", g->lp, "refusal") : json_null();
        choice = json_pack("{s:i, s:{s:s, s:s%, s:n}, s:o, s:s}", "index", 0, "message", "role",
                           "assistant", "content", text, g->text.len, "refusal", "logprobs", lp,
                           "finish_reason", finish_name(res->finish));
    } else {
        choice = json_pack("{s:i, s:s%, s:O?, s:s}", "index", 0, "text", text, g->text.len,
                           "logprobs", g->lp, "finish_reason", finish_name(res->finish));
        if (choice && !g->lp) {
            json_object_set_new(choice, "logprobs", json_null());
        }
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g->cid, "object",
                     g->chat ? "chat.completion" : "text_completion", "created",
                     (json_int_t)g->created, "model", g->api->model_id, "choices", choice,
                     "usage", usage_json(res, n_out));
}

/* The answer is complete and not streamed: keep it or let the hook take it. */
static void finish_json(hr_gen_req *g, const hr_gen_result *res, int32_t n_out)
{
    json_t *doc = final_json(g, res, n_out);
    if (g->hooks && g->hooks->decide &&
        g->hooks->decide(g->hook_ud, doc, false) == HR_GEN_TAKE) {
        json_decref(doc);
        g->req = NULL;
        return;
    }
    if (g->hooks && g->hooks->decorate && doc) {
        g->hooks->decorate(g->hook_ud, doc);
    }
    hr__http_json(g->req, 200, doc);
}

/* The local job failed: a hook may still answer from the cloud. */
static void local_failed(hr_gen_req *g, int err)
{
    hr_log(HR_LOG_ERROR, "http", "request %llu: generation failed: %s",
           (unsigned long long)hr__req_id(g->req), hr_strerror(err));
    bool unsent = !g->stream || g->holding; /* nothing of this answer went out yet */
    if (unsent && g->hooks && g->hooks->decide &&
        g->hooks->decide(g->hook_ud, NULL, true) == HR_GEN_TAKE) {
        g->req = NULL;
        return;
    }
    if (g->stream && !g->holding) {
        sse_send(g, json_pack("{s:{s:s, s:s}}", "error", "message", "generation failed", "type",
                              "server_error"));
        hr__http_stream_end(g->req);
    } else {
        hr__http_error(g->req, 500, NULL, NULL, "generation failed: %s", hr_strerror(err));
    }
}

static void on_done(hr_gen_req *g, const hr_engine_event *ev)
{
    hr_api *api = g->api;
    const hr_gen_result *res = &ev->res;
    /* The end-of-generation token is not part of the answer. */
    int32_t n_out = res->n_generated - (g->last_eog ? 1 : 0);
    hr__metrics_tokens(api->metrics, res->n_prompt - res->n_prompt_cached, n_out);
    if (!g->req) {
        return;
    }
    hr_req_note *note = hr__note(g->req);
    if (note) {
        note->local_ran = true;
        note->local_in = res->n_prompt;
        note->local_out = n_out;
    }
    if (ev->err < 0) {
        local_failed(g, ev->err);
        return;
    }
    if (g->stream && g->holding) {
        decide_stream(g); /* ended before the hold-back filled */
        if (!g->req) {
            return;
        }
    }
    if (g->stream) {
        finish_stream(g, res, n_out);
    } else {
        finish_json(g, res, n_out);
    }
}

bool hr__gen_dispatch(hr_api *api, hr_engine_event *ev)
{
    hr_gen_req *g = api->inflight;
    while (g && g->id != ev->id) {
        g = g->next;
    }
    if (!g) {
        return false;
    }
    if (ev->type == HR_EV_TOKEN && g->req) {
        on_token(g, &ev->tok);
    } else if (ev->type == HR_EV_DONE) {
        on_done(g, ev);
        gen_free(g);
    }
    return true;
}

void hr__gen_free_all(hr_api *api)
{
    while (api->inflight) {
        gen_free(api->inflight);
    }
}

void hr__gen_cancel_all(hr_api *api)
{
    for (hr_gen_req *g = api->inflight; g; g = g->next) {
        hr_engine_cancel(api->engine, g->id);
    }
}

/* Prompt tokens + max_tokens must fit one slot's context. */
static int check_context(hr_api *api, hr_req *r, const hr_oai_req *o, size_t n_tokens)
{
    uint32_t n_ctx = hr_engine_n_ctx_slot(api->engine);
    if (n_tokens >= n_ctx ||
        (o->max_tokens_given && n_tokens + (size_t)o->params.max_tokens > n_ctx)) {
        hr__http_error(r, 400, "context_length_exceeded", o->chat ? "messages" : "prompt",
                       "This model's maximum context length is %u tokens. However, you "
                       "requested %zu tokens (%zu in the prompt, %d for the completion). Please "
                       "reduce the prompt or max_tokens.", n_ctx,
                       n_tokens + (size_t)(o->max_tokens_given ? o->params.max_tokens : 0),
                       n_tokens, o->max_tokens_given ? o->params.max_tokens : 0);
        return HR_ECTXFULL;
    }
    return 0;
}

/* With hooks that watch the tokens, the job always computes logprobs and
 * the top 5 alternatives; the client still sees only what it asked for. */
static int submit(hr_api *api, hr_req *r, const hr_oai_req *o, int32_t **toks, size_t n,
                  bool watched)
{
    hr_job job = {.id = ++api->next_id, .tokens = *toks, .n_tokens = n, .params = o->params};
    if (watched) {
        job.params.logprobs = true;
        job.params.top_logprobs = job.params.top_logprobs > 5 ? job.params.top_logprobs : 5;
    }
    int rc = hr_engine_submit(api->engine, &job);
    if (rc == 0) {
        *toks = NULL;
        return 0;
    }
    if (rc == HR_EQUEUEFULL && watched) {
        return rc; /* the router answers (cloud, or 503) */
    }
    if (rc == HR_EQUEUEFULL) {
        hr__req_add_header(r, "Retry-After", "1");
        hr__http_error(r, 503, "server_overloaded", NULL,
                       "all slots are busy and the queue is full; retry shortly");
    } else {
        hr__http_error(r, rc == HR_EINVAL ? 400 : 500, NULL, NULL, "cannot start generation: %s",
                       hr_strerror(rc));
    }
    return rc;
}

int hr__gen_start_ex(hr_api *api, hr_req *r, const hr_oai_req *o, int32_t *toks, size_t n,
                     const hr_gen_hooks *hooks, void *ud, uint32_t hold_tokens)
{
    bool watched = hooks && hooks->on_token;
    int rc = check_context(api, r, o, n);
    rc = rc < 0 ? rc : submit(api, r, o, &toks, n, watched);
    hr_free(toks);
    if (rc < 0) {
        return rc;
    }
    hr_gen_req *g = hr_calloc(1, sizeof *g);
    if (!g) {
        hr_engine_cancel(api->engine, api->next_id);
        hr__http_error(r, 500, NULL, NULL, "out of memory");
        return HR_ENOMEM;
    }
    g->api = api;
    g->req = r;
    g->id = api->next_id;
    g->chat = o->chat;
    g->stream = o->stream;
    g->include_usage = o->include_usage;
    g->logprobs = o->params.logprobs;
    g->top_out = (size_t)o->params.top_logprobs;
    g->hooks = hooks;
    g->hook_ud = ud;
    g->hold = hold_tokens;
    g->holding = o->stream && hold_tokens > 0 && hooks && hooks->decide;
    g->created = (int64_t)time(NULL);
    snprintf(g->cid, sizeof g->cid, "%s-%llx%08llx", o->chat ? "chatcmpl" : "cmpl",
             (unsigned long long)g->created, (unsigned long long)g->id);
    HR_DLIST_PUSH(api->inflight, g);
    hr__req_on_close(r, on_client_gone, g);
    if (g->stream && !g->holding) {
        hr__req_add_header(r, "Cache-Control", "no-cache");
        hr__http_stream_start(r, 200, "text/event-stream");
    }
    if (g->stream && g->chat) {
        json_t *c = chunk_base(g);
        json_object_set_new(c, "choices",
                            json_pack("[{s:i, s:{s:s, s:s}, s:n, s:n}]", "index", 0, "delta",
                                      "role", "assistant", "content", "", "logprobs",
                                      "finish_reason"));
        sse_send(g, c);
    }
    return 0;
}

void hr__gen_start(hr_api *api, hr_req *r, const hr_oai_req *o, int32_t *toks, size_t n)
{
    hr__gen_start_ex(api, r, o, toks, n, NULL, NULL, 0);
}
