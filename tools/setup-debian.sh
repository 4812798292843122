#!/bin/sh
# Installs what building and testing yv9 needs on Debian 12 (as root, or through sudo).
#   tools/setup-debian.sh          build + test dependencies
#   tools/setup-debian.sh --extra  also the fuzzing, cross-compiling and reference-generation tools
set -eu
pkgs="g++ cmake make libeigen3-dev libstb-dev doctest-dev"
if [ "${1:-}" = "--extra" ]; then
  pkgs="$pkgs clang libfuzzer-14-dev libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user python3-torch python3-numpy libopenblas0-pthread hyperfine nodejs npm"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
