# lib.sh -- what the command-line test scripts share: a scratch folder
# ($tmp, removed on exit), pass/fail counting and expect_error. Sourced.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }

# expect_error NAME WANT_RC PATTERN -- CMD...: exit code WANT_RC, exactly one
# line on stderr matching PATTERN, nothing on stdout (so no sanitizer report
# either).
expect_error() {
    local name=$1 want=$2 pat=$3
    shift 4
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$?
    local lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" "$tmp/err" &&
        [ ! -s "$tmp/out" ]; then
        ok "$name"
    else
        bad "$name (rc=$rc want $want, stderr: $(head -c 300 "$tmp/err"))"
    fi
}
