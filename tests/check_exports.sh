#!/usr/bin/env bash
# The shared library exports exactly the functions the public header declares, all prefixed attn_.
set -euo pipefail
lib=$1
shift
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u)
declared=$(grep -hoE 'ATTN_API [^(]*\b(attn_[a-z0-9_]+)\(' "$@" | grep -oE 'attn_[a-z0-9_]+\($' | tr -d '(' | sort -u)
status=0
stray=$(comm -23 <(echo "$exported") <(echo "$declared"))
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
if [ -n "$stray" ]; then echo "exported but not declared in the header:"; echo "$stray"; status=1; fi
if [ -n "$missing" ]; then echo "declared in the header but not exported:"; echo "$missing"; status=1; fi
echo "$(echo "$exported" | wc -l) exported symbols, $(echo "$declared" | wc -l) declared"
exit $status
