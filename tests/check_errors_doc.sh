#!/usr/bin/env bash
# Checks docs/errors.md against the headers and the tests, so the table cannot drift from either:
#  - every public function (include/attnagent/*.h, games/minatar.h) has at least one row;
#  - every row names only functions that exist, a status, and test cases as "file.c: test_a, test_b";
#  - every named test case is defined in that file under tests/ or games/tests/ and registered with cmocka
#    there, so it actually runs.
# Usage: check_errors_doc.sh SOURCE_ROOT
set -u
root=${1:?usage: check_errors_doc.sh SOURCE_ROOT}
doc=$root/docs/errors.md
status=0
complain() { echo "errors.md: $*" >&2; status=1; }

[ -f "$doc" ] || { echo "no $doc" >&2; exit 1; }

# Public functions, one per line.
functions=$( {
    grep -ho 'ATTN_API[^(]*\battn_[a-z0-9_]*(' "$root/include/attnagent/attnagent.h" "$root/include/attnagent/training.h"
    grep -hoE '^(int|void|const char \*)[ *]*attn_minatar_[a-z0-9_]*\(' "$root/games/minatar.h"
} | sed -E 's/.*\b(attn_[a-z0-9_]*)\($/\1/' | sort -u)
[ -n "$functions" ] || { echo "found no public functions" >&2; exit 1; }

# Table rows whose first cell names a function: | `attn_x`, `attn_y` | bad input | status | file.c: test_a |
rows=$(grep -E '^\| *`attn_' "$doc")
[ -n "$rows" ] || { echo "errors.md has no rows" >&2; exit 1; }

documented=""
nrows=0
while IFS= read -r row; do
    nrows=$((nrows + 1))
    IFS='|' read -r _ fcell input scell tcell extra <<<"$row"
    if [ -z "${tcell// /}" ] || [ -n "${extra// /}" ]; then
        complain "row $nrows does not have exactly four cells: $row"
        continue
    fi
    names=$(grep -o 'attn_[a-z0-9_]*' <<<"$fcell")
    for f in $names; do
        grep -qx "$f" <<<"$functions" || complain "row $nrows names $f, which no public header declares"
        documented+="$f"$'\n'
    done
    [ -n "${input// /}" ] || complain "row $nrows has no bad input"
    grep -qE 'ATTN_[A-Z_]+|returns|no-op' <<<"$scell" || complain "row $nrows has no status or return value: $scell"
    # "file.c: test_a, test_b" — possibly several files separated by ";".
    IFS=';' read -ra groups <<<"$tcell"
    for group in "${groups[@]}"; do
        file=$(grep -oE '[a-z0-9_]+\.c' <<<"$group" | head -n1)
        cases=$(sed -E 's/^[^:]*://' <<<"$group" | grep -oE '\btest_[a-z0-9_]+' )
        if [ -z "$file" ] || [ -z "$cases" ]; then
            complain "row $nrows: \"$group\" is not \"file.c: test_case\""
            continue
        fi
        src=""
        for dir in tests games/tests; do
            [ -f "$root/$dir/$file" ] && src=$root/$dir/$file
        done
        if [ -z "$src" ]; then
            complain "row $nrows: no test source $file"
            continue
        fi
        for c in $cases; do
            grep -qE "^static void $c\(void \*\*" "$src" || complain "row $nrows: $file defines no test case $c"
            grep -qE "cmocka_unit_test[a-z_]*\($c[,)]" "$src" || complain "row $nrows: $file does not run $c"
        done
    done
done <<<"$rows"

for f in $functions; do
    grep -qx "$f" <<<"$documented" || complain "public function $f has no row"
done

nfun=$(wc -l <<<"$functions")
[ $status -eq 0 ] && echo "errors.md: $nrows rows cover all $nfun public functions; every named test case exists and runs"
exit $status
