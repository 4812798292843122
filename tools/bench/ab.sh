#!/bin/bash
# SPDX-License-Identifier: MIT
# A/B of detect binaries (e.g. this tree's against a worktree build of another commit) or of
# option sets of one binary (e.g. --precision fp32 against bf16), idle or with another process busy
# on one core, interleaved: each round runs every binary with every option set once (`detect
# --bench`, steady state), then a table of the min over all runs, the median of the round medians,
# each row's ratios to the first row, and peak RSS.
#
#   tools/bench/ab.sh [--busy-core] [--rounds R] [--runs N] [--weights W.bin | --config Y.yaml]
#                     [--img S] [--each "OPTS"]... BIN...   (options for every run after --;
#                     OPTS are split at blanks)
#   e.g. ab.sh base/detect build/bin/detect -- --threads 2
#        ab.sh --each "--precision fp32" --each "--precision bf16" build/bin/detect
#
# Defaults: 8 rounds of 10 runs, idle, the gelan-c file compare.sh made (tools/bench/cache), 320.
# --config runs the config on synthetic weights instead. --busy-core keeps core 1 busy for the
# whole run, as compare.sh --busy-core does (busy_core.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=8 runs=10 img=320 busy=0 weights="" config=""
bins=() each=() extra=()
usage() { sed -n '3,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --busy-core) busy=1 ;;
    --rounds) rounds=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --img) img=${2:?}; shift ;;
    --weights) weights=${2:?}; shift ;;
    --config) config=${2:?}; shift ;;
    --each) each+=("${2:?}"); shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    -*) echo "ab.sh: unknown option $1" >&2; usage ;;
    *) bins+=("$1") ;;
  esac
  shift
done
[ ${#bins[@]} -ge 1 ] || usage
[ ${#each[@]} -ge 1 ] || each=("")
if [ -n "$config" ]; then
  [ -z "$weights" ] || { echo "ab.sh: give --weights or --config, not both" >&2; exit 2; }
  [ -f "$config" ] || { echo "ab.sh: no config $config" >&2; exit 1; }
  model=(--config "$config")
else
  [ -n "$weights" ] || weights=$(ls "$root"/tools/bench/cache/gelan-c-*/gelan-c.bin 2>/dev/null | head -1 || true)
  [ -f "$weights" ] || { echo "ab.sh: no weights (give --weights, or run compare.sh once for tools/bench/cache)" >&2; exit 1; }
  model=(--weights "$weights")
fi
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "ab.sh: $b is not an executable" >&2; exit 1; }; done
source "$here/busy_core.sh"
log=$(mktemp)
trap 'stop_busy_core; rm -f "$log"' EXIT
trap 'exit 130' INT TERM
[ $busy = 1 ] && start_busy_core ab.sh
# rows: every binary with every option set, in that order; a row's label is the binary and its set
rows=()
for b in "${bins[@]}"; do for e in "${each[@]}"; do rows+=("$b${e:+ $e}"); done; done
for r in $(seq 1 "$rounds"); do
  i=0
  for b in "${bins[@]}"; do
    for e in "${each[@]}"; do
      read -r -a opts <<< "$e"
      line=$("$b" "${model[@]}" --bench --img "$img" --runs "$runs" ${opts[@]+"${opts[@]}"} ${extra[@]+"${extra[@]}"} 2>&1 | grep '^bench:' || true)
      [ -n "$line" ] || { echo "ab.sh: ${rows[$i]} printed no bench: line" >&2; exit 1; }
      echo "$i $line" >> "$log"
      i=$((i + 1))
    done
  done
done
echo "# detect A/B: $rounds interleaved rounds x $runs runs, $([ $busy = 1 ] && echo "core 1 busy" || echo idle), $(basename "${config:-$weights}") at $img ${extra[*]+"${extra[*]}"}"
python3 - "$log" "${rows[@]}" <<'EOF'
import re, statistics, sys
log, rows = sys.argv[1], sys.argv[2:]
mins, meds, rss = {}, {}, {}
for line in open(log):
    i = int(line.split()[0])
    mins.setdefault(i, []).append(float(re.search(r"min_ms=([0-9.]+)", line).group(1)))
    meds.setdefault(i, []).append(float(re.search(r"median_ms=([0-9.]+)", line).group(1)))
    m = re.search(r"peak_rss_mb=([0-9.]+)", line)
    if m:
        rss.setdefault(i, []).append(float(m.group(1)))
print("| run | min ms | median of round medians | /first (min, median) | round medians | peak RSS MiB |")
print("|---|---:|---:|---|---|---:|")
m0, d0 = min(mins[0]), statistics.median(meds[0])
for i, b in enumerate(rows):
    m, d = min(mins[i]), statistics.median(meds[i])
    peak = f"{max(rss[i]):.0f}" if i in rss else "-"
    print(f"| {b} | {m:.1f} | {d:.1f} | {m / m0:.3f}, {d / d0:.3f} | {', '.join(f'{x:.1f}' for x in meds[i])} | {peak} |")
EOF
