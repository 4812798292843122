// Binding weights by PyTorch name. Module constructors ask the Binder for each tensor they own
// ("model.3.cv1.conv.weight", expected shape); the Binder counts parameters for the summary,
// records every missing or mis-shaped tensor instead of stopping at the first, and at the end
// reports those plus every tensor of the file that nobody asked for — all in one WeightError.
//
// Without a source (spec mode) it only counts: the builder then yields the layer table of
// `detect --summary` without any weights.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace yv9::model {

// Where tensors come from: the weight file in production, an in-memory map in tests.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::vector<std::string> names() const = 0;
  // nullptr when absent.
  virtual const std::vector<std::int64_t>* shape_of(const std::string& name) const = 0;
  virtual std::vector<double> values(const std::string& name) const = 0;
};

// A WeightSource over an in-memory map (tests, synthetic models).
class MapSource : public WeightSource {
 public:
  struct Entry {
    std::vector<std::int64_t> shape;
    std::vector<double> values;
  };
  std::map<std::string, Entry> entries;

  std::vector<std::string> names() const override {
    std::vector<std::string> n;
    for (const auto& kv : entries) n.push_back(kv.first);
    return n;
  }
  const std::vector<std::int64_t>* shape_of(const std::string& name) const override {
    auto it = entries.find(name);
    return it == entries.end() ? nullptr : &it->second.shape;
  }
  std::vector<double> values(const std::string& name) const override { return entries.at(name).values; }
};

inline std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// What a model may ask the Binder for, checked as each tensor is requested — before anything is
// allocated, and in spec mode too, so `detect --summary` refuses what loading would refuse. The
// config decides the shapes, so without these a few characters of yaml (Conv c2=1048576, k=31)
// would have the loader materialise gigabytes of missing or synthetic weights. Defaults: 2.3x and
// ~60x the largest upstream model (yolov9-e: 58M parameters, ~4k tensors).
struct BinderLimits {
  std::int64_t max_elements = std::int64_t(1) << 27;  // parameters + buffers of the whole model
  std::int64_t max_tensors = std::int64_t(1) << 18;   // tensors requested (bounds the modules built)
};

class Binder {
 public:
  Binder() = default;  // spec mode: count only
  Binder(const WeightSource* src, double bn_eps, std::map<std::string, double> eps_by_module = {})
      : src_(src), eps_(bn_eps), eps_by_(std::move(eps_by_module)) {}

  // Synthetic weights (benchmarks of a config without a trained model): deterministic values of
  // the right scale — conv weights U(-sqrt(3/fan_in), +), BatchNorm identity-like statistics.
  static Binder synthetic(std::uint32_t seed = 1) {
    Binder b;
    b.synthetic_ = true;
    b.seed_ = seed;
    return b;
  }

  bool bound() const { return src_ != nullptr || synthetic_; }
  std::int64_t param_count() const { return params_; }

  const BinderLimits& limits() const { return lim_; }
  void set_limits(const BinderLimits& lim) { lim_ = lim; }

  // A parameter (counted in the summary) or a buffer (running stats: not counted).
  std::vector<double> param(const std::string& name, const std::vector<std::int64_t>& shape) {
    params_ += admit(name, shape);
    return fetch(name, shape);
  }
  std::vector<double> buffer(const std::string& name, const std::vector<std::int64_t>& shape) {
    admit(name, shape);
    return fetch(name, shape);
  }
  // Tensors PyTorch keeps that inference ignores (BatchNorm's num_batches_tracked): accepted if present.
  void optional(const std::string& name) {
    if (src_ && src_->shape_of(name)) used_.insert(name);
  }

  double bn_eps(const std::string& bn_prefix) const {
    auto it = eps_by_.find(bn_prefix);
    return it == eps_by_.end() ? eps_ : it->second;
  }

  // Throws one WeightError describing every problem, or returns.
  void finish(const std::string& label) const {
    if (!src_) return;
    std::vector<std::string> unused;
    for (const auto& n : src_->names())
      if (!used_.count(n)) unused.push_back(n);
    if (missing_.empty() && mismatched_.empty() && unused.empty()) return;
    std::string msg = label + ": weights do not match the model:";
    auto list = [&msg](const char* what, const std::vector<std::string>& items) {
      if (items.empty()) return;
      msg += " " + std::to_string(items.size()) + " " + what + " (";
      for (std::size_t i = 0; i < items.size() && i < 8; ++i) msg += (i ? "; " : "") + items[i];
      if (items.size() > 8) msg += "; ... " + std::to_string(items.size() - 8) + " more";
      msg += ")";
    };
    list("missing", missing_);
    list("mis-shaped", mismatched_);
    list("unused", unused);
    throw WeightError(msg);
  }

 private:
  // Counts the tensor against the limits (overflow-safe: shapes come from the config) and returns
  // its element count.
  std::int64_t admit(const std::string& name, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) {
      if (d < 0) throw ConfigError(name + ": negative dimension in " + shape_str(shape));
      if (d > 0 && n > INT64_MAX / d) {
        n = INT64_MAX;
        break;
      }
      n *= d;
    }
    if (++tensors_ > lim_.max_tensors)
      throw LimitError(name + ": the model needs more than " + std::to_string(lim_.max_tensors) +
                       " tensors (BinderLimits::max_tensors)");
    if (n > lim_.max_elements - elements_)
      throw LimitError(name + " " + shape_str(shape) + ": the model needs more than " + std::to_string(lim_.max_elements) +
                       " weight values (BinderLimits::max_elements)");
    elements_ += n;
    return n;
  }
  static std::int64_t numel(const std::vector<std::int64_t>& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
  }
  std::vector<double> fetch(const std::string& name, const std::vector<std::int64_t>& shape) {
    if (synthetic_) return make_synthetic(name, shape);
    if (!src_) return {};
    const std::vector<std::int64_t>* got = src_->shape_of(name);
    if (!got) {
      missing_.push_back(name + " " + shape_str(shape));
      return std::vector<double>(static_cast<std::size_t>(numel(shape)), 0.0);
    }
    used_.insert(name);
    if (*got != shape) {
      mismatched_.push_back(name + ": expected " + shape_str(shape) + ", got " + shape_str(*got));
      return std::vector<double>(static_cast<std::size_t>(numel(shape)), 0.0);
    }
    return src_->values(name);
  }

  std::vector<double> make_synthetic(const std::string& name, const std::vector<std::int64_t>& shape) {
    const std::size_t n = static_cast<std::size_t>(numel(shape));
    auto ends = [&name](const char* suffix) {
      const std::string s(suffix);
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    std::vector<double> v(n, 0.0);
    if (ends("running_var") || (shape.size() == 1 && ends("weight"))) {  // BatchNorm scale and variance
      std::fill(v.begin(), v.end(), 1.0);
      return v;
    }
    if (ends("running_mean") || ends("bias")) return v;
    if (ends("dfl.conv.weight") || ends("dfl2.conv.weight")) {
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
      return v;
    }
    const double fan_in = shape.size() > 1 ? static_cast<double>(numel(shape) / shape[0]) : 1.0;
    const double a = std::sqrt(3.0 / fan_in);
    for (auto& x : v) {
      seed_ = seed_ * 1664525u + 1013904223u;  // LCG: deterministic, no <random> state to carry
      x = a * (2.0 * (seed_ >> 8) / 16777216.0 - 1.0);
    }
    return v;
  }

  bool synthetic_ = false;
  std::uint32_t seed_ = 1;
  const WeightSource* src_ = nullptr;
  double eps_ = 1e-3;
  std::map<std::string, double> eps_by_;
  std::int64_t params_ = 0;
  BinderLimits lim_;
  std::int64_t tensors_ = 0, elements_ = 0;
  std::set<std::string> used_;
  std::vector<std::string> missing_, mismatched_;
};

}  // namespace yv9::model
