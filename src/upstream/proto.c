/* SPDX-License-Identifier: MIT */
/* proto.c -- what goes over the wire to each kind of upstream, and how its
 * answers become OpenAI chat shapes: OpenAI-compatible APIs pass through
 * (minus llama.cpp's extra sampling fields, which OpenAI rejects); the
 * Anthropic Messages API is translated both ways, streaming events included.
 * Pure mapping; the transport is upstream.c. */
#include "upstream/upstream_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 1024

static int add_header(struct curl_slist **h, const char *fmt, const char *value)
{
    hr_buf line = {0};
    int rc = hr_buf_printf(&line, fmt, value);
    struct curl_slist *n = rc == 0 ? curl_slist_append(*h, line.p) : NULL;
    hr_buf_deinit(&line);
    if (!n) {
        return HR_ENOMEM;
    }
    *h = n;
    return 0;
}

static int url_join(hr_buf *url, const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    int rc = hr_buf_append(url, base, n);
    return rc < 0 ? rc : hr_buf_append_str(url, path);
}

static json_t *openai_body(const hr_upstream *u, json_t *req, bool stream)
{
    static const char *local_only[] = {"top_k", "min_p", "repeat_penalty", "ignore_eos"};
    json_t *b = json_copy(req); /* only top-level members change: the rest is shared */
    if (!b) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof local_only / sizeof local_only[0]; i++) {
        json_object_del(b, local_only[i]);
    }
    json_object_set_new(b, "model", json_string(u->model));
    json_object_set_new(b, "stream", json_boolean(stream));
    if (!stream) {
        json_object_del(b, "stream_options");
    }
    return b;
}

/* A message's content as plain text (string, or the text parts joined). */
static int content_text(json_t *c, hr_buf *out)
{
    if (json_is_string(c)) {
        return hr_buf_append(out, json_string_value(c), json_string_length(c));
    }
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t) && hr_buf_append(out, json_string_value(t), json_string_length(t)) < 0) {
            return HR_ENOMEM;
        }
    }
    return 0;
}

/* OpenAI messages -> Anthropic: system messages join into "system". */
static int anthropic_messages(json_t *msgs, json_t *b)
{
    json_t *out = json_array();
    hr_buf sys = {0};
    size_t i;
    json_t *m;
    int rc = out ? 0 : HR_ENOMEM;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        hr_buf text = {0};
        rc = rc ? rc : content_text(json_object_get(m, "content"), &text);
        if (rc == 0 && role && (!strcmp(role, "system") || !strcmp(role, "developer"))) {
            rc = hr_buf_printf(&sys, "%s%s", sys.len ? "\n\n" : "", text.p ? text.p : "");
        } else if (rc == 0) {
            const char *r = role && !strcmp(role, "assistant") ? "assistant" : "user";
            rc = json_array_append_new(out, json_pack("{s:s, s:s%}", "role", r, "content",
                                                      text.p ? text.p : "", text.len));
        }
        hr_buf_deinit(&text);
    }
    if (rc == 0 && sys.len) {
        json_object_set_new(b, "system", json_stringn(sys.p, sys.len));
    }
    hr_buf_deinit(&sys);
    json_object_set_new(b, "messages", out);
    return rc;
}

static json_t *anthropic_body(const hr_upstream *u, json_t *req, bool stream)
{
    json_t *b = json_object();
    if (!b || anthropic_messages(json_object_get(req, "messages"), b) < 0) {
        json_decref(b);
        return NULL;
    }
    json_t *mt = json_object_get(req, "max_completion_tokens");
    mt = mt ? mt : json_object_get(req, "max_tokens");
    json_object_set_new(b, "model", json_string(u->model));
    json_object_set_new(b, "max_tokens", json_is_integer(mt) ? json_incref(mt)
                                                             : json_integer(ANTHROPIC_DEFAULT_MAX_TOKENS));
    json_object_set_new(b, "stream", json_boolean(stream));
    static const char *same[] = {"temperature", "top_p", "top_k"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(req, same[i]);
        if (json_is_number(v)) {
            json_object_set(b, same[i], v);
        }
    }
    json_t *stop = json_object_get(req, "stop");
    if (json_is_string(stop)) {
        json_object_set_new(b, "stop_sequences", json_pack("[O]", stop));
    } else if (json_is_array(stop)) {
        json_object_set(b, "stop_sequences", stop);
    }
    return b;
}

int hr__up_body(const hr_upstream *u, json_t *req, bool stream, hr_buf *body)
{
    bool anth = u->kind == HR_UP_KIND_ANTHROPIC;
    json_t *b = anth ? anthropic_body(u, req, stream) : openai_body(u, req, stream);
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    int rc = s ? hr_buf_append_str(body, s) : HR_ENOMEM;
    hr_free(s); /* jansson allocates through hr_malloc */
    return rc;
}

static int headers(const hr_upstream *u, bool stream, struct curl_slist **h)
{
    bool anth = u->kind == HR_UP_KIND_ANTHROPIC;
    int rc = add_header(h, "%s", "Content-Type: application/json");
    rc = rc ? rc : add_header(h, "%s", "Expect:"); /* no 100-continue round trip */
    if (stream) {
        rc = rc ? rc : add_header(h, "%s", "Accept: text/event-stream");
    }
    if (anth) {
        rc = rc ? rc : add_header(h, "anthropic-version: %s", ANTHROPIC_VERSION);
        if (u->api_key) {
            rc = rc ? rc : add_header(h, "x-api-key: %s", u->api_key);
        }
    } else if (u->api_key) {
        rc = rc ? rc : add_header(h, "Authorization: Bearer %s", u->api_key);
    }
    return rc;
}

int hr__up_prepare(hr_upstream *u)
{
    bool anth = u->kind == HR_UP_KIND_ANTHROPIC;
    int rc = url_join(&u->url, u->base_url, anth ? "/messages" : "/chat/completions");
    rc = rc ? rc : headers(u, false, &u->headers[0]);
    return rc ? rc : headers(u, true, &u->headers[1]);
}

static const char *finish_from_anthropic(const char *stop)
{
    if (!stop) {
        return NULL;
    }
    if (!strcmp(stop, "max_tokens")) {
        return "length";
    }
    return !strcmp(stop, "tool_use") ? "tool_calls" : "stop";
}

/* Anthropic message -> OpenAI chat.completion. */
static json_t *from_anthropic(json_t *m)
{
    hr_buf text = {0};
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(m, "content"), i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        if (type && !strcmp(type, "text") && json_is_string(t)) {
            hr_buf_append(&text, json_string_value(t), json_string_length(t));
        }
    }
    json_t *usage = json_object_get(m, "usage");
    json_int_t in = json_integer_value(json_object_get(usage, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(usage, "output_tokens"));
    const char *fin = finish_from_anthropic(json_string_value(json_object_get(m, "stop_reason")));
    json_t *r = json_pack("{s:O?, s:s, s:I, s:O?, s:[{s:i, s:{s:s, s:s%}, s:s?}], "
                          "s:{s:I, s:I, s:I}}",
                          "id", json_object_get(m, "id"), "object", "chat.completion", "created",
                          (json_int_t)time(NULL), "model", json_object_get(m, "model"), "choices",
                          "index", 0, "message", "role", "assistant", "content",
                          text.p ? text.p : "", text.len, "finish_reason", fin ? fin : "stop",
                          "usage", "prompt_tokens", in, "completion_tokens", out, "total_tokens",
                          in + out);
    hr_buf_deinit(&text);
    return r;
}

json_t *hr__up_parse_response(const hr_upstream *u, const char *p, size_t n)
{
    json_t *doc = json_loadb(p, n, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    if (u->kind == HR_UP_KIND_ANTHROPIC) {
        const char *type = json_string_value(json_object_get(doc, "type"));
        json_t *r = type && !strcmp(type, "message") ? from_anthropic(doc) : NULL;
        json_decref(doc);
        return r;
    }
    json_t *ch = json_object_get(doc, "choices");
    const char *content = json_string_value(
        json_object_get(json_object_get(json_array_get(ch, 0), "message"), "content"));
    if (!json_is_array(ch) || json_array_size(ch) == 0 || !content) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *chunk(const hr_upstream *u, const hr_up_stream_state *st, json_t *delta,
                     const char *finish)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}", "id", st->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)st->created, "model",
                          u->model, "choices", "index", 0, "delta", delta, "finish_reason",
                          finish);
    json_t *choice = json_array_get(json_object_get(c, "choices"), 0);
    if (choice && !finish) {
        json_object_set_new(choice, "finish_reason", json_null());
    }
    return c;
}

/* Anthropic streaming events -> OpenAI chunks. */
static int anthropic_event(const hr_upstream *u, hr_up_stream_state *st, json_t *ev,
                           json_t **out)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type || !strcmp(type, "error")) {
        return HR_EFORMAT;
    }
    if (!strcmp(type, "message_start")) {
        json_t *m = json_object_get(ev, "message");
        const char *id = json_string_value(json_object_get(m, "id"));
        snprintf(st->id, sizeof st->id, "%s", id ? id : "msg");
        st->created = (int64_t)time(NULL);
        st->in_tokens = json_integer_value(
            json_object_get(json_object_get(m, "usage"), "input_tokens"));
        *out = chunk(u, st, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL);
    } else if (!strcmp(type, "content_block_delta")) {
        json_t *t = json_object_get(json_object_get(ev, "delta"), "text");
        if (json_is_string(t)) {
            *out = chunk(u, st, json_pack("{s:O}", "content", t), NULL);
        }
    } else if (!strcmp(type, "message_delta")) {
        const char *fin = finish_from_anthropic(
            json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason")));
        st->out_tokens = json_integer_value(
            json_object_get(json_object_get(ev, "usage"), "output_tokens"));
        *out = chunk(u, st, json_object(), fin ? fin : "stop");
    } else if (!strcmp(type, "message_stop")) {
        st->done = true;
        return 1;
    }
    return 0; /* ping, content_block_start/stop: nothing to pass on */
}

int hr__up_stream_event(const hr_upstream *u, hr_up_stream_state *st, const char *event,
                        const char *data, json_t **out)
{
    *out = NULL;
    if (u->kind == HR_UP_KIND_OPENAI && strcmp(data, "[DONE]") == 0) {
        st->done = true;
        return 1;
    }
    if (!*data) {
        return 0;
    }
    json_t *ev = json_loads(data, 0, NULL);
    if (!json_is_object(ev) || json_object_get(ev, "error")) {
        json_decref(ev);
        return HR_EFORMAT;
    }
    int rc = 0;
    if (u->kind == HR_UP_KIND_ANTHROPIC) {
        rc = anthropic_event(u, st, ev, out);
        json_decref(ev);
    } else {
        *out = ev;
    }
    return rc;
}
