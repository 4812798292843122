#!/bin/bash
# SPDX-License-Identifier: MIT
# fp32 against bf16 compute (detect --precision) on the workloads the bf16 numbers are quoted for,
# each an interleaved ab.sh run of build/bin/detect with `--each "--precision fp32" --each
# "--precision bf16"`: per workload a table of min / median per precision, the bf16/fp32 ratios
# (the second row's "/first") and peak RSS. Needs a CPU with AVX512_BF16.
#
#   tools/bench/bf16_ab.sh [ROUNDS]            (default 5; the seed model runs min(ROUNDS, 3))
#
# Weights: the gelan-c and gelan-t files compare.sh made (tools/bench/cache; run
# `tools/bench/compare.sh --config ../shared/fixtures/configs/gelan-c.yaml --img 320` once), the
# seed model from its config on synthetic weights.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
rounds=${1:-5}
C=$(ls tools/bench/cache/gelan-c-*/gelan-c.bin 2>/dev/null | head -1 || true)
T=$(ls tools/bench/cache/gelan-t-*/gelan-t.bin 2>/dev/null | head -1 || true)
S=${YV9_FIXTURES:-../shared/fixtures}/configs/yolov9-c-MMQARepNCSPELAN4.yaml
[ -n "$C" ] && [ -n "$T" ] || { echo "bf16_ab.sh: no gelan-c/gelan-t weights in tools/bench/cache (run compare.sh for them first)" >&2; exit 1; }
[ -x build/bin/detect ] || { echo "bf16_ab.sh: build/bin/detect missing (cmake --build build)" >&2; exit 1; }
ab() { "$here/ab.sh" --each "--precision fp32" --each "--precision bf16" "$@"; echo; }
ab --rounds "$rounds" --runs 10 --weights "$C" --img 320 build/bin/detect
ab --rounds "$rounds" --runs 5 --weights "$C" --img 320 build/bin/detect -- --threads 1
ab --rounds "$rounds" --runs 3 --weights "$C" --img 640 build/bin/detect
ab --rounds "$rounds" --runs 20 --weights "$T" --img 320 build/bin/detect
if [ -f "$S" ]; then
  ab --rounds $((rounds < 3 ? rounds : 3)) --runs 2 --config "$S" --img 320 build/bin/detect
else
  echo "bf16_ab.sh: SKIPPED the seed model: no $S" >&2
fi
