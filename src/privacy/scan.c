/* SPDX-License-Identifier: MIT */
/* scan.c -- one pass over a text: the combined built-in pattern, each
 * configured pattern, the deny-list trie, then the overlaps resolved.
 *
 * The built-in pattern is run once over the whole text with a callout after
 * each alternative. The callout validates the candidate, records it and
 * answers "fail", so PCRE2 goes on to the other alternatives and lengths at
 * that position and then to the next position: every validated candidate is
 * seen in one left-to-right pass, and a shape that fails its validator
 * (a non-Luhn number) still lets a shorter or different reading succeed.
 * Match limits are a backstop; the patterns themselves are bounded. Runs on
 * the caller's thread with the caller's hr__pii_scan. */
#include "privacy/privacy_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

int hr__pii_cand_add(hr__pii_scan *s, size_t start, size_t end, int cls)
{
    if (s->n > 0) {
        const hr__pii_cand *last = &s->v[s->n - 1];
        if (last->start == start && last->end == end && last->cls == cls) {
            return 0;
        }
    }
    hr__pii_cand *v = hr_grow(s->v, &s->cap, s->n + 1, sizeof *v, 32);
    if (!v) {
        return HR_ENOMEM;
    }
    s->v = v;
    s->v[s->n++] = (hr__pii_cand){start, end, cls};
    return 0;
}

static int on_callout(pcre2_callout_block *cb, void *data)
{
    hr__pii_scan *s = data;
    uint32_t k = cb->callout_number;
    if (k == 0 || k > hr__pii_n_alts) {
        return 1;
    }
    const hr__pii_alt *a = &hr__pii_alts[k - 1];
    size_t st = cb->start_match, en = cb->current_position;
    uint32_t g = s->d->group0[k - 1];
    for (int i = 0; i < a->ncap; i++, g++) {
        if (g < cb->capture_top && cb->offset_vector[2 * g] != PCRE2_UNSET) {
            st = cb->offset_vector[2 * g];
            en = cb->offset_vector[2 * g + 1];
            break;
        }
    }
    if (en <= st || (a->ok && !a->ok(s->text, s->len, &st, &en))) {
        return 1;
    }
    if (hr__pii_cand_add(s, st, en, a->cls) < 0) {
        s->err = HR_ENOMEM;
        return PCRE2_ERROR_CALLOUT;
    }
    return 1;
}

int hr__pii_scan_init(hr__pii_scan *s, const hr_pii *d)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->md = pcre2_match_data_create_from_pattern(d->builtin, d->gctx);
    s->umd = pcre2_match_data_create(1, d->gctx);
    s->mc = pcre2_match_context_create(d->gctx);
    s->umc = pcre2_match_context_create(d->gctx);
    if (!s->md || !s->umd || !s->mc || !s->umc) {
        hr__pii_scan_deinit(s);
        return HR_ENOMEM;
    }
    pcre2_set_callout(s->mc, on_callout, s);
    pcre2_match_context *both[] = {s->mc, s->umc};
    for (int i = 0; i < 2; i++) {
        pcre2_set_match_limit(both[i], MATCH_LIMIT);
        pcre2_set_depth_limit(both[i], DEPTH_LIMIT);
    }
    return 0;
}

void hr__pii_scan_deinit(hr__pii_scan *s)
{
    pcre2_match_data_free(s->md);
    pcre2_match_data_free(s->umd);
    pcre2_match_context_free(s->mc);
    pcre2_match_context_free(s->umc);
    hr_free(s->v);
    memset(s, 0, sizeof *s);
}

static int pcre_err(int rc)
{
    switch (rc) {
    case PCRE2_ERROR_NOMEMORY:
        return HR_ENOMEM;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return HR_ETOOBIG;
    default:
        return HR_EINVAL;
    }
}

/* Every match of one configured pattern, left to right, not overlapping. */
static int run_user(hr__pii_scan *s, const hr__pii_user *u)
{
    size_t off = 0;
    while (off <= s->len) {
        int rc = pcre2_match(u->re, (PCRE2_SPTR)s->text, s->len, off, 0, s->umd, s->umc);
        if (rc == PCRE2_ERROR_NOMATCH) {
            return 0;
        }
        if (rc < 0) {
            return pcre_err(rc);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->umd);
        if (ov[1] > ov[0]) {
            rc = hr__pii_cand_add(s, ov[0], ov[1], u->cls);
            if (rc < 0) {
                return rc;
            }
            off = ov[1];
            continue;
        }
        off = (ov[1] > off ? ov[1] : off) + 1;
        while (off < s->len && ((unsigned char)s->text[off] & 0xC0) == 0x80) {
            off++;
        }
    }
    return 0;
}

/* Which of two candidates of the same span wins: configured classes, then
 * the more specific built-in. */
static int rank(int cls)
{
    static const int r[HR_PII_N_BUILTIN] = {
        [HR_PII_CARD] = 9, [HR_PII_IBAN] = 8,  [HR_PII_SSN] = 7,  [HR_PII_SECRET] = 6,
        [HR_PII_EMAIL] = 5, [HR_PII_IPV6] = 4, [HR_PII_IPV4] = 3, [HR_PII_DOB] = 2,
        [HR_PII_PHONE] = 1,
    };
    return cls >= HR_PII_N_BUILTIN ? 100 + cls : r[cls];
}

static int cand_cmp(const void *pa, const void *pb)
{
    const hr__pii_cand *a = pa, *b = pb;
    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    size_t la = a->end - a->start, lb = b->end - b->start;
    if (la != lb) {
        return la > lb ? -1 : 1;
    }
    return rank(b->cls) - rank(a->cls);
}

/* Sort and drop overlaps in place: of two that overlap, the longer stays,
 * else the earlier. */
static void resolve(hr__pii_scan *s)
{
    if (s->n < 2) {
        return;
    }
    qsort(s->v, s->n, sizeof s->v[0], cand_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++) {
        hr__pii_cand *last = &s->v[k - 1];
        const hr__pii_cand *c = &s->v[i];
        if (c->start >= last->end) {
            s->v[k++] = *c;
        } else if (c->end - c->start > last->end - last->start) {
            *last = *c;
        }
    }
    s->n = k;
}

int hr__pii_findings_push(hr_pii_findings *f, size_t start, size_t end, int cls, uint32_t num)
{
    hr_pii_finding *v = hr_grow(f->v, &f->cap, f->n + 1, sizeof *v, 16);
    if (!v) {
        return HR_ENOMEM;
    }
    f->v = v;
    f->v[f->n++] = (hr_pii_finding){start, end, cls, num};
    return 0;
}

static int collect(hr__pii_scan *s)
{
    const hr_pii *d = s->d;
    int rc = pcre2_match(d->builtin, (PCRE2_SPTR)s->text, s->len, 0, 0, s->md, s->mc);
    if (s->err < 0) {
        return s->err;
    }
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        return pcre_err(rc);
    }
    for (size_t i = 0; i < d->n_user; i++) {
        rc = run_user(s, &d->user[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return d->trie ? hr__pii_trie_scan(d->trie, s) : 0;
}

int hr__pii_scan_run(hr__pii_scan *s, const char *text, size_t len, hr_pii_findings *out)
{
    s->n = 0;
    s->err = 0;
    s->text = text ? text : "";
    s->len = text ? len : 0;
    if (s->len == 0) {
        return 0;
    }
    int rc = collect(s);
    if (rc < 0) {
        s->n = 0;
        return rc;
    }
    resolve(s);
    if (!out) {
        return 0;
    }
    if (out->cap - out->n < s->n) {
        hr_pii_finding *v = hr_realloc(out->v, (out->n + s->n) * sizeof *v);
        if (!v) {
            return HR_ENOMEM;
        }
        out->v = v;
        out->cap = out->n + s->n;
    }
    for (size_t i = 0; i < s->n; i++) {
        out->v[out->n++] = (hr_pii_finding){s->v[i].start, s->v[i].end, s->v[i].cls, 0};
    }
    return 0;
}

int hr_pii_scan(const hr_pii *d, const char *text, size_t len, hr_pii_findings *out)
{
    hr__pii_scan s;
    int rc = hr__pii_scan_init(&s, d);
    if (rc == 0) {
        rc = hr__pii_scan_run(&s, text, len, out);
    }
    hr__pii_scan_deinit(&s);
    return rc;
}

int hr_pii_count(const hr_pii *d, const char *text, size_t len, hr_pii_counts *c)
{
    hr__pii_scan s;
    int rc = hr__pii_scan_init(&s, d);
    if (rc == 0) {
        rc = hr__pii_scan_run(&s, text, len, NULL);
    }
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        c->n[s.v[i].cls]++;
    }
    hr__pii_scan_deinit(&s);
    return rc;
}
