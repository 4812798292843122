// SPDX-License-Identifier: MIT
// stb_image / stb_image_write, compiled into every translation unit that needs them.
//
// Both are header-only C libraries (Debian: libstb-dev, /usr/include/stb). To stay header-only
// ourselves we compile them with *_STATIC (internal linkage: no clash between our TUs, nothing
// to link) and restricted to what we use:
//   decode: JPEG, PNG, BMP from memory only (no stdio: we read files ourselves so we can
//           bound their size and parse EXIF). TGA is left out on purpose: it has no signature,
//           so stb would "decode" arbitrary garbage as a TGA instead of reporting it corrupt.
//   encode: PNG and JPEG through a write callback (we write the file atomically ourselves).
// Their warnings are silenced here only.
//
// Interplay with a program that uses stb itself: include yv9's vision headers *before* any
// stb_image.h of yours, or define YV9_STB_EXTERNAL to make yv9 use the stb declarations you
// compile and link (then you must enable JPEG/PNG/BMP and the *_to_func writers).
#pragma once

#if defined(__has_include)
#if __has_include(<stb_image.h>)
#define YV9_STB_IMAGE_HEADER <stb_image.h>
#define YV9_STB_IMAGE_WRITE_HEADER <stb_image_write.h>
#elif __has_include(<stb/stb_image.h>)
#define YV9_STB_IMAGE_HEADER <stb/stb_image.h>
#define YV9_STB_IMAGE_WRITE_HEADER <stb/stb_image_write.h>
#endif
#endif
#ifndef YV9_STB_IMAGE_HEADER
#define YV9_STB_IMAGE_HEADER <stb_image.h>
#define YV9_STB_IMAGE_WRITE_HEADER <stb_image_write.h>
#endif

#ifdef YV9_STB_EXTERNAL
#ifndef STBI_INCLUDE_STB_IMAGE_H  // (the implementation part of stb has no include guard)
#include YV9_STB_IMAGE_HEADER
#endif
#ifndef INCLUDE_STB_IMAGE_WRITE_H
#include YV9_STB_IMAGE_WRITE_HEADER
#endif
#elif !defined(YV9_DETAIL_STB_COMPILED)
#define YV9_DETAIL_STB_COMPILED
#if defined(STBI_INCLUDE_STB_IMAGE_H) || defined(INCLUDE_STB_IMAGE_WRITE_H)
#error "yv9/vision: stb_image(.h/_write.h) was included before yv9's vision headers; include yv9 first or define YV9_STB_EXTERNAL"
#endif

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif

// Shifts in stb (v2.27, Debian's): its bit readers and writers rely on two's-complement shifts
// that C++17 leaves undefined but every compiler and CPU we target computes as intended: the JPEG
// writer left-shifts a negative int bit buffer (well-defined since C++20; any noisy image reaches
// it), and on a corrupt scan the JPEG reader's bit count goes negative, so it shifts by 32 or more
// (x86 and AArch64 take the count modulo 32: garbage bits in a broken file's pixels, nothing
// read or written out of bounds). stb 2.28 reworked that reader; until Debian ships it, clang's
// UBSan skips the "shift" checks in stb's functions only (the fuzzers run under clang: see
// tests/data/hostile/README.md). GCC has no such scoped switch; there, -fsanitize=shift reports
// them — ASan still watches stb's memory accesses everywhere.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift"))), apply_to = function)
#endif

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
// stb's JPEG decoder trusts a scan to name Huffman tables that a DHT segment defined; when none
// did, it decodes with the tables' never-initialised (malloc'ed) memory, so the pixels depend on
// heap garbage and, for some garbage, its bit reader shifts by 32 (UBSan; found by
// tests/fuzz/fuzz_image.cpp, kept in tests/test_hostile_images.cpp). Zeroed allocations make
// such files decode deterministically; calloc of pixel buffers costs next to nothing.
#define STBI_MALLOC(sz) calloc(1, sz)
#define STBI_REALLOC(p, newsz) realloc(p, newsz)
#define STBI_FREE(p) free(p)
#include YV9_STB_IMAGE_HEADER

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include YV9_STB_IMAGE_WRITE_HEADER

#if defined(__clang__)
#pragma clang attribute pop
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
#endif
