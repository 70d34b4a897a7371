/* SPDX-License-Identifier: MIT */
/* redact_bench.c -- the cost of privacy redaction on the request path.
 *
 * Throughput: hr_pii_redact over 8 MB of mixed prose with some personal data
 * in it (about one finding per 400 bytes). Latency: a whole chat request of
 * 1, 4 and 64 KB (system and user messages) through a fresh redactor and
 * hr_pii_redact_json, i.e. the scan, the placeholders and the rewritten
 * strings, as a gateway would do per request. Prints a markdown table, or
 * one JSON object with --json. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "privacy/privacy.h"
#include "util/alloc.h"
#include "util/buf.h"

static const char *const WORDS[] = {
    "the", "deployment", "failed", "again", "after", "we", "rotated", "certificates", "and",
    "customer", "asked", "about", "their", "invoice", "from", "March", "please", "summarise",
    "this", "thread", "for", "legal", "team", "before", "Friday", "meeting", "in", "Berlin",
    "order", "shipped", "version", "2.4.1", "at", "14:30", "on", "2024-03-12", "with", "42",
    "units", "priority", "high", "ticket", "INC-20931", "resolved", "cache", "latency", "p99",
};

static const char *const PII[] = {
    "anna.novak@example.com", "+44 20 7946 0958", "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00", "SSN 123-45-6789", "192.168.10.42",
    "2001:db8::8a2e:370:7334", "DOB: 1985-03-12", "api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "(415) 555-2671", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlX2hlcmU",
};

static unsigned long long seed = 88172645463325252ull;

static unsigned next(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed >> 32);
}

/* len bytes of prose with a finding about every 400 bytes. */
static void mixed_text(hr_buf *b, size_t len)
{
    size_t since = 0;
    while (b->len < len) {
        const char *w = WORDS[next() % (sizeof WORDS / sizeof WORDS[0])];
        if (since > 300 + next() % 200) {
            w = PII[next() % (sizeof PII / sizeof PII[0])];
            since = 0;
        }
        hr_buf_append_str(b, w);
        hr_buf_append_str(b, next() % 12 == 0 ? ". " : " ");
        since += strlen(w) + 1;
    }
    b->len = len;
    b->p[len] = '\0';
}

static double throughput_mbs(const hr_pii *d, size_t *n_found)
{
    hr_buf text = {0}, out = {0};
    mixed_text(&text, 8u << 20);
    double best = 1e30;
    for (int k = 0; k < 5; k++) {
        hr_pii_redactor *r = NULL;
        hr_pii_findings f = {0};
        hr_buf_reset(&out);
        double t0 = bench_now_us();
        if (hr_pii_redactor_new(&r, d, HR_PII_ALL) < 0 ||
            hr_pii_redact(r, text.p, text.len, &out, &f) < 0) {
            fprintf(stderr, "redact_bench: redaction failed\n");
            exit(1);
        }
        double t = bench_now_us() - t0;
        best = t < best ? t : best;
        *n_found = f.n;
        hr_pii_findings_deinit(&f);
        hr_pii_redactor_free(r);
    }
    hr_buf_deinit(&text);
    hr_buf_deinit(&out);
    return (8.0 * 1048576.0 / 1e6) / (best / 1e6);
}

typedef struct lat {
    size_t bytes;
    int iters;
    double p50, p99;
} lat;

static void latency(const hr_pii *d, lat *l)
{
    hr_buf sys = {0}, user = {0};
    mixed_text(&sys, l->bytes / 8);
    mixed_text(&user, l->bytes - l->bytes / 8);
    json_t *req = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model", "auto", "messages",
                            "role", "system", "content", sys.p, "role", "user", "content",
                            user.p);
    double *t = calloc((size_t)l->iters, sizeof *t);
    for (int i = 0; req && t && i < l->iters; i++) {
        json_t *copy = json_deep_copy(req);
        hr_pii_redactor *r = NULL;
        double t0 = bench_now_us();
        int rc = hr_pii_redactor_new(&r, d, HR_PII_ALL);
        rc = rc < 0 ? rc : hr_pii_redact_json(r, copy);
        hr_pii_redactor_free(r);
        t[i] = bench_now_us() - t0;
        json_decref(copy);
        if (rc < 0) {
            fprintf(stderr, "redact_bench: redaction failed\n");
            exit(1);
        }
    }
    qsort(t, (size_t)l->iters, sizeof *t, bench_cmp_double);
    l->p50 = t[l->iters / 2];
    l->p99 = t[(size_t)(l->iters * 0.99)];
    free(t);
    json_decref(req);
    hr_buf_deinit(&sys);
    hr_buf_deinit(&user);
}

int main(int argc, char **argv)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: hearth-redact-bench [--json]\n");
        return 2;
    }
    hr_pii *d = NULL;
    char err[256];
    if (hr_pii_new(&d, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "redact_bench: %s\n", err);
        return 1;
    }
    size_t found = 0;
    double mbs = throughput_mbs(d, &found);
    lat l[] = {{1024, 20000, 0, 0}, {4096, 10000, 0, 0}, {65536, 1000, 0, 0}};
    for (size_t i = 0; i < 3; i++) {
        latency(d, &l[i]);
    }
    if (json) {
        printf("{\"throughput_mb_s\": %.1f, \"findings_per_8mb\": %zu, \"latency_us\": {", mbs,
               found);
        for (size_t i = 0; i < 3; i++) {
            printf("%s\"%zu\": {\"p50\": %.1f, \"p99\": %.1f}", i ? ", " : "", l[i].bytes,
                   l[i].p50, l[i].p99);
        }
        printf("}}\n");
    } else {
        printf("redaction throughput: %.1f MB/s (8 MB of mixed text, %zu findings)\n\n", mbs,
               found);
        printf("| request | p50 (us) | p99 (us) |\n|---:|---:|---:|\n");
        for (size_t i = 0; i < 3; i++) {
            printf("| %zu KB | %.1f | %.1f |\n", l[i].bytes / 1024, l[i].p50, l[i].p99);
        }
    }
    hr_pii_free(d);
    return 0;
}
