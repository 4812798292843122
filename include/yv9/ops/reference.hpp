// SPDX-License-Identifier: MIT
// Naive twins of the optimised kernels: obviously correct, slow, kept forever as the oracle that
// randomized tests compare the fast paths against. Each is written from PyTorch's definition and
// calls nothing of the kernel it checks (parameter structs such as ConvGeom and PoolGeom are only
// read for their fields).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/tensor.hpp"
#include "activation.hpp"
#include "conv.hpp"
#include "pool.hpp"

namespace yv9::ops::reference {

// Direct 7-loop convolution, accumulation in double.
template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const ConvGeom& g, const std::vector<T>& w, const std::vector<T>& bias,
                 Activation act) {
  const std::int64_t N = x.dim(0), H = x.dim(2), W = x.dim(3), Ho = g.out_h(H), Wo = g.out_w(W);
  const std::int64_t cin = g.c1 / g.groups, cout = g.c2 / g.groups;
  Tensor<T> y(Shape{N, g.c2, Ho, Wo});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < g.c2; ++o) {
      const std::int64_t grp = o / cout;
      for (std::int64_t oy = 0; oy < Ho; ++oy)
        for (std::int64_t ox = 0; ox < Wo; ++ox) {
          double acc = bias.empty() ? 0.0 : static_cast<double>(bias[o]);
          for (std::int64_t i = 0; i < cin; ++i)
            for (std::int64_t ky = 0; ky < g.kh; ++ky)
              for (std::int64_t kx = 0; kx < g.kw; ++kx) {
                const std::int64_t iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += static_cast<double>(w[((o * cin + i) * g.kh + ky) * g.kw + kx]) *
                       static_cast<double>(x.at(n, grp * cin + i, iy, ix));
              }
          y.at(n, o, oy, ox) = act(static_cast<T>(acc));
        }
    }
  return y;
}

// Materialised attention exactly as the seed computes it (per head: scores, softmax, product).
template <class T>
std::vector<T> attention(const T* Q, std::int64_t rows, const T* K, const T* V, std::int64_t Lk, std::int64_t d, T scale) {
  std::vector<T> O(static_cast<std::size_t>(rows * d));
  std::vector<double> s(static_cast<std::size_t>(Lk));
  for (std::int64_t r = 0; r < rows; ++r) {
    double mx = -std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < Lk; ++j) {
      double acc = 0;
      for (std::int64_t k = 0; k < d; ++k) acc += static_cast<double>(Q[r * d + k]) * K[k * Lk + j];
      s[j] = acc * scale;
      mx = std::max(mx, s[j]);
    }
    double sum = 0;
    for (std::int64_t j = 0; j < Lk; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (std::int64_t k = 0; k < d; ++k) {
      double acc = 0;
      for (std::int64_t j = 0; j < Lk; ++j) acc += s[j] / sum * V[j * d + k];
      O[r * d + k] = static_cast<T>(acc);
    }
  }
  return O;
}

// PyTorch's pooling output size (pooling_output_shape): floor or ceil of (in + 2p - k) / s, plus
// one; with ceil_mode a last window that would start beyond the input and its left padding is
// dropped. 0 where PyTorch would refuse the geometry.
inline std::int64_t pool_out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p, bool ceil_mode) {
  const std::int64_t num = in + 2 * p - (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  std::int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;  // floor division
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return std::max<std::int64_t>(out, 0);
}

// F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=g.ceil_mode) on NCHW, one window at a
// time. Padding never wins; PyTorch's update rule `val > max || isnan(val)` scanned row by row, so a
// NaN in the window gives NaN (the last one seen).
template <class T>
Tensor<T> max_pool2d(const Tensor<T>& x, const PoolGeom& g) {
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor<T> y(
      Shape{N, C, pool_out_size(H, g.kh, g.sh, g.ph, g.ceil_mode), pool_out_size(W, g.kw, g.sw, g.pw, g.ceil_mode)});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t oy = 0; oy < y.dim(2); ++oy)
        for (std::int64_t ox = 0; ox < y.dim(3); ++ox) {
          T m = -std::numeric_limits<T>::infinity();
          for (std::int64_t ky = 0; ky < g.kh; ++ky)
            for (std::int64_t kx = 0; kx < g.kw; ++kx) {
              const std::int64_t iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              const T v = x.at(n, c, iy, ix);
              if (v > m || std::isnan(v)) m = v;
            }
          y.at(n, c, oy, ox) = m;
        }
  return y;
}

// F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode, count_include_pad) on NCHW. PyTorch sums
// the taps inside the input row by row in T (float for float) and divides by the number of taps
// inside input + padding (count_include_pad) or inside the input.
template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, const PoolGeom& g) {
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor<T> y(
      Shape{N, C, pool_out_size(H, g.kh, g.sh, g.ph, g.ceil_mode), pool_out_size(W, g.kw, g.sw, g.pw, g.ceil_mode)});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t oy = 0; oy < y.dim(2); ++oy)
        for (std::int64_t ox = 0; ox < y.dim(3); ++ox) {
          T sum = 0;
          std::int64_t inside = 0, inside_padded = 0;
          for (std::int64_t ky = 0; ky < g.kh; ++ky)
            for (std::int64_t kx = 0; kx < g.kw; ++kx) {
              const std::int64_t iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
              if (iy < -g.ph || iy >= H + g.ph || ix < -g.pw || ix >= W + g.pw) continue;
              ++inside_padded;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              ++inside;
              sum += x.at(n, c, iy, ix);
            }
          const std::int64_t div = g.count_include_pad ? inside_padded : inside;
          y.at(n, c, oy, ox) = inside ? sum / static_cast<T>(div) : T(0);
        }
  return y;
}

// PyTorch's 'nearest' source index (UpSample.h, nearest_neighbor_compute_source_index):
// min(floor(dst * scale), in - 1), the product in float32, with scale = (float)in / out for
// F.interpolate(size=...) and (float)(1 / scale_factor) when nn.Upsample passes its scale_factor.
// (PyTorch shortcuts out == in and out == 2 * in with integer rules; the float rule gives the same
// indices there, dst * 1.0f and dst * 0.5f being exact, so the twin needs no special case.)
inline std::int64_t nearest_index(std::int64_t dst, std::int64_t in, std::int64_t out, double scale_factor = 0) {
  const float scale =
      scale_factor > 0 ? static_cast<float>(1.0 / scale_factor) : static_cast<float>(in) / static_cast<float>(out);
  const float src = std::floor(static_cast<float>(dst) * scale);
  return std::min(static_cast<std::int64_t>(src), in - 1);
}

// F.interpolate(x, size=(oh, ow), mode='nearest'), or nn.Upsample(scale_factor=s) with s > 0
// (then oh = H * s, ow = W * s).
template <class T>
Tensor<T> resize_nearest(const Tensor<T>& x, std::int64_t oh, std::int64_t ow, double scale_factor = 0) {
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor<T> y(Shape{N, C, oh, ow});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox)
          y.at(n, c, oy, ox) =
              x.at(n, c, nearest_index(oy, H, oh, scale_factor), nearest_index(ox, W, ow, scale_factor));
  return y;
}

}  // namespace yv9::ops::reference
