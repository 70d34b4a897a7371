/* SPDX-License-Identifier: MIT */
/* redact.c -- `hearth redact`: the privacy detector on the command line.
 *
 * Reads text on stdin and prints it with each finding replaced by a typed
 * placeholder; the findings (class, placeholder, byte range, never the
 * value) go to stderr, or everything as one JSON document with --json. With
 * --corpus it scores the detector on a labelled JSONL file instead, one
 * {"text": ..., "findings": [{"type": ..., "value": ...}]} per line, and
 * prints precision and recall per class. Main thread only. */
#include "cli/cli.h"
#include "cli/config.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "privacy/privacy.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"

#define MAX_SPECS 32
#define MAX_INPUT ((size_t)256 << 20)
#define MAX_ROW 256 /* findings per corpus line that can be matched */

typedef struct specs {
    const char *pattern_arg[MAX_SPECS], *deny_arg[MAX_SPECS];
    size_t n_pattern, n_deny;
    hr_pii_pattern pattern[MAX_SPECS];
    hr_pii_deny deny[MAX_SPECS];
    char *owned[2 * MAX_SPECS];
    const char **words[MAX_SPECS];
    size_t n_owned;
} specs;

static void specs_free(specs *s)
{
    for (size_t i = 0; i < s->n_owned; i++) {
        hr_free(s->owned[i]);
    }
    for (size_t i = 0; i < s->n_deny; i++) {
        hr_free(s->words[i]);
    }
}

/* "NAME=REST" into a copy cut at the '='; NULL (with a message) when bad. */
static char *split_spec(specs *s, const char *opt, const char *arg, char **rest)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "hearth redact: --%s needs NAME=%s, got '%s'\n", opt,
                opt[0] == 'p' ? "REGEX" : "word1,word2", arg);
        return NULL;
    }
    char *copy = hr_strdup(arg);
    if (!copy) {
        fprintf(stderr, "hearth redact: out of memory\n");
        return NULL;
    }
    s->owned[s->n_owned++] = copy;
    copy[eq - arg] = '\0';
    *rest = copy + (eq - arg) + 1;
    return copy;
}

static int parse_deny(specs *s, size_t i)
{
    char *words;
    char *name = split_spec(s, "deny", s->deny_arg[i], &words);
    if (!name) {
        return HR_CLI_USAGE;
    }
    size_t n = 1;
    for (const char *p = words; *p; p++) {
        n += *p == ',';
    }
    s->words[i] = hr_calloc(n, sizeof *s->words[i]);
    if (!s->words[i]) {
        fprintf(stderr, "hearth redact: out of memory\n");
        return HR_CLI_FAIL;
    }
    size_t k = 0;
    for (char *w = words; w; k++) {
        char *comma = strchr(w, ',');
        if (comma) {
            *comma = '\0';
        }
        s->words[i][k] = w;
        w = comma ? comma + 1 : NULL;
    }
    s->deny[i] = (hr_pii_deny){name, s->words[i], k};
    return 0;
}

/* The detector the options describe. */
static int open_detector(specs *s, hr_pii **d)
{
    for (size_t i = 0; i < s->n_pattern; i++) {
        char *regex;
        char *name = split_spec(s, "pattern", s->pattern_arg[i], &regex);
        if (!name) {
            return HR_CLI_USAGE;
        }
        s->pattern[i] = (hr_pii_pattern){name, regex};
    }
    for (size_t i = 0; i < s->n_deny; i++) {
        int rc = parse_deny(s, i);
        if (rc != 0) {
            s->n_deny = i + (rc == HR_CLI_USAGE ? 0 : 1);
            return rc;
        }
    }
    hr_pii_config cfg = {s->pattern, s->n_pattern, s->deny, s->n_deny};
    char err[512];
    int rc = hr_pii_new(d, &cfg, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "hearth redact: %s\n", err);
        return rc == HR_EINVAL ? HR_CLI_USAGE : HR_CLI_FAIL;
    }
    return 0;
}

/* The classes named in a comma-separated list, as a mask. */
static int parse_only(const hr_pii *d, const char *list, uint64_t *mask)
{
    *mask = 0;
    while (list && *list) {
        size_t n = strcspn(list, ",");
        char name[HR_PII_MAX_NAME + 1];
        int cls = -1;
        if (n > 0 && n <= HR_PII_MAX_NAME) {
            memcpy(name, list, n);
            name[n] = '\0';
            cls = hr_pii_class_find(d, name);
        }
        if (cls < 0) {
            fprintf(stderr, "hearth redact: --only: unknown class '%.*s'\n", (int)n, list);
            return HR_CLI_USAGE;
        }
        *mask |= HR_PII_BIT(cls);
        list += n + (list[n] == ',');
    }
    return 0;
}

/* ---- redacting stdin ---------------------------------------------------------- */

static int read_all(FILE *f, hr_buf *b)
{
    char chunk[65536];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n == 0) {
            break;
        }
        if (b->len + n > MAX_INPUT) {
            return HR_ETOOBIG;
        }
        if (hr_buf_append(b, chunk, n) < 0) {
            return HR_ENOMEM;
        }
    }
    return ferror(f) ? HR_EIO : 0;
}

static json_t *counts_json(const hr_pii *d, const hr_pii_counts *c)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < hr_pii_n_classes(d); i++) {
        json_object_set_new(o, hr_pii_class_name(d, (int)i), json_integer(c->n[i]));
    }
    return o;
}

static int print_json(const hr_pii *d, const hr_buf *text, const hr_pii_findings *f,
                      const hr_pii_counts *c)
{
    json_t *doc = json_object(), *list = json_array();
    for (size_t i = 0; doc && list && i < f->n; i++) {
        char ph[64];
        const hr_pii_finding *x = &f->v[i];
        int n = hr_pii_placeholder(d, x->cls, x->num, ph, sizeof ph);
        json_array_append_new(list, json_pack("{s:s, s:o, s:I, s:I}", "type",
                                              hr_pii_class_name(d, x->cls), "placeholder",
                                              n > 0 ? json_string(ph) : json_null(), "start",
                                              (json_int_t)x->start, "end", (json_int_t)x->end));
    }
    json_object_set_new(doc, "text", json_stringn(text->p ? text->p : "", text->len));
    json_object_set_new(doc, "findings", list);
    json_object_set_new(doc, "counts", counts_json(d, c));
    char *s = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (!s) {
        return HR_ENOMEM;
    }
    puts(s);
    hr_free(s); /* jansson allocates through hr_malloc (hr__cli_redact) */
    return 0;
}

static void print_findings(const hr_pii *d, const hr_pii_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        char ph[64];
        const hr_pii_finding *x = &f->v[i];
        if (hr_pii_placeholder(d, x->cls, x->num, ph, sizeof ph) < 0) {
            hr_strlcpy(ph, "-", sizeof ph);
        }
        fprintf(stderr, "%s\t%s\t%zu\t%zu\n", hr_pii_class_name(d, x->cls), ph, x->start,
                x->end - x->start);
    }
}

/* With a config's policy: say when the text would not leave at all. */
static void print_blocked(const hr_pii *d, const hr_privacy_decision *dec,
                          const hr_pii_findings *f)
{
    for (size_t k = 0; dec && k < f->n; k++) {
        if (dec->action[f->v[k].cls] == HR_PII_BLOCK || dec->data_class == HR_DATA_RESTRICTED) {
            fprintf(stderr, "policy %s: this text would stay on this machine (%s %s)\n",
                    dec->policy, dec->data_class == HR_DATA_RESTRICTED ? "restricted data," : "it holds",
                    hr_pii_class_name(d, f->v[k].cls));
            return;
        }
    }
}

static int redact_stdin(const hr_pii *d, uint64_t mask, bool json,
                        const hr_privacy_decision *dec)
{
    hr_buf in = {0}, out = {0};
    hr_pii_findings f = {0};
    hr_pii_redactor *r = NULL;
    int rc = read_all(stdin, &in);
    rc = rc < 0 ? rc : hr_pii_redactor_new(&r, d, mask);
    rc = rc < 0 ? rc : hr_pii_redact(r, in.p ? in.p : "", in.len, &out, &f);
    if (rc == 0 && json) {
        rc = print_json(d, &out, &f, hr_pii_redactor_counts(r));
    } else if (rc == 0) {
        fwrite(out.p ? out.p : "", 1, out.len, stdout);
        print_findings(d, &f);
    }
    if (rc == 0) {
        print_blocked(d, dec, &f);
    }
    if (rc < 0) {
        fprintf(stderr, "hearth redact: %s\n", hr_strerror(rc));
    }
    hr_pii_redactor_free(r);
    hr_pii_findings_deinit(&f);
    hr_buf_deinit(&in);
    hr_buf_deinit(&out);
    return rc < 0 ? HR_CLI_FAIL : HR_CLI_OK;
}

/* ---- scoring a corpus --------------------------------------------------------- */

typedef struct tally {
    size_t tp[HR_PII_MAX_CLASSES], fp[HR_PII_MAX_CLASSES], fn[HR_PII_MAX_CLASSES];
} tally;

/* The first found finding not yet used that is cls with exactly value, or
 * f->n when there is none. */
static size_t match_one(const hr_pii_findings *f, const char *text, const bool *used, int cls,
                        const char *value)
{
    size_t vn = strlen(value);
    for (size_t k = 0; k < f->n && k < MAX_ROW; k++) {
        const hr_pii_finding *x = &f->v[k];
        if (!used[k] && x->cls == cls && x->end - x->start == vn &&
            memcmp(text + x->start, value, vn) == 0) {
            return k;
        }
    }
    return f->n;
}

static void count_extras(const hr_pii *d, const hr_pii_findings *f, const char *text,
                         const bool *used, tally *t, bool verbose, size_t lineno)
{
    for (size_t k = 0; k < f->n; k++) {
        if (k < MAX_ROW && used[k]) {
            continue;
        }
        t->fp[f->v[k].cls]++;
        if (verbose) {
            fprintf(stderr, "line %zu: extra %s '%.*s'\n", lineno,
                    hr_pii_class_name(d, f->v[k].cls), (int)(f->v[k].end - f->v[k].start),
                    text + f->v[k].start);
        }
    }
}

/* Match one line's expected findings against what the detector found, by
 * class and exact value; a finding matches at most once. */
static int score_row(const hr_pii *d, json_t *row, tally *t, bool verbose, size_t lineno,
                     char *err, size_t errlen)
{
    json_t *jt = json_object_get(row, "text"), *want = json_object_get(row, "findings");
    if (!json_is_string(jt) || !json_is_array(want)) {
        return hr_errf(err, errlen, HR_EFORMAT, "line %zu: expected {\"text\": ..., "
                       "\"findings\": [...]}", lineno);
    }
    const char *text = json_string_value(jt);
    hr_pii_findings f = {0};
    int rc = hr_pii_scan(d, text, json_string_length(jt), &f);
    if (rc < 0) {
        return hr_errf(err, errlen, rc, "line %zu: %s", lineno, hr_strerror(rc));
    }
    bool used[MAX_ROW] = {false};
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w) {
        const char *type = json_string_value(json_object_get(w, "type"));
        const char *value = json_string_value(json_object_get(w, "value"));
        int cls = hr_pii_class_find(d, type);
        if (cls < 0 || !value) {
            hr_pii_findings_deinit(&f);
            return hr_errf(err, errlen, HR_EFORMAT, "line %zu: finding %zu needs a known "
                           "\"type\" and a \"value\"", lineno, i + 1);
        }
        size_t k = match_one(&f, text, used, cls, value);
        if (k < f.n) {
            used[k] = true;
            t->tp[cls]++;
            continue;
        }
        t->fn[cls]++;
        if (verbose) {
            fprintf(stderr, "line %zu: missed %s '%s'\n", lineno, type, value);
        }
    }
    count_extras(d, &f, text, used, t, verbose, lineno);
    hr_pii_findings_deinit(&f);
    return 0;
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 1.0;
}

static void print_score(const hr_pii *d, const tally *t)
{
    size_t tp = 0, fp = 0, fn = 0;
    printf("| %-10s | %9s | %6s | %5s | %5s | %5s |\n", "type", "precision", "recall", "TP",
           "FP", "FN");
    printf("|------------|----------:|-------:|------:|------:|------:|\n");
    for (size_t c = 0; c < hr_pii_n_classes(d); c++) {
        printf("| %-10s | %9.3f | %6.3f | %5zu | %5zu | %5zu |\n", hr_pii_class_name(d, (int)c),
               ratio(t->tp[c], t->tp[c] + t->fp[c]), ratio(t->tp[c], t->tp[c] + t->fn[c]),
               t->tp[c], t->fp[c], t->fn[c]);
        tp += t->tp[c];
        fp += t->fp[c];
        fn += t->fn[c];
    }
    printf("| %-10s | %9.3f | %6.3f | %5zu | %5zu | %5zu |\n", "all", ratio(tp, tp + fp),
           ratio(tp, tp + fn), tp, fp, fn);
}

static int score_corpus(const hr_pii *d, const char *path, bool verbose)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hearth redact: %s: cannot open\n", path);
        return HR_CLI_FAIL;
    }
    hr_buf all = {0};
    tally t = {0};
    char err[512];
    int rc = read_all(f, &all);
    fclose(f);
    if (rc < 0) {
        hr_errf(err, sizeof err, rc, "%s", hr_strerror(rc));
    }
    size_t lineno = 0, rows = 0;
    for (const char *p = all.p; rc == 0 && p && p < all.p + all.len; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(all.p + all.len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(all.p + all.len - p);
        const char *line = p;
        p += n + 1;
        if (strspn(line, " \t\r") >= n) {
            continue;
        }
        json_t *row = json_loadb(line, n, 0, NULL);
        rc = row ? score_row(d, row, &t, verbose, lineno + 1, err, sizeof err)
                 : hr_errf(err, sizeof err, HR_EFORMAT, "line %zu: not JSON", lineno + 1);
        json_decref(row);
        rows++;
    }
    hr_buf_deinit(&all);
    if (rc == 0 && rows == 0) {
        rc = hr_errf(err, sizeof err, HR_EFORMAT, "no rows");
    }
    if (rc < 0) {
        fprintf(stderr, "hearth redact: %s: %s\n", path, err);
        return HR_CLI_FAIL;
    }
    printf("%zu lines\n\n", rows);
    print_score(d, &t);
    return HR_CLI_OK;
}

static const char REDACT_USAGE[] =
    "[options] < TEXT\n\n"
    "Print the text on stdin with personal data and secrets replaced by typed\n"
    "placeholders (<EMAIL_1>, <CARD_1>, ...) and list the findings on stderr:\n"
    "class, placeholder, byte offset and length, never the values. --corpus\n"
    "scores the detector on labelled JSONL lines instead:\n"
    "{\"text\": ..., \"findings\": [{\"type\": \"email\", \"value\": ...}]}";

/* The detector and the named policy's actions from a hearth config. */
static int open_config(const char *path, const char *policy, hr_config *cfg, hr_privacy **pv,
                       hr_privacy_decision *dec)
{
    char err[512];
    if (hr_config_load(cfg, path, err, sizeof err) < 0 ||
        hr_privacy_new(pv, cfg->privacy, err, sizeof err) < 0) {
        fprintf(stderr, "hearth redact: %s\n", err);
        return HR_CLI_FAIL;
    }
    json_t *empty = json_object();
    int rc = empty ? hr_privacy_decide(*pv, policy ? policy : NULL, NULL, NULL, empty, dec)
                   : HR_ENOMEM;
    json_decref(empty);
    if (rc == HR_EINVAL) {
        fprintf(stderr, "hearth redact: %s: no privacy policy '%s'\n", path, policy);
        return HR_CLI_USAGE;
    }
    return rc < 0 ? HR_CLI_FAIL : 0;
}

int hr__cli_redact(int argc, char **argv)
{
    specs s = {0};
    bool json = false, verbose = false;
    const char *corpus = NULL, *only = NULL, *config = NULL, *policy = NULL;
    const hr_opt opts[] = {
        {"config", 'c', HR_OPT_STRING, &config, 0, 0, NULL, "FILE",
         "use the privacy section of a hearth config: its classes and a policy's actions"},
        {"policy", 0, HR_OPT_STRING, &policy, 0, 0, NULL, "NAME",
         "with --config, the policy to apply (default: its default policy)"},
        {"json", 0, HR_OPT_FLAG, &json, 0, 0, NULL, NULL,
         "print {\"text\", \"findings\", \"counts\"} on stdout"},
        {"pattern", 'p', HR_OPT_STRLIST, s.pattern_arg, 0, MAX_SPECS, &s.n_pattern,
         "NAME=REGEX", "also find matches of REGEX as class NAME (repeatable)"},
        {"deny", 'd', HR_OPT_STRLIST, s.deny_arg, 0, MAX_SPECS, &s.n_deny, "NAME=W1,W2",
         "also find these words, any case, as class NAME (repeatable)"},
        {"only", 0, HR_OPT_STRING, &only, 0, 0, NULL, "CLASS,...",
         "redact only these classes (others are still listed)"},
        {"corpus", 0, HR_OPT_STRING, &corpus, 0, 0, NULL, "FILE",
         "score precision and recall on a labelled JSONL file"},
        {"verbose", 'v', HR_OPT_FLAG, &verbose, 0, 0, NULL, NULL,
         "with --corpus, list each miss and extra on stderr"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    size_t n_pos = 0;
    json_set_alloc_funcs(hr_malloc, hr_free);
    int rc = hr__cli_parse("redact", REDACT_USAGE, opts, argc, argv, pos, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (config && (s.n_pattern || s.n_deny)) {
        fprintf(stderr, "hearth redact: --config already defines the classes; drop --pattern "
                        "and --deny\n");
        return HR_CLI_USAGE;
    }
    if (policy && !config) {
        fprintf(stderr, "hearth redact: --policy needs --config\n");
        return HR_CLI_USAGE;
    }
    hr_pii *own = NULL;
    hr_privacy *pv = NULL;
    hr_config cfg;
    hr_config_init(&cfg);
    hr_privacy_decision dec;
    uint64_t mask = HR_PII_ALL;
    rc = config ? open_config(config, policy, &cfg, &pv, &dec) : open_detector(&s, &own);
    const hr_pii *d = pv ? hr_privacy_detector(pv) : own;
    if (rc == 0 && pv) {
        mask = dec.redact_mask;
    }
    if (rc == 0 && only) {
        rc = parse_only(d, only, &mask);
    }
    if (rc == 0) {
        rc = corpus ? score_corpus(d, corpus, verbose)
                    : redact_stdin(d, mask, json, pv ? &dec : NULL);
    }
    hr_privacy_free(pv);
    hr_config_free(&cfg);
    hr_pii_free(own);
    specs_free(&s);
    return rc;
}
