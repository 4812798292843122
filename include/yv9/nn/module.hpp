// SPDX-License-Identifier: MIT
// The one interface of every yaml module (one row of a config = one Module).
//
//   out_shape(inputs)     the output shape for these input shapes (throws on a mismatch)
//   forward(inputs, out)  computes the output; const, so one module may serve many threads
//   macs(inputs)          multiply-accumulates of one forward pass (the benchmark's GFLOP/s)
//   used_inputs(count)    which inputs the inference output depends on (DualDDetect: the main
//                         half only), so the network can drop the branches nobody needs
//   head()                the detection-head view of the module, or nullptr
//
// Most modules have one input: they derive from UnaryModule and work on views, so a module nested
// in another (a Conv inside an ELAN branch) can write straight into a slice of its parent's buffer.
// A new module is one class here plus one row in model/registry.hpp.
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../core/view.hpp"

namespace yv9::nn {

template <class T>
class DetectHead;

template <class T>
class Module {
 public:
  using Inputs = std::vector<const Tensor<T>*>;
  virtual ~Module() = default;
  virtual Shape out_shape(const std::vector<Shape>& in) const = 0;
  virtual void forward(const Inputs& in, Tensor<T>& out, const Context& ctx) const = 0;
  virtual std::int64_t macs(const std::vector<Shape>& in) const = 0;
  virtual std::vector<bool> used_inputs(std::size_t count) const { return std::vector<bool>(count, true); }
  virtual const DetectHead<T>* head() const { return nullptr; }
  DetectHead<T>* head() { return const_cast<DetectHead<T>*>(std::as_const(*this).head()); }
};

// A module with one input tensor. Subclasses implement the view forms.
template <class T>
class UnaryModule : public Module<T> {
 public:
  virtual Shape shape_for(const Shape& in) const = 0;
  virtual void run(View<const T> in, View<T> out, const Context& ctx) const = 0;
  virtual std::int64_t macs_for(const Shape& in) const = 0;

  Shape out_shape(const std::vector<Shape>& in) const final { return shape_for(single(in)); }
  void forward(const typename Module<T>::Inputs& in, Tensor<T>& out, const Context& ctx) const final {
    const Tensor<T>& x = *single(in);
    out = Tensor<T>(shape_for(x.shape()));
    run(cview(x), view(out), ctx);
  }
  std::int64_t macs(const std::vector<Shape>& in) const final { return macs_for(single(in)); }

 private:
  template <class V>
  static const V& single(const std::vector<V>& in) {
    if (in.size() != 1) throw Error("a single-input module got " + std::to_string(in.size()) + " inputs");
    return in[0];
  }
};

// nn.Sequential: n > 1 copies of a single-input module in the yaml, run one after the other.
template <class T>
class Sequential : public UnaryModule<T> {
 public:
  explicit Sequential(std::vector<std::unique_ptr<UnaryModule<T>>> parts) : parts_(std::move(parts)) {}
  Shape shape_for(const Shape& in) const override {
    Shape s = in;
    for (const auto& p : parts_) s = p->shape_for(s);
    return s;
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    Tensor<T> cur;
    View<const T> x = in;
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      if (i + 1 == parts_.size()) {
        parts_[i]->run(x, out, ctx);
        break;
      }
      Tensor<T> next(parts_[i]->shape_for(Shape{x.n, x.c, x.h, x.w}));
      parts_[i]->run(x, view(next), ctx);
      cur = std::move(next);
      x = cview(cur);
    }
  }
  std::int64_t macs_for(const Shape& in) const override {
    std::int64_t m = 0;
    Shape s = in;
    for (const auto& p : parts_) {
      m += p->macs_for(s);
      s = p->shape_for(s);
    }
    return m;
  }

 private:
  std::vector<std::unique_ptr<UnaryModule<T>>> parts_;
};

}  // namespace yv9::nn
