#!/usr/bin/env bash
# The whole test suite, as CI runs it (docs/testing.md). Stages, in order:
#   1. the normal suite in build/ (warnings are errors)
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (and float-cast-overflow, which
#      GCC's undefined does not include), in build-asan/
#   3. the core unit tests under valgrind memcheck, in build-vg/
#   4. the libFuzzer targets, FUZZ_SECONDS (default 45) each, in build-fuzz/ (scripts/fuzz.sh)
#   5. the ABI against the committed baseline (scripts/abi-check.sh)
#   6. the Python package (python/): built and tested with pytest in a virtual environment of its own,
#      build-python/venv, against stage 1's attn-train and attn-play (docs/python.md)
# Each stage prints a header, then its duration and counts; a stage whose tool is missing fails. The last line
# is "tests: N passed, N failed, N skipped" summed over every stage; the exit status is non-zero if any failed.
#
#   bash scripts/test.sh [--quick | --python] [meson test arguments for stage 1...]
#   --quick   stage 1 only
#   --python  stages 1 and 6
# ATTN_TEST_BUILD_DIR names stage 1's build directory (default build/); the other stages' are fixed.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0 python_only=0
if [ "${1:-}" = --quick ]; then
  quick=1
  shift
elif [ "${1:-}" = --python ]; then
  python_only=1
  shift
fi

total_passed=0 total_failed=0 total_skipped=0 status=0
stage_lines=()

# Counts of one meson test run from its JSON log ($2: the log's name, testlog-<wrapper> under --wrap): sets
# passed, failed, skipped.
count_meson() {
  local log=$1/meson-logs/${2:-testlog}.json
  passed=0 failed=0 skipped=0
  [ -f "$log" ] || return 0
  passed=$(grep -c '"result": "OK"' "$log" || true)
  failed=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  skipped=$(grep -cE '"result": "(SKIP|EXPECTEDFAIL)"' "$log" || true)
}

# Sets cpu_now to the CPU seconds (user + system) used so far by finished child processes. `times` must run in
# this shell, not in a command substitution's subshell, which has no children of its own.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
children_cpu() {
  times > "$times_file"
  cpu_now=$(tail -1 "$times_file" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
}

# Runs stage function $2 under title $1 and adds its counts (set by the function) to the totals. A stage that
# fails without having counted a failed test (a build or a missing tool) counts as one failure. The CPU time
# beside the wall time tells what a stage costs on a machine shared with other work.
stage() {
  local title=$1 fn=$2 start=$SECONDS cpu_start rc=0
  children_cpu
  cpu_start=$cpu_now
  echo
  echo "=== $title ==="
  passed=0 failed=0 skipped=0
  "$fn" || rc=$?
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$failed" -gt 0 ] || failed=1
  fi
  local line cpu
  children_cpu
  cpu=$((cpu_now - cpu_start))
  line=$(printf '%-34s %5ss (CPU %5ss)  %s passed, %s failed, %s skipped' "$title" $((SECONDS - start)) "$cpu" \
    "$passed" "$failed" "$skipped")
  echo "--- $line"
  stage_lines+=("$line")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

normal_args=("$@")
normal_build=${ATTN_TEST_BUILD_DIR:-build}
normal_suite() {
  [ -f "$normal_build/build.ninja" ] || meson setup "$normal_build" -Dwerror=true || return 1
  meson compile -C "$normal_build" || return 1
  local rc=0
  rm -f "$normal_build/meson-logs/testlog.json"
  meson test -C "$normal_build" --print-errorlogs "${normal_args[@]}" || rc=$?
  count_meson "$normal_build"
  return $rc
}

# The install-type tests (suite 'install') link the installed library without the sanitizer runtime, and the
# 'valgrind' suite cannot run sanitized binaries: both are left out here (they run in stage 1).
# GCC's -fsanitize=undefined leaves out float-cast-overflow (a double outside an integer type's range converted to
# it, as attn-train's `--frames 1e30` once was), so it is added by hand; a build-asan/ configured without it is
# reconfigured. The programs are built without MPI here: Open MPI's own start-up and shut-down leak from plugins
# it has unloaded by the time LeakSanitizer looks, so nothing could suppress them; the MPI glue and the mpi suite
# run in stage 1, and here attn-train's single-process glue is checked.
ubsan_extra=-fsanitize=float-cast-overflow
sanitizer_suite() {
  local extra=(-Dc_args=$ubsan_extra -Dcpp_args=$ubsan_extra -Dc_link_args=$ubsan_extra -Dcpp_link_args=$ubsan_extra
               -Dmpi=disabled)
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
      -Dwerror=true "${extra[@]}" || return 1
  elif ! grep -q -- "$ubsan_extra" build-asan/meson-info/intro-buildoptions.json ||
       ! grep -q '"name": "mpi", "value": "disabled"' build-asan/meson-info/intro-buildoptions.json; then
    meson configure build-asan "${extra[@]}" || return 1
  fi
  meson compile -C build-asan || return 1
  local rc=0
  rm -f build-asan/meson-logs/testlog.json
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C build-asan --print-errorlogs --no-suite install --no-suite valgrind -t 3 || rc=$?
  count_meson build-asan
  return $rc
}

# The unit tests of the library's core; the learning and reference tests take too long under valgrind.
core_tests=(api_errors safetensors checkpoint training_checkpoint errors_training kernels model_behaviour rollout losses optim conv_plan packing_reuse)
valgrind_suite() {
  command -v valgrind > /dev/null || { echo "valgrind not found (Debian: apt-get install valgrind)" >&2; return 1; }
  [ -f build-vg/build.ninja ] || meson setup build-vg -Dbuildtype=debugoptimized -Dwerror=true || return 1
  local t targets=()
  for t in "${core_tests[@]}"; do targets+=("tests/test_$t"); done
  meson compile -C build-vg "${targets[@]}" || return 1
  local rc=0
  rm -f build-vg/meson-logs/testlog-valgrind.json
  # One OpenBLAS thread: the library runs BLAS single-threaded anyway (lib/threads.c), and an idle pool
  # started at load time only slows valgrind down.
  OPENBLAS_NUM_THREADS=1 meson test -C build-vg --no-rebuild --print-errorlogs -t 4 \
    --wrap="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect" \
    "${core_tests[@]}" || rc=$?
  count_meson build-vg testlog-valgrind
  return $rc
}

fuzz_stage() {
  local rc=0 out
  out=$(mktemp)
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-45}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  passed=$(grep -cE '^  fuzz_.* ok$' "$out" || true)
  failed=$(grep -cE '^  fuzz_.*(FAILED|NO SEED CORPUS)$' "$out" || true)
  rm -f "$out"
  return $rc
}

abi_stage() {
  local rc=0
  bash scripts/abi-check.sh || rc=$?
  if [ "$rc" -eq 0 ]; then passed=1; else failed=1; fi
  return $rc
}

# The Python package: a virtual environment made once with ${ATTN_PYTHON:-python3} (the system Python is
# untouched), the package rebuilt from python/ in build-python/wheel (incremental), then pytest with stage 1's
# programs. Counts come from pytest's JUnit XML.
python_suite() {
  local venv=build-python/venv py=${ATTN_PYTHON:-python3} xml=build-python/pytest.xml rc=0
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || { echo "cannot create a virtual environment with $py (Debian: apt-get install python3-venv)" >&2; return 1; }
  fi
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'meson-python>=0.15' 'meson>=1.1' ninja numpy gymnasium tqdm pytest || return 1
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --no-deps --force-reinstall --config-settings=build-dir="$PWD/build-python/wheel" \
    ./python || return 1
  rm -f "$xml"
  ATTN_BUILD_DIR="$(cd "$normal_build" && pwd)" ATTN_REQUIRE_C_PROGRAMS=1 \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --junit-xml="$xml" python/tests || rc=$?
  if [ -f "$xml" ]; then
    local suite n=()
    suite=$(grep -o '<testsuite [^>]*>' "$xml" | head -1)
    for a in tests failures errors skipped; do n+=("$(echo "$suite" | grep -o " $a=\"[0-9]*\"" | grep -o '[0-9]*')"); done
    skipped=${n[3]} failed=$((n[1] + n[2]))
    passed=$((n[0] - failed - skipped))
  fi
  return $rc
}

stage "normal suite ($normal_build/)" normal_suite
if [ "$quick" -eq 0 ] && [ "$python_only" -eq 0 ]; then
  stage "ASan + UBSan suite (build-asan/)" sanitizer_suite
  stage "valgrind memcheck (build-vg/)" valgrind_suite
  stage "fuzzing (build-fuzz/)" fuzz_stage
  stage "ABI check (abi/)" abi_stage
fi
if [ "$quick" -eq 0 ]; then
  stage "Python package (build-python/)" python_suite
fi

echo
echo "stages:"
printf '  %s\n' "${stage_lines[@]}"
echo "tests: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
