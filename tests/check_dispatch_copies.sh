#!/usr/bin/env bash
# Every copy compiled for a wider instruction set (a function named *_avx2 or *_avx512, lib/cpu_dispatch.h)
# really holds its own code. When the compiler keeps the shared body out of line, the copy compiles to a single
# jump into the baseline (SSE2) body: the results stay right and only the speed is lost, so no numerical test
# notices. The LSTM forward's copies were such jumps until CPU_INLINE; this looks at the machine code.
# Without optimisation (debug builds) no copy is a jump, and the test passes as it should.
#   check_dispatch_copies.sh LIBRARY.a
set -euo pipefail
lib=$1
command -v objdump > /dev/null || { echo "SKIPPED: objdump not found (Debian: binutils)"; exit 77; }
listing=$(objdump -d --no-show-raw-insn "$lib")
# A function's header line, then its first instruction: "NAME: OPCODE ..." for every *_avx2 / *_avx512.
firsts=$(awk '/^[0-9a-f]+ <[A-Za-z0-9_.]*_avx(2|512)[A-Za-z0-9_.]*>:$/ { name = $2; getline; sub(/^[ \t]*[0-9a-f]+:[ \t]*/, ""); print name, $0 }' <<< "$listing")
count=$(grep -c . <<< "$firsts" || true)
[ "$count" -gt 0 ] || { echo "no *_avx2 or *_avx512 function in $lib: is this the library?"; exit 1; }
echo "$count wide copies in $(basename "$lib")"
jumps=$(grep -E '^<[^>]*>: jmp ' <<< "$firsts" || true)
if [ -n "$jumps" ]; then
  echo "these copies are only a jump into another function's code (mark the body they wrap CPU_INLINE):"
  echo "$jumps"
  exit 1
fi
echo "none of them is a bare jump"
