#!/usr/bin/env bash
# The element-wise loops' AVX2 copies against their baseline copies (tests/dispatch_hash.c): same hash with and
# without ATTN_PORTABLE=1. On a CPU without AVX2 both runs take the baseline, and the test says so and skips.
set -euo pipefail
prog=$1
fast=$("$prog")
portable=$(ATTN_PORTABLE=1 "$prog")
echo "dispatched: $fast"
echo "portable:   $portable"
case "$portable" in *baseline) ;; *) echo "ATTN_PORTABLE=1 did not select the baseline"; exit 1 ;; esac
case "$fast" in
*baseline) echo "SKIPPED: this CPU has no AVX2, so there is no second copy to compare"; exit 77 ;;
esac
[ "${fast%% *}" = "${portable%% *}" ] || { echo "the AVX2 copies changed bits"; exit 1; }
echo "bitwise the same"
