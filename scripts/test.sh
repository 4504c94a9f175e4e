#!/usr/bin/env bash
# The whole test suite: configures build/ if needed (warnings are errors), builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build -Dwerror=true
meson compile -C build
meson test -C build --print-errorlogs "$@"
