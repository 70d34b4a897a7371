/* SPDX-License-Identifier: MIT */
/* audit.c -- one audit row per API request: the note the handlers fill in
 * (route, escalation, PII found and what was done with it, tokens, cost)
 * becomes an hr_audit_record when the request is done.
 *
 * Loop thread. hr_audit_log only copies the record into the writer's queue,
 * so nothing here waits for the disk. Rows never carry an API key (only its
 * id) and carry prompt text only when the operator turned log_prompts on. */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "util/alloc.h"
#include "util/buf.h"

void hr__note_begin(hr_api *api, hr_req *r, const char *key_id)
{
    if (!api->audit) {
        return;
    }
    hr_req_note *n = hr_calloc(1, sizeof *n);
    if (n) { /* without memory the row is missing; hr_audit counts what it drops */
        n->key_id = key_id;
        hr__req_set_ext(r, n);
    }
}

hr_req_note *hr__note(hr_req *r)
{
    return r ? hr__req_ext(r) : NULL;
}

/* The prompt as the client sent it: messages[] or prompt, compact JSON. */
static char *prompt_text(hr_req *r)
{
    size_t len;
    const char *body = hr__req_body(r, &len);
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *p = json_object_get(doc, "messages");
    p = p ? p : json_object_get(doc, "prompt");
    p = p ? p : json_object_get(doc, "input");
    char *s = p ? json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(doc);
    return s;
}

void hr__note_done(hr_api *api, hr_req *r, bool completed)
{
    hr_req_note *n = hr__note(r);
    if (!n) {
        return;
    }
    hr__req_set_ext(r, NULL);
    hr_audit_pii pii[HR_NOTE_MAX_PII];
    for (size_t i = 0; i < n->n_pii; i++) {
        pii[i] = (hr_audit_pii){n->pii[i].type, n->pii[i].count, n->pii[i].action};
    }
    char rid[32];
    snprintf(rid, sizeof rid, "req-%llu", (unsigned long long)hr__req_id(r));
    char *prompt = api->log_prompts ? prompt_text(r) : NULL;
    int status = hr__req_status(r);
    hr_audit_record rec = {
        .request_id = rid,
        .key_id = n->key_id,
        .route = n->route,
        .policy = n->policy,
        .local_model = n->local_ran ? api->model_id : NULL,
        .upstream = n->upstream,
        .upstream_model = n->upstream_model,
        .escalated = n->escalated,
        .escalation_reason = n->reason,
        .data_class = n->data_class,
        .pii = pii,
        .n_pii = n->n_pii,
        .prompt = prompt,
        /* 499 (nginx's "client closed request") when the client left first */
        .http_status = completed || status ? status : 499,
        .local_tokens_in = n->local_in,
        .local_tokens_out = n->local_out,
        .upstream_tokens_in = n->up_in,
        .upstream_tokens_out = n->up_out,
        .latency_ms = (int64_t)(hr__now_ms() - hr__req_start_ms(r) + 0.5),
        .cost_usd = n->cost_usd,
        .degraded = n->degraded,
    };
    hr_audit_log(api->audit, &rec);
    hr_free(prompt);
    hr_free(n);
}

int hr__note_metrics(hr_api *api, hr_buf *out)
{
    if (!api->audit) {
        return 0;
    }
    hr_audit_stats st;
    hr_audit_stats_get(api->audit, &st);
    return hr_buf_printf(
        out,
        "# HELP hearth_audit_rows_total Audit rows committed to disk.\n"
        "# TYPE hearth_audit_rows_total counter\nhearth_audit_rows_total %llu\n"
        "# HELP hearth_audit_deferred_total Audit rows that found the queue full and were "
        "written later.\n"
        "# TYPE hearth_audit_deferred_total counter\nhearth_audit_deferred_total %llu\n"
        "# HELP hearth_audit_failed_total Audit write transactions that failed (retried).\n"
        "# TYPE hearth_audit_failed_total counter\nhearth_audit_failed_total %llu\n"
        "# HELP hearth_audit_dropped_total Audit rows given up after retries.\n"
        "# TYPE hearth_audit_dropped_total counter\nhearth_audit_dropped_total %llu\n"
        "# HELP hearth_audit_queue_depth Audit rows waiting for the writer.\n"
        "# TYPE hearth_audit_queue_depth gauge\nhearth_audit_queue_depth %zu\n",
        (unsigned long long)st.written, (unsigned long long)st.deferred,
        (unsigned long long)st.failed, (unsigned long long)st.dropped, st.queue_depth);
}
