/* SPDX-License-Identifier: MIT */
/* out.c -- how a connection's response bytes reach its socket.
 *
 * Through the bufferevent alone, every write armed write interest on the
 * socket and disarmed it once flushed: two epoll_ctl calls and a loop turn
 * for each token of a paced stream. Written straight to the socket one by
 * one instead, a burst (an upstream's chunk holding a whole answer) became
 * one TCP segment, and one wake-up of the client, per token, which cost
 * twice the CPU per request. So pieces are gathered for the rest of the loop
 * turn (a user event made active costs no system call) and go out together
 * in one sendmsg; a whole response goes out at once. Only what the socket
 * does not take joins the bufferevent's output, which then carries on and
 * reports errors as usual; while anything waits there, later bytes queue
 * behind it, so the order holds.
 * Loop thread only. */
#include "http/http_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"

/* Gathered bytes go out early past this, and a buffer grown past it is
 * given back after use: one long burst must not pin memory for the
 * connection's life. */
#define PEND_MAX (64u << 10)

static void add_iov(struct evbuffer *out, const struct iovec *iov, int n, size_t skip)
{
    for (int i = 0; i < n; i++) {
        size_t k = skip < iov[i].iov_len ? skip : iov[i].iov_len;
        skip -= k;
        if (iov[i].iov_len > k) {
            evbuffer_add(out, (const char *)iov[i].iov_base + k, iov[i].iov_len - k);
        }
    }
}

void hr__out_write(hr_out *o, const struct iovec *iov, int n)
{
    struct evbuffer *out = bufferevent_get_output(o->bev);
    hr__out_flush(o);
    if (evbuffer_get_length(out) > 0) {
        add_iov(out, iov, n, 0);
        return;
    }
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t sent;
    do {
        sent = sendmsg(bufferevent_getfd(o->bev), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    add_iov(out, iov, n, sent < 0 ? 0 : (size_t)sent);
}

void hr__out_flush(hr_out *o)
{
    if (o->pend.len == 0) {
        return;
    }
    struct iovec v = {o->pend.p, o->pend.len};
    o->pend.len = 0; /* before the write: it flushes first */
    hr__out_write(o, &v, 1);
    if (o->pend.cap > PEND_MAX) {
        hr_buf_deinit(&o->pend);
    } else {
        hr_buf_reset(&o->pend);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    hr__out_flush(arg);
}

void hr__out_queue(hr_out *o, const struct iovec *iov, int n)
{
    struct evbuffer *out = bufferevent_get_output(o->bev);
    if (n == 0) {
        return;
    }
    if (o->pend.len == 0 && evbuffer_get_length(out) > 0) {
        add_iov(out, iov, n, 0); /* the socket is behind: join its queue */
        return;
    }
    bool first = o->pend.len == 0;
    for (int i = 0; i < n; i++) {
        if (hr_buf_append(&o->pend, iov[i].iov_base, iov[i].iov_len) != 0) {
            hr__out_flush(o); /* no memory to gather: what came so far, then the rest */
            add_iov(out, iov + i, n - i, 0);
            return;
        }
    }
    if (o->pend.len >= PEND_MAX) {
        hr__out_flush(o);
    } else if (first) {
        event_active(o->flush, EV_WRITE, 1);
    }
}

int hr__out_init(hr_out *o, struct event_base *base, struct bufferevent *bev)
{
    memset(o, 0, sizeof *o);
    o->bev = bev;
    o->flush = event_new(base, -1, 0, on_flush, o);
    return o->flush ? 0 : HR_ENOMEM;
}

void hr__out_deinit(hr_out *o)
{
    if (o->flush) {
        event_free(o->flush);
    }
    hr_buf_deinit(&o->pend);
}

size_t hr__out_pending(const hr_out *o)
{
    return o->pend.len + evbuffer_get_length(bufferevent_get_output(o->bev));
}
