/* SPDX-License-Identifier: MIT */
/* proto.c -- what goes over the wire to each kind of upstream, and how its
 * answers become OpenAI chat shapes: OpenAI-compatible APIs pass through
 * (minus llama.cpp's extra sampling fields, which OpenAI rejects); the
 * Anthropic Messages API is translated both ways by anthropic.c. Pure
 * mapping; the transport is upstream.c. */
#include "upstream/upstream_int.h"

#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define ANTHROPIC_VERSION "2023-06-01"

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
    json_t *tools = json_object_get(b, "tools");
    if (json_is_array(tools) && json_array_size(tools) == 0) {
        /* OpenAI refuses an empty list, and the tool options without one */
        json_object_del(b, "tools");
        json_object_del(b, "tool_choice");
        json_object_del(b, "parallel_tool_calls");
    }
    json_object_set_new(b, "model", json_string(u->model));
    json_object_set_new(b, "stream", json_boolean(stream));
    if (!stream) {
        json_object_del(b, "stream_options");
        return b;
    }
    /* Always ask for a stream's usage: its cost goes to the audit log
     * whether or not the client wants it (routed.c drops it then) -- unless
     * this upstream has refused the option (upstream.c). */
    json_t *asked = json_object_get(json_object_get(req, "stream_options"), "include_usage");
    if (u->no_stream_usage || json_is_true(asked)) {
        return b;
    }
    json_t *so = json_object_get(req, "stream_options");
    so = json_is_object(so) ? json_deep_copy(so) : json_object();
    if (json_object_set_new(so, "include_usage", json_true()) < 0 ||
        json_object_set_new(b, "stream_options", so) < 0) {
        json_decref(b);
        return NULL;
    }
    return b;
}

int hr__up_body(const hr_upstream *u, json_t *req, bool stream, hr_buf *body)
{
    bool anth = u->kind == HR_UP_KIND_ANTHROPIC;
    json_t *b = anth ? hr__anth_body(u, req, stream) : openai_body(u, req, stream);
    if (!b) {
        return HR_EINVAL; /* not expressible in the upstream's API */
    }
    char *s = json_dumps(b, JSON_COMPACT);
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

/* An OpenAI answer has a first choice with a message: text, tool calls
 * (content null), or a refusal. */
static bool openai_answer(json_t *doc)
{
    json_t *m = json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message");
    return json_is_string(json_object_get(m, "content")) ||
           json_array_size(json_object_get(m, "tool_calls")) ||
           json_is_object(json_object_get(m, "function_call")) ||
           json_is_string(json_object_get(m, "refusal"));
}

json_t *hr__up_parse_response(const hr_upstream *u, const char *p, size_t n, bool schema_tool)
{
    json_t *doc = json_loadb(p, n, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    if (u->kind == HR_UP_KIND_ANTHROPIC) {
        const char *type = json_string_value(json_object_get(doc, "type"));
        json_t *r = type && !strcmp(type, "message") ? hr__anth_message(doc, schema_tool) : NULL;
        json_decref(doc);
        return r;
    }
    if (!openai_answer(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
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
        rc = hr__anth_event(u, st, ev, out);
        json_decref(ev);
    } else {
        *out = ev;
    }
    return rc;
}
