#!/usr/bin/env bash
# Installs what libattnagent needs on Debian (12 or later), as root: the compiler and build tools, OpenBLAS,
# cmocka for the tests, Debian's PyTorch for the reference comparison, libpng and giflib for the pictures.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(build-essential meson ninja-build pkg-config binutils
          libopenblas-dev libcmocka-dev libpng-dev libgif-dev
          python3 python3-numpy python3-torch gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
