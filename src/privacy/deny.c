/* SPDX-License-Identifier: MIT */
/* deny.c -- deny lists (names, code words) as one byte trie, so a text is
 * walked once however many words are listed: a regex alternation of ten
 * thousand names would try each of them at every position.
 *
 * Words are stored lower case with white space collapsed to one space; the
 * walk folds ASCII case and lets any run of white space match that space.
 * A match must start and end on word boundaries. Built at start-up, then
 * read-only and shared. */
#include "privacy/privacy_int.h"

#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

typedef struct tnode {
    uint32_t child, next; /* first child and next sibling; 0 = none */
    int16_t cls;          /* class when a word ends here, else -1 */
    unsigned char c;
} tnode;

struct hr__pii_trie {
    tnode *v; /* v[0] is unused, so 0 can mean none */
    size_t n, cap;
    uint32_t root[256];
};

static uint32_t node_new(hr__pii_trie *t, unsigned char c)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        tnode *v = hr_realloc(t->v, cap * sizeof *v);
        if (!v) {
            return 0;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (tnode){0, 0, -1, c};
    return (uint32_t)t->n++;
}

static uint32_t child_of(const hr__pii_trie *t, uint32_t node, unsigned char c)
{
    uint32_t k = t->v[node].child;
    while (k && t->v[k].c != c) {
        k = t->v[k].next;
    }
    return k;
}

/* The child of node (0: the root) for c, made when missing; 0 on OOM. */
static uint32_t step_add(hr__pii_trie *t, uint32_t node, unsigned char c)
{
    uint32_t k = node ? child_of(t, node, c) : t->root[c];
    if (k) {
        return k;
    }
    k = node_new(t, c);
    if (!k) {
        return 0;
    }
    if (node) {
        t->v[k].next = t->v[node].child;
        t->v[node].child = k;
    } else {
        t->root[c] = k;
    }
    return k;
}

int hr__pii_trie_add(hr__pii_trie **tp, const char *word, int cls)
{
    if (!*tp) {
        *tp = hr_calloc(1, sizeof **tp);
        if (*tp) {
            (*tp)->v = hr_calloc(256, sizeof *(*tp)->v);
        }
        if (!*tp || !(*tp)->v) {
            hr__pii_trie_free(*tp);
            *tp = NULL;
            return HR_ENOMEM;
        }
        (*tp)->n = 1;
        (*tp)->cap = 256;
    }
    hr__pii_trie *t = *tp;
    const unsigned char *p = (const unsigned char *)word;
    while (hr__pii_space(*p)) {
        p++;
    }
    uint32_t node = 0;
    while (*p) {
        unsigned char c = hr__pii_lower(*p);
        if (hr__pii_space(c)) {
            while (hr__pii_space(*p)) {
                p++;
            }
            if (!*p) {
                break;
            }
            c = ' ';
        } else {
            p++;
        }
        node = step_add(t, node, c);
        if (!node) {
            return HR_ENOMEM;
        }
    }
    if (!node) {
        return HR_EINVAL;
    }
    if (t->v[node].cls < 0) {
        t->v[node].cls = (int16_t)cls;
    }
    return 0;
}

void hr__pii_trie_free(hr__pii_trie *t)
{
    if (t) {
        hr_free(t->v);
        hr_free(t);
    }
}

static bool boundary(const unsigned char *p, size_t len, size_t i)
{
    return i == 0 || i == len || !hr__pii_wordc(p[i - 1]) || !hr__pii_wordc(p[i]);
}

/* The longest word starting at p[i]: its end, or 0 with none. */
static size_t longest_at(const hr__pii_trie *t, const unsigned char *p, size_t len, size_t i,
                         int *cls)
{
    uint32_t node = t->root[hr__pii_lower(p[i])];
    size_t j = i + 1, best = 0;
    while (node) {
        if (t->v[node].cls >= 0 && boundary(p, len, j)) {
            best = j;
            *cls = t->v[node].cls;
        }
        if (j == len) {
            break;
        }
        unsigned char c = hr__pii_lower(p[j]);
        size_t next = j + 1;
        if (hr__pii_space(c)) {
            c = ' ';
            while (next < len && hr__pii_space(p[next])) {
                next++;
            }
        }
        node = child_of(t, node, c);
        j = next;
    }
    return best;
}

int hr__pii_trie_scan(const hr__pii_trie *t, hr__pii_scan *s)
{
    const unsigned char *p = (const unsigned char *)s->text;
    for (size_t i = 0; i < s->len; i++) {
        if (!t->root[hr__pii_lower(p[i])] || !boundary(p, s->len, i)) {
            continue;
        }
        int cls = -1;
        size_t end = longest_at(t, p, s->len, i, &cls);
        if (end) {
            int rc = hr__pii_cand_add(s, i, end, cls);
            if (rc < 0) {
                return rc;
            }
            i = end - 1;
        }
    }
    return 0;
}
