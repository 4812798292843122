// SPDX-License-Identifier: MIT
// torch.save archives (PyTorch >= 1.6 zip format): open, recognise tensors, copy them out.
//
//   <prefix>/data.pkl          pickle of the saved object (tensors as persistent ids, see below)
//   <prefix>/data/<key>        raw little-endian bytes of storage <key>
//   <prefix>/byteorder         optional, "little" (torch >= 2.1); "big" is refused
//   <prefix>/version, ...      ignored
// <prefix> is the file's basename at save time ("archive" for buffers) — never assumed.
//
// A tensor in data.pkl (all inert Objects, see pickle.hpp):
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
//   torch._utils._rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
//   torch._utils._rebuild_tensor(storage, offset, size, stride)               (old torch)
//   torch._utils._rebuild_parameter(tensor, requires_grad, hooks[, state])    (nn.Parameter, also _with_state)
//   torch._tensor._rebuild_from_type_v2(rebuild_fn, type, args, state)        (tensor subclasses)
// storage = persistent id ('storage', torch.<Half|Float|BFloat16|Double|Long|Int|...>Storage or
// torch.UntypedStorage, key, location, numel). numel counts storage elements (bytes when untyped);
// offset and strides count tensor elements. Several tensors may share one storage, and views may
// be non-contiguous: read_tensor() copies exactly the viewed elements into C order.
//
// Everything read from the file is checked before use: entry sizes against the archive, storage
// extents against the entry, view extents against the storage, output sizes against limits.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "file.hpp"
#include "pickle.hpp"
#include "weightfile.hpp"
#include "zip.hpp"

namespace yv9::io {

struct PtLimits {
  std::uint64_t max_file_bytes = std::uint64_t(16) << 30;
  std::uint64_t max_tensor_bytes = std::uint64_t(4) << 30;   // one tensor, in C order
  // All tensors taken from a checkpoint; 0 = 4 x the file size + 64 MiB. Views and shared storages
  // let a file describe far more tensor bytes than it holds; real checkpoints stay below the file size.
  std::uint64_t max_total_bytes = 0;
  std::size_t max_tensors = std::size_t(1) << 20;
  std::size_t max_modules = std::size_t(1) << 20;            // module visits when walking a model
  int max_depth = 64;                                        // module nesting, yaml nesting
  ZipLimits zip;
  PickleLimits pickle;
};

// A tensor as the pickle describes it (not yet read).
struct TensorRef {
  DType dtype = DType::F32;
  std::string storage_key;
  std::uint64_t storage_bytes = 0;  // from the persistent id
  std::int64_t offset = 0;          // in elements
  std::vector<std::int64_t> shape, stride;
};

namespace detail {

inline bool storage_dtype(const std::string& name, DType& out, bool& untyped) {
  static const struct { const char* name; DType t; } table[] = {
      {"HalfStorage", DType::F16}, {"BFloat16Storage", DType::BF16}, {"FloatStorage", DType::F32},
      {"DoubleStorage", DType::F64}, {"CharStorage", DType::I8},     {"ByteStorage", DType::U8},
      {"ShortStorage", DType::I16},  {"IntStorage", DType::I32},     {"LongStorage", DType::I64},
      {"BoolStorage", DType::BOOL},  {"UntypedStorage", DType::U8},
  };
  for (const auto& e : table)
    if (name == e.name) {
      out = e.t;
      untyped = name == "UntypedStorage";
      return true;
    }
  return false;
}

inline bool torch_dtype(const std::string& name, DType& out) {
  static const struct { const char* name; DType t; } table[] = {
      {"float16", DType::F16}, {"half", DType::F16},   {"bfloat16", DType::BF16}, {"float32", DType::F32},
      {"float", DType::F32},   {"float64", DType::F64}, {"double", DType::F64},   {"int8", DType::I8},
      {"uint8", DType::U8},    {"int16", DType::I16},  {"short", DType::I16},     {"int32", DType::I32},
      {"int", DType::I32},     {"int64", DType::I64},  {"long", DType::I64},      {"bool", DType::BOOL},
  };
  for (const auto& e : table)
    if (name == e.name) {
      out = e.t;
      return true;
    }
  return false;
}

// a*b+c on non-negative values, false on overflow past int64.
inline bool mul_add_ok(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t& out) {
  if (a < 0 || b < 0 || c < 0) return false;
  if (b != 0 && a > (INT64_MAX - c) / b) return false;
  out = a * b + c;
  return true;
}

inline bool starts_with(const std::vector<std::uint8_t>& b, const char* s) {
  const std::size_t n = std::strlen(s);
  return b.size() >= n && std::memcmp(b.data(), s, n) == 0;
}

// Why the bytes are not a torch.save zip archive, or "" if they start like one.
inline std::string sniff_non_zip(const std::vector<std::uint8_t>& b) {
  static const std::uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (starts_with(b, "PK\x03\x04")) return "";
  if (b.empty()) return "the file is empty";
  if (starts_with(b, "PK\x05\x06")) return "empty ZIP archive (no data.pkl): not a torch.save checkpoint";
  if (b.size() >= sizeof legacy_magic && std::memcmp(b.data(), legacy_magic, sizeof legacy_magic) == 0)
    return "legacy (pre-1.6) PyTorch serialization is not supported; re-save it with torch>=1.6: "
           "torch.save(torch.load(f), f)";
  if (starts_with(b, "version https://git-lfs"))
    return "this is a git-lfs pointer file, not the checkpoint; fetch the real file with `git lfs pull`";
  if (starts_with(b, "PYTORCH1")) return "old TorchScript (PYTORCH1) archive; pt2bin needs a torch.save checkpoint";
  std::size_t i = 0;
  while (i < b.size() && i < 64 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n' || b[i] == 0xEF ||
                                    b[i] == 0xBB || b[i] == 0xBF))
    ++i;
  if (i < b.size() && b[i] == '<')
    return "this is an HTML/XML page (a failed download?), not a PyTorch checkpoint";
  if (b.size() > 262 && std::memcmp(b.data() + 257, "ustar", 5) == 0)
    return "tar-format PyTorch file (torch < 0.4) is not supported; re-save it with torch>=1.6";
  if (b[0] == 0x80) return "a raw pickle, not a torch.save zip archive (legacy or plain pickle.dump file?)";
  char sig[32];
  std::snprintf(sig, sizeof sig, "%02x %02x %02x %02x", b[0], b.size() > 1 ? b[1] : 0, b.size() > 2 ? b[2] : 0,
                b.size() > 3 ? b[3] : 0);
  return std::string("not a PyTorch checkpoint (starts with bytes ") + sig + ", expected a ZIP archive \"PK\")";
}

}  // namespace detail

class TorchArchive {
 public:
  // Reads the whole file (size checked against the limit first) and opens it.
  static TorchArchive open(const std::string& path, const PtLimits& limits = {}) {
    return TorchArchive(read_file_bytes(path, limits.max_file_bytes, "a checkpoint file"), path, limits);
  }

  TorchArchive(std::vector<std::uint8_t> bytes, std::string label, const PtLimits& limits = {})
      : bytes_(std::make_unique<std::vector<std::uint8_t>>(std::move(bytes))), label_(std::move(label)), lim_(limits) {
    const std::string why = detail::sniff_non_zip(*bytes_);
    if (!why.empty()) fail(why);
    zip_ = std::make_unique<ZipArchive>(bytes_->data(), bytes_->size(), label_, lim_.zip);
    find_prefix();
    check_byteorder();
    const ZipEntry* pkl = zip_->find(prefix_ + "/data.pkl");
    const std::string_view p = zip_->data(*pkl);
    pickle_ = unpickle(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), label_ + ": " + pkl->name, lim_.pickle);
  }

  const std::string& label() const { return label_; }
  const std::string& prefix() const { return prefix_; }
  const PyObject* root() const { return pickle_->root; }
  const PtLimits& limits() const { return lim_; }
  std::uint64_t total_bytes_limit() const {
    return lim_.max_total_bytes ? lim_.max_total_bytes : 4 * static_cast<std::uint64_t>(bytes_->size()) + (64u << 20);
  }

  // True if v is a pickled tensor or parameter (possibly of a kind read_tensor refuses).
  static bool is_tensor(const PyObject* v) {
    if (!v || v->kind != PyKind::Object || !v->cls || v->cls->kind != PyKind::Global) return false;
    return (v->cls->text == "torch._utils" && v->cls->name.rfind("_rebuild_", 0) == 0) ||
           v->cls->is_global("torch._tensor", "_rebuild_from_type_v2");
  }

  // Decodes a tensor's description; what names it in errors (e.g. the state-dict key).
  TensorRef tensor_ref(const PyObject* v, const std::string& what, int depth = 0) const {
    if (depth > 8) fail(what + ": tensor wrappers nested too deeply (cyclic pickle?)");
    if (!is_tensor(v)) fail(what + ": expected a tensor, found " + (v ? v->describe() : "nothing"));
    const std::string& fn = v->cls->name;
    const PyObject* args = v->args;
    if (!args || args->kind != PyKind::Tuple) fail(what + ": " + v->cls->class_name() + " without an argument tuple");
    const auto& a = args->items;
    if (fn == "_rebuild_parameter" || fn == "_rebuild_parameter_with_state") {
      if (a.empty()) fail(what + ": " + fn + " without a tensor");
      return tensor_ref(a[0], what, depth + 1);
    }
    if (fn == "_rebuild_from_type_v2") {  // (func, new_type, args, state): apply func to args
      if (a.size() < 3 || !a[0] || a[0]->kind != PyKind::Global || a[2]->kind != PyKind::Tuple)
        fail(what + ": malformed _rebuild_from_type_v2");
      return rebuild(*a[0], a[2]->items, what);
    }
    return rebuild(*v->cls, a, what);
  }

  // The tensor's elements in C order as a WriteTensor called name; budget caps its size in bytes
  // (on top of the per-tensor limit) and is checked before anything is allocated.
  WriteTensor read_tensor(const PyObject* v, const std::string& name, std::uint64_t budget = UINT64_MAX) const {
    const TensorRef t = tensor_ref(v, "tensor \"" + name + "\"");
    return copy_tensor(t, name, budget);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(label_ + ": " + what); }

  void find_prefix() {
    std::string found;
    for (const ZipEntry& e : zip_->entries()) {
      const std::size_t slash = e.name.find('/');
      if (slash == std::string::npos || slash == 0) continue;
      const std::string rest = e.name.substr(slash + 1);
      if (rest == "constants.pkl" || rest.rfind("code/", 0) == 0)
        fail("this is a TorchScript archive (torch.jit.save: " + e.name +
             "); pt2bin needs a torch.save checkpoint of the model or its state_dict");
      if (rest == "data.pkl" && found.empty()) found = e.name.substr(0, slash);
    }
    if (found.empty()) fail("ZIP archive without <name>/data.pkl: not a torch.save checkpoint");
    prefix_ = found;
  }

  void check_byteorder() const {
    const ZipEntry* e = zip_->find(prefix_ + "/byteorder");
    if (!e) return;
    const std::string_view v = zip_->data(*e);
    if (v == "big") fail("big-endian archives (byteorder \"big\") are not supported");
    if (v != "little") fail("unknown byteorder record \"" + std::string(v.substr(0, 16)) + "\"");
  }

  static bool int_list(const PyObject* v, std::vector<std::int64_t>& out) {
    if (!v || (v->kind != PyKind::Tuple && v->kind != PyKind::List)) return false;
    out.clear();
    for (const PyObject* x : v->items) {
      if (x->kind != PyKind::Int) return false;
      out.push_back(x->integer);
    }
    return true;
  }

  // fn = the _rebuild_* global, a = its arguments.
  TensorRef rebuild(const PyObject& fn, const std::vector<PyObject*>& a, const std::string& what) const {
    const bool v1 = fn.is_global("torch._utils", "_rebuild_tensor");
    const bool v2 = fn.is_global("torch._utils", "_rebuild_tensor_v2");
    const bool v3 = fn.is_global("torch._utils", "_rebuild_tensor_v3");
    if (!v1 && !v2 && !v3)
      fail(what + ": " + fn.class_name() + " is not supported (quantized, sparse, meta or other special tensor)");
    const std::size_t min_args = v1 ? 4 : v2 ? 6 : 7;
    if (a.size() < min_args || a.size() > min_args + 1)
      fail(what + ": " + fn.name + " with " + std::to_string(a.size()) + " arguments");
    TensorRef t;
    bool untyped = false;
    storage_from_pid(a[0], t, untyped, what);
    if (a[1]->kind != PyKind::Int || a[1]->integer < 0) fail(what + ": storage offset is " + a[1]->describe());
    t.offset = a[1]->integer;
    if (!int_list(a[2], t.shape) || !int_list(a[3], t.stride) || t.shape.size() != t.stride.size())
      fail(what + ": size/stride are not two integer tuples of the same length");
    if (v3) {
      if (a[6]->kind != PyKind::Global || a[6]->text != "torch" || !detail::torch_dtype(a[6]->name, t.dtype))
        fail(what + ": unsupported dtype " + a[6]->describe());
    } else if (untyped && v2) {
      t.dtype = DType::U8;  // an untyped storage rebuilt without a dtype holds bytes
    }
    return t;
  }

  void storage_from_pid(const PyObject* s, TensorRef& t, bool& untyped, const std::string& what) const {
    if (s->kind != PyKind::PersId) fail(what + ": storage is " + s->describe() + ", not a persistent id");
    const PyObject* pid = s->items[0];
    if (pid->kind != PyKind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != PyKind::Str ||
        pid->items[0]->text != "storage")
      fail(what + ": persistent id is not ('storage', type, key, location, numel)");
    const PyObject* type = pid->items[1];
    const PyObject* key = pid->items[2];
    const PyObject* numel = pid->items[4];
    if (type->kind != PyKind::Global || !detail::storage_dtype(type->name, t.dtype, untyped))
      fail(what + ": storage type " + type->describe() + " is not supported");
    if (key->kind != PyKind::Str || numel->kind != PyKind::Int || numel->integer < 0)
      fail(what + ": malformed storage key/numel in the persistent id");
    std::int64_t bytes = 0;
    if (!detail::mul_add_ok(numel->integer, static_cast<std::int64_t>(dtype_size(t.dtype)), 0, bytes))
      fail(what + ": storage of " + std::to_string(numel->integer) + " elements overflows");
    t.storage_key = key->text;
    t.storage_bytes = static_cast<std::uint64_t>(bytes);
  }

  // The storage's bytes, checked against its archive entry.
  std::string_view storage_bytes(const TensorRef& t, const std::string& what) const {
    const std::string entry = prefix_ + "/data/" + t.storage_key;
    const ZipEntry* e = zip_->find(entry);
    if (!e) fail(what + ": storage record \"" + entry + "\" is missing from the archive");
    if (e->size < t.storage_bytes)
      fail(what + ": storage record \"" + entry + "\" has " + std::to_string(e->size) + " bytes, the pickle says " +
           std::to_string(t.storage_bytes));
    return zip_->data(*e).substr(0, static_cast<std::size_t>(t.storage_bytes));
  }

  // Element count and the highest element index the view touches (-1 if empty), overflow-checked.
  void view_extent(const TensorRef& t, const std::string& what, std::int64_t& numel, std::int64_t& last) const {
    numel = 1;
    last = t.offset;
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0 || t.stride[d] < 0)
        fail(what + ": negative size or stride in " + shape_str(t.shape) + " / " + shape_str(t.stride));
      if (!detail::mul_add_ok(numel, t.shape[d], 0, numel)) fail(what + ": shape " + shape_str(t.shape) + " overflows");
      if (t.shape[d] > 0 && !detail::mul_add_ok(t.shape[d] - 1, t.stride[d], last, last))
        fail(what + ": view extent overflows");
    }
    if (numel == 0) last = -1;
  }

  WriteTensor copy_tensor(const TensorRef& t, const std::string& name, std::uint64_t budget) const {
    const std::string what = "tensor \"" + name + "\"";
    if (t.shape.size() > static_cast<std::size_t>(kWeightMaxRank))
      fail(what + ": rank " + std::to_string(t.shape.size()) + " is over the maximum of " + std::to_string(kWeightMaxRank));
    std::int64_t numel = 0, last = 0;
    view_extent(t, what, numel, last);
    const std::size_t es = dtype_size(t.dtype);
    std::int64_t out_bytes = 0;
    if (!detail::mul_add_ok(numel, static_cast<std::int64_t>(es), 0, out_bytes) ||
        static_cast<std::uint64_t>(out_bytes) > lim_.max_tensor_bytes)
      throw LimitError(label_ + ": " + what + ": " + shape_str(t.shape) + " " + dtype_name(t.dtype) +
                       " is over the per-tensor limit of " + std::to_string(lim_.max_tensor_bytes) + " bytes");
    if (static_cast<std::uint64_t>(out_bytes) > budget)
      throw LimitError(label_ + ": " + what + ": " + std::to_string(out_bytes) +
                       " bytes would take the tensors over the total of " + std::to_string(total_bytes_limit()) +
                       " bytes allowed for this file");
    const std::string_view src = storage_bytes(t, what);
    const std::uint64_t storage_elems = t.storage_bytes / es;
    if (last >= 0 && static_cast<std::uint64_t>(last) >= storage_elems)
      fail(what + ": view (offset " + std::to_string(t.offset) + ", shape " + shape_str(t.shape) + ", stride " +
           shape_str(t.stride) + ") reaches element " + std::to_string(last) + " of a " + std::to_string(storage_elems) +
           "-element storage");
    WriteTensor out{name, t.dtype, t.shape, std::vector<std::uint8_t>(static_cast<std::size_t>(out_bytes))};
    if (numel > 0) gather(t, reinterpret_cast<const std::uint8_t*>(src.data()), es, out.bytes.data());
    return out;
  }

  // Copies the strided view into dst in C order; one memcpy when the view is already contiguous.
  static void gather(const TensorRef& t, const std::uint8_t* storage, std::size_t es, std::uint8_t* dst) {
    const std::size_t rank = t.shape.size();
    bool contiguous = true;
    std::int64_t expect = 1;
    for (std::size_t d = rank; d-- > 0;) {
      if (t.shape[d] != 1 && t.stride[d] != expect) contiguous = false;
      expect *= t.shape[d];
    }
    const std::uint8_t* base = storage + static_cast<std::size_t>(t.offset) * es;
    if (contiguous) {
      std::memcpy(dst, base, static_cast<std::size_t>(expect) * es);
      return;
    }
    std::vector<std::int64_t> idx(rank, 0);
    const std::int64_t inner = t.shape[rank - 1], inner_stride = t.stride[rank - 1];
    for (;;) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d + 1 < rank; ++d) off += idx[d] * t.stride[d];
      for (std::int64_t i = 0; i < inner; ++i) {
        std::memcpy(dst, base + static_cast<std::size_t>(off + i * inner_stride) * es, es);
        dst += es;
      }
      std::size_t d = rank - 1;  // odometer over the outer dimensions
      while (d > 0) {
        --d;
        if (++idx[d] < t.shape[d]) break;
        idx[d] = 0;
        if (d == 0) return;
      }
      if (rank == 1) return;
    }
  }

  std::unique_ptr<std::vector<std::uint8_t>> bytes_;  // stable address for zip_ and the views into it
  std::string label_;
  PtLimits lim_;
  std::unique_ptr<ZipArchive> zip_;
  std::string prefix_;
  std::unique_ptr<Pickle> pickle_;
};

}  // namespace yv9::io
