// SPDX-License-Identifier: MIT
// Convolutions from PyTorch names, with the load-time transforms:
//   Conv      = conv (no bias) -> BatchNorm2d -> act   [prefix.conv.weight, prefix.bn.*]  (BN folded)
//   nn.Conv2d = conv (+ bias)                          [prefix.weight, prefix.bias]
//   RepConvN  = act(Conv3x3 (no act) + Conv1x1 (no act))  [prefix.conv1.*, prefix.conv2.*] (fused to one 3x3)
// Folding is done in double and rounded once to T:
//   w' = w * gamma / sqrt(var + eps),   b' = beta - mean * gamma / sqrt(var + eps)
// Unfolded weights go from the stored dtype straight to T.
#pragma once
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../ops/conv.hpp"
#include "binder.hpp"

namespace yv9::weights {

using ops::Activation;
using ops::ConvGeom;

// BatchNorm2d as y = x*scale + shift (double). Empty in spec mode.
struct BnAffine {
  std::vector<double> scale, shift;
};

inline BnAffine load_bn(Binder& b, const std::string& prefix, std::int64_t c) {
  const std::vector<std::int64_t> s{c};
  const std::vector<double> gamma = b.param(prefix + "weight", s).to<double>();
  const std::vector<double> beta = b.param(prefix + "bias", s).to<double>();
  const std::vector<double> mean = b.buffer(prefix + "running_mean", s).to<double>();
  const std::vector<double> var = b.buffer(prefix + "running_var", s).to<double>();
  b.optional(prefix + "num_batches_tracked");
  BnAffine bn;
  if (!b.bound()) return bn;
  const double eps = b.bn_eps(prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1));
  bn.scale.resize(static_cast<std::size_t>(c));
  bn.shift.resize(static_cast<std::size_t>(c));
  for (std::size_t i = 0; i < static_cast<std::size_t>(c); ++i) {
    bn.scale[i] = gamma[i] / std::sqrt(var[i] + eps);
    bn.shift[i] = beta[i] - mean[i] * bn.scale[i];
  }
  return bn;
}

template <class T, class U>
std::vector<T> narrow(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Takes the weights by value (callers move them in) and frees them once packed: at load time the
// peak is the weights already packed plus one conv's transient copies.
// It is packed for the path the Binder's load chose (Binder::conv_algo) and the map it expects.
template <class T>
ops::Conv2d<T> make_conv(const Binder& b, const ConvGeom& g, std::vector<T> w, std::vector<T> bias, Activation act) {
  ops::Conv2d<T> c;
  c.g = g;
  c.act = act;
  c.weight = std::move(w);
  c.bias = std::move(bias);
  if (c.weight.empty() || !b.packing()) return c;  // spec mode has nothing to pack
  ops::ConvAlgo algo = b.conv_algo();
  if constexpr (std::is_same_v<T, float>) {
    if (algo == ops::ConvAlgo::Auto && !c.direct_for(algo, b.map().h, b.map().w, b.bf16())) {
      // extra bytes over im2col's 9 values per 3x3 kernel (Winograd: groups == 1)
      const std::int64_t kernels = g.c1 * g.c2 * (b.bf16() ? 2 : std::int64_t(sizeof(float)));
      const int w = c.winograd_for(algo, b.map().h, b.map().w, b.bf16());
      if (w == 4 && !b.claim_winograd_extra(kernels * (ops::Winograd3x3<4>::a2 - 9))) algo = ops::ConvAlgo::F2;
      if ((w == 2 || algo == ops::ConvAlgo::F2) && !b.claim_winograd_extra(kernels * (ops::Winograd3x3<2>::a2 - 9)))
        algo = ops::ConvAlgo::Im2col;
    }
  }
  c.finalize(algo, false, b.map().h, b.map().w, b.bf16());
  return c;
}

// A Conv module's weights with its BatchNorm folded in, in double (RepConvN fusion adds two).
struct FoldedConv {
  std::vector<double> w, bias;
};

// The BatchNorm `bn` folded into `w` ([c2][per] rows): w *= scale per row, bias = shift.
inline FoldedConv fold_bn(std::vector<double> w, const BnAffine& bn) {
  FoldedConv f{std::move(w), bn.shift};
  if (bn.scale.empty()) return f;
  const std::size_t per = f.w.size() / bn.scale.size();
  for (std::size_t o = 0; o < bn.scale.size(); ++o)
    for (std::size_t k = 0; k < per; ++k) f.w[o * per + k] *= bn.scale[o];
  return f;
}

inline FoldedConv load_conv_bn_folded(Binder& b, const std::string& prefix, const ConvGeom& g) {
  ops::check_geom(g, prefix);
  std::vector<double> w = b.param(prefix + "conv.weight", g.weight_shape()).to<double>();
  return fold_bn(std::move(w), load_bn(b, prefix + "bn.", g.c2));
}

// upstream `Conv`: conv -> BN -> act
template <class T>
ops::Conv2d<T> load_conv_bn(Binder& b, const std::string& prefix, const ConvGeom& g, Activation act) {
  FoldedConv f = load_conv_bn_folded(b, prefix, g);
  std::vector<T> w = narrow<T>(f.w);
  std::vector<double>().swap(f.w);
  return make_conv<T>(b, g, std::move(w), narrow<T>(f.bias), act);
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
  std::vector<T> w, bias;
  if (b.bound()) w.reserve(static_cast<std::size_t>(numel));  // spec mode loads no weights
  for (const auto& part : parts) {
    const FoldedConv f = load_conv_bn_folded(b, part.first, part.second);
    w.insert(w.end(), f.w.begin(), f.w.end());
    bias.insert(bias.end(), f.bias.begin(), f.bias.end());
  }
  return make_conv<T>(b, g, std::move(w), std::move(bias), act);
}

// torch.nn.Conv2d (optionally with bias): CBLinear, the heads' last layers, the MQA projections.
template <class T>
ops::Conv2d<T> load_conv2d(Binder& b, const std::string& prefix, const ConvGeom& g, bool has_bias,
                           Activation act = {}) {
  ops::check_geom(g, prefix);
  std::vector<T> w = b.param(prefix + "weight", g.weight_shape()).to<T>();
  std::vector<T> bias;
  if (has_bias) bias = b.param(prefix + "bias", {g.c2}).to<T>();
  return make_conv<T>(b, g, std::move(w), std::move(bias), act);
}

// RepConvN(c1, c2, 3, 1): act(BN(conv3x3(x)) + BN(conv1x1(x))) fused into one 3x3 with bias.
template <class T>
ops::Conv2d<T> load_repconvn(Binder& b, const std::string& prefix, std::int64_t c1, std::int64_t c2, Activation act) {
  const ConvGeom g3 = ops::conv_geom(c1, c2, 3, 1, 1), g1 = ops::conv_geom(c1, c2, 1, 1, 0);
  FoldedConv f3 = load_conv_bn_folded(b, prefix + "conv1.", g3);
  const FoldedConv f1 = load_conv_bn_folded(b, prefix + "conv2.", g1);
  if (b.bound()) {
    for (std::int64_t o = 0; o < c2; ++o) {
      f3.bias[o] += f1.bias[o];
      for (std::int64_t i = 0; i < c1; ++i) f3.w[((o * c1 + i) * 3 + 1) * 3 + 1] += f1.w[o * c1 + i];
    }
  }
  std::vector<T> w = narrow<T>(f3.w);
  std::vector<double>().swap(f3.w);
  return make_conv<T>(b, g3, std::move(w), narrow<T>(f3.bias), act);
}

}  // namespace yv9::weights
