/* SPDX-License-Identifier: MIT */
/* http.c -- the HTTP front's public face: the route table, API keys, the
 * engine event pump, metrics per response, and graceful shutdown.
 *
 * Where a request goes: server.c parses it -> on_request (here) matches the
 * route, checks method, key and readiness -> the handler in api.c /
 * api_embed.c -> gen.c for generations, whose engine events come back
 * through on_engine_events. Loop thread only. */
#include "http/http_int.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define DEFAULT_BODY (8u << 20)
#define DEFAULT_HEADERS (16u << 10)

typedef struct route {
    const char *method;
    const char *path;  /* exact, or a prefix when prefix is set */
    bool prefix;
    bool needs_model;  /* 503 while the model loads */
    bool open;         /* no API key needed */
    hr_api_fn fn;
} route;

static const route ROUTES[] = {
    {"POST", "/v1/chat/completions", false, true, false, hr__api_chat},
    {"POST", "/v1/completions", false, true, false, hr__api_completions},
    {"POST", "/v1/embeddings", false, true, false, hr__api_embeddings},
    {"GET", "/v1/models", false, true, false, hr__api_models},
    {"GET", "/v1/models/", true, true, false, hr__api_model},
    {"GET", "/health", false, false, true, hr__api_health},
    {"GET", "/metrics", false, false, false, hr__api_metrics},
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

struct hr_http {
    struct event_base *base;
    hr_srv *srv;
    hr_api api;
    struct event *engine_ev;
    struct event *shutdown_timer;
    char **keys;
    char (*key_ids)[20];      /* key_ids[i] names keys[i] in logs and policies */
    char *model_id;
    bool shutting_down;
    double deadline_ms;
};

static bool path_matches(const route *rt, const char *path)
{
    if (rt->prefix) {
        size_t n = strlen(rt->path);
        return strncmp(path, rt->path, n) == 0 && path[n] != '\0';
    }
    return strcmp(path, rt->path) == 0;
}

/* The index of the key in "Authorization: Bearer <key>", or -1. Constant
 * time per key, so timing does not reveal how much of a key matched. */
static int key_index(const hr_http *h, const char *auth)
{
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) {
        return -1;
    }
    const char *k = auth + 7;
    size_t n = strlen(k);
    int hit = -1;
    for (int i = 0; h->keys[i]; i++) {
        bool eq = strlen(h->keys[i]) == n && CRYPTO_memcmp(h->keys[i], k, n) == 0;
        hit = eq ? i : hit;
    }
    return hit;
}

static void method_not_allowed(hr_req *r, const char *path)
{
    hr_buf allow = {0};
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (path_matches(&ROUTES[i], path)) {
            hr_buf_printf(&allow, "%s%s", allow.len ? ", " : "", ROUTES[i].method);
        }
    }
    hr__req_add_header(r, "Allow", allow.p ? allow.p : "");
    hr__http_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s (allowed: %s)",
                   hr__req_method(r), path, allow.p ? allow.p : "");
    hr_buf_deinit(&allow);
}

/* The route for method and path; *path_known says whether another method
 * would have matched (405 rather than 404). */
static const route *find_route(const char *path, const char *method, bool *path_known)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (path_matches(&ROUTES[i], path)) {
            *path_known = true;
            if (strcmp(ROUTES[i].method, method) == 0) {
                return &ROUTES[i];
            }
        }
    }
    return NULL;
}

static void on_request(hr_req *r, void *ud)
{
    hr_http *h = ud;
    const char *path = hr__req_path(r);
    bool path_known = false;
    const route *hit = find_route(path, hr__req_method(r), &path_known);
    hr__req_set_label(r, hit ? hit->path : path_known ? "method_not_allowed" : "not_found");
    if (!hit) {
        if (path_known) {
            method_not_allowed(r, path);
        } else {
            hr__http_error(r, 404, "not_found", NULL, "no such endpoint: %s %s",
                           hr__req_method(r), path);
        }
        return;
    }
    int key = h->keys ? key_index(h, hr__req_header(r, "Authorization")) : -1;
    hr__req_set_key_id(r, key >= 0 ? h->key_ids[key] : NULL);
    if (hit->needs_model && strcmp(hit->method, "POST") == 0) {
        hr__note_begin(&h->api, r, hr__req_key_id(r)); /* refusals are audited too */
    }
    if (!hit->open && h->keys && key < 0) {
        hr__http_error(r, 401, "invalid_api_key", NULL,
                       "missing or incorrect API key (send 'Authorization: Bearer <key>')");
        return;
    }
    if ((hit->needs_model && h->api.loading) || (h->shutting_down && hit->needs_model)) {
        hr__req_add_header(r, "Retry-After", "1");
        hr__http_error(r, 503, h->api.loading ? "model_loading" : "shutting_down", NULL,
                       h->api.loading ? "the model is still loading" : "the server is stopping");
        return;
    }
    hit->fn(&h->api, r);
}

static void on_response(hr_req *r, int status, void *ud)
{
    hr_http *h = ud;
    hr__metrics_request(h->api.metrics, hr__req_label(r), status,
                        hr__now_ms() - hr__req_start_ms(r));
}

static void on_done(hr_req *r, bool completed, void *ud)
{
    hr_http *h = ud;
    hr__note_done(&h->api, r, completed);
}

static void on_engine_events(evutil_socket_t fd, short what, void *arg)
{
    hr_http *h = arg;
    for (hr_engine_event *ev = hr_engine_poll(h->api.engine), *next; ev; ev = next) {
        next = ev->next;
        if (!hr__gen_dispatch(&h->api, ev)) {
            hr__embed_dispatch(&h->api, ev);
        }
        hr_engine_event_free(ev);
    }
}

static int copy_keys(hr_http *h, const char *const *keys)
{
    size_t n = 0;
    while (keys && keys[n]) {
        n++;
    }
    if (!keys) {
        return 0;
    }
    h->keys = hr_calloc(n + 1, sizeof *h->keys);
    h->key_ids = hr_calloc(n + 1, sizeof *h->key_ids);
    for (size_t i = 0; h->keys && h->key_ids && i < n; i++) {
        h->keys[i] = hr_strdup(keys[i]);
        if (!h->keys[i]) {
            return HR_ENOMEM;
        }
        hr_http_key_id(keys[i], h->key_ids[i]);
    }
    return h->keys && h->key_ids ? 0 : HR_ENOMEM;
}

int hr_http_open(hr_http **out, struct event_base *base, const hr_http_opts *opts, char *err,
                 size_t errlen)
{
    static const hr_http_opts defaults;
    const hr_http_opts *o = opts ? opts : &defaults;
    *out = NULL;
    hr_http *h = hr_calloc(1, sizeof *h);
    if (!h) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    h->base = base;
    h->api.loading = true;
    /* jansson's memory goes through our allocator too, so strings it
     * returns are freed with hr_free and fault injection reaches it. */
    json_set_alloc_funcs(hr_malloc, hr_free);
    int rc = copy_keys(h, o->api_keys);
    if (rc == 0 && o->model_id) {
        h->model_id = hr_strdup(o->model_id);
        rc = h->model_id ? 0 : HR_ENOMEM;
    }
    rc = rc < 0 ? rc : hr__metrics_new(&h->api.metrics);
    if (rc < 0) {
        hr_http_close(h);
        return hr_errf(err, errlen, rc, "out of memory");
    }
    hr_srv_opts so = {
        .host = o->host ? o->host : "127.0.0.1",
        .port = o->port,
        .max_body_bytes = o->max_body_bytes ? o->max_body_bytes : DEFAULT_BODY,
        .max_header_bytes = o->max_header_bytes ? o->max_header_bytes : DEFAULT_HEADERS,
        .header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : 10000,
        .body_timeout_ms = o->body_timeout_ms ? o->body_timeout_ms : 30000,
        .idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 60000,
        .on_response = on_response,
        .on_done = on_done,
    };
    rc = hr__srv_open(&h->srv, base, &so, on_request, h, err, errlen);
    if (rc < 0) {
        hr_http_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int hr_http_set_model(hr_http *h, hr_model *m, hr_engine *e)
{
    h->api.model = m;
    h->api.engine = e;
    hr_model_get_info(m, &h->api.info);
    if (!h->model_id) {
        const char *path = hr_model_path(m);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        h->model_id = hr_strndup(base, n > 5 && strcmp(base + n - 5, ".gguf") == 0 ? n - 5 : n);
        if (!h->model_id) {
            return HR_ENOMEM;
        }
    }
    h->api.model_id = h->model_id;
    h->api.created = (int64_t)time(NULL);
    h->engine_ev = event_new(h->base, hr_engine_fd(e), EV_READ | EV_PERSIST, on_engine_events, h);
    if (!h->engine_ev || event_add(h->engine_ev, NULL) < 0) {
        return HR_ENOMEM;
    }
    h->api.loading = false;
    return 0;
}

void hr_http_set_routing(hr_http *h, hr_router *router, hr_upstreams *ups)
{
    h->api.router = router;
    h->api.ups = ups;
}

uint16_t hr_http_port(const hr_http *h)
{
    return hr__srv_port(h->srv);
}

static void on_shutdown_tick(evutil_socket_t fd, short what, void *arg)
{
    hr_http *h = arg;
    bool idle = hr__srv_n_active(h->srv) == 0 && !h->api.inflight && !h->api.embeds &&
                !h->api.routed;
    if (idle || hr__now_ms() >= h->deadline_ms) {
        if (!idle) {
            hr_log(HR_LOG_WARN, "http", "grace period over: cancelling %zu request(s)",
                   hr__srv_n_active(h->srv));
            if (h->api.engine) {
                hr__gen_cancel_all(&h->api);
                hr__embed_cancel_all(&h->api);
            }
            hr__srv_drop_all(h->srv);
        }
        event_base_loopexit(h->base, NULL);
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(h->shutdown_timer, &tv);
}

void hr_http_shutdown(hr_http *h, uint32_t grace_ms)
{
    if (h->shutting_down) {
        h->deadline_ms = 0; /* a second signal: stop now */
        return;
    }
    h->shutting_down = true;
    h->deadline_ms = hr__now_ms() + grace_ms;
    hr__srv_stop_accepting(h->srv);
    h->shutdown_timer = evtimer_new(h->base, on_shutdown_tick, h);
    if (h->shutdown_timer) {
        on_shutdown_tick(-1, 0, h);
    } else {
        event_base_loopexit(h->base, NULL);
    }
}

void hr_http_key_id(const char *key, char out[20])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), md);
    memcpy(out, "key-", 4);
    for (int i = 0; i < 6; i++) {
        out[4 + 2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[5 + 2 * i] = "0123456789abcdef"[md[i] & 15];
    }
    out[16] = '\0';
}

void hr_http_set_privacy(hr_http *h, struct hr_privacy *p)
{
    h->api.privacy = p;
}

void hr_http_set_audit(hr_http *h, struct hr_audit *a, bool log_prompts)
{
    h->api.audit = a;
    h->api.log_prompts = log_prompts;
}

void hr_http_close(hr_http *h)
{
    if (!h) {
        return;
    }
    hr__srv_close(h->srv);
    hr__route_free_all(&h->api);
    hr__gen_free_all(&h->api);
    hr__embed_free_all(&h->api);
    if (h->engine_ev) {
        event_free(h->engine_ev);
    }
    if (h->shutdown_timer) {
        event_free(h->shutdown_timer);
    }
    for (char **p = h->keys; p && *p; p++) {
        hr_free(*p);
    }
    hr_free(h->keys);
    hr_free(h->key_ids);
    hr_free(h->model_id);
    hr__metrics_free(h->api.metrics);
    hr_free(h);
}
