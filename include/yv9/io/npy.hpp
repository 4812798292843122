// SPDX-License-Identifier: MIT
// NumPy .npy files (format versions 1.0, 2.0, 3.0):
//
//   "\x93NUMPY" major minor  u16 (v1) / u32 (v2, v3) header length  header  data
//   header = a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 64, 64), }
//
// The engine's inputs and outputs are float32 NCHW; read_npy_f32 refuses anything but
// little-endian float32 in C order. read_npy returns raw bytes for the few dtypes tests need.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "file.hpp"

namespace yv9::io {

struct NpyArray {
  std::string descr;  // e.g. "<f4", "|u1"
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // C order
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

namespace detail {

inline std::size_t npy_item_size(const std::string& descr) {
  if (descr == "<f4" || descr == "<i4" || descr == "<u4") return 4;
  if (descr == "<f8" || descr == "<i8" || descr == "<u8") return 8;
  if (descr == "|u1" || descr == "|i1" || descr == "|b1") return 1;
  if (descr == "<f2" || descr == "<i2" || descr == "<u2") return 2;
  return 0;
}

// Parses the header dict; accepts exactly the three keys numpy writes.
inline void parse_npy_header(const std::string& h, const std::string& label, NpyArray& out, bool& fortran) {
  auto fail = [&](const std::string& m) -> void { throw FormatError(label + ": bad .npy header: " + m); };
  auto find_value = [&](const std::string& key) -> std::size_t {
    std::size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) fail("missing '" + key + "'");
    std::size_t c = h.find(':', k);
    if (c == std::string::npos) fail("missing ':' after '" + key + "'");
    ++c;
    while (c < h.size() && h[c] == ' ') ++c;
    return c;
  };
  std::size_t p = find_value("descr");
  if (p >= h.size() || h[p] != '\'') fail("descr is not a string");
  std::size_t e = h.find('\'', p + 1);
  if (e == std::string::npos) fail("unterminated descr");
  out.descr = h.substr(p + 1, e - p - 1);
  p = find_value("fortran_order");
  if (h.compare(p, 4, "True") == 0)
    fortran = true;
  else if (h.compare(p, 5, "False") == 0)
    fortran = false;
  else
    fail("fortran_order is neither True nor False");
  p = find_value("shape");
  if (p >= h.size() || h[p] != '(') fail("shape is not a tuple");
  e = h.find(')', p);
  if (e == std::string::npos) fail("unterminated shape");
  std::string t = h.substr(p + 1, e - p - 1);
  out.shape.clear();
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && (t[i] == ' ' || t[i] == ',')) ++i;
    if (i >= t.size()) break;
    if (t[i] < '0' || t[i] > '9') fail("shape entry is not a non-negative integer");
    std::int64_t v = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      if (v > (std::int64_t(1) << 40)) fail("shape entry too large");
      v = v * 10 + (t[i++] - '0');
    }
    out.shape.push_back(v);
    if (out.shape.size() > 8) fail("more than 8 dimensions");
  }
}

}  // namespace detail

struct NpyLimits {
  std::uint64_t max_bytes = std::uint64_t(4) << 30;
};

inline NpyArray parse_npy(const std::uint8_t* data, std::size_t size, const std::string& label, NpyLimits lim = {}) {
  static const std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, magic, 6) != 0) throw FormatError(label + ": not a .npy file (bad magic)");
  const int major = data[6];
  std::size_t hlen, off;
  if (major == 1) {
    hlen = data[8] | (std::size_t(data[9]) << 8);
    off = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) throw FormatError(label + ": truncated .npy header");
    hlen = data[8] | (std::size_t(data[9]) << 8) | (std::size_t(data[10]) << 16) | (std::size_t(data[11]) << 24);
    off = 12;
  } else {
    throw FormatError(label + ": unsupported .npy version " + std::to_string(major));
  }
  if (hlen > 1u << 20 || off + hlen > size) throw FormatError(label + ": truncated .npy header");
  std::string header(reinterpret_cast<const char*>(data + off), hlen);
  NpyArray a;
  bool fortran = false;
  detail::parse_npy_header(header, label, a, fortran);
  if (fortran) throw FormatError(label + ": Fortran-order arrays are not supported (save a C-contiguous array)");
  const std::size_t item = detail::npy_item_size(a.descr);
  if (!item) throw FormatError(label + ": unsupported dtype '" + a.descr + "'");
  std::uint64_t n = 1;
  for (auto d : a.shape) {
    if (d != 0 && n > lim.max_bytes / static_cast<std::uint64_t>(d))
      throw LimitError(label + ": array larger than the limit of " + std::to_string(lim.max_bytes) + " bytes");
    n *= static_cast<std::uint64_t>(d);
  }
  if (n > lim.max_bytes / item) throw LimitError(label + ": array larger than the limit of " + std::to_string(lim.max_bytes) + " bytes");
  const std::uint64_t nbytes = n * item, body = size - off - hlen;
  if (body < nbytes)
    throw FormatError(label + ": truncated data (" + std::to_string(body) + " of " + std::to_string(nbytes) + " bytes)");
  if (body > nbytes) throw FormatError(label + ": " + std::to_string(body - nbytes) + " unexpected bytes after the data");
  a.bytes.assign(data + off + hlen, data + off + hlen + nbytes);
  return a;
}

inline NpyArray read_npy(const std::string& path, NpyLimits lim = {}) {
  std::vector<std::uint8_t> bytes = read_file_bytes(path, lim.max_bytes + (1u << 20), "a .npy file");
  return parse_npy(bytes.data(), bytes.size(), path, lim);
}

inline Tensor<float> npy_to_tensor_f32(const NpyArray& a, const std::string& label) {
  if (a.descr != "<f4") throw FormatError(label + ": expected little-endian float32 ('<f4'), got '" + a.descr + "'");
  if (a.shape.size() > 4) throw FormatError(label + ": rank " + std::to_string(a.shape.size()) + " > 4");
  Tensor<float> t(Shape::from_vector(a.shape));
  if (t.size()) std::memcpy(t.data(), a.bytes.data(), t.bytes());
  return t;
}

inline Tensor<float> read_npy_f32(const std::string& path, NpyLimits lim = {}) {
  return npy_to_tensor_f32(read_npy(path, lim), path);
}

inline std::vector<std::uint8_t> npy_bytes_f32(const Tensor<float>& t) {
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.dim(i));
  shape += t.rank() == 1 ? ",)" : ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<std::uint8_t>(header.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = reinterpret_cast<const std::uint8_t*>(t.data());
  out.insert(out.end(), p, p + t.bytes());
  return out;
}

}  // namespace yv9::io
