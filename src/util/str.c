/* SPDX-License-Identifier: MIT */
/* str.c -- checked string helpers (see str.h). */
#include "util/str.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"

int hr_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (n < dstlen) {
        memcpy(dst, src, n + 1);
        return 0;
    }
    memcpy(dst, src, dstlen - 1);
    dst[dstlen - 1] = '\0';
    return HR_ETOOBIG;
}

int hr_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    if (!s || !*s) {
        return HR_EINVAL;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        return HR_EINVAL;
    }
    if (errno == ERANGE || v < min || v > max) {
        return HR_ERANGE;
    }
    *out = (int64_t)v;
    return 0;
}

int hr_parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    if (!s || !*s) {
        return HR_EINVAL;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || isnan(v)) {
        return HR_EINVAL;
    }
    if (errno == ERANGE || isinf(v) || v < min || v > max) {
        return HR_ERANGE;
    }
    *out = v;
    return 0;
}

/* Length of the UTF-8 sequence announced by lead byte c, or 0 if c cannot
 * start one. */
size_t hr_utf8_seq_len(unsigned char c)
{
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        return 4;
    }
    return 0;
}

size_t hr_utf8_complete_len(const char *p, size_t n)
{
    /* Only the last three bytes can belong to an unfinished character. */
    size_t start = n > 3 ? n - 3 : 0;
    for (size_t i = n; i > start; i--) {
        unsigned char c = (unsigned char)p[i - 1];
        if ((c & 0xC0) == 0x80) {
            continue;
        }
        size_t want = hr_utf8_seq_len(c);
        if (want > 1 && n - (i - 1) < want) {
            return i - 1;
        }
        break;
    }
    return n;
}

bool hr_utf8_valid(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        size_t k = hr_utf8_seq_len(s[i]);
        if (k == 0 || i + k > n) {
            return false;
        }
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) {
                return false;
            }
        }
        /* Reject overlongs, surrogates and code points above U+10FFFF. */
        if ((s[i] == 0xE0 && s[i + 1] < 0xA0) || (s[i] == 0xED && s[i + 1] > 0x9F) ||
            (s[i] == 0xF0 && s[i + 1] < 0x90) || (s[i] == 0xF4 && s[i + 1] > 0x8F)) {
            return false;
        }
        i += k;
    }
    return true;
}

int hr_utf8_append_sanitized(hr_buf *out, const char *p, size_t n)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t start = 0;
    size_t i = 0;
    while (i < n) {
        size_t k = hr_utf8_seq_len((unsigned char)p[i]);
        if (k && i + k <= n && hr_utf8_valid(p + i, k)) {
            i += k;
            continue;
        }
        if (hr_buf_append(out, p + start, i - start) < 0 ||
            hr_buf_append(out, replacement, 3) < 0) {
            return HR_ENOMEM;
        }
        size_t skip = 1;
        while (skip < k && i + skip < n && ((unsigned char)p[i + skip] & 0xC0) == 0x80) {
            skip++;
        }
        i += skip;
        start = i;
    }
    return hr_buf_append(out, p + start, n - start);
}
