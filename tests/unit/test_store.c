/* SPDX-License-Identifier: MIT */
/* test_store.c -- the audit log: the canonical form against what Python's
 * json.dumps writes, chains that verify and every kind of tampering that
 * must not, retention behind signed checkpoints, the overflow list, disk
 * errors and retries, a writer killed with SIGKILL mid-stream, export
 * formats and times, and allocation failures. Each test gets its own
 * temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_ENV "HEARTH_TEST_AUDIT_KEY"

typedef struct fx {
    char dir[64];
    char db[128];
} fx;

static int setup(void **state)
{
    static fx f;
    snprintf(f.dir, sizeof f.dir, "/tmp/hearth-store-XXXXXX");
    if (!mkdtemp(f.dir)) {
        return -1;
    }
    snprintf(f.db, sizeof f.db, "%s/audit.db", f.dir);
    setenv(KEY_ENV, KEY_HEX, 1);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e = d ? readdir(d) : NULL;
    while (e) {
        char p[400];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        e = readdir(d);
    }
    if (d) {
        closedir(d);
    }
    rmdir(f->dir);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static const hr_audit_pii PII[] = {{"email", 2, "redact"}, {"phone", 1, "block"}};
static const char PROMPT[] = "a,b \"c\"\nd\r\ne";

/* Record i: request id "req-i", fields varying with i. */
static void make_record(hr_audit_record *r, int i, char *id, size_t idlen)
{
    snprintf(id, idlen, "req-%d", i);
    memset(r, 0, sizeof *r);
    r->request_id = id;
    r->key_id = "key-3fa2c1";
    r->route = i % 2 ? "auto" : "cloud, \"fast\"";
    r->policy = "local_first";
    r->local_model = "stories260k";
    r->upstream = i % 3 ? "openai" : NULL;
    r->upstream_model = i % 3 ? "gpt-4o-mini" : NULL;
    r->escalated = i % 3 != 0;
    r->escalation_reason = i % 3 ? "low_confidence" : NULL;
    r->data_class = "internal";
    r->pii = PII;
    r->n_pii = (size_t)(i % 3);
    r->prompt = i % 2 ? NULL : PROMPT;
    r->http_status = 200;
    r->local_tokens_in = 10 + i;
    r->local_tokens_out = 20 + i;
    r->upstream_tokens_in = i % 3 ? 10 + i : 0;
    r->upstream_tokens_out = i % 3 ? 30 : 0;
    r->latency_ms = i;
    r->cost_usd = 0.000001 * i;
    r->degraded = i % 5 == 0;
}

static hr_audit *open_log(const hr_audit_opts *o)
{
    hr_audit *a = NULL;
    char err[512];
    int rc = hr_audit_open(&a, o, err, sizeof err);
    if (rc != 0) {
        fail_msg("hr_audit_open: %s (%s)", err, hr_err_name(rc));
    }
    return a;
}

static void log_range(hr_audit *a, int from, int n, int64_t time_ms)
{
    for (int i = from; i < from + n; i++) {
        hr_audit_record r;
        char id[32];
        make_record(&r, i, id, sizeof id);
        r.time_ms = time_ms;
        assert_int_equal(hr_audit_log(a, &r), 0);
    }
}

/* Rows 1..n in a new log at path (records 0..n-1). */
static void write_rows(const char *path, int n)
{
    hr_audit_opts o = {.path = path, .key_env = KEY_ENV};
    hr_audit *a = open_log(&o);
    log_range(a, 0, n, 0);
    hr_audit_close(a);
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

static int64_t sql_i64(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of sql's first row as text into out. */
static void sql_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *s = sqlite3_column_text(st, 0);
    snprintf(out, outlen, "%s", s ? (const char *)s : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static hr_audit_verdict verify(const char *path, const char *key_env)
{
    hr_audit_verdict v;
    char err[512];
    int rc = hr_audit_verify(path, key_env, &v, err, sizeof err);
    if (rc != 0) {
        fail_msg("hr_audit_verify: %s (%s)", err, hr_err_name(rc));
    }
    return v;
}

static void expect_intact(const char *path, int64_t rows, int64_t checkpoints)
{
    hr_audit_verdict v = verify(path, KEY_ENV);
    if (!v.intact) {
        fail_msg("chain broken at row %lld: %s", (long long)v.broken_id, v.reason);
    }
    assert_int_equal(v.rows, rows);
    assert_int_equal(v.checkpoints, checkpoints);
}

static void expect_broken(const char *path, const char *key_env, int64_t id, const char *why)
{
    hr_audit_verdict v = verify(path, key_env);
    if (v.intact || v.broken_id != id || !strstr(v.reason, why)) {
        fail_msg("%s: want broken at %lld (%s), got intact=%d at %lld: %s", path, (long long)id,
                 why, v.intact, (long long)v.broken_id, v.reason);
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, in);
    while (n > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
        n = fread(buf, 1, sizeof buf, in);
    }
    fclose(in);
    fclose(out);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the canonical form ------------------------------------------------------- */

static void test_canonical_form(void **state)
{
    int seen[HR_AC_N] = {0};
    for (int k = 0; k < HR_AC_N_CONTENT; k++) {
        seen[hr__audit_canon_order[k]]++;
        if (k > 0) {
            assert_true(strcmp(hr__audit_cols[hr__audit_canon_order[k - 1]].name,
                               hr__audit_cols[hr__audit_canon_order[k]].name) < 0);
        }
    }
    for (int c = 0; c < HR_AC_N_CONTENT; c++) {
        assert_int_equal(seen[c], 1);
    }
    /* Expected text and digests from Python: json.dumps(row, sort_keys=True,
     * separators=(",", ":"), ensure_ascii=False), hashlib and hmac. */
    static const char route[] = "a\\b\n\t\x01\x1f\xc3\xa9/\x7f";
    static const char pii[] = "{\"email\":{\"action\":\"redact\",\"count\":2}}";
    static const char want[] =
        "{\"cost_nusd\":25800,\"cp_count\":null,\"cp_last_hash\":null,\"cp_last_id\":null,"
        "\"data_class\":\"internal\",\"degraded\":0,\"escalated\":1,\"escalation_reason\":"
        "\"low_confidence\",\"http_status\":200,\"id\":7,\"key_id\":\"key-3fa2c1\",\"kind\":"
        "\"request\",\"latency_ms\":-5,\"local_model\":\"m\",\"local_tokens_in\":12,"
        "\"local_tokens_out\":30,\"pii\":\"{\\\"email\\\":{\\\"action\\\":\\\"redact\\\","
        "\\\"count\\\":2}}\",\"policy\":null,\"prompt\":null,\"request_id\":\"req-\\\"7\\\"\","
        "\"route\":\"a\\\\b\\n\\t\\u0001\\u001f\xc3\xa9/\x7f\",\"time\":"
        "\"2025-11-27T10:00:00.123Z\",\"time_ms\":1764237600123,\"upstream\":null,"
        "\"upstream_model\":null,\"upstream_tokens_in\":0,\"upstream_tokens_out\":0}";
    hr__audit_val v[HR_AC_N] = {0};
    char iso[32];
    hr__audit_iso(1764237600123, iso, sizeof iso);
    assert_string_equal(iso, "2025-11-27T10:00:00.123Z");
    v[HR_AC_ID] = hr__audit_int(7);
    v[HR_AC_TIME_MS] = hr__audit_int(1764237600123);
    v[HR_AC_TIME] = hr__audit_text(iso, strlen(iso));
    v[HR_AC_KIND] = hr__audit_text("request", 7);
    v[HR_AC_REQUEST_ID] = hr__audit_text("req-\"7\"", 7);
    v[HR_AC_KEY_ID] = hr__audit_text("key-3fa2c1", 10);
    v[HR_AC_ROUTE] = hr__audit_text(route, strlen(route));
    v[HR_AC_LOCAL_MODEL] = hr__audit_text("m", 1);
    v[HR_AC_ESCALATED] = hr__audit_int(1);
    v[HR_AC_ESCALATION_REASON] = hr__audit_text("low_confidence", 14);
    v[HR_AC_DATA_CLASS] = hr__audit_text("internal", 8);
    v[HR_AC_PII] = hr__audit_text(pii, strlen(pii));
    v[HR_AC_HTTP_STATUS] = hr__audit_int(200);
    v[HR_AC_LOCAL_TOKENS_IN] = hr__audit_int(12);
    v[HR_AC_LOCAL_TOKENS_OUT] = hr__audit_int(30);
    v[HR_AC_UPSTREAM_TOKENS_IN] = hr__audit_int(0);
    v[HR_AC_UPSTREAM_TOKENS_OUT] = hr__audit_int(0);
    v[HR_AC_LATENCY_MS] = hr__audit_int(-5);
    v[HR_AC_COST_NUSD] = hr__audit_int(25800);
    v[HR_AC_DEGRADED] = hr__audit_int(0);
    v[HR_AC_HASH] = hr__audit_text("not part of the content", 23);
    hr_buf b = {0};
    assert_int_equal(hr__audit_canonical(&b, v), 0);
    assert_string_equal(b.p, want);

    uint8_t key[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
    }
    char hash[65], sig[65];
    const char *prev = "abababababababababababababababababababababababababababababababab";
    assert_int_equal(hr__audit_seal(&b, v, prev, key, 32, hash, sig), 0);
    assert_string_equal(hash, "f44cb3ba496f4370a3bbc774c95f66a4c4f2f772e58c95b7ad311fca7754d32b");
    assert_string_equal(sig, "5984280cf697d314aa02124ab71b80a87643935bf41aff1549a23f9eb3f61b84");
    assert_int_equal(hr__audit_seal(&b, v, prev, NULL, 0, hash, sig), HR_EINVAL);
    v[HR_AC_LATENCY_MS].type = HR_AV_OTHER;
    hr_buf_reset(&b);
    assert_int_equal(hr__audit_canonical(&b, v), HR_EFORMAT);
    hr_buf_deinit(&b);
}

/* ---- writing and verifying --------------------------------------------------- */

static void test_write_and_verify(void **state)
{
    fx *f = *state;
    char text[512], kpath[256];
    hr_audit_opts o = {.path = f->db};
    hr_audit *a = open_log(&o);
    log_range(a, 0, 500, 0);
    hr_audit_record r;
    char id[32];
    make_record(&r, 500, id, sizeof id);
    r.request_id = "bad\xff utf-8";
    assert_int_equal(hr_audit_log(a, &r), 0);
    assert_int_equal(hr_audit_flush(a), 0);
    hr_audit_stats st;
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.written, 501);
    assert_int_equal(st.deferred, 0);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.queue_depth, 0);
    hr_audit_close(a);

    /* The key file: 64 hex digits, readable by the owner only. */
    struct stat ks;
    snprintf(kpath, sizeof kpath, "%s.key", f->db);
    assert_int_equal(stat(kpath, &ks), 0);
    assert_int_equal(ks.st_mode & 0777, 0600);
    assert_int_equal(ks.st_size, 65);

    hr_audit_verdict v = verify(f->db, NULL);
    assert_true(v.intact);
    assert_int_equal(v.rows, 501);
    assert_int_equal(sql_i64(f->db, "PRAGMA user_version"), 1);
    sql_text(f->db, "PRAGMA journal_mode", text, sizeof text);
    assert_string_equal(text, "wal");
    sql_text(f->db, "SELECT pii FROM audit WHERE id = 3", text, sizeof text);
    assert_string_equal(text, "{\"email\":{\"action\":\"redact\",\"count\":2},"
                              "\"phone\":{\"action\":\"block\",\"count\":1}}");
    sql_text(f->db, "SELECT pii FROM audit WHERE id = 1", text, sizeof text);
    assert_string_equal(text, "{}");
    sql_text(f->db, "SELECT prompt FROM audit WHERE id = 1", text, sizeof text);
    assert_string_equal(text, PROMPT);
    sql_text(f->db, "SELECT prompt FROM audit WHERE id = 2", text, sizeof text);
    assert_string_equal(text, "(null)");
    assert_int_equal(sql_i64(f->db, "SELECT cost_nusd FROM audit WHERE id = 4"), 3000);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM audit WHERE time LIKE "
                                    "'____-__-__T__:__:__.___Z'"), 501);
    sql_text(f->db, "SELECT request_id FROM audit WHERE id = 501", text, sizeof text);
    assert_string_equal(text, "bad\xef\xbf\xbd utf-8");
    sql_text(f->db, "SELECT prev_hash FROM audit WHERE id = 1", text, sizeof text);
    assert_string_equal(text, ZERO64);

    /* Reopened, the chain goes on from the last row. */
    a = open_log(&o);
    log_range(a, 501, 10, 0);
    hr_audit_close(a);
    v = verify(f->db, NULL);
    assert_true(v.intact);
    assert_int_equal(v.rows, 511);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM audit a JOIN audit b "
                                    "ON b.id = a.id + 1 WHERE b.prev_hash = a.hash"), 510);
}

/* ---- tampering ------------------------------------------------------------------ */

typedef struct tamper {
    const char *sql;
    int64_t broken_at;
    const char *why;
} tamper;

static const tamper TAMPERS[] = {
    {"UPDATE audit SET route = 'elsewhere' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET request_id = 'req-x' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET key_id = 'key-000000' WHERE id = 1", 1, "content"},
    {"UPDATE audit SET policy = NULL WHERE id = 5", 5, "content"},
    {"UPDATE audit SET local_model = 'big' WHERE id = 10", 10, "content"},
    {"UPDATE audit SET upstream = 'anthropic' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET upstream_model = 'x' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET escalated = 1 - escalated WHERE id = 5", 5, "content"},
    {"UPDATE audit SET escalation_reason = 'none' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET data_class = 'public' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET pii = '{}' WHERE id = 3", 3, "content"},
    {"UPDATE audit SET prompt = NULL WHERE id = 5", 5, "content"},
    {"UPDATE audit SET prompt = 'leaked' WHERE id = 6", 6, "content"},
    {"UPDATE audit SET http_status = 500 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET local_tokens_in = 0 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET local_tokens_out = '20x' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET upstream_tokens_in = 99 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET upstream_tokens_out = NULL WHERE id = 5", 5, "content"},
    {"UPDATE audit SET latency_ms = 4.5 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET cost_nusd = 0 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET degraded = 1 WHERE id = 4", 4, "content"},
    {"UPDATE audit SET time_ms = time_ms + 1 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET time = '2020-01-01T00:00:00.000Z' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET kind = 'checkpoint' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET cp_last_id = 1 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET cp_last_hash = 'x' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET cp_count = 3 WHERE id = 5", 5, "content"},
    {"UPDATE audit SET request_id = x'00ff' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET hash = '" ZERO64 "' WHERE id = 5", 5, "content"},
    {"UPDATE audit SET sig = 'forged' WHERE id = 5", 5, "signature"},
    {"UPDATE audit SET prev_hash = (SELECT hash FROM audit WHERE id = 2) WHERE id = 5", 5,
     "prev_hash"},
    {"UPDATE audit SET prev_hash = 'short' WHERE id = 1", 1, "zeros"},
    {"DELETE FROM audit WHERE id = 5", 6, "rows 5 to 5 are missing"},
    {"DELETE FROM audit WHERE id IN (4, 5, 6)", 7, "rows 4 to 6 are missing"},
    {"DELETE FROM audit WHERE id = 1", 2, "no checkpoint"},
    {"UPDATE audit SET id = -3 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = 8;"
     "UPDATE audit SET id = 8 WHERE id = -3", 3, "prev_hash"},
    {"UPDATE audit SET id = id + 100 WHERE id >= 8", 108, "rows 8 to 107 are missing"},
    {"UPDATE audit SET id = 0 WHERE id = 1", 0, "start at 1"},
    {"INSERT INTO audit(id, time_ms, time, kind, prev_hash, hash) "
     "SELECT 11, time_ms, time, kind, hash, hash FROM audit WHERE id = 10", 11, "content"},
    {"UPDATE audit SET (route, request_id, prompt, hash, prev_hash) = (SELECT route, "
     "request_id, prompt, hash, prev_hash FROM audit WHERE id = 9) WHERE id = 7", 7, "prev_hash"},
};

static void test_tampering(void **state)
{
    fx *f = *state;
    char path[256];
    for (size_t i = 0; i < sizeof TAMPERS / sizeof TAMPERS[0]; i++) {
        snprintf(path, sizeof path, "%s/t%zu.db", f->dir, i);
        write_rows(path, 10);
        expect_intact(path, 10, 0);
        sql_exec(path, TAMPERS[i].sql);
        expect_broken(path, KEY_ENV, TAMPERS[i].broken_at, TAMPERS[i].why);
    }
}

/* ---- retention and checkpoints -------------------------------------------------- */

/* Rewrite row id's cp_count and give it the hash that matches, as someone
 * who knows the format but not the key would. */
static void forge_checkpoint(const char *path, int64_t id)
{
    sqlite3 *db = raw_open(path);
    hr_buf sql = {0};
    assert_int_equal(hr__audit_select_sql(&sql), 0);
    assert_int_equal(hr_buf_printf(&sql, " WHERE id = %lld", (long long)id), 0);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql.p, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    hr__audit_val v[HR_AC_N];
    hr__audit_read_row(st, v);
    char prev[65], hash[65];
    snprintf(prev, sizeof prev, "%s", v[HR_AC_PREV_HASH].s);
    v[HR_AC_CP_COUNT] = hr__audit_int(99);
    assert_int_equal(hr__audit_seal(&sql, v, prev, NULL, 0, hash, NULL), 0);
    sqlite3_finalize(st);
    hr_buf_reset(&sql);
    hr_buf_printf(&sql, "UPDATE audit SET cp_count = 99, hash = '%s' WHERE id = %lld", hash,
                  (long long)id);
    assert_int_equal(sqlite3_exec(db, sql.p, NULL, NULL, NULL), SQLITE_OK);
    hr_buf_deinit(&sql);
    sqlite3_close(db);
}

static void test_retention(void **state)
{
    fx *f = *state;
    char path[256], kpath[300], moved[320];
    int64_t now = now_ms();
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV};
    hr_audit *a = open_log(&o);
    log_range(a, 0, 20, now - 40 * 86400000LL);
    log_range(a, 20, 10, now - 25 * 3600000LL);
    hr_audit_close(a);
    snprintf(kpath, sizeof kpath, "%s.key", f->db);
    assert_int_equal(access(kpath, F_OK), -1); /* the key came from the environment */

    o.retention_days = 30;
    a = open_log(&o);
    hr_audit_stats st;
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.pruned, 20);
    hr_audit_close(a);
    expect_intact(f->db, 11, 1);
    assert_int_equal(sql_i64(f->db, "SELECT min(id) FROM audit"), 21);
    assert_int_equal(sql_i64(f->db, "SELECT id FROM audit WHERE kind = 'checkpoint'"), 31);
    assert_int_equal(sql_i64(f->db, "SELECT cp_last_id FROM audit WHERE id = 31"), 20);
    assert_int_equal(sql_i64(f->db, "SELECT cp_count FROM audit WHERE id = 31"), 20);
    assert_int_equal(sql_i64(f->db, "SELECT length(sig) FROM audit WHERE id = 31"), 64);

    a = open_log(&o);
    log_range(a, 30, 5, 0);
    hr_audit_close(a);
    expect_intact(f->db, 16, 1);

    /* Offline, by a day: rows 21-30 go; the first checkpoint stays in the chain. */
    int64_t n = -1;
    char err[512];
    assert_int_equal(hr_audit_prune(f->db, 1, KEY_ENV, &n, err, sizeof err), 0);
    assert_int_equal(n, 10);
    expect_intact(f->db, 7, 2);
    assert_int_equal(hr_audit_prune(f->db, 1, KEY_ENV, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sql_i64(f->db, "SELECT max(id) FROM audit"), 37);

    /* Another key, a forged checkpoint, a missing one, a missing key. */
    setenv("HEARTH_TEST_WRONG_KEY", ZERO64, 1);
    expect_broken(f->db, "HEARTH_TEST_WRONG_KEY", 31, "signature");
    hr_audit_verdict v;
    setenv("HEARTH_TEST_SHORT_KEY", "short", 1);
    assert_int_equal(hr_audit_verify(f->db, "HEARTH_TEST_SHORT_KEY", &v, err, sizeof err),
                     HR_EINVAL);
    assert_int_equal(hr_audit_verify(f->db, NULL, &v, err, sizeof err), HR_EACCES);
    assert_non_null(strstr(err, "no key"));
    assert_int_equal(hr_audit_prune(f->db, 1, NULL, &n, err, sizeof err), HR_ENOENT);

    snprintf(path, sizeof path, "%s/forged.db", f->dir);
    copy_file(f->db, path);
    forge_checkpoint(path, 37);
    expect_broken(path, KEY_ENV, 37, "signature");
    copy_file(f->db, path);
    sql_exec(path, "DELETE FROM audit WHERE id = 37");
    expect_broken(path, KEY_ENV, 31, "checkpoint (row 31) says the first row is 21");
    copy_file(f->db, path);
    sql_exec(path, "DELETE FROM audit WHERE id = 31");
    expect_broken(path, KEY_ENV, 32, "checkpoint (row 37) says the first row is 31");
    copy_file(f->db, path);
    sql_exec(path, "UPDATE audit SET cp_count = 1 WHERE id = 37");
    expect_broken(path, KEY_ENV, 37, "content");

    /* The key file written on first open signs and checks checkpoints too. */
    snprintf(path, sizeof path, "%s/keyfile.db", f->dir);
    hr_audit_opts ko = {.path = path, .retention_days = 30};
    a = open_log(&ko);
    log_range(a, 0, 3, now - 40 * 86400000LL);
    hr_audit_close(a);
    a = open_log(&ko);
    hr_audit_close(a);
    hr_audit_verdict kv = verify(path, NULL);
    assert_true(kv.intact);
    assert_int_equal(kv.checkpoints, 1);
    snprintf(kpath, sizeof kpath, "%s.key", path);
    snprintf(moved, sizeof moved, "%s.moved", kpath);
    assert_int_equal(rename(kpath, moved), 0);
    assert_int_equal(hr_audit_verify(path, NULL, &v, err, sizeof err), HR_EACCES);
    FILE *kf = fopen(kpath, "w");
    fputs(KEY_HEX "\n", kf);
    fclose(kf);
    chmod(kpath, 0600);
    expect_broken(path, NULL, 4, "signature");
}

static void test_periodic_prune(void **state)
{
    fx *f = *state;
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV, .retention_days = 30,
                       .prune_period_ms = 20, .start_paused = true};
    hr_audit *a = open_log(&o);
    log_range(a, 0, 5, now_ms() - 40 * 86400000LL);
    hr_audit_pause(a, false);
    hr_audit_stats st = {0};
    for (int i = 0; i < 500 && st.pruned < 5; i++) {
        sleep_us(10000);
        hr_audit_stats_get(a, &st);
    }
    assert_int_equal(st.pruned, 5);
    log_range(a, 5, 3, 0);
    hr_audit_close(a);
    expect_intact(f->db, 4, 1);
}

/* ---- the queue -------------------------------------------------------------------- */

static void test_overflow(void **state)
{
    fx *f = *state;
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV, .queue_capacity = 8,
                       .start_paused = true};
    hr_audit *a = open_log(&o);
    log_range(a, 0, 100, 0);
    hr_audit_stats st;
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.deferred, 92);
    assert_int_equal(st.queue_depth, 100);
    assert_int_equal(hr_audit_flush(a), HR_EAGAIN);

    /* Running again, then paused with records waiting. */
    hr_audit_pause(a, false);
    assert_int_equal(hr_audit_flush(a), 0);
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.written, 100);
    assert_int_equal(st.queue_depth, 0);
    hr_audit_pause(a, true);
    log_range(a, 100, 50, 0);
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.deferred, 92 + 42);
    hr_audit_close(a);

    expect_intact(f->db, 150, 0);
    assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM audit "
                                    "WHERE request_id = 'req-' || (id - 1)"), 150);
}

/* Without hr_audit_flush the writer still commits: after gathering for a
 * few ms, or at once when the ring is full. */
static void test_commits_without_flush(void **state)
{
    fx *f = *state;
    for (size_t cap = 0; cap <= 8; cap += 8) { /* the default ring, then one of 8 */
        hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV, .queue_capacity = cap};
        hr_audit *a = open_log(&o);
        int64_t t0 = now_ms();
        log_range(a, (int)cap * 2, 8, 0);
        hr_audit_stats st;
        do {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            hr_audit_stats_get(a, &st);
        } while (st.written < 8 && now_ms() - t0 < 5000);
        assert_int_equal(st.written, 8);
        assert_true(now_ms() - t0 < 1000);
        hr_audit_close(a);
    }
    expect_intact(f->db, 16, 0);
}

typedef struct logger_arg {
    hr_audit *a;
    int base;
} logger_arg;

static void *logger_main(void *p)
{
    logger_arg *la = p;
    for (int i = 0; i < 2000; i++) {
        hr_audit_record r;
        char id[32];
        make_record(&r, la->base + i, id, sizeof id);
        if (hr_audit_log(la->a, &r) != 0) {
            return p;
        }
    }
    return NULL;
}

static void test_concurrent_loggers(void **state)
{
    fx *f = *state;
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV, .queue_capacity = 64};
    hr_audit *a = open_log(&o);
    pthread_t t[4];
    logger_arg la[4];
    for (int i = 0; i < 4; i++) {
        la[i] = (logger_arg){a, i * 100000};
        assert_int_equal(pthread_create(&t[i], NULL, logger_main, &la[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(hr_audit_flush(a), 0);
    hr_audit_stats st;
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.written, 8000);
    hr_audit_close(a);
    expect_intact(f->db, 8000, 0);
}

/* ---- disk errors ------------------------------------------------------------------- */

static void test_disk_errors(void **state)
{
    fx *f = *state;
    hr_log_level level = hr_log_get_level();
    hr_log_set_level(HR_LOG_OFF);
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV, .busy_timeout_ms = 10,
                       .retry_ms = 10, .max_retries = 1000};
    hr_audit *a = open_log(&o);
    log_range(a, 0, 3, 0);
    assert_int_equal(hr_audit_flush(a), 0);

    /* Another connection holds the write lock: batches fail and are retried. */
    sqlite3 *lock = raw_open(f->db);
    assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    log_range(a, 3, 5, 0);
    hr_audit_stats st = {0};
    for (int i = 0; i < 500 && st.failed < 2; i++) {
        sleep_us(10000);
        hr_audit_stats_get(a, &st);
    }
    assert_true(st.failed >= 2);
    assert_int_equal(st.written, 3);
    assert_int_equal(st.queue_depth, 5);
    assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(hr_audit_flush(a), 0);
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.written, 8);
    assert_int_equal(st.dropped, 0);
    hr_audit_close(a);
    expect_intact(f->db, 8, 0);

    /* With few retries, a batch is given up on, counted and logged. */
    o.max_retries = 2;
    a = open_log(&o);
    assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    hr_audit_pause(a, true);
    log_range(a, 8, 4, 0);
    hr_audit_pause(a, false);
    assert_int_equal(hr_audit_flush(a), 0);
    hr_audit_stats_get(a, &st);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.failed, 3);
    assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    log_range(a, 12, 2, 0);
    hr_audit_close(a);
    sqlite3_close(lock);
    expect_intact(f->db, 10, 0);
    hr_log_set_level(level);
}

/* ---- a writer killed mid-stream ----------------------------------------------------- */

static void crash_child(const char *path, int fd)
{
    hr_audit *a = NULL;
    hr_audit_opts o = {.path = path, .key_env = KEY_ENV, .queue_capacity = 1024};
    if (hr_audit_open(&a, &o, NULL, 0) != 0) {
        _exit(3);
    }
    for (int i = 0;; i++) {
        hr_audit_record r;
        char id[32];
        make_record(&r, i, id, sizeof id);
        if (hr_audit_log(a, &r) != 0) {
            _exit(4);
        }
        if (i == 200) {
            hr_audit_flush(a);
            if (write(fd, "x", 1) != 1) {
                _exit(5);
            }
        }
        hr_audit_stats st;
        hr_audit_stats_get(a, &st);
        while (st.queue_depth > 20000) {
            sleep_us(100);
            hr_audit_stats_get(a, &st);
        }
    }
}

static void test_kill_9(void **state)
{
    fx *f = *state;
    for (int round = 0; round < 3; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->db, fds[1]);
        }
        close(fds[1]);
        char c;
        assert_int_equal(read(fds[0], &c, 1), 1);
        close(fds[0]);
        sleep_us(100000 + 100000L * round);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Whole rows only, all in order, and the chain intact. */
        int64_t rows = sql_i64(f->db, "SELECT count(*) FROM audit");
        assert_true(rows > 200);
        assert_int_equal(sql_i64(f->db, "SELECT max(id) FROM audit"), rows);
        expect_intact(f->db, rows, 0);

        /* The next writer continues the chain. */
        hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV};
        hr_audit *a = open_log(&o);
        log_range(a, 0, 5, 0);
        hr_audit_close(a);
        expect_intact(f->db, rows + 5, 0);
        assert_int_equal(sql_i64(f->db, "SELECT count(*) FROM audit a JOIN audit b "
                                        "ON b.id = a.id + 1 WHERE b.prev_hash = a.hash"),
                         rows + 4);
    }
}

/* ---- export ------------------------------------------------------------------------- */

static char *read_all(FILE *fp, size_t *n)
{
    static char buf[1 << 16];
    rewind(fp);
    *n = fread(buf, 1, sizeof buf - 1, fp);
    buf[*n] = '\0';
    return buf;
}

/* A minimal RFC 4180 reader: the fields of the CSV in s, row after row, into
 * f (each a copy); returns the number of fields and counts rows in *rows. */
static size_t parse_csv(const char *s, char f[][256], size_t max, size_t *rows)
{
    size_t nf = 0, k = 0;
    bool quoted = false;
    *rows = 0;
    for (const char *p = s; *p && nf < max; p++) {
        if (quoted && *p == '"' && p[1] == '"') {
            f[nf][k++] = '"';
            p++;
        } else if (*p == '"' && (quoted || k == 0)) {
            quoted = !quoted;
        } else if (!quoted && (*p == ',' || (*p == '\r' && p[1] == '\n'))) {
            f[nf++][k] = '\0';
            k = 0;
            if (*p == '\r') {
                p++;
                (*rows)++;
            }
        } else if (k < 255) {
            f[nf][k++] = *p;
        }
    }
    return nf;
}

static void test_export(void **state)
{
    fx *f = *state;
    const int64_t t0 = 1764237600000; /* 2025-11-27T10:00:00Z */
    hr_audit_opts o = {.path = f->db, .key_env = KEY_ENV};
    hr_audit *a = open_log(&o);
    for (int i = 0; i < 3; i++) {
        log_range(a, 2 * i, 1, t0 + i * 3600000LL);
    }
    hr_audit_close(a);
    char out_path[256], err[512];
    snprintf(out_path, sizeof out_path, "%s/export.out", f->dir);
    FILE *fp = fopen(out_path, "w+");
    assert_non_null(fp);
    size_t n;

    assert_int_equal(hr_audit_export(f->db, 0, 0, HR_AUDIT_JSONL, fp, err, sizeof err), 0);
    char *text = read_all(fp, &n);
    int lines = 0;
    char *line = text;
    char *nl = strchr(line, '\n');
    while (nl) {
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)(nl - line), 0, &je);
        assert_non_null(row);
        assert_int_equal(json_object_size(row), HR_AC_N);
        assert_int_equal(json_integer_value(json_object_get(row, "id")), lines + 1);
        assert_string_equal(json_string_value(json_object_get(row, "prompt")), PROMPT);
        assert_string_equal(json_string_value(json_object_get(row, "route")), "cloud, \"fast\"");
        assert_int_equal(strlen(json_string_value(json_object_get(row, "hash"))), 64);
        assert_true(json_is_null(json_object_get(row, "sig")));
        json_decref(row);
        lines++;
        line = nl + 1;
        nl = strchr(line, '\n');
    }
    assert_int_equal(lines, 3);

    /* CSV: header, CRLF, quoting; NULL empty, an empty string quoted. */
    sql_exec(f->db, "UPDATE audit SET data_class = '' WHERE id = 1");
    fp = freopen(out_path, "w+", fp);
    assert_int_equal(hr_audit_export(f->db, 0, 0, HR_AUDIT_CSV, fp, err, sizeof err), 0);
    text = read_all(fp, &n);
    static char fields[4 * HR_AC_N + 8][256];
    size_t rows;
    size_t nf = parse_csv(text, fields, sizeof fields / sizeof fields[0], &rows);
    assert_int_equal(rows, 4);
    assert_int_equal(nf, 4 * HR_AC_N);
    for (int c = 0; c < HR_AC_N; c++) {
        assert_string_equal(fields[c], hr__audit_cols[c].name);
    }
    for (int r = 1; r <= 3; r++) {
        assert_string_equal(fields[r * HR_AC_N + HR_AC_PROMPT], PROMPT);
        assert_string_equal(fields[r * HR_AC_N + HR_AC_ROUTE], "cloud, \"fast\"");
        assert_string_equal(fields[r * HR_AC_N + HR_AC_SIG], "");
    }
    assert_non_null(strstr(text, ",\"cloud, \"\"fast\"\"\","));
    assert_non_null(strstr(text, ",\"\",")); /* the empty data_class */
    assert_non_null(strstr(text, "\r\n1,1764237600000,2025-11-27T10:00:00.000Z,request,"));

    /* A time window: only the middle row. */
    fp = freopen(out_path, "w+", fp);
    assert_int_equal(hr_audit_export(f->db, t0 + 1800000, t0 + 5400000, HR_AUDIT_JSONL, fp, err,
                                     sizeof err), 0);
    text = read_all(fp, &n);
    assert_int_equal(strncmp(text, "{\"id\":2,", 8), 0);
    assert_true(n > 0 && strchr(text, '\n') == text + n - 1);
    fclose(fp);

    /* A stream that cannot be written. */
    fp = fopen(out_path, "r");
    assert_int_equal(hr_audit_export(f->db, 0, 0, HR_AUDIT_CSV, fp, err, sizeof err), HR_EIO);
    fclose(fp);
    assert_int_equal(hr_audit_export(f->db, 0, 0, (hr_audit_format)7, stdout, err, sizeof err),
                     HR_EINVAL);
}

static void test_parse_time(void **state)
{
    static const struct {
        const char *s;
        int64_t ms; /* -1: rejected */
    } cases[] = {
        {"2026-11-27", 1795737600000},
        {"2026-11-27T10:00:00Z", 1795737600000 + 36000000},
        {"2026-11-27 10:00:00", 1795737600000 + 36000000},
        {"2026-11-27T10:00Z", 1795737600000 + 36000000},
        {"2026-11-27T10:00:00.5Z", 1795737600000 + 36000500},
        {"2026-11-27T10:00:00.123456Z", 1795737600000 + 36000123},
        {"1970-01-01", 0},
        {"2024-02-29", 1709164800000},
        {"1700000000", 1700000000000},
        {"0", 0},
        {"", -1},
        {"yesterday", -1},
        {"2026-13-01", -1},
        {"2026-00-10", -1},
        {"2026-02-29", -1},
        {"2026-04-31", -1},
        {"2026-11-27T24:00:00Z", -1},
        {"2026-11-27T10:60", -1},
        {"2026-11-27T10", -1},
        {"2026-11-27T10:00:00.Z", -1},
        {"2026-11-27Z", -1},
        {"2026-11-27T10:00:00+02:00", -1},
        {"-5", -1},
        {"99999999999999", -1},
        {"2026-1-1", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -42;
        int rc = hr_audit_parse_time(cases[i].s, &ms);
        if (cases[i].ms < 0 ? rc != HR_EINVAL : (rc != 0 || ms != cases[i].ms)) {
            fail_msg("'%s': rc %d ms %lld, want %lld", cases[i].s, rc, (long long)ms,
                     (long long)cases[i].ms);
        }
    }
    assert_int_equal(hr_audit_parse_time(NULL, NULL), HR_EINVAL);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void expect_open_fails(const char *path, const char *key_env, int code, const char *msg)
{
    hr_audit *a = (hr_audit *)1;
    char err[512] = "";
    hr_audit_opts o = {.path = path, .key_env = key_env};
    int rc = hr_audit_open(&a, &o, err, sizeof err);
    if (rc != code || a != NULL || !strstr(err, msg)) {
        fail_msg("%s: rc %s, want %s; err '%s', want '%s'", path, hr_err_name(rc),
                 hr_err_name(code), err, msg);
    }
}

static void test_bad_files(void **state)
{
    fx *f = *state;
    char path[256], err[512];
    hr_audit *a = NULL;
    hr_audit_verdict v;
    hr_audit_opts o = {0};
    assert_int_equal(hr_audit_open(&a, &o, err, sizeof err), HR_EINVAL);
    o.path = f->db;
    assert_int_equal(hr_audit_open(NULL, &o, err, sizeof err), HR_EINVAL);
    expect_open_fails(f->dir, NULL, HR_EISDIR, "is a directory");
    snprintf(path, sizeof path, "%s/none/audit.db", f->dir);
    expect_open_fails(path, NULL, HR_ENOENT, "no such file");
    assert_int_equal(hr_audit_verify(path, NULL, &v, err, sizeof err), HR_ENOENT);
    assert_int_equal(hr_audit_export(path, 0, 0, HR_AUDIT_CSV, stdout, err, sizeof err),
                     HR_ENOENT);
    assert_int_equal(hr_audit_prune(path, 1, NULL, NULL, err, sizeof err), HR_ENOENT);

    snprintf(path, sizeof path, "%s/text.db", f->dir);
    write_text(path, "this is not a database, it is a line of text that goes on for a while "
                     "so that SQLite reads a whole header from it and finds no magic\n");
    expect_open_fails(path, NULL, HR_EFORMAT, "not a SQLite database");
    assert_int_equal(hr_audit_verify(path, NULL, &v, err, sizeof err), HR_EFORMAT);
    assert_non_null(strstr(err, "not a SQLite database"));

    snprintf(path, sizeof path, "%s/other.db", f->dir);
    sql_exec(path, "CREATE TABLE notes(x)");
    expect_open_fails(path, NULL, HR_EFORMAT, "not a hearth audit database");
    assert_int_equal(hr_audit_verify(path, NULL, &v, err, sizeof err), HR_EFORMAT);

    snprintf(path, sizeof path, "%s/empty.db", f->dir);
    write_text(path, "");
    assert_int_equal(hr_audit_verify(path, NULL, &v, err, sizeof err), HR_EFORMAT);
    assert_non_null(strstr(err, "not a hearth audit database"));

    snprintf(path, sizeof path, "%s/newer.db", f->dir);
    write_rows(path, 1);
    sql_exec(path, "PRAGMA user_version = 9");
    expect_open_fails(path, KEY_ENV, HR_EFORMAT, "newer");

    snprintf(path, sizeof path, "%s/badkey.db", f->dir);
    char kpath[300];
    snprintf(kpath, sizeof kpath, "%s.key", path);
    write_text(kpath, "not hex\n");
    chmod(kpath, 0600);
    expect_open_fails(path, NULL, HR_EFORMAT, "not an audit key");
    setenv("HEARTH_TEST_SHORT_KEY", "short", 1);
    expect_open_fails(path, "HEARTH_TEST_SHORT_KEY", HR_EINVAL, "16");

    /* Records the log refuses. */
    a = open_log(&(hr_audit_opts){.path = f->db, .key_env = KEY_ENV});
    hr_audit_record r;
    char id[32];
    make_record(&r, 1, id, sizeof id);
    assert_int_equal(hr_audit_log(a, NULL), HR_EINVAL);
    assert_int_equal(hr_audit_log(NULL, &r), HR_EINVAL);
    r.n_pii = HR_AUDIT_MAX_PII + 1;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    r.n_pii = 1;
    r.pii = NULL;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    hr_audit_pii bad[] = {{NULL, 1, "redact"}, {"e\xffmail", 1, "redact"}};
    r.pii = bad;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    r.pii = bad + 1;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    make_record(&r, 1, id, sizeof id);
    r.time_ms = -1;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    r.time_ms = 0;
    r.cost_usd = NAN;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    r.cost_usd = 1e12;
    assert_int_equal(hr_audit_log(a, &r), HR_EINVAL);
    hr_audit_pii no_action = {"ssn", 1, NULL};
    make_record(&r, 1, id, sizeof id);
    r.pii = &no_action;
    r.n_pii = 1;
    assert_int_equal(hr_audit_log(a, &r), 0);
    hr_audit_close(a);
    hr_audit_close(NULL);
    char text[256];
    sql_text(f->db, "SELECT pii FROM audit", text, sizeof text);
    assert_string_equal(text, "{\"ssn\":{\"action\":null,\"count\":1}}");
    expect_intact(f->db, 1, 0);
}

/* ---- allocation failures ----------------------------------------------------------- */

static void test_alloc_failures(void **state)
{
    fx *f = *state;
    hr_log_level level = hr_log_get_level();
    hr_log_set_level(HR_LOG_OFF);
    int failures = 0, logged = 0;
    for (long n = 1; n <= 60; n++) {
        char err[512];
        hr_audit *a = NULL;
        hr_audit_opts o = {.path = f->db, .key_env = n % 2 ? KEY_ENV : NULL,
                           .retention_days = 30, .retry_ms = 1};
        hr_alloc_fail_at(n);
        int rc = hr_audit_open(&a, &o, err, sizeof err);
        for (int i = 0; rc == 0 && i < 3; i++) {
            hr_audit_record r;
            char id[32];
            make_record(&r, i, id, sizeof id);
            int lrc = hr_audit_log(a, &r);
            assert_true(lrc == 0 || lrc == HR_ENOMEM);
            logged += lrc == 0;
        }
        hr_audit_close(a);
        hr_alloc_fail_at(0);
        assert_true(rc == 0 || rc == HR_ENOMEM);
        assert_true(rc == 0 || a == NULL);
        failures += rc != 0;
    }
    assert_true(failures > 0);
    hr_audit_verdict v = verify(f->db, KEY_ENV);
    assert_true(v.intact);
    assert_int_equal(v.rows, logged);

    for (long n = 1; n <= 12; n++) {
        char err[512];
        hr_audit_verdict vv;
        FILE *null = fopen("/dev/null", "w");
        hr_alloc_fail_at(n);
        int rc = hr_audit_verify(f->db, KEY_ENV, &vv, err, sizeof err);
        int erc = hr_audit_export(f->db, 0, 0, n % 2 ? HR_AUDIT_CSV : HR_AUDIT_JSONL, null, err,
                                  sizeof err);
        hr_alloc_fail_at(0);
        fclose(null);
        assert_true(rc == HR_ENOMEM || (rc == 0 && vv.intact));
        assert_true(erc == 0 || erc == HR_ENOMEM);
    }
    hr_log_set_level(level);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_form),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test_setup_teardown(test_write_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commits_without_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_loggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
