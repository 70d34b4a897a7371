/* SPDX-License-Identifier: MIT */
/* config.c -- the YAML config file (`hearth serve --config FILE`): read with
 * libyaml into a JSON tree (one way to walk values, and errors can name
 * their key path), then checked key by key. Unknown keys are errors, so a
 * typo never silently changes behaviour. API keys are never in the file:
 * an upstream names the environment variable that holds its key.
 * Main thread, at start-up. */
#include "cli/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/err.h"
#include "util/str.h"

/* ---- YAML -> JSON ------------------------------------------------------------ */

/* A plain scalar as YAML 1.2's core schema reads it. */
static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return json_stringn(v, len);
    }
    if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null")) {
        return json_null();
    }
    if (!strcmp(v, "true") || !strcmp(v, "false")) {
        return json_boolean(v[0] == 't');
    }
    int64_t i;
    double d;
    if (hr_parse_i64(v, INT64_MIN, INT64_MAX, &i) == 0) {
        return json_integer(i);
    }
    if (hr_parse_double(v, -1e308, 1e308, &d) == 0) {
        return json_real(d);
    }
    return json_stringn(v, len);
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > 32) {
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        return scalar(n);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             a && it < n->data.sequence.items.top; it++) {
            json_t *v = convert(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v || json_array_append_new(a, v) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        json_t *v = convert(doc, yaml_document_get_node(doc, p->value), depth + 1);
        if (!k || k->type != YAML_SCALAR_NODE || !v ||
            json_object_set_new(o, (const char *)k->data.scalar.value, v) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *load_yaml(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        hr_errf(err, errlen, 0, "%s: cannot open: %s", path, hr_strerror(-errno));
        return NULL;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    json_t *out = NULL;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        hr_errf(err, errlen, 0, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        out = root ? convert(&doc, root, 0) : json_object();
        if (!json_is_object(out)) {
            hr_errf(err, errlen, 0, "%s: the top level must be a mapping of settings", path);
            json_decref(out);
            out = NULL;
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return out;
}

/* ---- checking ------------------------------------------------------------------ */

typedef struct key {
    const char *name;
    int type; /* JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_INTEGER, JSON_REAL, JSON_TRUE */
} key;

/* Every key of o must be in keys[] with the right type (integers pass as
 * reals; JSON_TRUE means a boolean). */
static int check_keys(json_t *o, const char *where, const key *keys, char *err, size_t errlen)
{
    if (!o) {
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        const key *m = keys;
        while (m->name && strcmp(m->name, k) != 0) {
            m++;
        }
        if (!m->name) {
            return hr_errf(err, errlen, HR_EINVAL, "%s.%s: unknown setting", where, k);
        }
        int t = json_typeof(v);
        bool ok = t == m->type || (m->type == JSON_REAL && t == JSON_INTEGER) ||
                  (m->type == JSON_TRUE && json_is_boolean(v)) || json_is_null(v);
        if (!ok) {
            static const char *names[] = {"a mapping", "a list", "a string", "an integer",
                                          "a number", "true or false"};
            return hr_errf(err, errlen, HR_EINVAL, "%s.%s: must be %s", where, k,
                           names[m->type <= JSON_TRUE ? m->type : 5]);
        }
    }
    return 0;
}

static int64_t get_int(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static double get_num(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static int load_upstream(hr_config *c, const char *name, json_t *u, char *err, size_t errlen)
{
    static const key keys[] = {{"kind", JSON_STRING},     {"base_url", JSON_STRING},
                               {"model", JSON_STRING},    {"api_key_env", JSON_STRING},
                               {"timeout", JSON_OBJECT},  {"retries", JSON_INTEGER},
                               {"backoff_ms", JSON_INTEGER}, {"max_concurrent", JSON_INTEGER},
                               {"circuit_breaker", JSON_OBJECT}, {"price", JSON_OBJECT},
                               {NULL, 0}};
    static const key tkeys[] = {{"connect_ms", JSON_INTEGER}, {"first_byte_ms", JSON_INTEGER},
                                {"total_ms", JSON_INTEGER}, {NULL, 0}};
    static const key bkeys[] = {{"failures", JSON_INTEGER}, {"reset_ms", JSON_INTEGER}, {NULL, 0}};
    static const key pkeys[] = {{"input_per_1m", JSON_REAL}, {"output_per_1m", JSON_REAL}, {NULL, 0}};
    char where[160];
    snprintf(where, sizeof where, "upstreams.%s", name);
    json_t *t = json_object_get(u, "timeout"), *b = json_object_get(u, "circuit_breaker");
    json_t *p = json_object_get(u, "price");
    int rc = json_is_object(u) ? check_keys(u, where, keys, err, errlen)
                               : hr_errf(err, errlen, HR_EINVAL, "%s: must be a mapping", where);
    rc = rc ? rc : check_keys(t, where, tkeys, err, errlen);
    rc = rc ? rc : check_keys(b, where, bkeys, err, errlen);
    rc = rc ? rc : check_keys(p, where, pkeys, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (c->n_upstreams == HR_CONFIG_MAX_UPSTREAMS) {
        return hr_errf(err, errlen, HR_EINVAL, "at most %d upstreams", HR_CONFIG_MAX_UPSTREAMS);
    }
    hr_upstream_opts *o = &c->upstreams[c->n_upstreams++];
    o->name = name;
    o->kind = json_string_value(json_object_get(u, "kind"));
    o->base_url = json_string_value(json_object_get(u, "base_url"));
    o->model = json_string_value(json_object_get(u, "model"));
    const char *env = json_string_value(json_object_get(u, "api_key_env"));
    o->api_key = env ? getenv(env) : NULL;
    if (env && !o->api_key) {
        return hr_errf(err, errlen, HR_EINVAL, "%s.api_key_env: the environment variable %s is "
                       "not set", where, env);
    }
    o->connect_timeout_ms = (uint32_t)get_int(t, "connect_ms", 0);
    o->first_byte_timeout_ms = (uint32_t)get_int(t, "first_byte_ms", 0);
    o->total_timeout_ms = (uint32_t)get_int(t, "total_ms", 0);
    o->retries = (int32_t)get_int(u, "retries", -1);
    o->backoff_ms = (uint32_t)get_int(u, "backoff_ms", 0);
    o->max_concurrent = (uint32_t)get_int(u, "max_concurrent", 0);
    o->breaker_failures = (uint32_t)get_int(b, "failures", 0);
    o->breaker_reset_ms = (uint32_t)get_int(b, "reset_ms", 0);
    o->price_in_per_m = get_num(p, "input_per_1m", 0);
    o->price_out_per_m = get_num(p, "output_per_1m", 0);
    return 0;
}

static int load_route(hr_config *c, const char *name, json_t *r, char *err, size_t errlen)
{
    static const key keys[] = {{"policy", JSON_STRING},       {"upstream", JSON_STRING},
                               {"threshold", JSON_REAL},      {"holdback_tokens", JSON_INTEGER},
                               {"pregate", JSON_OBJECT},      {"allow_local_override", JSON_TRUE},
                               {"cloud_stream", JSON_STRING}, {"privacy", JSON_STRING},
                               {NULL, 0}};
    static const key gkeys[] = {{"max_prompt_tokens", JSON_INTEGER}, {"always_cloud", JSON_ARRAY},
                                {NULL, 0}};
    char where[160];
    snprintf(where, sizeof where, "routes.%s", name);
    json_t *g = json_object_get(r, "pregate");
    int rc = json_is_object(r) ? check_keys(r, where, keys, err, errlen)
                               : hr_errf(err, errlen, HR_EINVAL, "%s: must be a mapping", where);
    rc = rc ? rc : check_keys(g, where, gkeys, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (c->n_routes == HR_CONFIG_MAX_ROUTES) {
        return hr_errf(err, errlen, HR_EINVAL, "at most %d routes", HR_CONFIG_MAX_ROUTES);
    }
    hr_route_opts *o = &c->routes[c->n_routes++];
    const char *pol = json_string_value(json_object_get(r, "policy"));
    int policy = pol ? hr_policy_parse(pol) : HR_POLICY_LOCAL_FIRST;
    if (policy < 0) {
        return hr_errf(err, errlen, HR_EINVAL, "%s.policy: '%s' is not one of local_first, "
                       "local_only, cloud_only, cloud_fallback", where, pol);
    }
    o->name = name;
    o->policy = (hr_policy)policy;
    o->upstream = json_string_value(json_object_get(r, "upstream"));
    o->threshold = get_num(r, "threshold", -1);
    o->holdback_tokens = (uint32_t)get_int(r, "holdback_tokens", 0);
    o->max_prompt_tokens = get_int(g, "max_prompt_tokens", 0);
    o->no_local_override = json_is_false(json_object_get(r, "allow_local_override"));
    const char *cs = json_string_value(json_object_get(r, "cloud_stream"));
    if (cs && strcmp(cs, "live") != 0 && strcmp(cs, "buffered") != 0) {
        return hr_errf(err, errlen, HR_EINVAL, "%s.cloud_stream: must be buffered or live", where);
    }
    o->live_cloud_stream = cs && strcmp(cs, "live") == 0;
    o->privacy = json_string_value(json_object_get(r, "privacy"));
    json_t *pats = json_object_get(g, "always_cloud");
    for (size_t i = 0; i < json_array_size(pats) && i < HR_ROUTE_MAX_PATTERNS; i++) {
        o->always_cloud[o->n_always_cloud] = json_string_value(json_array_get(pats, i));
        if (!o->always_cloud[o->n_always_cloud++]) {
            return hr_errf(err, errlen, HR_EINVAL, "%s.pregate.always_cloud: must be strings",
                           where);
        }
    }
    return 0;
}

void hr_config_init(hr_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = c->parallel = c->ctx_size = c->threads = c->queue = -1;
    c->audit.retention_days = c->audit.queue = -1;
    c->audit.log_prompts = -1;
}

void hr_config_free(hr_config *c)
{
    json_decref(c->doc);
    hr_config_init(c);
}

static int load_sections(hr_config *c, char *err, size_t errlen)
{
    static const key top[] = {{"model", JSON_STRING}, {"server", JSON_OBJECT},
                              {"confidence", JSON_OBJECT}, {"upstreams", JSON_OBJECT},
                              {"routes", JSON_OBJECT}, {"audit", JSON_OBJECT},
                              {"privacy", JSON_OBJECT}, {NULL, 0}};
    static const key aud[] = {{"path", JSON_STRING}, {"retention_days", JSON_INTEGER},
                              {"queue", JSON_INTEGER}, {"key_env", JSON_STRING},
                              {"log_prompts", JSON_TRUE}, {NULL, 0}};
    static const key srv[] = {{"host", JSON_STRING}, {"port", JSON_INTEGER},
                              {"parallel", JSON_INTEGER}, {"ctx_size", JSON_INTEGER},
                              {"threads", JSON_INTEGER}, {"queue", JSON_INTEGER}, {NULL, 0}};
    static const key conf[] = {{"calibration", JSON_STRING}, {NULL, 0}};
    json_t *d = c->doc, *s = json_object_get(d, "server"), *cf = json_object_get(d, "confidence");
    int rc = check_keys(d, "(top)", top, err, errlen);
    rc = rc ? rc : check_keys(s, "server", srv, err, errlen);
    rc = rc ? rc : check_keys(cf, "confidence", conf, err, errlen);
    json_t *a = json_object_get(d, "audit");
    rc = rc ? rc : check_keys(a, "audit", aud, err, errlen);
    if (rc < 0) {
        return rc;
    }
    c->audit.path = json_string_value(json_object_get(a, "path"));
    c->audit.retention_days = get_int(a, "retention_days", -1);
    c->audit.queue = get_int(a, "queue", -1);
    c->audit.key_env = json_string_value(json_object_get(a, "key_env"));
    json_t *rd = json_object_get(a, "retention_days"), *aq = json_object_get(a, "queue");
    if ((rd && (c->audit.retention_days < 0 || c->audit.retention_days > 36500)) ||
        (aq && (c->audit.queue < 1 || c->audit.queue > (1 << 24)))) {
        return hr_errf(err, errlen, HR_EINVAL, "audit: retention_days must be 0-36500 and "
                       "queue 1-16777216");
    }
    json_t *lp = json_object_get(a, "log_prompts");
    c->audit.log_prompts = json_is_boolean(lp) ? json_is_true(lp) : -1;
    c->privacy = json_object_get(d, "privacy");
    c->model = json_string_value(json_object_get(d, "model"));
    c->host = json_string_value(json_object_get(s, "host"));
    c->port = get_int(s, "port", -1);
    c->parallel = get_int(s, "parallel", -1);
    c->ctx_size = get_int(s, "ctx_size", -1);
    c->threads = get_int(s, "threads", -1);
    c->queue = get_int(s, "queue", -1);
    c->calibration = json_string_value(json_object_get(cf, "calibration"));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(d, "upstreams"), k, v) {
        rc = rc ? rc : load_upstream(c, k, v, err, errlen);
    }
    json_object_foreach(json_object_get(d, "routes"), k, v) {
        rc = rc ? rc : load_route(c, k, v, err, errlen);
    }
    return rc;
}

int hr_config_load(hr_config *c, const char *path, char *err, size_t errlen)
{
    char inner[400];
    hr_config_init(c);
    c->doc = load_yaml(path, err, errlen);
    if (!c->doc) {
        return HR_EINVAL;
    }
    int rc = load_sections(c, inner, sizeof inner);
    if (rc < 0) {
        hr_errf(err, errlen, rc, "%s: %s", path, inner);
        hr_config_free(c);
    }
    return rc;
}
