/* SPDX-License-Identifier: MIT */
/* router_bench.c -- the cost of a routing decision: the pre-gate (a regex
 * and a length check) on a 1 KB prompt, then confidence from a 32-token
 * answer with top-5 alternatives, then the threshold test. Prints the
 * median microseconds per decision over several batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "router/router.h"

int main(void)
{
    enum { BATCHES = 7, PER = 20000, TOKENS = 32 };
    hr_conf_model m;
    hr_conf_model_default(&m);
    hr_router *r = NULL;
    hr_route_opts o = {.name = "auto", .policy = HR_POLICY_LOCAL_FIRST, .upstream = "cloud",
                       .threshold = -1, .max_prompt_tokens = 4000,
                       .always_cloud = {"(?i)\\b(translate|legal advice)\\b"}, .n_always_cloud = 1};
    char err[256];
    if (hr_router_new(&r, &m) < 0 || hr_router_add(r, &o, err, sizeof err) < 0) {
        fprintf(stderr, "router_bench: %s\n", err);
        return 1;
    }
    const hr_route *rt = hr_router_find(r, "auto");
    char prompt[1024];
    for (size_t i = 0; i < sizeof prompt - 1; i++) {
        prompt[i] = "abcdefgh ijklmnop qrstu vwxyz "[i % 30];
    }
    prompt[sizeof prompt - 1] = '\0';
    float lp[TOKENS], top[5];
    for (int i = 0; i < TOKENS; i++) {
        lp[i] = -0.05f * (float)(i % 7);
    }
    double med[BATCHES];
    volatile double sink = 0;
    for (int b = 0; b < BATCHES; b++) {
        double t0 = bench_now_us();
        for (int k = 0; k < PER; k++) {
            hr_conf_acc acc = {0};
            const char *gate = hr_route_pregate(rt, prompt, strlen(prompt), 250);
            for (int i = 0; i < TOKENS; i++) {
                for (int j = 0; j < 5; j++) {
                    top[j] = lp[i] - (float)j;
                }
                hr_conf_acc_add(&acc, lp[i], top, 5);
            }
            double f[HR_CONF_N_FEATURES];
            hr_conf_features(&acc, f);
            double c = hr_conf_score(&m, f);
            sink += (gate == NULL) + (c < hr_route_threshold(rt));
            hr_conf_acc_deinit(&acc);
        }
        med[b] = (bench_now_us() - t0) / PER;
    }
    qsort(med, BATCHES, sizeof med[0], bench_cmp_double);
    printf("{\"routing_decision_us\": %.3f, \"tokens\": %d, \"prompt_bytes\": %zu}\n",
           med[BATCHES / 2], TOKENS, strlen(prompt));
    hr_router_free(r);
    return sink < 0;
}
