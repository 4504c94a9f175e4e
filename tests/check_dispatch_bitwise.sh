#!/usr/bin/env bash
# The copies chosen at run time (lib/cpu_dispatch.h), against each other, bit for bit:
#  - the element-wise loops (tests/dispatch_hash.c): the AVX2 and AVX-512 copies against the baseline copy,
#    with and without ATTN_PORTABLE=1 and ATTN_ISA=avx2;
#  - whole models through the public API (tests/model_hash.c): the AVX-512 kernels against the AVX2 + FMA
#    kernels (ATTN_ISA=avx2). The FMA kernels round differently from the portable path by design, so the
#    portable path is compared against the definition and PyTorch instead (test_kernels, pytorch_reference*).
# A variant this CPU lacks is reported as skipped by name; with none to compare, the test exits 77 (skipped).
set -euo pipefail
elementwise=$1 model=$2
fast=$("$elementwise")
capped=$(ATTN_ISA=avx2 "$elementwise")
portable=$(ATTN_PORTABLE=1 "$elementwise")
echo "element-wise, dispatched:      $fast"
echo "element-wise, ATTN_ISA=avx2:   $capped"
echo "element-wise, ATTN_PORTABLE=1: $portable"
case "$portable" in *baseline) ;; *) echo "ATTN_PORTABLE=1 did not select the baseline"; exit 1 ;; esac
case "$fast" in
*baseline) echo "SKIPPED: avx2, avx512: this CPU has no AVX2, so there is no second copy to compare"; exit 77 ;;
esac
[ "${fast%% *}" = "${portable%% *}" ] || { echo "the ${fast#* } copies changed bits"; exit 1; }
[ "${capped%% *}" = "${portable%% *}" ] || { echo "the ${capped#* } copies changed bits"; exit 1; }
echo "element-wise: bitwise the same"
wide=$("$model")
narrow=$(ATTN_ISA=avx2 "$model")
echo "models, dispatched:    $wide"
echo "models, ATTN_ISA=avx2: $narrow"
case "$narrow" in *avx512) echo "ATTN_ISA=avx2 did not cap the kernels"; exit 1 ;; esac
case "$wide" in
*avx512) ;;
*) echo "SKIPPED: avx512: this CPU has no AVX-512 (kernels: ${wide#* }); the AVX2 copies were compared above"; exit 0 ;;
esac
[ "${wide%% *}" = "${narrow%% *}" ] || { echo "the AVX-512 kernels give other bits than AVX2 + FMA"; exit 1; }
echo "models: AVX-512 and AVX2 + FMA bitwise the same"
