/* SPDX-License-Identifier: MIT */
/* api_embed.c -- POST /v1/embeddings: every input becomes one engine job
 * (ids first_id .. first_id + n - 1); the answer goes out when the last one
 * is done, in input order, as float arrays or, when the client asks for
 * encoding_format "base64" (the openai SDKs do by default), as base64 of
 * little-endian float32. Loop thread. */
#include "http/http_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/list.h"

#define MAX_INPUTS 2048

struct hr_embed_req {
    hr_embed_req *prev, *next;
    hr_api *api;
    hr_req *req; /* NULL once the client has gone */
    uint64_t first_id;
    size_t n, n_done;
    float **vecs;
    int32_t dim;
    int64_t n_tokens;
    bool base64;
    int err;
};

static void embed_free(hr_embed_req *q)
{
    HR_DLIST_REMOVE(q->api->embeds, q);
    for (size_t i = 0; q->vecs && i < q->n; i++) {
        hr_free(q->vecs[i]);
    }
    hr_free(q->vecs);
    hr_free(q);
}

static void on_client_gone(hr_req *r, void *ud)
{
    hr_embed_req *q = ud;
    hr__metrics_request(q->api->metrics, "/v1/embeddings", 499,
                        hr__now_ms() - hr__req_start_ms(r));
    q->req = NULL;
    for (size_t i = 0; i < q->n; i++) {
        hr_engine_cancel(q->api->engine, q->first_id + i);
    }
}

static json_t *vector_json(const hr_embed_req *q, const float *v)
{
    if (!q->base64) {
        json_t *a = json_array();
        for (int32_t i = 0; a && i < q->dim; i++) {
            json_array_append_new(a, json_real(v[i]));
        }
        return a;
    }
    /* x86 and arm64 are little-endian, which is what the SDKs decode. */
    size_t n = (size_t)q->dim * sizeof(float);
    unsigned char *out = hr_malloc(4 * ((n + 2) / 3) + 1);
    if (!out) {
        return NULL;
    }
    int len = EVP_EncodeBlock(out, (const unsigned char *)v, (int)n);
    json_t *s = json_stringn((const char *)out, (size_t)len);
    hr_free(out);
    return s;
}

static void respond(hr_embed_req *q)
{
    hr_api *api = q->api;
    if (q->err < 0) {
        hr__http_error(q->req, 500, NULL, NULL, "embedding failed: %s", hr_strerror(q->err));
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; data && i < q->n; i++) {
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding",
                                              vector_json(q, q->vecs[i])));
    }
    json_t *doc = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
                            "model", api->model_id, "usage", "prompt_tokens",
                            (json_int_t)q->n_tokens, "total_tokens", (json_int_t)q->n_tokens);
    hr__metrics_tokens(api->metrics, q->n_tokens, 0);
    hr__http_json(q->req, 200, doc);
}

bool hr__embed_dispatch(hr_api *api, hr_engine_event *ev)
{
    hr_embed_req *q = api->embeds;
    while (q && !(ev->id >= q->first_id && ev->id < q->first_id + q->n)) {
        q = q->next;
    }
    if (!q) {
        return false;
    }
    size_t i = (size_t)(ev->id - q->first_id);
    if (ev->type == HR_EV_EMBEDDING) {
        q->vecs[i] = ev->embd;
        q->dim = ev->n_embd;
        ev->embd = NULL;
    } else if (ev->type == HR_EV_DONE) {
        q->n_done++;
        q->n_tokens += ev->res.n_prompt;
        if (ev->err < 0 || !q->vecs[i]) {
            q->err = ev->err < 0 ? ev->err : HR_ECANCELED;
        }
        if (q->n_done == q->n) {
            if (q->req) {
                respond(q);
            }
            embed_free(q);
        }
    }
    return true;
}

void hr__embed_free_all(hr_api *api)
{
    while (api->embeds) {
        embed_free(api->embeds);
    }
}

void hr__embed_cancel_all(hr_api *api)
{
    for (hr_embed_req *q = api->embeds; q; q = q->next) {
        for (size_t i = 0; i < q->n; i++) {
            hr_engine_cancel(api->engine, q->first_id + i);
        }
    }
}

/* One input (a string or token ids) into tokens, or 400. */
static int input_tokens(hr_api *api, hr_req *r, json_t *in, size_t idx, int32_t **toks,
                        size_t *n)
{
    int rc = HR_EINVAL;
    if (json_is_string(in) && json_string_length(in) > 0) {
        rc = hr_model_tokenize(api->model, json_string_value(in), json_string_length(in), true,
                               false, toks, n);
    } else if (json_is_array(in) && json_array_size(in) > 0) {
        size_t len = json_array_size(in);
        *toks = hr_calloc(len, sizeof **toks);
        rc = *toks ? 0 : HR_ENOMEM;
        for (size_t i = 0; rc == 0 && i < len; i++) {
            json_t *v = json_array_get(in, i);
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
            rc = id >= 0 && id < api->info.n_vocab ? 0 : HR_EINVAL;
            (*toks)[i] = (int32_t)id;
        }
        *n = len;
    }
    if (rc == HR_EINVAL) {
        hr__http_error(r, 400, "invalid_value", "input", "input[%zu] must be a non-empty string "
                       "or a non-empty array of token ids", idx);
    } else if (*n >= hr_engine_n_ctx_slot(api->engine)) {
        hr__http_error(r, 400, "context_length_exceeded", "input", "input[%zu] is %zu tokens; "
                       "the limit is %u", idx, *n, hr_engine_n_ctx_slot(api->engine) - 1);
        rc = HR_ECTXFULL;
    }
    if (rc < 0) {
        hr_free(*toks);
        *toks = NULL;
    }
    return rc;
}

/* The inputs as a list: one string, an array of strings, token ids, or an
 * array of token-id arrays. Returns the count, 0 after answering 400. */
static size_t input_list(hr_req *r, json_t *input, json_t **items)
{
    if (json_is_string(input) ||
        (json_is_array(input) && json_is_integer(json_array_get(input, 0)))) {
        *items = json_pack("[O]", input);
        return 1;
    }
    size_t n = json_array_size(input);
    if (!json_is_array(input) || n == 0 || n > MAX_INPUTS) {
        hr__http_error(r, 400, input ? "invalid_value" : "missing_required_parameter", "input",
                       input ? "'input' must be a string or a non-empty array of at most %d "
                               "inputs" : "missing required parameter: 'input'", MAX_INPUTS);
        return 0;
    }
    *items = json_incref(input);
    return n;
}

static int parse_embed(hr_api *api, hr_req *r, json_t *body, hr_embed_req *q, json_t **items)
{
    json_t *m = json_object_get(body, "model");
    const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
    if (m && !json_is_string(m)) {
        hr__http_error(r, 400, "invalid_value", "model", "'model' must be a string");
        return HR_EINVAL;
    }
    if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
        hr__http_error(r, 400, "invalid_value", "encoding_format",
                       "'encoding_format' must be 'float' or 'base64'");
        return HR_EINVAL;
    }
    q->base64 = fmt && strcmp(fmt, "base64") == 0;
    q->n = input_list(r, json_object_get(body, "input"), items);
    return q->n ? 0 : HR_EINVAL;
}

/* Tokenize every input and submit one job each; 0 or an answered error. */
static int submit_all(hr_api *api, hr_req *r, hr_embed_req *q, json_t *items)
{
    q->first_id = api->next_id + 1;
    for (size_t i = 0; i < q->n; i++) {
        int32_t *toks = NULL;
        size_t n = 0;
        int rc = input_tokens(api, r, json_array_get(items, i), i, &toks, &n);
        hr_job job = {.id = ++api->next_id, .tokens = toks, .n_tokens = n, .embed = true};
        rc = rc < 0 ? rc : hr_engine_submit(api->engine, &job);
        if (rc < 0) {
            hr_free(job.tokens);
            for (size_t k = 0; k < i; k++) {
                hr_engine_cancel(api->engine, q->first_id + k);
            }
            q->n = i; /* only these will report back */
            if (rc != HR_EINVAL && rc != HR_ECTXFULL) {
                hr__http_error(r, rc == HR_EQUEUEFULL ? 503 : 500, NULL, NULL,
                               "cannot embed: %s", hr_strerror(rc));
            }
            return rc;
        }
    }
    return 0;
}

void hr__api_embeddings(hr_api *api, hr_req *r)
{
    json_t *body = hr__api_body_json(r);
    if (!body) {
        return;
    }
    json_t *items = NULL;
    hr_embed_req *q = hr_calloc(1, sizeof *q);
    if (!q) {
        hr__http_error(r, 500, NULL, NULL, "out of memory");
        json_decref(body);
        return;
    }
    q->api = api;
    int rc = parse_embed(api, r, body, q, &items);
    if (rc == 0 && !hr__api_model_ok(api, r, json_string_value(json_object_get(body, "model")))) {
        rc = HR_EINVAL;
    }
    if (rc == 0) {
        q->vecs = hr_calloc(q->n, sizeof *q->vecs);
        rc = q->vecs ? 0 : HR_ENOMEM;
        if (rc < 0) {
            hr__http_error(r, 500, NULL, NULL, "out of memory");
        }
    }
    if (rc == 0) {
        rc = submit_all(api, r, q, items);
    }
    json_decref(items);
    json_decref(body);
    /* Link it in even after a failed submit: jobs already queued report back. */
    HR_DLIST_PUSH(api->embeds, q);
    if (rc == 0) {
        q->req = r;
        hr__req_on_close(r, on_client_gone, q);
    } else if (q->n == 0) {
        embed_free(q);
    }
}
