/* SPDX-License-Identifier: MIT */
/* audit_fill.c -- test helper: append N request rows to an audit database
 * through the public API, as the server would.
 *
 * Usage: audit_fill DB N [--age-days D] [--key-env NAME] [--prompt TEXT]
 * Rows are stamped D days ago (default 0: now) and carry request ids
 * "fill-1", "fill-2", ...; --prompt gives every row that prompt text. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "util/err.h"
#include "util/str.h"

static int usage(void)
{
    fprintf(stderr, "usage: audit_fill DB N [--age-days D] [--key-env NAME] [--prompt TEXT]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int64_t n = 0, age_days = 0;
    const char *key_env = NULL, *prompt = NULL;
    if (argc < 3 || hr_parse_i64(argv[2], 0, 10000000, &n) < 0) {
        return usage();
    }
    for (int i = 3; i < argc; i++) {
        bool more = i + 1 < argc;
        if (more && strcmp(argv[i], "--age-days") == 0) {
            if (hr_parse_i64(argv[++i], 0, 100000, &age_days) < 0) {
                return usage();
            }
        } else if (more && strcmp(argv[i], "--key-env") == 0) {
            key_env = argv[++i];
        } else if (more && strcmp(argv[i], "--prompt") == 0) {
            prompt = argv[++i];
        } else {
            return usage();
        }
    }
    hr_audit_opts o = {.path = argv[1], .key_env = key_env};
    hr_audit *a = NULL;
    char err[512];
    if (hr_audit_open(&a, &o, err, sizeof err) < 0) {
        fprintf(stderr, "audit_fill: %s\n", err);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000 - age_days * 86400000;
    hr_audit_pii pii[] = {{"email", 2, "redact"}, {"phone", 1, "allow"}};
    int rc = 0;
    for (int64_t i = 1; i <= n && rc == 0; i++) {
        char id[32];
        snprintf(id, sizeof id, "fill-%lld", (long long)i);
        hr_audit_record r = {
            .time_ms = t + i,
            .request_id = id,
            .key_id = "key-3fa2c1",
            .route = "auto",
            .policy = "local_first",
            .local_model = "stories260k",
            .upstream = i % 2 ? "openai" : NULL,
            .upstream_model = i % 2 ? "gpt-4o-mini" : NULL,
            .escalated = i % 2,
            .escalation_reason = i % 2 ? "low_confidence" : NULL,
            .data_class = "internal",
            .pii = pii,
            .n_pii = i % 3 ? 2 : 0,
            .prompt = prompt,
            .http_status = 200,
            .local_tokens_in = 12,
            .local_tokens_out = 30,
            .upstream_tokens_in = i % 2 ? 12 : 0,
            .upstream_tokens_out = i % 2 ? 40 : 0,
            .latency_ms = 120 + i,
            .cost_usd = i % 2 ? 0.0000258 : 0,
        };
        rc = hr_audit_log(a, &r);
    }
    hr_audit_stats st;
    rc = rc ? rc : hr_audit_flush(a);
    hr_audit_stats_get(a, &st);
    hr_audit_close(a);
    if (rc < 0 || st.written != (uint64_t)n) {
        fprintf(stderr, "audit_fill: %s (%llu of %lld rows written)\n", hr_strerror(rc),
                (unsigned long long)st.written, (long long)n);
        return 1;
    }
    return 0;
}
