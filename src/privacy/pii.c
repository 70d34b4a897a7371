/* SPDX-License-Identifier: MIT */
/* pii.c -- building the detector: the built-in alternatives joined into one
 * PCRE2 pattern (a callout after each reports which class matched), the
 * configured patterns, the deny-list trie, and the class names. Runs at
 * start-up; the result is read-only and shared by every thread.
 *
 * The built-in pattern is compiled for bytes, not UTF-8: every built-in
 * class is ASCII, bytes >= 0x80 can never be part of one, and a request
 * with broken UTF-8 scans like any other. Configured patterns are compiled
 * with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, so "." and \p{L} mean characters
 * while invalid sequences simply never match. PCRE2 allocates through
 * hr_malloc, so fault injection reaches it too. */
#include "privacy/privacy_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

#define PCRE2_ERR_NOMEM 121 /* pcre2_compile's "failed to allocate heap memory" */

static const char *const BUILTIN[HR_PII_N_BUILTIN] = {
    "email", "phone", "card", "iban", "ssn", "ipv4", "ipv6", "dob", "secret", "image",
};

static void *pcre_alloc(PCRE2_SIZE n, void *data)
{
    return hr_malloc(n);
}

static void pcre_free(void *p, void *data)
{
    hr_free(p);
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HR_PII_MAX_NAME || !hr__pii_alpha((unsigned char)name[0])) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!hr__pii_alpha(c) && !hr__pii_digit(c) && c != '_') {
            return false;
        }
    }
    return true;
}

static void set_name(hr_pii *d, int cls, const char *name)
{
    size_t n = strlen(name);
    memcpy(d->name[cls], name, n + 1);
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        d->upper[cls][i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    d->name_len[cls] = (uint8_t)n;
}

/* The class called name, added when new. */
static int class_of(hr_pii *d, const char *what, const char *name, int *cls, char *err,
                    size_t errlen)
{
    if (!name || !name_ok(name)) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy %s '%s': a class name is a letter, then "
                       "letters, digits or '_' (at most %d)", what, name ? name : "",
                       HR_PII_MAX_NAME);
    }
    *cls = hr_pii_class_find(d, name);
    if (*cls >= 0) {
        return 0;
    }
    if (d->n_classes == HR_PII_MAX_CLASSES) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy %s '%s': more than %d classes", what,
                       name, HR_PII_MAX_CLASSES);
    }
    *cls = (int)d->n_classes++;
    set_name(d, *cls, name);
    return 0;
}

static int compile(hr_pii *d, const char *pat, uint32_t opts, pcre2_code **out, const char *name,
                   char *err, size_t errlen)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(d->gctx);
    if (!cc) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    int code = 0;
    PCRE2_SIZE off = 0;
    *out = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &code, &off, cc);
    pcre2_compile_context_free(cc);
    if (!*out) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        int rc = code == PCRE2_ERR_NOMEM ? HR_ENOMEM : HR_EINVAL;
        return hr_errf(err, errlen, rc, "privacy pattern '%s': bad regex at offset %zu: %s", name,
                       (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* without it the interpreter runs */
    return 0;
}

/* No built-in class starts inside a word, so one look-behind in front of the
 * alternation turns most positions of ordinary prose away at once. */
static int build_builtin(hr_pii *d, char *err, size_t errlen)
{
    hr_buf b = {0};
    int rc = 0;
    uint32_t group = 1;
    rc = hr_buf_append_str(&b, "(?<![A-Za-z0-9_])(?:");
    for (size_t k = 0; k < hr__pii_n_alts && rc == 0; k++) {
        d->group0[k] = (uint16_t)group;
        group += (uint32_t)hr__pii_alts[k].ncap;
        rc = hr_buf_printf(&b, "%s(?:%s)(?C%zu)", k ? "|" : "", hr__pii_alts[k].re, k + 1);
    }
    rc = rc < 0 ? rc : hr_buf_append_str(&b, ")");
    if (rc < 0) {
        hr_buf_deinit(&b);
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    rc = compile(d, b.p, 0, &d->builtin, "built-in", err, errlen);
    hr_buf_deinit(&b);
    uint32_t ncap = 0;
    if (rc == 0) {
        pcre2_pattern_info(d->builtin, PCRE2_INFO_CAPTURECOUNT, &ncap);
    }
    if (rc == 0 && ncap + 1 != group) {
        rc = hr_errf(err, errlen, HR_EINVAL, "privacy: built-in capture groups do not add up");
    }
    return rc;
}

static int add_pattern(hr_pii *d, const hr_pii_pattern *p, char *err, size_t errlen)
{
    int cls;
    int rc = class_of(d, "pattern", p->name, &cls, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (!p->regex || !*p->regex) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy pattern '%s': empty regex", p->name);
    }
    hr__pii_user *u = hr_realloc(d->user, (d->n_user + 1) * sizeof *u);
    if (!u) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    d->user = u;
    u[d->n_user].cls = cls;
    rc = compile(d, p->regex, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &u[d->n_user].re, p->name,
                 err, errlen);
    if (rc == 0) {
        d->n_user++;
    }
    return rc;
}

static int add_deny(hr_pii *d, const hr_pii_deny *l, char *err, size_t errlen)
{
    int cls;
    int rc = class_of(d, "deny list", l->name, &cls, err, errlen);
    for (size_t i = 0; rc == 0 && i < l->n_words; i++) {
        rc = l->words[i] ? hr__pii_trie_add(&d->trie, l->words[i], cls) : HR_EINVAL;
        if (rc == HR_EINVAL) {
            return hr_errf(err, errlen, rc, "privacy deny list '%s': word %zu is empty", l->name,
                           i + 1);
        }
        if (rc < 0) {
            return hr_errf(err, errlen, rc, "out of memory");
        }
    }
    return rc;
}

int hr_pii_new(hr_pii **out, const hr_pii_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    hr_pii *d = hr_calloc(1, sizeof *d);
    if (!d) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    for (int c = 0; c < HR_PII_N_BUILTIN; c++) {
        set_name(d, c, BUILTIN[c]);
    }
    d->n_classes = HR_PII_N_BUILTIN;
    d->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    int rc = d->gctx ? build_builtin(d, err, errlen)
                     : hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && cfg && i < cfg->n_patterns; i++) {
        rc = add_pattern(d, &cfg->patterns[i], err, errlen);
    }
    for (size_t i = 0; rc == 0 && cfg && i < cfg->n_deny; i++) {
        rc = add_deny(d, &cfg->deny[i], err, errlen);
    }
    if (rc < 0) {
        hr_pii_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void hr_pii_free(hr_pii *d)
{
    if (!d) {
        return;
    }
    pcre2_code_free(d->builtin);
    for (size_t i = 0; i < d->n_user; i++) {
        pcre2_code_free(d->user[i].re);
    }
    hr_free(d->user);
    hr__pii_trie_free(d->trie);
    pcre2_general_context_free(d->gctx);
    hr_free(d);
}

size_t hr_pii_n_classes(const hr_pii *d)
{
    return d ? d->n_classes : HR_PII_N_BUILTIN;
}

const char *hr_pii_class_name(const hr_pii *d, int cls)
{
    if (cls < 0 || (size_t)cls >= hr_pii_n_classes(d)) {
        return NULL;
    }
    return d ? d->name[cls] : BUILTIN[cls];
}

int hr_pii_class_find(const hr_pii *d, const char *name)
{
    size_t n = hr_pii_n_classes(d);
    for (size_t c = 0; name && c < n; c++) {
        if (strcasecmp(name, hr_pii_class_name(d, (int)c)) == 0) {
            return (int)c;
        }
    }
    return -1;
}

int hr_pii_placeholder(const hr_pii *d, int cls, uint32_t num, char *buf, size_t buflen)
{
    const char *name = hr_pii_class_name(d, cls);
    if (!name || num == 0) {
        return HR_EINVAL;
    }
    char up[HR_PII_MAX_NAME + 1];
    size_t i = 0;
    for (; name[i]; i++) {
        up[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
    }
    up[i] = '\0';
    int n = snprintf(buf, buflen, "<%s_%u>", up, (unsigned)num);
    return n < 0 || (size_t)n >= buflen ? HR_ETOOBIG : n;
}

void hr_pii_findings_deinit(hr_pii_findings *f)
{
    hr_free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

uint32_t hr_pii_counts_total(const hr_pii_counts *c)
{
    uint32_t t = 0;
    for (size_t i = 0; i < HR_PII_MAX_CLASSES; i++) {
        t += c->n[i];
    }
    return t;
}
