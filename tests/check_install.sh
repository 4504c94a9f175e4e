#!/usr/bin/env bash
# Installs the library into a scratch root and builds a small host program against it through pkg-config only,
# as a user of the installed package would, then runs it.
set -euo pipefail
build=$1 src=$2 scratch=$3
source "$(dirname "$0")/install_scratch.sh"
install_scratch "$build" "$scratch"
flags=$(pkg-config --cflags --libs attnagent)
echo "pkg-config --cflags --libs attnagent: $flags"
cc -std=c11 -Wall -Wextra -Werror -pedantic "$src" $flags -o "$scratch/host"
LD_LIBRARY_PATH=$(pkg-config --variable=libdir attnagent) "$scratch/host"
# The soname carries the major version.
readelf -d "$(pkg-config --variable=libdir attnagent)/libattnagent.so" | grep -q 'SONAME.*libattnagent\.so\.0'
