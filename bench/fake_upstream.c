/* SPDX-License-Identifier: MIT */
/* fake_upstream.c -- an OpenAI-compatible chat endpoint for the gateway
 * benchmark: it answers with max_tokens canned chunks, at once or paced like
 * a hosted API (first chunk after --ttft-ms, then one every --itl-ms), and
 * with the usage chunk when stream_options.include_usage asks for it.
 *
 * Why C and not a script: the benchmark subtracts latency measured directly
 * from latency measured through hearth, and a script runtime's millisecond
 * timers and collector pauses put more jitter into both than hearth adds.
 * Timers here are precise (timerfd), and the CPU it takes per request is
 * small beside the load generator sharing its core.
 *
 * usage: hearth-fake-upstream [--ttft-ms T] [--itl-ms I]
 * Listens on a free loopback port and prints "listening PORT". */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOKENS_CAP 4096

typedef struct {
    struct evhttp_request *req;
    struct event *timer;
    char model[128];
    int left;  /* token chunks still to send */
    int n;     /* and in all */
    bool sent_role;
    bool usage; /* stream_options.include_usage, answered as OpenAI does */
    long long next_us; /* when the next step is due: a schedule, so timer slop does not add up */
} stream;

static struct event_base *base;
static long ttft_ms, itl_ms;

/* A chunk; with include_usage each carries "usage":null, as OpenAI's do. */
static void add_chunk(struct evbuffer *b, const stream *s, const char *delta, const char *fin)
{
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
                        "\"created\":0,\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":%s,"
                        "\"finish_reason\":%s}]%s}\n\n",
                        s->model, delta, fin, s->usage ? ",\"usage\":null" : "");
}

static void add_usage(struct evbuffer *b, const stream *s)
{
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
                        "\"created\":0,\"model\":\"%s\",\"choices\":[],\"usage\":{"
                        "\"prompt_tokens\":5,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
                        s->model, s->n, s->n + 5);
}

static void stream_free(stream *s)
{
    event_free(s->timer);
    free(s);
}

/* The client went away: stop pacing its stream. */
static void on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    stream_free(arg);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void arm(stream *s, long ms)
{
    s->next_us += ms * 1000LL;
    long long d = s->next_us - now_us();
    d = d < 0 ? 0 : d;
    struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
    evtimer_add(s->timer, &tv);
}

/* One step of a stream: the role chunk with the first token, then a token
 * a step, then the end with the last. With no pacing all go out in one step. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    stream *s = arg;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        abort();
    }
    do {
        if (!s->sent_role) {
            add_chunk(b, s, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
            s->sent_role = true;
        }
        add_chunk(b, s, "{\"content\":\"tok \"}", "null");
        s->left--;
    } while (!itl_ms && s->left > 0);
    if (s->left == 0) {
        add_chunk(b, s, "{}", "\"length\"");
        if (s->usage) {
            add_usage(b, s);
        }
        evbuffer_add(b, "data: [DONE]\n\n", 14);
    }
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    if (s->left > 0) {
        arm(s, itl_ms);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(s->req), NULL, NULL);
    evhttp_send_reply_end(s->req);
    stream_free(s);
}

static void reply_whole(struct evhttp_request *req, const char *model, int n)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        abort();
    }
    evbuffer_add_printf(b,
                        "{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion\",\"created\":0,"
                        "\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                        "\"assistant\",\"content\":\"",
                        model);
    for (int i = 0; i < n; i++) {
        evbuffer_add(b, "tok ", 4);
    }
    evbuffer_add_printf(b,
                        "\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,"
                        "\"completion_tokens\":%d,\"total_tokens\":%d}}",
                        n, n + 5);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_t *j = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        evhttp_send_error(req, 400, "body is not a JSON object");
        return;
    }
    json_int_t mt = json_integer_value(json_object_get(j, "max_tokens"));
    int n = mt < 1 ? 16 : mt > MAX_TOKENS_CAP ? MAX_TOKENS_CAP : (int)mt;
    const char *model = json_string_value(json_object_get(j, "model"));
    char name[128];
    /* Echoed into JSON unescaped: keep only characters that need no escape. */
    snprintf(name, sizeof name, "%s", model && !strpbrk(model, "\"\\") ? model : "fake");
    bool streaming = json_is_true(json_object_get(j, "stream"));
    bool usage = json_is_true(json_object_get(json_object_get(j, "stream_options"),
                                              "include_usage"));
    json_decref(j);
    if (!streaming) {
        reply_whole(req, name, n); /* the benchmark streams; this is for completeness */
        return;
    }
    stream *s = calloc(1, sizeof *s);
    if (!s || !(s->timer = evtimer_new(base, on_tick, s))) {
        abort();
    }
    s->req = req;
    s->left = s->n = n;
    s->usage = usage;
    s->next_us = now_us();
    memcpy(s->model, name, sizeof name);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/event-stream");
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    int one = 1; /* chunks leave when written, as a hosted API's do */
    setsockopt(bufferevent_getfd(evhttp_connection_get_bufferevent(conn)), IPPROTO_TCP,
               TCP_NODELAY, &one, sizeof one);
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(conn, on_close, s);
    if (ttft_ms) {
        arm(s, ttft_ms);
    } else {
        on_tick(-1, 0, s);
    }
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--ttft-ms") == 0) {
            ttft_ms = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--itl-ms") == 0) {
            itl_ms = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: hearth-fake-upstream [--ttft-ms T] [--itl-ms I]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_config *cfg = event_config_new();
    if (!cfg) {
        return 1;
    }
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    struct evhttp_bound_socket *sock =
        http ? evhttp_bind_socket_with_handle(http, "127.0.0.1", 0) : NULL;
    struct event *term = base ? evsignal_new(base, SIGTERM, on_term, NULL) : NULL;
    if (!sock || !term || evsignal_add(term, NULL) != 0) {
        fprintf(stderr, "hearth-fake-upstream: cannot listen on 127.0.0.1\n");
        return 1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, NULL);
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
    printf("listening %u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    event_free(term);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
