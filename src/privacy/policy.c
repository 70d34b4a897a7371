/* SPDX-License-Identifier: MIT */
/* policy.c -- what may leave the machine: named privacy policies (an action
 * per PII class and a data class), chosen per route and per API key, and the
 * decision for one request that is about to be sent to an upstream.
 *
 * The rules, in the order they apply:
 *   - restricted data (the policy's data class, or the request's
 *     X-Hearth-Data-Class header) never leaves, found PII or not;
 *   - a class whose action is "block" keeps the whole request local;
 *   - "redact" classes are replaced by placeholders (unless the data class
 *     is public, where only "block" still holds);
 *   - "allow" classes go as they are;
 *   - images cannot be scanned or redacted: "redact" blocks them, and the
 *     built-in policy does.
 * When both the route and the API key name a policy, each class gets the
 * stricter of the two actions and the stricter data class. A request's
 * header may make its own data class stricter, never looser.
 *
 * Built once from the config; read-only afterwards, any thread. */
#include "privacy/privacy.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/err.h"

#define MAX_POLICIES 32
#define MAX_KEYS 256

typedef struct policy {
    char *name;
    hr_pii_action action[HR_PII_MAX_CLASSES];
    hr_data_class data_class;
} policy;

struct hr_privacy {
    hr_pii *pii;
    policy pol[MAX_POLICIES];
    size_t n_pol;
    int dflt;
    struct {
        char *key_id;
        int pol;
    } keys[MAX_KEYS];
    size_t n_keys;
};

static const char *ACTIONS[] = {"allow", "redact", "block"};
static const char *CLASSES[] = {"public", "internal", "restricted"};

const char *hr_pii_action_name(hr_pii_action a)
{
    return (unsigned)a < 3 ? ACTIONS[a] : "?";
}

const char *hr_data_class_name(hr_data_class c)
{
    return (unsigned)c < 3 ? CLASSES[c] : "?";
}

int hr_data_class_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++) {
        if (strcasecmp(s, CLASSES[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int parse_action(const char *s)
{
    for (int i = 0; s && i < 3; i++) {
        if (strcmp(s, ACTIONS[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* The built-in policy: secrets and images never leave, every other
 * finding is replaced by a placeholder. */
static void default_policy(const hr_privacy *p, policy *pol)
{
    for (size_t c = 0; c < hr_pii_n_classes(p->pii); c++) {
        pol->action[c] = c == HR_PII_SECRET || c == HR_PII_IMAGE ? HR_PII_BLOCK : HR_PII_REDACT;
    }
    pol->data_class = HR_DATA_INTERNAL;
}

/* ---- building from the config ------------------------------------------------ */

static int load_detector(hr_privacy *p, json_t *sec, char *err, size_t errlen)
{
    json_t *pats = json_object_get(sec, "patterns"), *deny = json_object_get(sec, "deny");
    size_t np = json_array_size(pats), nd = json_array_size(deny);
    hr_pii_pattern *pv = hr_calloc(np + 1, sizeof *pv);
    hr_pii_deny *dv = hr_calloc(nd + 1, sizeof *dv);
    const char **words = NULL;
    size_t nw = 0, i;
    json_t *v;
    json_array_foreach(deny, i, v) {
        nw += json_array_size(json_object_get(v, "words"));
    }
    words = hr_calloc(nw + 1, sizeof *words);
    int rc = pv && dv && words ? 0 : HR_ENOMEM;
    json_array_foreach(pats, i, v) {
        pv[i].name = json_string_value(json_object_get(v, "name"));
        pv[i].regex = json_string_value(json_object_get(v, "regex"));
        if (rc == 0 && (!pv[i].name || !pv[i].regex)) {
            rc = hr_errf(err, errlen, HR_EINVAL, "privacy.patterns[%zu]: needs name and regex", i);
        }
    }
    size_t w = 0;
    json_array_foreach(deny, i, v) {
        dv[i].name = json_string_value(json_object_get(v, "name"));
        dv[i].words = words + w;
        json_t *ws = json_object_get(v, "words"), *x;
        size_t j;
        json_array_foreach(ws, j, x) {
            words[w++] = json_string_value(x);
            rc = rc == 0 && !words[w - 1] ? HR_EINVAL : rc;
        }
        dv[i].n_words = json_array_size(ws);
        if (rc == 0 && (!dv[i].name || !dv[i].n_words)) {
            rc = hr_errf(err, errlen, HR_EINVAL, "privacy.deny[%zu]: needs name and words", i);
        } else if (rc == HR_EINVAL && err && !*err) {
            hr_errf(err, errlen, rc, "privacy.deny[%zu].words: must be strings", i);
        }
    }
    hr_pii_config cfg = {pv, np, dv, nd};
    rc = rc ? rc : hr_pii_new(&p->pii, &cfg, err, errlen);
    hr_free(pv);
    hr_free(dv);
    hr_free(words);
    return rc;
}

static int load_policy(hr_privacy *p, const char *name, json_t *o, char *err, size_t errlen)
{
    if (p->n_pol == MAX_POLICIES) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy.policies: at most %d", MAX_POLICIES);
    }
    policy *pol = &p->pol[p->n_pol];
    pol->name = hr_strdup(name);
    if (!pol->name) {
        return HR_ENOMEM;
    }
    p->n_pol++;
    default_policy(p, pol);
    json_t *acts = json_object_get(o, "actions");
    json_t *star = json_object_get(acts, "*");
    int a = star ? parse_action(json_string_value(star)) : 0;
    if (a < 0) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy.policies.%s.actions.*: must be allow, "
                       "redact or block", name);
    }
    for (size_t c = 0; star && c < hr_pii_n_classes(p->pii); c++) {
        pol->action[c] = (hr_pii_action)a;
    }
    const char *k;
    json_t *v;
    json_object_foreach(acts, k, v) {
        int cls = strcmp(k, "*") == 0 ? -2 : hr_pii_class_find(p->pii, k);
        a = parse_action(json_string_value(v));
        if (cls == -1 || a < 0) {
            return hr_errf(err, errlen, HR_EINVAL, "privacy.policies.%s.actions.%s: %s", name, k,
                           cls == -1 ? "no such data class" : "must be allow, redact or block");
        }
        if (cls >= 0) {
            pol->action[cls] = (hr_pii_action)a;
        }
    }
    json_t *dc = json_object_get(o, "data_class");
    int d = dc ? hr_data_class_parse(json_string_value(dc)) : HR_DATA_INTERNAL;
    if (d < 0) {
        return hr_errf(err, errlen, HR_EINVAL, "privacy.policies.%s.data_class: must be public, "
                       "internal or restricted", name);
    }
    pol->data_class = (hr_data_class)d;
    return 0;
}

static int load_keys(hr_privacy *p, json_t *keys, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v) {
        int pol = hr_privacy_policy_find(p, json_string_value(v));
        if (pol < 0 || p->n_keys == MAX_KEYS) {
            return hr_errf(err, errlen, HR_EINVAL, "privacy.keys.%s: %s", k,
                           pol < 0 ? "no such policy" : "too many keys");
        }
        p->keys[p->n_keys].key_id = hr_strdup(k);
        if (!p->keys[p->n_keys].key_id) {
            return HR_ENOMEM;
        }
        p->keys[p->n_keys++].pol = pol;
    }
    return 0;
}

int hr_privacy_new(hr_privacy **out, const json_t *section, char *err, size_t errlen)
{
    *out = NULL;
    json_t *sec = (json_t *)section;
    hr_privacy *p = hr_calloc(1, sizeof *p);
    if (!p) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    int rc = load_detector(p, sec, err, errlen);
    json_t *pols = json_object_get(sec, "policies");
    if (rc == 0 && !json_object_get(pols, "default")) {
        rc = load_policy(p, "default", NULL, err, errlen);
    }
    const char *k;
    json_t *v;
    json_object_foreach(pols, k, v) {
        rc = rc ? rc : load_policy(p, k, v, err, errlen);
    }
    const char *dname = json_string_value(json_object_get(sec, "default_policy"));
    p->dflt = dname ? hr_privacy_policy_find(p, dname) : hr_privacy_policy_find(p, "default");
    if (rc == 0 && p->dflt < 0) {
        rc = hr_errf(err, errlen, HR_EINVAL, "privacy.default_policy: no policy '%s'", dname);
    }
    rc = rc ? rc : load_keys(p, json_object_get(sec, "keys"), err, errlen);
    if (rc < 0) {
        hr_privacy_free(p);
        return rc == HR_ENOMEM ? hr_errf(err, errlen, rc, "out of memory") : rc;
    }
    *out = p;
    return 0;
}

void hr_privacy_free(hr_privacy *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n_pol; i++) {
        hr_free(p->pol[i].name);
    }
    for (size_t i = 0; i < p->n_keys; i++) {
        hr_free(p->keys[i].key_id);
    }
    hr_pii_free(p->pii);
    hr_free(p);
}

const hr_pii *hr_privacy_detector(const hr_privacy *p)
{
    return p->pii;
}

int hr_privacy_policy_find(const hr_privacy *p, const char *name)
{
    for (size_t i = 0; name && i < p->n_pol; i++) {
        if (strcmp(p->pol[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- one request --------------------------------------------------------------- */

static int key_policy(const hr_privacy *p, const char *key_id)
{
    for (size_t i = 0; key_id && i < p->n_keys; i++) {
        if (strcmp(p->keys[i].key_id, key_id) == 0) {
            return p->keys[i].pol;
        }
    }
    return -1;
}

/* Each class's action under policies a and b (the stricter) and the data
 * class; whether the request is blocked and what must be redacted. */
static void apply_rules(const hr_privacy *p, const policy *a, const policy *b,
                        hr_privacy_decision *d)
{
    for (size_t c = 0; c < hr_pii_n_classes(p->pii); c++) {
        hr_pii_action act = a->action[c] > b->action[c] ? a->action[c] : b->action[c];
        if (d->data_class == HR_DATA_PUBLIC && act == HR_PII_REDACT) {
            act = HR_PII_ALLOW;
        }
        if (c == HR_PII_IMAGE && act == HR_PII_REDACT) {
            act = HR_PII_BLOCK; /* there is no placeholder for a picture */
        }
        d->action[c] = act;
        if (d->counts.n[c] && act == HR_PII_BLOCK && d->blocked_class < 0) {
            d->blocked_class = (int)c;
        }
        if (act == HR_PII_REDACT) {
            d->redact_mask |= HR_PII_BIT(c);
        }
    }
    d->blocked = d->data_class == HR_DATA_RESTRICTED || d->blocked_class >= 0;
    for (size_t c = 0; !d->blocked && c < hr_pii_n_classes(p->pii); c++) {
        d->redact |= d->counts.n[c] && d->action[c] == HR_PII_REDACT;
    }
}

static hr_data_class stricter(hr_data_class x, hr_data_class y)
{
    return x > y ? x : y;
}

int hr_privacy_decide(const hr_privacy *p, const char *route_policy, const char *key_id,
                      const char *header, const json_t *req, hr_privacy_decision *d)
{
    memset(d, 0, sizeof *d);
    d->blocked_class = -1;
    int hc = header ? hr_data_class_parse(header) : HR_DATA_PUBLIC;
    int rp = route_policy ? hr_privacy_policy_find(p, route_policy) : -1;
    int kp = key_policy(p, key_id);
    if (hc < 0 || (route_policy && rp < 0)) {
        return HR_EINVAL;
    }
    const policy *a = &p->pol[rp >= 0 ? rp : kp >= 0 ? kp : p->dflt];
    const policy *b = kp >= 0 ? &p->pol[kp] : a;
    d->policy = a->name;
    d->data_class = stricter(stricter(a->data_class, b->data_class), (hr_data_class)hc);
    int rc = hr_pii_scan_json(p->pii, req, &d->counts);
    if (rc < 0) {
        return rc;
    }
    apply_rules(p, a, b, d);
    return 0;
}
