#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 64-bit ARM: cross-compile with aarch64-linux-gnu-g++ (cmake/toolchains/aarch64-linux-gnu.cmake,
# portable -march) and run the fast test suite under qemu-user.
# The parity tests read the same fixtures (../shared/fixtures, tests/data) and keep their
# tolerances: NEON instead of AVX must not move results outside them.
#   .ci/arm64.sh               build dir build-arm64/ (YV9_BUILD_DIR to override)
# Needs: g++-aarch64-linux-gnu, qemu-user (qemu-aarch64), and the host's header-only Eigen/doctest.
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-arm64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "arm64.sh: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)"; exit 1; }
done
ci_step "configure $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DYV9_NATIVE=OFF
ci_step "build"
cmake --build "$BUILD" -j "$YV9_JOBS"
ci_step "fast tests under qemu-aarch64"
# qemu runs the target's code 3-8x slower here; the slowest fast test (test_demo) takes ~100 s,
# well inside the 900 s TIMEOUT every fast test carries.
ci_ctest "$BUILD"
