/* SPDX-License-Identifier: MIT */
/* route.c -- the route table: each route's policy, threshold, hold-back and
 * pre-gate (a prompt-length limit and "always cloud" patterns, compiled once
 * with PCRE2 and its JIT). Built at start-up, read-only afterwards. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "router/router.h"

#include <pcre2.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

struct hr_route {
    hr_route *next;
    char *name, *upstream, *privacy;
    hr_policy policy;
    double threshold;
    uint32_t holdback;
    int64_t max_prompt_tokens;
    pcre2_code *re[HR_ROUTE_MAX_PATTERNS];
    size_t n_re;
    bool local_override;
    bool live_cloud;
};

struct hr_router {
    hr_route *routes;
    hr_conf_model conf;
};

int hr_router_new(hr_router **out, const hr_conf_model *m)
{
    *out = hr_calloc(1, sizeof **out);
    if (!*out) {
        return HR_ENOMEM;
    }
    (*out)->conf = *m;
    return 0;
}

static void route_free(hr_route *rt)
{
    for (size_t i = 0; i < rt->n_re; i++) {
        pcre2_code_free(rt->re[i]);
    }
    hr_free(rt->name);
    hr_free(rt->upstream);
    hr_free(rt->privacy);
    hr_free(rt);
}

void hr_router_free(hr_router *r)
{
    if (!r) {
        return;
    }
    while (r->routes) {
        hr_route *rt = r->routes;
        r->routes = rt->next;
        route_free(rt);
    }
    hr_free(r);
}

static int compile(hr_route *rt, const char *pat, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return hr_errf(err, errlen, HR_EINVAL, "route %s: bad pattern '%s' at offset %zu: %s",
                       rt->name, pat, (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is off */
    rt->re[rt->n_re++] = re;
    return 0;
}

int hr_router_add(hr_router *r, const hr_route_opts *o, char *err, size_t errlen)
{
    if (!o->name || !*o->name) {
        return hr_errf(err, errlen, HR_EINVAL, "a route needs a name");
    }
    if ((unsigned)o->policy > HR_POLICY_CLOUD_FALLBACK) {
        return hr_errf(err, errlen, HR_EINVAL, "route %s: unknown policy", o->name);
    }
    if (o->policy != HR_POLICY_LOCAL_ONLY && !o->upstream) {
        return hr_errf(err, errlen, HR_EINVAL, "route %s: policy %s needs an upstream", o->name,
                       hr_policy_name(o->policy));
    }
    if (o->threshold > 1.0) {
        return hr_errf(err, errlen, HR_EINVAL, "route %s: threshold must be in [0, 1]", o->name);
    }
    if (hr_router_find(r, o->name)) {
        return hr_errf(err, errlen, HR_EINVAL, "route %s is defined twice", o->name);
    }
    hr_route *rt = hr_calloc(1, sizeof *rt);
    if (!rt || !(rt->name = hr_strdup(o->name)) ||
        (o->upstream && !(rt->upstream = hr_strdup(o->upstream))) ||
        (o->privacy && !(rt->privacy = hr_strdup(o->privacy)))) {
        if (rt) {
            route_free(rt);
        }
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    rt->policy = o->policy;
    rt->threshold = o->threshold < 0 ? HR_ROUTE_DEFAULT_THRESHOLD : o->threshold;
    rt->holdback = o->holdback_tokens ? o->holdback_tokens : HR_ROUTE_DEFAULT_HOLDBACK;
    rt->max_prompt_tokens = o->max_prompt_tokens;
    rt->local_override = !o->no_local_override;
    rt->live_cloud = o->live_cloud_stream;
    for (size_t i = 0; i < o->n_always_cloud && i < HR_ROUTE_MAX_PATTERNS; i++) {
        int rc = compile(rt, o->always_cloud[i], err, errlen);
        if (rc < 0) {
            route_free(rt);
            return rc;
        }
    }
    rt->next = r->routes;
    r->routes = rt;
    return 0;
}

const hr_route *hr_router_find(const hr_router *r, const char *name)
{
    const hr_route *rt = r && name ? r->routes : NULL;
    while (rt && strcmp(rt->name, name) != 0) {
        rt = rt->next;
    }
    return rt;
}

const hr_conf_model *hr_router_conf(const hr_router *r)
{
    return &r->conf;
}

const char *hr_router_route_name(const hr_router *r, size_t i)
{
    const hr_route *rt = r ? r->routes : NULL;
    while (rt && i--) {
        rt = rt->next;
    }
    return rt ? rt->name : NULL;
}

const char *hr_route_name(const hr_route *rt) { return rt->name; }
hr_policy hr_route_policy(const hr_route *rt) { return rt->policy; }
const char *hr_route_upstream(const hr_route *rt) { return rt->upstream; }
double hr_route_threshold(const hr_route *rt) { return rt->threshold; }
uint32_t hr_route_holdback(const hr_route *rt) { return rt->holdback; }
bool hr_route_local_override(const hr_route *rt) { return rt->local_override; }
bool hr_route_live_cloud_stream(const hr_route *rt) { return rt->live_cloud; }
const char *hr_route_privacy(const hr_route *rt) { return rt->privacy; }

const char *hr_route_pregate(const hr_route *rt, const char *text, size_t len, size_t n_tokens)
{
    if (rt->max_prompt_tokens > 0 && (int64_t)n_tokens > rt->max_prompt_tokens) {
        return "pregate_length";
    }
    for (size_t i = 0; i < rt->n_re; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(rt->re[i], NULL);
        int rc = md ? pcre2_match(rt->re[i], (PCRE2_SPTR)text, len, 0, 0, md, NULL) : -1;
        pcre2_match_data_free(md);
        if (rc >= 0) {
            return "pregate_pattern";
        }
    }
    return NULL;
}
