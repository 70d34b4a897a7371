#!/usr/bin/env bash
# checksrc.sh -- source rules a compiler does not check (CONTRIBUTING.md):
# banned functions, raw heap calls outside src/util/alloc.c, and a module's
# _int.h included from outside its folder. Prints each hit; exit 1 if any.
set -u
cd "$(dirname "$0")/.."
hits=0
report() {
    echo "checksrc: $1"
    hits=$((hits + 1))
}

banned='\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|strtok|strtok_r|atoi|atol|atof|gets|scanf|sscanf|strerror|localtime|gmtime|ctime|rand|signal|alloca|system|popen)[[:space:]]*\('
while IFS= read -r line; do
    report "banned function: $line"
done < <(grep -nE "$banned" src --include='*.c' --include='*.h' -r | grep -vE '^\S+:[0-9]+:\s*(/?\*|//)')

raw='(^|[^_[:alnum:]])(malloc|calloc|realloc|free|strdup|strndup)[[:space:]]*\('
while IFS= read -r line; do
    report "raw heap call (use hr_malloc & co): $line"
done < <(grep -nE "$raw" src -r --include='*.c' --include='*.h' | grep -v '^src/util/alloc\.c:' |
    grep -vE '^\S+:[0-9]+:\s*(/?\*|//)')

while IFS= read -r line; do
    file=${line%%:*}
    inc=$(echo "$line" | sed -E 's/.*"([a-z_]+)\/[a-z_]+_int\.h".*/\1/')
    dir=$(basename "$(dirname "$file")")
    [ "$dir" = "$inc" ] || report "$file includes $inc's internal header"
done < <(grep -nE '#include "[a-z_]+/[a-z_]+_int\.h"' src -r)

[ $hits -eq 0 ] && echo "checksrc: clean" || exit 1
