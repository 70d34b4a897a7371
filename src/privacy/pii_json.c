/* SPDX-License-Identifier: MIT */
/* pii_json.c -- redacting or counting the text inside an OpenAI request body:
 * message contents and text parts, tool-call arguments, prompt and input;
 * image parts are counted as class "image", their content unseen.
 *
 * Tool-call arguments are JSON text inside a string. Each string literal in
 * them is decoded, scanned as the model will read it, and its findings are
 * mapped back to the escaped bytes they came from, so the arguments stay
 * valid JSON, keep their formatting, and "\nJohn" is seen as a new line and
 * John. A number that is wholly a finding (a card number) becomes a quoted
 * placeholder. Arguments that are not JSON are treated as plain text. Runs on
 * the request's thread. */
#include "privacy/privacy_int.h"

#include <jansson.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

typedef struct jwalk {
    hr_pii_redactor *r;   /* NULL when only counting */
    hr__pii_scan *scan;
    hr_pii_counts *counts;
    hr_buf out, dec;      /* the rewritten string; a decoded literal */
    hr_buf key, ctx;      /* the last object key; "key: value" to scan */
    size_t *map;          /* dec byte -> offset of the escape it came from */
    size_t map_cap;
    hr_pii_findings f;
    bool changed;
} jwalk;

static int count_text(jwalk *w, const char *t, size_t n)
{
    int rc = hr__pii_scan_run(w->scan, t, n, NULL);
    for (size_t i = 0; rc == 0 && i < w->scan->n; i++) {
        w->counts->n[w->scan->v[i].cls]++;
    }
    return rc;
}

static int set_string(json_t *s, const hr_buf *b)
{
    return json_string_setn(s, b->p ? b->p : "", b->len) < 0 ? HR_ENOMEM : 0;
}

static int plain(jwalk *w, json_t *s)
{
    const char *t = json_string_value(s);
    size_t n = json_string_length(s);
    if (!w->r) {
        return count_text(w, t, n);
    }
    hr_buf_reset(&w->out);
    w->f.n = 0;
    int rc = hr_pii_redact(w->r, t, n, &w->out, &w->f);
    bool changed = false;
    for (size_t i = 0; rc == 0 && i < w->f.n; i++) {
        changed |= w->f.v[i].num != 0;
    }
    return rc == 0 && changed ? set_string(s, &w->out) : rc;
}

/* ---- JSON text ---------------------------------------------------------------- */

static int hex4(const char *p, size_t avail)
{
    if (avail < 4) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = hr__pii_digit((unsigned char)c) ? c - '0'
                : (c >= 'a' && c <= 'f')        ? c - 'a' + 10
                : (c >= 'A' && c <= 'F')        ? c - 'A' + 10
                                                : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* Decode a \u escape at t[i] (t[i] == 'u') into UTF-8 in u; returns the
 * raw bytes it used after the backslash, 0 when malformed. */
static size_t unicode_escape(const char *t, size_t n, size_t i, char *u, size_t *un)
{
    int cp = hex4(t + i + 1, n - i - 1);
    size_t used = 5;
    if (cp < 0) {
        return 0;
    }
    if (cp >= 0xD800 && cp < 0xDC00 && n - i >= 11 && t[i + 5] == '\\' && t[i + 6] == 'u') {
        int lo = hex4(t + i + 7, n - i - 7);
        if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 11;
        }
    }
    if (cp >= 0xD800 && cp < 0xE000) {
        cp = 0xFFFD;
    }
    unsigned char *o = (unsigned char *)u;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        *un = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        *un = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        *un = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        *un = 4;
    }
    return used;
}

/* One escape or byte at t[i] into u; returns the raw bytes used, 0 when
 * malformed. */
static size_t decode_one(const char *t, size_t n, size_t i, char *u, size_t *un)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    *un = 1;
    if (t[i] != '\\') {
        u[0] = t[i];
        return 1;
    }
    if (i + 1 >= n) {
        return 0;
    }
    if (t[i + 1] == 'u') {
        size_t used = unicode_escape(t, n, i + 1, u, un);
        return used ? used + 1 : 0;
    }
    const char *k = memchr(from, t[i + 1], sizeof from - 1);
    if (!k) {
        return 0;
    }
    u[0] = to[k - from];
    return 2;
}

/* Whether t looks like a JSON object or array whose string literals are all
 * closed and well escaped. */
static bool lexes(const char *t, size_t n)
{
    size_t lead = strspn(t, " \t\r\n");
    if (lead >= n || (t[lead] != '{' && t[lead] != '[')) {
        return false;
    }
    bool in = false;
    for (size_t i = lead; i < n;) {
        if (!in || t[i] == '"') {
            in = in ? false : t[i] == '"';
            i++;
            continue;
        }
        char u[4];
        size_t un, used = decode_one(t, n, i, u, &un);
        if (!used) {
            return false;
        }
        i += used;
    }
    return !in;
}

/* Decode the literal whose contents start at t[i] (lexes() said it is
 * well formed) into w->dec and w->map; *close is its closing quote. */
static int decode(jwalk *w, const char *t, size_t n, size_t i, size_t *close)
{
    hr_buf_reset(&w->dec);
    while (i < n && t[i] != '"') {
        char u[4];
        size_t un, used = decode_one(t, n, i, u, &un);
        for (size_t k = 0; k < un; k++) {
            w->map[w->dec.len + k] = i;
        }
        if (hr_buf_append(&w->dec, u, un) < 0) {
            return HR_ENOMEM;
        }
        i += used;
    }
    w->map[w->dec.len] = i;
    *close = i;
    return 0;
}

static int put_placeholder(jwalk *w, int cls, const char *v, size_t vn, bool quote)
{
    uint32_t num;
    char ph[HR__PII_PH_MAX + 3];
    int rc = hr__pii_redactor_intern(w->r, cls, v, vn, &num);
    int n = rc < 0 ? rc : hr_pii_placeholder(hr__pii_redactor_scan(w->r)->d, cls, num, ph + 1,
                                             sizeof ph - 2);
    if (n < 0) {
        return n;
    }
    ph[0] = '"';
    ph[n + 1] = '"';
    w->changed = true;
    return hr_buf_append(&w->out, quote ? ph : ph + 1, (size_t)n + (quote ? 2 : 0));
}

/* The findings of the decoded literal, into w->f. A value whose key names a
 * secret ("password", "api_key") is a secret as a whole; any other value is
 * scanned as "key: value", so its key gives the context a label gives in
 * prose ("dob", "phone"), and only findings in the value count. */
static int find_in_literal(jwalk *w, bool keyed)
{
    w->f.n = 0;
    if (!keyed || w->key.len == 0) {
        return hr__pii_scan_run(w->scan, w->dec.p, w->dec.len, &w->f);
    }
    if (hr__pii_secret_key(w->key.p, w->key.len) &&
        hr__pii_secret_value_ok(w->dec.p, w->dec.len)) {
        return hr__pii_findings_push(&w->f, 0, w->dec.len, HR_PII_SECRET, 0);
    }
    size_t skip = w->key.len + 2;
    hr_buf_reset(&w->ctx);
    int rc = hr_buf_append(&w->ctx, w->key.p, w->key.len);
    rc = rc < 0 ? rc : hr_buf_append(&w->ctx, ": ", 2);
    rc = rc < 0 ? rc : hr_buf_append(&w->ctx, w->dec.p ? w->dec.p : "", w->dec.len);
    rc = rc < 0 ? rc : hr__pii_scan_run(w->scan, w->ctx.p, w->ctx.len, &w->f);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < w->f.n; i++) {
        hr_pii_finding f = w->f.v[i];
        if (f.start >= skip) {
            w->f.v[k++] = (hr_pii_finding){f.start - skip, f.end - skip, f.cls, 0};
        }
    }
    w->f.n = rc == 0 ? k : 0;
    return rc;
}

/* Redact (or count) the decoded literal in w->dec, copying t from *pos. */
static int literal(jwalk *w, const char *t, size_t *pos, bool keyed)
{
    int rc = find_in_literal(w, keyed);
    for (size_t i = 0; rc == 0 && !w->r && i < w->f.n; i++) {
        w->counts->n[w->f.v[i].cls]++;
    }
    for (size_t i = 0; rc == 0 && w->r && i < w->f.n; i++) {
        const hr_pii_finding *f = &w->f.v[i];
        hr__pii_redactor_count(w->r, f->cls);
        if (!hr__pii_redactor_wants(w->r, f->cls)) {
            continue;
        }
        size_t ds = f->start, de = f->end;
        while (ds > 0 && w->map[ds] == w->map[ds - 1]) {
            ds--;
        }
        while (de < w->dec.len && w->map[de] == w->map[de - 1]) {
            de++;
        }
        rc = hr_buf_append(&w->out, t + *pos, w->map[ds] - *pos);
        rc = rc < 0 ? rc : put_placeholder(w, f->cls, w->dec.p + ds, de - ds, false);
        *pos = w->map[de];
    }
    return rc;
}

/* The byte before t[i] and the one after t[j], white space skipped. */
static char before(const char *t, size_t i)
{
    while (i > 0 && hr__pii_space((unsigned char)t[i - 1])) {
        i--;
    }
    return i > 0 ? t[i - 1] : '\0';
}

static char after(const char *t, size_t n, size_t j)
{
    while (j < n && hr__pii_space((unsigned char)t[j])) {
        j++;
    }
    return j < n ? t[j] : '\0';
}

/* One string literal starting at t[i]; *j is set past its closing quote. */
static int string_literal(jwalk *w, const char *t, size_t n, size_t i, size_t *j, size_t *pos)
{
    int rc = decode(w, t, n, i + 1, j);
    (*j)++;
    bool is_key = rc == 0 && after(t, n, *j) == ':';
    bool keyed = before(t, i) == ':';
    rc = rc < 0 ? rc : literal(w, t, pos, keyed);
    if (rc == 0 && is_key) {
        hr_buf_reset(&w->key);
        rc = hr_buf_append(&w->key, w->dec.p ? w->dec.p : "", w->dec.len);
    }
    return rc;
}

/* A number token t[i..j) that is wholly a finding. */
static int number(jwalk *w, const char *t, size_t i, size_t j, size_t *pos)
{
    if (!w->r) {
        return count_text(w, t + i, j - i);
    }
    w->f.n = 0;
    int rc = hr__pii_scan_run(w->scan, t + i, j - i, &w->f);
    for (size_t k = 0; rc == 0 && k < w->f.n; k++) {
        const hr_pii_finding *f = &w->f.v[k];
        hr__pii_redactor_count(w->r, f->cls);
        if (f->start == 0 && f->end == j - i && hr__pii_redactor_wants(w->r, f->cls)) {
            rc = hr_buf_append(&w->out, t + *pos, i - *pos);
            rc = rc < 0 ? rc : put_placeholder(w, f->cls, t + i, j - i, true);
            *pos = j;
        }
    }
    return rc;
}

static int json_text(jwalk *w, json_t *s)
{
    const char *t = json_string_value(s);
    size_t n = json_string_length(s), pos = 0, i = 0;
    int rc = 0;
    if (!lexes(t, n)) {
        return plain(w, s);
    }
    if (n + 1 > w->map_cap) {
        size_t *m = hr_realloc(w->map, (n + 1) * sizeof *m);
        if (!m) {
            return HR_ENOMEM;
        }
        w->map = m;
        w->map_cap = n + 1;
    }
    hr_buf_reset(&w->out);
    hr_buf_reset(&w->key);
    w->changed = false;
    while (rc == 0 && i < n) {
        size_t j = i + 1;
        if (t[i] == '"') {
            rc = string_literal(w, t, n, i, &j, &pos);
        } else if (t[i] == '-' || hr__pii_digit((unsigned char)t[i])) {
            j = i + strspn(t + i, "0123456789+-.eE");
            rc = number(w, t, i, j, &pos);
        }
        i = j;
    }
    if (rc == 0 && w->changed) {
        rc = hr_buf_append(&w->out, t + pos, n - pos);
        rc = rc < 0 ? rc : set_string(s, &w->out);
    }
    return rc;
}

/* ---- the request -------------------------------------------------------------- */

static int text_or_strings(jwalk *w, json_t *v)
{
    if (json_is_string(v)) {
        return plain(w, v);
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        int rc = json_is_string(x) ? plain(w, x) : 0;
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static bool is_text_part(json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    return type && (strcmp(type, "text") == 0 || strcmp(type, "input_text") == 0 ||
                    strcmp(type, "output_text") == 0);
}

static bool is_image_part(json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    return type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0 ||
                    strcmp(type, "image") == 0);
}

static int arguments(jwalk *w, json_t *fn)
{
    json_t *a = json_object_get(fn, "arguments");
    return json_is_string(a) ? json_text(w, a) : 0;
}

static int message(jwalk *w, json_t *m)
{
    json_t *c = json_object_get(m, "content");
    int rc = json_is_string(c) ? plain(w, c) : 0;
    size_t i;
    json_t *x;
    json_array_foreach(c, i, x) {
        json_t *text = json_object_get(x, "text");
        if (rc == 0 && is_text_part(x) && json_is_string(text)) {
            rc = plain(w, text);
        } else if (is_image_part(x) && w->counts) {
            w->counts->n[HR_PII_IMAGE]++; /* what it shows is not known here */
        }
    }
    json_array_foreach(json_object_get(m, "tool_calls"), i, x) {
        rc = rc < 0 ? rc : arguments(w, json_object_get(x, "function"));
    }
    return rc < 0 ? rc : arguments(w, json_object_get(m, "function_call"));
}

static int walk(jwalk *w, json_t *req)
{
    if (!json_is_object(req)) {
        return HR_EINVAL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(req, "messages"), i, m) {
        int rc = message(w, m);
        if (rc < 0) {
            return rc;
        }
    }
    int rc = text_or_strings(w, json_object_get(req, "prompt"));
    return rc < 0 ? rc : text_or_strings(w, json_object_get(req, "input"));
}

static void jwalk_deinit(jwalk *w)
{
    hr_buf_deinit(&w->out);
    hr_buf_deinit(&w->dec);
    hr_buf_deinit(&w->key);
    hr_buf_deinit(&w->ctx);
    hr_free(w->map);
    hr_pii_findings_deinit(&w->f);
}

int hr_pii_redact_json(hr_pii_redactor *r, json_t *req)
{
    jwalk w = {.r = r, .scan = hr__pii_redactor_scan(r)};
    int rc = walk(&w, req);
    jwalk_deinit(&w);
    return rc;
}

int hr_pii_scan_json(const hr_pii *d, const json_t *req, hr_pii_counts *c)
{
    hr__pii_scan scan;
    int rc = hr__pii_scan_init(&scan, d);
    if (rc < 0) {
        return rc;
    }
    jwalk w = {.scan = &scan, .counts = c};
    rc = walk(&w, (json_t *)req);
    jwalk_deinit(&w);
    hr__pii_scan_deinit(&scan);
    return rc;
}
