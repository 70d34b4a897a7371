/* SPDX-License-Identifier: MIT */
/* upstream.c -- the transport: libcurl's multi interface driven by the
 * libevent loop (curl's hiperfifo pattern), one call per request with
 * retries, timeouts, a concurrency cap and a circuit breaker.
 *
 * NOTES
 *  1. A call is tried up to 1 + retries times. A try that fails with a
 *     connection error, a timeout, 429 or 5xx is retried after a jittered
 *     exponential backoff (or the server's Retry-After, capped by what is
 *     left of the total timeout), unless a chunk was already passed on.
 *  2. The breaker counts calls, not tries: a call that fails after its
 *     retries adds one failure; breaker_failures in a row open the circuit
 *     for breaker_reset_ms; then one probe call may go (half-open), and its
 *     outcome closes or reopens the circuit.
 *  3. curl callbacks never free the easy handle they run for: a consumer
 *     that wants to stop from on_chunk returns false, the write callback
 *     returns 0, and curl ends the transfer with CURLE_WRITE_ERROR.
 * Loop thread only. */
#include "upstream/upstream_int.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/list.h"
#include "util/log.h"
#include "util/str.h"

struct hr_upstreams {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    hr_upstream *list;
    hr_upstream_call *calls;
    uint64_t rng;
    hr_upstream_call *ended; /* calls past their end marker, consumer not yet told */
    long max_conns;  /* idle connections kept: what the upstreams may have in flight */
    bool in_curl;    /* inside curl_multi_socket_action: curl may not be re-entered */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *hr_upstream_reason_name(hr_upstream_reason r)
{
    static const char *names[] = {"ok", "timeout", "connect", "http_429", "http_5xx",
                                  "http_4xx", "malformed", "circuit_open", "busy",
                                  "rejected"};
    return (unsigned)r < HR_UP_N_REASONS ? names[r] : "unknown";
}

/* ---- libevent <-> curl glue ------------------------------------------------ */

typedef struct sock_info {
    struct event *ev;
    int what; /* the CURL_POLL_* the event is registered for */
} sock_info;

static void check_multi_info(hr_upstreams *s);
static void settle_ended(hr_upstreams *s);

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    hr_upstreams *s = arg;
    int action = (kind & EV_READ ? CURL_CSELECT_IN : 0) | (kind & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    s->in_curl = true;
    curl_multi_socket_action(s->multi, fd, action, &running);
    s->in_curl = false;
    settle_ended(s);
    check_multi_info(s);
}

static void on_curl_timer(evutil_socket_t fd, short kind, void *arg)
{
    hr_upstreams *s = arg;
    int running = 0;
    s->in_curl = true;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s->in_curl = false;
    settle_ended(s);
    check_multi_info(s);
}

/* A new transfer is sent at once rather than on the next loop turn: when a
 * burst of requests arrives together, each goes upstream as soon as it is
 * parsed instead of after all of them. Finished transfers are left to the
 * timer, so no handler runs inside the caller's own call. */
static void kick(hr_upstreams *s)
{
    if (s->in_curl) {
        return; /* called from a curl callback: the 0 ms timer curl set does it */
    }
    int running = 0;
    s->in_curl = true;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s->in_curl = false;
    struct timeval now = {0, 0};
    evtimer_add(s->timer, &now); /* completions, and curl's own next timeout */
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    hr_upstreams *s = userp;
    sock_info *si = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            event_free(si->ev);
            hr_free(si);
        }
        return 0;
    }
    if (si && si->what == what) {
        return 0; /* unchanged: no epoll_ctl round trip */
    }
    if (!si) {
        si = hr_calloc(1, sizeof *si);
        if (!si) {
            return -1;
        }
        curl_multi_assign(s->multi, fd, si);
    } else {
        event_free(si->ev);
    }
    si->what = what;
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) |
                         EV_PERSIST);
    si->ev = event_new(s->base, fd, kind, on_socket_event, s);
    return si->ev && event_add(si->ev, NULL) == 0 ? 0 : -1;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    hr_upstreams *s = userp;
    if (timeout_ms < 0) {
        evtimer_del(s->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return evtimer_add(s->timer, &tv);
}

int hr_upstreams_new(hr_upstreams **out, struct event_base *base)
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    hr_upstreams *s = hr_calloc(1, sizeof *s);
    if (!s) {
        return HR_ENOMEM;
    }
    s->base = base;
    s->multi = curl_multi_init();
    s->timer = evtimer_new(base, on_curl_timer, s);
    s->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    if (!s->multi || !s->timer) {
        hr_upstreams_free(s);
        return HR_ENOMEM;
    }
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    *out = s;
    return 0;
}

/* ---- upstreams ----------------------------------------------------------------- */

static void upstream_free(hr_upstream *u)
{
    while (u->n_spare) {
        curl_easy_cleanup(u->spare[--u->n_spare]);
    }
    for (int i = 0; i < 2; i++) {
        for (struct curl_slist *h = u->headers[i]; h; h = h->next) {
            memset(h->data, 0, strlen(h->data)); /* keys do not linger in freed memory */
        }
        curl_slist_free_all(u->headers[i]);
    }
    hr_buf_deinit(&u->url);
    if (u->api_key) {
        memset(u->api_key, 0, strlen(u->api_key));
    }
    hr_free(u->name);
    hr_free(u->base_url);
    hr_free(u->model);
    hr_free(u->api_key);
    hr_free(u);
}

static void call_free(hr_upstream_call *c);

void hr_upstreams_free(hr_upstreams *s)
{
    if (!s) {
        return;
    }
    while (s->calls) {
        call_free(s->calls);
    }
    while (s->list) {
        hr_upstream *u = s->list;
        s->list = u->next;
        upstream_free(u);
    }
    if (s->multi) {
        curl_multi_cleanup(s->multi);
    }
    if (s->timer) {
        event_free(s->timer);
    }
    hr_free(s);
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? hr_strdup(s) : NULL;
    *oom |= s && !d;
    return d;
}

static void apply_defaults(hr_upstream_opts *d)
{
    d->connect_timeout_ms = d->connect_timeout_ms ? d->connect_timeout_ms : 5000;
    d->first_byte_timeout_ms = d->first_byte_timeout_ms ? d->first_byte_timeout_ms : 30000;
    d->total_timeout_ms = d->total_timeout_ms ? d->total_timeout_ms : 120000;
    d->retries = d->retries < 0 ? 2 : d->retries;
    d->backoff_ms = d->backoff_ms ? d->backoff_ms : 250;
    d->max_concurrent = d->max_concurrent ? d->max_concurrent : 16;
    d->breaker_failures = d->breaker_failures ? d->breaker_failures : 5;
    d->breaker_reset_ms = d->breaker_reset_ms ? d->breaker_reset_ms : 30000;
}

int hr_upstream_add(hr_upstreams *s, const hr_upstream_opts *o, char *err, size_t errlen)
{
    if (!o->name || !o->base_url || !o->model) {
        return hr_errf(err, errlen, HR_EINVAL, "an upstream needs name, base_url and model");
    }
    if (strncmp(o->base_url, "http://", 7) != 0 && strncmp(o->base_url, "https://", 8) != 0) {
        return hr_errf(err, errlen, HR_EINVAL, "upstream %s: base_url must start with http:// "
                       "or https://", o->name);
    }
    int kind = !o->kind || strcmp(o->kind, "openai") == 0 ? HR_UP_KIND_OPENAI
               : strcmp(o->kind, "anthropic") == 0      ? HR_UP_KIND_ANTHROPIC
                                                        : -1;
    if (kind < 0) {
        return hr_errf(err, errlen, HR_EINVAL, "upstream %s: kind must be openai or anthropic",
                       o->name);
    }
    if (hr_upstream_find(s, o->name)) {
        return hr_errf(err, errlen, HR_EINVAL, "upstream %s is defined twice", o->name);
    }
    hr_upstream *u = hr_calloc(1, sizeof *u);
    bool oom = !u;
    if (u) {
        u->o = *o;
        u->kind = kind;
        u->name = dup_or_null(o->name, &oom);
        u->base_url = dup_or_null(o->base_url, &oom);
        u->model = dup_or_null(o->model, &oom);
        u->api_key = dup_or_null(o->api_key, &oom);
        oom = oom || hr__up_prepare(u) < 0;
    }
    if (oom) {
        if (u) {
            upstream_free(u);
        }
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    u->o.name = u->name;
    u->o.base_url = u->base_url;
    u->o.model = u->model;
    u->o.api_key = u->api_key;
    u->o.kind = kind == HR_UP_KIND_OPENAI ? "openai" : "anthropic";
    apply_defaults(&u->o);
    u->set = s;
    u->next = s->list;
    s->list = u;
    /* curl's default pool is 4 per handle in the multi; between bursts few
     * are, and it closed warm connections that the next burst reopened (one
     * request in seven paid a fresh connect at 64 clients). */
    s->max_conns += (long)u->o.max_concurrent;
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, s->max_conns);
    return 0;
}

hr_upstream *hr_upstream_find(hr_upstreams *s, const char *name)
{
    hr_upstream *u = s ? s->list : NULL;
    while (u && strcmp(u->name, name) != 0) {
        u = u->next;
    }
    return u;
}

const char *hr_upstream_name(const hr_upstream *u)
{
    return u->name;
}

const char *hr_upstream_model(const hr_upstream *u)
{
    return u->model;
}

double hr_upstream_cost(const hr_upstream *u, int64_t n_in, int64_t n_out)
{
    return (n_in * u->o.price_in_per_m + n_out * u->o.price_out_per_m) / 1e6;
}

bool hr_upstream_is_open(const hr_upstream *u)
{
    return u->breaker == BR_OPEN && now_ms() < u->open_until_ms;
}

double hr_upstream_open_for_ms(const hr_upstream *u)
{
    return hr_upstream_is_open(u) ? u->open_until_ms - now_ms() : 0;
}

/* ---- breaker (NOTES 2) ----------------------------------------------------------- */

/* May a call start now? Marks a half-open probe. */
static hr_upstream_reason admit(hr_upstream *u, bool *probe)
{
    *probe = false;
    if (u->in_flight >= u->o.max_concurrent) {
        return HR_UP_BUSY;
    }
    if (u->breaker == BR_OPEN && now_ms() >= u->open_until_ms) {
        u->breaker = BR_HALF_OPEN;
    }
    if (u->breaker == BR_OPEN || (u->breaker == BR_HALF_OPEN && u->probe_in_flight)) {
        return HR_UP_CIRCUIT_OPEN;
    }
    if (u->breaker == BR_HALF_OPEN) {
        u->probe_in_flight = true;
        *probe = true;
    }
    return HR_UP_OK;
}

static void breaker_record(hr_upstream *u, bool ok, bool probe)
{
    if (probe) {
        u->probe_in_flight = false;
    }
    if (ok) {
        u->failures = 0;
        u->breaker = BR_CLOSED;
        return;
    }
    u->failures++;
    if (probe || u->failures >= u->o.breaker_failures) {
        if (u->breaker != BR_OPEN) {
            hr_log(HR_LOG_WARN, "upstream", "%s: circuit open after %u failure(s)", u->name,
                   u->failures);
        }
        u->breaker = BR_OPEN;
        u->open_until_ms = now_ms() + u->o.breaker_reset_ms;
    }
}

/* ---- calls ---------------------------------------------------------------------- */

static void detach_easy(hr_upstream_call *c)
{
    hr_upstream *u = c->u;
    if (c->easy) {
        curl_multi_remove_handle(u->set->multi, c->easy);
        if (u->n_spare < (int)(sizeof u->spare / sizeof u->spare[0])) {
            u->spare[u->n_spare++] = c->easy; /* kept as set up: the next call sets its own */
        } else {
            curl_easy_cleanup(c->easy);
        }
        c->easy = NULL;
    }
    if (c->fb_timer) {
        evtimer_del(c->fb_timer);
    }
}

static void call_free(hr_upstream_call *c)
{
    hr_upstream_call **pp = &c->u->set->ended;
    while (*pp && *pp != c) {
        pp = &(*pp)->ended_next;
    }
    if (*pp) {
        *pp = c->ended_next;
    }
    detach_easy(c);
    HR_DLIST_REMOVE(c->u->set->calls, c);
    if (c->u->in_flight) {
        c->u->in_flight--;
    }
    if (c->is_probe) {
        c->u->probe_in_flight = false;
    }
    hr_buf_deinit(&c->body);
    json_decref(c->req);
    hr_buf_deinit(&c->resp);
    hr_buf_deinit(&c->sse);
    hr_buf_deinit(&c->evdata);
    if (c->retry_timer) {
        event_free(c->retry_timer);
    }
    if (c->fb_timer) {
        event_free(c->fb_timer);
    }
    hr_free(c);
}

static void finish(hr_upstream_call *c, hr_upstream_reason r, json_t *resp, const char *msg)
{
    breaker_record(c->u, r == HR_UP_OK || r == HR_UP_REJECTED, c->is_probe);
    c->is_probe = false;
    hr_upstream_handler h = c->h;
    void *ud = c->ud;
    call_free(c);
    if (h.on_done) {
        h.on_done(ud, r, resp, msg);
    }
}

void hr__up_ended(hr_upstream_call *c)
{
    hr_upstreams *s = c->u->set;
    c->ended_next = s->ended;
    s->ended = c;
}

/* A streamed answer is whole at its end marker: the consumer hears so as
 * soon as curl has returned, not when the transfer is over. An upstream
 * that holds its connection open after the marker would otherwise hold
 * the client's connection too (its next request waits behind this one).
 * The call itself lives on, silent, until curl is done with it. */
static void settle_ended(hr_upstreams *s)
{
    while (s->ended) {
        hr_upstream_call *c = s->ended;
        s->ended = c->ended_next;
        c->settled = true;
        breaker_record(c->u, true, c->is_probe);
        c->is_probe = false;
        hr_upstream_handler h = c->h;
        memset(&c->h, 0, sizeof c->h);
        if (h.on_done) {
            h.on_done(c->ud, HR_UP_OK, NULL, NULL);
        }
    }
}

static int start_try(hr_upstream_call *c);

/* xorshift64*: jitter needs no quality, only independence from rand(). */
static double jitter(hr_upstreams *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return 0.5 + (double)((s->rng * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    hr_upstream_call *c = arg;
    if (start_try(c) < 0) {
        finish(c, HR_UP_CONNECT, NULL, "could not start a retry");
    }
}

/* Retry (NOTES 1) if the reason allows and time is left; true if scheduled. */
static bool maybe_retry(hr_upstream_call *c, hr_upstream_reason r)
{
    bool retryable = r == HR_UP_TIMEOUT || r == HR_UP_CONNECT || r == HR_UP_HTTP_429 ||
                     r == HR_UP_HTTP_5XX;
    double left = c->u->o.total_timeout_ms - (now_ms() - c->t_start);
    if (!retryable || c->delivered || c->tries > c->u->o.retries || left <= 0) {
        return false;
    }
    double delay = c->u->o.backoff_ms * pow(2.0, c->tries - 1) * jitter(c->u->set);
    if (c->retry_after_ms >= 0) {
        delay = c->retry_after_ms;
    }
    if (delay >= left) {
        return false;
    }
    if (!c->retry_timer) {
        c->retry_timer = evtimer_new(c->u->set->base, on_retry_timer, c);
    }
    struct timeval tv = {.tv_sec = (long)(delay / 1000), .tv_usec = (long)fmod(delay, 1000) * 1000};
    if (!c->retry_timer || evtimer_add(c->retry_timer, &tv) < 0) {
        return false;
    }
    hr_log(HR_LOG_INFO, "upstream", "%s: %s, retry %d in %.0f ms", c->u->name,
           hr_upstream_reason_name(r), c->tries, delay);
    return true;
}

static hr_upstream_reason classify(hr_upstream_call *c, CURLcode res, const char **msg)
{
    if (c->fb_reason != HR_UP_OK) {
        *msg = c->fb_reason == HR_UP_MALFORMED ? "malformed stream" : "no first byte in time";
        return c->fb_reason;
    }
    if (c->ended) {
        return HR_UP_OK; /* the answer was whole: a break in the framing after it loses nothing */
    }
    if (res == CURLE_OPERATION_TIMEDOUT) {
        *msg = "timed out";
        return HR_UP_TIMEOUT;
    }
    if (res != CURLE_OK) {
        *msg = curl_easy_strerror(res);
        return c->stream && c->delivered ? HR_UP_MALFORMED : HR_UP_CONNECT;
    }
    if (c->status == 429) {
        *msg = "rate limited (429)";
        return HR_UP_HTTP_429;
    }
    if (c->status >= 500) {
        *msg = "server error (5xx)";
        return HR_UP_HTTP_5XX;
    }
    if (c->status == 400 || c->status == 413 || c->status == 422) {
        *msg = "request rejected";
        return HR_UP_REJECTED;
    }
    if (c->status != 200) {
        *msg = "request refused (4xx)";
        return HR_UP_HTTP_4XX;
    }
    if (c->stream && !c->st.done) {
        *msg = "stream ended before its end marker";
        return HR_UP_MALFORMED;
    }
    return HR_UP_OK;
}

/* What a 4xx answer said, "HTTP 400: <its error.message>" (the OpenAI and
 * Anthropic shape), cut at a character boundary; never a text holding the
 * upstream's API key. */
static const char *refusal(const hr_upstream_call *c, char *out, size_t cap)
{
    json_t *doc = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    if (!m || (c->u->api_key && *c->u->api_key && strstr(m, c->u->api_key))) {
        m = "";
    }
    int n = snprintf(out, cap, "HTTP %ld%s%s", c->status, *m ? ": " : "", m);
    if (n >= 0 && (size_t)n >= cap) { /* cut: drop a last character cut short */
        out[hr_utf8_complete_len(out, cap - 1)] = '\0';
    }
    json_decref(doc);
    return out;
}

/* An OpenAI-compatible server that does not know stream_options (some
 * older ones) rejects every stream hearth asks usage of: say so once, and
 * ask it again without, now and from then on. True if retried. */
static bool retry_without_usage(hr_upstream_call *c)
{
    hr_upstream *u = c->u;
    if (!c->stream || u->kind != HR_UP_KIND_OPENAI || u->no_stream_usage || !c->resp.p ||
        !strstr(c->resp.p, "stream_options")) {
        return false;
    }
    u->no_stream_usage = true;
    hr_log(HR_LOG_WARN, "upstream", "%s: refuses stream_options; its streamed answers are "
           "not costed", u->name);
    hr_buf_reset(&c->body);
    if (hr__up_body(u, c->req, c->stream, &c->body) < 0 || strstr(c->body.p, "stream_options")) {
        return false; /* the client asked for it: its request stands as refused */
    }
    return start_try(c) == 0;
}

static void transfer_done(hr_upstream_call *c, CURLcode res)
{
    detach_easy(c);
    if (c->consumer_stopped || c->settled) {
        call_free(c); /* the consumer asked for, or has had, its last callback */
        return;
    }
    const char *msg = NULL;
    hr_upstream_reason r = classify(c, res, &msg);
    json_t *resp = NULL;
    if (r == HR_UP_OK && !c->stream) {
        resp = hr__up_parse_response(c->u, c->resp.p ? c->resp.p : "", c->resp.len,
                                     c->schema_tool);
        if (!resp) {
            r = HR_UP_MALFORMED;
            msg = "unparseable answer";
        }
    }
    if ((r != HR_UP_OK && maybe_retry(c, r)) || (r == HR_UP_REJECTED && retry_without_usage(c))) {
        return;
    }
    char said[320];
    if (r == HR_UP_REJECTED || r == HR_UP_HTTP_4XX) {
        refusal(c, said, sizeof said);
        hr_log(HR_LOG_WARN, "upstream", "%s: call failed after %d tr%s: %s (%s)", c->u->name,
               c->tries, c->tries == 1 ? "y" : "ies", msg, said);
        msg = r == HR_UP_REJECTED ? said : msg; /* a refusal of our key stays in the log */
    } else if (r != HR_UP_OK) {
        hr_log(HR_LOG_WARN, "upstream", "%s: call failed after %d tr%s: %s (HTTP %ld)",
               c->u->name, c->tries, c->tries == 1 ? "y" : "ies", msg, c->status);
    }
    finish(c, r, resp, msg);
    json_decref(resp);
}

static void check_multi_info(hr_upstreams *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        hr_upstream_call *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode res = m->data.result;
        if (c) {
            transfer_done(c, res);
        }
    }
}

static void on_first_byte_timer(evutil_socket_t fd, short what, void *arg)
{
    hr_upstream_call *c = arg;
    if (!c->got_byte && c->easy) {
        c->fb_reason = HR_UP_TIMEOUT;
        transfer_done(c, CURLE_OPERATION_TIMEDOUT);
    }
}

/* An easy handle with what every call to u shares. Handles are kept per
 * upstream and reused as they are: a reset and a fresh set-up per call were
 * a visible share of the gateway's CPU time per request. */
static CURL *new_easy(hr_upstream *u)
{
    CURL *e = curl_easy_init();
    if (e && curl_easy_setopt(e, CURLOPT_URL, u->url.p) != CURLE_OK) {
        curl_easy_cleanup(e);
        return NULL;
    }
    if (e) {
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hr__up_on_write);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hr__up_on_header);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)u->o.connect_timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROXY, ""); /* a stray http_proxy must not reroute keys */
    }
    return e;
}

static int start_try(hr_upstream_call *c)
{
    const hr_upstream_opts *o = &c->u->o;
    double left = o->total_timeout_ms - (now_ms() - c->t_start);
    c->tries++;
    c->status = 0;
    c->got_byte = false;
    c->retry_after_ms = -1;
    c->retry_after_ms_set = false;
    c->fb_reason = HR_UP_OK;
    c->ended = false;
    hr_buf_reset(&c->resp);
    hr_buf_reset(&c->sse);
    memset(&c->st, 0, sizeof c->st);
    c->st.schema_tool = c->schema_tool;
    hr_upstream *u = c->u;
    c->easy = u->n_spare ? u->spare[--u->n_spare] : new_easy(u);
    if (!c->easy || left <= 0) {
        return HR_ENOMEM;
    }
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, u->headers[c->stream]);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body.p);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)left);
    if (!c->fb_timer) {
        c->fb_timer = evtimer_new(c->u->set->base, on_first_byte_timer, c);
    }
    struct timeval tv = {.tv_sec = o->first_byte_timeout_ms / 1000,
                         .tv_usec = (o->first_byte_timeout_ms % 1000) * 1000};
    if (!c->fb_timer || evtimer_add(c->fb_timer, &tv) < 0 ||
        curl_multi_add_handle(c->u->set->multi, c->easy) != CURLM_OK) {
        return HR_ENOMEM;
    }
    kick(c->u->set);
    return 0;
}

int hr_upstream_chat(hr_upstream *u, json_t *req, bool stream, const hr_upstream_handler *h,
                     void *ud, hr_upstream_call **out)
{
    bool probe = false;
    hr_upstream_reason r = admit(u, &probe);
    if (out) {
        *out = NULL;
    }
    hr_upstream_call *c = r == HR_UP_OK ? hr_calloc(1, sizeof *c) : NULL;
    if (r == HR_UP_OK && !c) {
        return HR_ENOMEM;
    }
    if (r != HR_UP_OK) {
        /* Fail fast, but still through the callback, as callers expect. */
        if (h->on_done) {
            h->on_done(ud, r, NULL, r == HR_UP_BUSY ? "too many calls in flight" : "circuit open");
        }
        return 0;
    }
    c->u = u;
    c->stream = stream;
    c->h = *h;
    c->ud = ud;
    c->is_probe = probe;
    c->t_start = now_ms();
    u->in_flight++;
    HR_DLIST_PUSH(u->set->calls, c);
    c->req = json_incref(req);
    c->schema_tool = u->kind == HR_UP_KIND_ANTHROPIC && hr__anth_schema_tool(req);
    int rc = hr__up_body(u, req, stream, &c->body);
    if (rc == 0) {
        rc = start_try(c);
    }
    if (rc < 0) {
        call_free(c);
        return rc;
    }
    if (out) {
        *out = c;
    }
    return 0;
}

void hr_upstream_cancel(hr_upstream_call *c)
{
    if (c) {
        call_free(c);
    }
}

void hr_upstream_pause(hr_upstream_call *c)
{
    if (c && c->stream && !c->ended) {
        c->paused = true;
    }
}

void hr_upstream_resume(hr_upstream_call *c)
{
    if (!c || !c->paused) {
        return;
    }
    c->paused = false;
    hr_upstreams *s = c->u->set;
    bool ok = hr__up_drain(c); /* what was read before the pause */
    if (ok && c->paused) {
        return;
    }
    if (c->easy) {
        s->in_curl = true;
        curl_easy_pause(c->easy, CURLPAUSE_CONT); /* may deliver what curl held */
        s->in_curl = false;
    }
    struct timeval now = {0, 0};
    evtimer_add(s->timer, &now); /* an end or a failure in there is handled from the timer */
}
