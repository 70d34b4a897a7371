/* SPDX-License-Identifier: MIT */
/* relay.c -- the cheapest possible gateway, as a floor for the gateway
 * benchmark: each client connection gets its own connection to the target
 * and bytes are copied both ways as they come, with no parsing at all.
 *
 * Placed where hearth would be (same CPU pinning), it measures what one more
 * process in the path costs on the machine by itself: the wake-ups and the
 * loopback hops. What hearth adds beyond the relay is hearth's own work.
 *
 * Plain epoll, and what is read is written at once: three system calls per
 * piece relayed (epoll_wait, read, write). A relay on libevent's buffered
 * sockets made six, waiting for the socket to be writable before each write,
 * which put the floor higher than a gateway needs to pay.
 *
 * usage: hearth-relay PORT   (the target on 127.0.0.1; prints "listening PORT") */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#define BUF_SIZE 65536

/* One side of a relayed connection. `pend` holds bytes read from the peer
 * that this side's socket would not take yet. */
typedef struct end {
    int fd;
    struct end *peer;
    char *pend;
    size_t off, len;
} end;

static int ep;
static struct sockaddr_in target;

/* What a side waits for: input only while its peer has nothing pending (so a
 * slow reader slows its writer), output only while it has something pending. */
static int rearm(end *e)
{
    struct epoll_event ev = {.data.ptr = e};
    ev.events = (e->peer->len ? 0 : EPOLLIN) | (e->len ? EPOLLOUT : 0);
    return epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
}

/* Pairs closed while handling one batch of events are freed after it: a
 * later event of the same batch may name the other side. */
static end *dead[64];
static int ndead;

static void close_pair(end *e)
{
    end *p = e->peer;
    if (e->fd < 0) {
        return;
    }
    close(e->fd);
    close(p->fd);
    e->fd = p->fd = -1;
    dead[ndead++] = e < p ? e : p;
}

/* Write what `to` has pending; -1 when the connection is gone. */
static int flush(end *to)
{
    while (to->len) {
        ssize_t w = write(to->fd, to->pend + to->off, to->len);
        if (w < 0) {
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        }
        to->off += (size_t)w;
        to->len -= (size_t)w;
    }
    to->off = 0;
    return 0;
}

/* Bytes readable on `from` go to its peer now; what the peer will not take
 * is kept until it is writable. While the peer is behind, `from` is not
 * read (its input is off), so nothing overtakes the kept bytes; a hang-up
 * or error reported then ends the pair. */
static int pump(end *from, uint32_t events)
{
    static char buf[BUF_SIZE];
    end *to = from->peer;
    if (to->len) {
        return events & (EPOLLHUP | EPOLLERR) ? -1 : 0;
    }
    ssize_t n = read(from->fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        return -1;
    }
    if (n < 0) {
        return 0;
    }
    ssize_t w = write(to->fd, buf, (size_t)n);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        return -1;
    }
    if (w == n) {
        return 0;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (!to->pend && !(to->pend = malloc(BUF_SIZE))) {
        abort();
    }
    memcpy(to->pend, buf + done, (size_t)n - done);
    to->off = 0;
    to->len = (size_t)n - done;
    return rearm(to) < 0 || rearm(from) < 0 ? -1 : 0;
}

static int add(end *e)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
    int one = 1;
    setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return epoll_ctl(ep, EPOLL_CTL_ADD, e->fd, &ev);
}

/* A client connected: connect to the target (loopback, so a blocking
 * connect is over at once) and watch both sockets. */
static void on_accept(int lfd)
{
    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (c < 0) {
        return;
    }
    int t = socket(AF_INET, SOCK_STREAM, 0);
    end *pair = calloc(2, sizeof *pair);
    if (t < 0 || !pair || connect(t, (struct sockaddr *)&target, sizeof target) != 0 ||
        fcntl(t, F_SETFL, O_NONBLOCK) != 0) {
        close(c);
        if (t >= 0) {
            close(t);
        }
        free(pair);
        return;
    }
    pair[0] = (end){.fd = c, .peer = &pair[1]};
    pair[1] = (end){.fd = t, .peer = &pair[0]};
    if (add(&pair[0]) != 0 || add(&pair[1]) != 0) {
        close(c);
        close(t);
        free(pair);
    }
}

static int on_ready(end *e, uint32_t events)
{
    if (events & EPOLLOUT) {
        if (flush(e) < 0) {
            return -1;
        }
        if (!e->len && (rearm(e) < 0 || rearm(e->peer) < 0)) {
            return -1;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        return pump(e, events);
    }
    return 0;
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
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t ml = sizeof me;
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&me, sizeof me) != 0 || listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&me, &ml) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        fprintf(stderr, "hearth-relay: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    printf("listening %u\n", ntohs(me.sin_port));
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            end *e = evs[i].data.ptr;
            if (!e) {
                on_accept(lfd);
            } else if (e->fd >= 0 && on_ready(e, evs[i].events) < 0) {
                close_pair(e);
            }
        }
        for (; ndead > 0; ndead--) {
            end *pair = dead[ndead - 1];
            free(pair[0].pend);
            free(pair[1].pend);
            free(pair);
        }
        if (n < 0 && errno != EINTR) {
            return 1;
        }
    }
}
