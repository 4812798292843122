#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ThreadSanitizer run of tests/test_concurrency.cpp: one Network shared by 4 std::threads, each
# forward also opening OpenMP teams (Context threads=2).
#
# OpenMP and TSan: GCC's libgomp is not instrumented, so TSan cannot see its barriers and reports
# false races between a parallel region's workers. We build with clang and LLVM's libomp instead and
# load Archer (libarcher.so, LLVM's OpenMP TSan annotations) through OMP_TOOL_LIBRARIES, which
# tells TSan about every OpenMP barrier, task and lock. Without Archer (YV9_TSAN_OPENMP=OFF, or when
# libarcher.so is missing) the build falls back to -DYV9_OPENMP=OFF: then only the std::thread level
# is checked.
#   .ci/tsan.sh                build dir build-tsan/ (YV9_BUILD_DIR to override)
source "$(dirname "$0")/lib.sh"
BUILD=${YV9_BUILD_DIR:-build-tsan}
CXX_TSAN=${CXX_TSAN:-clang++-14}
ARCHER=${YV9_ARCHER:-/usr/lib/llvm-14/lib/libarcher.so}
OPENMP=${YV9_TSAN_OPENMP:-ON}
if [ "$OPENMP" = ON ] && [ ! -f "$ARCHER" ]; then
  echo "tsan.sh: $ARCHER not found: OpenMP off for this run (std::thread races only)"
  OPENMP=OFF
fi
ci_step "configure $BUILD (OpenMP $OPENMP)"
cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX_TSAN" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DYV9_TSAN=ON -DYV9_NATIVE=OFF -DYV9_OPENMP="$OPENMP" \
  -DYV9_BUILD_TOOLS=OFF
ci_step "build test_concurrency"
cmake --build "$BUILD" -j "$YV9_JOBS" --target test_concurrency
ci_step "test_concurrency under TSan"
# Archer's start-up note recommends ignore_noninstrumented_modules=1; .ci/tsan.supp ignores only
# calls made from libomp, which keeps libstdc++ and libc interceptors checked.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$PWD/.ci/tsan.supp}
if [ "$OPENMP" = ON ]; then
  export OMP_TOOL_LIBRARIES=$ARCHER
  export ARCHER_OPTIONS=${ARCHER_OPTIONS:-verbose=1}
fi
# Run directly (not through ctest) so the log shows that Archer was loaded: without it TSan
# would not understand OpenMP and its verdict would mean little.
log=$BUILD/test_concurrency.log
status=0
"$BUILD/bin/test_concurrency" > "$log" 2>&1 || status=$?
cat "$log"
if [ "$OPENMP" = ON ] && ! grep -q "Archer detected OpenMP application with TSan" "$log"; then
  echo "tsan.sh: Archer did not attach ($ARCHER): OpenMP synchronisation invisible to TSan"
  exit 1
fi
exit $status
