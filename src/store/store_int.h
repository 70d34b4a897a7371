/* SPDX-License-Identifier: MIT */
/* store_int.h -- shared by the audit log's files: the column table, row
 * values, the canonical form and hashing, and the database handle used by
 * the writer thread and by the offline operations alike. */
#ifndef HR_STORE_STORE_INT_H
#define HR_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HR_AUDIT_SCHEMA_VERSION 1
#define HR_AUDIT_HASH_HEX 64
#define HR_AUDIT_KEY_MAX 128

/* Columns in table order (the order of CREATE TABLE, SELECT and export). */
enum {
    HR_AC_ID,
    HR_AC_TIME_MS,
    HR_AC_TIME,
    HR_AC_KIND,
    HR_AC_REQUEST_ID,
    HR_AC_KEY_ID,
    HR_AC_ROUTE,
    HR_AC_POLICY,
    HR_AC_LOCAL_MODEL,
    HR_AC_UPSTREAM,
    HR_AC_UPSTREAM_MODEL,
    HR_AC_ESCALATED,
    HR_AC_ESCALATION_REASON,
    HR_AC_DATA_CLASS,
    HR_AC_PII,
    HR_AC_PROMPT,
    HR_AC_HTTP_STATUS,
    HR_AC_LOCAL_TOKENS_IN,
    HR_AC_LOCAL_TOKENS_OUT,
    HR_AC_UPSTREAM_TOKENS_IN,
    HR_AC_UPSTREAM_TOKENS_OUT,
    HR_AC_LATENCY_MS,
    HR_AC_COST_NUSD,
    HR_AC_DEGRADED,
    HR_AC_CP_LAST_ID,
    HR_AC_CP_LAST_HASH,
    HR_AC_CP_COUNT,
    HR_AC_PREV_HASH,
    HR_AC_HASH,
    HR_AC_SIG,
    HR_AC_N
};

/* The columns that hold the chain itself, not content. */
#define HR_AC_N_CONTENT HR_AC_PREV_HASH

typedef struct hr__audit_column {
    const char *name;
    const char *decl; /* SQL type and constraint */
} hr__audit_column;

extern const hr__audit_column hr__audit_cols[HR_AC_N];
/* Content columns in bytewise order of their names: the canonical order. */
extern const int hr__audit_canon_order[HR_AC_N_CONTENT];

typedef enum hr__audit_vtype {
    HR_AV_NULL = 0,
    HR_AV_INT,
    HR_AV_TEXT,
    HR_AV_OTHER, /* REAL or BLOB: never written by hearth */
} hr__audit_vtype;

/* One column's value; text is borrowed. */
typedef struct hr__audit_val {
    hr__audit_vtype type;
    int64_t i;
    const char *s;
    size_t n;
} hr__audit_val;

static inline hr__audit_val hr__audit_int(int64_t i)
{
    hr__audit_val v = {HR_AV_INT, i, NULL, 0};
    return v;
}

static inline hr__audit_val hr__audit_text(const char *s, size_t n)
{
    hr__audit_val v = {s ? HR_AV_TEXT : HR_AV_NULL, 0, s, n};
    return v;
}

/* JSON string for s[0..n) (quotes included) into dst, which may be NULL to
 * measure; returns the length. The escaping of the canonical form. */
size_t hr__audit_json_str(char *dst, const char *s, size_t n);
int hr__audit_json_append(hr_buf *b, const char *s, size_t n);

/* Append C(row) of v to b. HR_EFORMAT when a column holds a REAL or BLOB. */
int hr__audit_canonical(hr_buf *b, const hr__audit_val *v);

/* Hash (and, with key, signature) of prev_hash || C(row) as 64 hex digits +
 * NUL. scratch is reused between calls. */
int hr__audit_seal(hr_buf *scratch, const hr__audit_val *v, const char *prev_hash,
                   const uint8_t *key, size_t keylen, char hash[HR_AUDIT_HASH_HEX + 1],
                   char sig[HR_AUDIT_HASH_HEX + 1]);

/* time_ms as 2026-11-27T10:00:00.000Z into out (at least 32 bytes). */
void hr__audit_iso(int64_t time_ms, char *out, size_t outlen);

int64_t hr__audit_now_ms(void);

/* An open database and what the chain needs. */
typedef struct hr__audit_db {
    sqlite3 *db;
    const char *path;
    sqlite3_stmt *ins;   /* INSERT of a whole row */
    sqlite3_stmt *tail;  /* the last row's id and hash */
    hr_buf scratch;
    int64_t tail_id;     /* while a transaction is open */
    char tail_hash[HR_AUDIT_HASH_HEX + 1];
    uint8_t key[HR_AUDIT_KEY_MAX];
    size_t keylen;       /* 0: no key loaded */
} hr__audit_db;

typedef enum hr__audit_mode {
    HR_AUDIT_OPEN_CREATE,   /* read-write; create the file and the schema when missing */
    HR_AUDIT_OPEN_WRITE,    /* read-write; the file must be an audit database */
    HR_AUDIT_OPEN_READ,     /* read-only */
} hr__audit_mode;

int hr__audit_db_open(hr__audit_db *d, const char *path, hr__audit_mode mode,
                      uint32_t busy_timeout_ms, char *err, size_t errlen);
void hr__audit_db_close(hr__audit_db *d);

/* Load the checkpoint key into d (see store.h); with create, make the key
 * file when there is none. HR_ENOENT when there is no key and !create. */
int hr__audit_key_load(hr__audit_db *d, const char *key_env, bool create, char *err,
                       size_t errlen);

/* A write transaction that knows the chain's tail. */
int hr__audit_begin(hr__audit_db *d);
int hr__audit_commit(hr__audit_db *d);
void hr__audit_rollback(hr__audit_db *d);

/* Give v the next id, prev_hash and hash (and sig for a checkpoint, which
 * needs the key) and insert it. Inside hr__audit_begin/commit. */
int hr__audit_append(hr__audit_db *d, hr__audit_val *v);

/* Prune the rows older than cutoff_ms behind a checkpoint, in one
 * transaction. *n gets the count (0: nothing to do). */
int hr__audit_prune_db(hr__audit_db *d, int64_t cutoff_ms, int64_t *n, char *err,
                       size_t errlen);

/* "SELECT <every column> FROM audit" into b. */
int hr__audit_select_sql(hr_buf *b);

/* Fill v from the current row of a statement made from hr__audit_select_sql
 * (text borrowed from the statement until its next step). */
void hr__audit_read_row(sqlite3_stmt *st, hr__audit_val *v);

#endif
