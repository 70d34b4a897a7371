/* SPDX-License-Identifier: MIT */
/* anthropic.c -- the Anthropic Messages API in OpenAI chat shapes, both
 * ways: an OpenAI chat request becomes a Messages request (system messages
 * joined into "system", image parts into image blocks, function tools into
 * tools with an input_schema, a JSON schema response format into a tool
 * the model must call, assistant tool calls into tool_use blocks, tool
 * messages into tool_result blocks), and a message or its stream of events
 * becomes a chat.completion or its chunks (tool_use blocks into tool_calls,
 * input_json_delta into argument pieces, or into content for the schema's
 * tool). Pure mapping, like proto.c. */
#include "upstream/upstream_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"

/* The Messages API requires max_tokens, where OpenAI's default is the
 * model's own limit: 4096 is the largest every Claude 3 and later takes. */
#define DEFAULT_MAX_TOKENS 4096

/* ---- requests ----------------------------------------------------------------- */

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

/* An OpenAI image part as an Anthropic image block: a data: URL becomes a
 * base64 source, any other URL a url source. */
static json_t *image_block(json_t *part)
{
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    bool data = url && !strncmp(url, "data:", 5);
    const char *semi = data ? strchr(url, ';') : NULL;
    if (semi && !strncmp(semi, ";base64,", 8)) {
        return json_pack("{s:s, s:{s:s, s:s%, s:s}}", "type", "image", "source", "type", "base64",
                         "media_type", url + 5, (size_t)(semi - url - 5), "data", semi + 8);
    }
    return url && !data ? json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type",
                                    "url", "url", url)
                        : NULL; /* a data: URL that is not base64 */
}

/* A user turn with images: its parts in order, as blocks. */
static json_t *user_blocks(json_t *content)
{
    json_t *blocks = json_array();
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        json_t *b = type && !strcmp(type, "image_url") ? image_block(part)
                    : json_is_string(t) ? json_pack("{s:s, s:O}", "type", "text", "text", t)
                                        : NULL;
        if (!blocks || json_array_append_new(blocks, b) < 0) {
            json_decref(blocks);
            return NULL; /* an image URL Anthropic cannot take */
        }
    }
    return blocks;
}

static bool has_image(json_t *content)
{
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && !strcmp(type, "image_url")) {
            return true;
        }
    }
    return false;
}

/* An assistant turn with tool calls: its text, then one tool_use block per
 * call, the arguments (JSON text) parsed back into the input object. */
static json_t *assistant_blocks(json_t *m, const hr_buf *text)
{
    json_t *blocks = json_array();
    if (blocks && text->len) {
        json_array_append_new(blocks, json_pack("{s:s, s:s%}", "type", "text", "text", text->p,
                                                text->len));
    }
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(m, "tool_calls"), i, tc) {
        json_t *f = json_object_get(tc, "function");
        const char *args = json_string_value(json_object_get(f, "arguments"));
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object();
        json_t *b = json_is_object(input)
                        ? json_pack("{s:s, s:O, s:O, s:O}", "type", "tool_use", "id",
                                    json_object_get(tc, "id"), "name", json_object_get(f, "name"),
                                    "input", input)
                        : NULL;
        json_decref(input);
        if (!blocks || json_array_append_new(blocks, b) < 0) {
            json_decref(blocks);
            return NULL; /* not an object, or no id or name: not sendable */
        }
    }
    return blocks;
}

/* A tool message's result joins the user turn of results before it, if the
 * last turn is one, as Anthropic wants all results of a turn together. */
static int add_tool_result(json_t *out, json_t *m, const hr_buf *text)
{
    json_t *b = json_pack("{s:s, s:O, s:s%}", "type", "tool_result", "tool_use_id",
                          json_object_get(m, "tool_call_id"), "content", text->p ? text->p : "",
                          text->len);
    if (!b) {
        return HR_EINVAL;
    }
    json_t *last = json_array_get(out, json_array_size(out) - 1);
    json_t *lc = json_object_get(last, "content");
    json_t *lb = json_array_get(lc, json_array_size(lc) - 1);
    const char *lt = json_string_value(json_object_get(lb, "type"));
    if (lt && !strcmp(lt, "tool_result")) {
        return json_array_append_new(lc, b) < 0 ? HR_ENOMEM : 0;
    }
    return json_array_append_new(out, json_pack("{s:s, s:[o]}", "role", "user", "content", b)) < 0
               ? HR_ENOMEM
               : 0;
}

/* A turn of content blocks; blocks NULL: the turn could not be mapped. */
static int add_turn(json_t *out, const char *role, json_t *blocks)
{
    if (!blocks) {
        return HR_EINVAL;
    }
    return json_array_append_new(out, json_pack("{s:s, s:o}", "role", role, "content", blocks));
}

static int add_message(json_t *out, hr_buf *sys, json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    role = role ? role : "user";
    hr_buf text = {0};
    int rc = content_text(json_object_get(m, "content"), &text);
    if (rc == 0 && (!strcmp(role, "system") || !strcmp(role, "developer"))) {
        rc = hr_buf_printf(sys, "%s%s", sys->len ? "\n\n" : "", text.p ? text.p : "");
    } else if (rc == 0 && !strcmp(role, "tool")) {
        rc = add_tool_result(out, m, &text);
    } else if (rc == 0 && strcmp(role, "assistant") != 0 &&
               has_image(json_object_get(m, "content"))) {
        rc = add_turn(out, "user", user_blocks(json_object_get(m, "content")));
    } else if (rc == 0 && !strcmp(role, "assistant") &&
               json_array_size(json_object_get(m, "tool_calls"))) {
        rc = add_turn(out, "assistant", assistant_blocks(m, &text));
    } else if (rc == 0) {
        const char *r = !strcmp(role, "assistant") ? "assistant" : "user";
        rc = json_array_append_new(out, json_pack("{s:s, s:s%}", "role", r, "content",
                                                  text.p ? text.p : "", text.len));
    }
    hr_buf_deinit(&text);
    return rc < 0 ? rc : 0;
}

static int messages(json_t *msgs, json_t *b)
{
    json_t *out = json_array();
    hr_buf sys = {0};
    size_t i;
    json_t *m;
    int rc = out ? 0 : HR_ENOMEM;
    json_array_foreach(msgs, i, m) {
        rc = rc ? rc : add_message(out, &sys, m);
    }
    if (rc == 0 && sys.len) {
        json_object_set_new(b, "system", json_stringn(sys.p, sys.len));
    }
    hr_buf_deinit(&sys);
    json_object_set_new(b, "messages", out);
    return rc;
}

/* OpenAI function tools -> Anthropic tools; NULL when one has no name. */
static json_t *tools(json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(in, i, t) {
        json_t *f = json_object_get(t, "function");
        json_t *schema = json_object_get(f, "parameters");
        json_t *o = json_pack("{s:O, s:o}", "name", json_object_get(f, "name"), "input_schema",
                              json_is_object(schema) ? json_incref(schema)
                                                     : json_pack("{s:s, s:{}}", "type", "object",
                                                                 "properties"));
        json_t *d = json_object_get(f, "description");
        if (o && json_is_string(d)) {
            json_object_set(o, "description", d);
        }
        if (!out || json_array_append_new(out, o) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* "auto" | "none" | "required" | {"type": "function", "function": {name}},
 * and parallel_tool_calls: false. */
static json_t *tool_choice(json_t *req)
{
    json_t *tc = json_object_get(req, "tool_choice");
    const char *s = json_string_value(tc);
    json_t *name = json_object_get(json_object_get(tc, "function"), "name");
    json_t *o = s && !strcmp(s, "required") ? json_pack("{s:s}", "type", "any")
                : s && !strcmp(s, "none")   ? json_pack("{s:s}", "type", "none")
                : json_is_string(name)      ? json_pack("{s:s, s:O}", "type", "tool", "name", name)
                                            : json_pack("{s:s}", "type", "auto");
    if (o && json_is_false(json_object_get(req, "parallel_tool_calls"))) {
        json_object_set_new(o, "disable_parallel_tool_use", json_true());
    }
    return o;
}

bool hr__anth_schema_tool(json_t *req)
{
    json_t *rf = json_object_get(req, "response_format");
    const char *type = json_string_value(json_object_get(rf, "type"));
    return type && !strcmp(type, "json_schema");
}

/* A JSON schema response format as the one tool, which the model must call:
 * its input is the answer (routed back into content by the answer's
 * mapping). Beside tools of the client's own it cannot be told apart. */
static int schema_as_tool(json_t *req, json_t *b)
{
    json_t *js = json_object_get(json_object_get(req, "response_format"), "json_schema");
    json_t *schema = json_object_get(js, "schema");
    json_t *name = json_object_get(js, "name");
    if (json_array_size(json_object_get(req, "tools")) || !json_is_string(name) ||
        (schema && !json_is_object(schema))) {
        return HR_EINVAL;
    }
    json_t *d = json_object_get(js, "description");
    json_t *t = json_pack("{s:O, s:s, s:o}", "name", name, "description",
                          json_is_string(d) ? json_string_value(d)
                                            : "Give the answer as this tool's input.",
                          "input_schema", schema ? json_incref(schema)
                                                 : json_pack("{s:s}", "type", "object"));
    int rc = json_object_set_new(b, "tools", json_pack("[o]", t));
    rc = rc ? rc : json_object_set_new(b, "tool_choice", json_pack("{s:s, s:O}", "type", "tool",
                                                                   "name", name));
    return rc ? HR_ENOMEM : 0;
}

json_t *hr__anth_body(const hr_upstream *u, json_t *req, bool stream)
{
    json_t *n = json_object_get(req, "n");
    if (json_is_integer(n) && json_integer_value(n) != 1) {
        return NULL; /* one answer per message: refused, not cut to one */
    }
    json_t *b = json_object();
    if (!b || messages(json_object_get(req, "messages"), b) < 0) {
        json_decref(b);
        return NULL;
    }
    json_t *mt = json_object_get(req, "max_completion_tokens");
    mt = mt ? mt : json_object_get(req, "max_tokens");
    json_object_set_new(b, "model", json_string(u->model));
    json_object_set_new(b, "max_tokens", json_is_integer(mt) ? json_incref(mt)
                                                             : json_integer(DEFAULT_MAX_TOKENS));
    json_object_set_new(b, "stream", json_boolean(stream));
    static const char *same[] = {"temperature", "top_p", "top_k"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(req, same[i]);
        if (json_is_number(v)) {
            json_object_set(b, same[i], v);
        }
    }
    json_t *temp = json_object_get(b, "temperature");
    if (temp && json_number_value(temp) > 1.0) {
        json_object_set_new(b, "temperature", json_real(1.0)); /* OpenAI's 0..2, Anthropic's 0..1 */
    }
    json_t *stop = json_object_get(req, "stop");
    if (json_is_string(stop)) {
        json_object_set_new(b, "stop_sequences", json_pack("[O]", stop));
    } else if (json_is_array(stop)) {
        json_object_set(b, "stop_sequences", stop);
    }
    json_t *t = json_object_get(req, "tools");
    if (hr__anth_schema_tool(req)) {
        if (schema_as_tool(req, b) < 0) {
            json_decref(b);
            return NULL; /* with tools of its own: refused, not dropped */
        }
    } else if (json_array_size(t)) {
        json_t *at = tools(t);
        json_t *choice = at ? tool_choice(req) : NULL;
        if (!at || !choice) {
            json_decref(at);
            json_decref(b);
            return NULL;
        }
        json_object_set_new(b, "tools", at);
        json_object_set_new(b, "tool_choice", choice);
    }
    return b;
}

/* ---- answers ------------------------------------------------------------------ */

static const char *finish_reason(const char *stop)
{
    if (!stop) {
        return NULL;
    }
    if (!strcmp(stop, "max_tokens")) {
        return "length";
    }
    if (!strcmp(stop, "refusal")) {
        return "content_filter";
    }
    return !strcmp(stop, "tool_use") ? "tool_calls" : "stop";
}

/* A tool_use block as an OpenAI tool call, its input as JSON text. */
static json_t *tool_call(json_t *part)
{
    char *args = json_dumps(json_object_get(part, "input"), JSON_COMPACT);
    json_t *tc = json_pack("{s:O?, s:s, s:{s:O?, s:s}}", "id", json_object_get(part, "id"),
                           "type", "function", "function", "name", json_object_get(part, "name"),
                           "arguments", args ? args : "{}");
    hr_free(args); /* jansson allocates through hr_malloc */
    return tc;
}

/* The forced tool's input is the answer: its JSON text. */
static void append_input(hr_buf *text, json_t *part)
{
    char *s = json_dumps(json_object_get(part, "input"), JSON_COMPACT);
    if (s) {
        hr_buf_append_str(text, s);
    }
    hr_free(s); /* jansson allocates through hr_malloc */
}

json_t *hr__anth_message(json_t *m, bool schema_tool)
{
    hr_buf text = {0};
    json_t *calls = json_array();
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(m, "content"), i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        if (type && !strcmp(type, "text") && json_is_string(t)) {
            hr_buf_append(&text, json_string_value(t), json_string_length(t));
        } else if (type && !strcmp(type, "tool_use") && schema_tool) {
            hr_buf_reset(&text); /* a preamble before the JSON is not the JSON */
            append_input(&text, part);
        } else if (type && !strcmp(type, "tool_use")) {
            json_array_append_new(calls, tool_call(part));
        }
    }
    json_t *usage = json_object_get(m, "usage");
    json_int_t in = json_integer_value(json_object_get(usage, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(usage, "output_tokens"));
    const char *fin = finish_reason(json_string_value(json_object_get(m, "stop_reason")));
    fin = schema_tool && fin && !strcmp(fin, "tool_calls") ? "stop" : fin;
    bool tools = json_array_size(calls) > 0;
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                            text.len || !tools ? json_stringn(text.p ? text.p : "", text.len)
                                               : json_null());
    if (msg && tools) {
        json_object_set(msg, "tool_calls", calls);
    }
    json_decref(calls);
    hr_buf_deinit(&text);
    return json_pack("{s:O?, s:s, s:I, s:O?, s:[{s:i, s:o, s:s?}], s:{s:I, s:I, s:I}}", "id",
                     json_object_get(m, "id"), "object", "chat.completion", "created",
                     (json_int_t)time(NULL), "model", json_object_get(m, "model"), "choices",
                     "index", 0, "message", msg, "finish_reason", fin ? fin : "stop", "usage",
                     "prompt_tokens", in, "completion_tokens", out, "total_tokens", in + out);
}

/* ---- streams ------------------------------------------------------------------ */

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

/* A tool_use block opens: the OpenAI call's first piece, id and name
 * (nothing when its input is the answer's content). */
static json_t *tool_start(const hr_upstream *u, hr_up_stream_state *st, json_t *block)
{
    st->tool_open = true;
    if (st->schema_tool) {
        return NULL;
    }
    int k = st->n_tools++;
    return chunk(u, st, json_pack("{s:[{s:i, s:O?, s:s, s:{s:O?, s:s}}]}", "tool_calls", "index",
                                  k, "id", json_object_get(block, "id"), "type", "function",
                                  "function", "name", json_object_get(block, "name"),
                                  "arguments", ""),
                 NULL);
}

static json_t *block_delta(const hr_upstream *u, hr_up_stream_state *st, json_t *d)
{
    json_t *t = json_object_get(d, "text");
    json_t *pj = json_object_get(d, "partial_json");
    if (json_is_string(t)) { /* (a forced tool's answer has no text to keep) */
        return st->schema_tool ? NULL : chunk(u, st, json_pack("{s:O}", "content", t), NULL);
    }
    if (json_is_string(pj) && st->tool_open && st->schema_tool) {
        return chunk(u, st, json_pack("{s:O}", "content", pj), NULL);
    }
    if (json_is_string(pj) && st->tool_open) {
        return chunk(u, st, json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index",
                                      st->n_tools - 1, "function", "arguments", pj),
                     NULL);
    }
    return NULL; /* thinking and signatures stay out of an OpenAI answer */
}

int hr__anth_event(const hr_upstream *u, hr_up_stream_state *st, json_t *ev, json_t **out)
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
    } else if (!strcmp(type, "content_block_start")) {
        json_t *b = json_object_get(ev, "content_block");
        const char *bt = json_string_value(json_object_get(b, "type"));
        *out = bt && !strcmp(bt, "tool_use") ? tool_start(u, st, b) : NULL;
    } else if (!strcmp(type, "content_block_delta")) {
        *out = block_delta(u, st, json_object_get(ev, "delta"));
    } else if (!strcmp(type, "content_block_stop")) {
        st->tool_open = false;
    } else if (!strcmp(type, "message_delta")) {
        const char *fin = finish_reason(
            json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason")));
        fin = st->schema_tool && fin && !strcmp(fin, "tool_calls") ? "stop" : fin;
        st->out_tokens = json_integer_value(
            json_object_get(json_object_get(ev, "usage"), "output_tokens"));
        *out = chunk(u, st, json_object(), fin ? fin : "stop");
    } else if (!strcmp(type, "message_stop")) {
        st->done = true; /* the usage, as OpenAI's include_usage chunk */
        json_int_t in = st->in_tokens, outn = st->out_tokens;
        *out = json_pack("{s:s, s:s, s:I, s:s, s:[], s:{s:I, s:I, s:I}}", "id", st->id, "object",
                         "chat.completion.chunk", "created", (json_int_t)st->created, "model",
                         u->model, "choices", "usage", "prompt_tokens", in, "completion_tokens",
                         outn, "total_tokens", in + outn);
        return 1;
    }
    return 0; /* ping: nothing to pass on */
}
