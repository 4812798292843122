// SPDX-License-Identifier: MIT
// Helpers shared by every test executable, all in namespace yv9test: where the test data lives,
// skips that ctest reports as skips, and .npy values read through the library's own reader
// (yv9::io::read_npy). Whole-model helpers are in model_support.hpp, the heap counter in
// alloc_tracker.hpp, the doctest main in main.cpp.
#pragma once
#include <doctest/doctest.h>
#include <yv9/io/npy.hpp>

#include <sys/stat.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace yv9test {

inline bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// The shared PyTorch fixtures: $YV9_FIXTURES, else the path configured at build time.
inline std::string fixtures_dir() {
  if (const char* e = std::getenv("YV9_FIXTURES"); e && *e) return e;
  return YV9_DEFAULT_FIXTURES;
}
inline std::string shared_weights_dir() {
  if (const char* e = std::getenv("YV9_SHARED_WEIGHTS"); e && *e) return e;
  return YV9_DEFAULT_SHARED_WEIGHTS;
}
inline std::string source_dir() { return YV9_SOURCE_DIR; }
inline std::string data_dir() { return std::string(YV9_SOURCE_DIR) + "/tests/data"; }

// Skips. A test case that needs data from outside the repository starts with
//   if (!yv9test::have_fixtures()) return;         // and is declared  * doctest::test_suite("fixtures")
//   if (!yv9test::have_shared_weights()) return;   // and is declared  * doctest::test_suite("shared_weights")
// tests/CMakeLists.txt runs each such suite as its own ctest entry (<exe>_fixtures, ...) with
// SKIP_RETURN_CODE 77, and main.cpp exits 77 when every test case it ran skipped: without the data
// ctest shows the entry as "Skipped" instead of counting an empty test as passed, while the
// executable's self-contained cases keep running under the plain <exe> entry.
namespace detail {
struct SkipLog {
  std::string suite;          // doctest suite of the running test case
  bool case_skipped = false;  // the running test case called skip()
  int cases_run = 0, cases_skipped = 0;
  std::vector<std::string> reasons;  // printed once each
};
inline SkipLog& skip_log() {
  static SkipLog log;
  return log;
}
}  // namespace detail

// Marks the running test case as skipped; prints the reason once per executable.
inline void skip(const std::string& reason) {
  detail::SkipLog& log = detail::skip_log();
  log.case_skipped = true;
  for (const std::string& r : log.reasons)
    if (r == reason) return;
  log.reasons.push_back(reason);
  std::fprintf(stderr, "SKIPPED: %s\n", reason.c_str());
}

// True when the folder `dir` holds its README.md; otherwise skips the running test case. The case
// must belong to `suite`, or ctest could not report the skip (it would hide among the passing cases
// of the plain entry).
inline bool have_data(const char* suite, const std::string& dir, const char* what, const char* env) {
  const bool in_suite = detail::skip_log().suite == suite;
  CHECK_MESSAGE(in_suite, "this test case reads " << std::string(what) << ": declare it with * doctest::test_suite(\""
                                                  << std::string(suite)
                                                  << "\") so that ctest can report it as skipped");
  if (exists(dir + "/README.md")) return in_suite;
  skip(std::string(what) + " not found at '" + dir + "' (no README.md there): set " + env +
       "=<folder> to run these checks");
  return false;
}

// The shared PyTorch fixtures made by upstream.
inline bool have_fixtures() { return have_data("fixtures", fixtures_dir(), "shared fixtures", "YV9_FIXTURES"); }
// The shared demo weights folder (gelan-t-mmqa-shapes.pt, samples/, expected/).
inline bool have_shared_weights() {
  return have_data("shared_weights", shared_weights_dir(), "shared weights", "YV9_SHARED_WEIGHTS");
}

// The .npy dtype string numpy writes for T.
template <class T>
constexpr const char* npy_descr() {
  if constexpr (std::is_same_v<T, float>)
    return "<f4";
  else if constexpr (std::is_same_v<T, double>)
    return "<f8";
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return "|u1";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "<i8";
  else
    static_assert(!sizeof(T), "no .npy dtype for this type");
}

// The elements of an array read by yv9::io::read_npy, in C order; its dtype must be T's.
template <class T>
std::vector<T> npy_values(const yv9::io::NpyArray& a) {
  REQUIRE_MESSAGE(a.descr == npy_descr<T>(), "expected a " << std::string(npy_descr<T>()) << " array, got " << a.descr);
  std::vector<T> out(static_cast<std::size_t>(a.numel()));
  REQUIRE(a.bytes.size() == out.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), a.bytes.size());
  return out;
}

}  // namespace yv9test
