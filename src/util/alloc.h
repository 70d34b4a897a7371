/* SPDX-License-Identifier: MIT */
/* alloc.h -- the only door to the heap for hearth's own code. */
#ifndef HR_UTIL_ALLOC_H
#define HR_UTIL_ALLOC_H

#include <stddef.h>

/*
 * Thin wrappers over malloc and friends. Going through one place lets test
 * builds fail the Nth allocation (environment HR_FAIL_ALLOC_AT=N, read once)
 * so fault-injection tests see every call. All return NULL on failure;
 * hr_calloc checks n * size for overflow; a failed hr_realloc leaves the old
 * block valid; hr_free(NULL) does nothing.
 */
void *hr_malloc(size_t size);
void *hr_calloc(size_t n, size_t size);
void *hr_realloc(void *p, size_t size);
char *hr_strdup(const char *s);
char *hr_strndup(const char *s, size_t n);
void hr_free(void *p);

/* Room for `need` elements of `size` bytes in the array p of capacity *cap:
 * p itself when it has the room, else p grown by doubling (from `first`
 * when empty) with *cap updated. NULL when out of memory or on overflow;
 * then p and *cap are unchanged and p stays valid. */
void *hr_grow(void *p, size_t *cap, size_t need, size_t size, size_t first);

/* Fault injection for tests: make the nth allocation from now fail (n >= 1),
 * or switch it off with n = 0. */
void hr_alloc_fail_at(long n);

#endif
