#!/bin/bash
# SPDX-License-Identifier: MIT
# Engine comparison: ONNX Runtime vs PyTorch vs yv9 (ours). See tools/bench/README.md.
#
#   tools/bench/compare.sh --config ../shared/fixtures/configs/gelan-c.yaml --img 320 --runs 10
#   tools/bench/compare.sh --all
#   tools/bench/compare.sh --busy-core --config ../shared/fixtures/configs/gelan-c.yaml --img 320
#
# --busy-core: keeps one core busy with a shell loop (taskset -c 1, killed when this script exits)
# and times ours default, ours --threads 1 and ORT default against it, interleaved (see README).
#
# Builds build/bin/detect (Release) unless --no-build is given, installs onnxruntime-node into
# tools/bench/node_modules if it is missing (npm ci --ignore-scripts: the CPU binding ships inside the
# package; its postinstall only downloads CUDA providers), then runs compare.py with the other arguments.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

build=1
busy=0
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
  if [ "$a" = "--busy-core" ]; then busy=1; fi
done

for tool in /usr/bin/python3 node npm; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (tools/setup-debian.sh --extra installs what is needed)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import torch, numpy, yaml' 2>/dev/null ||
  { echo "compare.sh: /usr/bin/python3 lacks torch/numpy/yaml (apt-get install python3-torch python3-numpy python3-yaml)" >&2; exit 1; }

if [ ! -f "$here/node_modules/onnxruntime-node/package.json" ]; then
  echo "compare.sh: installing onnxruntime-node into tools/bench/node_modules" >&2
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
fi

if [ "$build" = 1 ]; then
  echo "compare.sh: building detect (Release)" >&2
  (cd "$root" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j2 --target detect >&2)
fi

cd "$root"
if [ "$busy" = 1 ]; then
  source "$here/busy_core.sh"
  trap stop_busy_core EXIT
  trap 'exit 130' INT TERM
  start_busy_core compare.sh
  status=0
  /usr/bin/python3 "$here/compare.py" ${args[@]+"${args[@]}"} || status=$?
  exit $status
fi
exec /usr/bin/python3 "$here/compare.py" ${args[@]+"${args[@]}"}
