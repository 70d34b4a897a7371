/* SPDX-License-Identifier: MIT */
/* alloc.c -- heap wrappers with optional fault injection.
 *
 * The countdown is atomic because the engine thread and the main thread both
 * allocate; it costs one relaxed load per call when injection is off. */
#include "util/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* < 0: not yet read from the environment; 0: off; n > 0: fail when it hits 0. */
static _Atomic long fail_countdown = -1;

void hr_alloc_fail_at(long n)
{
    atomic_store(&fail_countdown, n > 0 ? n : 0);
}

static int should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c == 0) {
        return 0;
    }
    if (c < 0) {
        const char *s = getenv("HR_FAIL_ALLOC_AT");
        char *end = NULL;
        long n = s ? strtol(s, &end, 10) : 0;
        if (!s || *end != '\0' || n < 0) {
            n = 0;
        }
        long expect = -1;
        atomic_compare_exchange_strong(&fail_countdown, &expect, n);
        if (n == 0) {
            return 0;
        }
    }
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *hr_malloc(size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(size ? size : 1);
}

void *hr_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        return NULL;
    }
    if (should_fail()) {
        return NULL;
    }
    return calloc(n ? n : 1, size ? size : 1);
}

void *hr_realloc(void *p, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(p, size ? size : 1);
}

void *hr_grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap && p) {
        return p;
    }
    size_t c = *cap ? *cap : first ? first : 1;
    while (c < need) {
        if (c > SIZE_MAX / 2) {
            return NULL;
        }
        c *= 2;
    }
    if (size && c > SIZE_MAX / size) {
        return NULL;
    }
    void *q = hr_realloc(p, c * size);
    if (q) {
        *cap = c;
    }
    return q;
}

char *hr_strndup(const char *s, size_t n)
{
    char *d = hr_malloc(n + 1);
    if (!d) {
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *hr_strdup(const char *s)
{
    return hr_strndup(s, strlen(s));
}

void hr_free(void *p)
{
    free(p);
}
