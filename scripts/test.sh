#!/usr/bin/env bash
# The whole test suite: configures build/ if needed (warnings are errors), builds, runs every test, and ends
# with one plain line "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build -Dwerror=true
meson compile -C build
status=0
meson test -C build --print-errorlogs "$@" || status=$?
log=build/meson-logs/testlog.json
if [ -f "$log" ]; then
  passed=$(grep -c '"result": "OK"' "$log" || true)
  failed=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  skipped=$(grep -cE '"result": "(SKIP|EXPECTEDFAIL)"' "$log" || true)
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
exit $status
