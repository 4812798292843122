// Naive twins of the optimised kernels: obviously correct, slow, kept forever as the oracle that
// randomized tests compare the fast paths against.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/tensor.hpp"
#include "activation.hpp"
#include "conv.hpp"

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

}  // namespace yv9::ops::reference
