#!/bin/bash
# SPDX-License-Identifier: MIT
# fp32 against bf16 compute (detect --precision), interleaved in one run: per round each workload
# in fp32 then bf16, `detect --bench` (steady state, min and median over its runs), then a table of
# min / median per precision, bf16/fp32 ratios and peak RSS. Needs a CPU with AVX512_BF16.
#
#   tools/bench/bf16_ab.sh [ROUNDS]            (default 5; the seed model runs in the first 3)
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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { build/bin/detect "$@" 2>&1 | grep '^bench:'; }
for r in $(seq 1 "$rounds"); do
  for p in fp32 bf16; do
    echo "round $r gelan-c-320 $p $(run --weights "$C" --bench --img 320 --runs 10 --precision $p)"
    echo "round $r gelan-c-640 $p $(run --weights "$C" --bench --img 640 --runs 3 --precision $p)"
    echo "round $r gelan-t-320 $p $(run --weights "$T" --bench --img 320 --runs 20 --precision $p)"
    echo "round $r gelan-c-320-t1 $p $(run --weights "$C" --bench --img 320 --runs 5 --threads 1 --precision $p)"
  done
  if [ "$r" -le 3 ] && [ -f "$S" ]; then
    for p in fp32 bf16; do echo "round $r seed-320 $p $(run --config "$S" --bench --img 320 --runs 2 --precision $p)"; done
  fi
done | tee "$log" >&2
/usr/bin/python3 - "$log" <<'EOF'
import re, statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'round (\d+) (\S+) (\S+) bench:.*min_ms=([\d.]+) median_ms=([\d.]+) peak_rss_mb=([\d.]+)', line)
    if m:
        rows.setdefault((m[2], m[3]), []).append((float(m[4]), float(m[5]), float(m[6])))
print('| workload | fp32 ms min / median | bf16 ms min / median | bf16/fp32 min (median) | per-round range | peak RSS fp32 / bf16 MiB |')
print('|---|---:|---:|---:|---:|---:|')
for w in ['gelan-c-320', 'gelan-c-320-t1', 'gelan-c-640', 'gelan-t-320', 'seed-320']:
    a, b = rows.get((w, 'fp32')), rows.get((w, 'bf16'))
    if not a or not b:
        continue
    amin, bmin = min(x[0] for x in a), min(x[0] for x in b)
    amed, bmed = st.median(x[1] for x in a), st.median(x[1] for x in b)
    rat = [y[0] / x[0] for x, y in zip(a, b)]
    print(f'| {w} | {amin:.1f} / {amed:.1f} | {bmin:.1f} / {bmed:.1f} | {bmin/amin:.2f} ({bmed/amed:.2f}) | '
          f'{min(rat):.2f}-{max(rat):.2f} | {max(x[2] for x in a):.0f} / {max(x[2] for x in b):.0f} |')
EOF
