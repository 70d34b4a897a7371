/* SPDX-License-Identifier: MIT */
/* validate.c -- the checks that turn a pattern's candidate into a finding
 * for the number-like classes: Luhn and issuer prefixes for cards, the
 * country length table and mod-97 for IBANs, SSA ranges for SSNs, octets and
 * inet_pton for addresses, digit counts and grouping for phone numbers, and
 * the words in front of a number ("Order no.", "version") that say it is
 * something else. Pure functions of the text, safe on any thread. */
#include "privacy/privacy_int.h"

#include <arpa/inet.h>
#include <string.h>

/* ---- context ------------------------------------------------------------------ */

static bool word_is(const char *t, size_t n, const char *w)
{
    if (n == 0 || hr__pii_lower((unsigned char)t[0]) != (unsigned char)w[0]) {
        return false;
    }
    size_t m = strlen(w);
    if (m != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (hr__pii_lower((unsigned char)t[i]) != (unsigned char)w[i]) {
            return false;
        }
    }
    return true;
}

bool hr__pii_word_in(const char *t, size_t n, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        if (word_is(t, n, list[i])) {
            return true;
        }
    }
    return false;
}

static const char *const NUMBER_WORDS[] = {"no",  "nr", "num",    "number", "id",
                                           "n",   "is", "was",    "string", "code", NULL};

/* Words that name a number as something other than personal data. */
static const char *const NOT_PERSONAL[] = {
    "order", "orders", "invoice", "inv", "sku", "tracking", "track", "shipment", "parcel",
    "isbn", "issn", "part", "model", "serial", "ticket", "case", "ref", "reference",
    "confirmation", "booking", "reservation", "item", "product", "catalog", "catalogue",
    "batch", "lot", "transaction", "txn", "po", "receipt", "policy", "claim", "patent",
    "version", "build", "barcode", "upc", "ean", "gtin", "asin", "vin", "imei", "request",
    "job", "commit", "issue", "pr", "bug", "incident", "cheque", NULL};

static const char *const VERSION_WORDS[] = {
    "version", "versions", "ver", "v", "release", "build", "rev", "revision", "firmware",
    "section", "sections", "chapter", "figure", "fig", "table", "step", "clause", "article",
    "appendix", "oid", "rule", "item", NULL};

static const char *const PHONE_WORDS[] = {
    "phone", "phones", "telephone", "tel", "call", "calling", "mobile", "cell", "cellphone",
    "fax", "whatsapp", "sms", "text", "dial", "ring", "contact", "reach", "ph", "mob",
    "landline", "hotline", "helpline", NULL};

/* True when the word just before t[s] (past separators such as ": #." and
 * one word like "no." or "number") is in list: "Order no. 4411" says
 * "order". */
static bool labelled(const char *t, size_t s, const char *const *list)
{
    size_t i = s;
    for (int hop = 0; hop < 2; hop++) {
        size_t skipped = 0;
        while (i > 0 && skipped < 4 && memchr(" \t:#.=(\"'", t[i - 1], 9)) {
            i--;
            skipped++;
        }
        size_t end = i;
        while (i > 0 && end - i < 24 && hr__pii_alpha((unsigned char)t[i - 1])) {
            i--;
        }
        if (i == end || (i > 0 && hr__pii_wordc((unsigned char)t[i - 1]))) {
            return false;
        }
        if (hr__pii_word_in(t + i, end - i, list)) {
            return true;
        }
        if (!hr__pii_word_in(t + i, end - i, NUMBER_WORDS)) {
            return false;
        }
    }
    return false;
}

/* True when a word of list appears in the window bytes before t[s]. */
static bool near(const char *t, size_t s, const char *const *list, size_t window)
{
    size_t i = s > window ? s - window : 0;
    while (i < s) {
        size_t j = i;
        while (j < s && hr__pii_alpha((unsigned char)t[j])) {
            j++;
        }
        bool whole = j > i && (i == 0 || !hr__pii_alpha((unsigned char)t[i - 1]));
        if (whole && hr__pii_word_in(t + i, j - i, list)) {
            return true;
        }
        i = j > i ? j : i + 1;
    }
    return false;
}

/* ---- cards -------------------------------------------------------------------- */

bool hr__pii_luhn(const char *d, size_t n)
{
    if (n < 2) {
        return false;
    }
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = n; i-- > 0;) {
        if (!hr__pii_digit((unsigned char)d[i])) {
            return false;
        }
        unsigned v = (unsigned)(d[i] - '0');
        if (dbl) {
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* Issuer ranges (on the first `digits` digits) and the lengths each issues. */
static const struct iin {
    uint32_t lo, hi;
    uint8_t digits, min_len, max_len;
    bool visa;
} IINS[] = {
    {4, 4, 1, 13, 19, true},          {51, 55, 2, 16, 16, false},
    {2221, 2720, 4, 16, 16, false},   {34, 34, 2, 15, 15, false},
    {37, 37, 2, 15, 15, false},       {6011, 6011, 4, 16, 19, false},
    {644, 649, 3, 16, 19, false},     {65, 65, 2, 16, 19, false},
    {3528, 3589, 4, 16, 19, false},   {300, 305, 3, 14, 19, false},
    {3095, 3095, 4, 14, 19, false},   {36, 36, 2, 14, 19, false},
    {38, 39, 2, 14, 19, false},       {62, 62, 2, 16, 19, false},
    {2200, 2204, 4, 16, 19, false},   {5018, 5018, 4, 13, 19, false},
    {5020, 5020, 4, 13, 19, false},   {5038, 5038, 4, 13, 19, false},
    {5893, 5893, 4, 13, 19, false},   {6304, 6304, 4, 13, 19, false},
    {6759, 6759, 4, 13, 19, false},   {6761, 6763, 4, 13, 19, false},
    {56, 58, 2, 13, 19, false},
};

static bool iin_ok(const char *d, size_t n)
{
    for (size_t i = 0; i < sizeof IINS / sizeof IINS[0]; i++) {
        const struct iin *r = &IINS[i];
        uint32_t v = 0;
        for (size_t k = 0; k < r->digits; k++) {
            v = v * 10 + (uint32_t)(d[k] - '0');
        }
        if (v < r->lo || v > r->hi || n < r->min_len || n > r->max_len) {
            continue;
        }
        if (r->visa && n != 13 && n != 16 && n != 19) {
            continue;
        }
        return true;
    }
    return false;
}

/* Digit groups as printed on cards: 4-4-4-4(-3), 4-6-5, 4-6-4, or fours
 * with a shorter last group. */
static bool card_groups_ok(const size_t *g, size_t ng)
{
    if (ng == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)) {
        return true;
    }
    if (ng < 4) {
        return false;
    }
    for (size_t i = 0; i + 1 < ng; i++) {
        if (g[i] != 4) {
            return false;
        }
    }
    return g[ng - 1] >= 1 && g[ng - 1] <= 4;
}

bool hr__pii_v_card(const char *t, size_t len, size_t *s, size_t *e)
{
    char d[20];
    size_t nd = 0, g[20] = {0}, ng = 1;
    char sep = 0;
    for (size_t i = *s; i < *e; i++) {
        char c = t[i];
        if (hr__pii_digit((unsigned char)c)) {
            if (nd == sizeof d) {
                return false;
            }
            d[nd++] = c;
            g[ng - 1]++;
            continue;
        }
        if (sep && c != sep) {
            return false;
        }
        sep = c;
        ng++;
    }
    if (nd < 13 || nd > 19 || (ng > 1 && !card_groups_ok(g, ng))) {
        return false;
    }
    return iin_ok(d, nd) && hr__pii_luhn(d, nd) && !labelled(t, *s, NOT_PERSONAL);
}

/* ---- IBAN --------------------------------------------------------------------- */

static const char IBAN_LENS[] =
    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28"
    "EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27"
    "JO30KW30KZ20LB28LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18"
    "NO15OM23PK24PL28PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28"
    "TL23TN24TR26UA29VA22VG24XK20";

static size_t iban_len(const char *cc)
{
    for (const char *p = IBAN_LENS; *p; p += 4) {
        if (p[0] == cc[0] && p[1] == cc[1]) {
            return (size_t)((p[2] - '0') * 10 + (p[3] - '0'));
        }
    }
    return 0;
}

bool hr__pii_iban_ok(const char *p, size_t n)
{
    char c[40];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') {
            continue;
        }
        if (m == sizeof c || !(hr__pii_digit((unsigned char)p[i]) ||
                               (p[i] >= 'A' && p[i] <= 'Z'))) {
            return false;
        }
        c[m++] = p[i];
    }
    if (m < 15 || iban_len(c) != m || !hr__pii_digit((unsigned char)c[2]) ||
        !hr__pii_digit((unsigned char)c[3])) {
        return false;
    }
    unsigned rem = 0;
    for (size_t k = 0; k < m; k++) {
        char ch = c[(k + 4) % m];
        unsigned v = hr__pii_digit((unsigned char)ch) ? (unsigned)(ch - '0')
                                                      : (unsigned)(ch - 'A' + 10);
        rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
    }
    return rem == 1;
}

/* The pattern takes every group of four it can; the country says how many
 * characters are the IBAN, and the span is cut there. Spaced IBANs come in
 * groups of four. */
bool hr__pii_v_iban(const char *t, size_t len, size_t *s, size_t *e)
{
    size_t want = iban_len(t + *s), got = 0, run = 0, i = *s;
    for (; i < *e && got < want; i++) {
        if (t[i] == ' ') {
            if (run != 4) {
                return false;
            }
            run = 0;
            continue;
        }
        got++;
        run++;
    }
    if (want == 0 || got != want || (i < len && hr__pii_wordc((unsigned char)t[i]))) {
        return false;
    }
    *e = i;
    return hr__pii_iban_ok(t + *s, i - *s);
}

/* ---- SSN ---------------------------------------------------------------------- */

bool hr__pii_ssn_ok(const char *p, size_t n)
{
    char d[9];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (hr__pii_digit((unsigned char)p[i])) {
            if (m == 9) {
                return false;
            }
            d[m++] = p[i];
        } else if (p[i] != '-' && p[i] != ' ') {
            return false;
        }
    }
    if (m != 9) {
        return false;
    }
    int area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    int group = (d[3] - '0') * 10 + (d[4] - '0');
    bool serial0 = memcmp(d + 5, "0000", 4) == 0;
    return area != 0 && area != 666 && area < 900 && group != 0 && !serial0;
}

bool hr__pii_v_ssn(const char *t, size_t len, size_t *s, size_t *e)
{
    return hr__pii_ssn_ok(t + *s, *e - *s) && !labelled(t, *s, NOT_PERSONAL);
}

/* ---- IP addresses ------------------------------------------------------------- */

bool hr__pii_v_ipv4(const char *t, size_t len, size_t *s, size_t *e)
{
    size_t i = *s;
    for (int k = 0; k < 4; k++) {
        size_t j = i;
        unsigned v = 0;
        while (j < *e && hr__pii_digit((unsigned char)t[j])) {
            v = v * 10 + (unsigned)(t[j] - '0');
            j++;
        }
        if (j == i || j - i > 3 || v > 255 || (t[i] == '0' && j - i > 1)) {
            return false;
        }
        i = j + 1;
    }
    return !labelled(t, *s, VERSION_WORDS);
}

bool hr__pii_v_ipv6(const char *t, size_t len, size_t *s, size_t *e)
{
    size_t a = *s, b = *e;
    while (b > a && t[b - 1] == '.') {
        b--;
    }
    if (b - a >= 2 && t[b - 1] == ':' && t[b - 2] != ':') {
        b--;
    }
    if (b - a < 3 || b - a > 45) {
        return false;
    }
    char buf[46];
    size_t colons = 0, decimal = 0;
    for (size_t i = a; i < b; i++) {
        colons += t[i] == ':';
        decimal += hr__pii_digit((unsigned char)t[i]);
        buf[i - a] = t[i];
    }
    buf[b - a] = '\0';
    struct in6_addr addr;
    if (colons < 2 || decimal == 0 || inet_pton(AF_INET6, buf, &addr) != 1) {
        return false;
    }
    *e = b;
    return true;
}

/* ---- phone numbers ------------------------------------------------------------ */

typedef struct shape {
    size_t run[8], n_run, digits;
    const char *at[8]; /* where each run of digits starts */
    int open;
    char sep;
    bool plus, bad, parens;
} shape;

static void shape_of(const char *p, size_t n, shape *sh)
{
    memset(sh, 0, sizeof *sh);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (hr__pii_digit((unsigned char)c)) {
            if (i == 0 || !hr__pii_digit((unsigned char)p[i - 1])) {
                sh->bad |= sh->n_run == 8;
                sh->n_run += sh->n_run < 8;
                sh->at[sh->n_run - 1] = p + i;
            }
            sh->run[sh->n_run - 1]++;
            sh->digits++;
        } else if (c == '+') {
            sh->plus = true;
        } else if (c == '(' || c == ')') {
            sh->open += c == '(' ? 1 : -1;
            sh->bad |= sh->open < 0 || sh->open > 1;
            sh->parens = true;
        } else if (sh->sep && sh->sep != c && (sh->sep == '.' || c == '.')) {
            sh->bad = true;
        } else if (!sh->sep || c == '.') {
            sh->sep = c;
        }
    }
}

static bool runs_are(const shape *sh, const size_t *want, size_t n)
{
    if (sh->n_run != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (sh->run[i] != want[i]) {
            return false;
        }
    }
    return true;
}

static bool year_at(const char *q)
{
    return (q[0] == '1' && q[1] == '9') || (q[0] == '2' && q[1] == '0');
}

/* Shapes that are numbers of another kind: 1 234 567 890 (thousands), a
 * date among the groups (2023-10 ..., ... 2024-03-12, 12-03-1985 ...), and
 * dotted groups that are not the dotted phone styles 415.555.2671 and
 * 06.12.34.56.78. */
static bool other_number(const shape *sh, const char *p)
{
    bool thousands = sh->n_run >= 3 && sh->run[0] <= 3;
    for (size_t i = 1; thousands && i < sh->n_run; i++) {
        thousands = sh->run[i] == 3;
    }
    if (thousands || (sh->run[0] == 4 && year_at(p) && sh->run[1] <= 2)) {
        return true;
    }
    for (size_t i = 0; i + 2 < sh->n_run; i++) {
        const size_t *r = sh->run + i;
        if ((r[0] == 4 && r[1] <= 2 && r[2] <= 2 && year_at(sh->at[i])) ||
            (r[0] <= 2 && r[1] <= 2 && r[2] == 4 && year_at(sh->at[i + 2]))) {
            return true;
        }
    }
    if (sh->sep == '.') {
        static const size_t a[] = {3, 3, 4}, b[] = {1, 3, 3, 4}, c[] = {2, 2, 2, 2, 2};
        return !runs_are(sh, a, 3) && !runs_are(sh, b, 4) && !runs_are(sh, c, 5);
    }
    return false;
}

/* With a country code ("+44", "(+33)" or "0044"): E.164 allows 15 digits. */
static bool international_ok(const shape *sh, const char *p, bool intl00)
{
    size_t n = sh->digits - (intl00 ? 2 : 0);
    return n >= 8 && n <= 15 && p[intl00 ? 2 : 0] != '0';
}

/* Without one: 10 or 11 digits in groups people write, or one run of
 * digits where the words before it talk about phoning. */
static bool national_ok(const shape *sh, const char *t, size_t s, const char *p)
{
    if (sh->digits < 10 || sh->digits > 11) {
        return false;
    }
    if (sh->n_run == 1) {
        return !sh->parens && near(t, s, PHONE_WORDS, 40);
    }
    for (size_t i = 0; i < sh->n_run; i++) {
        if (sh->run[i] > 8 || (sh->run[i] == 1 && i > 0)) {
            return false;
        }
    }
    return !other_number(sh, p);
}

bool hr__pii_v_phone(const char *t, size_t len, size_t *s, size_t *e)
{
    const char *p = t + *s;
    shape sh;
    shape_of(p, *e - *s, &sh);
    while (!hr__pii_digit((unsigned char)*p)) {
        p++;
    }
    if (sh.bad || sh.open != 0 || labelled(t, *s, NOT_PERSONAL)) {
        return false;
    }
    bool intl00 = !sh.plus && sh.run[0] >= 3 && sh.run[0] <= 5 && p[0] == '0' && p[1] == '0' &&
                  p[2] != '0';
    if (sh.plus || intl00) {
        return international_ok(&sh, p, intl00);
    }
    return national_ok(&sh, t, *s, p);
}
