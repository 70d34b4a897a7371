/* SPDX-License-Identifier: MIT */
/* textout.c -- stop strings and UTF-8 safety for streamed text.
 *
 * Tokens do not respect character or stop-string boundaries: a stop string
 * can span tokens and a token can end halfway through a character. Every
 * piece goes through here before a client sees it; see engine_int.h.
 * Pure: no I/O, no llama.cpp; runs on whichever thread generates. */
#define _GNU_SOURCE /* memmem */
#include "engine/engine_int.h"

#include <string.h>

#include "util/err.h"
#include "util/str.h"

void hr__textout_init(hr_textout *t, const char *const *stop, size_t n_stop)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n_stop && t->n_stop < HR_GEN_MAX_STOP; i++) {
        if (stop[i] && stop[i][0]) {
            t->stop[t->n_stop] = stop[i];
            t->stop_len[t->n_stop] = strlen(stop[i]);
            t->n_stop++;
        }
    }
}

void hr__textout_deinit(hr_textout *t)
{
    hr_buf_deinit(&t->pending);
}

/* How many trailing bytes of p[0..n) could be the start of some stop string. */
static size_t stop_prefix_hold(const hr_textout *t, const char *p, size_t n)
{
    size_t hold = 0;
    for (size_t s = 0; s < t->n_stop; s++) {
        size_t max = t->stop_len[s] - 1 < n ? t->stop_len[s] - 1 : n;
        for (size_t k = max; k > hold; k--) {
            if (memcmp(p + n - k, t->stop[s], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

int hr__textout_push(hr_textout *t, const char *piece, size_t n, hr_buf *out)
{
    if (t->stopped) {
        return 1;
    }
    if (hr_buf_append(&t->pending, piece, n) < 0) {
        return HR_ENOMEM;
    }
    const char *p = t->pending.p;
    size_t len = t->pending.len;

    /* The earliest stop string wins, whichever of them it is. */
    size_t cut = len;
    for (size_t s = 0; s < t->n_stop; s++) {
        const char *hit = memmem(p, len, t->stop[s], t->stop_len[s]);
        if (hit && (size_t)(hit - p) < cut) {
            cut = (size_t)(hit - p);
        }
    }
    if (cut < len) {
        t->stopped = true;
        int rc = hr_utf8_append_sanitized(out, p, cut);
        hr_buf_reset(&t->pending);
        return rc < 0 ? rc : 1;
    }

    size_t emit = len - stop_prefix_hold(t, p, len);
    emit = hr_utf8_complete_len(p, emit);
    if (emit == 0) {
        return 0;
    }
    int rc = hr_utf8_append_sanitized(out, p, emit);
    hr_buf_consume(&t->pending, emit);
    return rc;
}

int hr__textout_flush(hr_textout *t, hr_buf *out)
{
    int rc = 0;
    if (!t->stopped && t->pending.len) {
        rc = hr_utf8_append_sanitized(out, t->pending.p, t->pending.len);
    }
    hr_buf_reset(&t->pending);
    return rc;
}
