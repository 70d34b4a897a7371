/* SPDX-License-Identifier: MIT */
/* audit_export.c -- the audit log as JSON Lines or CSV for other tools, and
 * the time formats the command line accepts.
 *
 * Export reads one WAL snapshot, so it may run beside a live writer; it
 * writes every column as stored (hashes and signatures included) so that an
 * export can be re-verified elsewhere. Runs on the caller's thread. */
#include "store/store.h"
#include "store/store_int.h"

#include <string.h>

#include "util/err.h"
#include "util/str.h"

/* ---- rows ------------------------------------------------------------------ */

static int json_row(hr_buf *b, const hr__audit_val *v)
{
    int rc = hr_buf_append(b, "{", 1);
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_printf(b, "%s\"%s\":", c ? "," : "", hr__audit_cols[c].name);
        if (rc == 0 && v[c].type == HR_AV_NULL) {
            rc = hr_buf_append_str(b, "null");
        } else if (rc == 0 && v[c].type == HR_AV_INT) {
            rc = hr_buf_printf(b, "%lld", (long long)v[c].i);
        } else if (rc == 0) {
            rc = hr__audit_json_append(b, v[c].s, v[c].n);
        }
    }
    return rc ? rc : hr_buf_append(b, "}\n", 2);
}

/* RFC 4180: quote a field holding a comma, quote, CR or LF (or nothing at
 * all, so that an empty string differs from NULL, which is left empty). */
static int csv_field(hr_buf *b, const char *s, size_t n)
{
    bool quote = n == 0 || memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\r', n) ||
                 memchr(s, '\n', n);
    if (!quote) {
        return hr_buf_append(b, s, n);
    }
    int rc = hr_buf_append(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (s[i] == '"') {
            rc = hr_buf_append(b, s + start, i + 1 - start);
            rc = rc ? rc : hr_buf_append(b, "\"", 1);
            start = i + 1;
        }
    }
    rc = rc ? rc : hr_buf_append(b, s + start, n - start);
    return rc ? rc : hr_buf_append(b, "\"", 1);
}

static int csv_row(hr_buf *b, const hr__audit_val *v)
{
    int rc = 0;
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = c ? hr_buf_append(b, ",", 1) : 0;
        if (rc == 0 && v[c].type == HR_AV_INT) {
            rc = hr_buf_printf(b, "%lld", (long long)v[c].i);
        } else if (rc == 0 && v[c].type != HR_AV_NULL) {
            rc = csv_field(b, v[c].s, v[c].n);
        }
    }
    return rc ? rc : hr_buf_append(b, "\r\n", 2);
}

static int csv_header(hr_buf *b)
{
    int rc = 0;
    for (int c = 0; rc == 0 && c < HR_AC_N; c++) {
        rc = hr_buf_printf(b, "%s%s", c ? "," : "", hr__audit_cols[c].name);
    }
    return rc ? rc : hr_buf_append(b, "\r\n", 2);
}

static int export_rows(sqlite3_stmt *st, hr_audit_format fmt, FILE *out)
{
    hr_buf line = {0};
    int rc = fmt == HR_AUDIT_CSV ? csv_header(&line) : 0;
    int step = SQLITE_DONE;
    while (rc == 0) {
        if (line.len && fwrite(line.p, 1, line.len, out) != line.len) {
            rc = HR_EIO;
            break;
        }
        hr_buf_reset(&line);
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            break;
        }
        hr__audit_val v[HR_AC_N];
        hr__audit_read_row(st, v);
        rc = fmt == HR_AUDIT_CSV ? csv_row(&line, v) : json_row(&line, v);
    }
    hr_buf_deinit(&line);
    if (rc == 0 && step != SQLITE_DONE) {
        rc = HR_EDB;
    }
    return rc;
}

int hr_audit_export(const char *path, int64_t since_ms, int64_t until_ms, hr_audit_format fmt,
                    FILE *out, char *err, size_t errlen)
{
    hr__audit_db d;
    if (!out || (fmt != HR_AUDIT_JSONL && fmt != HR_AUDIT_CSV)) {
        return hr_errf(err, errlen, HR_EINVAL, "bad export arguments");
    }
    int rc = hr__audit_db_open(&d, path, HR_AUDIT_OPEN_READ, 5000, err, errlen);
    if (rc < 0) {
        return rc;
    }
    hr_buf sql = {0};
    sqlite3_stmt *st = NULL;
    rc = hr__audit_select_sql(&sql);
    rc = rc ? rc : hr_buf_append_str(&sql, " WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY id");
    if (rc == 0 && sqlite3_prepare_v2(d.db, sql.p, -1, &st, NULL) != SQLITE_OK) {
        rc = HR_EDB;
    }
    hr_buf_deinit(&sql);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, since_ms);
        sqlite3_bind_int64(st, 2, until_ms > 0 ? until_ms : INT64_MAX);
        rc = export_rows(st, fmt, out);
    }
    if (rc == 0 && fflush(out) != 0) {
        rc = HR_EIO;
    }
    if (rc == HR_EDB) {
        hr_errf(err, errlen, rc, "%s: %s", path, sqlite3_errmsg(d.db));
    } else if (rc < 0) {
        hr_errf(err, errlen, rc, "%s", rc == HR_EIO ? "cannot write the export" : hr_strerror(rc));
    }
    sqlite3_finalize(st);
    hr__audit_db_close(&d);
    return rc;
}

/* ---- times ------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n digits at *p into *out, advancing *p; false when they are not there. */
static bool digits(const char **p, int n, int64_t *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return false;
        }
        *out = *out * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

/* HH:MM[:SS[.fff]] into milliseconds of the day. */
static bool clock_part(const char **p, int64_t *ms)
{
    int64_t h, mi, s = 0, frac = 0;
    if (!digits(p, 2, &h) || !expect(p, ':') || !digits(p, 2, &mi) || h > 23 || mi > 59) {
        return false;
    }
    if (expect(p, ':') && (!digits(p, 2, &s) || s > 59)) {
        return false;
    }
    if (expect(p, '.')) {
        int n = 0;
        for (; (*p)[0] >= '0' && (*p)[0] <= '9'; (*p)++, n++) {
            frac = n < 3 ? frac * 10 + ((*p)[0] - '0') : frac;
        }
        for (int k = n; k < 3; k++) {
            frac *= 10;
        }
        if (n == 0) {
            return false;
        }
    }
    *ms = ((h * 60 + mi) * 60 + s) * 1000 + frac;
    return true;
}

/* YYYY-MM-DD at *p into days since the epoch. */
static bool date_part(const char **p, int64_t *days)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y, m, d;
    if (!digits(p, 4, &y) || !expect(p, '-') || !digits(p, 2, &m) || !expect(p, '-') ||
        !digits(p, 2, &d) || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) {
        return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap) {
        return false;
    }
    *days = days_from_civil(y, m, d);
    return true;
}

int hr_audit_parse_time(const char *s, int64_t *ms)
{
    int64_t days, sec, clock_ms = 0;
    if (!s || !*s) {
        return HR_EINVAL;
    }
    if (strspn(s, "0123456789") == strlen(s)) {
        if (hr_parse_i64(s, 0, 253402300799, &sec) < 0) {
            return HR_EINVAL;
        }
        *ms = sec * 1000;
        return 0;
    }
    const char *p = s;
    if (!date_part(&p, &days)) {
        return HR_EINVAL;
    }
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!clock_part(&p, &clock_ms)) {
            return HR_EINVAL;
        }
        if (*p == 'Z') {
            p++;
        }
    }
    if (*p != '\0') {
        return HR_EINVAL;
    }
    *ms = days * 86400000 + clock_ms;
    return 0;
}
