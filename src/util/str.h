/* SPDX-License-Identifier: MIT */
/* str.h -- string copying and number parsing that report failure. */
#ifndef HR_UTIL_STR_H
#define HR_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy src into dst (size dstlen > 0), always NUL-terminating. Returns 0, or
 * HR_ETOOBIG when src was truncated to fit. */
int hr_strlcpy(char *dst, const char *src, size_t dstlen);

/* Parse all of s as a base-10 integer within [min, max]. Returns 0, HR_EINVAL
 * (not a number, trailing text, empty) or HR_ERANGE. */
int hr_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parse all of s as a finite double within [min, max]. Same codes. */
int hr_parse_double(const char *s, double min, double max, double *out);

/* Length of the longest prefix of p[0..n) that holds only complete UTF-8
 * sequences, i.e. where a stream may be cut without splitting a character.
 * Invalid bytes count as complete (they are one "character" each). */
size_t hr_utf8_complete_len(const char *p, size_t n);

/* Bytes in the UTF-8 sequence that lead byte c starts (1-4), or 0 when c
 * cannot start one (a continuation byte or an invalid byte). */
size_t hr_utf8_seq_len(unsigned char c);

/* Append p[0..n) to out with each invalid sequence replaced by one U+FFFD
 * (a lead byte and the continuation bytes it claims count as one, so an
 * unfinished character becomes a single replacement character). Returns 0
 * or HR_ENOMEM. */
struct hr_buf;
int hr_utf8_append_sanitized(struct hr_buf *out, const char *p, size_t n);

/* True when p[0..n) is valid UTF-8. */
bool hr_utf8_valid(const char *p, size_t n);

#endif
