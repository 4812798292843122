#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Portable x86-64 build (no -march=native: the baseline ISA any x86-64 CPU runs) + the fast tests.
# Catches code that only works with the build machine's AVX/FMA and tolerances that only hold there.
#   .ci/portable.sh            build dir build-portable/ (YV9_BUILD_DIR to override)
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-portable}
ci_step "configure $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DYV9_NATIVE=OFF
ci_step "build"
cmake --build "$BUILD" -j "$YV9_JOBS"
ci_step "fast tests"
ci_ctest "$BUILD"
