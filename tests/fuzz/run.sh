#!/bin/sh
# SPDX-License-Identifier: MIT
# The .pt and weight-file fuzzers (docs/pt2bin.md), run through .ci/fuzz.sh, which builds and seeds
# every target in this folder (.ci/fuzz.sh SECONDS runs them all).
#   tests/fuzz/run.sh SECONDS [WORKDIR]        (default 60 s, work dir build-fuzz/ in the repo)
# Seeds come from tests/data/pt (.pt and the .expected.bin weight files) and tests/data/ref; new
# inputs are kept in WORKDIR/corpus/<target>. Exits non-zero on any crash, leak or timeout (the
# reproducer is left in WORKDIR/artifacts).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -ge 2 ]; then
  mkdir -p "$2"
  YV9_FUZZ_DIR=$(cd "$2" && pwd)
  export YV9_FUZZ_DIR
fi
exec bash "$ROOT/.ci/fuzz.sh" "${1:-60}" fuzz_pt fuzz_weightfile
