// Multi-query attention in tiles with an online softmax: the [rows x Lk] score matrix is never
// materialised (at 640x640 the seed model's first MQA would need 8 x 25,600^2 floats = 21 GB).
//
//   Q [rows x d]   row-major (all heads stacked: rows = heads * Lq; MQA shares K and V)
//   K [d x Lk]     row-major (k's NCHW buffer as is)
//   V [Lk x d]     row-major (v's NCHW buffer *reinterpreted*, as the seed's view does)
//   O [rows x d] = softmax(scale * Q K) V
//
// Each block of kRowBlock query rows is owned by one thread and walks the keys in kColBlock
// chunks in a fixed order, so results do not depend on the thread count. Scratch per thread:
// kRowBlock x (kColBlock + d + 2) values.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/view.hpp"
#include "gemm.hpp"

namespace yv9::ops {

inline constexpr std::int64_t kAttnRowBlock = 64;
inline constexpr std::int64_t kAttnColBlock = 256;

template <class T>
std::size_t attention_scratch_bytes(std::int64_t d, int threads) {
  return static_cast<std::size_t>(threads) * kAttnRowBlock * (kAttnColBlock + d + 2) * sizeof(T);
}

template <class T>
void attention_tiled(const T* Q, std::int64_t rows, const T* K, const T* V, std::int64_t Lk, std::int64_t d, T scale,
                     T* O, const Context& ctx) {
  const std::int64_t blocks = (rows + kAttnRowBlock - 1) / kAttnRowBlock;
#pragma omp parallel num_threads(ctx.threads)
  {
    std::vector<T> S(static_cast<std::size_t>(kAttnRowBlock * kAttnColBlock));
    std::vector<T> acc(static_cast<std::size_t>(kAttnRowBlock * d));
    std::vector<T> m(kAttnRowBlock), l(kAttnRowBlock);
#pragma omp for schedule(static)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t r0 = blk * kAttnRowBlock, nr = std::min(kAttnRowBlock, rows - r0);
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
      std::fill(l.begin(), l.end(), T(0));
      for (std::int64_t c0 = 0; c0 < Lk; c0 += kAttnColBlock) {
        const std::int64_t nc = std::min(kAttnColBlock, Lk - c0);
        gemm<T>(nr, nc, d, Q + r0 * d, d, K + c0, Lk, S.data(), nc);
        for (std::int64_t r = 0; r < nr; ++r) {
          T* s = S.data() + r * nc;
          T mx = m[r];
          for (std::int64_t j = 0; j < nc; ++j) {
            s[j] *= scale;
            mx = std::max(mx, s[j]);
          }
          const T corr = std::exp(m[r] - mx);  // exp(-inf) = 0 on the first block
          T sum = 0;
          for (std::int64_t j = 0; j < nc; ++j) {
            s[j] = std::exp(s[j] - mx);
            sum += s[j];
          }
          l[r] = l[r] * corr + sum;
          m[r] = mx;
          T* a = acc.data() + r * d;
          for (std::int64_t k = 0; k < d; ++k) a[k] *= corr;
        }
        gemm<T>(nr, d, nc, S.data(), nc, V + c0 * d, d, acc.data(), d, /*accumulate=*/true);
      }
      for (std::int64_t r = 0; r < nr; ++r) {
        const T inv = T(1) / l[r];
        for (std::int64_t k = 0; k < d; ++k) O[(r0 + r) * d + k] = acc[r * d + k] * inv;
      }
    }
  }
}

}  // namespace yv9::ops
