# SPDX-License-Identifier: MIT
# Sourced by compare.sh and ab.sh for --busy-core: start_busy_core NAME keeps core 1 busy with a
# shell loop (taskset -c 1 sh -c 'while :; do :; done'); stop_busy_core, from the script's EXIT
# trap, kills it.
busy_pid=""
start_busy_core() {
  command -v taskset >/dev/null || { echo "$1: --busy-core needs taskset (util-linux)" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "$1: --busy-core needs at least 2 cores" >&2; exit 1; }
  taskset -c 1 sh -c 'while :; do :; done' &
  busy_pid=$!
  echo "$1: busy loop on core 1 (pid $busy_pid)" >&2
}
# (under set -e a failing wait would replace the exit status with the loop's 143)
stop_busy_core() {
  if [ -n "$busy_pid" ]; then
    kill "$busy_pid" 2>/dev/null
    wait "$busy_pid" 2>/dev/null || true
  fi
}
