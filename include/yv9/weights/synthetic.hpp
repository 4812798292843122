// SPDX-License-Identifier: MIT
// Synthetic weights, for benchmarking a config without a trained model: deterministic values of
// the right scale — conv weights U(-sqrt(3/fan_in), +), BatchNorm identity-like statistics, the
// DFL's 0..15 — generated in the order the modules ask for them.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "source.hpp"

namespace yv9::weights {

class SyntheticSource : public WeightSource {
 public:
  explicit SyntheticSource(std::uint32_t seed = 1) : seed_(seed) {}
  bool has(const std::string&) const override { return true; }
  std::vector<std::string> names() const override { return {}; }
  double bn_eps(const std::string&) const override { return 1e-3; }

  Weight get(const std::string& name, const std::vector<std::int64_t>& shape) const override {
    Weight w;
    w.shape = shape;
    const std::size_t n = static_cast<std::size_t>(w.numel());
    auto buf = std::make_shared<std::vector<std::uint8_t>>(n * sizeof(float));
    float* v = reinterpret_cast<float*>(buf->data());
    fill(name, shape, v, n);
    w.bytes = buf->data();
    w.owned = std::move(buf);
    return w;
  }

 private:
  void fill(const std::string& name, const std::vector<std::int64_t>& shape, float* v, std::size_t n) const {
    auto ends = [&name](const char* suffix) {
      const std::string s(suffix);
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    for (std::size_t i = 0; i < n; ++i) v[i] = 0.0f;
    if (ends("running_var") || (shape.size() == 1 && ends("weight"))) {  // BatchNorm scale and variance
      for (std::size_t i = 0; i < n; ++i) v[i] = 1.0f;
      return;
    }
    if (ends("running_mean") || ends("bias")) return;
    if (ends("dfl.conv.weight") || ends("dfl2.conv.weight")) {
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
      return;
    }
    const double fan_in = shape.size() > 1 && shape[0] > 0 ? static_cast<double>(n) / static_cast<double>(shape[0]) : 1.0;
    const double a = std::sqrt(3.0 / fan_in);
    for (std::size_t i = 0; i < n; ++i) {
      seed_ = seed_ * 1664525u + 1013904223u;  // LCG: deterministic, no <random> state to carry
      v[i] = static_cast<float>(a * (2.0 * (seed_ >> 8) / 16777216.0 - 1.0));
    }
  }

  mutable std::uint32_t seed_;  // advances with every tensor handed out
};

}  // namespace yv9::weights
