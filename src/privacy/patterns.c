/* SPDX-License-Identifier: MIT */
/* patterns.c -- the built-in classes as PCRE2 alternatives, joined into one
 * pattern by pii.c so a text is scanned in a single pass.
 *
 * Every alternative starts with a look-behind that lets it begin only where a
 * token begins, caps each run with a bounded or possessive quantifier, and
 * ends with a look-ahead that stops it inside a longer token, so an attempt
 * costs a bounded number of steps and a megabyte of hostile input stays
 * linear. The patterns find shapes; the validators decide. */
#include "privacy/privacy_int.h"

#define NOT_IN_WORD "(?<![\\w.+\\-/#$]|\\d[ ])"

#define MONTH                                                                                  \
    "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"        \
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"

#define DATE                                                                                   \
    "(\\d{4}[\\-/.]\\d{1,2}[\\-/.]\\d{1,2}"                                                 \
    "|\\d{1,2}[\\-/.]\\d{1,2}[\\-/.](?:\\d{4}|\\d{2})"                                      \
    "|\\d{1,2}[\\-/]" MONTH "[\\-/](?:\\d{4}|\\d{2})"                                     \
    "|\\d{1,2}(?:st|nd|rd|th)?[ \\t]+(?:of[ \\t]+)?" MONTH "\\.?,?[ \\t]+\\d{4}"           \
    "|" MONTH "\\.?[ \\t]+\\d{1,2}(?:st|nd|rd|th)?,?[ \\t]+\\d{4})"

#define DOB_LABEL                                                                              \
    "(?<![\\w])(?:dob|d\\.o\\.b\\.?|date[ \\t]+of[ \\t]+birth|birth[ \\t]*date|birthday"     \
    "|born(?:[ \\t]+on)?)(?:[ \\t]*+\\([^)\\r\\n]{0,24}+\\))?+[ \\t]*+(?:[:=\\-]|is|was)?+"    \
    "[ \\t]*+"

#define SECRET_KEY                                                                             \
    "(?:api[_\\-. ]?key|apikey|access[_\\-]?key(?:[_\\-]?id)?"                                \
    "|secret(?:[_\\-]?(?:access[_\\-]?)?key)?|client[_\\-]?secret|private[_\\-]?key"         \
    "|passw(?:or)?d|pwd|auth[_\\-]?token|access[_\\-]?token|refresh[_\\-]?token"             \
    "|api[_\\-]?token|token)"

#define TOKEN_SHAPES                                                                           \
    "(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,200}+|sk-[A-Za-z0-9_\\-]{20,200}+"             \
    "|gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{22,255}+"                        \
    "|xox[abposr]-[A-Za-z0-9\\-]{10,200}+|AIza[0-9A-Za-z_\\-]{35}"                           \
    "|glpat-[A-Za-z0-9_\\-]{20,64}+|hf_[A-Za-z0-9]{30,64}+"

const hr__pii_alt hr__pii_alts[] = {
    {HR_PII_EMAIL, 1, hr__pii_v_email,
     "(?<![A-Za-z0-9_.%+\\-])"
     "([A-Za-z0-9_%+\\-][A-Za-z0-9_.%+\\-]{0,63}+@"
     "(?:[A-Za-z0-9\\-]{1,63}+\\.(?=[A-Za-z0-9])){1,8}+[A-Za-z]{2,24}+)"
     "(?![A-Za-z0-9_\\-@])"},
    {HR_PII_PHONE, 1, hr__pii_v_phone,
     "(?<![\\w.+\\-/#,]|\\d[ :])"
     "((?:\\(\\+\\d{1,4}+\\)|\\+?+(?:\\(\\d{1,5}+\\)|\\d{1,5}+))"
     "(?:[ .\\-]?+(?:\\(\\d{1,5}+\\)|\\d{1,5}+)){1,6})"
     "(?![\\w(]|[.\\-/:]\\d)"},
    {HR_PII_CARD, 1, hr__pii_v_card,
     NOT_IN_WORD "(\\d(?:[ \\-]?+\\d){12,18})(?![\\w]|[\\-.]\\d)"},
    {HR_PII_IBAN, 1, hr__pii_v_iban,
     "(?<![\\w])([A-Z]{2}\\d{2}(?:[ ]?+[A-Z0-9]{4}){2,7}+(?:[ ]?+[A-Z0-9]{1,3})?+)"},
    {HR_PII_SSN, 1, hr__pii_v_ssn,
     "(?<![\\w.\\-/#]|\\d[ ])(\\d{3}-\\d{2}-\\d{4})(?![\\w]|-\\d)"},
    {HR_PII_SSN, 1, hr__pii_v_ssn,
     "(?i:(?<![\\w])(?:ssn|social[ \\t]+security(?:[ \\t]+(?:number|no\\.?|#))?)"
     "[ \\t]*+[:#=]?+[ \\t]*+)(\\d{9}|\\d{3}[ ]\\d{2}[ ]\\d{4})(?![\\w])"},
    {HR_PII_IPV4, 1, hr__pii_v_ipv4,
     "(?<![\\w.:])((?:\\d{1,3}\\.){3}\\d{1,3})(?![\\w]|\\.\\d)"},
    {HR_PII_IPV6, 1, hr__pii_v_ipv6,
     "(?<![\\w:.])([0-9A-Fa-f]{0,4}+:[0-9A-Fa-f:.]{1,45}+)(?![\\w:.])"},
    {HR_PII_DOB, 1, hr__pii_v_date,
     "(?i:" DOB_LABEL DATE "(?![\\w]|[\\-/.]\\d))"},
    {HR_PII_SECRET, 1, NULL,
     "((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"},
    {HR_PII_SECRET, 1, hr__pii_v_pem,
     "(-----BEGIN[ ](?:[A-Z0-9]++[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?+-----)"},
    {HR_PII_SECRET, 1, NULL,
     "(?<![\\w\\-])(eyJ[A-Za-z0-9_\\-]{2,8192}+\\.[A-Za-z0-9_\\-]{2,8192}+\\."
     "[A-Za-z0-9_\\-]{0,8192}+)(?![\\w\\-]|\\.[\\w\\-])"},
    {HR_PII_SECRET, 1, hr__pii_v_token,
     "(?i:(?<![\\w\\-])bearer)[ \\t]++([A-Za-z0-9\\-._~+/]{8,4096}+=*+)(?![\\w\\-])"},
    {HR_PII_SECRET, 3, hr__pii_v_assign,
     "(?i:(?<![^\\s\"'{(\\[,;&?])(?:[A-Za-z0-9]{1,32}+[_\\-.]){0,4}" SECRET_KEY
     "[\"']?+[ \\t]*+[:=][ \\t]*+)"
     "(?:\"([^\"\\r\\n]{1,512}+)\"|'([^'\\r\\n]{1,512}+)'"
     "|([^\\s\"'`<>,;&()\\[\\]{}]{1,512}+(?:&[^\\s\"'`<>,;&()\\[\\]{}=]{1,64}+(?!=)){0,8}+))"},
    {HR_PII_SECRET, 1, hr__pii_v_token,
     "(?<![\\w\\-])(" TOKEN_SHAPES ")(?![\\w\\-])"},
};

const size_t hr__pii_n_alts = sizeof hr__pii_alts / sizeof hr__pii_alts[0];
