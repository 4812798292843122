# SPDX-License-Identifier: MIT
# Shared by the .ci/*.sh scripts (sourced, not run): repo-root cwd, strict mode, -j, and a wall-time
# line printed on every exit, pass or fail, so CI logs show where the budget went.
#   YV9_JOBS   parallel build/test jobs (default 2: the CI machine has 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
YV9_JOBS=${YV9_JOBS:-2}
_ci_name=$(basename "$0")
_ci_t0=$(date +%s)
_ci_report() {
  local rc=$?
  echo "== $_ci_name: $([ $rc -eq 0 ] && echo PASS || echo "FAIL (exit $rc)") in $(( $(date +%s) - _ci_t0 )) s wall"
  exit $rc
}
trap _ci_report EXIT

# ci_step TITLE: a visible marker with the elapsed time, so a slow step is easy to find.
ci_step() { echo "== [$(( $(date +%s) - _ci_t0 )) s] $*"; }

# The fast test suite: everything but the tests labelled heavy.
ci_ctest() {
  local dir=$1; shift
  ctest --test-dir "$dir" -LE heavy --output-on-failure -j "$YV9_JOBS" "$@"
}
