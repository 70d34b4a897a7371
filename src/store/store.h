/* SPDX-License-Identifier: MIT */
/* store.h -- the tamper-evident audit log: one SQLite row per request,
 * hash-chained so that any edit, deletion or reordering is detected, pruned
 * by age behind signed checkpoints, and written by a thread of its own so
 * that logging never waits for the disk.
 *
 * Rows never hold PII values or API keys: only what the caller passes, which
 * is identifiers, counts and (when the operator turned it on upstream) the
 * prompt text.
 *
 * ---- the table ----------------------------------------------------------
 * Table `audit` (PRAGMA user_version 1), one row per request or checkpoint.
 * I = INTEGER, T = TEXT; "-" = NULL in that kind of row.
 *
 *   column               request row                     checkpoint row
 *   id                   I  1, 2, 3, ... with no gaps    I  same sequence
 *   time_ms              I  unix time, ms                I  when it was written
 *   time                 T  time_ms as 2026-11-27T10:00:00.000Z (UTC)
 *   kind                 T  "request"                    T  "checkpoint"
 *   request_id, key_id, route, policy, local_model, upstream, upstream_model,
 *   escalation_reason, data_class, prompt
 *                        T  as logged, or NULL           -
 *   escalated, degraded  I  0 or 1                       -
 *   pii                  T  {"email":{"action":"redact","count":2},...}
 *                           (types in the order logged, action null when not
 *                           given; "{}" when none)
 *   http_status, local_tokens_in, local_tokens_out, upstream_tokens_in,
 *   upstream_tokens_out, latency_ms
 *                        I                               -
 *   cost_nusd            I  cost in nano-USD (1e-9 USD), so it is exact
 *   cp_last_id           -                               I  last pruned row's id
 *   cp_last_hash         -                               T  last pruned row's hash
 *   cp_count             -                               I  rows this prune removed
 *   prev_hash            T  the previous row's hash (see below)
 *   hash                 T  see below
 *   sig                  -                               T  see below
 *
 * ---- the chain ----------------------------------------------------------
 * C(row), the canonical content, is the JSON object of every column except
 * prev_hash, hash and sig: keys sorted bytewise, no whitespace (separators
 * "," and ":"), NULL as null, INTEGER values in plain decimal, TEXT values as
 * JSON strings in which only '"', '\' and bytes below 0x20 are escaped (\b
 * \f \n \r \t, others as \u00xx in lowercase hex) and all other bytes stay
 * as they are (text is valid UTF-8: invalid sequences become U+FFFD when
 * logged). This is exactly what Python's json.dumps(row, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False) writes. Then
 *
 *   hash = hex(SHA-256(prev_hash || C(row)))
 *   sig  = hex(HMAC-SHA256(key, prev_hash || C(row)))     (checkpoints only)
 *
 * with prev_hash taken as its 64 ASCII characters and hex in lowercase.
 * prev_hash is the hash of the row before (id - 1). The first row's
 * prev_hash is 64 zeros and its id 1, unless rows have been pruned: then the
 * latest checkpoint row names the last pruned row (cp_last_id, cp_last_hash)
 * and the first remaining row must be cp_last_id + 1 with prev_hash
 * cp_last_hash. A checkpoint is appended at the end of the chain in the same
 * transaction that deletes the pruned rows.
 *
 * The HMAC key is the value of an environment variable whose name is
 * configured (64 hex digits are decoded to 32 bytes; any other value of 16
 * to 128 bytes is used as is), else the 64 hex digits in the file
 * "<database>.key" (mode 0600), which hr_audit_open creates with 32 random
 * bytes when neither exists.
 *
 * What it catches: any edit, deletion, insertion or reordering made without
 * recomputing the hashes after it, and any checkpoint not signed with the
 * key (so a pruned prefix cannot be faked). Only checkpoints are keyed: a
 * writer who knows this format can re-hash every row after the latest
 * checkpoint, and rows cut off the end leave no trace. Copying the latest
 * hash somewhere else now and then closes both gaps. */
#ifndef HR_STORE_STORE_H
#define HR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hr_audit hr_audit;

/* PII found in a request: a kind, how many, and what was done with it.
 * Names only, never the values. */
typedef struct hr_audit_pii {
    const char *type;   /* e.g. "email" */
    int64_t count;
    const char *action; /* e.g. "redact", "block", "allow" */
} hr_audit_pii;

#define HR_AUDIT_MAX_PII 64

/* One request. Every string is borrowed for the call only (hr_audit_log
 * copies it) and may be NULL; it must be NUL-terminated. */
typedef struct hr_audit_record {
    int64_t time_ms;               /* unix ms; 0 = now */
    const char *request_id;
    const char *key_id;            /* which API key: an id or a name, never the key */
    const char *route;
    const char *policy;
    const char *local_model;
    const char *upstream;          /* the upstream's name, when one was used */
    const char *upstream_model;
    bool escalated;
    const char *escalation_reason;
    const char *data_class;
    const hr_audit_pii *pii;       /* n_pii entries (at most HR_AUDIT_MAX_PII) */
    size_t n_pii;
    const char *prompt;            /* only when the operator logs prompts; else NULL */
    int32_t http_status;
    int64_t local_tokens_in, local_tokens_out;
    int64_t upstream_tokens_in, upstream_tokens_out;
    int64_t latency_ms;
    double cost_usd;               /* stored as nano-USD, rounded */
    bool degraded;
} hr_audit_record;

/* Zero means the default shown. */
typedef struct hr_audit_opts {
    const char *path;          /* the database file; created when missing */
    size_t queue_capacity;     /* records queued before the overflow list; 0 = 4096 */
    uint32_t retention_days;   /* prune rows older than this (see hr_audit_prune); 0 = keep */
    uint32_t prune_period_ms;  /* how often the writer prunes; 0 = 3600000 (hourly) */
    const char *key_env;       /* env var holding the checkpoint key; NULL = key file only */
    uint32_t busy_timeout_ms;  /* wait for another writer's lock; 0 = 5000 */
    uint32_t max_retries;      /* tries of a failed batch after the first; 0 = 5 */
    uint32_t retry_ms;         /* first wait before a retry, doubled each time; 0 = 100 */
    bool start_paused;         /* for tests: the writer takes nothing until resumed */
} hr_audit_opts;

/* Open (or create) the database, set WAL, prune by age, and start the
 * writer thread; the chain continues from the last row. Returns 0, or
 * HR_ENOENT / HR_EACCES / HR_EFORMAT (not a SQLite file, or not an audit
 * database, or a newer schema) / HR_EDB / HR_ENOMEM / HR_EINVAL with *out
 * NULL. */
int hr_audit_open(hr_audit **out, const hr_audit_opts *o, char *err, size_t errlen);

/* Queue a copy of r for the writer; never waits for the disk. The writer
 * gathers records for up to 5 ms (or until 128 wait) and commits them in one
 * transaction; hr_audit_flush and close cut that short. A full queue
 * still succeeds: the record goes to an overflow list (counted as deferred)
 * that the writer drains in order after the queue. Returns 0, HR_EINVAL (a
 * NULL argument, too many PII entries, a time or cost out of range, PII
 * names that are not UTF-8) or HR_ENOMEM (then counted as dropped). Any
 * thread. */
int hr_audit_log(hr_audit *a, const hr_audit_record *r);

/* Wait until every record logged before the call is committed or dropped.
 * HR_EAGAIN at once while the writer is paused. Not for the request path. */
int hr_audit_flush(hr_audit *a);

/* For tests: stop the writer taking records (it finishes the batch in hand),
 * or let it go on. Closing resumes it. */
void hr_audit_pause(hr_audit *a, bool paused);

typedef struct hr_audit_stats {
    uint64_t written;    /* request rows committed */
    uint64_t deferred;   /* records that found the queue full */
    uint64_t failed;     /* write or prune transactions that failed (disk errors) */
    uint64_t dropped;    /* records given up after max_retries, or not copied (no memory) */
    uint64_t pruned;     /* rows removed by age */
    size_t queue_depth;  /* records logged and not yet committed or dropped */
} hr_audit_stats;

void hr_audit_stats_get(hr_audit *a, hr_audit_stats *out);

/* Write everything still queued (a failing disk gets its bounded retries),
 * stop the writer and close the database. NULL is a no-op. */
void hr_audit_close(hr_audit *a);

/* ---- offline operations on a database file --------------------------------
 * These open the file themselves (never creating it) and may run while a
 * writer is active: SQLite's locks and WAL snapshots keep them consistent. */

typedef struct hr_audit_verdict {
    bool intact;          /* the whole chain checked out */
    int64_t rows;         /* rows checked (all of them when intact) */
    int64_t checkpoints;  /* checkpoint rows among them */
    int64_t broken_id;    /* when not intact: the first row that fails */
    char reason[192];     /* when not intact: why, in words */
} hr_audit_verdict;

/* Walk the chain in id order. Returns 0 with *v filled in, whether the chain
 * is intact or not; a negative code when it could not be checked (no such
 * file, not an audit database, or a checkpoint to check and no key). key_env
 * may be NULL (then only "<path>.key" is tried). */
int hr_audit_verify(const char *path, const char *key_env, hr_audit_verdict *v, char *err,
                    size_t errlen);

/* Remove the rows older than `days` days (the longest prefix of the chain
 * that is older) and append a signed checkpoint. *n_pruned (may be NULL)
 * gets the count, 0 when nothing was old enough. Needs the key. */
int hr_audit_prune(const char *path, uint32_t days, const char *key_env, int64_t *n_pruned,
                   char *err, size_t errlen);

typedef enum hr_audit_format {
    HR_AUDIT_JSONL, /* one JSON object per line, every column, in table order */
    HR_AUDIT_CSV,   /* RFC 4180: a header row, CRLF, quoted when needed; NULL is empty */
} hr_audit_format;

/* Write the rows with since_ms <= time_ms < until_ms, in id order, to out.
 * until_ms <= 0 means no upper bound. */
int hr_audit_export(const char *path, int64_t since_ms, int64_t until_ms, hr_audit_format fmt,
                    FILE *out, char *err, size_t errlen);

/* Parse a time: an ISO-8601 UTC date (2026-11-27) or date and time
 * (2026-11-27T10:00:00Z, with optional .mmm fraction; the 'T' may be a space
 * and the 'Z' may be left out), or unix seconds. Returns 0 with *ms set, or
 * HR_EINVAL. */
int hr_audit_parse_time(const char *s, int64_t *ms);

#endif
