// SPDX-License-Identifier: MIT
// The runnable network: layers in yaml order, executed once each, with activations freed as soon
// as their last consumer has run (peak memory = weights + the largest live set).
//
// Layers that do not feed the inference output are dropped at construction (their weights were
// still bound and checked): the auxiliary branch of dual-head models (CBLinear/CBFuse backbone copy
// and the head's cv2/cv3) is training-only. `keep_all` keeps them, for per-layer tests.
//
// forward() is const and keeps no state between calls: one Network may serve several threads.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "builder.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace yv9::model {

template <class T>
class Network {
 public:
  struct Options {
    bool keep_all = false;
  };
  // Called after each layer with its output and the time it took.
  using Observer = std::function<void(int layer, const Tensor<T>& out, double seconds)>;

  Network() = default;
  explicit Network(BuiltModel<T> m, Options opt = {}) : m_(std::move(m)) {
    const std::size_t L = m_.layers.size();
    output_ = m_.head >= 0 ? m_.head : static_cast<int>(L) - 1;
    if (opt.keep_all) {
      live_.assign(L, true);
    } else {
      std::vector<std::vector<int>> from;
      for (const LayerInfo& info : m_.info) from.push_back(info.from);
      live_ = reaching(from, static_cast<std::size_t>(output_),
                       [&](std::size_t i, std::size_t count) { return m_.layers[i]->used_inputs(count); });
    }
    for (std::size_t i = 0; i < L; ++i)
      if (!live_[i]) {
        m_.layers[i].reset();
        dropped_.push_back(static_cast<int>(i));
      }
    if (!opt.keep_all && m_.head >= 0) m_.layers[static_cast<std::size_t>(m_.head)]->head()->drop_aux();
#if defined(__GLIBC__)
    // glibc keeps what the build freed (the dropped layers, packing's temporaries) inside its heap,
    // interleaved with the weights that stay: hand those pages back to the system.
    malloc_trim(0);
#endif
  }

  const std::vector<LayerInfo>& info() const { return m_.info; }
  std::int64_t params() const { return m_.params; }
  std::int64_t in_channels() const { return m_.in_channels; }
  int head() const { return m_.head; }
  int output_layer() const { return output_; }
  std::int64_t nc() const { return m_.nc; }
  const std::vector<double>& strides() const { return m_.strides; }
  const std::vector<int>& dropped() const { return dropped_; }
  bool live(int i) const { return live_.at(static_cast<std::size_t>(i)); }
  const nn::Module<T>* layer(int i) const { return m_.layers.at(static_cast<std::size_t>(i)).get(); }
  // The detection head, or nullptr for a config without one.
  const nn::DetectHead<T>* detect_head() const { return m_.head >= 0 ? layer(m_.head)->head() : nullptr; }
  std::size_t size() const { return m_.layers.size(); }

  // Output shapes of every live layer for an input shape (throws a ConfigError naming the layer).
  std::vector<Shape> shapes(const Shape& input) const {
    check_input(input);
    std::vector<Shape> s(m_.layers.size());
    for (std::size_t i = 0; i < m_.layers.size(); ++i) {
      if (!live_[i]) continue;
      try {
        s[i] = m_.layers[i]->out_shape(inputs_of(i, input, s));
        for (int d = 0; d < s[i].rank(); ++d)
          if (s[i][d] <= 0) throw Error("empty output " + s[i].str());
        check_activation(s[i]);
      } catch (const Error& e) {
        throw ConfigError("layer " + std::to_string(i) + " (" + m_.info[i].type + ") on input " + input.str() + ": " + e.what());
      }
    }
    return s;
  }

  // Multiply-accumulates per live layer (0 for dropped ones).
  std::vector<std::int64_t> macs(const Shape& input) const {
    const std::vector<Shape> s = shapes(input);
    std::vector<std::int64_t> r(m_.layers.size(), 0);
    for (std::size_t i = 0; i < m_.layers.size(); ++i)
      if (live_[i]) r[i] = m_.layers[i]->macs(inputs_of(i, input, s));
    return r;
  }

  Tensor<T> forward(const Tensor<T>& x, const Context& ctx, const Observer& observe = nullptr) const {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Shape> s = shapes(x.shape());
    const std::size_t L = m_.layers.size();
    std::vector<int> uses(L, 0);
    for (std::size_t i = 0; i < L; ++i)
      if (live_[i])
        for (int f : used_from(i))
          if (f >= 0) ++uses[static_cast<std::size_t>(f)];
    std::vector<Tensor<T>> out(L);
    for (std::size_t i = 0; i < L; ++i) {
      if (!live_[i]) continue;
      const auto& from = m_.info[i].from;
      const std::vector<int> used = used_from(i);
      std::vector<const Tensor<T>*> in(from.size(), nullptr);
      for (std::size_t k = 0; k < from.size(); ++k)
        if (used[k] != kUnused) in[k] = from[k] < 0 ? &x : &out[static_cast<std::size_t>(from[k])];
      const auto t0 = std::chrono::steady_clock::now();
      try {
        m_.layers[i]->forward(in, out[i], ctx);
      } catch (const Error& e) {
        throw Error("layer " + std::to_string(i) + " (" + m_.info[i].type + "): " + e.what());
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (observe) observe(static_cast<int>(i), out[i], secs);
      for (int f : used)
        if (f >= 0 && --uses[static_cast<std::size_t>(f)] == 0 && f != output_) out[static_cast<std::size_t>(f)] = Tensor<T>();
    }
    Tensor<T> result = std::move(out[static_cast<std::size_t>(output_)]);
    out.clear();
#if defined(__GLIBC__)
    // glibc keeps the pages of freed activations, scattered through its heaps, and the next pass
    // fragments them further (the seed model at 640: 286 MB after the first pass, 317 MB after
    // the second). A pass that took over a second gives them back: faulting them in again costs
    // well under 1% of such a pass, where after a 15 ms pass it would cost ~13%.
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) malloc_trim(0);
#endif
    return result;
  }

 private:
  static constexpr int kUnused = -2;

  void check_input(const Shape& in) const {
    if (in.rank() != 4 || in[0] < 1 || in[1] != m_.in_channels || in[2] < 1 || in[3] < 1)
      throw UsageError("input must be [N, " + std::to_string(m_.in_channels) + ", H, W] with N, H, W >= 1, got " + in.str());
  }
  // from-list of layer i with inputs the layer does not use replaced by kUnused
  std::vector<int> used_from(std::size_t i) const {
    const auto& from = m_.info[i].from;
    std::vector<int> r(from.begin(), from.end());
    const std::vector<bool> used = m_.layers[i]->used_inputs(from.size());
    for (std::size_t k = 0; k < r.size(); ++k)
      if (!used[k] || (from[k] >= 0 && !live_[static_cast<std::size_t>(from[k])])) r[k] = kUnused;
    return r;
  }
  std::vector<Shape> inputs_of(std::size_t i, const Shape& input, const std::vector<Shape>& s) const {
    std::vector<Shape> in;
    for (int f : m_.info[i].from) in.push_back(f < 0 ? input : s[static_cast<std::size_t>(f)]);
    return in;
  }

  BuiltModel<T> m_;
  int output_ = 0;
  std::vector<bool> live_;
  std::vector<int> dropped_;
};

}  // namespace yv9::model
