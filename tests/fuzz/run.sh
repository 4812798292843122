#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and runs each for SECONDS.
#   tests/fuzz/run.sh SECONDS [WORKDIR]        (default 60 s, work dir build-fuzz/ in the repo)
# The corpus is seeded from tests/data/pt (.pt and the .expected.bin weight files); new inputs
# found are kept in WORKDIR/corpus_<target>. Exits non-zero on any crash, leak or timeout
# (the reproducer is left in WORKDIR as crash-*/leak-*/timeout-*).
set -eu
SECONDS_PER_TARGET=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${2:-$ROOT/build-fuzz}
CXX=${CXX_FUZZ:-clang++-14}
mkdir -p "$WORK"
cd "$WORK"

for t in fuzz_pt fuzz_weightfile; do
  echo "== building $t"
  $CXX -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -I"$ROOT/include" "$HERE/$t.cpp" -o "$t"
done

mkdir -p corpus_fuzz_pt corpus_fuzz_weightfile seeds_pt seeds_weightfile
cp "$ROOT"/tests/data/pt/*.pt seeds_pt/
cp "$ROOT"/tests/data/pt/*.expected.bin seeds_weightfile/

status=0
for t in fuzz_pt fuzz_weightfile; do
  seeds=seeds_pt
  [ "$t" = fuzz_weightfile ] && seeds=seeds_weightfile
  echo "== running $t for ${SECONDS_PER_TARGET}s"
  if ! ./"$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 "corpus_$t" "$seeds" > "$t.log" 2>&1; then
    echo "!! $t FAILED (see $WORK/$t.log)"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^Done|ERROR" "$t.log" || true
done
exit $status
