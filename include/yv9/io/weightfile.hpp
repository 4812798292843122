// SPDX-License-Identifier: MIT
// The yv9 weight file (`.bin`, format version 1): reader and writer.
//
// A yv9 weight file is a safetensors file with our metadata (config yaml, class names, BatchNorm
// eps): u64 header length N, N bytes of JSON, then the tensors' raw little-endian bytes. The
// format, every metadata key and every check the reader makes are specified in one place,
// docs/weight-format.md.
//
// WeightFile::load reads the header and keeps the file open: each tensor's bytes are read when they
// are asked for (data()) and dropped by the caller after use, so loading a model never holds the
// file's bytes and the packed weights at once. WeightFile::parse validates a file already in memory.
// Every count, offset, size and name is validated before anything is trusted, and each failure is
// one FormatError naming the file and the item.
#pragma once
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "atomic_file.hpp"
#include "file.hpp"
#include "half.hpp"
#include "json.hpp"

namespace yv9::io {

inline constexpr const char* kWeightFormat = "yv9";
inline constexpr const char* kWeightFormatVersion = "1";
inline constexpr int kWeightMaxRank = 8;

enum class DType { F16, BF16, F32, F64, I8, U8, I16, I32, I64, BOOL };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
  }
  return 0;
}

inline bool is_floating(DType t) { return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64; }

// Inverse of dtype_name; false if the name is not one of ours.
inline bool dtype_from_name(const std::string& name, DType& out) {
  static constexpr DType all[] = {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8,
                                  DType::U8,  DType::I16,  DType::I32, DType::I64, DType::BOOL};
  for (DType t : all)
    if (name == dtype_name(t)) {
      out = t;
      return true;
    }
  return false;
}

// Byte size of a tensor, or false on a negative dimension or overflow past 2^63.
inline bool tensor_byte_size(const std::vector<std::int64_t>& shape, DType t, std::uint64_t& out) {
  std::uint64_t n = dtype_size(t);
  const std::uint64_t cap = static_cast<std::uint64_t>(INT64_MAX);
  for (std::int64_t d : shape) {
    if (d < 0) return false;
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > cap / u) return false;
    n *= u;
  }
  out = n;
  return true;
}

struct WeightFileLimits {
  std::uint64_t max_header_bytes = std::uint64_t(100) << 20;
  std::uint64_t max_file_bytes = std::uint64_t(8) << 30;
  int max_json_depth = 64;
};

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // relative to the data buffer
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;  // validated on load: no overflow
    return n;
  }
};

// A tensor's bytes: into the file's memory (parsed files) or a buffer of their own (owned; files
// read from disk), which the holder keeps alive as long as it reads `bytes`.
struct TensorData {
  const std::uint8_t* bytes = nullptr;
  std::shared_ptr<const std::vector<std::uint8_t>> owned;
};

class WeightFile {
 public:
  // Opens the file and validates its header and layout (reading the header only). Errors name the path.
  static WeightFile load(const std::string& path, const WeightFileLimits& limits = {});
  // Validates an in-memory file; label names it in errors (tests, fuzzers).
  static WeightFile parse(std::vector<std::uint8_t> bytes, const std::string& label,
                          const WeightFileLimits& limits = {});

  const std::map<std::string, std::string>& metadata() const { return meta_; }
  std::string meta(const std::string& key, const std::string& fallback = "") const {
    auto it = meta_.find(key);
    return it == meta_.end() ? fallback : it->second;
  }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }  // sorted by data offset
  const TensorEntry* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  // Like find, but a missing tensor is a WeightError naming the file and the tensor.
  const TensorEntry& at(const std::string& name) const {
    const TensorEntry* e = find(name);
    if (!e) throw WeightError(label_ + ": no tensor \"" + name + "\"");
    return *e;
  }
  // The tensor's stored bytes (e.end - e.begin of them, little-endian, C order).
  TensorData data(const TensorEntry& e) const {
    TensorData d;
    if (!file_) {
      d.bytes = bytes_.data() + data_start_ + e.begin;
      return d;
    }
    auto buf = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(e.end - e.begin));
    if (!buf->empty()) file_->read_at(data_start_ + e.begin, buf->size(), buf->data());
    d.bytes = buf->data();
    d.owned = std::move(buf);
    return d;
  }
  // Element values converted to T (float or double), C order. Integer and bool dtypes convert by
  // value; F16/BF16 widen exactly.
  template <class T>
  std::vector<T> values(const TensorEntry& e) const;

  const std::string& label() const { return label_; }
  // The whole file, for files made in memory (parse); a UsageError for files read from disk (load).
  const std::vector<std::uint8_t>& bytes() const {
    if (file_) throw UsageError(label_ + ": bytes() of a weight file read from disk (use data() per tensor)");
    return bytes_;
  }
  std::uint64_t data_size() const { return size_ - data_start_; }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(label_ + ": " + what); }
  // head: the file's first bytes (at least 8, and the whole header when it fits in the file).
  void parse_header(const std::uint8_t* head, std::uint64_t head_size, const WeightFileLimits& limits);
  void parse_metadata(const Json& m);
  TensorEntry parse_tensor(const std::string& name, const Json& j) const;
  void check_tiling();

  std::string label_;
  std::vector<std::uint8_t> bytes_;             // the whole file (parse), empty when read from disk
  std::shared_ptr<const ReadOnlyFile> file_;    // load: the open file
  std::uint64_t size_ = 0;                      // the file's size in bytes
  std::size_t data_start_ = 0;
  std::map<std::string, std::string> meta_;
  std::vector<TensorEntry> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

// ---------------------------------------------------------------------------------------------

namespace detail {

inline std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

inline std::string quoted(const std::string& s) { return json_quote(s); }

}  // namespace detail

inline WeightFile WeightFile::load(const std::string& path, const WeightFileLimits& limits) {
  WeightFile w;
  w.label_ = path;
  auto file = std::make_shared<const ReadOnlyFile>(path, limits.max_file_bytes, "a weight file");
  w.size_ = file->size();
  std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(w.size_, 8)));
  file->read_at(0, head.size(), head.data());
  if (head.size() == 8) {  // the header too, when its length is plausible (parse_header says why not)
    const std::uint64_t n = detail::read_u64_le(head.data());
    if (n <= limits.max_header_bytes && n <= w.size_ - 8) {
      head.resize(static_cast<std::size_t>(8 + n));
      file->read_at(8, n, head.data() + 8);
    }
  }
  w.parse_header(head.data(), head.size(), limits);
  w.check_tiling();
  w.file_ = std::move(file);
  return w;
}

inline WeightFile WeightFile::parse(std::vector<std::uint8_t> bytes, const std::string& label,
                                    const WeightFileLimits& limits) {
  WeightFile w;
  w.label_ = label;
  w.bytes_ = std::move(bytes);
  w.size_ = w.bytes_.size();
  if (w.bytes_.size() > limits.max_file_bytes)
    throw LimitError(label + ": file is " + std::to_string(w.bytes_.size()) + " bytes, over the limit of " +
                     std::to_string(limits.max_file_bytes));
  w.parse_header(w.bytes_.data(), w.bytes_.size(), limits);
  w.check_tiling();
  return w;
}

inline void WeightFile::parse_header(const std::uint8_t* head, std::uint64_t head_size, const WeightFileLimits& limits) {
  const std::uint64_t size = size_;
  if (size < 8 || head_size < 8) fail("file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  const std::uint64_t n = detail::read_u64_le(head);
  if (n < 2) fail("header length " + std::to_string(n) + " is too small (at least 2 bytes: \"{}\")");
  if (n > limits.max_header_bytes)
    throw LimitError(label_ + ": header length " + std::to_string(n) + " is over the limit of " +
                     std::to_string(limits.max_header_bytes) + " bytes");
  if (n > size - 8)
    fail("header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
         " bytes after the length field (truncated file?)");
  data_start_ = static_cast<std::size_t>(8 + n);
  if (head_size < 8 + n) fail("header is not in memory");  // load() reads it whenever it passes the checks above

  JsonLimits jl;
  jl.max_bytes = static_cast<std::size_t>(limits.max_header_bytes);
  jl.max_depth = limits.max_json_depth;
  const std::string_view text(reinterpret_cast<const char*>(head + 8), static_cast<std::size_t>(n));
  const Json root = parse_json(text, label_ + ": header", jl);
  if (!root.is_object()) fail(std::string("header is ") + Json::type_name(root.type()) + ", expected a JSON object");

  for (const Json::Member& m : root.items()) {
    if (m.first == "__metadata__") parse_metadata(m.second);
    else tensors_.push_back(parse_tensor(m.first, m.second));
  }
  if (meta_.count("format") && meta_["format"] == kWeightFormat && meta_.count("format_version") &&
      meta_["format_version"] != kWeightFormatVersion)
    fail("format_version " + detail::quoted(meta_["format_version"]) + " is not supported by this reader (version " +
         kWeightFormatVersion + ")");
}

inline void WeightFile::parse_metadata(const Json& m) {
  if (!m.is_object()) fail(std::string("__metadata__ is ") + Json::type_name(m.type()) + ", expected an object");
  for (const Json::Member& kv : m.items()) {
    if (!kv.second.is_string())
      fail("__metadata__ " + detail::quoted(kv.first) + ": value is " + Json::type_name(kv.second.type()) +
           ", expected a string");
    meta_[kv.first] = kv.second.as_string();
  }
}

inline TensorEntry WeightFile::parse_tensor(const std::string& name, const Json& j) const {
  const std::string item = "tensor " + detail::quoted(name);
  if (!j.is_object()) fail(item + ": entry is " + Json::type_name(j.type()) + ", expected an object");
  for (const Json::Member& f : j.items())
    if (f.first != "dtype" && f.first != "shape" && f.first != "data_offsets")
      fail(item + ": unknown field " + detail::quoted(f.first));
  const Json* dt = j.find("dtype");
  const Json* sh = j.find("shape");
  const Json* off = j.find("data_offsets");
  if (!dt || !sh || !off) fail(item + ": missing \"" + (!dt ? "dtype" : !sh ? "shape" : "data_offsets") + "\"");

  TensorEntry e;
  e.name = name;
  if (!dt->is_string() || !dtype_from_name(dt->as_string(), e.dtype))
    fail(item + ": unknown dtype " + dt->dump() + " (expected F16 BF16 F32 F64 I8 U8 I16 I32 I64 BOOL)");
  if (!sh->is_array()) fail(item + ": shape is " + Json::type_name(sh->type()) + ", expected an array");
  if (sh->size() > static_cast<std::size_t>(kWeightMaxRank))
    fail(item + ": rank " + std::to_string(sh->size()) + " is over the maximum of " + std::to_string(kWeightMaxRank));
  for (const Json& d : sh->as_array()) {
    if (!d.is_integer() || d.as_int() < 0) fail(item + ": shape " + sh->dump() + " is not a list of non-negative integers");
    e.shape.push_back(d.as_int());
  }
  if (!off->is_array() || off->size() != 2) fail(item + ": data_offsets " + off->dump() + " is not [begin, end]");
  const Json& jb = off->as_array()[0];
  const Json& je = off->as_array()[1];
  if (!jb.is_integer() || !je.is_integer() || jb.as_int() < 0 || je.as_int() < 0)
    fail(item + ": data_offsets " + off->dump() + " are not non-negative integers");
  e.begin = static_cast<std::uint64_t>(jb.as_int());
  e.end = static_cast<std::uint64_t>(je.as_int());

  const std::string offs = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  std::uint64_t nbytes = 0;
  if (!tensor_byte_size(e.shape, e.dtype, nbytes))
    fail(item + ": shape " + shape_str(e.shape) + " " + dtype_name(e.dtype) + " overflows 64-bit byte size");
  if (e.begin > e.end) fail(item + ": data_offsets " + offs + " have begin > end");
  if (e.end - e.begin != nbytes)
    fail(item + ": data_offsets " + offs + " do not match shape " + shape_str(e.shape) + " " + dtype_name(e.dtype) +
         " (" + std::to_string(nbytes) + " bytes)");
  const std::uint64_t data_size = size_ - data_start_;
  if (e.end > data_size)
    fail(item + ": data_offsets " + offs + " run past the end of the " + std::to_string(data_size) +
         "-byte data buffer (truncated file?)");
  return e;
}

inline void WeightFile::check_tiling() {
  // Zero-size tensors sort before others at the same offset; ties keep header order.
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expect = 0;
  const TensorEntry* prev = nullptr;
  for (const TensorEntry& e : tensors_) {
    const std::string item = "tensor " + detail::quoted(e.name);
    if (e.begin < expect)
      fail(item + ": data [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlaps tensor " +
           detail::quoted(prev->name) + " which ends at " + std::to_string(expect));
    if (e.begin > expect)
      fail(item + ": data starts at " + std::to_string(e.begin) + " but the previous data ends at " +
           std::to_string(expect) + " (a hole of " + std::to_string(e.begin - expect) + " bytes)");
    expect = e.end;
    prev = &e;
  }
  const std::uint64_t data_size = size_ - data_start_;
  if (expect != data_size)
    fail(std::to_string(data_size - expect) + " bytes after the last tensor's data (data buffer is " +
         std::to_string(data_size) + " bytes, tensors cover " + std::to_string(expect) + ")");
  index_.reserve(tensors_.size());
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

namespace detail {

template <class T, std::size_t N>
inline auto load_le(const std::uint8_t* p) {
  using U = std::conditional_t<N == 1, std::uint8_t,
            std::conditional_t<N == 2, std::uint16_t, std::conditional_t<N == 4, std::uint32_t, std::uint64_t>>>;
  U u = 0;
  for (std::size_t k = N; k-- > 0;) u = static_cast<U>((u << 8) | p[k]);
  T v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

template <class T>
inline T convert_element(DType t, const std::uint8_t* p) {
  switch (t) {
    case DType::F16: return static_cast<T>(half_to_float(load_le<std::uint16_t, 2>(p)));
    case DType::BF16: return static_cast<T>(bf16_to_float(load_le<std::uint16_t, 2>(p)));
    case DType::F32: return static_cast<T>(load_le<float, 4>(p));
    case DType::F64: return static_cast<T>(load_le<double, 8>(p));
    case DType::I8: return static_cast<T>(static_cast<std::int8_t>(p[0]));
    case DType::U8: return static_cast<T>(p[0]);
    case DType::I16: return static_cast<T>(load_le<std::int16_t, 2>(p));
    case DType::I32: return static_cast<T>(load_le<std::int32_t, 4>(p));
    case DType::I64: return static_cast<T>(load_le<std::int64_t, 8>(p));
    case DType::BOOL: return static_cast<T>(p[0] != 0 ? 1 : 0);
  }
  return T(0);
}

}  // namespace detail

template <class T>
std::vector<T> WeightFile::values(const TensorEntry& e) const {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "values<T>: T must be float or double");
  const std::size_t es = dtype_size(e.dtype);
  const std::size_t n = static_cast<std::size_t>((e.end - e.begin) / es);
  std::vector<T> out(n);
  const TensorData d = data(e);
  for (std::size_t i = 0; i < n; ++i) out[i] = detail::convert_element<T>(e.dtype, d.bytes + i * es);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

struct WriteTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // little-endian, C order
};

// Stores a floating tensor as `to` (F32, F16 or BF16): every element is read exactly and rounded
// once, to nearest even. Integer and bool tensors are left as they are. A finite value that the
// target cannot hold (an F16 weight above 65504) is a FormatError naming `label`, the tensor, the
// element and the value; nothing is changed then.
inline void narrow_tensor(WriteTensor& t, DType to, const std::string& label) {
  if (!is_floating(t.dtype) || t.dtype == to) return;
  if (to != DType::F32 && to != DType::F16 && to != DType::BF16)
    throw UsageError(label + ": tensors can be stored as F32, F16 or BF16, not " + dtype_name(to));
  const std::size_t es = dtype_size(t.dtype), n = t.bytes.size() / es, os = dtype_size(to);
  std::vector<std::uint8_t> out(n * os);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = detail::convert_element<double>(t.dtype, t.bytes.data() + i * es);
    std::uint32_t bits = 0;
    bool ok = true;
    if (to == DType::F32) {
      float f = 0;
      ok = double_to_float(x, f);
      std::memcpy(&bits, &f, 4);
    } else {
      std::uint16_t h = 0;
      ok = to == DType::F16 ? float_to_half(x, h) : float_to_bf16(x, h);
      bits = h;
    }
    if (!ok)
      throw FormatError(label + ": tensor " + detail::quoted(t.name) + " element " + std::to_string(i) + " = " +
                        json_number(x) + " is beyond the " + dtype_name(to) + " range (largest " +
                        (to == DType::F16 ? "65504" : to == DType::BF16 ? "3.3895e+38" : "3.4028e+38") + ")");
    for (std::size_t k = 0; k < os; ++k) out[i * os + k] = static_cast<std::uint8_t>(bits >> (8 * k));
  }
  t.bytes = std::move(out);
  t.dtype = to;
}

namespace detail {

inline void check_write_tensor(const std::string& path, const WriteTensor& t) {
  const std::string item = path + ": tensor " + quoted(t.name);
  if (t.name.empty() || t.name == "__metadata__") throw UsageError(item + ": invalid tensor name");
  if (t.shape.size() > static_cast<std::size_t>(kWeightMaxRank))
    throw UsageError(item + ": rank " + std::to_string(t.shape.size()) + " is over " + std::to_string(kWeightMaxRank));
  std::uint64_t nbytes = 0;
  if (!tensor_byte_size(t.shape, t.dtype, nbytes) || nbytes != t.bytes.size())
    throw UsageError(item + ": " + std::to_string(t.bytes.size()) + " bytes do not match shape " + shape_str(t.shape) +
                     " " + dtype_name(t.dtype));
}

// The padded header (length field + JSON) for tensors laid out back to back in the given order.
inline std::string weight_header(const std::string& path, const std::vector<WriteTensor>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  Json meta = Json::object();
  std::map<std::string, std::string> m = metadata;
  m.emplace("format", kWeightFormat);
  m.emplace("format_version", kWeightFormatVersion);
  for (const auto& kv : m) meta.set(kv.first, kv.second);
  Json root = Json::object();
  root.items().emplace_back("__metadata__", std::move(meta));
  std::unordered_map<std::string, int> seen;
  std::uint64_t offset = 0;
  for (const WriteTensor& t : tensors) {
    check_write_tensor(path, t);
    if (!seen.emplace(t.name, 0).second) throw UsageError(path + ": duplicate tensor name " + quoted(t.name));
    Json shape = Json::array();
    for (std::int64_t d : t.shape) shape.push_back(d);
    Json offs = Json::array();
    offs.push_back(offset).push_back(offset + t.bytes.size());
    offset += t.bytes.size();
    Json e = Json::object();
    e.set("dtype", dtype_name(t.dtype)).set("shape", std::move(shape)).set("data_offsets", std::move(offs));
    root.items().emplace_back(t.name, std::move(e));
  }
  std::string json = root.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // 8 + N is a multiple of 8
  std::string out(8, '\0');
  std::uint64_t n = json.size();
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>((n >> (8 * k)) & 0xFF);
  return out + json;
}

}  // namespace detail

// Writes a weight file atomically (PATH.tmp.<pid>, fsync, rename; the temp file is removed on any
// failure). Tensors are laid out in the given order; "format"/"format_version" are added to the
// metadata unless given.
// The same file as bytes in memory (pt2bin loads them before writing them).
inline std::vector<std::uint8_t> weight_file_bytes(const std::string& path, const std::vector<WriteTensor>& tensors,
                                                   const std::map<std::string, std::string>& metadata) {
  const std::string header = detail::weight_header(path, tensors, metadata);
  std::size_t total = header.size();
  for (const WriteTensor& t : tensors) total += t.bytes.size();
  std::vector<std::uint8_t> out(total);
  std::memcpy(out.data(), header.data(), header.size());
  std::size_t at = header.size();
  for (const WriteTensor& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(out.data() + at, t.bytes.data(), t.bytes.size());
    at += t.bytes.size();
  }
  return out;
}

inline void write_weight_file(const std::string& path, const std::vector<WriteTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  const std::string header = detail::weight_header(path, tensors, metadata);
  AtomicFileWriter w(path);
  w.write(header);
  for (const WriteTensor& t : tensors) w.write(t.bytes.data(), t.bytes.size());
  w.commit();
}

}  // namespace yv9::io
