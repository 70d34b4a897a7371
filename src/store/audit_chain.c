/* SPDX-License-Identifier: MIT */
/* audit_chain.c -- the audit log's canonical row form, its hashes and
 * checkpoint signatures, and `verify`, which walks the chain.
 *
 * The canonical form is specified in store.h so that tools outside hearth
 * can re-check a database or an export; anything changed here must stay
 * byte-for-byte what that comment says. Runs on the writer thread (sealing
 * rows) and on whatever thread calls hr_audit_verify; holds no state. */
#include "store/store.h"
#include "store/store_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

const hr__audit_column hr__audit_cols[HR_AC_N] = {
    [HR_AC_ID] = {"id", "INTEGER PRIMARY KEY"},
    [HR_AC_TIME_MS] = {"time_ms", "INTEGER NOT NULL"},
    [HR_AC_TIME] = {"time", "TEXT NOT NULL"},
    [HR_AC_KIND] = {"kind", "TEXT NOT NULL"},
    [HR_AC_REQUEST_ID] = {"request_id", "TEXT"},
    [HR_AC_KEY_ID] = {"key_id", "TEXT"},
    [HR_AC_ROUTE] = {"route", "TEXT"},
    [HR_AC_POLICY] = {"policy", "TEXT"},
    [HR_AC_LOCAL_MODEL] = {"local_model", "TEXT"},
    [HR_AC_UPSTREAM] = {"upstream", "TEXT"},
    [HR_AC_UPSTREAM_MODEL] = {"upstream_model", "TEXT"},
    [HR_AC_ESCALATED] = {"escalated", "INTEGER"},
    [HR_AC_ESCALATION_REASON] = {"escalation_reason", "TEXT"},
    [HR_AC_DATA_CLASS] = {"data_class", "TEXT"},
    [HR_AC_PII] = {"pii", "TEXT"},
    [HR_AC_PROMPT] = {"prompt", "TEXT"},
    [HR_AC_HTTP_STATUS] = {"http_status", "INTEGER"},
    [HR_AC_LOCAL_TOKENS_IN] = {"local_tokens_in", "INTEGER"},
    [HR_AC_LOCAL_TOKENS_OUT] = {"local_tokens_out", "INTEGER"},
    [HR_AC_UPSTREAM_TOKENS_IN] = {"upstream_tokens_in", "INTEGER"},
    [HR_AC_UPSTREAM_TOKENS_OUT] = {"upstream_tokens_out", "INTEGER"},
    [HR_AC_LATENCY_MS] = {"latency_ms", "INTEGER"},
    [HR_AC_COST_NUSD] = {"cost_nusd", "INTEGER"},
    [HR_AC_DEGRADED] = {"degraded", "INTEGER"},
    [HR_AC_CP_LAST_ID] = {"cp_last_id", "INTEGER"},
    [HR_AC_CP_LAST_HASH] = {"cp_last_hash", "TEXT"},
    [HR_AC_CP_COUNT] = {"cp_count", "INTEGER"},
    [HR_AC_PREV_HASH] = {"prev_hash", "TEXT NOT NULL"},
    [HR_AC_HASH] = {"hash", "TEXT NOT NULL"},
    [HR_AC_SIG] = {"sig", "TEXT"},
};

const int hr__audit_canon_order[HR_AC_N_CONTENT] = {
    HR_AC_COST_NUSD,         HR_AC_CP_COUNT,          HR_AC_CP_LAST_HASH,
    HR_AC_CP_LAST_ID,        HR_AC_DATA_CLASS,        HR_AC_DEGRADED,
    HR_AC_ESCALATED,         HR_AC_ESCALATION_REASON, HR_AC_HTTP_STATUS,
    HR_AC_ID,                HR_AC_KEY_ID,            HR_AC_KIND,
    HR_AC_LATENCY_MS,        HR_AC_LOCAL_MODEL,       HR_AC_LOCAL_TOKENS_IN,
    HR_AC_LOCAL_TOKENS_OUT,  HR_AC_PII,               HR_AC_POLICY,
    HR_AC_PROMPT,            HR_AC_REQUEST_ID,        HR_AC_ROUTE,
    HR_AC_TIME,              HR_AC_TIME_MS,           HR_AC_UPSTREAM,
    HR_AC_UPSTREAM_MODEL,    HR_AC_UPSTREAM_TOKENS_IN, HR_AC_UPSTREAM_TOKENS_OUT,
};

static const char ZERO_HASH[HR_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- JSON strings ----------------------------------------------------------- */

/* The escape for byte c, or NULL when it stands for itself. */
static const char *escape_of(unsigned char c, char u[7])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (c >= 0x20) {
        return NULL;
    }
    memcpy(u, "\\u00", 4);
    u[4] = hex[c >> 4];
    u[5] = hex[c & 15];
    u[6] = '\0';
    return u;
}

static size_t put(char *dst, size_t at, const char *s, size_t n)
{
    if (dst) {
        memcpy(dst + at, s, n);
    }
    return at + n;
}

size_t hr__audit_json_str(char *dst, const char *s, size_t n)
{
    char u[7];
    size_t k = put(dst, 0, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = escape_of((unsigned char)s[i], u);
        if (e) {
            k = put(dst, k, s + start, i - start);
            k = put(dst, k, e, strlen(e));
            start = i + 1;
        }
    }
    k = put(dst, k, s + start, n - start);
    return put(dst, k, "\"", 1);
}

int hr__audit_json_append(hr_buf *b, const char *s, size_t n)
{
    char u[7];
    size_t start = 0;
    int rc = hr_buf_append(b, "\"", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *e = escape_of((unsigned char)s[i], u);
        if (e) {
            rc = hr_buf_append(b, s + start, i - start);
            rc = rc ? rc : hr_buf_append_str(b, e);
            start = i + 1;
        }
    }
    rc = rc ? rc : hr_buf_append(b, s + start, n - start);
    return rc ? rc : hr_buf_append(b, "\"", 1);
}

/* ---- canonical form and seals ----------------------------------------------- */

static int append_i64(hr_buf *b, int64_t v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        tmp[--k] = '-';
    }
    return hr_buf_append(b, tmp + k, sizeof tmp - k);
}

int hr__audit_canonical(hr_buf *b, const hr__audit_val *v)
{
    int rc = hr_buf_append(b, "{", 1);
    for (int k = 0; rc == 0 && k < HR_AC_N_CONTENT; k++) {
        const hr__audit_val *x = &v[hr__audit_canon_order[k]];
        rc = hr_buf_append(b, k ? ",\"" : "\"", k ? 2 : 1);
        rc = rc ? rc : hr_buf_append_str(b, hr__audit_cols[hr__audit_canon_order[k]].name);
        rc = rc ? rc : hr_buf_append(b, "\":", 2);
        if (rc == 0 && x->type == HR_AV_NULL) {
            rc = hr_buf_append(b, "null", 4);
        } else if (rc == 0 && x->type == HR_AV_INT) {
            rc = append_i64(b, x->i);
        } else if (rc == 0 && x->type == HR_AV_TEXT) {
            rc = hr__audit_json_append(b, x->s, x->n);
        } else if (rc == 0) {
            rc = HR_EFORMAT;
        }
    }
    return rc ? rc : hr_buf_append(b, "}", 1);
}

static void to_hex(const unsigned char *md, char out[HR_AUDIT_HASH_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[HR_AUDIT_HASH_HEX] = '\0';
}

int hr__audit_seal(hr_buf *scratch, const hr__audit_val *v, const char *prev_hash,
                   const uint8_t *key, size_t keylen, char hash[HR_AUDIT_HASH_HEX + 1],
                   char sig[HR_AUDIT_HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    hr_buf_reset(scratch);
    int rc = hr_buf_append(scratch, prev_hash, HR_AUDIT_HASH_HEX);
    rc = rc ? rc : hr__audit_canonical(scratch, v);
    if (rc < 0) {
        return rc;
    }
    SHA256((const unsigned char *)scratch->p, scratch->len, md);
    to_hex(md, hash);
    if (!sig) {
        return 0;
    }
    if (!key || keylen == 0) {
        return HR_EINVAL;
    }
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)scratch->p, scratch->len,
              md, &mdlen) || mdlen != 32) {
        return HR_EIO;
    }
    to_hex(md, sig);
    return 0;
}

void hr__audit_iso(int64_t time_ms, char *out, size_t outlen)
{
    time_t sec = (time_t)(time_ms / 1000);
    struct tm tm;
    if (time_ms < 0 || !gmtime_r(&sec, &tm)) {
        snprintf(out, outlen, "invalid");
        return;
    }
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(time_ms % 1000));
}

int64_t hr__audit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- verify ------------------------------------------------------------------ */

typedef struct walker {
    hr__audit_db *d;
    hr_audit_verdict *v;
    bool have_anchor;       /* a checkpoint says where the chain starts */
    int64_t anchor_row;     /* that checkpoint's id */
    int64_t next_id;        /* the id the next row must have */
    char next_prev[HR_AUDIT_HASH_HEX + 1];
    bool first;
} walker;

static bool is_hash(const hr__audit_val *x, const char *want)
{
    return x->type == HR_AV_TEXT && x->n == HR_AUDIT_HASH_HEX &&
           CRYPTO_memcmp(x->s, want, HR_AUDIT_HASH_HEX) == 0;
}

static bool is_checkpoint(const hr__audit_val *v)
{
    const hr__audit_val *k = &v[HR_AC_KIND];
    return k->type == HR_AV_TEXT && k->n == 10 && memcmp(k->s, "checkpoint", 10) == 0;
}

__attribute__((format(printf, 3, 4)))
static bool broken(walker *w, int64_t id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->v->reason, sizeof w->v->reason, fmt, ap);
    va_end(ap);
    w->v->intact = false;
    w->v->broken_id = id;
    return false;
}

/* Where the chain must start: after the latest checkpoint's last pruned
 * row, or at row 1 with zeros. */
static int find_anchor(walker *w)
{
    const char *sql = "SELECT id, cp_last_id, cp_last_hash FROM audit "
                      "WHERE kind = 'checkpoint' ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->d->db, sql, -1, &st, NULL);
    w->next_id = 1;
    memcpy(w->next_prev, ZERO_HASH, sizeof ZERO_HASH);
    rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
    if (rc == SQLITE_ROW) {
        w->have_anchor = true;
        w->anchor_row = sqlite3_column_int64(st, 0);
        w->next_id = sqlite3_column_int64(st, 1) + 1;
        const unsigned char *h = sqlite3_column_text(st, 2);
        if (h && sqlite3_column_bytes(st, 2) == HR_AUDIT_HASH_HEX) {
            memcpy(w->next_prev, h, HR_AUDIT_HASH_HEX);
        }
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : HR_EDB;
}

/* The row's place in the chain: its id and prev_hash. */
static bool check_link(walker *w, int64_t id, const hr__audit_val *v)
{
    bool first = w->first;
    w->first = false;
    if (first && !w->have_anchor && id < 1) {
        return broken(w, id, "row ids start at 1");
    }
    if (first && !w->have_anchor && id != 1) {
        return broken(w, id, "rows 1 to %lld are missing and no checkpoint covers them",
                      (long long)id - 1);
    }
    if (first && w->have_anchor && id != w->next_id) {
        return broken(w, id, "the latest checkpoint (row %lld) says the first row is %lld",
                      (long long)w->anchor_row, (long long)w->next_id);
    }
    if (id != w->next_id) {
        return broken(w, id, "rows %lld to %lld are missing", (long long)w->next_id,
                      (long long)id - 1);
    }
    if (is_hash(&v[HR_AC_PREV_HASH], w->next_prev)) {
        return true;
    }
    if (first && w->have_anchor) {
        return broken(w, id, "prev_hash is not the last pruned row's hash in checkpoint row %lld",
                      (long long)w->anchor_row);
    }
    if (first) {
        return broken(w, id, "the first row's prev_hash is not zeros");
    }
    return broken(w, id, "prev_hash does not match row %lld's hash (rows deleted, inserted or "
                  "reordered)", (long long)id - 1);
}

/* One row in id order: *ok false when it fails (the verdict says why). */
static int check_row(walker *w, const hr__audit_val *v, bool *ok)
{
    int64_t id = v[HR_AC_ID].i;
    char hash[HR_AUDIT_HASH_HEX + 1], sig[HR_AUDIT_HASH_HEX + 1];
    *ok = check_link(w, id, v);
    if (!*ok) {
        return 0;
    }
    bool cp = is_checkpoint(v);
    if (cp && w->d->keylen == 0) {
        *ok = false;
        return hr_errf(w->v->reason, sizeof w->v->reason, HR_EACCES,
                       "checkpoint row %lld: no key to check its signature", (long long)id);
    }
    int rc = hr__audit_seal(&w->d->scratch, v, w->next_prev, w->d->key, w->d->keylen, hash,
                            cp ? sig : NULL);
    if (rc == HR_EFORMAT || (rc == 0 && !is_hash(&v[HR_AC_HASH], hash))) {
        *ok = broken(w, id, "the row's content does not match its hash (row modified)");
        return 0;
    }
    if (rc == 0 && !cp && v[HR_AC_SIG].type != HR_AV_NULL) {
        *ok = broken(w, id, "a request row carries a signature");
        return 0;
    }
    if (rc == 0 && cp && !is_hash(&v[HR_AC_SIG], sig)) {
        *ok = broken(w, id, "checkpoint signature does not match (wrong key or forged "
                     "checkpoint)");
        return 0;
    }
    if (rc < 0) {
        *ok = false;
        return rc;
    }
    w->v->checkpoints += cp;
    w->next_id = id + 1;
    memcpy(w->next_prev, hash, sizeof hash);
    return 0;
}

static int walk(walker *w)
{
    hr_buf sql = {0};
    sqlite3_stmt *st = NULL;
    int rc = hr__audit_select_sql(&sql);
    rc = rc ? rc : hr_buf_append_str(&sql, " ORDER BY id");
    if (rc == 0 && sqlite3_prepare_v2(w->d->db, sql.p, -1, &st, NULL) != SQLITE_OK) {
        rc = HR_EDB;
    }
    hr_buf_deinit(&sql);
    bool ok = true;
    int step = SQLITE_DONE;
    while (rc == 0 && ok) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            break;
        }
        hr__audit_val v[HR_AC_N];
        hr__audit_read_row(st, v);
        rc = check_row(w, v, &ok);
        w->v->rows += ok;
    }
    if (rc == 0 && ok && step != SQLITE_DONE) {
        rc = HR_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

int hr_audit_verify(const char *path, const char *key_env, hr_audit_verdict *v, char *err,
                    size_t errlen)
{
    hr__audit_db d;
    memset(v, 0, sizeof *v);
    int rc = hr__audit_db_open(&d, path, HR_AUDIT_OPEN_READ, 5000, err, errlen);
    if (rc < 0) {
        return rc;
    }
    /* A key file that is missing or unreadable matters only at a checkpoint. */
    char key_err[256] = "";
    rc = hr__audit_key_load(&d, key_env, false, key_err, sizeof key_err);
    if (rc < 0 && rc != HR_ENOENT && rc != HR_EACCES) {
        hr_errf(err, errlen, rc, "%s", key_err);
    }
    rc = rc == HR_ENOENT || rc == HR_EACCES ? 0 : rc;
    walker w = {.d = &d, .v = v, .first = true};
    v->intact = true;
    if (rc == 0 && sqlite3_exec(d.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = HR_EDB;
    }
    rc = rc ? rc : find_anchor(&w);
    rc = rc ? rc : walk(&w);
    if (rc == HR_EACCES) {
        hr_errf(err, errlen, rc, "%s: %s (%s)", path, v->reason, key_err);
        v->reason[0] = '\0';
    } else if (rc == HR_EDB) {
        hr_errf(err, errlen, rc, "%s: %s", path, sqlite3_errmsg(d.db));
    } else if (rc == HR_ENOMEM) {
        hr_errf(err, errlen, rc, "out of memory");
    }
    sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
    hr__audit_db_close(&d);
    if (rc < 0) {
        v->intact = false;
    }
    return rc;
}
