#!/usr/bin/env bash
# libattnagent against PyTorch on the same network and work, in one run (docs/performance.md):
#
#   bash bench/compare.sh            # 5 interleaved repetitions of 3 s per phase, about 10–13 minutes
#   bash bench/compare.sh --reps 7   # more pairs when the machine drifts (medians are over the repetitions)
#   bash bench/compare.sh --quick    # 1 repetition of 1 s per phase, about 2 minutes
#
# Builds attn-bench into build/ if needed (ATTN_BUILD_DIR overrides the directory), compiles the SGEMM probe
# next to it, then runs bench/compare.py with Debian's /usr/bin/python3 (where its torch lives).
# THREADS (default 2) sets the threads of both sides. Exits 0 whether or not the targets are met; the table
# says which are.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ATTN_BUILD_DIR:-build}
THREADS=${THREADS:-2}
# Five pairs by default: on these machines a single pair can be off by 2x, and the targets are medians of five.
REPS=5
SECONDS_PER_PHASE=3
usage() { echo "usage: bash bench/compare.sh [--quick] [--reps N]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) REPS=1; SECONDS_PER_PHASE=1 ;;
    --reps) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage; REPS=$2; shift ;;
    *) usage ;;
    esac
    shift
done

if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" examples/attn-bench >/dev/null
mkdir -p "$BUILD/bench"
if [ ! -x "$BUILD/bench/sgemm-bench" ] || [ bench/sgemm_bench.c -nt "$BUILD/bench/sgemm-bench" ]; then
    # shellcheck disable=SC2046
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror bench/sgemm_bench.c \
        $(pkg-config --cflags --libs openblas) -lpthread -o "$BUILD/bench/sgemm-bench"
fi
exec /usr/bin/python3 bench/compare.py --attn-bench "$BUILD/examples/attn-bench" \
    --sgemm-bench "$BUILD/bench/sgemm-bench" --threads "$THREADS" --reps "$REPS" --seconds "$SECONDS_PER_PHASE" \
    --json "$BUILD/bench/compare.json"
