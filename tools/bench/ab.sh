#!/bin/bash
# SPDX-License-Identifier: MIT
# A/B of detect binaries (e.g. this tree's against a worktree build of another commit), idle or
# with another process busy on one core, interleaved: each round runs every binary once
# (`detect --bench`, steady state), then a table of the min over all runs and the median of the
# round medians per binary, and each binary's ratios to the first.
#
#   tools/bench/ab.sh [--busy-core] [--rounds R] [--runs N] [--weights W.bin] [--img S] BIN_A BIN_B...
#   (extra detect options after --, e.g. -- --threads 2 --precision bf16)
#
# Defaults: 8 rounds of 10 runs, idle, the gelan-c file compare.sh made (tools/bench/cache), 320.
# --busy-core keeps core 1 busy for the whole run, as compare.sh --busy-core does (busy_core.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=8 runs=10 img=320 busy=0 weights=""
bins=() extra=()
usage() { sed -n '3,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --busy-core) busy=1 ;;
    --rounds) rounds=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --img) img=${2:?}; shift ;;
    --weights) weights=${2:?}; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    -*) echo "ab.sh: unknown option $1" >&2; usage ;;
    *) bins+=("$1") ;;
  esac
  shift
done
[ ${#bins[@]} -ge 1 ] || usage
[ -n "$weights" ] || weights=$(ls "$root"/tools/bench/cache/gelan-c-*/gelan-c.bin 2>/dev/null | head -1 || true)
[ -f "$weights" ] || { echo "ab.sh: no weights (give --weights, or run compare.sh once for tools/bench/cache)" >&2; exit 1; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "ab.sh: $b is not an executable" >&2; exit 1; }; done
source "$here/busy_core.sh"
log=$(mktemp)
trap 'stop_busy_core; rm -f "$log"' EXIT
trap 'exit 130' INT TERM
[ $busy = 1 ] && start_busy_core ab.sh
for r in $(seq 1 "$rounds"); do
  for i in "${!bins[@]}"; do
    line=$("${bins[$i]}" --weights "$weights" --bench --img "$img" --runs "$runs" ${extra[@]+"${extra[@]}"} 2>&1 | grep '^bench:' || true)
    [ -n "$line" ] || { echo "ab.sh: ${bins[$i]} printed no bench: line" >&2; exit 1; }
    echo "$i $line" >> "$log"
  done
done
echo "# detect A/B: $rounds interleaved rounds x $runs runs, $([ $busy = 1 ] && echo "core 1 busy" || echo idle), $(basename "$weights") at $img ${extra[*]+"${extra[*]}"}"
python3 - "$log" "${bins[@]}" <<'EOF'
import re, statistics, sys
log, bins = sys.argv[1], sys.argv[2:]
mins, meds = {}, {}
for line in open(log):
    i = int(line.split()[0])
    mins.setdefault(i, []).append(float(re.search(r"min_ms=([0-9.]+)", line).group(1)))
    meds.setdefault(i, []).append(float(re.search(r"median_ms=([0-9.]+)", line).group(1)))
print("| binary | min ms | median of round medians | /first (min, median) | round medians |")
print("|---|---:|---:|---|---|")
m0, d0 = min(mins[0]), statistics.median(meds[0])
for i, b in enumerate(bins):
    m, d = min(mins[i]), statistics.median(meds[i])
    print(f"| {b} | {m:.1f} | {d:.1f} | {m / m0:.3f}, {d / d0:.3f} | {', '.join(f'{x:.1f}' for x in meds[i])} |")
EOF
