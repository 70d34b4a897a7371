/* SPDX-License-Identifier: MIT */
/* redact.c -- one request's redactor: findings replaced by numbered
 * placeholders, the same value always by the same one, and the originals put
 * back into the upstream's answer, whole or streamed in pieces.
 *
 * Values live in one arena; a hash table maps (class, value) to its entry and
 * a per-class list maps a placeholder's number back to it. The redactor and
 * its restorers belong to the request's thread; they never log a value. */
#include "privacy/privacy_int.h"

#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

typedef struct entry {
    size_t off, len; /* the value in vals */
    uint32_t hash, num;
    int cls;
} entry;

typedef struct numbering {
    uint32_t *v; /* entry indices; number n is v[n - 1] */
    size_t n, cap;
} numbering;

struct hr_pii_redactor {
    const hr_pii *d;
    uint64_t mask;
    hr__pii_scan scan;
    hr_pii_findings found;
    hr_buf vals;
    entry *e;
    size_t n_e, cap_e;
    uint32_t *slot; /* open addressing: entry index + 1, 0 = empty */
    size_t n_slot;  /* a power of two */
    numbering num[HR_PII_MAX_CLASSES];
    hr_pii_counts counts;
};

int hr_pii_redactor_new(hr_pii_redactor **out, const hr_pii *d, uint64_t redact_mask)
{
    *out = NULL;
    hr_pii_redactor *r = hr_calloc(1, sizeof *r);
    if (!r) {
        return HR_ENOMEM;
    }
    r->d = d;
    r->mask = redact_mask;
    int rc = hr__pii_scan_init(&r->scan, d);
    if (rc < 0) {
        hr_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void hr_pii_redactor_free(hr_pii_redactor *r)
{
    if (!r) {
        return;
    }
    hr__pii_scan_deinit(&r->scan);
    hr_pii_findings_deinit(&r->found);
    hr_buf_deinit(&r->vals);
    hr_free(r->e);
    hr_free(r->slot);
    for (size_t c = 0; c < HR_PII_MAX_CLASSES; c++) {
        hr_free(r->num[c].v);
    }
    hr_free(r);
}

const hr_pii_counts *hr_pii_redactor_counts(const hr_pii_redactor *r)
{
    return &r->counts;
}

hr__pii_scan *hr__pii_redactor_scan(hr_pii_redactor *r)
{
    return &r->scan;
}

bool hr__pii_redactor_wants(const hr_pii_redactor *r, int cls)
{
    return (r->mask & HR_PII_BIT(cls)) != 0;
}

void hr__pii_redactor_count(hr_pii_redactor *r, int cls)
{
    r->counts.n[cls]++;
}

/* ---- value table -------------------------------------------------------------- */

static uint32_t hash_of(int cls, const char *v, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)cls;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)v[i]) * 16777619u;
    }
    return h;
}

static int grow_slots(hr_pii_redactor *r)
{
    size_t n = r->n_slot ? r->n_slot * 2 : 64;
    uint32_t *slot = hr_calloc(n, sizeof *slot);
    if (!slot) {
        return HR_ENOMEM;
    }
    for (size_t i = 0; i < r->n_e; i++) {
        size_t k = r->e[i].hash & (n - 1);
        while (slot[k]) {
            k = (k + 1) & (n - 1);
        }
        slot[k] = (uint32_t)i + 1;
    }
    hr_free(r->slot);
    r->slot = slot;
    r->n_slot = n;
    return 0;
}

static int push_u32(numbering *nb, uint32_t x)
{
    uint32_t *v = hr_grow(nb->v, &nb->cap, nb->n + 1, sizeof *v, 8);
    if (!v) {
        return HR_ENOMEM;
    }
    nb->v = v;
    nb->v[nb->n++] = x;
    return 0;
}

/* Make room for one more entry everywhere first (the value is appended to
 * vals last), so a failure leaves the table as it was. */
static int reserve_entry(hr_pii_redactor *r, int cls, const char *v, size_t n)
{
    if ((r->n_e + 1) * 2 > r->n_slot && grow_slots(r) < 0) {
        return HR_ENOMEM;
    }
    entry *e = hr_grow(r->e, &r->cap_e, r->n_e + 1, sizeof *e, 16);
    if (!e) {
        return HR_ENOMEM;
    }
    r->e = e;
    numbering *nb = &r->num[cls];
    if (push_u32(nb, 0) < 0) {
        return HR_ENOMEM;
    }
    nb->n--;
    return hr_buf_append(&r->vals, v, n);
}

int hr__pii_redactor_intern(hr_pii_redactor *r, int cls, const char *v, size_t n, uint32_t *num)
{
    uint32_t h = hash_of(cls, v, n);
    size_t mask = r->n_slot - 1;
    for (size_t k = h & mask; r->n_slot && r->slot[k]; k = (k + 1) & mask) {
        const entry *e = &r->e[r->slot[k] - 1];
        if (e->hash == h && e->cls == cls && e->len == n && memcmp(r->vals.p + e->off, v, n) == 0) {
            *num = e->num;
            return 0;
        }
    }
    size_t off = r->vals.len;
    if (reserve_entry(r, cls, v, n) < 0) {
        return HR_ENOMEM;
    }
    uint32_t idx = (uint32_t)r->n_e;
    numbering *nb = &r->num[cls];
    nb->v[nb->n++] = idx;
    *num = (uint32_t)nb->n;
    r->e[r->n_e++] = (entry){off, n, h, *num, cls};
    mask = r->n_slot - 1;
    size_t k = h & mask;
    while (r->slot[k]) {
        k = (k + 1) & mask;
    }
    r->slot[k] = idx + 1;
    return 0;
}

/* ---- redacting ---------------------------------------------------------------- */

int hr_pii_redact(hr_pii_redactor *r, const char *text, size_t len, hr_buf *out,
                  hr_pii_findings *found)
{
    r->found.n = 0;
    int rc = hr__pii_scan_run(&r->scan, text, len, &r->found);
    size_t pos = 0;
    for (size_t i = 0; rc == 0 && i < r->found.n; i++) {
        hr_pii_finding *f = &r->found.v[i];
        if (!hr__pii_redactor_wants(r, f->cls)) {
            continue;
        }
        rc = hr__pii_redactor_intern(r, f->cls, text + f->start, f->end - f->start, &f->num);
        char ph[HR__PII_PH_MAX + 1];
        int n = rc == 0 ? hr_pii_placeholder(r->d, f->cls, f->num, ph, sizeof ph) : rc;
        rc = n < 0 ? n : hr_buf_append(out, text + pos, f->start - pos);
        rc = rc < 0 ? rc : hr_buf_append(out, ph, (size_t)n);
        pos = f->end;
    }
    if (rc == 0 && len > pos) {
        rc = hr_buf_append(out, text + pos, len - pos);
    }
    for (size_t i = 0; rc == 0 && found && i < r->found.n; i++) {
        const hr_pii_finding *f = &r->found.v[i];
        rc = hr__pii_findings_push(found, f->start, f->end, f->cls, f->num);
    }
    for (size_t i = 0; rc == 0 && i < r->found.n; i++) {
        r->counts.n[r->found.v[i].cls]++;
    }
    return rc;
}

/* ---- restoring ---------------------------------------------------------------- */

static bool ph_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || hr__pii_digit(c) || c == '_';
}

/* The class whose upper-case name is p[0..n), or -1. */
static int class_named(const hr_pii *d, const char *p, size_t n)
{
    for (size_t c = 0; c < d->n_classes; c++) {
        if (d->name_len[c] == n && memcmp(d->upper[c], p, n) == 0) {
            return (int)c;
        }
    }
    return -1;
}

/* Could p[0..n) (starting '<', no '>' yet) still become a placeholder this
 * redactor issued? */
static bool may_grow(const hr_pii_redactor *r, const char *p, size_t n)
{
    const hr_pii *d = r->d;
    for (size_t c = 0; c < d->n_classes; c++) {
        size_t L = d->name_len[c], k = n - 1;
        if (r->num[c].n == 0 || memcmp(d->upper[c], p + 1, k < L ? k : L) != 0) {
            continue;
        }
        if (k <= L || (k == L + 1 && p[L + 1] == '_')) {
            return true;
        }
        uint64_t v = 0;
        bool ok = p[L + 1] == '_' && p[L + 2] != '0';
        for (size_t i = L + 2; ok && i < n; i++) {
            ok = hr__pii_digit((unsigned char)p[i]);
            v = v * 10 + (uint64_t)(p[i] - '0');
            ok = ok && v <= r->num[c].n;
        }
        if (ok) {
            return true;
        }
    }
    return false;
}

/* p[0] is '<'. Returns 1 with the entry and the placeholder's length, 0 when
 * this is no issued placeholder, -1 when it may become one with more text. */
static int placeholder_at(const hr_pii_redactor *r, const char *p, size_t n, const entry **e,
                          size_t *used)
{
    size_t i = 1;
    while (i < n && i < HR__PII_PH_MAX && ph_char((unsigned char)p[i])) {
        i++;
    }
    if (i == n) {
        return i < HR__PII_PH_MAX && may_grow(r, p, n) ? -1 : 0;
    }
    if (p[i] != '>') {
        return 0;
    }
    size_t u = i - 1;
    while (u > 1 && p[u] != '_') {
        u--;
    }
    if (u <= 1 || u + 1 == i || p[u + 1] == '0') {
        return 0;
    }
    int cls = class_named(r->d, p + 1, u - 1);
    uint64_t num = 0;
    for (size_t k = u + 1; k < i && num <= UINT32_MAX; k++) {
        num = hr__pii_digit((unsigned char)p[k]) ? num * 10 + (uint64_t)(p[k] - '0') : UINT64_MAX;
    }
    if (cls < 0 || num == 0 || num > r->num[cls].n) {
        return 0;
    }
    *e = &r->e[r->num[cls].v[num - 1]];
    *used = i + 1;
    return 1;
}

/* Append v[0..n) escaped for the inside of a JSON string. */
static int append_escaped(hr_buf *out, const char *v, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        static const char from_c[] = "\"\\\b\f\n\r\t", to_c[] = "\"\\bfnrt";
        const char *k = memchr(from_c, c, sizeof from_c - 1);
        int rc = hr_buf_append(out, v + from, i - from);
        rc = rc < 0 ? rc
             : k   ? hr_buf_printf(out, "\\%c", to_c[k - from_c])
                   : hr_buf_printf(out, "\\u%04x", c);
        if (rc < 0) {
            return rc;
        }
        from = i + 1;
    }
    return hr_buf_append(out, v + from, n - from);
}

/* Restore p[0..n) into out; unless final, stop before a tail that may still
 * become a placeholder and say where in *done. */
static int restore_run(const hr_pii_redactor *r, const char *p, size_t n, bool final, bool json,
                       hr_buf *out, size_t *done)
{
    size_t i = 0, emit = 0;
    *done = n;
    while (i < n) {
        const char *lt = memchr(p + i, '<', n - i);
        if (!lt) {
            break;
        }
        size_t k = (size_t)(lt - p), used = 0;
        const entry *e = NULL;
        int m = placeholder_at(r, p + k, n - k, &e, &used);
        if (m < 0 && !final) {
            *done = k;
            return hr_buf_append(out, p + emit, k - emit);
        }
        if (m == 1) {
            const char *v = r->vals.p + e->off;
            int rc = hr_buf_append(out, p + emit, k - emit);
            if (rc == 0) {
                rc = json ? append_escaped(out, v, e->len) : hr_buf_append(out, v, e->len);
            }
            if (rc < 0) {
                return rc;
            }
            emit = k + used;
        }
        i = m == 1 ? k + used : k + 1;
    }
    return hr_buf_append(out, p + emit, n - emit);
}

int hr_pii_restore(const hr_pii_redactor *r, const char *text, size_t len, hr_buf *out)
{
    size_t done;
    return restore_run(r, text ? text : "", text ? len : 0, true, false, out, &done);
}

int hr_pii_restore_json_text(const hr_pii_redactor *r, const char *text, size_t len,
                             hr_buf *out)
{
    size_t done;
    return restore_run(r, text ? text : "", text ? len : 0, true, true, out, &done);
}

struct hr_pii_restorer {
    const hr_pii_redactor *r;
    hr_buf hold;
    bool json;
};

int hr_pii_restorer_new(hr_pii_restorer **out, const hr_pii_redactor *r)
{
    *out = hr_calloc(1, sizeof **out);
    if (!*out) {
        return HR_ENOMEM;
    }
    (*out)->r = r;
    return 0;
}

void hr_pii_restorer_set_json_text(hr_pii_restorer *s, bool json_text)
{
    s->json = json_text;
}

void hr_pii_restorer_free(hr_pii_restorer *s)
{
    if (s) {
        hr_buf_deinit(&s->hold);
        hr_free(s);
    }
}

int hr_pii_restorer_feed(hr_pii_restorer *s, const char *p, size_t n, hr_buf *out)
{
    size_t done;
    if (s->hold.len == 0) {
        int rc = restore_run(s->r, p, n, false, s->json, out, &done);
        return rc < 0 ? rc : hr_buf_append(&s->hold, p + done, n - done);
    }
    if (hr_buf_append(&s->hold, p, n) < 0) {
        return HR_ENOMEM;
    }
    int rc = restore_run(s->r, s->hold.p, s->hold.len, false, s->json, out, &done);
    if (rc == 0) {
        hr_buf_consume(&s->hold, done);
    }
    return rc;
}

int hr_pii_restorer_flush(hr_pii_restorer *s, hr_buf *out)
{
    size_t done;
    int rc = restore_run(s->r, s->hold.p ? s->hold.p : "", s->hold.len, true, s->json, out, &done);
    hr_buf_reset(&s->hold);
    return rc;
}
