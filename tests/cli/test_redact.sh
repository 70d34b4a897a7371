#!/usr/bin/env bash
# test_redact.sh -- `hearth redact` as a user meets it: redaction of stdin,
# the findings report, --json, configured patterns and deny lists, the
# dev-corpus score (every class at precision and recall >= 0.9), and every
# bad input giving one line on stderr and a non-zero exit.
# Usage: test_redact.sh HEARTH CORPUS
set -u
HEARTH=$1
CORPUS=$2
. "$(dirname "$0")/lib.sh"

# --- the dev corpus ------------------------------------------------------------
"$HEARTH" redact --corpus "$CORPUS" >"$tmp/score" 2>"$tmp/err"
rc=$?
cat "$tmp/score"
low=$(awk -F'|' '/^\| [a-z]/ && $2 !~ /type/ {
        gsub(/ /, "", $2);
        if ($3 + 0 < 0.9 || $4 + 0 < 0.9) print $2 " precision " $3 " recall " $4 }' "$tmp/score")
classes=$(awk -F'|' '/^\| [a-z]/ && $2 !~ /type|all/ && $5 + 0 > 0 { n++ } END { print n + 0 }' \
    "$tmp/score")
if [ $rc -eq 0 ] && [ -z "$low" ] && [ "$classes" -ge 9 ]; then
    ok "dev corpus: every class at precision and recall >= 0.9"
else
    bad "dev corpus (rc=$rc, classes with hits $classes): $low $(cat "$tmp/err")"
fi

# --- redacting stdin -------------------------------------------------------------
out=$(printf 'mail bob@example.com, card 4111 1111 1111 1111, bob@example.com\n' |
    "$HEARTH" redact 2>"$tmp/err")
if [ "$out" = "mail <EMAIL_1>, card <CARD_1>, <EMAIL_1>" ]; then ok "redacts stdin"; else
    bad "redacts stdin: $out"; fi
want=$(printf 'email\t<EMAIL_1>\t5\t15\ncard\t<CARD_1>\t27\t19\nemail\t<EMAIL_1>\t48\t15')
if [ "$(cat "$tmp/err")" = "$want" ] && ! grep -q bob "$tmp/err"; then
    ok "findings on stderr, without values"; else bad "findings: $(cat "$tmp/err")"; fi

out=$(printf 'ip 10.0.0.1' | "$HEARTH" redact --json 2>"$tmp/err")
want='{"text":"ip <IPV4_1>","findings":[{"type":"ipv4","placeholder":"<IPV4_1>",'
want+='"start":3,"end":11}],'
if [[ "$out" == "$want"* ]] && [[ "$out" == *'"counts":{"email":0,'*'"ipv4":1,'* ]] &&
    [ ! -s "$tmp/err" ]; then ok "--json"; else bad "--json: $out $(cat "$tmp/err")"; fi

out=$(printf 'Ask JOHN  smith about PRJ-42 or E123456' |
    "$HEARTH" redact -d 'person=John Smith,Ana' -p 'project=PRJ-\d+' --pattern 'Person=\bE\d{6}\b' \
        2>/dev/null)
if [ "$out" = "Ask <PERSON_1> about <PROJECT_1> or <PERSON_2>" ]; then
    ok "--pattern and --deny"; else bad "--pattern and --deny: $out"; fi

out=$(printf 'bob@example.com 4111111111111111' | "$HEARTH" redact --only card 2>"$tmp/err")
if [ "$out" = "bob@example.com <CARD_1>" ] && grep -q "^email	-	0	15" "$tmp/err"; then
    ok "--only"; else bad "--only: $out $(cat "$tmp/err")"; fi

out=$("$HEARTH" redact </dev/null 2>"$tmp/err")
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ] && [ ! -s "$tmp/err" ]; then ok "empty input"; else
    bad "empty input (rc=$rc): $out"; fi

printf '\xff\xfe bob@example.com \xc3(' | "$HEARTH" redact >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(od -An -tx1 "$tmp/out" | tr -d ' \n')" = \
    "fffe203c454d41494c5f313e20c328" ]; then ok "invalid UTF-8 passes through"; else
    bad "invalid UTF-8 (rc=$rc)"; fi

"$HEARTH" redact --help >"$tmp/out" 2>&1
if [ $? -eq 0 ] && grep -q -- "--corpus FILE" "$tmp/out"; then ok "--help"; else bad "--help"; fi
if "$HEARTH" --help | grep -q "redact   redact PII from stdin"; then ok "listed in hearth --help"
else bad "listed in hearth --help"; fi

# --- a config's classes and policies ------------------------------------------------
cat >"$tmp/cfg.yaml" <<'YAML'
privacy:
  deny: [{name: codename, words: [Bluebird]}]
  policies:
    strict: {actions: {"*": block}}
    default: {actions: {email: allow}}
YAML
echo "Mail bob@corp.com about Bluebird" | "$HEARTH" redact --config "$tmp/cfg.yaml" \
    >"$tmp/out" 2>"$tmp/err"
if [ "$(cat "$tmp/out")" = "Mail bob@corp.com about <CODENAME_1>" ] &&
    ! grep -q "stay on this machine" "$tmp/err"; then ok "config: default policy"; else
    bad "config: default policy ($(cat "$tmp/out" "$tmp/err"))"; fi
echo "key AKIAIOSFODNN7EXAMPLE" | "$HEARTH" redact --config "$tmp/cfg.yaml" >"$tmp/out" 2>"$tmp/err"
if grep -q "policy default: this text would stay on this machine (it holds secret)" "$tmp/err"
then ok "config: blocked class named"; else bad "config: blocked ($(cat "$tmp/err"))"; fi
echo "Mail bob@corp.com" | "$HEARTH" redact -c "$tmp/cfg.yaml" --policy strict >"$tmp/out" 2>"$tmp/err"
if grep -q "policy strict: .*(it holds email)" "$tmp/err"; then ok "config: --policy"; else
    bad "config: --policy ($(cat "$tmp/err"))"; fi
expect_error "config: unknown policy" 2 "no privacy policy 'nope'" -- \
    "$HEARTH" redact --config "$tmp/cfg.yaml" --policy nope
expect_error "config: with --pattern" 2 "drop --pattern" -- \
    "$HEARTH" redact --config "$tmp/cfg.yaml" -p 'x=y'
expect_error "--policy without --config" 2 "needs --config" -- "$HEARTH" redact --policy strict
expect_error "config: missing file" 1 "cannot open" -- "$HEARTH" redact --config "$tmp/none.yaml"

# --- bad input ----------------------------------------------------------------------
expect_error "bad regex" 2 "privacy pattern 'x': bad regex at offset" -- "$HEARTH" redact -p 'x=('
expect_error "pattern without a name" 2 "needs NAME=REGEX" -- "$HEARTH" redact -p 'x'
expect_error "deny list without words" 2 "needs NAME=word1,word2" -- "$HEARTH" redact -d 'x='
expect_error "bad class name" 2 "a class name is a letter" -- "$HEARTH" redact -p '1x=a'
expect_error "empty deny word" 2 "word 2 is empty" -- "$HEARTH" redact -d 'names=ann,,bob'
expect_error "unknown --only class" 2 "unknown class 'nope'" -- "$HEARTH" redact --only email,nope
expect_error "unknown option" 2 "unknown option" -- "$HEARTH" redact --bogus
expect_error "stray argument" 2 "unexpected argument" -- "$HEARTH" redact file.txt
expect_error "missing corpus" 1 "cannot open" -- "$HEARTH" redact --corpus "$tmp/none.jsonl"
printf '{"text": "a", "findings": []}\nnot json\n' >"$tmp/c1"
expect_error "corpus line not JSON" 1 "line 2: not JSON" -- "$HEARTH" redact --corpus "$tmp/c1"
printf '{"text": 1, "findings": []}\n' >"$tmp/c2"
expect_error "corpus row shape" 1 "line 1: expected" -- "$HEARTH" redact --corpus "$tmp/c2"
printf '{"text": "a", "findings": [{"type": "colour", "value": "a"}]}\n' >"$tmp/c3"
expect_error "corpus unknown type" 1 "needs a known" -- "$HEARTH" redact --corpus "$tmp/c3"
printf '\n\n' >"$tmp/c4"
expect_error "empty corpus" 1 "no rows" -- "$HEARTH" redact --corpus "$tmp/c4"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
