/* SPDX-License-Identifier: MIT */
/* relay.c -- the cheapest possible gateway, as a floor for the gateway
 * benchmark: each client connection gets its own connection to the target
 * and bytes are copied both ways as they come, with no parsing at all.
 *
 * Placed where hearth would be (same CPU pinning), it measures what one more
 * process in the path costs on the machine by itself: the wake-ups and the
 * loopback hops. What hearth adds beyond the relay is hearth's own work.
 *
 * usage: hearth-relay PORT   (the target on 127.0.0.1; prints "listening PORT") */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct event_base *base;
static struct sockaddr_in target;

static void nodelay(struct bufferevent *b)
{
    int one = 1;
    setsockopt(bufferevent_getfd(b), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Bytes that arrived on one side go to the other. */
static void on_read(struct bufferevent *from, void *arg)
{
    bufferevent_write_buffer(arg, bufferevent_get_input(from));
}

/* Either side gone: close both (a half-close is not worth modelling here). */
static void on_event(struct bufferevent *b, short what, void *arg)
{
    if (what & BEV_EVENT_CONNECTED) {
        nodelay(b);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        struct bufferevent *other = arg;
        bufferevent_free(other);
        bufferevent_free(b);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)l, (void)sa, (void)len, (void)arg;
    struct bufferevent *in = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    struct bufferevent *out = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!in || !out) {
        abort();
    }
    nodelay(in);
    bufferevent_setcb(in, on_read, NULL, on_event, out);
    bufferevent_setcb(out, on_read, NULL, on_event, in);
    bufferevent_enable(in, EV_READ | EV_WRITE);
    bufferevent_enable(out, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(out, (struct sockaddr *)&target, sizeof target) != 0) {
        bufferevent_free(out);
        bufferevent_free(in);
    }
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopexit(base, NULL);
}

int main(int argc, char **argv)
{
    long port = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: hearth-relay PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    base = event_base_new();
    struct evconnlistener *l =
        base ? evconnlistener_new_bind(base, on_accept, NULL,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                       (struct sockaddr *)&any, sizeof any)
             : NULL;
    struct event *term = base ? evsignal_new(base, SIGTERM, on_term, NULL) : NULL;
    if (!l || !term || evsignal_add(term, NULL) != 0) {
        fprintf(stderr, "hearth-relay: cannot listen on 127.0.0.1\n");
        return 1;
    }
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&me, &ml);
    printf("listening %u\n", ntohs(me.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    event_free(term);
    evconnlistener_free(l);
    event_base_free(base);
    return 0;
}
