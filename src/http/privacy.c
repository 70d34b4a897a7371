/* SPDX-License-Identifier: MIT */
/* privacy.c -- a routed request's privacy: what of it may reach the
 * upstream, the redacted copy that does, and the originals put back into
 * the upstream's answer before the client sees it.
 *
 * The decision is made once, when the request arrives (routed.c asks before
 * anything is generated): blocked requests never escalate; redacted ones
 * send a copy of the body with placeholders, made only if they do escalate.
 * Streamed answers are restored chunk by chunk, content and each tool
 * call's arguments, a placeholder split across chunks included (a restorer
 * holds back a possible partial placeholder until the next chunk decides
 * it). Local generation always sees the original text. Loop thread. */
#include "http/http_int.h"

#include <string.h>

#include "privacy/privacy.h"
#include "util/alloc.h"
#include "util/err.h"

#define MAX_CHOICES 4
#define MAX_TOOL_CALLS 16 /* per choice, with their own restorers when streamed */

struct hr_priv {
    const hr_privacy *p;
    hr_privacy_decision d;
    json_t *body;          /* borrowed from the routed request */
    json_t *up_body;       /* the redacted copy, once made */
    hr_pii_redactor *red;
    hr_pii_restorer *rest[MAX_CHOICES];
    hr_pii_restorer *args[MAX_CHOICES][MAX_TOOL_CALLS]; /* made when a call is first seen */
    json_t *meta;          /* id, created, model of the last chunk seen */
    hr_buf tmp;
};

static void note_pii(hr_priv *pv, hr_req *r)
{
    hr_req_note *n = hr__note(r);
    if (!n) {
        return;
    }
    const hr_pii *det = hr_privacy_detector(pv->p);
    n->data_class = hr_data_class_name(pv->d.data_class);
    for (size_t c = 0; c < hr_pii_n_classes(det) && n->n_pii < HR_NOTE_MAX_PII; c++) {
        if (pv->d.counts.n[c]) {
            n->pii[n->n_pii].type = hr_pii_class_name(det, (int)c);
            n->pii[n->n_pii].count = pv->d.counts.n[c];
            n->pii[n->n_pii++].action = pv->d.blocked ? "block"
                                                      : hr_pii_action_name(pv->d.action[c]);
        }
    }
}

int hr__priv_begin(hr_api *api, hr_req *r, const char *policy, json_t *body, hr_priv **out)
{
    *out = NULL;
    hr_priv *pv = hr_calloc(1, sizeof *pv);
    if (!pv) {
        return HR_ENOMEM;
    }
    pv->p = api->privacy;
    pv->body = body;
    int rc = hr_privacy_decide(pv->p, policy, hr__req_key_id(r),
                               hr__req_header(r, "X-Hearth-Data-Class"), body, &pv->d);
    if (rc == HR_ETOOBIG) { /* could not be checked: it stays here */
        pv->d.blocked = true;
        rc = 0;
    }
    if (rc < 0) {
        hr__priv_free(pv);
        return rc;
    }
    note_pii(pv, r);
    *out = pv;
    return 0;
}

bool hr__priv_blocked(const hr_priv *pv)
{
    return pv && pv->d.blocked;
}

/* "card data" or "restricted data", for the 403 and the hearth object: the
 * data class, never the data. */
const char *hr__priv_blocked_what(const hr_priv *pv)
{
    if (pv->d.blocked_class >= 0) {
        return hr_pii_class_name(hr_privacy_detector(pv->p), pv->d.blocked_class);
    }
    return pv->d.data_class == HR_DATA_RESTRICTED ? "restricted" : "unchecked";
}

const char *hr__priv_policy(const hr_priv *pv)
{
    return pv->d.policy;
}

json_t *hr__priv_upstream_body(hr_priv *pv)
{
    if (!pv || !pv->d.redact) {
        return pv ? pv->body : NULL;
    }
    if (pv->up_body) {
        return pv->up_body;
    }
    const hr_pii *det = hr_privacy_detector(pv->p);
    json_t *copy = json_deep_copy(pv->body);
    int rc = copy ? hr_pii_redactor_new(&pv->red, det, pv->d.redact_mask) : HR_ENOMEM;
    rc = rc ? rc : hr_pii_redact_json(pv->red, copy);
    for (int i = 0; rc == 0 && i < MAX_CHOICES; i++) {
        rc = hr_pii_restorer_new(&pv->rest[i], pv->red);
    }
    if (rc < 0) { /* nothing unredacted may go: the caller falls back to local */
        json_decref(copy);
        return NULL;
    }
    pv->up_body = copy;
    return copy;
}

bool hr__priv_restores(const hr_priv *pv)
{
    return pv && pv->red;
}

/* Replace the string at o[key] with its restored form; json_text for
 * tool-call arguments, which are JSON themselves (an original with a quote
 * must not break them). */
static void restore_field(hr_priv *pv, json_t *o, const char *key, bool json_text)
{
    json_t *s = json_object_get(o, key);
    if (!json_is_string(s)) {
        return;
    }
    hr_buf_reset(&pv->tmp);
    const char *v = json_string_value(s);
    size_t n = json_string_length(s);
    int rc = json_text ? hr_pii_restore_json_text(pv->red, v, n, &pv->tmp)
                       : hr_pii_restore(pv->red, v, n, &pv->tmp);
    if (rc == 0) {
        json_object_set_new(o, key, json_stringn(pv->tmp.p ? pv->tmp.p : "", pv->tmp.len));
    }
}

static void restore_tool_calls(hr_priv *pv, json_t *holder)
{
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(holder, "tool_calls"), i, tc) {
        restore_field(pv, json_object_get(tc, "function"), "arguments", true);
    }
    restore_field(pv, json_object_get(holder, "function_call"), "arguments", true);
}

void hr__priv_restore_doc(hr_priv *pv, json_t *doc)
{
    if (!hr__priv_restores(pv)) {
        return;
    }
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(doc, "choices"), i, ch) {
        json_t *m = json_object_get(ch, "message");
        restore_field(pv, m, "content", false);
        restore_tool_calls(pv, m);
        restore_field(pv, ch, "text", false);
    }
}

/* Streamed tool-call arguments go through their call's own restorer, as
 * content does, so that a placeholder split across pieces (as a model's
 * tokens split it) is restored too; calls past MAX_TOOL_CALLS get whole
 * placeholders only. */
static hr_pii_restorer *args_restorer(hr_priv *pv, json_int_t k, json_t *call)
{
    json_t *ix = json_object_get(call, "index");
    json_int_t j = json_is_integer(ix) ? json_integer_value(ix) : 0;
    if (k < 0 || k >= MAX_CHOICES || j < 0 || j >= MAX_TOOL_CALLS) {
        return NULL;
    }
    hr_pii_restorer **s = &pv->args[k][j];
    if (!*s && hr_pii_restorer_new(s, pv->red) == 0) {
        hr_pii_restorer_set_json_text(*s, true);
    }
    return *s;
}

static void restore_arg_pieces(hr_priv *pv, json_int_t k, json_t *delta)
{
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call) {
        json_t *f = json_object_get(call, "function");
        json_t *a = json_object_get(f, "arguments");
        hr_pii_restorer *s = json_is_string(a) ? args_restorer(pv, k, call) : NULL;
        hr_buf_reset(&pv->tmp);
        if (!s) {
            restore_field(pv, f, "arguments", true);
        } else if (hr_pii_restorer_feed(s, json_string_value(a), json_string_length(a),
                                        &pv->tmp) == 0) {
            json_object_set_new(f, "arguments", json_stringn(pv->tmp.p ? pv->tmp.p : "",
                                                             pv->tmp.len));
        }
    }
    restore_field(pv, json_object_get(delta, "function_call"), "arguments", true);
}

/* What choice k's restorers still hold goes into delta: the content's,
 * then each call's arguments as one more piece of that call. */
static void flush_choice(hr_priv *pv, int k, json_t *delta)
{
    json_t *c = json_object_get(delta, "content");
    hr_buf_reset(&pv->tmp);
    if (json_is_string(c)) {
        hr_buf_append(&pv->tmp, json_string_value(c), json_string_length(c));
    }
    if (hr_pii_restorer_flush(pv->rest[k], &pv->tmp) == 0 && (json_is_string(c) || pv->tmp.len)) {
        json_object_set_new(delta, "content", json_stringn(pv->tmp.p ? pv->tmp.p : "",
                                                           pv->tmp.len));
    }
    for (int j = 0; j < MAX_TOOL_CALLS; j++) {
        hr_buf_reset(&pv->tmp);
        if (!pv->args[k][j] || hr_pii_restorer_flush(pv->args[k][j], &pv->tmp) < 0 ||
            !pv->tmp.len) {
            continue;
        }
        json_t *calls = json_object_get(delta, "tool_calls");
        if (!json_is_array(calls)) {
            calls = json_array();
            json_object_set_new(delta, "tool_calls", calls);
        }
        json_array_append_new(calls, json_pack("{s:i, s:{s:s%}}", "index", j, "function",
                                               "arguments", pv->tmp.p, pv->tmp.len));
    }
}

/* Feed a chunk's content and arguments through its choice's restorers; on
 * the choice's last chunk, flush what they held back into it too. */
static void restore_delta(hr_priv *pv, json_t *ch)
{
    json_t *idx = json_object_get(ch, "index");
    json_int_t k = json_is_integer(idx) ? json_integer_value(idx) : 0;
    json_t *delta = json_object_get(ch, "delta");
    json_t *fin = json_object_get(ch, "finish_reason");
    if (!json_is_object(delta)) {
        return;
    }
    restore_arg_pieces(pv, k, delta);
    if (k < 0 || k >= MAX_CHOICES) {
        restore_field(pv, delta, "content", false);
        return;
    }
    json_t *c = json_object_get(delta, "content");
    hr_buf_reset(&pv->tmp);
    if (json_is_string(c) && hr_pii_restorer_feed(pv->rest[k], json_string_value(c),
                                                  json_string_length(c), &pv->tmp) == 0) {
        json_object_set_new(delta, "content", json_stringn(pv->tmp.p ? pv->tmp.p : "",
                                                           pv->tmp.len));
    }
    if (fin && !json_is_null(fin)) {
        flush_choice(pv, (int)k, delta);
    }
}

void hr__priv_restore_chunk(hr_priv *pv, json_t *chunk)
{
    if (!hr__priv_restores(pv)) {
        return;
    }
    if (!pv->meta) {
        pv->meta = json_object();
    }
    static const char *keep[] = {"id", "created", "model"};
    for (int k = 0; pv->meta && k < 3; k++) {
        json_t *v = json_object_get(chunk, keep[k]);
        if (v) {
            json_object_set(pv->meta, keep[k], v);
        }
    }
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(chunk, "choices"), i, ch) {
        restore_delta(pv, ch);
    }
}

json_t *hr__priv_flush_chunk(hr_priv *pv)
{
    if (!hr__priv_restores(pv)) {
        return NULL;
    }
    json_t *choices = json_array();
    for (int k = 0; choices && k < MAX_CHOICES; k++) {
        json_t *delta = json_object();
        if (delta) {
            flush_choice(pv, k, delta);
        }
        if (json_object_size(delta)) {
            json_array_append_new(choices, json_pack("{s:i, s:O, s:n}", "index", k, "delta",
                                                     delta, "finish_reason"));
        }
        json_decref(delta);
    }
    if (json_array_size(choices) == 0) {
        json_decref(choices);
        return NULL;
    }
    json_t *c = pv->meta ? json_deep_copy(pv->meta) : json_object();
    if (c) {
        json_object_set_new(c, "object", json_string("chat.completion.chunk"));
        json_object_set_new(c, "choices", choices);
    } else {
        json_decref(choices);
    }
    return c;
}

void hr__priv_decorate(const hr_priv *pv, json_t *hearth)
{
    if (!pv || !hearth) {
        return;
    }
    uint32_t n = hr_pii_counts_total(&pv->d.counts);
    json_t *o = json_pack("{s:s, s:i, s:b}", "data_class",
                          hr_data_class_name(pv->d.data_class), "pii_found", (json_int_t)n,
                          "redacted", pv->up_body != NULL);
    if (o && pv->d.blocked) {
        json_object_set_new(o, "blocked", json_string(hr__priv_blocked_what(pv)));
    }
    json_object_set_new(hearth, "privacy", o);
}

void hr__priv_free(hr_priv *pv)
{
    if (!pv) {
        return;
    }
    for (int i = 0; i < MAX_CHOICES; i++) {
        hr_pii_restorer_free(pv->rest[i]);
        for (int j = 0; j < MAX_TOOL_CALLS; j++) {
            hr_pii_restorer_free(pv->args[i][j]);
        }
    }
    hr_pii_redactor_free(pv->red);
    json_decref(pv->up_body);
    json_decref(pv->meta);
    hr_buf_deinit(&pv->tmp);
    hr_free(pv);
}
