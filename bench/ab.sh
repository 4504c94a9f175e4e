#!/usr/bin/env bash
# Before/after of a speed change, both builds in one process (bench/ab_libs.c, docs/performance.md):
#
#   bash bench/ab.sh OLD_REV [NEW_REV] -- MODE PRESET B T THREADS [SAMPLES]
#   bash bench/ab.sh HEAD~1 -- train minatar 16 20 2        # the last commit against the one before
#   bash bench/ab.sh main -- act minatar 16 0 2 100          # the working tree against main
#
# Each revision is built (release) in build/ab/<commit>, a git worktree (`rm -rf build/ab && git worktree prune`
# removes them); NEW_REV defaults to the working tree, built in build/ (ATTN_BUILD_DIR overrides). Runs ab_libs twice, the second time with the libraries loaded the other
# way round (where each library's memory lands moved results by up to 10 % here), and prints both ratios and
# their geometric mean: NEW's time over OLD's, below 1 when NEW is faster.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ATTN_BUILD_DIR:-build}
revs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do revs+=("$1"); shift; done
[ $# -gt 0 ] && shift
if [ ${#revs[@]} -lt 1 ] || [ ${#revs[@]} -gt 2 ] || [ $# -lt 5 ]; then
    echo "usage: bash bench/ab.sh OLD_REV [NEW_REV] -- act|train PRESET B T THREADS [SAMPLES]" >&2
    exit 2
fi
mode=$1 preset=$2 batch=$3 unroll=$4 threads=$5 samples=${6:-}
[ -n "$samples" ] || { [ "$mode" = train ] && samples=16 || samples=60; }

library_of() { ls "$1"/lib/libattnagent.so.*.*.* | head -n 1; }

# The shared library of a revision, built once per commit.
build_rev() {
    local commit dir
    commit=$(git rev-parse --verify "$1^{commit}")
    dir=$BUILD/ab/$commit
    if [ ! -d "$dir/src" ]; then
        mkdir -p "$BUILD/ab"
        git worktree add --detach --force "$dir/src" "$commit" >/dev/null 2>&1
    fi
    [ -f "$dir/build/build.ninja" ] || meson setup "$dir/build" "$dir/src" --buildtype=release >/dev/null
    ninja -C "$dir/build" >/dev/null
    library_of "$dir/build"
}

old=$(build_rev "${revs[0]}")
if [ ${#revs[@]} -eq 2 ]; then
    new=$(build_rev "${revs[1]}")
else
    [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype=release >/dev/null
    ninja -C "$BUILD" >/dev/null
    new=$(library_of "$BUILD")
fi
probe=$BUILD/bench/ab-libs
mkdir -p "$BUILD/bench"
if [ ! -x "$probe" ] || [ bench/ab_libs.c -nt "$probe" ]; then
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude bench/ab_libs.c -ldl -o "$probe"
fi
echo "old: $old"
echo "new: $new"
first=$("$probe" "$old" "$new" "$mode" "$preset" "$batch" "$unroll" "$threads" "$samples")
second=$("$probe" "$new" "$old" "$mode" "$preset" "$batch" "$unroll" "$threads" "$samples")
echo "$first"
echo "$second"
/usr/bin/python3 - "$first" "$second" <<'EOF'
import json, math, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
r1, r2 = a["new_over_old"], 1.0 / b["new_over_old"]
print(f"new/old time: {r1:.3f} (old loaded first), {r2:.3f} (new loaded first); geometric mean {math.sqrt(r1 * r2):.3f}")
EOF
