/* SPDX-License-Identifier: MIT */
/* api.c -- the OpenAI endpoints: each handler decodes its body with
 * openai_json.c, validates, builds the prompt and hands over to gen.c (or
 * answers at once for models, health and metrics).
 *
 *   POST /v1/chat/completions  parse -> messages -> chat template -> tokens
 *                              -> hr__gen_start
 *   POST /v1/completions       parse -> prompt -> tokens -> hr__gen_start
 *   POST /v1/embeddings        inputs -> tokens -> hr__embed_start
 *   GET  /v1/models[/{id}], /health, /metrics
 * Loop thread. */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* Parse the body as a JSON object, or answer 400 and return NULL. */
json_t *hr__api_body_json(hr_req *r)
{
    size_t len = 0;
    const char *p = hr__req_body(r, &len);
    json_error_t je;
    json_t *doc = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        hr__http_error(r, 400, "invalid_json", NULL,
                       "could not parse the JSON body: %s (line %d, column %d)", je.text,
                       je.line, je.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        hr__http_error(r, 400, "invalid_json", NULL, "the JSON body must be an object");
        return NULL;
    }
    return doc;
}

/* Does name refer to the served model? Its id, or its file name. */
static bool model_matches(const hr_api *api, const char *name)
{
    if (strcmp(name, api->model_id) == 0) {
        return true;
    }
    const char *path = hr_model_path(api->model);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(name);
    return strcmp(name, base) == 0 || (strncmp(name, base, n) == 0 && strcmp(base + n, ".gguf") == 0);
}

bool hr__api_model_ok(hr_api *api, hr_req *r, const char *name)
{
    if (!name || model_matches(api, name)) {
        return true;
    }
    if (hr_router_find(api->router, name)) { /* listed in /v1/models, so say what it is */
        hr__http_error(r, 400, "model_not_supported", "model",
                       "'%s' is a route, and routes answer /v1/chat/completions only; here "
                       "ask for the local model '%s'", name, api->model_id);
        return false;
    }
    hr__http_error(r, 404, "model_not_found", "model",
                   "The model '%s' does not exist; this server serves '%s'", name, api->model_id);
    return false;
}

static bool oai_fail(hr_req *r, const hr_oai_err *e)
{
    hr__http_error(r, e->status ? e->status : 500, e->code, e->param, "%s",
                   e->status ? e->msg : "out of memory");
    return false;
}

static int tokenize(hr_api *api, hr_req *r, const char *text, size_t len, int32_t **toks,
                    size_t *n)
{
    int rc = hr_model_tokenize(api->model, text, len, true, true, toks, n);
    if (rc < 0) {
        hr__http_error(r, rc == HR_ENOMEM ? 500 : 400, NULL, NULL, "cannot tokenize: %s",
                       hr_strerror(rc));
    }
    return rc;
}

/* What of the request only an upstream can do, images included. */
static const hr_oai_need *need_of(hr_oai_req *o, const hr_oai_msgs *m)
{
    if (!o->need && m->n_images) {
        o->need = &HR_NEED_IMAGES;
    }
    return o->need;
}

/* Can the route answer locally? Only cloud_only cannot, nor a request
 * that only an upstream can answer (tools), unless the client asks for
 * local and the route allows it. */
static bool route_needs_local(const hr_route *rt, hr_req *r, const hr_oai_req *o)
{
    const char *h = hr__req_header(r, "X-Hearth-Route");
    if (h && strcmp(h, "local") == 0 && hr_route_local_override(rt)) {
        return true;
    }
    return hr_route_policy(rt) != HR_POLICY_CLOUD_ONLY && !o->need;
}

void hr__api_chat(hr_api *api, hr_req *r)
{
    json_t *body = hr__api_body_json(r);
    hr_oai_req o;
    hr_oai_err e;
    hr_oai_msgs msgs = {0};
    hr_buf prompt = {0};
    if (!body) {
        return;
    }
    const hr_route *rt = NULL;
    if (hr__oai_parse_common(body, true, &o, &e) < 0) {
        oai_fail(r, &e);
    } else if (!(rt = hr_router_find(api->router, o.model)) && !hr__api_model_ok(api, r, o.model)) {
        /* answered */
    } else if (hr__oai_parse_messages(body, &msgs, &e) < 0) {
        oai_fail(r, &e);
    } else if (need_of(&o, &msgs) && !rt) {
        hr__http_error(r, 400, "unsupported_parameter", o.need->param,
                       "model '%s' is answered by the local model, which cannot use %s; ask "
                       "for a route with an upstream", o.model ? o.model : api->model_id,
                       o.need->what);
    } else if (rt && !route_needs_local(rt, r, &o)) {
        /* Straight to the cloud: no template, no tokens. */
        hr__route_chat(api, r, body, &o, rt, NULL, 0, NULL, 0);
    } else if (hr_model_chat_apply(api->model, msgs.msgs, msgs.n, true, &prompt, NULL) < 0) {
        hr__http_error(r, 500, NULL, NULL, "out of memory");
    } else {
        int32_t *toks = NULL;
        size_t n = 0;
        if (tokenize(api, r, prompt.p, prompt.len, &toks, &n) == 0) {
            if (rt) {
                hr__route_chat(api, r, body, &o, rt, prompt.p, prompt.len, toks, n);
            } else {
                hr__gen_start(api, r, &o, toks, n);
            }
        }
    }
    hr_buf_deinit(&prompt);
    hr__oai_msgs_free(&msgs);
    json_decref(body);
}

/* An array of integers as token ids; HR_EINVAL if it is anything else. */
static int token_array(json_t *a, int32_t n_vocab, int32_t **toks, size_t *n)
{
    size_t len = json_array_size(a);
    if (len == 0) {
        return HR_EINVAL;
    }
    int32_t *t = hr_calloc(len, sizeof *t);
    if (!t) {
        return HR_ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= n_vocab) {
            hr_free(t);
            return HR_EINVAL;
        }
        t[i] = (int32_t)id;
    }
    *toks = t;
    *n = len;
    return 0;
}

/* prompt: a string, an array of one string, or token ids. */
static int completion_prompt(hr_api *api, hr_req *r, json_t *p, int32_t **toks, size_t *n)
{
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) {
        p = json_array_get(p, 0);
    }
    if (json_is_string(p)) {
        return tokenize(api, r, json_string_value(p), json_string_length(p), toks, n);
    }
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_array(json_array_get(p, 0))) {
        p = json_array_get(p, 0);
    }
    int rc = json_is_array(p) ? token_array(p, api->info.n_vocab, toks, n) : HR_EINVAL;
    if (rc == HR_EINVAL) {
        hr__http_error(r, 400, !p ? "missing_required_parameter" : "invalid_value", "prompt",
                       !p ? "missing required parameter: 'prompt'"
                          : "'prompt' must be a string, an array of one string, or token ids "
                            "(batches of several prompts are not supported)");
    } else if (rc < 0) {
        hr__http_error(r, 500, NULL, NULL, "out of memory");
    }
    return rc;
}

void hr__api_completions(hr_api *api, hr_req *r)
{
    json_t *body = hr__api_body_json(r);
    hr_oai_req o;
    hr_oai_err e;
    if (!body) {
        return;
    }
    json_t *echo = json_object_get(body, "echo");
    json_t *suffix = json_object_get(body, "suffix");
    int32_t *toks = NULL;
    size_t n = 0;
    if (hr__oai_parse_common(body, false, &o, &e) < 0) {
        oai_fail(r, &e);
    } else if (!hr__api_model_ok(api, r, o.model)) {
        /* answered */
    } else if (json_is_true(echo) || (suffix && !json_is_null(suffix))) {
        hr__http_error(r, 400, "unsupported_parameter", json_is_true(echo) ? "echo" : "suffix",
                       "'%s' is not supported", json_is_true(echo) ? "echo" : "suffix");
    } else if (completion_prompt(api, r, json_object_get(body, "prompt"), &toks, &n) == 0) {
        hr__gen_start(api, r, &o, toks, n);
    }
    json_decref(body);
}

static json_t *model_object(const hr_api *api)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:i, s:s}}", "id", api->model_id,
                     "object", "model", "created", (json_int_t)api->created, "owned_by", "hearth",
                     "meta", "architecture", api->info.arch, "n_params",
                     (json_int_t)api->info.n_params, "n_ctx_train", api->info.n_ctx_train,
                     "quantization", api->info.quant);
}

void hr__api_models(hr_api *api, hr_req *r)
{
    json_t *data = json_pack("[o]", model_object(api));
    const char *name;
    for (size_t i = 0; data && (name = hr_router_route_name(api->router, i)); i++) {
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", name, "object",
                                              "model", "created", (json_int_t)api->created,
                                              "owned_by", "hearth-route"));
    }
    hr__http_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void hr__api_model(hr_api *api, hr_req *r)
{
    const char *id = hr__req_path(r) + strlen("/v1/models/");
    if (hr_router_find(api->router, id)) {
        hr__http_json(r, 200, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model",
                                         "created", (json_int_t)api->created, "owned_by",
                                         "hearth-route"));
        return;
    }
    if (!model_matches(api, id)) {
        hr__http_error(r, 404, "model_not_found", "model", "The model '%s' does not exist", id);
        return;
    }
    hr__http_json(r, 200, model_object(api));
}

void hr__api_health(hr_api *api, hr_req *r)
{
    if (api->loading) {
        hr__req_add_header(r, "Retry-After", "1");
        hr__http_json(r, 503, json_pack("{s:s}", "status", "loading model"));
        return;
    }
    hr_engine_stats st;
    hr_engine_get_stats(api->engine, &st);
    hr__http_json(r, 200, json_pack("{s:s, s:i, s:i, s:i}", "status", "ok", "slots_idle",
                                    (int)(hr_engine_n_slots(api->engine) - st.slots_busy),
                                    "slots_processing", (int)st.slots_busy, "queue_depth",
                                    (int)st.queue_depth));
}

void hr__api_metrics(hr_api *api, hr_req *r)
{
    hr_engine_stats st = {0};
    if (api->engine) {
        hr_engine_get_stats(api->engine, &st);
    }
    hr_buf out = {0};
    if (hr__metrics_render(api->metrics, &st, &out) < 0 || hr__note_metrics(api, &out) < 0) {
        hr_buf_deinit(&out);
        hr__http_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    hr__http_respond(r, 200, "text/plain; version=0.0.4", out.p ? out.p : "", out.len);
    hr_buf_deinit(&out);
}
