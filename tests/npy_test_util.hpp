// Minimal .npy reader for tests only (the library's own reader lives in io/; this one exists so
// the vision tests do not depend on it). Supports format versions 1-3, C order, little-endian
// u1 / i4 / i8 / f4 / f8 — enough for the shared fixtures. Anything else throws.
//
// File layout: "\x93NUMPY" major minor, header length (u16 for v1, u32 for v2/3), then a Python
// dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (1, 84, 5880), }, then
// the raw data.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace yv9_test {

struct NpyArray {
  std::string descr;                // e.g. "<f4", "|u1"
  std::vector<std::int64_t> shape;  // C order
  std::vector<std::uint8_t> bytes;  // raw little-endian data

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
  template <class T>
  std::vector<T> as() const {
    if (bytes.size() != static_cast<std::size_t>(numel()) * sizeof(T))
      throw std::runtime_error("npy: element size mismatch for descr " + descr);
    std::vector<T> out(static_cast<std::size_t>(numel()));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
};

inline std::size_t npy_item_size(const std::string& descr) {
  if (descr == "|u1" || descr == "<u1" || descr == "|b1") return 1;
  if (descr == "<f4" || descr == "<i4" || descr == "<u4") return 4;
  if (descr == "<f8" || descr == "<i8" || descr == "<u8") return 8;
  throw std::runtime_error("npy: unsupported dtype " + descr);
}

inline std::string npy_dict_value(const std::string& header, const std::string& key) {
  const std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error("npy: header lacks " + key);
  std::size_t p = header.find(':', k);
  if (p == std::string::npos) throw std::runtime_error("npy: malformed header");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) throw std::runtime_error("npy: malformed header");
  if (header[p] == '\'') {
    const std::size_t e = header.find('\'', p + 1);
    if (e == std::string::npos) throw std::runtime_error("npy: malformed header");
    return header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    const std::size_t e = header.find(')', p);
    if (e == std::string::npos) throw std::runtime_error("npy: malformed header");
    return header.substr(p + 1, e - p - 1);
  }
  std::size_t e = p;
  while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
  return header.substr(p, e - p);
}

inline NpyArray load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("npy: cannot open " + path);
  std::vector<std::uint8_t> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (all.size() < 10 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0)
    throw std::runtime_error("npy: bad magic in " + path);
  const int major = all[6];
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = all[8] | (std::size_t(all[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (all.size() < 12) throw std::runtime_error("npy: truncated " + path);
    header_len = all[8] | (std::size_t(all[9]) << 8) | (std::size_t(all[10]) << 16) | (std::size_t(all[11]) << 24);
    offset = 12;
  } else {
    throw std::runtime_error("npy: unsupported version in " + path);
  }
  if (header_len > all.size() - offset) throw std::runtime_error("npy: truncated header in " + path);
  const std::string header(reinterpret_cast<const char*>(all.data() + offset), header_len);
  NpyArray a;
  a.descr = npy_dict_value(header, "descr");
  if (npy_dict_value(header, "fortran_order").find("False") == std::string::npos)
    throw std::runtime_error("npy: fortran order not supported: " + path);
  const std::string shape = npy_dict_value(header, "shape");
  std::size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    char* end = nullptr;
    const long long v = std::strtoll(shape.c_str() + p, &end, 10);
    if (end == shape.c_str() + p || v < 0) throw std::runtime_error("npy: bad shape in " + path);
    a.shape.push_back(v);
    p = static_cast<std::size_t>(end - shape.c_str());
  }
  const std::size_t need = static_cast<std::size_t>(a.numel()) * npy_item_size(a.descr);
  const std::size_t data_at = offset + header_len;
  if (all.size() - data_at != need) throw std::runtime_error("npy: data size mismatch in " + path);
  a.bytes.assign(all.begin() + static_cast<std::ptrdiff_t>(data_at), all.end());
  return a;
}

// Shared fixtures folder: env YV9_FIXTURES, else the CMake default. Empty if it does not exist.
inline std::string fixtures_dir() {
  const char* env = std::getenv("YV9_FIXTURES");
#ifdef YV9_DEFAULT_FIXTURES
  std::string dir = env && *env ? env : YV9_DEFAULT_FIXTURES;
#else
  std::string dir = env && *env ? env : "";
#endif
  return dir;
}

}  // namespace yv9_test
