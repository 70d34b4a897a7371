/* SPDX-License-Identifier: MIT */
/* buf.c -- growable byte buffer (see buf.h). */
#include "util/buf.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

static int reserve(hr_buf *b, size_t extra)
{
    if (extra > (size_t)-1 - b->len - 1) {
        return HR_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    }
    char *p = hr_realloc(b->p, cap);
    if (!p) {
        return HR_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int hr_buf_append(hr_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc < 0) {
        return rc;
    }
    if (n) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hr_buf_append_str(hr_buf *b, const char *s)
{
    return hr_buf_append(b, s, strlen(s));
}

int hr_buf_vprintf(hr_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return HR_EINVAL;
    }
    int rc = reserve(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int hr_buf_printf(hr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void hr_buf_consume(hr_buf *b, size_t n)
{
    if (n >= b->len) {
        hr_buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

void hr_buf_reset(hr_buf *b)
{
    b->len = 0;
    if (b->p) {
        b->p[0] = '\0';
    }
}

void hr_buf_deinit(hr_buf *b)
{
    hr_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *hr_buf_take(hr_buf *b)
{
    if (!b->p && reserve(b, 0) < 0) {
        return NULL;
    }
    if (!b->p) {
        return NULL;
    }
    b->p[b->len] = '\0';
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
