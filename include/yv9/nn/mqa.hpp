// SPDX-License-Identifier: MIT
// MultiQueryAttentionLayerWithDownSampling — MobileNetV4's Mobile MQA as the seed defines it.
//
//   x [C,H,W] ──(avg_pool (qh,qw) + BN, if strided)── _query_proj 1x1 ──> q [nh*kd, Hq, Wq]
//   x ──(_key_dw_conv dw k×k stride kv + BN, if kv>1)── _key_proj 1x1 ──> k [kd, Hk, Wk]
//   x ──(_value_dw_conv ...)───────────────────────── _value_proj 1x1 ──> v [kd, Hk, Wk]
//
// The seed's `view` calls reinterpret contiguous memory (they are not transposes):
//   Q = q's buffer read as [nh, Lq, kd] (stacked: [nh*Lq, kd]),  K = k's buffer as [kd, Lk],
//   V = v's buffer read as [Lk, kd]  (NOT k's layout transposed),
//   O = softmax(Q K / sqrt(kd / nh)) V  -> [nh*Lq, kd], read back as [nh*kd, Hq, Wq] -> _output_proj.
// The query BatchNorm is folded into _query_proj (BN then a bias-free 1x1 is one affine 1x1).
#pragma once
#include <cmath>
#include <string>
#include <type_traits>

#include "../ops/attention.hpp"
#include "../ops/conv.hpp"
#include "../ops/pool.hpp"
#include "../weights/fold.hpp"
#include "module.hpp"

namespace yv9::nn {

struct MqaArgs {
  std::int64_t in = 0, heads = 8, key_dim = 48, value_dim = 48, qh = 1, qw = 1, kv = 1, dw_k = 3;
};

template <class T>
class MultiQueryAttentionLayerWithDownSampling : public UnaryModule<T> {
 public:
  MultiQueryAttentionLayerWithDownSampling(weights::Binder& b, const std::string& p, const MqaArgs& a) : a_(a) {
    if (a.in <= 0 || a.heads <= 0 || a.key_dim <= 0 || a.qh <= 0 || a.qw <= 0 || a.kv <= 0 || a.dw_k <= 0)
      throw ConfigError(p + ": MQA arguments must be positive");
    if (a.key_dim / a.heads == 0)
      throw ConfigError(p + ": key_dim " + std::to_string(a.key_dim) + " < num_heads " + std::to_string(a.heads) +
                        " gives head_dim 0 (division by zero in the attention scale)");
    const std::int64_t qc = a.heads * a.key_dim;
    weights::BnAffine qbn;
    if (pooled()) qbn = weights::load_bn(b, p + "_query_downsampling_norm.", a.in);
    const ops::ConvGeom qg = ops::conv_geom(a.in, qc, 1, 1, 0);
    if (pooled()) {
      std::vector<double> qw = b.param(p + "_query_proj.0.weight", qg.weight_shape()).to<double>();
      std::vector<double> qbias;
      if (b.bound()) fold_bn_into_1x1(qbn, qw, qbias, qc, a.in);
      q_proj_ = weights::make_conv<T>(b, qg, weights::narrow<T>(qw), weights::narrow<T>(qbias), {});
    } else {
      q_proj_ = weights::load_conv2d<T>(b, p + "_query_proj.0.", qg, false);
    }
    if (a.kv > 1) {
      const ops::ConvGeom dw = ops::conv_geom(a.in, a.in, a.dw_k, a.kv, (a.dw_k - 1) / 2, a.in);
      key_dw_ = load_dw_bn(b, p + "_key_dw_conv.", dw);
      value_dw_ = load_dw_bn(b, p + "_value_dw_conv.", dw);
    }
    key_proj_ = weights::load_conv2d<T>(b, p + "_key_proj.0.", ops::conv_geom(a.in, a.key_dim, 1, 1, 0), false);
    value_proj_ = weights::load_conv2d<T>(b, p + "_value_proj.0.", ops::conv_geom(a.in, a.key_dim, 1, 1, 0), false);
    out_proj_ = weights::load_conv2d<T>(b, p + "_output_proj.0.", ops::conv_geom(qc, a.in, 1, 1, 0), false);
    if (b.bf16()) attn_precision_ = ops::AttnPrecision::Bf16;  // the load checked the CPU (model::Precision)
    // The memory this layer will need at the load's image size leaves less for Winograd (Binder).
    if (const weights::Binder::Map m = b.map(); m.h > 0 && m.w > 0)
      b.reserve_scratch(static_cast<std::int64_t>(scratch_bytes(Shape{1, a.in, m.h, m.w}, 2)));
  }

  const MqaArgs& args() const { return a_; }
  bool pooled() const { return a_.qh > 1 || a_.qw > 1; }
  std::int64_t head_dim() const { return a_.key_dim / a_.heads; }
  std::int64_t q_h(std::int64_t h) const { return pooled() ? h / a_.qh : h; }
  std::int64_t q_w(std::int64_t w) const { return pooled() ? w / a_.qw : w; }
  std::int64_t kv_h(std::int64_t h) const { return a_.kv > 1 ? key_dw_.g.out_h(h) : h; }
  std::int64_t kv_w(std::int64_t w) const { return a_.kv > 1 ? key_dw_.g.out_w(w) : w; }

  Shape shape_for(const Shape& in) const override { return Shape{in[0], a_.in, q_h(in[2]), q_w(in[3])}; }

  std::int64_t macs_for(const Shape& in) const override {
    const std::int64_t H = in[2], W = in[3], Lq = q_h(H) * q_w(W), Lk = kv_h(H) * kv_w(W);
    std::int64_t m = q_proj_.g.macs(q_h(H), q_w(W)) + out_proj_.g.macs(q_h(H), q_w(W));
    if (a_.kv > 1) m += key_dw_.g.macs(H, W) + value_dw_.g.macs(H, W);
    m += key_proj_.g.macs(kv_h(H), kv_w(W)) + value_proj_.g.macs(kv_h(H), kv_w(W));
    m += 2 * a_.heads * Lq * Lk * a_.key_dim;  // QK^T and PV
    return in[0] * m;
  }
  // Scratch held while one batch item runs: q, k, v, the context, the pooled / dw-conv inputs,
  // and the attention tiles. Independent of the number of keys beyond k and v themselves.
  std::size_t scratch_bytes(const Shape& in, int threads) const {
    const std::int64_t H = in[2], W = in[3], Lq = q_h(H) * q_w(W), Lk = kv_h(H) * kv_w(W);
    std::int64_t elems = 2 * a_.heads * a_.key_dim * Lq + 2 * a_.key_dim * Lk;
    if (pooled()) elems += a_.in * Lq;
    if (a_.kv > 1) elems += a_.in * Lk;  // one dw-conv output alive at a time
    return static_cast<std::size_t>(elems) * sizeof(T) + ops::attention_scratch_bytes<T>(a_.key_dim, Lk, threads);
  }

  void run(View<const T> in, View<T> out, const Context& ctx) const override {
    const std::int64_t Hq = q_h(in.h), Wq = q_w(in.w);
    if (Hq <= 0 || Wq <= 0) throw Error("MQA: input " + std::to_string(in.h) + "x" + std::to_string(in.w) +
                                        " is smaller than the query strides");
    for (std::int64_t b = 0; b < in.n; ++b) {
      View<const T> x{in.item(b), 1, in.c, in.h, in.w, in.ns};
      Tensor<T> ctxt = context(x, ctx);
      out_proj_.forward(cview(ctxt), View<T>{out.item(b), 1, out.c, out.h, out.w, out.ns}, ctx);
    }
  }

  // The attention result read back as [1, nh*kd, Hq, Wq] (the input of _output_proj), one batch item.
  Tensor<T> context(View<const T> x, const Context& ctx) const {
    const std::int64_t Hq = q_h(x.h), Wq = q_w(x.w);
    const std::int64_t Lq = Hq * Wq;
    const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(head_dim())));
    // The result overwrites q: both are [heads*Lq x key_dim] in memory, and q's shape
    // [1, heads*key_dim, Hq, Wq] is how _output_proj reads the result (the seed's raw view).
    if constexpr (std::is_same_v<T, float>) {
      // K and V are packed, and freed, before Q exists.
      ops::PackedKV kv;
      {
        const Tensor<T> k = project(x, key_dw_, key_proj_, ctx), v = project(x, value_dw_, value_proj_, ctx);
        kv = ops::pack_kv(k.data(), v.data(), k.dim(2) * k.dim(3), a_.key_dim, ctx, attn_precision_);
      }
      Tensor<T> q = query(x, ctx);
      ops::attention_packed(q.data(), a_.heads * Lq, kv, scale, q.data(), ctx);
      return q;
    }
    Tensor<T> q = query(x, ctx);
    Tensor<T> k = project(x, key_dw_, key_proj_, ctx);
    Tensor<T> v = project(x, value_dw_, value_proj_, ctx);
    const std::int64_t Lk = k.dim(2) * k.dim(3);
    ops::attention_tiled<T>(q.data(), a_.heads * Lq, k.data(), v.data(), Lk, a_.key_dim, scale, q.data(), ctx);
    return q;
  }

  // Intermediates for tests against the fixtures' q_/k_/v_/context_ arrays (batch item 0).
  Tensor<T> query(View<const T> x, const Context& ctx) const {
    if (!pooled()) return ops::run_conv(q_proj_, x, ctx);
    Tensor<T> pooled_x(Shape{1, x.c, q_h(x.h), q_w(x.w)});
    ops::PoolGeom pg;
    pg.kh = pg.sh = a_.qh;
    pg.kw = pg.sw = a_.qw;
    ops::avg_pool2d(x, view(pooled_x), pg, ctx);
    return ops::run_conv(q_proj_, cview(pooled_x), ctx);
  }
  Tensor<T> key(View<const T> x, const Context& ctx) const { return project(x, key_dw_, key_proj_, ctx); }
  Tensor<T> value(View<const T> x, const Context& ctx) const { return project(x, value_dw_, value_proj_, ctx); }

 private:
  Tensor<T> project(View<const T> x, const ops::Conv2d<T>& dw, const ops::Conv2d<T>& proj, const Context& ctx) const {
    if (a_.kv <= 1) return ops::run_conv(proj, x, ctx);
    Tensor<T> d = ops::run_conv(dw, x, ctx);
    return ops::run_conv(proj, cview(d), ctx);
  }

  // the seed's conv2d(..., norm=True, act=False): Sequential(Conv2d(bias=False), BatchNorm2d)
  static ops::Conv2d<T> load_dw_bn(weights::Binder& b, const std::string& p, const ops::ConvGeom& g) {
    ops::check_geom(g, p);
    std::vector<double> w = b.param(p + "0.weight", g.weight_shape()).to<double>();
    weights::FoldedConv f = weights::fold_bn(std::move(w), weights::load_bn(b, p + "1.", g.c2));
    return weights::make_conv<T>(b, g, weights::narrow<T>(f.w), weights::narrow<T>(f.bias), {});
  }

  // proj(BN(x)) = (W diag(s)) x + W t, in double before rounding to T.
  static void fold_bn_into_1x1(const weights::BnAffine& bn, std::vector<double>& w, std::vector<double>& bias, std::int64_t co,
                               std::int64_t ci) {
    bias.assign(static_cast<std::size_t>(co), 0.0);
    for (std::int64_t o = 0; o < co; ++o)
      for (std::int64_t i = 0; i < ci; ++i) {
        bias[o] += w[o * ci + i] * bn.shift[i];
        w[o * ci + i] *= bn.scale[i];
      }
  }

  MqaArgs a_;
  ops::Conv2d<T> q_proj_, key_dw_, value_dw_, key_proj_, value_proj_, out_proj_;
  ops::AttnPrecision attn_precision_ = ops::AttnPrecision::Fp32;  // Bf16 on bf16 loads (ops/attention.hpp)
};

}  // namespace yv9::nn
