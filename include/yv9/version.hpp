// SPDX-License-Identifier: MIT
// yv9's version, written here and nowhere else: CMake's project(yv9 VERSION ...) reads the three
// numbers from this file, so the headers, the installed package (yv9ConfigVersion.cmake) and the
// tools agree. Semantic versioning; 0.x: the API may still change between minor versions.
#pragma once

#define YV9_VERSION_MAJOR 0
#define YV9_VERSION_MINOR 2
#define YV9_VERSION_PATCH 0
#define YV9_VERSION_STRING "0.2.0"
