#!/usr/bin/env bash
# The library's ABI against the committed baseline abi/libattnagent.abi (docs/abi.md).
#
#   bash scripts/abi-check.sh            fails when the ABI differs from the baseline in any way
#   bash scripts/abi-check.sh --update   regenerates the baseline from the current tree (after a deliberate change)
#
# abidw needs debug information to see types, so the library comes from build-vg/ (debugoptimized, no
# sanitizers; the valgrind stage of scripts/test.sh uses the same directory). Only the shared library is built.
# Only types declared in include/attnagent/ count: the opaque structs' definitions in lib/ may change freely.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
case "${1:-}" in
  "") ;;
  --update) mode=update ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

for tool in abidw abidiff meson; do
  command -v "$tool" > /dev/null || { echo "abi-check: $tool not found (Debian: apt-get install abigail-tools)" >&2; exit 1; }
done

build=build-vg
baseline=abi/libattnagent.abi
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=debugoptimized -Dwerror=true > /dev/null
meson compile -C "$build" attnagent:shared_library > /dev/null
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
lib="$build/lib/libattnagent.so.$version"
[ -f "$lib" ] || { echo "abi-check: $lib was not built" >&2; exit 1; }

# Locations, paths and DT_NEEDED (which BLAS is linked) are left out of the dump: they are not ABI, and would
# make the baseline differ between machines and build options.
dump() {
  abidw --headers-dir include/attnagent --drop-private-types --no-corpus-path --no-comp-dir-path --no-show-locs \
        --no-elf-needed --type-id-style hash --out-file "$1" "$lib"
}

if [ "$mode" = update ]; then
  mkdir -p abi
  if [ -f "$baseline" ]; then
    echo "== changes from the previous baseline =="
    abidiff --headers-dir2 include/attnagent --drop-private-types "$baseline" "$lib" || true
  fi
  dump "$baseline"
  echo "abi-check: wrote $baseline from $lib (libattnagent $version)."
  echo "If the ABI changed: bump the version in meson.build as docs/abi.md says (0.x: a minor bump for an"
  echo "incompatible change) and describe the change in CHANGELOG.md, then commit the baseline with them."
  exit 0
fi

[ -f "$baseline" ] || { echo "abi-check: no baseline $baseline; create it with $0 --update" >&2; exit 1; }
status=0
abidiff --headers-dir2 include/attnagent --drop-private-types "$baseline" "$lib" || status=$?
# abidiff's exit status is a bit mask: 1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change.
if [ "$status" -eq 0 ]; then
  echo "abi-check: libattnagent $version matches $baseline ($(grep -c '<elf-symbol ' "$baseline") symbols)"
elif [ $((status & 3)) -ne 0 ]; then
  echo "abi-check: abidiff failed (status $status)" >&2
elif [ $((status & 8)) -ne 0 ]; then
  echo "abi-check: INCOMPATIBLE ABI change against $baseline (above: a removed function). If intended: bump the" >&2
  echo "version (docs/abi.md), note it in CHANGELOG.md and run: bash scripts/abi-check.sh --update" >&2
else
  # abidiff cannot tell a harmless change from a changed public type here; docs/abi.md says which is which.
  echo "abi-check: ABI change against $baseline (above). An added function is compatible; a changed public type" >&2
  echo "or signature is not (bump the version, docs/abi.md). If intended: note it in CHANGELOG.md and run:" >&2
  echo "bash scripts/abi-check.sh --update" >&2
fi
exit $((status == 0 ? 0 : 1))
