// Test helpers: where the fixtures live, comparisons with declared tolerances.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace yv9test {

inline bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// The shared PyTorch fixtures: $YV9_FIXTURES, else the path configured at build time.
inline std::string fixtures_dir() {
  if (const char* e = std::getenv("YV9_FIXTURES")) return e;
  return YV9_DEFAULT_FIXTURES;
}
inline std::string shared_weights_dir() {
  if (const char* e = std::getenv("YV9_SHARED_WEIGHTS")) return e;
  return YV9_DEFAULT_SHARED_WEIGHTS;
}
inline std::string source_dir() { return YV9_SOURCE_DIR; }
inline std::string data_dir() { return std::string(YV9_SOURCE_DIR) + "/tests/data"; }

// True when the shared fixtures are present; otherwise prints a loud skip message once per call site.
inline bool have_fixtures() {
  if (exists(fixtures_dir() + "/README.md")) return true;
  MESSAGE("SKIPPED: shared fixtures not found at '" << fixtures_dir()
                                                   << "' (set YV9_FIXTURES to run the PyTorch parity checks)");
  return false;
}

}  // namespace yv9test
