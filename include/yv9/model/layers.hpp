// Network layers: one per yaml row. A layer reads the outputs of its `from` layers and produces one
// tensor. (CBLinear's several outputs are the channel slices of its one tensor; CBFuse knows them.)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../nn/blocks.hpp"
#include "../nn/heads.hpp"
#include "../nn/mqa.hpp"
#include "../ops/pool.hpp"

namespace yv9::model {

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  virtual Shape out_shape(const std::vector<Shape>& in) const = 0;
  virtual void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const = 0;
  // Multiply-accumulates of one forward pass (for the benchmark's GFLOP/s).
  virtual std::int64_t macs(const std::vector<Shape>&) const { return 0; }
  virtual std::int64_t attention_macs(const std::vector<Shape>&) const { return 0; }
  // Which of the inputs the inference output depends on (DualDDetect: only the main half).
  virtual std::vector<bool> used_inputs(std::size_t count) const { return std::vector<bool>(count, true); }
};

// Adapts a single-input module with out_shape/forward/macs.
template <class T, class M>
class UnaryLayer : public Layer<T> {
 public:
  explicit UnaryLayer(M m) : m_(std::move(m)) {}
  Shape out_shape(const std::vector<Shape>& in) const override { return m_.out_shape(in.at(0)); }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    out = Tensor<T>(m_.out_shape(in.at(0)->shape()));
    m_.forward(view(*in[0]), view(out), ctx);
  }
  std::int64_t macs(const std::vector<Shape>& in) const override { return m_.macs(in.at(0)); }
  std::int64_t attention_macs(const std::vector<Shape>& in) const override {
    if constexpr (std::is_same_v<M, nn::Elan<T>>) return m_.attention_macs(in.at(0));
    if constexpr (std::is_same_v<M, nn::MQA<T>>) return m_.attention_macs(in.at(0));
    return 0;
  }
  const M& module() const { return m_; }

 private:
  M m_;
};

// n > 1 in the yaml: nn.Sequential of n copies.
template <class T>
class RepeatLayer : public Layer<T> {
 public:
  explicit RepeatLayer(std::vector<std::unique_ptr<Layer<T>>> parts) : parts_(std::move(parts)) {}
  Shape out_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    for (const auto& p : parts_) s = p->out_shape({s});
    return s;
  }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    Tensor<T> cur;
    const Tensor<T>* x = in.at(0);
    for (const auto& p : parts_) {
      Tensor<T> next;
      p->forward({x}, next, ctx);
      cur = std::move(next);
      x = &cur;
    }
    out = std::move(cur);
  }
  std::int64_t macs(const std::vector<Shape>& in) const override {
    std::int64_t m = 0;
    Shape s = in.at(0);
    for (const auto& p : parts_) {
      m += p->macs({s});
      s = p->out_shape({s});
    }
    return m;
  }

 private:
  std::vector<std::unique_ptr<Layer<T>>> parts_;
};

template <class T>
class IdentityLayer : public Layer<T> {  // Silence
 public:
  Shape out_shape(const std::vector<Shape>& in) const override { return in.at(0); }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context&) const override {
    out = in.at(0)->clone();
  }
};

template <class T>
class ConcatLayer : public Layer<T> {
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
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<Shape> shapes;
    for (auto* t : in) shapes.push_back(t->shape());
    out = Tensor<T>(out_shape(shapes));
    std::vector<View<const T>> views;
    for (auto* t : in) views.push_back(cview(*t));
    ops::concat_channels<T>(views, view(out), ctx);
  }
};

template <class T>
class UpsampleLayer : public Layer<T> {  // nn.Upsample(None, s, 'nearest')
 public:
  explicit UpsampleLayer(std::int64_t scale) : s_(scale) {}
  Shape out_shape(const std::vector<Shape>& in) const override {
    const Shape& x = in.at(0);
    return Shape{x[0], x[1], x[2] * s_, x[3] * s_};
  }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    out = Tensor<T>(out_shape({in.at(0)->shape()}));
    ops::resize_nearest<T>(cview(*in[0]), view(out), ctx);
  }

 private:
  std::int64_t s_;
};

// CBLinear(c1, c2s, k, s, p, g): one conv with bias to sum(c2s) channels.
template <class T>
class CBLinearLayer : public Layer<T> {
 public:
  CBLinearLayer(ops::Conv2d<T> conv, std::vector<std::int64_t> c2s) : conv_(std::move(conv)), c2s_(std::move(c2s)) {}
  Shape out_shape(const std::vector<Shape>& in) const override {
    const Shape& x = in.at(0);
    return Shape{x[0], conv_.g.c2, conv_.g.out_h(x[2]), conv_.g.out_w(x[3])};
  }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    out = Tensor<T>(out_shape({in.at(0)->shape()}));
    conv_.forward(cview(*in[0]), view(out), ctx);
  }
  std::int64_t macs(const std::vector<Shape>& in) const override { return in.at(0)[0] * conv_.g.macs(in[0][2], in[0][3]); }
  const std::vector<std::int64_t>& splits() const { return c2s_; }
  // Channel offset of split i.
  std::int64_t offset(std::size_t i) const {
    std::int64_t o = 0;
    for (std::size_t k = 0; k < i; ++k) o += c2s_[k];
    return o;
  }

 private:
  ops::Conv2d<T> conv_;
  std::vector<std::int64_t> c2s_;
};

// CBFuse(idx): sum of nearest-resized CBLinear splits and the last input, in input order.
template <class T>
class CBFuseLayer : public Layer<T> {
 public:
  struct Slice {
    std::int64_t offset, channels;
  };
  explicit CBFuseLayer(std::vector<Slice> slices) : slices_(std::move(slices)) {}
  Shape out_shape(const std::vector<Shape>& in) const override {
    const Shape& t = in.back();
    for (std::size_t i = 0; i + 1 < in.size(); ++i)
      if (slices_.at(i).channels != t[1] || in[i][0] != t[0])
        throw Error("CBFuse: split of " + std::to_string(slices_[i].channels) + " channels cannot be added to " + t.str());
    return t;
  }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<Shape> shapes;
    for (auto* t : in) shapes.push_back(t->shape());
    const Shape s = out_shape(shapes);
    const Tensor<T>& last = *in.back();
    out = Tensor<T>::zeros(s);
    Tensor<T> tmp(s);
    // torch.sum(torch.stack([r0, r1, ..., last]), 0) accumulates in stack order.
    for (std::size_t i = 0; i + 1 < in.size(); ++i) {
      View<const T> src = cview(*in[i]).channels(slices_[i].offset, slices_[i].channels);
      ops::resize_nearest<T>(src, view(tmp), ctx);
      add(out, tmp);
    }
    add(out, last);
  }

 private:
  static void add(Tensor<T>& acc, const Tensor<T>& x) {
    T* a = acc.data();
    const T* b = x.data();
    for (std::int64_t i = 0; i < acc.size(); ++i) a[i] += b[i];
  }
  std::vector<Slice> slices_;
};

// Detect / DDetect / DualDDetect.
template <class T>
class HeadLayer : public Layer<T> {
 public:
  enum class Kind { Detect, DDetect, DualDDetect };
  HeadLayer(Kind kind, std::vector<nn::DetectSet<T>> sets, std::vector<double> strides)
      : kind_(kind), sets_(std::move(sets)), strides_(std::move(strides)) {}

  Kind kind() const { return kind_; }
  std::int64_t nc() const { return sets_.back().nc(); }
  std::size_t levels() const { return sets_.back().levels(); }
  const std::vector<double>& strides() const { return strides_; }
  void set_strides(std::vector<double> s) { strides_ = std::move(s); }
  const nn::DetectSet<T>& main_set() const { return sets_.back(); }
  const nn::DetectSet<T>& aux_set() const { return sets_.front(); }
  bool has_aux() const { return kind_ == Kind::DualDDetect && sets_.size() == 2; }
  void drop_aux() {
    if (has_aux()) sets_.erase(sets_.begin());
  }

  Shape out_shape(const std::vector<Shape>& in) const override {
    std::int64_t A = 0;
    const std::size_t first = main_first(in.size());
    for (std::size_t i = first; i < in.size(); ++i) A += in[i][2] * in[i][3];
    return Shape{in.at(first)[0], 4 + nc(), A};
  }
  void forward(const std::vector<const Tensor<T>*>& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<View<const T>> xs;
    for (std::size_t i = main_first(in.size()); i < in.size(); ++i) xs.push_back(cview(*in[i]));
    out = sets_.back().forward(xs, strides_, ctx);
  }
  // The auxiliary branch's prediction (DualDDetect built with the aux branch kept).
  Tensor<T> forward_aux(const std::vector<const Tensor<T>*>& in, const Context& ctx) const {
    if (!has_aux()) throw Error("forward_aux: no auxiliary branch");
    std::vector<View<const T>> xs;
    for (std::size_t i = 0; i < levels(); ++i) xs.push_back(cview(*in.at(i)));
    return sets_.front().forward(xs, strides_, ctx);
  }
  std::int64_t macs(const std::vector<Shape>& in) const override {
    const std::size_t first = main_first(in.size());
    return sets_.back().macs(std::vector<Shape>(in.begin() + static_cast<std::ptrdiff_t>(first), in.end()));
  }
  std::vector<bool> used_inputs(std::size_t count) const override {
    std::vector<bool> u(count, true);
    if (kind_ == Kind::DualDDetect)
      for (std::size_t i = 0; i < count / 2; ++i) u[i] = false;
    return u;
  }

 private:
  std::size_t main_first(std::size_t count) const { return kind_ == Kind::DualDDetect ? count / 2 : 0; }
  Kind kind_;
  std::vector<nn::DetectSet<T>> sets_;
  std::vector<double> strides_;
};

}  // namespace yv9::model
