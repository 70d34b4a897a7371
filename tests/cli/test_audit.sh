#!/usr/bin/env bash
# test_audit.sh -- `hearth audit verify|export|prune` as an operator meets
# them: rows written through the public API by the audit_fill helper, an
# export re-verified by an independent Python implementation of the chain,
# tampering with the sqlite3 shell, and every bad input giving one line on
# stderr and a non-zero exit. Usage: test_audit.sh HEARTH AUDIT_FILL
set -u
HEARTH=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FILL=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
. "$(dirname "$0")/lib.sh"
unset HEARTH_AUDIT_DB HEARTH_AUDIT_KEY

# expect_out NAME WANT_STDOUT -- CMD...: exit 0, that exact stdout, no stderr.
expect_out() {
    local name=$1 want=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$?
    if [ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$want" ] && [ ! -s "$tmp/err" ]; then
        ok "$name"
    else
        bad "$name (rc=$rc): $(head -c 300 "$tmp/out") $(head -c 300 "$tmp/err")"
    fi
}

DB=$tmp/a.db
PROMPT=$'caf\xc3\xa9, "quoted"\nsecond line\x01'
"$FILL" "$DB" 20 --prompt "$PROMPT" && ok "audit_fill writes rows" || bad "audit_fill"

# --- what works --------------------------------------------------------------
expect_out "verify" "audit: 20 rows verified, chain intact" -- "$HEARTH" audit verify --db "$DB"
expect_out "verify: HEARTH_AUDIT_DB" "audit: 20 rows verified, chain intact" -- \
    env HEARTH_AUDIT_DB="$DB" "$HEARTH" audit verify
"$FILL" "$tmp/hearth-audit.db" 2 >/dev/null
(cd "$tmp" && "$HEARTH" audit verify) | grep -q "^audit: 2 rows verified" &&
    ok "verify: hearth-audit.db in the current directory" || bad "verify: default path"
"$HEARTH" audit --help | grep -q "hearth audit verify" && ok "audit --help" || bad "audit --help"
for sub in verify export prune; do
    "$HEARTH" audit $sub --help | grep -q "^Usage: hearth audit $sub" && ok "audit $sub --help" ||
        bad "audit $sub --help"
done
"$HEARTH" --help | grep -q "audit  *verify, export or prune the audit log" &&
    ok "hearth --help lists audit" || bad "hearth --help lists audit"

"$HEARTH" audit export --db "$DB" >"$tmp/a.jsonl" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/a.jsonl")" -eq 20 ] && [ ! -s "$tmp/err" ] &&
    ok "export jsonl: 20 lines" || bad "export jsonl (rc=$rc): $(cat "$tmp/err")"
if command -v python3 >/dev/null 2>&1; then
    # An independent implementation of the chain as store.h specifies it.
    out=$(python3 - "$tmp/a.jsonl" "$PROMPT" <<'EOF' 2>&1
import hashlib, json, sys
expect = "0" * 64
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    row = json.loads(line)
    content = {k: v for k, v in row.items() if k not in ("prev_hash", "hash", "sig")}
    c = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = hashlib.sha256((row["prev_hash"] + c).encode("utf-8")).hexdigest()
    assert row["prev_hash"] == expect, "prev_hash of row %d" % row["id"]
    assert row["hash"] == h, "hash of row %d" % row["id"]
    assert row["prompt"] == sys.argv[2], "prompt of row %d" % row["id"]
    assert json.loads(row["pii"]) in ({}, {"email": {"action": "redact", "count": 2},
                                           "phone": {"action": "allow", "count": 1}})
    expect = h
    n += 1
print(n)
EOF
    )
    [ "$out" = "20" ] && ok "export re-verifies in Python" || bad "Python re-verification: $out"
else
    echo "skip - python3 not found: export not re-verified"
fi

"$HEARTH" audit export --db "$DB" --format csv >"$tmp/a.csv" 2>"$tmp/err"
rc=$?
head -1 "$tmp/a.csv" | grep -q $'^id,time_ms,time,kind,request_id,.*,prev_hash,hash,sig\r$' &&
    [ $rc -eq 0 ] && ok "export csv: header" || bad "export csv header (rc=$rc)"
grep -q $'"caf\xc3\xa9, ""quoted""$' "$tmp/a.csv" && grep -q $'^second line\x01",' "$tmp/a.csv" &&
    ok "export csv: RFC 4180 quoting" || bad "export csv quoting: $(sed -n 2,3p "$tmp/a.csv")"
[ "$(grep -c $'\r$' "$tmp/a.csv")" -eq 21 ] && ok "export csv: CRLF records" ||
    bad "export csv: $(grep -c $'\r$' "$tmp/a.csv") CRLF lines"

hour_ago=$(($(date +%s) - 3600))
today=$(date -u +%Y-%m-%d)
n=$("$HEARTH" audit export --db "$DB" --since "$hour_ago" | wc -l)
[ "$n" -eq 20 ] && ok "export --since unix seconds" || bad "export --since: $n rows"
n=$("$HEARTH" audit export --db "$DB" --since 2000-01-01 --until 2000-01-02T00:00:00Z | wc -l)
[ "$n" -eq 0 ] && ok "export --until excludes later rows" || bad "export window: $n rows"
n=$("$HEARTH" audit export --db "$DB" --since "$today" --format jsonl | wc -l)
[ "$n" -eq 20 ] && ok "export --since a date" || bad "export --since $today: $n rows"

[ ! -e "$DB-wal" ] && [ ! -e "$DB-shm" ] && ok "verify and export leave no -wal or -shm" ||
    bad "verify and export left $(ls "$tmp")"

# Prune: five rows 40 days old, three new, behind a signed checkpoint.
B=$tmp/b.db
"$FILL" "$B" 5 --age-days 40 && "$FILL" "$B" 3
expect_out "prune" "audit: pruned 5 rows older than 30 days" -- \
    "$HEARTH" audit prune --days 30 --db "$B"
expect_out "verify after prune" "audit: 4 rows verified, chain intact" -- \
    "$HEARTH" audit verify --db "$B"
expect_out "prune again: nothing" "audit: pruned 0 rows older than 30 days" -- \
    "$HEARTH" audit prune --days 30 --db "$B"
expect_error "verify: wrong key" 1 \
    "^audit: chain broken at row 9: checkpoint signature" -- \
    env HEARTH_TEST_OTHER_KEY="$(printf '%064d' 0)" "$HEARTH" audit verify --db "$B" \
    --key-env HEARTH_TEST_OTHER_KEY
mv "$B.key" "$tmp/b.key.saved"
expect_error "verify: checkpoint and no key" 1 "no key to check" -- \
    "$HEARTH" audit verify --db "$B"
expect_error "prune: no key" 1 "no audit key" -- "$HEARTH" audit prune --days 1 --db "$B"
mv "$tmp/b.key.saved" "$B.key"

# A reader who may write neither the database nor its directory.
mkdir "$tmp/ro"
cp "$DB" "$DB.key" "$tmp/ro/"
chmod 755 "$tmp" "$tmp/ro"
chmod 644 "$tmp/ro/a.db"
if [ "$(id -u)" -eq 0 ]; then
    as_reader() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
    chmod 555 "$tmp/ro"
    as_reader() { "$@"; }
fi
expect_out "verify: read-only reader" "audit: 20 rows verified, chain intact" -- \
    as_reader "$HEARTH" audit verify --db "$tmp/ro/a.db"
n=$(as_reader "$HEARTH" audit export --db "$tmp/ro/a.db" | wc -l)
[ "$n" -eq 20 ] && ok "export: read-only reader" || bad "export: read-only reader: $n rows"
[ "$(ls "$tmp/ro" | wc -l)" -eq 2 ] && ok "readers leave no -wal or -shm" ||
    bad "readers left: $(ls "$tmp/ro")"
chmod 755 "$tmp/ro"

# --- tampering -------------------------------------------------------------------
if command -v sqlite3 >/dev/null 2>&1; then
    tampered() {
        local name=$1 db=$2 sql=$3 pat=$4
        cp "$db" "$tmp/t.db"
        cp "$db.key" "$tmp/t.db.key"
        sqlite3 "$tmp/t.db" "$sql" &&
            expect_error "tamper: $name" 1 "$pat" -- "$HEARTH" audit verify --db "$tmp/t.db"
    }
    tampered "update a column" "$DB" "UPDATE audit SET route = 'x' WHERE id = 7" \
        "^audit: chain broken at row 7: the row's content does not match its hash"
    tampered "update a number" "$DB" "UPDATE audit SET cost_nusd = 0 WHERE id = 3" \
        "^audit: chain broken at row 3: "
    tampered "delete a row" "$DB" "DELETE FROM audit WHERE id = 10" \
        "^audit: chain broken at row 11: rows 10 to 10 are missing"
    tampered "swap two rows" "$DB" \
        "UPDATE audit SET id = -4 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = 6;
         UPDATE audit SET id = 6 WHERE id = -4" "^audit: chain broken at row 4: "
    tampered "forge a checkpoint" "$B" \
        "UPDATE audit SET sig = '$(printf '%064d' 1)' WHERE kind = 'checkpoint'" \
        "^audit: chain broken at row 9: checkpoint signature does not match"
    tampered "delete the checkpoint" "$B" "DELETE FROM audit WHERE kind = 'checkpoint'" \
        "^audit: chain broken at row 6: rows 1 to 5 are missing"
else
    echo "skip - sqlite3 not found: tampering not tested here (scripts/deps.sh installs it)"
fi

# --- bad input -------------------------------------------------------------------
expect_error "missing database" 1 "no such file" -- "$HEARTH" audit verify --db "$tmp/none.db"
expect_error "export: missing database" 1 "no such file" -- \
    "$HEARTH" audit export --db "$tmp/none.db"
expect_error "prune: missing database" 1 "no such file" -- \
    "$HEARTH" audit prune --days 3 --db "$tmp/none.db"
echo "this is a text file, not a database; SQLite needs a whole header to tell" >"$tmp/text.db"
expect_error "not a SQLite file" 1 "not a SQLite database" -- \
    "$HEARTH" audit verify --db "$tmp/text.db"
expect_error "export: not a SQLite file" 1 "not a SQLite database" -- \
    "$HEARTH" audit export --db "$tmp/text.db"
: >"$tmp/empty.db"
expect_error "empty file" 1 "not a hearth audit database" -- \
    "$HEARTH" audit verify --db "$tmp/empty.db"
expect_error "directory" 1 "is a directory" -- "$HEARTH" audit verify --db "$tmp"
expect_error "bad format" 2 "--format must be jsonl or csv" -- \
    "$HEARTH" audit export --db "$DB" --format xml
expect_error "bad time" 2 "--since: bad time 'last week'" -- \
    "$HEARTH" audit export --db "$DB" --since "last week"
expect_error "bad date" 2 "--until: bad time" -- \
    "$HEARTH" audit export --db "$DB" --until 2026-02-30
expect_error "until before since" 2 "later than --since" -- \
    "$HEARTH" audit export --db "$DB" --since 2026-11-27 --until 2026-11-26
expect_error "prune without --days" 2 "--days is required" -- "$HEARTH" audit prune --db "$B"
expect_error "prune --days 0" 2 "out of range" -- "$HEARTH" audit prune --db "$B" --days 0
expect_error "prune --days x" 2 "needs a number" -- "$HEARTH" audit prune --db "$B" --days x
expect_error "unknown option" 2 "unknown option" -- "$HEARTH" audit verify --frobnicate
expect_error "stray argument" 2 "unexpected argument" -- "$HEARTH" audit verify extra
expect_error "unknown subcommand" 2 "unknown subcommand 'repair'" -- "$HEARTH" audit repair
expect_error "no subcommand" 2 "missing subcommand" -- "$HEARTH" audit
expect_error "short key" 1 "16 to 128 bytes" -- \
    env HEARTH_AUDIT_KEY=short "$HEARTH" audit prune --days 1 --db "$B"

echo "cli_audit: $pass passed, $fail failed"
[ $fail -eq 0 ]
