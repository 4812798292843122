#!/bin/sh
# SPDX-License-Identifier: MIT
# usage: run.sh SOURCE_DIR BUILD_DIR — installs yv9 from BUILD_DIR into a temp prefix and builds the
# consumer against it (find_package), then builds it again through add_subdirectory.
set -eu
src=$1; build=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/cmake_consumer" -B "$tmp/a" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/a" >/dev/null
"$tmp/a/consumer" "$src/weights/gelan-t-mmqa-shapes.bin"
cmake -S "$src/tests/cmake_consumer" -B "$tmp/b" -DYV9_SOURCE="$src" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/b" --target consumer >/dev/null
"$tmp/b/consumer" "$src/weights/gelan-t-mmqa-shapes.bin"
