/* SPDX-License-Identifier: MIT */
/* buf.h -- a growable byte buffer that is always NUL-terminated. */
#ifndef HR_UTIL_BUF_H
#define HR_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A zero-initialised hr_buf is an empty buffer. `p` is NULL until the first
 * append, then always NUL-terminated (the NUL is not counted in `len`), so it
 * can carry binary data and still be printed. Appends return 0 or HR_ENOMEM;
 * on failure the buffer keeps its old contents.
 */
typedef struct hr_buf {
    char *p;    /* contents, or NULL while nothing was ever appended */
    size_t len; /* bytes used, not counting the trailing NUL */
    size_t cap; /* bytes allocated */
} hr_buf;

int hr_buf_append(hr_buf *b, const void *p, size_t n);
int hr_buf_append_str(hr_buf *b, const char *s);
int hr_buf_printf(hr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hr_buf_vprintf(hr_buf *b, const char *fmt, va_list ap);

/* Drop the first n bytes (all of them when n >= len). */
void hr_buf_consume(hr_buf *b, size_t n);

/* Empty the buffer but keep its memory. */
void hr_buf_reset(hr_buf *b);

/* Free the memory and leave an empty buffer. */
void hr_buf_deinit(hr_buf *b);

/* Hand the contents to the caller (free with hr_free) and leave the buffer
 * empty; returns an empty allocated string when nothing was appended, or
 * NULL on out of memory. */
char *hr_buf_take(hr_buf *b);

#endif
