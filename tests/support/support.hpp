// Helpers shared by every test executable, all in namespace yv9test: where the test data lives and
// .npy values read through the library's own reader (yv9::io::read_npy). Whole-model helpers are
// in model_support.hpp; the heap counter in alloc_tracker.hpp.
#pragma once
#include <doctest/doctest.h>
#include <yv9/io/npy.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
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

// True when the shared fixtures are present; otherwise prints a loud skip message once per call site.
inline bool have_fixtures() {
  if (exists(fixtures_dir() + "/README.md")) return true;
  MESSAGE("SKIPPED: shared fixtures not found at '" << fixtures_dir()
                                                   << "' (set YV9_FIXTURES to run the PyTorch parity checks)");
  return false;
}

// The .npy dtype string numpy writes for T.
template <class T>
constexpr const char* npy_descr() {
  if constexpr (std::is_same_v<T, float>) return "<f4";
  else if constexpr (std::is_same_v<T, double>) return "<f8";
  else if constexpr (std::is_same_v<T, std::uint8_t>) return "|u1";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
  else static_assert(!sizeof(T), "no .npy dtype for this type");
}

// The elements of an array read by yv9::io::read_npy, in C order; its dtype must be T's.
template <class T>
std::vector<T> npy_values(const yv9::io::NpyArray& a) {
  REQUIRE_MESSAGE(a.descr == npy_descr<T>(), "expected a " << npy_descr<T>() << " array, got " << a.descr);
  std::vector<T> out(static_cast<std::size_t>(a.numel()));
  REQUIRE(a.bytes.size() == out.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), a.bytes.size());
  return out;
}

}  // namespace yv9test
