#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what building and testing yv9 needs on Debian 12 (as root, or through sudo).
#   tools/setup-debian.sh          build + test dependencies (ffmpeg: detect's video sources and outputs;
#                                  parallel: the sharding test)
#   tools/setup-debian.sh --ci     also what the hardening jobs of .ci/run need (sanitizers, fuzzers,
#                                  ThreadSanitizer with OpenMP, ARM64 cross build + qemu)
#   tools/setup-debian.sh --extra  --ci plus the PyTorch reference and the benchmark tools
set -eu
pkgs="g++ cmake make libeigen3-dev libstb-dev doctest-dev ffmpeg parallel"
ci="clang-14 libfuzzer-14-dev libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user"
case "${1:-}" in
  --ci) pkgs="$pkgs $ci" ;;
  --extra) pkgs="$pkgs $ci python3-torch python3-numpy python3-yaml libopenblas0-pthread hyperfine nodejs npm" ;;
  "") ;;
  *) echo "usage: tools/setup-debian.sh [--ci|--extra]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  # NodeSource's nodejs package bundles npm and conflicts with Debian's
  [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
