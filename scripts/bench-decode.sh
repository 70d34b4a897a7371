#!/usr/bin/env bash
# bench-decode.sh HEARTH LLAMA_BENCH MODEL -- single-stream decode speed of
# `hearth run` against llama.cpp's llama-bench, same model, same threads, one
# after the other in the same run. Prints a markdown table and writes
# bench/results/decode.json.
#
# llama-bench's tg test decodes N tokens one at a time from an empty context
# and does no sampling; hearth run is timed by its own --verbose counters over
# the same N tokens (greedy sampling and detokenisation included, prompt
# excluded). hearth generates 8 tokens fewer so that prompt and answer
# together stay within the N positions llama-bench attends over (attention
# cost grows with the KV length). Each side runs REPS times, alternating, and the median is reported.
set -euo pipefail
hearth=$1
lbench=$2
model=$3
threads=${THREADS:-$(nproc)}
n=${BENCH_TOKENS:-256}
reps=${BENCH_REPS:-9}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/results"
mkdir -p "$out"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "decode benchmark: $model, $threads threads, $n tokens, median of $reps"
# Alternate the two, one run each per round, so drifting load on a shared
# machine hits both alike.
lbs=()
hs=()
for ((i = 0; i < reps; i++)); do
    r=$("$lbench" -m "$model" -p 0 -n "$n" -t "$threads" -r 1 -o csv 2>/dev/null |
        awk -F, 'NR==1 {for (i=1;i<=NF;i++) if ($i=="avg_ts" || $i=="\"avg_ts\"") c=i}
                 NR==2 {gsub(/"/,"",$c); print $c}')
    lbs+=("$r")
    r=$("$hearth" run "$model" "Once upon a time" --raw --temperature 0 --ignore-eos \
        -n "$((n - 8))" -t "$threads" --verbose 2>&1 >/dev/null | awk '/^eval rate:/ {print $3}')
    hs+=("$r")
done
lb=$(printf '%s\n' "${lbs[@]}" | median)
h=$(printf '%s\n' "${hs[@]}" | median)
ratio=$(awk -v a="$h" -v b="$lb" 'BEGIN {printf "%.3f", a / b}')

printf '| engine | decode tok/s |\n|---|---:|\n| llama-bench tg%s | %.1f |\n| hearth run | %.1f |\n| **ratio hearth / llama-bench** | **%s** |\n' \
    "$n" "$lb" "$h" "$ratio"
cat >"$out/decode.json" <<JSON
{"model": "$model", "threads": $threads, "tokens": $n, "reps": $reps,
 "llama_bench_tok_s": $lb, "hearth_tok_s": $h, "ratio": $ratio,
 "date": "$(date -u +%FT%TZ)"}
JSON
