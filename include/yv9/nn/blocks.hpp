// SPDX-License-Identifier: MIT
// The GELAN building blocks, named and laid out as upstream's modules (models/common.py) so that
// one grep reaches the yaml, the state dict and this file. Concatenations are zero-copy: each block
// allocates its torch.cat buffer once and lets every branch write into its channel slice.
//
//   RepNCSPELAN4 / ELAN1 / MMQARepNCSPELAN4:
//     cat = [ cv1(x) (c3 channels: chunk a | chunk b) | cv2(chunk b) (c4) | cv3(cv2 out) (c4) ]
//     out = cv4(cat)
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../ops/conv.hpp"
#include "../ops/pool.hpp"
#include "../weights/fold.hpp"
#include "module.hpp"
#include "mqa.hpp"

namespace yv9::nn {

template <class T>
std::int64_t conv_macs(const ops::Conv2d<T>& c, const Shape& in) {
  return in[0] * c.g.macs(in[2], in[3]);
}

// Conv(c1, c2, k, s, p, g, d): conv -> BatchNorm (folded) -> act.
template <class T>
class Conv : public UnaryModule<T> {
 public:
  Conv(weights::Binder& b, const std::string& p, const ops::ConvGeom& g, ops::Activation act)
      : c_(weights::load_conv_bn<T>(b, p, g, act)) {}
  Shape shape_for(const Shape& in) const override {
    return Shape{in[0], c_.g.c2, c_.g.out_h(in[2]), c_.g.out_w(in[3])};
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const override { c_.forward(in, out, ctx); }
  std::int64_t macs_for(const Shape& in) const override { return conv_macs(c_, in); }

 private:
  ops::Conv2d<T> c_;
};

// RepNBottleneck(c1, c2, shortcut, g, e=1.0): cv1 = RepConvN(c1, c_, 3), cv2 = Conv(c_, c2, 3, g)
template <class T>
class RepNBottleneck {
 public:
  RepNBottleneck(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, bool shortcut,
                 ops::Activation act)
      : cv1_(weights::load_repconvn<T>(b, p + "cv1.", c1, c2, act)),
        cv2_(weights::load_conv_bn<T>(b, p + "cv2.", ops::conv_geom(c2, c2, 3), act)),
        add_(shortcut && c1 == c2) {}
  void run(View<const T> in, View<T> out, const Context& ctx) const {
    Tensor<T> t = ops::run_conv(cv1_, in, ctx);
    cv2_.forward(cview(t), out, ctx);
    if (add_)
      for (std::int64_t i = 0; i < in.n; ++i) {
        const T* x = in.item(i);
        T* y = out.item(i);
        for (std::int64_t k = 0; k < in.c * in.hw(); ++k) y[k] = x[k] + y[k];
      }
  }
  std::int64_t macs_for(const Shape& in) const { return conv_macs(cv1_, in) + conv_macs(cv2_, in); }

 private:
  ops::Conv2d<T> cv1_, cv2_;
  bool add_;
};

// RepNCSP(c1, c2, n): c_ = int(c2*0.5); cv3(cat(m(cv1(x)), cv2(x)))
template <class T>
class RepNCSP {
 public:
  // cv1 and cv2 are 1x1 convs of the same input: they run as one (cv21_, cv2's rows stacked on
  // cv1's; same per-channel results), so the input is packed once and the GEMM gets 2c_ rows.
  // It writes channels [c_, 3c_) of a 3c_-channel buffer: cv2(x) lands right where the concat
  // wants it, cv1(x) after it, and m's output fills channels [0, c_); cv3 reads [0, 2c_).
  RepNCSP(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, std::int64_t n,
          ops::Activation act)
      : c_(c2 / 2) {
    cv1_.g = cv2_.g = ops::conv_geom(c1, c_, 1);
    cv21_ = weights::load_conv_bn_stacked<T>(b, {{p + "cv2.", cv2_.g}, {p + "cv1.", cv1_.g}}, act);
    cv3_ = weights::load_conv_bn<T>(b, p + "cv3.", ops::conv_geom(2 * c_, c2, 1), act);
    for (std::int64_t i = 0; i < n; ++i) m_.emplace_back(b, p + "m." + std::to_string(i) + ".", c_, c_, true, act);
  }
  std::int64_t c2() const { return cv3_.g.c2; }
  void run(View<const T> in, View<T> out, const Context& ctx) const {
    Tensor<T> buf(Shape{in.n, 3 * c_, in.h, in.w});
    const View<T> vbuf = view(buf);
    cv21_.forward(in, vbuf.channels(c_, 2 * c_), ctx);
    View<const T> t = cview(buf).channels(2 * c_, c_);  // cv1(x)
    Tensor<T> u, next;
    for (std::size_t i = 0; i < m_.size(); ++i) {
      if (i + 1 == m_.size()) {
        m_[i].run(t, vbuf.channels(0, c_), ctx);
      } else {
        next = Tensor<T>(Shape{in.n, c_, in.h, in.w});
        m_[i].run(t, view(next), ctx);
        u = std::move(next);
        t = cview(u);
      }
    }
    if (m_.empty()) ops::copy_planes<T>(t, vbuf.channels(0, c_));
    cv3_.forward(cview(buf).channels(0, 2 * c_), out, ctx);
  }
  std::int64_t macs_for(const Shape& in) const {
    std::int64_t s = conv_macs(cv1_, in) + conv_macs(cv2_, in) + conv_macs(cv3_, in);
    for (const auto& m : m_) s += m.macs_for(Shape{in[0], c_, in[2], in[3]});
    return s;
  }

 private:
  std::int64_t c_;
  ops::Conv2d<T> cv1_, cv2_, cv21_, cv3_;  // cv1_, cv2_: geometry only (see cv21_)
  std::vector<RepNBottleneck<T>> m_;
};

// One ELAN branch (cv2 or cv3 of the blocks below): a Conv (ELAN1), [RepNCSP, Conv]
// (RepNCSPELAN4) or [RepNCSP, MultiQueryAttentionLayerWithDownSampling] (MMQARepNCSPELAN4).
template <class T>
class ElanBranch {
 public:
  enum class Kind { Conv, CspConv, CspMqa };
  ElanBranch(weights::Binder& b, const std::string& p, Kind kind, std::int64_t cin, std::int64_t c4, std::int64_t c5,
             ops::Activation act)
      : kind_(kind) {
    if (kind == Kind::Conv) {
      conv_ = weights::load_conv_bn<T>(b, p, ops::conv_geom(cin, c4, 3), act);
      return;
    }
    csp_.emplace(b, p + "0.", cin, c4, c5, act);
    if (kind == Kind::CspConv) {
      conv_ = weights::load_conv_bn<T>(b, p + "1.", ops::conv_geom(c4, c4, 3), act);
    } else {
      MqaArgs a;
      a.in = c4;  // the MMQA block's attention: (c4, 8 heads, key/value dim 48, strides 1, 1, 1)
      mqa_.emplace(b, p + "1.", a);
    }
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const {
    if (kind_ == Kind::Conv) return conv_.forward(in, out, ctx);
    Tensor<T> t(Shape{in.n, csp_->c2(), in.h, in.w});
    csp_->run(in, view(t), ctx);
    if (kind_ == Kind::CspConv)
      conv_.forward(cview(t), out, ctx);
    else
      mqa_->run(cview(t), out, ctx);
  }
  std::int64_t macs_for(const Shape& in) const {
    if (kind_ == Kind::Conv) return conv_macs(conv_, in);
    const Shape mid{in[0], csp_->c2(), in[2], in[3]};
    return csp_->macs_for(in) + (kind_ == Kind::CspConv ? conv_macs(conv_, mid) : mqa_->macs_for(mid));
  }
  const MultiQueryAttentionLayerWithDownSampling<T>* mqa() const { return mqa_ ? &*mqa_ : nullptr; }

 private:
  Kind kind_;
  ops::Conv2d<T> conv_;
  std::optional<RepNCSP<T>> csp_;
  std::optional<MultiQueryAttentionLayerWithDownSampling<T>> mqa_;
};

// What RepNCSPELAN4, ELAN1 and MMQARepNCSPELAN4 share: cv1 -> chunk -> cv2 -> cv3 -> cat -> cv4,
// differing only in the kind of their cv2/cv3 branches.
template <class T>
class ElanBlock : public UnaryModule<T> {
 public:
  using Kind = typename ElanBranch<T>::Kind;
  Shape shape_for(const Shape& in) const override { return Shape{in[0], cv4_.g.c2, in[2], in[3]}; }
  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    Tensor<T> cat(Shape{in.n, c3_ + 2 * c4_, in.h, in.w});
    View<T> v = view(cat);
    cv1_.forward(in, v.channels(0, c3_), ctx);
    // chunk(2, 1): the second chunk is channels [ceil(c3/2), c3)
    const std::int64_t half = (c3_ + 1) / 2;
    cv2_.run(v.channels(half, c3_ - half), v.channels(c3_, c4_), ctx);
    cv3_.run(v.channels(c3_, c4_), v.channels(c3_ + c4_, c4_), ctx);
    cv4_.forward(cview(cat), out, ctx);
  }
  std::int64_t macs_for(const Shape& in) const override {
    const Shape half{in[0], c3_ / 2, in[2], in[3]}, branch{in[0], c4_, in[2], in[3]};
    return conv_macs(cv1_, in) + cv2_.macs_for(half) + cv3_.macs_for(branch) +
           conv_macs(cv4_, Shape{in[0], c3_ + 2 * c4_, in[2], in[3]});
  }
  const ElanBranch<T>& cv2() const { return cv2_; }
  const ElanBranch<T>& cv3() const { return cv3_; }

 protected:
  ElanBlock(weights::Binder& b, const std::string& p, Kind kind, std::int64_t c1, std::int64_t c2, std::int64_t c3,
            std::int64_t c4, std::int64_t c5, ops::Activation act)
      : c3_(c3),
        c4_(c4),
        cv1_(weights::load_conv_bn<T>(b, p + "cv1.", ops::conv_geom(c1, c3, 1), act)),
        cv2_(b, p + "cv2.", kind, c3 / 2, c4, c5, act),
        cv3_(b, p + "cv3.", kind, c4, c4, c5, act),
        cv4_(weights::load_conv_bn<T>(b, p + "cv4.", ops::conv_geom(c3 + 2 * c4, c2, 1), act)) {
    if (c3 < 2) throw ConfigError(p + ": c3 must be at least 2");
  }

 private:
  std::int64_t c3_, c4_;
  ops::Conv2d<T> cv1_;
  ElanBranch<T> cv2_, cv3_;
  ops::Conv2d<T> cv4_;
};

// RepNCSPELAN4(c1, c2, c3, c4, c5): branches [RepNCSP(c5 bottlenecks), Conv 3x3]
template <class T>
class RepNCSPELAN4 : public ElanBlock<T> {
 public:
  RepNCSPELAN4(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, std::int64_t c3,
               std::int64_t c4, std::int64_t c5, ops::Activation act)
      : ElanBlock<T>(b, p, ElanBlock<T>::Kind::CspConv, c1, c2, c3, c4, c5, act) {}
};

// ELAN1(c1, c2, c3, c4): branches = one Conv 3x3 each
template <class T>
class ELAN1 : public ElanBlock<T> {
 public:
  ELAN1(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, std::int64_t c3, std::int64_t c4,
        ops::Activation act)
      : ElanBlock<T>(b, p, ElanBlock<T>::Kind::Conv, c1, c2, c3, c4, 1, act) {}
};

// MMQARepNCSPELAN4(c1, c2, c3, c4, c5): branches [RepNCSP(c5 bottlenecks), Mobile MQA]
template <class T>
class MMQARepNCSPELAN4 : public ElanBlock<T> {
 public:
  MMQARepNCSPELAN4(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, std::int64_t c3,
                   std::int64_t c4, std::int64_t c5, ops::Activation act)
      : ElanBlock<T>(b, p, ElanBlock<T>::Kind::CspMqa, c1, c2, c3, c4, c5, act) {}
};

inline ops::PoolGeom avg2x2_s1() {
  ops::PoolGeom g;
  g.kh = g.kw = 2;
  return g;
}

// AConv(c1, c2): avg_pool2d(2, 1, 0) -> Conv(c1, c2, 3, 2, 1)
template <class T>
class AConv : public UnaryModule<T> {
 public:
  AConv(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, ops::Activation act)
      : cv1_(weights::load_conv_bn<T>(b, p + "cv1.", ops::conv_geom(c1, c2, 3, 2, 1), act)) {}
  Shape shape_for(const Shape& in) const override {
    const auto g = avg2x2_s1();
    return Shape{in[0], cv1_.g.c2, cv1_.g.out_h(g.out_h(in[2])), cv1_.g.out_w(g.out_w(in[3]))};
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    const auto g = avg2x2_s1();
    Tensor<T> t(Shape{in.n, in.c, g.out_h(in.h), g.out_w(in.w)});
    ops::avg_pool2d(in, view(t), g, ctx);
    cv1_.forward(cview(t), out, ctx);
  }
  std::int64_t macs_for(const Shape& in) const override {
    return conv_macs(cv1_, Shape{in[0], in[1], in[2] - 1, in[3] - 1});
  }

 private:
  ops::Conv2d<T> cv1_;
};

// ADown(c1, c2): avg_pool2d(2,1,0) -> chunk 2 -> [Conv(c1/2, c2/2, 3, 2, 1) | max_pool(3,2,1) -> Conv(c1/2, c2/2, 1)]
template <class T>
class ADown : public UnaryModule<T> {
 public:
  ADown(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, ops::Activation act) : c_(c2 / 2) {
    if (c1 % 2) throw ConfigError(p + ": ADown needs an even number of input channels, got " + std::to_string(c1));
    cv1_ = weights::load_conv_bn<T>(b, p + "cv1.", ops::conv_geom(c1 / 2, c_, 3, 2, 1), act);
    cv2_ = weights::load_conv_bn<T>(b, p + "cv2.", ops::conv_geom(c1 / 2, c_, 1, 1, 0), act);
  }
  Shape shape_for(const Shape& in) const override {
    const auto g = avg2x2_s1();
    return Shape{in[0], 2 * c_, cv1_.g.out_h(g.out_h(in[2])), cv1_.g.out_w(g.out_w(in[3]))};
  }
  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    const auto g = avg2x2_s1();
    Tensor<T> t(Shape{in.n, in.c, g.out_h(in.h), g.out_w(in.w)});
    ops::avg_pool2d(in, view(t), g, ctx);
    const std::int64_t half = in.c / 2;
    View<const T> vt = cview(t);
    cv1_.forward(vt.channels(0, half), out.channels(0, c_), ctx);
    const ops::PoolGeom mp = max3x3_s2();
    Tensor<T> m(Shape{in.n, half, mp.out_h(t.dim(2)), mp.out_w(t.dim(3))});
    ops::max_pool2d(vt.channels(half, half), view(m), mp, ctx);
    cv2_.forward(cview(m), out.channels(c_, c_), ctx);
  }
  std::int64_t macs_for(const Shape& in) const override {
    const Shape out = shape_for(in);
    return conv_macs(cv1_, Shape{in[0], in[1] / 2, in[2] - 1, in[3] - 1}) + in[0] * cv2_.g.macs(out[2], out[3]);
  }

 private:
  static ops::PoolGeom max3x3_s2() {
    ops::PoolGeom mp;
    mp.kh = mp.kw = 3;
    mp.sh = mp.sw = 2;
    mp.ph = mp.pw = 1;
    return mp;
  }
  std::int64_t c_;
  ops::Conv2d<T> cv1_, cv2_;
};

// SPPELAN(c1, c2, c3): cv5(cat(y0 = cv1(x), y1 = mp5(y0), y2 = mp5(y1), y3 = mp5(y2)))
template <class T>
class SPPELAN : public UnaryModule<T> {
 public:
  SPPELAN(weights::Binder& b, const std::string& p, std::int64_t c1, std::int64_t c2, std::int64_t c3,
          ops::Activation act)
      : c3_(c3),
        cv1_(weights::load_conv_bn<T>(b, p + "cv1.", ops::conv_geom(c1, c3, 1), act)),
        cv5_(weights::load_conv_bn<T>(b, p + "cv5.", ops::conv_geom(4 * c3, c2, 1), act)) {}
  Shape shape_for(const Shape& in) const override { return Shape{in[0], cv5_.g.c2, in[2], in[3]}; }
  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    Tensor<T> cat(Shape{in.n, 4 * c3_, in.h, in.w});
    View<T> v = view(cat);
    cv1_.forward(in, v.channels(0, c3_), ctx);
    ops::PoolGeom mp;
    mp.kh = mp.kw = 5;
    mp.ph = mp.pw = 2;
    for (int i = 0; i < 3; ++i) ops::max_pool2d<T>(v.channels(i * c3_, c3_), v.channels((i + 1) * c3_, c3_), mp, ctx);
    cv5_.forward(cview(cat), out, ctx);
  }
  std::int64_t macs_for(const Shape& in) const override {
    return conv_macs(cv1_, in) + conv_macs(cv5_, Shape{in[0], 4 * c3_, in[2], in[3]});
  }

 private:
  std::int64_t c3_;
  ops::Conv2d<T> cv1_, cv5_;
};

}  // namespace yv9::nn
