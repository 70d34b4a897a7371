/* SPDX-License-Identifier: MIT */
/* stream.c -- a call's response bytes as curl hands them over: a streamed
 * answer's SSE text split into events and passed to the consumer, up to the
 * protocol's end marker, or held while the consumer has paused; anything
 * else kept whole for upstream.c. Loop thread only: inside curl's callbacks,
 * and from hr_upstream_resume for what waited during a pause. */
#include "upstream/upstream_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One SSE event's text (NUL-terminated, modified in place) into its event
 * name and joined data lines. */
static const char *parse_event(char *p, hr_buf *data)
{
    const char *event = NULL;
    for (char *line = p, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strncmp(line, "event:", 6) == 0) {
            event = line + 6 + (line[6] == ' ');
        } else if (strncmp(line, "data:", 5) == 0) {
            hr_buf_append_str(data, data->len ? "\n" : "");
            hr_buf_append_str(data, line + 5 + (line[5] == ' '));
        }
    }
    return event;
}

/* The token counts of a compact usage chunk, or false. */
static bool usage_counts(const char *p, int64_t *in, int64_t *out)
{
    const char *u = strstr(p, "\"usage\":{");
    const char *a = u ? strstr(u, "\"prompt_tokens\":") : NULL;
    const char *b = u ? strstr(u, "\"completion_tokens\":") : NULL;
    char *end_a = NULL, *end_b = NULL;
    *in = a ? strtoll(a + 16, &end_a, 10) : 0;
    *out = b ? strtoll(b + 20, &end_b, 10) : 0;
    return end_a && end_a != a + 16 && end_b && end_b != b + 20;
}

/* The pass-through fast path, no parse and no re-serialisation, for an
 * OpenAI-compatible upstream's chunks that are plainly not the last one,
 * for the last one when the consumer takes it as text, and for the usage
 * chunk. Returns 1 when the consumer took the event, 0 when it stopped, -1
 * when it is to be parsed. */
static int deliver_raw(hr_upstream_call *c, const hr_buf *data)
{
    if (c->u->kind != HR_UP_KIND_OPENAI || !data->p) {
        return -1;
    }
    if (c->h.on_raw && strstr(data->p, "\"finish_reason\":null")) {
        return c->h.on_raw(c->ud, data->p, data->len) ? 1 : 0;
    }
    if (data->p[0] != '{' || strstr(data->p, "\"error\"")) {
        return -1;
    }
    if (c->h.on_raw_last && strstr(data->p, "\"finish_reason\":\"")) {
        return c->h.on_raw_last(c->ud, data->p, data->len);
    }
    int64_t in, out;
    if (c->h.on_raw_usage && strstr(data->p, "\"choices\":[]") &&
        usage_counts(data->p, &in, &out)) {
        return c->h.on_raw_usage(c->ud, data->p, data->len, in, out) ? 1 : 0;
    }
    return -1;
}

/* Pass one event on; false when the consumer stopped or it is malformed. */
static bool deliver(hr_upstream_call *c, const char *event, hr_buf *data)
{
    if (c->ended) {
        return true; /* past the end marker: nothing more is the answer's */
    }
    int raw = deliver_raw(c, data);
    if (raw >= 0) {
        c->delivered = true;
        c->consumer_stopped = raw == 0;
        return !c->consumer_stopped;
    }
    json_t *chunk = NULL;
    int rc = data->p || event ? hr__up_stream_event(c->u, &c->st, event, data->p ? data->p : "",
                                                    &chunk)
                              : 0;
    if (rc < 0) {
        c->fb_reason = HR_UP_MALFORMED;
        return false;
    }
    if (chunk) {
        c->delivered = true;
        c->consumer_stopped = c->h.on_chunk && !c->h.on_chunk(c->ud, chunk);
        json_decref(chunk);
    }
    if (c->st.done && !c->ended && !c->consumer_stopped) {
        c->ended = true;
        if (c->h.on_end) {
            c->h.on_end(c->ud);
        }
        hr__up_ended(c);
    }
    return !c->consumer_stopped;
}

/* Split buffered SSE text into events and pass each on (upstream.c NOTES 3)
 * until the consumer pauses. Returns false when it stopped or the stream is
 * malformed. */
bool hr__up_drain(hr_upstream_call *c)
{
    for (;;) {
        char *p = c->sse.p;
        char *end = p ? strstr(p, "\n\n") : NULL;
        if (!end) {
            return true;
        }
        *end = '\0';
        hr_buf_reset(&c->evdata);
        const char *event = parse_event(p, &c->evdata);
        bool go = deliver(c, event, &c->evdata);
        hr_buf_consume(&c->sse, (size_t)(end - p) + 2);
        if (!go) {
            return false;
        }
        if (c->paused) {
            return true; /* the rest waits for hr_upstream_resume */
        }
    }
}

size_t hr__up_on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    hr_upstream_call *c = ud;
    size_t n = size * nmemb;
    c->got_byte = true;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (!c->stream || c->status != 200) {
        return hr_buf_append(&c->resp, p, n) == 0 && c->resp.len < (64u << 20) ? n : 0;
    }
    if (c->consumer_stopped || c->fb_reason != HR_UP_OK) {
        return 0; /* it failed while paused */
    }
    if (c->paused) {
        return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes and stops reading */
    }
    /* SSE lines may end in CRLF: normalise so events split on "\n\n". */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '\r') {
            if (hr_buf_append(&c->sse, p + start, i - start) < 0) {
                return 0;
            }
            start = i + 1;
        }
    }
    return hr__up_drain(c) ? n : 0;
}

size_t hr__up_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    hr_upstream_call *c = ud;
    size_t n = size * nmemb;
    c->got_byte = true;
    /* retry-after-ms (OpenAI's, finer) wins over retry-after in seconds; an
     * HTTP-date is not read (the backoff applies then). */
    bool ms = n > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0;
    if (ms || (n > 12 && strncasecmp(p, "retry-after:", 12) == 0 && !c->retry_after_ms_set)) {
        const char *v = p + (ms ? 15 : 12);
        char *end = NULL;
        double t = strtod(v, &end);
        c->retry_after_ms = end != v && t >= 0 ? (ms ? t : t * 1000.0) : -1;
        c->retry_after_ms_set = ms && c->retry_after_ms >= 0;
    }
    return n;
}
