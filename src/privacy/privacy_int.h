/* SPDX-License-Identifier: MIT */
/* privacy_int.h -- what the privacy module's files share: the detector's
 * layout, the built-in pattern table, one scan's working state, the
 * validators and the deny-list trie. Nothing outside src/privacy includes it
 * except the module's unit test, which checks the validators directly. */
#ifndef HR_PRIVACY_PRIVACY_INT_H
#define HR_PRIVACY_PRIVACY_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "privacy/privacy.h"

/* "<" NAME "_" up to 10 digits ">" */
#define HR__PII_PH_MAX (HR_PII_MAX_NAME + 13)

/* A validator: true when text[*s..*e) really is what the pattern suggests.
 * It may look at the text around the span and may narrow the span. */
typedef bool (*hr__pii_check)(const char *text, size_t len, size_t *s, size_t *e);

/* One alternative of the combined built-in pattern. Its finding is the first
 * of its ncap capture groups that is set, else the whole match. */
typedef struct hr__pii_alt {
    int cls;
    int ncap;
    hr__pii_check ok;
    const char *re;
} hr__pii_alt;

extern const hr__pii_alt hr__pii_alts[];
extern const size_t hr__pii_n_alts;

typedef struct hr__pii_trie hr__pii_trie;

typedef struct hr__pii_user {
    int cls;
    pcre2_code *re;
} hr__pii_user;

struct hr_pii {
    pcre2_general_context *gctx;
    pcre2_code *builtin;
    uint16_t group0[256];  /* first capture group of each alternative */
    hr__pii_user *user;
    size_t n_user;
    hr__pii_trie *trie;
    size_t n_classes;
    char name[HR_PII_MAX_CLASSES][HR_PII_MAX_NAME + 1];
    char upper[HR_PII_MAX_CLASSES][HR_PII_MAX_NAME + 1];
    uint8_t name_len[HR_PII_MAX_CLASSES];
};

typedef struct hr__pii_cand {
    size_t start, end;
    int cls;
} hr__pii_cand;

/* One scan's working state: PCRE2 match data and the candidates found. Owned
 * by one thread; a redactor keeps one to reuse across calls. */
typedef struct hr__pii_scan {
    const hr_pii *d;
    pcre2_match_data *md, *umd;
    pcre2_match_context *mc, *umc;
    hr__pii_cand *v;
    size_t n, cap;
    const char *text;
    size_t len;
    int err;
} hr__pii_scan;

int hr__pii_scan_init(hr__pii_scan *s, const hr_pii *d);
void hr__pii_scan_deinit(hr__pii_scan *s);
/* Find text's findings and append them to out (num 0). */
int hr__pii_scan_run(hr__pii_scan *s, const char *text, size_t len, hr_pii_findings *out);
int hr__pii_cand_add(hr__pii_scan *s, size_t start, size_t end, int cls);
int hr__pii_findings_push(hr_pii_findings *f, size_t start, size_t end, int cls, uint32_t num);

/* The deny lists: a byte trie of normalised words, each ending in a class. */
int hr__pii_trie_add(hr__pii_trie **t, const char *word, int cls);
void hr__pii_trie_free(hr__pii_trie *t);
int hr__pii_trie_scan(const hr__pii_trie *t, hr__pii_scan *s);

/* The redactor's parts the JSON walker uses. */
hr__pii_scan *hr__pii_redactor_scan(hr_pii_redactor *r);
bool hr__pii_redactor_wants(const hr_pii_redactor *r, int cls);
void hr__pii_redactor_count(hr_pii_redactor *r, int cls);
int hr__pii_redactor_intern(hr_pii_redactor *r, int cls, const char *v, size_t n, uint32_t *num);

/* Case-insensitive (ASCII) membership of t[0..n) in a NULL-terminated list
 * of lower-case words. */
bool hr__pii_word_in(const char *t, size_t n, const char *const *list);

/* Validators, also used on their own by the unit test. */
bool hr__pii_luhn(const char *digits, size_t n);
bool hr__pii_iban_ok(const char *p, size_t n);
bool hr__pii_ssn_ok(const char *p, size_t n);
bool hr__pii_v_email(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_phone(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_card(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_iban(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_ssn(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_ipv4(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_ipv6(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_date(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_assign(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_token(const char *t, size_t len, size_t *s, size_t *e);
bool hr__pii_v_pem(const char *t, size_t len, size_t *s, size_t *e);

/* Whether a JSON key or field name names a secret ("password", "db_password",
 * "apiKey", "client-secret"), and whether a value under it is one rather
 * than a placeholder ("<your token>", "${TOKEN}", "none"). */
bool hr__pii_secret_key(const char *k, size_t n);
bool hr__pii_secret_value_ok(const char *p, size_t n);

/* Text helpers shared by the validators and the trie. */
static inline bool hr__pii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool hr__pii_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline unsigned char hr__pii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Bytes of UTF-8 letters count as word bytes, so a word never ends inside
 * a character. */
static inline bool hr__pii_wordc(unsigned char c)
{
    return hr__pii_alpha(c) || hr__pii_digit(c) || c == '_' || c >= 0x80;
}

static inline bool hr__pii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

#endif
