#!/usr/bin/env bash
# Installs the library into a scratch root and builds a small host program against it through pkg-config only,
# as a user of the installed package would, then runs it.
set -euo pipefail
build=$1 src=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
meson install -C "$build" --destdir "$scratch/root" --quiet --no-rebuild
pc=$(find "$scratch/root" -name attnagent.pc | head -n 1)
# The installed .pc names the configured prefix; point it at the scratch root, as if installed there.
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir -p "$scratch/pkgconfig"
sed "s|^prefix=.*|prefix=$scratch/root$prefix|" "$pc" > "$scratch/pkgconfig/attnagent.pc"
export PKG_CONFIG_PATH=$scratch/pkgconfig
flags=$(pkg-config --cflags --libs attnagent)
echo "pkg-config --cflags --libs attnagent: $flags"
cc -std=c11 -Wall -Wextra -Werror -pedantic "$src" $flags -o "$scratch/host"
LD_LIBRARY_PATH=$(pkg-config --variable=libdir attnagent) "$scratch/host"
# The soname carries the major version.
readelf -d "$(pkg-config --variable=libdir attnagent)/libattnagent.so" | grep -q 'SONAME.*libattnagent\.so\.0'
