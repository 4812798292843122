#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AddressSanitizer + UndefinedBehaviorSanitizer build (-O1, asserts on) of the tools and every test,
# then the fast test suite. Any report aborts the test (-fno-sanitize-recover), so ctest fails.
#   .ci/sanitize.sh            build dir build-asan/ (YV9_BUILD_DIR to override)
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-asan}
ci_step "configure $BUILD"
# Debug keeps assert()/eigen_assert on; -O1 keeps the suite fast enough and the stacks readable.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DYV9_SANITIZE=ON -DYV9_NATIVE=OFF
ci_step "build"
cmake --build "$BUILD" -j "$YV9_JOBS"
ci_step "fast tests under ASan+UBSan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ci_ctest "$BUILD"
