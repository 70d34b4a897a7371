/* SPDX-License-Identifier: MIT */
/* audit.c -- `hearth audit verify|export|prune`: check the audit log's hash
 * chain and checkpoint signatures, write the log out as JSON Lines or CSV,
 * or prune it by age behind a signed checkpoint.
 *
 * Main thread. Each works on the database file directly, beside a running
 * server if need be (SQLite's locks keep them apart). Every failure is one
 * line on stderr and a non-zero exit. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/err.h"

#define DB_HELP "the audit database (default $HEARTH_AUDIT_DB, else hearth-audit.db)"
#define KEY_HELP "variable holding the checkpoint key (default HEARTH_AUDIT_KEY; else FILE.key)"

static const char *default_db(void)
{
    const char *env = getenv("HEARTH_AUDIT_DB");
    return env && *env ? env : "hearth-audit.db";
}

static int audit_verify(int argc, char **argv)
{
    const char *db = default_db(), *key_env = "HEARTH_AUDIT_KEY";
    const hr_opt opts[] = {
        {"db", 0, HR_OPT_STRING, &db, 0, 0, NULL, "FILE", DB_HELP},
        {"key-env", 0, HR_OPT_STRING, &key_env, 0, 0, NULL, "NAME", KEY_HELP},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    size_t n_pos = 0;
    int rc = hr__cli_parse("audit verify", "[--db FILE] [--key-env NAME]\n\n"
                           "Walk the audit log's hash chain and check the checkpoint signatures.",
                           opts, argc, argv, NULL, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    hr_audit_verdict v;
    char err[512] = "";
    if (hr_audit_verify(db, key_env, &v, err, sizeof err) < 0) {
        fprintf(stderr, "hearth audit: %s\n", err);
        return HR_CLI_FAIL;
    }
    if (!v.intact) {
        fprintf(stderr, "audit: chain broken at row %lld: %s\n", (long long)v.broken_id,
                v.reason);
        return HR_CLI_FAIL;
    }
    printf("audit: %lld rows verified, chain intact\n", (long long)v.rows);
    return HR_CLI_OK;
}

static int parse_time_opt(const char *name, const char *s, int64_t *ms)
{
    if (s && hr_audit_parse_time(s, ms) < 0) {
        fprintf(stderr, "hearth audit export: --%s: bad time '%s' (want 2026-11-27, "
                "2026-11-27T10:00:00Z or unix seconds)\n", name, s);
        return HR_CLI_USAGE;
    }
    return 0;
}

static int audit_export(int argc, char **argv)
{
    const char *db = default_db(), *since = NULL, *until = NULL, *format = "jsonl";
    const hr_opt opts[] = {
        {"db", 0, HR_OPT_STRING, &db, 0, 0, NULL, "FILE", DB_HELP},
        {"since", 0, HR_OPT_STRING, &since, 0, 0, NULL, "TIME", "rows at or after TIME"},
        {"until", 0, HR_OPT_STRING, &until, 0, 0, NULL, "TIME", "rows before TIME"},
        {"format", 0, HR_OPT_STRING, &format, 0, 0, NULL, "FMT", "jsonl (default) or csv"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    size_t n_pos = 0;
    int rc = hr__cli_parse("audit export", "[--db FILE] [--since TIME] [--until TIME] "
                           "[--format jsonl|csv]\n\n"
                           "Write the audit log to stdout, every column of each row. TIME is a "
                           "UTC date\n(2026-11-27), date and time (2026-11-27T10:00:00Z) or "
                           "unix seconds.", opts, argc, argv, NULL, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    int64_t since_ms = 0, until_ms = 0;
    hr_audit_format fmt = HR_AUDIT_JSONL;
    if (strcmp(format, "csv") == 0) {
        fmt = HR_AUDIT_CSV;
    } else if (strcmp(format, "jsonl") != 0) {
        fprintf(stderr, "hearth audit export: --format must be jsonl or csv, got '%s'\n", format);
        return HR_CLI_USAGE;
    }
    rc = parse_time_opt("since", since, &since_ms);
    rc = rc ? rc : parse_time_opt("until", until, &until_ms);
    if (rc != 0) {
        return rc;
    }
    if (until && until_ms <= since_ms) {
        fprintf(stderr, "hearth audit export: --until must be later than --since\n");
        return HR_CLI_USAGE;
    }
    char err[512] = "";
    if (hr_audit_export(db, since_ms, until_ms, fmt, stdout, err, sizeof err) < 0) {
        fprintf(stderr, "hearth audit: %s\n", err);
        return HR_CLI_FAIL;
    }
    return HR_CLI_OK;
}

static int audit_prune(int argc, char **argv)
{
    const char *db = default_db(), *key_env = "HEARTH_AUDIT_KEY";
    int64_t days = 0;
    const hr_opt opts[] = {
        {"days", 0, HR_OPT_INT, &days, 1, 36500, NULL, "N", "remove rows older than N days"},
        {"db", 0, HR_OPT_STRING, &db, 0, 0, NULL, "FILE", DB_HELP},
        {"key-env", 0, HR_OPT_STRING, &key_env, 0, 0, NULL, "NAME", KEY_HELP},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    size_t n_pos = 0;
    int rc = hr__cli_parse("audit prune", "--days N [--db FILE] [--key-env NAME]\n\n"
                           "Remove the rows older than N days and append a signed checkpoint,\n"
                           "so that the rest of the chain still verifies.",
                           opts, argc, argv, NULL, 0, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (days == 0) {
        fprintf(stderr, "hearth audit prune: --days is required\n");
        return HR_CLI_USAGE;
    }
    int64_t n = 0;
    char err[512] = "";
    if (hr_audit_prune(db, (uint32_t)days, key_env, &n, err, sizeof err) < 0) {
        fprintf(stderr, "hearth audit: %s\n", err);
        return HR_CLI_FAIL;
    }
    printf("audit: pruned %lld rows older than %lld days\n", (long long)n, (long long)days);
    return HR_CLI_OK;
}

int hr__cli_audit(int argc, char **argv)
{
    static const char usage[] =
        "Usage: hearth audit verify [--db FILE] [--key-env NAME]\n"
        "       hearth audit export [--db FILE] [--since TIME] [--until TIME] "
        "[--format jsonl|csv]\n"
        "       hearth audit prune --days N [--db FILE] [--key-env NAME]\n\n"
        "Run 'hearth audit SUBCOMMAND --help' for its options.\n";
    if (argc < 1) {
        fprintf(stderr, "hearth audit: missing subcommand (verify, export or prune)\n");
        return HR_CLI_USAGE;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage, stdout);
        return HR_CLI_OK;
    }
    if (strcmp(sub, "verify") == 0) {
        return audit_verify(argc - 1, argv + 1);
    }
    if (strcmp(sub, "export") == 0) {
        return audit_export(argc - 1, argv + 1);
    }
    if (strcmp(sub, "prune") == 0) {
        return audit_prune(argc - 1, argv + 1);
    }
    fprintf(stderr, "hearth audit: unknown subcommand '%s' (verify, export or prune)\n", sub);
    return HR_CLI_USAGE;
}
