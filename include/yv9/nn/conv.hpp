// Loading convolutions from PyTorch names, with the load-time transforms:
//   Conv      = conv (no bias) -> BatchNorm2d -> act   [prefix.conv.weight, prefix.bn.*]  (BN folded)
//   nn.Conv2d = conv (+ bias)                          [prefix.weight, prefix.bias]
//   RepConvN  = act(Conv3x3 (no act) + Conv1x1 (no act))  [prefix.conv1.*, prefix.conv2.*] (fused to one 3x3)
// Folding is done in double and rounded once to T:
//   w' = w * gamma / sqrt(var + eps),   b' = beta - mean * gamma / sqrt(var + eps)
#pragma once
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../model/binder.hpp"
#include "../ops/conv.hpp"

namespace yv9::nn {

using model::Binder;
using ops::Activation;
using ops::ConvGeom;

inline ConvGeom conv_geom(std::int64_t c1, std::int64_t c2, std::int64_t k, std::int64_t s = 1, std::int64_t p = -1,
                          std::int64_t g = 1, std::int64_t d = 1) {
  ConvGeom geo;
  geo.c1 = c1;
  geo.c2 = c2;
  geo.kh = geo.kw = k;
  geo.sh = geo.sw = s;
  // upstream autopad: 'same' padding for odd kernels, with dilation taken into account
  const std::int64_t keff = d > 1 ? d * (k - 1) + 1 : k;
  geo.ph = geo.pw = p < 0 ? keff / 2 : p;
  geo.dh = geo.dw = d;
  geo.groups = g;
  return geo;
}

inline void check_geom(const ConvGeom& g, const std::string& name) {
  if (g.c1 <= 0 || g.c2 <= 0 || g.kh <= 0 || g.sh <= 0 || g.dh <= 0 || g.ph < 0 || g.groups <= 0)
    throw ConfigError(name + ": invalid convolution (" + g.str() + ")");
  if (g.c1 % g.groups || g.c2 % g.groups)
    throw ConfigError(name + ": channels " + std::to_string(g.c1) + "->" + std::to_string(g.c2) +
                      " are not divisible by groups=" + std::to_string(g.groups));
}

inline std::vector<std::int64_t> weight_shape(const ConvGeom& g) { return {g.c2, g.c1 / g.groups, g.kh, g.kw}; }

// BatchNorm2d as y = x*scale + shift (double).
struct BnAffine {
  std::vector<double> scale, shift;
};

inline BnAffine load_bn(Binder& b, const std::string& prefix, std::int64_t c) {
  const std::vector<std::int64_t> s{c};
  auto gamma = b.param(prefix + "weight", s);
  auto beta = b.param(prefix + "bias", s);
  auto mean = b.buffer(prefix + "running_mean", s);
  auto var = b.buffer(prefix + "running_var", s);
  b.optional(prefix + "num_batches_tracked");
  BnAffine bn;
  if (!b.bound()) return bn;
  std::string key = prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1);
  const double eps = b.bn_eps(key);
  bn.scale.resize(c);
  bn.shift.resize(c);
  for (std::int64_t i = 0; i < c; ++i) {
    bn.scale[i] = gamma[i] / std::sqrt(var[i] + eps);
    bn.shift[i] = beta[i] - mean[i] * bn.scale[i];
  }
  return bn;
}

// Takes the double weights by value (callers move them in) and frees them before packing: at load
// time the peak is the weights already packed plus one conv's transient copies, so a layer holds
// at most its float copy and its packed copy at once.
template <class T>
ops::Conv2d<T> make_conv(const ConvGeom& g, std::vector<double> w, const std::vector<double>& bias, Activation act) {
  ops::Conv2d<T> c;
  c.g = g;
  c.act = act;
  c.weight.assign(w.begin(), w.end());
  const bool has_weights = !w.empty();  // spec mode (no weights) has nothing to pack
  std::vector<double>().swap(w);
  c.bias.assign(bias.begin(), bias.end());
  if (has_weights) c.finalize();
  return c;
}

// Raw weights of a Conv module with BN folded in (double): used by RepConvN fusion too.
inline void load_conv_bn_raw(Binder& b, const std::string& prefix, const ConvGeom& g, std::vector<double>& w,
                             std::vector<double>& bias) {
  check_geom(g, prefix);
  w = b.param(prefix + "conv.weight", weight_shape(g));
  BnAffine bn = load_bn(b, prefix + "bn.", g.c2);
  bias.clear();
  if (!b.bound()) return;
  const std::int64_t per = g.c1 / g.groups * g.kh * g.kw;
  for (std::int64_t o = 0; o < g.c2; ++o)
    for (std::int64_t k = 0; k < per; ++k) w[o * per + k] *= bn.scale[o];
  bias = bn.shift;
}

// upstream `Conv`: conv -> BN -> act
template <class T>
ops::Conv2d<T> load_conv_bn(Binder& b, const std::string& prefix, const ConvGeom& g, Activation act) {
  std::vector<double> w, bias;
  load_conv_bn_raw(b, prefix, g, w, bias);
  return make_conv<T>(g, std::move(w), bias, act);
}

// Several upstream `Conv`s that read the same input with the same geometry except c2, run as one:
// their BN-folded rows stacked in the order given (each output channel keeps its own FMA chain,
// so the results are the same bits). parts: (weight prefix, geometry); the returned conv's c2 is
// the sum. The input is packed once and the GEMM gets all the rows.
template <class T>
ops::Conv2d<T> load_conv_bn_stacked(Binder& b, const std::vector<std::pair<std::string, ConvGeom>>& parts,
                                    Activation act) {
  ConvGeom g = parts.at(0).second;
  g.c2 = 0;
  std::int64_t numel = 0;
  for (const auto& part : parts) {
    g.c2 += part.second.c2;
    numel += part.second.weight_numel();
  }
  std::vector<double> w, bias, wp, bp;
  if (b.bound()) w.reserve(static_cast<std::size_t>(numel));  // spec mode loads no weights
  for (const auto& part : parts) {
    load_conv_bn_raw(b, part.first, part.second, wp, bp);
    w.insert(w.end(), wp.begin(), wp.end());
    bias.insert(bias.end(), bp.begin(), bp.end());
  }
  std::vector<double>().swap(wp);
  return make_conv<T>(g, std::move(w), bias, act);
}

// torch.nn.Conv2d (optionally with bias), used by CBLinear, the heads' last layer and MQA projections.
template <class T>
ops::Conv2d<T> load_conv2d(Binder& b, const std::string& prefix, const ConvGeom& g, bool has_bias,
                           Activation act = {}) {
  check_geom(g, prefix);
  auto w = b.param(prefix + "weight", weight_shape(g));
  std::vector<double> bias;
  if (has_bias) bias = b.param(prefix + "bias", {g.c2});
  return make_conv<T>(g, std::move(w), bias, act);
}

// RepConvN(c1, c2, 3, 1): act(BN(conv3x3(x)) + BN(conv1x1(x))) fused into one 3x3 with bias.
template <class T>
ops::Conv2d<T> load_repconvn(Binder& b, const std::string& prefix, std::int64_t c1, std::int64_t c2, Activation act) {
  const ConvGeom g3 = conv_geom(c1, c2, 3, 1, 1), g1 = conv_geom(c1, c2, 1, 1, 0);
  std::vector<double> w3, b3, w1, b1;
  load_conv_bn_raw(b, prefix + "conv1.", g3, w3, b3);
  load_conv_bn_raw(b, prefix + "conv2.", g1, w1, b1);
  if (b.bound()) {
    for (std::int64_t o = 0; o < c2; ++o) {
      b3[o] += b1[o];
      for (std::int64_t i = 0; i < c1; ++i) w3[((o * c1 + i) * 3 + 1) * 3 + 1] += w1[o * c1 + i];
    }
  }
  std::vector<double>().swap(w1);
  return make_conv<T>(g3, std::move(w3), b3, act);
}

template <class T>
Tensor<T> run_conv(const ops::Conv2d<T>& c, View<const T> in, const Context& ctx) {
  Tensor<T> out(Shape{in.n, c.g.c2, c.g.out_h(in.h), c.g.out_w(in.w)});
  c.forward(in, view(out), ctx);
  return out;
}

}  // namespace yv9::nn
