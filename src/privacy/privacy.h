/* SPDX-License-Identifier: MIT */
/* privacy.h -- finding personal data and secrets in text, replacing them with
 * typed placeholders before a prompt leaves the machine, and putting the
 * originals back into what comes back.
 *
 * A detector (hr_pii) is built once from the configuration and is read-only
 * afterwards, so any number of threads may scan with it at once. Each request
 * gets its own redactor (hr_pii_redactor), which remembers which value each
 * placeholder stands for; a redactor and the restorers made from it belong to
 * one thread at a time. Nothing here does I/O or logs a value.
 *
 * Built-in classes are found by PCRE2 patterns (with its JIT) and confirmed by
 * validators (Luhn, IBAN mod-97, SSN ranges, octet ranges, inet_pton, calendar
 * dates, context words), so a number is never flagged by its shape alone.
 * Configured classes are PCRE2 patterns and case-insensitive whole-word deny
 * lists. Text is bytes: invalid UTF-8 is scanned like any other bytes. */
#ifndef HR_PRIVACY_PRIVACY_H
#define HR_PRIVACY_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* ---- classes ---------------------------------------------------------------- */

/* The built-in classes; configured classes are numbered from HR_PII_N_BUILTIN
 * in the order the configuration names them. */
typedef enum hr_pii_class {
    HR_PII_EMAIL = 0,
    HR_PII_PHONE,  /* E.164 and common national formats */
    HR_PII_CARD,   /* payment card numbers (Luhn and issuer prefix) */
    HR_PII_IBAN,
    HR_PII_SSN,    /* US social security numbers */
    HR_PII_IPV4,
    HR_PII_IPV6,
    HR_PII_DOB,    /* a date, only where labelled as a date of birth */
    HR_PII_SECRET, /* keys, tokens, passwords, private-key blocks */
    HR_PII_IMAGE,  /* an image input (JSON scans only): unscannable, so never
                      redacted -- a "redact" action blocks it */
    HR_PII_N_BUILTIN
} hr_pii_class;

#define HR_PII_MAX_CLASSES 64 /* built-in and configured together */
#define HR_PII_MAX_NAME 32    /* bytes in a class name */
#define HR_PII_BIT(cls) ((uint64_t)1 << (cls))
#define HR_PII_ALL UINT64_MAX

/* ---- the detector ----------------------------------------------------------- */

/* A configured pattern: every match of regex (PCRE2 syntax, UTF-8; the whole
 * match is the finding) belongs to class name. */
typedef struct hr_pii_pattern {
    const char *name;
    const char *regex;
} hr_pii_pattern;

/* A deny list: each word or phrase, matched case-insensitively (ASCII) as a
 * whole word, with any run of white space matching a space. */
typedef struct hr_pii_deny {
    const char *name;
    const char *const *words;
    size_t n_words;
} hr_pii_deny;

/* What to look for beyond the built-in classes. A class name is a letter then
 * letters, digits or '_' (at most HR_PII_MAX_NAME bytes); names compare
 * without case, so patterns and lists that share a name share a class, and a
 * built-in name adds to that built-in class. Strings are copied. */
typedef struct hr_pii_config {
    const hr_pii_pattern *patterns;
    size_t n_patterns;
    const hr_pii_deny *deny;
    size_t n_deny;
} hr_pii_config;

typedef struct hr_pii hr_pii;

/* Compile the built-in classes and cfg (NULL: built-ins only). A bad regex or
 * name fails with HR_EINVAL and a one-line message naming it. */
int hr_pii_new(hr_pii **out, const hr_pii_config *cfg, char *err, size_t errlen);
void hr_pii_free(hr_pii *d);

/* Classes are 0 .. hr_pii_n_classes() - 1. */
size_t hr_pii_n_classes(const hr_pii *d);

/* A class's name ("email", or as configured), or NULL when there is no such
 * class. d may be NULL for the built-in classes. */
const char *hr_pii_class_name(const hr_pii *d, int cls);

/* The class called name (any case), or -1. d may be NULL. */
int hr_pii_class_find(const hr_pii *d, const char *name);

/* ---- scanning --------------------------------------------------------------- */

typedef struct hr_pii_finding {
    size_t start, end; /* byte range in the text scanned */
    int cls;
    uint32_t num;      /* the placeholder's number; 0 when it was not redacted */
} hr_pii_finding;

/* A growable list; zero-initialise, free with hr_pii_findings_deinit. */
typedef struct hr_pii_findings {
    hr_pii_finding *v;
    size_t n, cap;
} hr_pii_findings;

void hr_pii_findings_deinit(hr_pii_findings *f);

/* Findings per class, for audit: how many, never what. */
typedef struct hr_pii_counts {
    uint32_t n[HR_PII_MAX_CLASSES];
} hr_pii_counts;

uint32_t hr_pii_counts_total(const hr_pii_counts *c);

/* Append the findings in text[0..len) to out, in order and never overlapping
 * (of overlapping candidates the longest wins, then the earliest). Returns 0,
 * HR_ENOMEM, or HR_ETOOBIG when a configured pattern exceeded PCRE2's match
 * limits (then out holds nothing new). */
int hr_pii_scan(const hr_pii *d, const char *text, size_t len, hr_pii_findings *out);

/* Scan and add each finding to its class's count in *c. */
int hr_pii_count(const hr_pii *d, const char *text, size_t len, hr_pii_counts *c);

/* ---- redacting and restoring ------------------------------------------------ */

typedef struct hr_pii_redactor hr_pii_redactor;

/* A redactor for one request: it replaces findings of the classes in
 * redact_mask (HR_PII_BIT(cls) ..., or HR_PII_ALL) and leaves other findings
 * in place, counting them all. d must outlive it. */
int hr_pii_redactor_new(hr_pii_redactor **out, const hr_pii *d, uint64_t redact_mask);
void hr_pii_redactor_free(hr_pii_redactor *r);

/* Append text[0..len) to out with each finding to redact replaced by a
 * placeholder "<EMAIL_1>", "<CARD_2>", "<PROJECT_1>" (the class name upper
 * case): numbered per class from 1, the same value always getting the same
 * placeholder within this redactor. found (may be NULL) receives every
 * finding, offsets into text. On failure out may hold part of the text. */
int hr_pii_redact(hr_pii_redactor *r, const char *text, size_t len, hr_buf *out,
                  hr_pii_findings *found);

/* Every finding this redactor has seen so far, per class. */
const hr_pii_counts *hr_pii_redactor_counts(const hr_pii_redactor *r);

/* Write the placeholder for (cls, num) into buf; returns its length, or
 * HR_EINVAL for an unknown class or num 0, HR_ETOOBIG when buf is too small. */
int hr_pii_placeholder(const hr_pii *d, int cls, uint32_t num, char *buf, size_t buflen);

/* Append text to out with every placeholder this redactor issued replaced by
 * its original; anything else, unknown placeholders included, passes as is. */
int hr_pii_restore(const hr_pii_redactor *r, const char *text, size_t len, hr_buf *out);

/* The same for text that is itself JSON, such as tool-call arguments: each
 * original is written escaped for a JSON string (quotes, backslashes and
 * control characters), so a value with a quote or a new line keeps the JSON
 * valid. */
int hr_pii_restore_json_text(const hr_pii_redactor *r, const char *text, size_t len,
                             hr_buf *out);

/* Restoring text that arrives in pieces. Each feed appends what can already be
 * decided; only the tail that may still grow into a placeholder (at most a
 * placeholder's length) is held back until the next feed or the flush. The
 * redactor must outlive the restorer. */
typedef struct hr_pii_restorer hr_pii_restorer;

int hr_pii_restorer_new(hr_pii_restorer **out, const hr_pii_redactor *r);
int hr_pii_restorer_feed(hr_pii_restorer *s, const char *p, size_t n, hr_buf *out);
int hr_pii_restorer_flush(hr_pii_restorer *s, hr_buf *out);
void hr_pii_restorer_free(hr_pii_restorer *s);
/* Restore as hr_pii_restore_json_text does from the next feed on. */
void hr_pii_restorer_set_json_text(hr_pii_restorer *s, bool json_text);

/* ---- OpenAI request bodies ---------------------------------------------------- */

struct json_t;

/* Redact, in place, every string of a chat-completions, completions or
 * embeddings request that the upstream reads as text: messages[].content (a
 * string, or the "text" of its parts of type "text"), the arguments of
 * messages[].tool_calls[].function and messages[].function_call (JSON text:
 * string literals are redacted inside, so it stays JSON; a value under a key
 * that names a secret, "password" or "api_key", is a secret as a whole, and
 * other keys give their values context as a label does), and prompt / input
 * (a string or an array of strings). Names, roles, ids and tool schemas are
 * left alone. Returns 0, HR_ENOMEM, HR_ETOOBIG or HR_EINVAL (not an object). */
int hr_pii_redact_json(hr_pii_redactor *r, struct json_t *req);

/* Count the findings in those same strings into *c without changing req. */
int hr_pii_scan_json(const hr_pii *d, const struct json_t *req, hr_pii_counts *c);

/* ---- policies (policy.c) -------------------------------------------------------
 * What may leave the machine when a request escalates. A policy gives each
 * class an action and the data a class; routes and API keys name policies.
 * Built from the config's privacy section:
 *   patterns: [{name, regex}]        configured classes (see hr_pii_config)
 *   deny: [{name, words: [...]}]
 *   policies: {NAME: {actions: {CLASS|"*": allow|redact|block},
 *                     data_class: public|internal|restricted}}
 *   default_policy: NAME             (default: "default")
 *   keys: {KEY_ID: NAME}             per API key id (see hr_http_key_id)
 * The built-in "default" policy (used unless the config defines one) blocks
 * secrets and redacts every other class, data class internal. Classes a
 * policy does not name keep those built-in actions unless "*" is given.
 * Rules: restricted data never leaves; a "block" class found keeps the
 * request local; "redact" classes become placeholders, except in public
 * data, where they may go as they are. When a route's and a key's policies
 * both apply, each class gets the stricter action and the stricter data
 * class; a request's header may only make its data class stricter. */

typedef enum hr_pii_action { HR_PII_ALLOW, HR_PII_REDACT, HR_PII_BLOCK } hr_pii_action;
typedef enum hr_data_class { HR_DATA_PUBLIC, HR_DATA_INTERNAL, HR_DATA_RESTRICTED } hr_data_class;

const char *hr_pii_action_name(hr_pii_action a);
const char *hr_data_class_name(hr_data_class c);
int hr_data_class_parse(const char *s); /* any case; -1 when unknown */

typedef struct hr_privacy hr_privacy;

/* section may be NULL (built-in default policy only). Errors name the key. */
int hr_privacy_new(hr_privacy **out, const struct json_t *section, char *err, size_t errlen);
void hr_privacy_free(hr_privacy *p);
const hr_pii *hr_privacy_detector(const hr_privacy *p);
int hr_privacy_policy_find(const hr_privacy *p, const char *name); /* -1 when none */

typedef struct hr_privacy_decision {
    const char *policy;         /* the policy that applied (the route's, else the key's) */
    hr_data_class data_class;
    hr_pii_action action[HR_PII_MAX_CLASSES]; /* per class, after the rules */
    hr_pii_counts counts;       /* what was found, per class */
    bool blocked;               /* nothing may leave */
    int blocked_class;          /* the first class found whose action is block, or -1 */
    bool redact;                /* something found must be replaced before sending */
    uint64_t redact_mask;       /* the classes to replace */
} hr_privacy_decision;

/* Decide for one request body (an OpenAI request, scanned as
 * hr_pii_scan_json does). route_policy and key_id may be NULL; header is
 * the X-Hearth-Data-Class value or NULL. Returns 0, HR_EINVAL (a bad header
 * or an unknown route policy), HR_ENOMEM, or HR_ETOOBIG (a configured
 * pattern hit PCRE2's limits: the caller must treat the body as blocked). */
int hr_privacy_decide(const hr_privacy *p, const char *route_policy, const char *key_id,
                      const char *header, const struct json_t *req, hr_privacy_decision *d);

#endif
