#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds every libFuzzer target tests/fuzz/fuzz_*.cpp (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS, seeded from real files. Exits non-zero on any crash, sanitizer report,
# leak, timeout (> 10 s for one input) or memory blow-up (> 2 GB RSS); the reproducer is kept as
# build-fuzz/artifacts/<target>-crash-*, to be minimised into a tests/test_hostile_*.cpp case:
#   build-fuzz/fuzz_yaml -minimize_crash=1 -runs=10000 build-fuzz/artifacts/fuzz_yaml-crash-...
#   .ci/fuzz.sh [SECONDS] [TARGET...]     default 60 s each, all targets
# Corpora grow in build-fuzz/corpus/<target> and are reused by the next run on the same machine.
source "$(dirname "$0")/lib.sh"
SECS=${1:-60}
shift || true
WORK=${YV9_FUZZ_DIR:-build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
FIXTURES=${YV9_FIXTURES:-../shared/fixtures}
mkdir -p "$WORK/artifacts" "$WORK/seeds" "$WORK/corpus"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

# seed_files TARGET: real files of the kind the target parses (missing ones are skipped).
seed_files() {
  case $1 in
    fuzz_yaml) ls "$FIXTURES"/configs/*.yaml tests/data/ref/*/model.yaml ;;
    fuzz_npy) ls tests/data/ref/mod-*/in_*.npy tests/data/ref/mqa-standalone/*.npy "$FIXTURES"/nms/*max50*.npy \
                 "$FIXTURES"/gelan-t-mmqa/out_*.npy ;;
    fuzz_json) ls tests/data/ref/*/case.json "$FIXTURES"/*/fixture.json "$FIXTURES"/nms/nms.json \
                  "$FIXTURES"/preprocess/preprocess.json ;;
    fuzz_weightfile) ls tests/data/ref/mod-*/model.bin tests/data/ref/mqa-standalone/model.bin tests/data/pt/*.expected.bin ;;
    fuzz_pt) ls tests/data/pt/*.pt ;;
    fuzz_dataset) ls tests/fuzz/seeds/dataset/* ;;
    # small images only: a 100 KB photo as seed makes every execution decode it (~100 exec/s);
    # tests/data/hostile holds earlier findings, re-run first on every run
    fuzz_image) ls tests/fuzz/seeds/image/*.png tests/fuzz/seeds/image/*.bmp tests/data/vision/*.jpg \
                   tests/data/hostile/*.jpg ;;
  esac 2>/dev/null || true
}
# Longest input libFuzzer may generate: a little above the seeds that matter.
max_len() {
  case $1 in
    fuzz_yaml | fuzz_dataset) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  src=tests/fuzz/$t.cpp
  [ -f "$src" ] || { echo "fuzz.sh: no $src"; exit 2; }
  ci_step "build $t"
  # Built without OpenMP (one input at a time is the fuzzer's model): Context is then unused in the
  # kernels, hence -Wno-unused-parameter.
  "$CXX_FUZZ" -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -DEIGEN_DONT_PARALLELIZE -I include -isystem /usr/include/eigen3 \
    -isystem /usr/include/stb -Wno-unused-parameter -Werror "$src" -o "$WORK/$t"
done
for t in "${targets[@]}"; do
  seeds=$WORK/seeds/$t
  rm -rf "$seeds" && mkdir -p "$seeds" "$WORK/corpus/$t"
  n=0
  for f in $(seed_files "$t"); do cp "$f" "$seeds/$n-$(basename "$f")"; n=$((n + 1)); done
  dict=()
  [ -f "tests/fuzz/${t#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${t#fuzz_}.dict")
  ci_step "run $t for ${SECS}s ($n seed files)"
  log=$WORK/$t.log
  if ! "$WORK/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
      -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t-" "${dict[@]}" \
      "$WORK/corpus/$t" "$seeds" > "$log" 2>&1; then
    echo "!! $t FAILED: see $log; reproducer in $WORK/artifacts/"
    grep -E -A12 "^==[0-9]+==ERROR|runtime error|deadly signal|SUMMARY" "$log" | head -40 || true
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov: .* ft: " "$log" | tail -3 || true
done
exit $status
