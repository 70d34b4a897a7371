#!/usr/bin/env bash
# test_cli.sh -- the `hearth` command line as a user meets it: reference
# output, the REPL over a pipe, and every bad input giving one line on stderr
# and a non-zero exit (never a crash). Usage: test_cli.sh HEARTH MODEL
set -u
HEARTH=$1
MODEL=$2
REF=", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."
. "$(dirname "$0")/lib.sh"

# --- what works ------------------------------------------------------------
out=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 0 -n 40 2>"$tmp/err")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "$REF" ]; then ok "greedy reference text"; else
    bad "greedy reference text (rc=$rc): $out $(cat "$tmp/err")"; fi

out=$(HEARTH_MODEL="$MODEL" "$HEARTH" run "Once upon a time" --temp 0 -n 40 2>&1)
[ "$out" = "$REF" ] && ok "default model from HEARTH_MODEL" || bad "default model: $out"

out=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 0 -n 40 --stop "irl named" 2>&1)
[ "$out" = ", there was a little g" ] && ok "stop string across tokens" || bad "stop: $out"

out=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 0 -n 3 --logprobs --top-logprobs 2)
if [ "$(echo "$out" | wc -l)" -eq 3 ] && echo "$out" | head -1 | grep -q '^","	-0\.0'; then
    ok "--logprobs prints one token per line"; else bad "--logprobs: $out"; fi

a=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 1 --seed 5 -n 30 2>&1)
b=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 1 --seed 5 -n 30 2>&1)
c=$("$HEARTH" run "$MODEL" "Once upon a time" --temperature 1 --seed 6 -n 30 2>&1)
[ "$a" = "$b" ] && [ "$a" != "$c" ] && ok "seeds reproduce and differ" || bad "seeds: $a | $b | $c"

# The REPL over a pipe: two turns, then /bye. Continuing the text, the second
# turn sees the first (its answer differs from a fresh start).
printf 'Once upon a time\nThe dog\n/bye\nnever read\n' |
    "$HEARTH" run "$MODEL" --temperature 0 -n 8 >"$tmp/repl" 2>"$tmp/err"
rc=$?
fresh=$("$HEARTH" run "$MODEL" "The dog" --temperature 0 -n 8)
if [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/repl")" -eq 2 ] && [ "$(sed -n 2p "$tmp/repl")" != "$fresh" ]; then
    ok "REPL keeps the conversation and exits on /bye"
else
    bad "REPL (rc=$rc): $(cat "$tmp/repl" "$tmp/err")"
fi
printf 'Once upon a time\n' | "$HEARTH" run "$MODEL" --temperature 0 -n 5 >/dev/null 2>&1 &&
    ok "REPL exits 0 on end of input" || bad "REPL EOF"

# Ctrl-C during a one-shot answer stops it and exits 130.
"$HEARTH" run "$MODEL" "Once upon a time" --stop "@@@" -n 2000000 --ctx-size 2048 \
    >"$tmp/int" 2>&1 &
pid=$!
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] && ok "SIGINT stops the answer (exit 130)" || bad "SIGINT rc=$rc"

"$HEARTH" --version | grep -q '^hearth [0-9]' && ok "--version" || bad "--version"
for c in run show; do
    "$HEARTH" $c --help | grep -q "^Usage: hearth $c" && ok "$c --help" || bad "$c --help"
done
"$HEARTH" show "$MODEL" | grep -q "architecture *llama" && ok "show" || bad "show"

# --- bad input -------------------------------------------------------------
expect_error "missing file" 1 "no such file" -- "$HEARTH" run "$tmp/none.gguf" hi
expect_error "directory" 1 "is a directory" -- "$HEARTH" run "$tmp" hi
: >"$tmp/empty.gguf"
expect_error "empty file" 1 "empty file" -- "$HEARTH" run "$tmp/empty.gguf" hi
echo "not a model" >"$tmp/text.gguf"
expect_error "non-GGUF file" 1 "not a GGUF file" -- "$HEARTH" run "$tmp/text.gguf" hi
size=$(stat -c %s "$MODEL")
for cut in 2 4 12 64 700 9000 60000 $((size / 2)) $((size - 1)); do
    head -c $cut "$MODEL" >"$tmp/cut.gguf"
    expect_error "truncated at $cut" 1 "truncated\|not a GGUF" -- "$HEARTH" run "$tmp/cut.gguf" hi
done
mkfifo "$tmp/fifo"
expect_error "fifo" 1 "not a regular file" -- "$HEARTH" run "$tmp/fifo" hi
cp "$MODEL" "$tmp/locked.gguf"
chmod 000 "$tmp/locked.gguf"
chmod 755 "$tmp"
if [ "$(id -u)" -eq 0 ]; then
    # root reads anything; drop to nobody so the permission check is real.
    expect_error "unreadable file" 1 "permission denied" -- \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$HEARTH" run "$tmp/locked.gguf" hi
else
    expect_error "unreadable file" 1 "permission denied" -- "$HEARTH" run "$tmp/locked.gguf" hi
fi
expect_error "context over the model's" 1 "exceeds the model's trained context" -- \
    "$HEARTH" run "$MODEL" hi --ctx-size 4096
expect_error "max_tokens 0" 2 "max_tokens must be > 0" -- "$HEARTH" run "$MODEL" hi -n 0
expect_error "max_tokens negative" 2 "max_tokens must be > 0" -- "$HEARTH" run "$MODEL" hi -n -4
expect_error "temperature < 0" 2 "temperature" -- "$HEARTH" run "$MODEL" hi --temperature -1
expect_error "top_p 0" 2 "top_p" -- "$HEARTH" run "$MODEL" hi --top-p 0
expect_error "not a number" 2 "needs a number" -- "$HEARTH" run "$MODEL" hi --top-k many
expect_error "missing value" 2 "needs a value" -- "$HEARTH" run "$MODEL" hi --seed
expect_error "unknown option" 2 "unknown option" -- "$HEARTH" run --frobnicate
expect_error "unknown command" 2 "unknown command" -- "$HEARTH" frobnicate
expect_error "too many arguments" 2 "unexpected argument" -- "$HEARTH" run "$MODEL" a b
expect_error "--chat with --raw" 2 "exclude" -- "$HEARTH" run "$MODEL" hi --chat --raw
expect_error "zero threads" 2 "out of range" -- "$HEARTH" run "$MODEL" hi -t 0

# hearth serve: bad arguments and a model that cannot load.
expect_error "serve: bad port" 2 "out of range" -- "$HEARTH" serve "$MODEL" --port 70000
expect_error "serve: zero slots" 2 "out of range" -- "$HEARTH" serve "$MODEL" --parallel 0
expect_error "serve: missing key file" 2 "api-key-file" -- "$HEARTH" serve "$MODEL" --api-key-file "$tmp/nokeys"
# The server listens (and says so on stdout) before the model loads, so
# these print the URL first, then one error line, and exit 1.
serve_fails() {
    local name=$1 pat=$2
    shift 2
    "$HEARTH" serve --port 0 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$pat" "$tmp/err"; then
        ok "$name"
    else
        bad "$name (rc=$rc): $(cat "$tmp/err")"
    fi
}
serve_fails "serve: missing model" "no such file" "$tmp/none.gguf"
serve_fails "serve: truncated model" "truncated" "$tmp/cut.gguf"
serve_fails "serve: context over the model's" "exceeds the model's trained context" \
    "$MODEL" -p 2 -c 8192
"$HEARTH" serve "$MODEL" --port 0 -t 1 >"$tmp/srv" 2>&1 &
spid=$!
for _ in $(seq 50); do grep -q listening "$tmp/srv" && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srv" | head -1)
expect_error "serve: port in use" 1 "cannot listen" -- "$HEARTH" serve "$MODEL" --port "$port"
kill -TERM $spid
wait $spid && ok "serve: SIGTERM exits 0" || bad "serve: SIGTERM exit"

# Config files: every mistake names its file and key.
cfg_fails() {
    local name=$1 pat=$2 text=$3
    printf '%s\n' "$text" >"$tmp/bad.yaml"
    expect_error "config: $name" 1 "$pat" -- timeout 30 "$HEARTH" serve "$MODEL" --port 0 \
        --config "$tmp/bad.yaml"
}
cfg_fails "not YAML" "bad.yaml:" "routes: [unclosed"
cfg_fails "unknown key" "routes.auto.threshhold: unknown setting" \
    "routes: {auto: {policy: local_only, threshhold: 0.5}}"
cfg_fails "bad policy" "routes.auto.policy" "routes: {auto: {policy: sometimes}}"
cfg_fails "wrong type" "server.port: must be an integer" "server: {port: eighty}"
cfg_fails "missing upstream" "no upstream named nowhere" \
    "routes: {auto: {policy: local_first, upstream: nowhere}}"
cfg_fails "key env unset" "HEARTH_TEST_UNSET_KEY is not set" \
    "upstreams: {c: {base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: HEARTH_TEST_UNSET_KEY}}"
cfg_fails "bad pattern" "bad pattern" \
    "upstreams: {c: {base_url: 'http://127.0.0.1:9/v1', model: m}}
routes: {auto: {upstream: c, pregate: {always_cloud: ['(unclosed']}}}"
cfg_fails "privacy: bad action" "must be allow, redact or block" \
    "privacy: {policies: {p: {actions: {email: hide}}}}"
cfg_fails "privacy: unknown class" "no such data class" \
    "privacy: {policies: {p: {actions: {passport: block}}}}"
cfg_fails "privacy: bad data class" "data_class: must be" \
    "privacy: {policies: {p: {data_class: secret}}}"
cfg_fails "privacy: bad pattern" "ticket" \
    "privacy: {patterns: [{name: ticket, regex: '(unclosed'}]}"
cfg_fails "privacy: unknown route policy" "no privacy policy 'nope'" \
    "upstreams: {c: {base_url: 'http://127.0.0.1:9/v1', model: m}}
routes: {auto: {upstream: c, privacy: nope}}"
cfg_fails "privacy: unknown key policy" "no such policy" \
    "privacy: {keys: {key-0123456789ab: nope}}"
cfg_fails "audit: bad retention" "retention_days" "audit: {retention_days: -3}"
expect_error "config: missing file" 1 "cannot open" -- "$HEARTH" serve --port 0 --config "$tmp/nope.yaml"

# The example config in the repository is valid as shipped.
root=$(cd "$(dirname "$0")/../.." && pwd)
OPENAI_API_KEY=x ANTHROPIC_API_KEY=y "$HEARTH" serve --config "$root/hearth.example.yaml" \
    "$MODEL" --port 0 -t 1 >"$tmp/ex" 2>&1 &
epid=$!
for _ in $(seq 50); do grep -q listening "$tmp/ex" && break; sleep 0.1; done
sleep 0.3
if kill -TERM $epid 2>/dev/null && wait $epid; then ok "example config loads"; else
    bad "example config: $(cat "$tmp/ex")"; fi

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
