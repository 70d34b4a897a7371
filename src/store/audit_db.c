/* SPDX-License-Identifier: MIT */
/* audit_db.c -- the audit database itself: opening it (WAL, schema), the
 * checkpoint key, appending rows to the chain, and pruning by age behind a
 * signed checkpoint.
 *
 * One hr__audit_db is used by one thread at a time: the writer thread for a
 * live log, the caller's thread for the offline operations. Appends and
 * prunes read the chain's tail inside their own write transaction, so any
 * number of processes may append to one file without forking the chain. */
#include "store/store.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

static const char ZERO_HASH[HR_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- opening -------------------------------------------------------------- */

static int db_error(hr__audit_db *d, int code, char *err, size_t errlen)
{
    int prim = d->db ? sqlite3_errcode(d->db) & 0xff : SQLITE_CANTOPEN;
    if (prim == SQLITE_NOTADB) {
        return hr_errf(err, errlen, HR_EFORMAT, "%s: not a SQLite database", d->path);
    }
    int sys = d->db ? sqlite3_system_errno(d->db) : 0;
    if (prim == SQLITE_CANTOPEN && sys > 0) {
        return hr_errf(err, errlen, -sys, "%s: %s", d->path, hr_strerror(-sys));
    }
    return hr_errf(err, errlen, code, "%s: %s", d->path, d->db ? sqlite3_errmsg(d->db) : "?");
}

static int exec(hr__audit_db *d, const char *sql)
{
    return sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : HR_EDB;
}

/* The first column of the first row of sql as an integer; *found false
 * (and *out 0) when there is no row or it is NULL. */
static int query_i64(hr__audit_db *d, const char *sql, int64_t arg, int64_t *out, bool *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > 0) {
        rc = sqlite3_bind_int64(st, 1, arg);
    }
    rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
    *out = 0;
    *found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (*found) {
        *out = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : HR_EDB;
}

static int create_schema(hr__audit_db *d)
{
    hr_buf sql = {0};
    int rc = hr_buf_append_str(&sql, "CREATE TABLE audit(");
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_printf(&sql, "%s%s %s", c ? ", " : "", hr__audit_cols[c].name,
                           hr__audit_cols[c].decl);
    }
    rc = rc ? rc : hr_buf_printf(&sql, ");"
                                 "CREATE INDEX audit_time ON audit(time_ms);"
                                 "CREATE INDEX audit_checkpoint ON audit(id) "
                                 "WHERE kind = 'checkpoint';"
                                 "PRAGMA user_version = %d;", HR_AUDIT_SCHEMA_VERSION);
    rc = rc ? rc : exec(d, sql.p);
    hr_buf_deinit(&sql);
    return rc;
}

/* Check (and for a new file, create) the schema. */
static int schema(hr__audit_db *d, hr__audit_mode mode, char *err, size_t errlen)
{
    int64_t version = 0, tables = 0, ours = 0;
    bool found;
    bool create = mode == HR_AUDIT_OPEN_CREATE;
    int rc = create ? exec(d, "BEGIN IMMEDIATE") : 0;
    rc = rc ? rc : query_i64(d, "PRAGMA user_version", 0, &version, &found);
    rc = rc ? rc : query_i64(d, "SELECT count(*) FROM sqlite_master", 0, &tables, &found);
    rc = rc ? rc : query_i64(d, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                             "AND name = 'audit'", 0, &ours, &found);
    if (rc == 0 && create && version == 0 && tables == 0) {
        rc = create_schema(d);
        version = HR_AUDIT_SCHEMA_VERSION;
        ours = 1;
    }
    if (rc < 0) {
        rc = db_error(d, rc, err, errlen);
    } else if (version > HR_AUDIT_SCHEMA_VERSION) {
        rc = hr_errf(err, errlen, HR_EFORMAT, "%s: audit schema %lld is newer than this "
                     "hearth's (%d)", d->path, (long long)version, HR_AUDIT_SCHEMA_VERSION);
    } else if (version != HR_AUDIT_SCHEMA_VERSION || ours != 1) {
        rc = hr_errf(err, errlen, HR_EFORMAT, "%s: not a hearth audit database", d->path);
    }
    if (create) {
        sqlite3_exec(d->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* WAL lets readers (verify, export) run beside the writer. synchronous=NORMAL
 * syncs the WAL at checkpoints rather than at every commit: a commit is
 * atomic either way, a killed process loses nothing committed, and a power
 * loss or OS crash can lose the last transactions (a suffix of the chain,
 * which stays valid) but never corrupts the file. FULL would add an fsync
 * to every batch. */
static int set_wal(hr__audit_db *d, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
    const unsigned char *m = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    bool wal = m && strcmp((const char *)m, "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        return db_error(d, HR_EDB, err, errlen);
    }
    if (!wal) {
        return hr_errf(err, errlen, HR_EDB, "%s: cannot use WAL mode", d->path);
    }
    return exec(d, "PRAGMA synchronous = NORMAL") == 0 ? 0 : db_error(d, HR_EDB, err, errlen);
}

static int check_file(const char *path, hr__audit_mode mode, char *err, size_t errlen)
{
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (!exists && (mode != HR_AUDIT_OPEN_CREATE || errno != ENOENT)) {
        return hr_errf(err, errlen, -errno, "%s: %s", path, hr_strerror(-errno));
    }
    if (exists && S_ISDIR(st.st_mode)) {
        return hr_errf(err, errlen, HR_EISDIR, "%s: is a directory", path);
    }
    if (exists && !S_ISREG(st.st_mode)) {
        return hr_errf(err, errlen, HR_EFORMAT, "%s: not a regular file", path);
    }
    return 0;
}

/* A read-only connection to a WAL database needs its -shm file or a
 * directory it may create it in. A reader with neither can still read a
 * file that has no -wal (so everything committed is in the file itself) as
 * immutable. */
static int reopen_immutable(hr__audit_db *d)
{
    hr_buf name = {0};
    int rc = hr_buf_printf(&name, "%s-wal", d->path);
    if (rc < 0 || access(name.p, F_OK) == 0) {
        hr_buf_deinit(&name);
        return HR_EDB;
    }
    hr_buf_reset(&name);
    rc = hr_buf_append_str(&name, "file:");
    for (const unsigned char *p = (const unsigned char *)d->path; rc == 0 && *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("/._-~", *p);
        rc = plain ? hr_buf_append(&name, p, 1) : hr_buf_printf(&name, "%%%02X", *p);
    }
    rc = rc ? rc : hr_buf_append_str(&name, "?immutable=1");
    sqlite3_close(d->db);
    d->db = NULL;
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    if (rc == 0 && sqlite3_open_v2(name.p, &d->db, flags, NULL) != SQLITE_OK) {
        rc = HR_EDB;
    }
    hr_buf_deinit(&name);
    return rc;
}

int hr__audit_db_open(hr__audit_db *d, const char *path, hr__audit_mode mode,
                      uint32_t busy_timeout_ms, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    int rc = check_file(path, mode, err, errlen);
    if (rc < 0) {
        return rc;
    }
    /* Readers open read-write where they may, with query_only set: a
     * read-only connection cannot remove the -wal and -shm files it leaves. */
    bool ro = mode == HR_AUDIT_OPEN_READ && access(path, W_OK) != 0;
    int flags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    flags |= (mode == HR_AUDIT_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
        rc = db_error(d, HR_EDB, err, errlen);
    }
    if (rc == 0) {
        sqlite3_busy_timeout(d->db, (int)busy_timeout_ms);
        rc = mode == HR_AUDIT_OPEN_READ ? exec(d, "PRAGMA query_only = 1") : 0;
        rc = rc ? db_error(d, rc, err, errlen) : schema(d, mode, err, errlen);
    }
    if (rc < 0 && ro && (sqlite3_errcode(d->db) & 0xff) == SQLITE_READONLY &&
        reopen_immutable(d) == 0) {
        rc = schema(d, mode, err, errlen);
    }
    if (rc == 0 && mode != HR_AUDIT_OPEN_READ) {
        rc = set_wal(d, err, errlen);
    }
    if (rc < 0) {
        hr__audit_db_close(d);
    }
    return rc;
}

void hr__audit_db_close(hr__audit_db *d)
{
    sqlite3_finalize(d->ins);
    sqlite3_finalize(d->tail);
    sqlite3_close(d->db);
    hr_buf_deinit(&d->scratch);
    OPENSSL_cleanse(d->key, sizeof d->key);
    d->ins = d->tail = NULL;
    d->db = NULL;
    d->keylen = 0;
}

/* ---- the key ---------------------------------------------------------------- */

static int unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) {
            return HR_EINVAL;
        }
        if (i % 2 == 0) {
            out[i / 2] = (uint8_t)(v << 4);
        } else {
            out[i / 2] |= (uint8_t)v;
        }
    }
    return 0;
}

static int key_from_env(hr__audit_db *d, const char *name, const char *val, char *err,
                        size_t errlen)
{
    size_t n = strlen(val);
    if (n == 64 && unhex(val, n, d->key) == 0) {
        d->keylen = 32;
        return 0;
    }
    if (n < 16 || n > HR_AUDIT_KEY_MAX) {
        return hr_errf(err, errlen, HR_EINVAL, "%s: the audit key must be 64 hex digits or "
                       "16 to %d bytes", name, HR_AUDIT_KEY_MAX);
    }
    memcpy(d->key, val, n);
    d->keylen = n;
    return 0;
}

static int read_key_file(hr__audit_db *d, const char *kpath, char *err, size_t errlen)
{
    char text[132];
    struct stat st;
    int fd = open(kpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hr_errf(err, errlen, -errno, "%s: %s", kpath, hr_strerror(-errno));
    }
    ssize_t n = read(fd, text, sizeof text);
    int rc = n < 0 ? -errno : 0;
    if (rc == 0 && fstat(fd, &st) == 0 && (st.st_mode & 077)) {
        hr_log(HR_LOG_WARN, "audit", "%s: the key file is readable by others (mode %03o)", kpath,
               (unsigned)(st.st_mode & 0777));
    }
    close(fd);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        n--;
    }
    if (rc == 0 && (n != 64 || unhex(text, 64, d->key) < 0)) {
        rc = HR_EFORMAT;
    }
    OPENSSL_cleanse(text, sizeof text);
    if (rc < 0) {
        return hr_errf(err, errlen, rc, "%s: not an audit key (want 64 hex digits)", kpath);
    }
    d->keylen = 32;
    return 0;
}

static int make_key_file(hr__audit_db *d, const char *kpath, char *err, size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    char text[65];
    if (RAND_bytes(d->key, 32) != 1) {
        return hr_errf(err, errlen, HR_EIO, "no random bytes for the audit key");
    }
    for (int i = 0; i < 32; i++) {
        text[2 * i] = hex[d->key[i] >> 4];
        text[2 * i + 1] = hex[d->key[i] & 15];
    }
    text[64] = '\n';
    int fd = open(kpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        OPENSSL_cleanse(text, sizeof text);
        return read_key_file(d, kpath, err, errlen);
    }
    int rc = fd < 0 ? -errno : 0;
    errno = 0;
    if (rc == 0 && (write(fd, text, sizeof text) != (ssize_t)sizeof text || fsync(fd) != 0)) {
        rc = errno ? -errno : HR_EIO;
        unlink(kpath);
    }
    if (fd >= 0) {
        close(fd);
    }
    OPENSSL_cleanse(text, sizeof text);
    if (rc < 0) {
        return hr_errf(err, errlen, rc, "%s: %s", kpath, hr_strerror(rc));
    }
    d->keylen = 32;
    return 0;
}

int hr__audit_key_load(hr__audit_db *d, const char *key_env, bool create, char *err,
                       size_t errlen)
{
    const char *val = key_env && *key_env ? getenv(key_env) : NULL;
    if (val && *val) {
        return key_from_env(d, key_env, val, err, errlen);
    }
    hr_buf kpath = {0};
    int rc = hr_buf_printf(&kpath, "%s.key", d->path);
    if (rc < 0) {
        return hr_errf(err, errlen, rc, "out of memory");
    }
    if (access(kpath.p, F_OK) == 0) {
        rc = read_key_file(d, kpath.p, err, errlen);
    } else if (create) {
        rc = make_key_file(d, kpath.p, err, errlen);
    } else {
        rc = hr_errf(err, errlen, HR_ENOENT, "no audit key: set %s or provide %s",
                     key_env && *key_env ? key_env : "the key variable", kpath.p);
    }
    hr_buf_deinit(&kpath);
    return rc;
}

/* ---- appending ---------------------------------------------------------------- */

int hr__audit_begin(hr__audit_db *d)
{
    if (exec(d, "BEGIN IMMEDIATE") < 0) {
        return HR_EDB;
    }
    int rc = SQLITE_OK;
    if (!d->tail) {
        rc = sqlite3_prepare_v2(d->db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                                -1, &d->tail, NULL);
    }
    rc = rc == SQLITE_OK ? sqlite3_step(d->tail) : rc;
    d->tail_id = 0;
    memcpy(d->tail_hash, ZERO_HASH, sizeof ZERO_HASH);
    if (rc == SQLITE_ROW) {
        d->tail_id = sqlite3_column_int64(d->tail, 0);
        const unsigned char *h = sqlite3_column_text(d->tail, 1);
        /* A mangled tail hash still gets a successor, chained from zeros:
         * verify names the mangled row, and no later row is lost. */
        if (h && sqlite3_column_bytes(d->tail, 1) == HR_AUDIT_HASH_HEX) {
            memcpy(d->tail_hash, h, HR_AUDIT_HASH_HEX);
        }
        rc = SQLITE_DONE;
    }
    if (d->tail) {
        sqlite3_reset(d->tail);
    }
    if (rc != SQLITE_DONE) {
        hr__audit_rollback(d);
        return HR_EDB;
    }
    return 0;
}

int hr__audit_commit(hr__audit_db *d)
{
    return exec(d, "COMMIT");
}

void hr__audit_rollback(hr__audit_db *d)
{
    if (!sqlite3_get_autocommit(d->db)) {
        sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static int prepare_insert(hr__audit_db *d)
{
    hr_buf sql = {0};
    int rc = hr_buf_append_str(&sql, "INSERT INTO audit(");
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_printf(&sql, "%s%s", c ? "," : "", hr__audit_cols[c].name);
    }
    rc = rc ? rc : hr_buf_append_str(&sql, ") VALUES(");
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_append_str(&sql, c ? ",?" : "?");
    }
    rc = rc ? rc : hr_buf_append_str(&sql, ")");
    if (rc == 0 && sqlite3_prepare_v2(d->db, sql.p, -1, &d->ins, NULL) != SQLITE_OK) {
        rc = HR_EDB;
    }
    hr_buf_deinit(&sql);
    return rc;
}

static int insert(hr__audit_db *d, const hr__audit_val *v)
{
    int rc = d->ins ? 0 : prepare_insert(d);
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        int b = SQLITE_OK;
        if (v[c].type == HR_AV_INT) {
            b = sqlite3_bind_int64(d->ins, c + 1, v[c].i);
        } else if (v[c].type == HR_AV_TEXT) {
            b = sqlite3_bind_text(d->ins, c + 1, v[c].s, (int)v[c].n, SQLITE_TRANSIENT);
        } else {
            b = sqlite3_bind_null(d->ins, c + 1);
        }
        rc = b == SQLITE_OK ? 0 : HR_EDB;
    }
    if (rc == 0 && sqlite3_step(d->ins) != SQLITE_DONE) {
        rc = HR_EDB;
    }
    if (d->ins) {
        sqlite3_reset(d->ins);
        sqlite3_clear_bindings(d->ins);
    }
    return rc;
}

int hr__audit_append(hr__audit_db *d, hr__audit_val *v)
{
    char hash[HR_AUDIT_HASH_HEX + 1], sig[HR_AUDIT_HASH_HEX + 1];
    const hr__audit_val *k = &v[HR_AC_KIND];
    bool cp = k->type == HR_AV_TEXT && k->n == 10 && memcmp(k->s, "checkpoint", 10) == 0;
    if (cp && d->keylen == 0) {
        return HR_EINVAL;
    }
    v[HR_AC_ID] = hr__audit_int(d->tail_id + 1);
    int rc = hr__audit_seal(&d->scratch, v, d->tail_hash, d->key, d->keylen, hash,
                            cp ? sig : NULL);
    if (rc < 0) {
        return rc;
    }
    v[HR_AC_PREV_HASH] = hr__audit_text(d->tail_hash, HR_AUDIT_HASH_HEX);
    v[HR_AC_HASH] = hr__audit_text(hash, HR_AUDIT_HASH_HEX);
    v[HR_AC_SIG] = cp ? hr__audit_text(sig, HR_AUDIT_HASH_HEX) : hr__audit_text(NULL, 0);
    rc = insert(d, v);
    v[HR_AC_PREV_HASH] = v[HR_AC_HASH] = v[HR_AC_SIG] = hr__audit_text(NULL, 0);
    if (rc < 0) {
        return rc;
    }
    d->tail_id++;
    memcpy(d->tail_hash, hash, sizeof hash);
    return 0;
}

/* ---- pruning ------------------------------------------------------------------ */

/* Inside a transaction: the last row to prune, its hash and the count. */
static int prune_range(hr__audit_db *d, int64_t cutoff_ms, int64_t *last, char *hash, int64_t *n)
{
    int64_t first_new = 0;
    bool found = false, any = false;
    *n = 0;
    int rc = query_i64(d, "SELECT id FROM audit WHERE time_ms >= ?1 ORDER BY id LIMIT 1",
                       cutoff_ms, &first_new, &found);
    *last = found ? first_new - 1 : d->tail_id;
    rc = rc ? rc : query_i64(d, "SELECT count(*) FROM audit WHERE id <= ?1", *last, n, &any);
    if (rc < 0 || *n == 0) {
        return rc;
    }
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(d->db, "SELECT id, hash FROM audit WHERE id <= ?1 "
                            "ORDER BY id DESC LIMIT 1", -1, &st, NULL);
    rc = rc == SQLITE_OK ? sqlite3_bind_int64(st, 1, *last) : rc;
    rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
    const unsigned char *h = rc == SQLITE_ROW ? sqlite3_column_text(st, 1) : NULL;
    if (h && sqlite3_column_bytes(st, 1) == HR_AUDIT_HASH_HEX) {
        *last = sqlite3_column_int64(st, 0);
        memcpy(hash, h, HR_AUDIT_HASH_HEX + 1);
    } else {
        memcpy(hash, ZERO_HASH, sizeof ZERO_HASH);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : HR_EDB;
}

int hr__audit_prune_db(hr__audit_db *d, int64_t cutoff_ms, int64_t *n, char *err, size_t errlen)
{
    char last_hash[HR_AUDIT_HASH_HEX + 1], iso[32];
    int64_t last = 0;
    *n = 0;
    if (d->keylen == 0) {
        return hr_errf(err, errlen, HR_EINVAL, "%s: no key to sign the checkpoint", d->path);
    }
    int rc = hr__audit_begin(d);
    rc = rc ? rc : prune_range(d, cutoff_ms, &last, last_hash, n);
    if (rc == 0 && *n > 0) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(d->db, "DELETE FROM audit WHERE id <= ?1", -1, &st, NULL);
        rc = rc == SQLITE_OK ? sqlite3_bind_int64(st, 1, last) : rc;
        rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
        sqlite3_finalize(st);
        rc = rc == SQLITE_DONE ? 0 : HR_EDB;
    }
    if (rc == 0 && *n > 0) {
        hr__audit_val v[HR_AC_N] = {0};
        int64_t now = hr__audit_now_ms();
        hr__audit_iso(now, iso, sizeof iso);
        v[HR_AC_TIME_MS] = hr__audit_int(now);
        v[HR_AC_TIME] = hr__audit_text(iso, strlen(iso));
        v[HR_AC_KIND] = hr__audit_text("checkpoint", 10);
        v[HR_AC_CP_LAST_ID] = hr__audit_int(last);
        v[HR_AC_CP_LAST_HASH] = hr__audit_text(last_hash, HR_AUDIT_HASH_HEX);
        v[HR_AC_CP_COUNT] = hr__audit_int(*n);
        rc = hr__audit_append(d, v);
    }
    rc = rc == 0 && *n > 0 ? hr__audit_commit(d) : rc;
    if (rc < 0) {
        hr_errf(err, errlen, rc, "%s: pruning failed: %s", d->path,
                rc == HR_EDB ? sqlite3_errmsg(d->db) : hr_strerror(rc));
        *n = 0;
    }
    hr__audit_rollback(d);
    return rc;
}

int hr_audit_prune(const char *path, uint32_t days, const char *key_env, int64_t *n_pruned,
                   char *err, size_t errlen)
{
    hr__audit_db d;
    int64_t n = 0;
    int rc = hr__audit_db_open(&d, path, HR_AUDIT_OPEN_WRITE, 5000, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = hr__audit_key_load(&d, key_env, false, err, errlen);
    rc = rc ? rc : hr__audit_prune_db(&d, hr__audit_now_ms() - (int64_t)days * 86400000, &n,
                                      err, errlen);
    hr__audit_db_close(&d);
    if (n_pruned) {
        *n_pruned = n;
    }
    return rc;
}

/* ---- reading -------------------------------------------------------------------- */

int hr__audit_select_sql(hr_buf *b)
{
    int rc = hr_buf_append_str(b, "SELECT ");
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_printf(b, "%s%s", c ? "," : "", hr__audit_cols[c].name);
    }
    return rc ? rc : hr_buf_append_str(b, " FROM audit");
}

void hr__audit_read_row(sqlite3_stmt *st, hr__audit_val *v)
{
    for (int c = 0; c < HR_AC_N; c++) {
        int t = sqlite3_column_type(st, c);
        memset(&v[c], 0, sizeof v[c]);
        if (t == SQLITE_INTEGER) {
            v[c] = hr__audit_int(sqlite3_column_int64(st, c));
        } else if (t != SQLITE_NULL) {
            const unsigned char *s = sqlite3_column_text(st, c);
            v[c].type = t == SQLITE_TEXT && s ? HR_AV_TEXT : HR_AV_OTHER;
            v[c].s = s ? (const char *)s : "";
            v[c].n = s ? (size_t)sqlite3_column_bytes(st, c) : 0;
        }
    }
}
