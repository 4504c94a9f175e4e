#!/usr/bin/env bash
# Installs what libattnagent needs on Debian (12 or later), as root: the compiler and build tools, OpenBLAS,
# cmocka for the tests, Debian's PyTorch for the reference comparison, libpng and giflib for the pictures,
# clang (libFuzzer), valgrind and abigail-tools for the hardening checks, Chromium for the viewer's browser test,
# Open MPI for data-parallel training (docs/distributed.md), and ale-py (real Atari, from PyPI).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(build-essential meson ninja-build pkg-config binutils
          libopenblas-dev libcmocka-dev libpng-dev libgif-dev
          python3 python3-numpy python3-torch gnuplot-nox
          clang libclang-rt-14-dev valgrind abigail-tools
          openmpi-bin libopenmpi-dev)
# The Python package's tests run in a virtual environment of their own (scripts/test.sh, docs/python.md).
packages+=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's Chromium, run headless by the attention viewer's browser test (viewer_browser, docs/viewer.md); the
# test needs nothing else and no network afterwards.
if ! command -v chromium > /dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium
fi

# ale-py ships the Arcade Learning Environment with its ROMs; the ALE bridge runs it under the first python3 on
# PATH (or $ATTN_PYTHON). Debian's own python3 refuses pip installs outside a virtual environment (PEP 668), so
# that case is allowed explicitly: ale-py brings its own copy of numpy and touches nothing else.
py=${ATTN_PYTHON:-python3}
if ! "$py" -c 'import ale_py' 2>/dev/null; then
  "$py" -m pip install --quiet ale-py 2>/dev/null || "$py" -m pip install --quiet --break-system-packages ale-py
fi
