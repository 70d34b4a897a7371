/* SPDX-License-Identifier: MIT */
/* server.c -- HTTP/1.1 connections on libevent bufferevents, parsed by
 * http-parser.
 *
 * Why not evhttp: libevent 2.1's evhttp answers an over-limit body, a bad
 * request line or a timeout with fixed HTML pages and gives no hook before
 * the body is read, so it cannot send the OpenAI-shaped 413/431/408 errors
 * clients expect. Here libevent still does all I/O and http-parser (a
 * resumable parser with no I/O) does the parsing; this file joins them.
 *
 * NOTES
 *  1. A connection reads one request at a time. When a request is complete
 *     the parser is paused and further input stays buffered until the
 *     response ends (pipelined requests are answered in order).
 *  2. While a request is being answered, reading stays enabled only to see
 *     the client leave (EOF); the request's on_close callback then runs so
 *     its generation can be cancelled, and the connection is freed.
 *  3. Timeouts: header_timeout_ms from the first byte (or accept) to the end
 *     of the headers, body_timeout_ms for the body, idle_timeout_ms between
 *     keep-alive requests. None runs while a response is being produced.
 * Loop thread only. */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/list.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_HEADERS 100
#define HEAD_LINE_MAX 256 /* status line, Content-Type, framing, Connection */

typedef enum conn_state {
    C_READING, /* parsing a request */
    C_HANDLING, /* the handler has it; reading paused */
    C_CLOSING, /* flush the output, then close */
    C_LINGER,  /* output sent and shut down; discard input until EOF */
} conn_state;

typedef struct conn conn;

struct hr_req {
    conn *c;
    uint64_t id;
    double t_start;
    char method[16];
    hr_buf url;
    /* Headers as parsed, "name\0value\0" each, in one buffer: a buffer
     * per name and value made the request 5 KB and a dozen allocations. */
    hr_buf hdrs;
    struct {
        uint32_t name, value; /* offsets in hdrs; value 0 until it starts */
    } hdr[MAX_HEADERS];
    size_t n_headers;
    bool last_was_value;
    hr_buf body;
    hr_buf out_headers; /* extra response headers, "Name: value\r\n" each */
    bool streaming;
    bool keep_alive;
    bool chunked; /* stream with chunked encoding (HTTP/1.1 clients) */
    bool body_sent; /* the stream's last byte is out; only the bookkeeping is left */
    bool http_minor_1; /* the client speaks HTTP/1.1 */
    hr_req_close_cb on_close;
    void *on_close_ud;
    hr_req_close_cb on_drain;
    void *on_drain_ud;
    const char *label;
    int status;   /* of the response, once it started */
    const char *key_id; /* the id of the API key it came with, or NULL */
    void *ext;    /* the handler layer's per-request state (hr__req_set_ext) */
};

struct conn {
    hr_srv *srv;
    struct bufferevent *bev;
    hr_out out;
    struct event *timer;
    http_parser parser;
    conn_state state;
    hr_req *req;
    size_t header_bytes;
    int pending_error; /* a status to answer with once parsing stopped */
    conn *prev, *next;
};

struct hr_srv {
    struct event_base *base;
    struct evconnlistener *listener;
    hr_srv_opts o;
    hr_req_handler handler;
    void *ud;
    uint16_t port;
    uint64_t next_id;
    size_t n_active;
    conn *conns;
};

static http_parser_settings settings;

double hr__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- requests ------------------------------------------------------------- */

static void req_free(hr_req *r)
{
    if (!r) {
        return;
    }
    hr_buf_deinit(&r->url);
    hr_buf_deinit(&r->hdrs);
    hr_buf_deinit(&r->body);
    hr_buf_deinit(&r->out_headers);
    hr_free(r);
}

const char *hr__req_method(const hr_req *r)
{
    return r->method;
}

const char *hr__req_path(const hr_req *r)
{
    return r->url.p ? r->url.p : "/";
}

const char *hr__req_header(const hr_req *r, const char *name)
{
    for (size_t i = 0; r->hdrs.p && i < r->n_headers; i++) {
        if (strcasecmp(r->hdrs.p + r->hdr[i].name, name) == 0) {
            return r->hdr[i].value ? r->hdrs.p + r->hdr[i].value : "";
        }
    }
    return NULL;
}

const char *hr__req_body(const hr_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.p ? r->body.p : "";
}

uint64_t hr__req_id(const hr_req *r)
{
    return r->id;
}

void hr__req_set_label(hr_req *r, const char *label)
{
    r->label = label;
}

const char *hr__req_label(const hr_req *r)
{
    return r->label ? r->label : "";
}

double hr__req_start_ms(const hr_req *r)
{
    return r->t_start;
}

int hr__req_add_header(hr_req *r, const char *name, const char *value)
{
    return hr_buf_printf(&r->out_headers, "%s: %s\r\n", name, value);
}

void hr__req_set_ext(hr_req *r, void *ext)
{
    r->ext = ext;
}

void *hr__req_ext(const hr_req *r)
{
    return r->ext;
}

void hr__req_set_key_id(hr_req *r, const char *id)
{
    r->key_id = id;
}

const char *hr__req_key_id(const hr_req *r)
{
    return r->key_id;
}

int hr__req_status(const hr_req *r)
{
    return r->status;
}

void hr__req_on_close(hr_req *r, hr_req_close_cb cb, void *ud)
{
    r->on_close = cb;
    r->on_close_ud = ud;
}

void hr__req_on_drain(hr_req *r, hr_req_close_cb cb, void *ud)
{
    r->on_drain = cb;
    r->on_drain_ud = ud;
}

size_t hr__req_backlog(const hr_req *r)
{
    return evbuffer_get_length(bufferevent_get_output(r->c->bev));
}

/* ---- connections ------------------------------------------------------------ */

static void conn_free(conn *c)
{
    hr_srv *s = c->srv;
    if (c->req) {
        hr_req *r = c->req;
        c->req = NULL;
        if (c->state == C_HANDLING) {
            s->n_active--;
            if (r->on_close) {
                r->on_close(r, r->on_close_ud);
            }
            if (s->o.on_done) {
                s->o.on_done(r, false, s->ud);
            }
        }
        req_free(r);
    }
    HR_DLIST_REMOVE(s->conns, c);
    event_free(c->timer);
    hr__out_deinit(&c->out);
    bufferevent_free(c->bev);
    hr_free(c);
}

static void arm_timer(conn *c, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

static int req_begin(conn *c)
{
    hr_req *r = hr_calloc(1, sizeof *r);
    if (!r) {
        return HR_ENOMEM;
    }
    r->c = c;
    r->id = ++c->srv->next_id;
    r->t_start = hr__now_ms();
    c->req = r;
    c->header_bytes = 0;
    return 0;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* The status line and headers as three pieces for writev: the fixed lines
 * (formatted into buf), the handler's extra headers, the blank line. */
static void format_head(hr_req *r, int status, const char *ctype, const char *framing,
                        char buf[HEAD_LINE_MAX], struct iovec v[3])
{
    hr_srv *s = r->c->srv;
    r->status = status;
    if (s->o.on_response) {
        s->o.on_response(r, status, s->ud);
    }
    int n = snprintf(buf, HEAD_LINE_MAX, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s", status,
                     status_text(status), ctype, framing,
                     r->keep_alive ? "" : "Connection: close\r\n");
    v[0] = (struct iovec){buf, n < HEAD_LINE_MAX ? (size_t)n : HEAD_LINE_MAX - 1};
    v[1] = (struct iovec){r->out_headers.p, r->out_headers.len};
    v[2] = (struct iovec){"\r\n", 2};
}

static void process_input(conn *c);
static void on_write(struct bufferevent *bev, void *arg);

/* The response is complete: next request, or close. */
static void req_finish(hr_req *r)
{
    conn *c = r->c;
    hr_srv *s = c->srv;
    bool keep = r->keep_alive;
    s->n_active -= c->state == C_HANDLING ? 1 : 0;
    c->req = NULL;
    /* The end of a response goes now, before the bookkeeping (audit,
     * metrics) that the client need not wait for, and before the next one. */
    hr__out_flush(&c->out);
    if (s->o.on_done && c->state == C_HANDLING) {
        s->o.on_done(r, true, s->ud);
    }
    req_free(r);
    if (!keep) {
        c->state = C_CLOSING;
        bufferevent_disable(c->bev, EV_READ);
        if (hr__out_pending(&c->out) == 0) {
            on_write(c->bev, c); /* all sent straight: no write callback will come */
        }
        return; /* the write callback closes once the output is flushed */
    }
    c->state = C_READING;
    http_parser_pause(&c->parser, 0);
    arm_timer(c, s->o.idle_timeout_ms);
    process_input(c);
}

void hr__http_respond(hr_req *r, int status, const char *ctype, const char *body, size_t len)
{
    char framing[64], line[HEAD_LINE_MAX];
    struct iovec v[4];
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", len);
    format_head(r, status, ctype, framing, line, v);
    v[3] = (struct iovec){(void *)body, len};
    hr__out_write(&r->c->out, v, 4);
    req_finish(r);
}

void hr__http_stream_start(hr_req *r, int status, const char *ctype)
{
    r->streaming = true;
    r->chunked = r->c->parser.http_major == 1 && r->c->parser.http_minor >= 1;
    if (!r->chunked) {
        r->keep_alive = false; /* HTTP/1.0: the close ends the body */
    }
    char line[HEAD_LINE_MAX];
    struct iovec v[3];
    format_head(r, status, ctype, r->chunked ? "Transfer-Encoding: chunked\r\n" : "", line, v);
    hr__out_queue(&r->c->out, v, 3); /* with the first piece if it comes this turn */
}

/* Chunk-size line by hand (printf was a visible share of streaming cost);
 * writes it at the end of buf[24], returns where it starts. */
static char *chunk_head(char buf[24], size_t n)
{
    char *p = buf + 24;
    *--p = '\n';
    *--p = '\r';
    do {
        *--p = "0123456789abcdef"[n & 15];
        n >>= 4;
    } while (n);
    return p;
}

void hr__http_stream_write(hr_req *r, const char *p, size_t n)
{
    if (n == 0) {
        return;
    }
    char hex[24];
    char *h = chunk_head(hex, n);
    struct iovec iov[3] = {{h, (size_t)(hex + sizeof hex - h)}, {(void *)p, n}, {"\r\n", 2}};
    if (r->chunked) {
        hr__out_queue(&r->c->out, iov, 3);
    } else {
        hr__out_queue(&r->c->out, iov + 1, 1);
    }
}

void hr__http_sse_data(hr_req *r, const char *p, size_t n)
{
    char hex[24];
    char *h = chunk_head(hex, n + 8);
    struct iovec iov[4] = {{h, (size_t)(hex + sizeof hex - h)},
                           {"data: ", 6},
                           {(void *)p, n},
                           {r->chunked ? "\n\n\r\n" : "\n\n", r->chunked ? 4 : 2}};
    if (r->chunked) {
        hr__out_queue(&r->c->out, iov, 4);
    } else {
        hr__out_queue(&r->c->out, iov + 1, 3);
    }
}

void hr__http_stream_close(hr_req *r)
{
    if (r->body_sent) {
        return;
    }
    struct iovec end = {"0\r\n\r\n", 5};
    hr__out_queue(&r->c->out, &end, r->chunked ? 1 : 0);
    hr__out_flush(&r->c->out);
    r->body_sent = true;
}

void hr__http_stream_end(hr_req *r)
{
    hr__http_stream_close(r);
    req_finish(r);
}

/* ---- parser callbacks ---------------------------------------------------------- */

static int count_header_bytes(conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->srv->o.max_header_bytes) {
        c->pending_error = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    return req_begin(c) == 0 ? 0 : -1;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    return count_header_bytes(c, n) == 0 && hr_buf_append(&c->req->url, at, n) == 0 ? 0 : -1;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    hr_req *r = c->req;
    if (count_header_bytes(c, n) < 0) {
        return -1;
    }
    if (r->last_was_value || r->n_headers == 0) {
        if (r->n_headers == MAX_HEADERS) {
            c->pending_error = 431;
            return -1;
        }
        if (r->n_headers > 0 && hr_buf_append(&r->hdrs, "", 1) < 0) {
            return -1; /* the value before ends */
        }
        r->hdr[r->n_headers].name = (uint32_t)r->hdrs.len;
        r->hdr[r->n_headers].value = 0;
        r->n_headers++;
        r->last_was_value = false;
    }
    return hr_buf_append(&r->hdrs, at, n) == 0 ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    hr_req *r = c->req;
    if (count_header_bytes(c, n) < 0) {
        return -1;
    }
    if (!r->last_was_value) {
        if (hr_buf_append(&r->hdrs, "", 1) < 0) {
            return -1; /* the name ends */
        }
        r->hdr[r->n_headers - 1].value = (uint32_t)r->hdrs.len;
        r->last_was_value = true;
    }
    return hr_buf_append(&r->hdrs, at, n) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    conn *c = p->data;
    hr_req *r = c->req;
    hr_strlcpy(r->method, http_method_str((enum http_method)p->method), sizeof r->method);
    r->keep_alive = http_should_keep_alive(p);
    r->http_minor_1 = p->http_major == 1 && p->http_minor >= 1;
    /* The path is what routes match; the query string is not used. */
    if (r->url.p) {
        char *q = strchr(r->url.p, '?');
        if (q) {
            r->url.len = (size_t)(q - r->url.p);
            *q = '\0';
        }
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->o.max_body_bytes) {
        c->pending_error = 413;
        return -1;
    }
    /* curl sends "Expect: 100-continue" with bodies over 1 KiB and waits a
     * second for this answer before sending the body anyway. */
    const char *expect = hr__req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && r->http_minor_1) {
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    arm_timer(c, c->srv->o.body_timeout_ms);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->req->body.len + n > c->srv->o.max_body_bytes) {
        c->pending_error = 413;
        return -1;
    }
    return hr_buf_append(&c->req->body, at, n) == 0 ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    c->state = C_HANDLING;
    c->srv->n_active++;
    event_del(c->timer);
    http_parser_pause(p, 1);
    return 0;
}

/* Answer a request that could not be parsed, then close. */
static void fail_request(conn *c, int status, const char *msg)
{
    if (!c->req && req_begin(c) < 0) {
        conn_free(c);
        return;
    }
    c->req->keep_alive = false;
    c->state = C_HANDLING;
    c->srv->n_active++;
    event_del(c->timer);
    const char *code = status == 413 ? "request_too_large"
                       : status == 431 ? "headers_too_large"
                       : status == 408 ? "request_timeout" : "invalid_request";
    hr__http_error(c->req, status, code, NULL, "%s", msg);
}

static void parse_error(conn *c)
{
    int st = c->pending_error;
    if (st == 413) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes",
                 c->srv->o.max_body_bytes);
        fail_request(c, 413, msg);
    } else if (st == 431) {
        fail_request(c, 431, "request headers are too large");
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "malformed HTTP request: %s",
                 http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
        fail_request(c, 400, msg);
    }
}

/* Feed buffered input to the parser until a request is complete (NOTES 1). */
static void process_input(conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->state == C_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }
        size_t done = http_parser_execute(&c->parser, &settings, v.iov_base, v.iov_len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        evbuffer_drain(in, done);
        if (e != HPE_OK && e != HPE_PAUSED) {
            parse_error(c);
            return;
        }
        if (c->state == C_HANDLING) {
            c->srv->handler(c->req, c->srv->ud);
            return;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->state == C_LINGER) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->state == C_READING && !c->req && c->header_bytes == 0) {
        arm_timer(c, c->srv->o.header_timeout_ms); /* the first byte starts the clock */
    }
    if (c->state == C_READING) {
        process_input(c);
    }
}

/* Closing with unread input makes the kernel send a reset, which can
 * destroy the response before the client reads it (an early 413 or 431).
 * So the write side is shut down first and input is discarded until the
 * client closes, for at most LINGER_MS. */
#define LINGER_MS 2000

static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->state == C_HANDLING && c->req && c->req->on_drain) {
        c->req->on_drain(c->req, c->req->on_drain_ud);
        return;
    }
    if (c->state == C_CLOSING) {
        c->state = C_LINGER;
        shutdown(bufferevent_getfd(bev), SHUT_WR);
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        bufferevent_enable(bev, EV_READ);
        arm_timer(c, LINGER_MS);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->state == C_READING && c->req && (what & BEV_EVENT_EOF)) {
            /* EOF ends an HTTP/1.0 body without Content-Length. */
            http_parser_execute(&c->parser, &settings, NULL, 0);
        }
        conn_free(c); /* runs on_close for a request being answered (NOTES 2) */
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->state == C_LINGER) {
        conn_free(c);
        return;
    }
    if (c->state != C_READING) {
        return;
    }
    if (!c->req) {
        conn_free(c); /* idle keep-alive connection */
        return;
    }
    fail_request(c, 408, "timed out waiting for the request");
}

/* ---- listening ------------------------------------------------------------------ */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    hr_srv *s = arg;
    conn *c = hr_calloc(1, sizeof *c);
    struct bufferevent *bev =
        c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    struct event *timer = bev ? event_new(s->base, -1, 0, on_timer, c) : NULL;
    if (timer && hr__out_init(&c->out, s->base, bev) != 0) {
        event_free(timer);
        timer = NULL;
    }
    if (!timer) {
        hr_log(HR_LOG_ERROR, "http", "out of memory: connection refused");
        if (bev) {
            bufferevent_free(bev);
        } else {
            evutil_closesocket(fd);
        }
        hr_free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* SSE: no Nagle delay */
    c->srv = s;
    c->bev = bev;
    c->timer = timer;
    c->state = C_READING;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    HR_DLIST_PUSH(s->conns, c);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    arm_timer(c, s->o.header_timeout_ms);
}

int hr__srv_open(hr_srv **out, struct event_base *base, const hr_srv_opts *o, hr_req_handler h,
                 void *ud, char *err, size_t errlen)
{
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char addr[300];
    /* libevent's parser refuses port 0 ("any free port"), so parse with a
     * placeholder port and set the real one afterwards. */
    snprintf(addr, sizeof addr, strchr(o->host, ':') ? "[%s]:1" : "%s:1", o->host);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) < 0) {
        return hr_errf(err, errlen, HR_EINVAL, "cannot use '%s' as a listen address (give an "
                       "IP address such as 127.0.0.1 or ::1)", o->host);
    }
    if (ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(o->port);
    } else {
        ((struct sockaddr_in *)&ss)->sin_port = htons(o->port);
    }
    snprintf(addr, sizeof addr, strchr(o->host, ':') ? "[%s]:%u" : "%s:%u", o->host, o->port);
    hr_srv *s = hr_calloc(1, sizeof *s);
    if (!s) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    s->base = base;
    s->o = *o;
    s->handler = h;
    s->ud = ud;
    s->listener = evconnlistener_new_bind(base, on_accept, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                          128, (struct sockaddr *)&ss, sslen);
    if (!s->listener) {
        int e = errno;
        hr_free(s);
        return hr_errf(err, errlen, -e, "cannot listen on %s: %s", addr, hr_strerror(-e));
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &blen);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return 0;
}

uint16_t hr__srv_port(const hr_srv *s)
{
    return s->port;
}

size_t hr__srv_n_active(const hr_srv *s)
{
    return s->n_active;
}

void hr__srv_stop_accepting(hr_srv *s)
{
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    /* Idle keep-alive connections would otherwise hold the shutdown. */
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == C_READING && !c->req) {
            conn_free(c);
        }
    }
}

void hr__srv_drop_all(hr_srv *s)
{
    while (s->conns) {
        conn_free(s->conns);
    }
}

void hr__srv_close(hr_srv *s)
{
    if (!s) {
        return;
    }
    hr__srv_stop_accepting(s);
    hr__srv_drop_all(s);
    hr_free(s);
}
