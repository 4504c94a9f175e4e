#!/usr/bin/env bash
# A fresh Debian machine to a running agent: installs the packages, builds, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build -Dwerror=true
meson compile -C build
./build/examples/attention_demo 6
