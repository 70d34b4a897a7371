/* SPDX-License-Identifier: MIT */
/* openai_json.c -- OpenAI request bodies into typed requests: pure functions
 * from a jansson document to hr_oai_req, each failure naming the parameter.
 * Unknown fields are ignored, as the OpenAI API and llama-server do. Loop
 * thread; no I/O. */
#include "http/http_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

const hr_oai_need HR_NEED_TOOLS = {"tools", "tools", "tools"};
const hr_oai_need HR_NEED_SCHEMA = {"response_format", "a json_schema response format",
                                    "response_format"};
const hr_oai_need HR_NEED_IMAGES = {"messages", "image inputs", "images"};
const hr_oai_need HR_NEED_N = {"n", "n > 1 (several choices)", "n"};

static int bad(hr_oai_err *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(hr_oai_err *e, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = 400;
    e->param = param;
    e->code = "invalid_value";
    return HR_EINVAL;
}

static int get_number(json_t *o, const char *k, double lo, double hi, double *out, hr_oai_err *e)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_number(v)) {
        return bad(e, k, "'%s' must be a number", k);
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        return bad(e, k, "'%s' must be between %g and %g, got %g", k, lo, hi, d);
    }
    *out = d;
    return 1;
}

static int get_int(json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out, hr_oai_err *e)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v)) {
        return bad(e, k, "'%s' must be an integer", k);
    }
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi) {
        return bad(e, k, "'%s' must be between %lld and %lld, got %lld", k, (long long)lo,
                   (long long)hi, (long long)i);
    }
    *out = i;
    return 1;
}

static int get_bool(json_t *o, const char *k, bool *out, hr_oai_err *e)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_boolean(v)) {
        return bad(e, k, "'%s' must be a boolean", k);
    }
    *out = json_is_true(v);
    return 1;
}

/* stop: a string or an array of strings. */
static int parse_stop(json_t *o, hr_gen_params *p, hr_oai_err *e)
{
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        p->stop[p->n_stop++] = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v)) {
        return bad(e, "stop", "'stop' must be a string or an array of strings");
    }
    if (json_array_size(v) > HR_GEN_MAX_STOP) {
        return bad(e, "stop", "'stop' may hold at most %d strings", HR_GEN_MAX_STOP);
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            return bad(e, "stop", "'stop' must be a string or an array of strings");
        }
        p->stop[p->n_stop++] = json_string_value(s);
    }
    return 0;
}

static int parse_response_format(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    json_t *v = json_object_get(o, "response_format");
    if (!v || json_is_null(v)) {
        return 0;
    }
    const char *type = json_string_value(json_object_get(v, "type"));
    if (!json_is_object(v) || !type) {
        return bad(e, "response_format", "'response_format' must be an object with a 'type'");
    }
    if (strcmp(type, "json_object") == 0) {
        r->params.grammar = HR_GRAMMAR_JSON;
        return 0;
    }
    if (strcmp(type, "text") == 0) {
        return 0;
    }
    json_t *js = json_object_get(v, "json_schema");
    if (strcmp(type, "json_schema") == 0 && r->chat) {
        if (!json_is_object(js) || !json_is_string(json_object_get(js, "name"))) {
            return bad(e, "response_format.json_schema",
                       "response_format json_schema needs a 'json_schema' object with a 'name'");
        }
        r->need = &HR_NEED_SCHEMA; /* no schema-to-grammar here */
        return 0;
    }
    return bad(e, "response_format.type",
               "response_format type '%s' is not supported (use 'text' or 'json_object')", type);
}

/* A tool: {"type": "function", "function": {"name", ...}}; other types
 * (OpenAI's custom tools) are the upstream's to judge. */
static int check_tool(json_t *t, size_t i, hr_oai_err *e)
{
    json_t *f = json_object_get(t, "function");
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!json_is_object(t) || !type) {
        return bad(e, "tools", "tools[%zu] must be an object with a 'type'", i);
    }
    if (strcmp(type, "function") != 0) {
        return 0;
    }
    if (!json_is_object(f)) {
        return bad(e, "tools", "tools[%zu] must be {\"type\": \"function\", \"function\": "
                   "{...}}", i);
    }
    const char *name = json_string_value(json_object_get(f, "name"));
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-") != n) {
        return bad(e, "tools", "tools[%zu].function.name must be 1 to 64 letters, digits, "
                   "'_' or '-'", i);
    }
    json_t *p = json_object_get(f, "parameters");
    if (p && !json_is_object(p)) {
        return bad(e, "tools", "tools[%zu].function.parameters must be a JSON Schema object", i);
    }
    return 0;
}

/* "none" | "auto" | "required" | {"type": "function", "function": {name}} */
static int check_tool_choice(json_t *tc, bool have_tools, hr_oai_err *e)
{
    const char *s = json_string_value(tc);
    const char *type = json_string_value(json_object_get(tc, "type"));
    bool named = json_is_object(tc) && type && strcmp(type, "function") == 0 &&
                 json_is_string(json_object_get(json_object_get(tc, "function"), "name"));
    if (tc && !json_is_null(tc) && !named &&
        !(s && (!strcmp(s, "none") || !strcmp(s, "auto") || !strcmp(s, "required")))) {
        return bad(e, "tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" "
                   "or {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    if ((named || (s && !strcmp(s, "required"))) && !have_tools) {
        return bad(e, "tool_choice", "'tool_choice' %s needs 'tools' to choose from",
                   named ? "naming a function" : "\"required\"");
    }
    return 0;
}

/* tools and tool_choice: checked here; only an upstream can call them. */
static int parse_tools(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    json_t *tools = json_object_get(o, "tools");
    json_t *tc = json_object_get(o, "tool_choice");
    if (tools && !json_is_null(tools) && !json_is_array(tools)) {
        return bad(e, "tools", "'tools' must be an array");
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (check_tool(t, i, e) < 0) {
            return HR_EINVAL;
        }
    }
    const char *s = json_string_value(tc);
    if (check_tool_choice(tc, json_array_size(tools) > 0, e) < 0) {
        return HR_EINVAL;
    }
    if (json_array_size(tools) && !(s && !strcmp(s, "none"))) {
        r->need = &HR_NEED_TOOLS;
    }
    return 0;
}

/* Sampling fields shared by both endpoints, OpenAI's plus llama.cpp's. */
static int parse_sampling(json_t *o, hr_gen_params *p, hr_oai_err *e)
{
    double d = 0.0;
    int64_t i = 0;
    int rc;
    if ((rc = get_number(o, "temperature", 0, 2, &d, e)) < 0) {
        return rc;
    }
    p->temperature = rc ? (float)d : p->temperature;
    if ((rc = get_number(o, "top_p", 0, 1, &d, e)) < 0) {
        return rc;
    }
    p->top_p = rc ? (d > 0 ? (float)d : 1e-6f) : p->top_p;
    if ((rc = get_number(o, "min_p", 0, 1, &d, e)) < 0) {
        return rc;
    }
    p->min_p = rc ? (float)d : p->min_p;
    if ((rc = get_int(o, "top_k", 0, 1000000, &i, e)) < 0) {
        return rc;
    }
    p->top_k = rc ? (int32_t)i : p->top_k;
    if ((rc = get_number(o, "presence_penalty", -2, 2, &d, e)) < 0) {
        return rc;
    }
    p->presence_penalty = rc ? (float)d : 0.0f;
    if ((rc = get_number(o, "frequency_penalty", -2, 2, &d, e)) < 0) {
        return rc;
    }
    p->frequency_penalty = rc ? (float)d : 0.0f;
    if ((rc = get_number(o, "repeat_penalty", 0.01, 10, &d, e)) < 0) {
        return rc;
    }
    p->repeat_penalty = rc ? (float)d : p->repeat_penalty;
    if ((rc = get_int(o, "seed", INT64_MIN, INT64_MAX, &i, e)) < 0) {
        return rc;
    }
    p->seed = rc ? (uint32_t)((uint64_t)i % HR_SEED_RANDOM) : HR_SEED_RANDOM;
    return get_bool(o, "ignore_eos", &p->ignore_eos, e) < 0 ? HR_EINVAL : 0;
}

/* max_tokens, or max_completion_tokens which newer clients send. */
static int parse_max_tokens(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    int64_t n = 0;
    int rc = get_int(o, "max_completion_tokens", INT32_MIN, INT32_MAX, &n, e);
    const char *name = "max_completion_tokens";
    if (rc == 0) {
        rc = get_int(o, "max_tokens", INT32_MIN, INT32_MAX, &n, e);
        name = "max_tokens";
    }
    if (rc < 0) {
        return rc;
    }
    if (rc && n <= 0) {
        return bad(e, name, "'%s' must be at least 1, got %lld", name, (long long)n);
    }
    r->max_tokens_given = rc == 1;
    r->params.max_tokens = rc ? (int32_t)n : (r->chat ? HR_GEN_UNLIMITED : 16);
    return 0;
}

/* logprobs: chat takes a boolean plus top_logprobs; completions an integer. */
static int parse_logprobs(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    int64_t n = 0;
    int rc;
    if (r->chat) {
        if (get_bool(o, "logprobs", &r->params.logprobs, e) < 0) {
            return HR_EINVAL;
        }
        rc = get_int(o, "top_logprobs", 0, HR_GEN_MAX_TOP_LOGPROBS, &n, e);
        if (rc < 0) {
            return rc;
        }
        if (rc && !r->params.logprobs) {
            return bad(e, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
        }
        r->params.top_logprobs = (int32_t)n;
        return 0;
    }
    rc = get_int(o, "logprobs", 0, HR_GEN_MAX_TOP_LOGPROBS, &n, e);
    if (rc < 0) {
        return rc;
    }
    r->params.logprobs = rc == 1;
    r->params.top_logprobs = (int32_t)n;
    return 0;
}

static int parse_stream(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    if (get_bool(o, "stream", &r->stream, e) < 0) {
        return HR_EINVAL;
    }
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            return bad(e, "stream_options", "'stream_options' must be an object");
        }
        if (get_bool(so, "include_usage", &r->include_usage, e) < 0) {
            return HR_EINVAL;
        }
    }
    return 0;
}

/* n: 1 to 128 as in the OpenAI API; several choices are an upstream's. */
static int parse_n(json_t *o, hr_oai_req *r, hr_oai_err *e)
{
    int64_t n = 1;
    if (get_int(o, "n", INT32_MIN, INT32_MAX, &n, e) < 0) {
        return HR_EINVAL;
    }
    if (n < 1 || n > 128) {
        return bad(e, "n", "'n' must be from 1 to 128, got %lld", (long long)n);
    }
    if (n != 1 && !r->chat) {
        return bad(e, "n", "only n = 1 is supported, got %lld", (long long)n);
    }
    r->need = n != 1 ? &HR_NEED_N : NULL;
    return 0;
}

int hr__oai_parse_common(json_t *o, bool chat, hr_oai_req *r, hr_oai_err *e)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    r->chat = chat;
    hr_gen_params_init(&r->params);
    json_t *m = json_object_get(o, "model");
    if (m && !json_is_null(m) && !json_is_string(m)) {
        return bad(e, "model", "'model' must be a string");
    }
    r->model = json_string_value(m);
    if (parse_n(o, r, e) < 0) {
        return HR_EINVAL;
    }
    json_t *user = json_object_get(o, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) {
        return bad(e, "user", "'user' must be a string");
    }
    int rc = parse_stream(o, r, e);
    rc = rc < 0 ? rc : parse_max_tokens(o, r, e);
    rc = rc < 0 ? rc : parse_sampling(o, &r->params, e);
    rc = rc < 0 ? rc : parse_stop(o, &r->params, e);
    rc = rc < 0 ? rc : parse_logprobs(o, r, e);
    rc = rc < 0 ? rc : parse_response_format(o, r, e);
    rc = rc < 0 || !chat ? rc : parse_tools(o, r, e);
    return rc;
}

/* {"type": "image_url", "image_url": {"url": "https:..." or "data:..."}} */
static bool image_part(json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    json_t *url = json_object_get(json_object_get(part, "image_url"), "url");
    return type && strcmp(type, "image_url") == 0 && json_is_string(url);
}

/* A message's content: a string, null, or an array of text and image
 * parts (images counted in *n_images, for an upstream only). */
static int message_content(json_t *c, size_t idx, hr_buf *out, size_t *n_images,
                           hr_oai_err *e)
{
    if (!c || json_is_null(c)) {
        return hr_buf_append(out, "", 0);
    }
    if (json_is_string(c)) {
        return hr_buf_append(out, json_string_value(c), json_string_length(c));
    }
    if (!json_is_array(c)) {
        return bad(e, "messages", "messages[%zu].content must be a string or an array of "
                   "content parts", idx);
    }
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = json_object_get(part, "text");
        if (image_part(part)) {
            (*n_images)++;
            continue;
        }
        if (!type || strcmp(type, "text") != 0 || !json_is_string(text)) {
            return bad(e, "messages", "messages[%zu].content[%zu]: only text parts and "
                       "image_url parts with a url are supported", idx, i);
        }
        if (hr_buf_append(out, json_string_value(text), json_string_length(text)) < 0) {
            return HR_ENOMEM;
        }
    }
    return 0;
}

/* A tool message answers a call by its id; an assistant's calls each have
 * an id, a function name and arguments (JSON text). */
static int check_tool_turn(json_t *m, bool tool, size_t idx, hr_oai_err *e)
{
    if (tool && !json_is_string(json_object_get(m, "tool_call_id"))) {
        return bad(e, "messages", "messages[%zu].tool_call_id is required for role 'tool'",
                   idx);
    }
    json_t *calls = json_object_get(m, "tool_calls");
    if (calls && !json_is_null(calls) && !json_is_array(calls)) {
        return bad(e, "messages", "messages[%zu].tool_calls must be an array", idx);
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *f = json_object_get(c, "function");
        if (!json_is_string(json_object_get(c, "id")) ||
            !json_is_string(json_object_get(f, "name")) ||
            !json_is_string(json_object_get(f, "arguments"))) {
            return bad(e, "messages", "messages[%zu].tool_calls[%zu] needs an id and a function "
                       "with a name and arguments", idx, i);
        }
    }
    return 0;
}

int hr__oai_parse_messages(json_t *o, hr_oai_msgs *out, hr_oai_err *e)
{
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool"};
    memset(out, 0, sizeof *out);
    json_t *msgs = json_object_get(o, "messages");
    if (!msgs) {
        int rc = bad(e, "messages", "missing required parameter: 'messages'");
        e->code = "missing_required_parameter";
        return rc;
    }
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        return bad(e, "messages", "'messages' must be a non-empty array");
    }
    size_t n = json_array_size(msgs);
    out->msgs = hr_calloc(n, sizeof *out->msgs);
    out->text = hr_calloc(n, sizeof *out->text);
    if (!out->msgs || !out->text) {
        return HR_ENOMEM;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        size_t r = 0;
        while (role && r < 5 && strcmp(role, roles[r]) != 0) {
            r++;
        }
        if (!json_is_object(m) || !role || r == 5) {
            return bad(e, "messages", "messages[%zu].role must be one of system, developer, "
                       "user, assistant, tool", i);
        }
        int rc = message_content(json_object_get(m, "content"), i, &out->text[i],
                                 &out->n_images, e);
        rc = rc < 0 ? rc : check_tool_turn(m, r == 4, i, e);
        if (rc < 0) {
            return rc;
        }
        /* Templates know "system"; "developer" is OpenAI's newer name for it. */
        out->msgs[i].role = r == 1 ? "system" : roles[r];
        out->msgs[i].content = out->text[i].p;
    }
    return 0;
}

void hr__oai_msgs_free(hr_oai_msgs *m)
{
    for (size_t i = 0; m->text && i < m->n; i++) {
        hr_buf_deinit(&m->text[i]);
    }
    hr_free(m->text);
    hr_free(m->msgs);
    memset(m, 0, sizeof *m);
}
