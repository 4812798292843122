// SPDX-License-Identifier: MIT
// Where a model's tensors come from, seen by the modules as typed read-only views.
//
//   WeightFileSource   the tensors of a loaded weight file, in place (no copy until a module
//                      converts them to its precision), plus the BatchNorm eps from its metadata
//   SyntheticSource    deterministic values of the right scale for benchmarking a config
//                      without a trained model (weights/synthetic.hpp)
//
// A Weight keeps the stored dtype (F16 stays F16): a module converts it once, straight to the
// precision it needs — float for a plain convolution, double where BatchNorm is folded in.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../io/weightfile.hpp"

namespace yv9::weights {

struct Weight {
  std::vector<std::int64_t> shape;
  io::DType dtype = io::DType::F32;
  const std::uint8_t* bytes = nullptr;  // numel() little-endian elements of dtype; null in spec mode
  std::shared_ptr<const std::vector<std::uint8_t>> owned;  // the bytes, when the source read or made them

  explicit operator bool() const { return bytes != nullptr; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;  // bounded by BinderLimits before any Weight exists
    return n;
  }
  // The values converted to U (float or double); F16/BF16 widen exactly. Empty in spec mode.
  template <class U>
  std::vector<U> to() const {
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, double>, "Weight::to<U>: U must be float or double");
    std::vector<U> out;
    if (!bytes) return out;
    const std::size_t n = static_cast<std::size_t>(numel()), es = io::dtype_size(dtype);
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = io::detail::convert_element<U>(dtype, bytes + i * es);
    return out;
  }

  // n zeros of `shape` as F32 (what a missing or mis-shaped tensor reads as until Binder::finish
  // reports it).
  static Weight zeros(const std::vector<std::int64_t>& shape) {
    Weight w;
    w.shape = shape;
    auto buf = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(w.numel()) * sizeof(float), 0);
    w.bytes = buf->data();
    w.owned = std::move(buf);
    return w;
  }
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool has(const std::string& name) const = 0;
  // The tensor `name` (has(name) is true). `expected` is the shape the module wants: a file
  // returns what it stores (the Binder compares), a generated source makes that shape.
  virtual Weight get(const std::string& name, const std::vector<std::int64_t>& expected) const = 0;
  // Every tensor the source holds (for the "unused" list); empty for generated sources.
  virtual std::vector<std::string> names() const = 0;
  // eps of the BatchNorm2d with state-dict prefix `bn` (no trailing dot).
  virtual double bn_eps(const std::string& bn) const = 0;
};

// BatchNorm eps as checkpoints record it: one value for the model, exceptions by module.
struct BnEps {
  double all = 1e-3;  // upstream's BatchNorm2d(eps=0.001)
  std::map<std::string, double> by_module;
  double of(const std::string& bn) const {
    auto it = by_module.find(bn);
    return it == by_module.end() ? all : it->second;
  }
};

class WeightFileSource : public WeightSource {
 public:
  explicit WeightFileSource(const io::WeightFile& wf, BnEps eps = {}) : wf_(wf), eps_(std::move(eps)) {}
  bool has(const std::string& name) const override { return wf_.find(name) != nullptr; }
  Weight get(const std::string& name, const std::vector<std::int64_t>&) const override {
    const io::TensorEntry& e = wf_.at(name);
    Weight w;
    w.shape = e.shape;
    w.dtype = e.dtype;
    io::TensorData d = wf_.data(e);  // read from disk now, freed with the last copy of w
    w.bytes = d.bytes;
    w.owned = std::move(d.owned);
    return w;
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> n;
    for (const auto& e : wf_.tensors()) n.push_back(e.name);
    return n;
  }
  double bn_eps(const std::string& bn) const override { return eps_.of(bn); }

 private:
  const io::WeightFile& wf_;
  BnEps eps_;
};

}  // namespace yv9::weights
