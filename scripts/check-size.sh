#!/usr/bin/env bash
# check-size.sh -- files under 800 lines, functions under 80 lines and
# cyclomatic complexity 20 (pmccabe). Exceptions must be listed in
# scripts/size-allowlist.txt with a reason. Exit 1 on any breach.
set -u
cd "$(dirname "$0")/.."
allow=scripts/size-allowlist.txt
fail=0
allowed() { [ -f "$allow" ] && grep -q "^$1 " "$allow"; }

for f in $(find src -name '*.c' -o -name '*.h' | sort); do
    n=$(wc -l <"$f")
    if [ "$n" -gt 800 ] && ! allowed "$f"; then
        echo "check-size: $f has $n lines (max 800)"
        fail=1
    fi
done
if ! command -v pmccabe >/dev/null 2>&1; then
    echo "check-size: pmccabe is missing (scripts/deps.sh installs it)"
    exit 1
fi
while read -r cc _ _ _ len where name; do
    fn="${where%%(*}:${name}"
    if { [ "$len" -gt 80 ] || [ "$cc" -gt 20 ]; } && ! allowed "$fn"; then
        echo "check-size: $where $name: $len lines, complexity $cc (max 80, 20)"
        fail=1
    fi
done < <(pmccabe src/*/*.c src/*.c 2>/dev/null)
[ $fail -eq 0 ] && echo "check-size: clean"
exit $fail
