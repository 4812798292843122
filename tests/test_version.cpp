// SPDX-License-Identifier: MIT
// include/yv9/version.hpp is the one source of the version: CMake's project() reads it
// (YV9_CMAKE_VERSION is PROJECT_VERSION, passed by tests/CMakeLists.txt) and the string must spell
// the three numbers.
#include <yv9/version.hpp>

#include <string>

#include "support.hpp"

#define YV9_STR2(x) #x
#define YV9_STR(x) YV9_STR2(x)

TEST_CASE("version: the macros agree with each other and with CMake's project version") {
  CHECK(std::string(YV9_VERSION_STRING) == YV9_CMAKE_VERSION);
  CHECK(std::string(YV9_VERSION_STRING) ==
        YV9_STR(YV9_VERSION_MAJOR) "." YV9_STR(YV9_VERSION_MINOR) "." YV9_STR(YV9_VERSION_PATCH));
  static_assert(YV9_VERSION_MAJOR >= 0 && YV9_VERSION_MINOR >= 0 && YV9_VERSION_PATCH >= 0);
}
