#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AVX2+FMA build without AVX-512 (-march=haswell) + the fast tests: the 6x16 micro-kernels and the
# scalar im2col border path that machines without AVX-512 run. The other builds here use either
# -march=native (AVX-512 on the CI machine) or the baseline ISA, so nothing else compiles them.
# Skipped with a message on a CPU without AVX2 and FMA (the tests could not run).
#   .ci/avx2.sh                build dir build-avx2/ (YV9_BUILD_DIR to override)
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-avx2}
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
  echo "avx2.sh: SKIPPED: this CPU lacks AVX2/FMA, the AVX2 build's tests cannot run here"
  exit 0
fi
ci_step "configure $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DYV9_NATIVE=OFF -DCMAKE_CXX_FLAGS="-march=haswell"
ci_step "build"
cmake --build "$BUILD" -j "$YV9_JOBS"
ci_step "fast tests"
ci_ctest "$BUILD"
