#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, -Dfuzz=true, clang, ASan + UBSan) in build-fuzz/ and runs each for a fixed
# time, starting from a scratch copy of its committed seed corpus fuzz/corpus/<target>/ (the committed one is
# never modified). Fails on any crash, leak, sanitizer report, timeout or out-of-memory, keeping the input in
# build-fuzz/artifacts/<target>/; prints the executions of each target.
#
#   bash scripts/fuzz.sh [seconds per target, default 60]
#
# Reproduce a failure: build-fuzz/fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;; esac

command -v clang > /dev/null || { echo "fuzz: clang not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dexamples=false -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized -Dwerror=true > "$build.setup.log" 2>&1 ||
    { cat "$build.setup.log" >&2; exit 1; }
  rm -f "$build.setup.log"
fi
# Only the fuzz targets (and what they need), not the rest of the project.
mapfile -t targets < <(meson introspect --targets "$build" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"].startswith("fuzz_") and t["name"] != "fuzz_make_seeds" and t["type"] == "executable":
        print(t["name"])' | sort)
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no fuzz targets configured in $build (-Dfuzz=true?)" >&2; exit 1; }
# Quiet when it builds; the compiler's words when it does not (a clang-only error used to vanish here).
meson compile -C "$build" "${targets[@]}" > "$build.compile.log" 2>&1 ||
  { cat "$build.compile.log" >&2; echo "fuzz: building the fuzz targets failed" >&2; exit 1; }
rm -f "$build.compile.log"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
# The corpora and the checkpoint targets' input files (fuzz/fuzz_common.c) live in one scratch directory, on
# tmpfs when there is one, removed at the end whatever happened.
scratch_root=${TMPDIR:-/tmp}
[ -w /dev/shm ] && scratch_root=/dev/shm
scratch=$(mktemp -d "$scratch_root/attn-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/tmp"
export TMPDIR=$scratch/tmp
status=0
summary=()
for exe in "${targets[@]}"; do
  name=${exe#fuzz_}
  seeds=fuzz/corpus/$name
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "fuzz: $exe has no seed corpus in $seeds" >&2
    status=1
    summary+=("$(printf '%-22s %s' "$exe" "NO SEED CORPUS")")
    continue
  fi
  mkdir -p "$scratch/$name" "$build/artifacts/$name"
  cp "$seeds"/* "$scratch/$name/"
  log="$build/artifacts/$name/last-run.log"
  echo "-- $exe: ${seconds}s from $(ls "$seeds" | wc -l) seeds"
  rc=0
  # -rss_limit_mb also caps single allocations; -timeout fails an input that runs for more than 25 s.
  "$build/fuzz/$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$name/" "$scratch/$name" > "$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^ *#[0-9]+ 0x' "$log" | head -40 >&2 || true
    echo "fuzz: $exe FAILED (exit $rc); full log: $log" >&2
    summary+=("$(printf '%-22s %10s executions %7s/s  FAILED' "$exe" "${runs:-?}" "${rate:-?}")")
  else
    summary+=("$(printf '%-22s %10s executions %7s/s  ok' "$exe" "$runs" "$rate")")
  fi
done
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit $status
