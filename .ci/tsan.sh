#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ThreadSanitizer run of the threading tests: tests/test_concurrency.cpp (one Network shared by 4
# std::threads, each forward also running parallel regions with Context threads=2) and
# tests/test_threads.cpp (the pool itself: claims, late workers, busy pool, nested regions), and
# tests/test_bf16.cpp (bf16 convolutions on 2 threads: per-thread bf16 scratch, shared Winograd V).
#
# The library's threads are its own (core/threads.hpp: std::thread, std::atomic, std::mutex), all
# of which TSan understands natively: no OpenMP runtime, no Archer and no suppressions are needed.
#   .ci/tsan.sh                build dir build-tsan/ (YV9_BUILD_DIR to override)
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-tsan}
CXX_TSAN=${CXX_TSAN:-clang++-14}
ci_step "configure $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX_TSAN" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DYV9_TSAN=ON -DYV9_NATIVE=OFF -DYV9_BUILD_TOOLS=OFF
ci_step "build test_concurrency test_threads test_bf16"
cmake --build "$BUILD" -j "$YV9_JOBS" --target test_concurrency test_threads test_bf16
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
status=0
for t in test_threads test_concurrency test_bf16; do
  ci_step "$t under TSan"
  "$BUILD/bin/$t" || status=$?
done
exit $status
