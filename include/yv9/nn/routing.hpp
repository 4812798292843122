// SPDX-License-Identifier: MIT
// Modules that move tensors between layers rather than learn features: Concat, nn.Upsample,
// Silence, and the auxiliary branch's CBLinear / CBFuse (upstream models/common.py).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../ops/conv.hpp"
#include "../ops/pool.hpp"
#include "../weights/fold.hpp"
#include "module.hpp"

namespace yv9::nn {

// Concat(dimension=1): the inputs' channels one after the other.
template <class T>
class Concat : public Module<T> {
 public:
  Shape out_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    s[1] = 0;
    for (const auto& x : in) {
      if (x[0] != s[0] || x[2] != s[2] || x[3] != s[3])
        throw Error("Concat: inputs " + in.at(0).str() + " and " + x.str() + " differ in batch or spatial size");
      s[1] += x[1];
    }
    return s;
  }
  void forward(const typename Module<T>::Inputs& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<Shape> shapes;
    std::vector<View<const T>> views;
    for (auto* t : in) {
      shapes.push_back(t->shape());
      views.push_back(cview(*t));
    }
    out = Tensor<T>(out_shape(shapes));
    ops::concat_channels<T>(views, view(out), ctx);
  }
  std::int64_t macs(const std::vector<Shape>&) const override { return 0; }
};

// nn.Upsample(None, scale_factor, 'nearest')
template <class T>
class Upsample : public UnaryModule<T> {
 public:
  explicit Upsample(std::int64_t scale) : s_(scale) {}
  Shape shape_for(const Shape& x) const override { return Shape{x[0], x[1], x[2] * s_, x[3] * s_}; }
  void run(View<const T> in, View<T> out, const Context& ctx) const override { ops::resize_nearest<T>(in, out, ctx); }
  std::int64_t macs_for(const Shape&) const override { return 0; }

 private:
  std::int64_t s_;
};

// Silence: the identity (upstream uses it to give the auxiliary branch its own input layer).
template <class T>
class Silence : public UnaryModule<T> {
 public:
  Shape shape_for(const Shape& x) const override { return x; }
  void run(View<const T> in, View<T> out, const Context&) const override { ops::copy_planes<T>(in, out); }
  std::int64_t macs_for(const Shape&) const override { return 0; }
};

// CBLinear(c1, c2s, k, s, p, g): one nn.Conv2d with bias to sum(c2s) channels; CBFuse reads the
// splits as channel slices of its one output.
template <class T>
class CBLinear : public UnaryModule<T> {
 public:
  CBLinear(weights::Binder& b, const std::string& p, const ops::ConvGeom& g)
      : conv_(weights::load_conv2d<T>(b, p + "conv.", g, true)) {}
  Shape shape_for(const Shape& x) const override {
    return Shape{x[0], conv_.g.c2, conv_.g.out_h(x[2]), conv_.g.out_w(x[3])};
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const override { conv_.forward(in, out, ctx); }
  std::int64_t macs_for(const Shape& x) const override { return x[0] * conv_.g.macs(x[2], x[3]); }

 private:
  ops::Conv2d<T> conv_;
};

// CBFuse(idx): the sum of nearest-resized CBLinear splits and the last input, in input order.
template <class T>
class CBFuse : public Module<T> {
 public:
  struct Slice {
    std::int64_t offset, channels;  // of the CBLinear output
  };
  explicit CBFuse(std::vector<Slice> slices) : slices_(std::move(slices)) {}
  Shape out_shape(const std::vector<Shape>& in) const override {
    const Shape& t = in.back();
    for (std::size_t i = 0; i + 1 < in.size(); ++i)
      if (slices_.at(i).channels != t[1] || in[i][0] != t[0])
        throw Error("CBFuse: split of " + std::to_string(slices_[i].channels) + " channels cannot be added to " + t.str());
    return t;
  }
  void forward(const typename Module<T>::Inputs& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<Shape> shapes;
    for (auto* t : in) shapes.push_back(t->shape());
    const Shape s = out_shape(shapes);
    out = Tensor<T>::zeros(s);
    Tensor<T> tmp(s);
    // torch.sum(torch.stack([r0, r1, ..., last]), 0) accumulates in stack order.
    for (std::size_t i = 0; i + 1 < in.size(); ++i) {
      View<const T> src = cview(*in[i]).channels(slices_[i].offset, slices_[i].channels);
      ops::resize_nearest<T>(src, view(tmp), ctx);
      add(out, tmp);
    }
    add(out, *in.back());
  }
  std::int64_t macs(const std::vector<Shape>&) const override { return 0; }

 private:
  static void add(Tensor<T>& acc, const Tensor<T>& x) {
    T* a = acc.data();
    const T* b = x.data();
    for (std::int64_t i = 0; i < acc.size(); ++i) a[i] += b[i];
  }
  std::vector<Slice> slices_;
};

}  // namespace yv9::nn
