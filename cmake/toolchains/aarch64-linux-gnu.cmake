# SPDX-License-Identifier: MIT
# Cross build for 64-bit ARM Linux with Debian's aarch64-linux-gnu-g++, tests run under qemu-user.
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DYV9_NATIVE=OFF
#   ctest --test-dir build-arm64 -LE heavy        (each test runs as `qemu-aarch64 -L <sysroot> test_x`)
#
# Eigen and doctest are header-only, so the host's copies serve the target too. Eigen's installed
# config exports /usr/include/eigen3, which is harmless; doctest's exports /usr/include itself, which
# would put the host's C library headers before the target's. host-doctest/ holds a replacement
# config that exposes only the doctest/ folder.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(YV9_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${YV9_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${YV9_CROSS_TRIPLE}-g++)
set(YV9_CROSS_SYSROOT /usr/${YV9_CROSS_TRIPLE} CACHE PATH "Target libraries for the linker and qemu -L")

set(CMAKE_FIND_ROOT_PATH ${YV9_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Header-only packages from the host (explicit *_DIR are used as given, not re-rooted).
set(Eigen3_DIR /usr/share/eigen3/cmake CACHE PATH "host Eigen3 config (header-only)")
set(doctest_DIR ${CMAKE_CURRENT_LIST_DIR}/host-doctest CACHE PATH "doctest headers without /usr/include")
# stb is header-only too; its folder holds nothing but stb's headers, so the host's is safe to use
# (find_path would search the target sysroot only).
set(STB_INCLUDE_DIR /usr/include/stb CACHE PATH "host stb headers (header-only)")

# add_test() commands naming a target are prefixed with this, so plain `ctest` runs them in qemu.
find_program(YV9_QEMU_AARCH64 qemu-aarch64)
if(YV9_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${YV9_QEMU_AARCH64};-L;${YV9_CROSS_SYSROOT})
endif()
