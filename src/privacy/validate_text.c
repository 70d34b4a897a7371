/* SPDX-License-Identifier: MIT */
/* validate_text.c -- the checks for the word-like classes: e-mail address
 * syntax, calendar dates of birth, and whether a value after "password=" or
 * "Bearer" looks like a real secret rather than a placeholder or a word.
 * Pure functions of the text, safe on any thread. */
#include "privacy/privacy_int.h"

#include <string.h>

/* ---- e-mail ------------------------------------------------------------------- */

/* Asset names like icon@2x.png have an address's shape. */
static const char *const FILE_EXT[] = {
    "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "css", "js",
    "html", "htm", "json", "xml", "yml", "yaml", "txt", "pdf", "gz", "mp3", "mp4", "mov",
    "wav", "avif", "heic", NULL};

bool hr__pii_v_email(const char *t, size_t len, size_t *s, size_t *e)
{
    const char *p = t + *s;
    size_t n = *e - *s;
    const char *at = memchr(p, '@', n);
    if (!at) {
        return false;
    }
    size_t ln = (size_t)(at - p);
    if (ln == 0 || p[0] == '.' || p[ln - 1] == '.') {
        return false;
    }
    for (size_t i = 1; i < ln; i++) {
        if (p[i] == '.' && p[i - 1] == '.') {
            return false;
        }
    }
    const char *d = at + 1;
    size_t dn = n - ln - 1, start = 0, last = 0;
    for (size_t i = 0; i <= dn; i++) {
        if (i < dn && d[i] != '.') {
            continue;
        }
        if (i == start || i - start > 63 || d[start] == '-' || d[i - 1] == '-') {
            return false;
        }
        last = start;
        start = i + 1;
    }
    return !hr__pii_word_in(d + last, dn - last, FILE_EXT);
}

/* ---- dates of birth ----------------------------------------------------------- */

static bool valid_date(int y, int m, int d, bool two_digit_year)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!two_digit_year && (y < 1900 || y > 2099)) {
        return false;
    }
    if (m < 1 || m > 12 || d < 1 || d > days[m - 1]) {
        return false;
    }
    if (m == 2 && d == 29 && !two_digit_year) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    }
    return true;
}

/* A number at p[*i], its digit count in *nd. */
static int number_at(const char *p, size_t n, size_t *i, size_t *nd)
{
    int v = 0;
    size_t k = *i;
    while (k < n && hr__pii_digit((unsigned char)p[k]) && k - *i < 4) {
        v = v * 10 + (p[k] - '0');
        k++;
    }
    *nd = k - *i;
    *i = k;
    return v;
}

/* The month a word at p[*i] names (1-12), 0 when none; moves past it. */
static int month_at(const char *p, size_t n, size_t *i)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    size_t k = *i;
    while (k < n && hr__pii_alpha((unsigned char)p[k])) {
        k++;
    }
    if (k - *i < 3) {
        return 0;
    }
    char w[3];
    for (int j = 0; j < 3; j++) {
        w[j] = (char)hr__pii_lower((unsigned char)p[*i + (size_t)j]);
    }
    *i = k;
    for (int m = 0; m < 12; m++) {
        if (memcmp(names + 3 * m, w, 3) == 0) {
            return m + 1;
        }
    }
    return 0;
}

/* Skip what may sit between a date's parts: spaces, "of", ",", ".",
 * and the ordinal suffixes st/nd/rd/th. */
static void skip_filler(const char *p, size_t n, size_t *i)
{
    for (;;) {
        size_t k = *i;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == ',' || p[k] == '.')) {
            k++;
        }
        size_t w = k;
        while (w < n && hr__pii_alpha((unsigned char)p[w])) {
            w++;
        }
        static const char *const filler[] = {"of", "st", "nd", "rd", "th", NULL};
        if (w - k == 2 && hr__pii_word_in(p + k, 2, filler)) {
            k = w;
        }
        if (k == *i) {
            return;
        }
        *i = k;
    }
}

/* a, then sep and the rest: 1985-03-12, 12/03/1985, 03.12.85, 02-Jan-1987. */
static bool numeric_date(const char *p, size_t n, size_t i, int a, size_t na)
{
    char sep = p[i++];
    size_t nb, nc;
    bool named = i < n && hr__pii_alpha((unsigned char)p[i]);
    int b = named ? month_at(p, n, &i) : number_at(p, n, &i, &nb);
    if (i >= n || p[i] != sep) {
        return false;
    }
    i++;
    int c = number_at(p, n, &i, &nc);
    if (na == 4 && !named) {
        return valid_date(a, b, c, false);
    }
    bool two = nc == 2;
    return valid_date(c, b, a, two) || (!named && valid_date(c, a, b, two));
}

bool hr__pii_v_date(const char *t, size_t len, size_t *s, size_t *e)
{
    const char *p = t + *s;
    size_t n = *e - *s, i = 0, nd;
    if (!hr__pii_digit((unsigned char)p[0])) {
        int m = month_at(p, n, &i);
        skip_filler(p, n, &i);
        int d = number_at(p, n, &i, &nd);
        skip_filler(p, n, &i);
        int y = number_at(p, n, &i, &nd);
        return nd == 4 && valid_date(y, m, d, false);
    }
    size_t na;
    int a = number_at(p, n, &i, &na);
    if (i < n && (p[i] == '-' || p[i] == '/' || p[i] == '.')) {
        return numeric_date(p, n, i, a, na);
    }
    skip_filler(p, n, &i);
    int m = month_at(p, n, &i);
    skip_filler(p, n, &i);
    int y = number_at(p, n, &i, &nd);
    return nd == 4 && valid_date(y, m, a, false);
}

/* ---- secrets ------------------------------------------------------------------ */

/* Values people write where a secret would go. */
static const char *const NOT_SECRET[] = {
    "null", "none", "nil", "true", "false", "undefined", "empty", "required", "optional",
    "string", "str", "int", "bool", "boolean", "secret", "password", "token", "value", "here",
    "hidden", "masked", "redacted", "env", "todo", "tbd", "unset", "default", "changeme",
    "example", "placeholder", "xxx", "dummy", "sample", "test", "your", "mine", "same", NULL};

static bool contains_ci(const char *p, size_t n, const char *w)
{
    size_t m = strlen(w);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && hr__pii_lower((unsigned char)p[i + k]) == (unsigned char)w[k]) {
            k++;
        }
        if (k == m) {
            return true;
        }
    }
    return false;
}

static bool placeholder_like(const char *p, size_t n)
{
    if (n == 0 || memchr("<$%{[*=#", p[0], 8) || hr__pii_word_in(p, n, NOT_SECRET)) {
        return true;
    }
    size_t same = 1;
    while (same < n && p[same] == p[0]) {
        same++;
    }
    static const char *const marks[] = {"your", "example", "placeholder", "redacted", "xxxx",
                                        "****", "...", "dummy", "<", ">", "insert", NULL};
    for (size_t i = 0; marks[i]; i++) {
        if (contains_ci(p, n, marks[i])) {
            return true;
        }
    }
    return same == n;
}

/* Letters mixed with digits, mixed case, or symbols among letters and
 * digits: what generated secrets and most passwords look like. */
static bool secretish(const char *p, size_t n)
{
    bool lo = false, up = false, dg = false, other = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        lo |= c >= 'a' && c <= 'z';
        up |= c >= 'A' && c <= 'Z';
        dg |= hr__pii_digit(c);
        other |= !hr__pii_alpha(c) && !hr__pii_digit(c);
    }
    return (dg && (lo || up)) || (lo && up) || (other && (lo || up || dg));
}

/* module.attribute references: settings.SECRET_KEY, os.environ. */
static bool dotted_name(const char *p, size_t n)
{
    bool dot = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (i == 0 || i + 1 == n || p[i - 1] == '.') {
                return false;
            }
            dot = true;
        } else if (!hr__pii_alpha(c) && c != '_' && !(hr__pii_digit(c) && i > 0)) {
            return false;
        }
    }
    return dot;
}

bool hr__pii_v_assign(const char *t, size_t len, size_t *s, size_t *e)
{
    const char *p = t + *s;
    size_t n = *e - *s;
    bool quoted = t[*s - 1] == '"' || t[*s - 1] == '\'';
    size_t i = *s - quoted;
    while (i > 0 && (t[i - 1] == ' ' || t[i - 1] == '\t')) {
        i--;
    }
    bool colon = i > 0 && t[i - 1] == ':';
    if (placeholder_like(p, n) || dotted_name(p, n) || n < 4) {
        return false;
    }
    if (quoted || !colon) {
        return true;
    }
    return n >= 6 && (secretish(p, n) || n >= 16);
}

bool hr__pii_secret_key(const char *k, size_t n)
{
    static const char *const tails[] = {"password", "passwd", "pwd", "passphrase", "secret",
                                        "secretkey", "apikey", "accesskey", "privatekey",
                                        "token", NULL};
    char norm[64];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof norm; i++) {
        unsigned char c = hr__pii_lower((unsigned char)k[i]);
        if (hr__pii_alpha(c) || hr__pii_digit(c)) {
            norm[m++] = (char)c;
        }
    }
    for (size_t i = 0; n < sizeof norm && tails[i]; i++) {
        size_t L = strlen(tails[i]);
        if (m >= L && memcmp(norm + m - L, tails[i], L) == 0) {
            return true;
        }
    }
    return false;
}

bool hr__pii_secret_value_ok(const char *p, size_t n)
{
    return n >= 4 && !placeholder_like(p, n) && !dotted_name(p, n);
}

bool hr__pii_v_token(const char *t, size_t len, size_t *s, size_t *e)
{
    while (*e > *s && t[*e - 1] == '.') {
        (*e)--;
    }
    const char *p = t + *s;
    size_t n = *e - *s;
    return n >= 8 && !placeholder_like(p, n) && secretish(p, n);
}

static bool pem_body(unsigned char c)
{
    return hr__pii_alpha(c) || hr__pii_digit(c) || hr__pii_space(c) ||
           (c && strchr("+/=:,.\\-", c));
}

/* The pattern finds a "-----BEGIN ... PRIVATE KEY-----" line; the block runs
 * to its END line, or, cut short, to the end of its base64 body. The walk
 * stops at the first "-----", so a thousand BEGIN lines cost a thousand
 * short walks, not a thousand walks to the end of the text. */
bool hr__pii_v_pem(const char *t, size_t len, size_t *s, size_t *e)
{
    size_t i = *e;
    while (i < len && pem_body((unsigned char)t[i]) &&
           !(len - i >= 5 && memcmp(t + i, "-----", 5) == 0)) {
        i++;
    }
    size_t end = i;
    if (len - i >= 9 && memcmp(t + i, "-----END ", 9) == 0) {
        size_t k = i + 9;
        while (k < len && k - i < 64 && t[k] != '\n' && t[k] != '-') {
            k++;
        }
        if (len - k >= 5 && memcmp(t + k, "-----", 5) == 0) {
            end = k + 5;
        }
    }
    while (end > *e && hr__pii_space((unsigned char)t[end - 1])) {
        end--;
    }
    *e = end;
    return true;
}
