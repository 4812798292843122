// SPDX-License-Identifier: MIT
// Direct 3x3 stride-1 'same' convolution (float) for layers too small for im2col or Winograd to
// pay off: few channels, small maps (gelan-t's 16..48-channel bottlenecks, every 10x10 map of the
// small models). im2col writes 9 copies of the input before a GEMM whose M (the output channels)
// is too short to reuse them; Winograd's transforms cost more than the multiplications they save.
//
// Each job is a band of output rows of one image. It copies the band's input rows, with one row
// of zeros above and below and one zero column each side, into a "slab" ([c_in][rows+2][W+2],
// in L1/L2). In the slab every tap (ky, kx) of output position p = y*(W+2) + x is the element
// p + ky*(W+2) + kx of its channel plane, so one contiguous run of output positions (kDirectT of
// them, across row ends) reads contiguous runs of the slab for every tap: the micro-kernel
// keeps kDirectMR output channels x kDirectT positions in registers and streams over
// (c_in, ky, kx), one broadcast weight per channel and tap. The two positions per row that fall
// on the pad columns are computed and dropped.
//
// Every output is one chain of fused multiply-adds in (c_in, ky, kx) order from 0, then
// act(sum + bias): the same bits whatever the bands, the threads or the position of the run.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/error.hpp"
#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "sgemm.hpp"

namespace yv9::ops {

inline constexpr int kDirectMR = 4;  // output channels per micro-tile
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
inline constexpr int kDirectNV = 3;  // registers of positions: 4 x 3 accumulators + 3 inputs + 1 weight
inline constexpr int kDirectT = kDirectNV * gemm_detail::Isa::W;
#else
inline constexpr int kDirectT = 16;
#endif

namespace direct_detail {

// tmp[m * kDirectT + t] = sum over (ci, ky, kx) of w[((ci*3 + ky)*3 + kx) * kDirectMR + m] *
// s[ci*ss + ky*wp + kx + t], for m < kDirectMR and t < kDirectT.
inline void tile(const float* s, std::int64_t ss, std::int64_t wp, std::int64_t c1, const float* w, float* tmp) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  using Isa = gemm_detail::Isa;
  using V = Isa::V;
  constexpr int W = Isa::W, NV = kDirectNV, MR = kDirectMR;
  V acc[MR][NV];
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = Isa::zero();
  for (std::int64_t ci = 0; ci < c1; ++ci, s += ss)
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ++ky)
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx, w += MR) {
        const float* sk = s + ky * wp + kx;
        V x[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) x[v] = Isa::load(sk + v * W);
#pragma GCC unroll 4
        for (int m = 0; m < MR; ++m) {
          const V wv = Isa::set1(w[m]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[m][v] = Isa::fma(wv, x[v], acc[m][v]);
        }
      }
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) Isa::store(tmp + m * kDirectT + v * W, acc[m][v]);
#else
  float acc[kDirectMR][kDirectT] = {};
  for (std::int64_t ci = 0; ci < c1; ++ci, s += ss)
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx, w += kDirectMR) {
        const float* sk = s + ky * wp + kx;
        for (int m = 0; m < kDirectMR; ++m)
          for (int t = 0; t < kDirectT; ++t) acc[m][t] += w[m] * sk[t];
      }
  std::memcpy(tmp, acc, sizeof acc);
#endif
}

}  // namespace direct_detail

class Direct3x3 {
 public:
  Direct3x3() = default;
  // weight: PyTorch's layout [c2][c1][3][3].
  Direct3x3(const float* weight, std::int64_t c1, std::int64_t c2) : c1_(c1), c2_(c2) {
    const std::int64_t K = c1 * 9, blocks = (c2 + kDirectMR - 1) / kDirectMR;
    w_.assign(static_cast<std::size_t>(blocks * K * kDirectMR), 0.0f);
    for (std::int64_t co = 0; co < c2; ++co)
      for (std::int64_t k = 0; k < K; ++k)
        w_[static_cast<std::size_t>(((co / kDirectMR) * K + k) * kDirectMR + co % kDirectMR)] = weight[co * K + k];
  }

  bool empty() const { return w_.empty(); }

  // out = act(conv(in) + bias); bias may be null. act: as sgemm's epilogue (slope: LeakyReLU).
  void forward(View<const float> in, View<float> out, const float* bias, EpiAct act, float slope,
               const Context& ctx) const {
    const std::int64_t H = in.h, W = in.w, wp = W + 2;
    if (in.c != c1_ || out.c != c2_ || out.h != H || out.w != W || in.n != out.n)
      throw Error("Direct3x3: bad view shapes");
    if (H <= 0 || W <= 0) return;
    const int nt = ctx.threads_for(in.n * H * W * c1_ * c2_ * 9, kGrainMacs);
    // Bands: about four per thread so the last one does not leave the others waiting long; at
    // most 16 rows, so a band's slab stays small.
    const std::int64_t band = std::max<std::int64_t>(1, std::min<std::int64_t>(16, (H + 4 * nt - 1) / (4 * nt)));
    const std::int64_t bands = (H + band - 1) / band;
    const std::int64_t K = c1_ * 9, blocks = (c2_ + kDirectMR - 1) / kDirectMR;
    // slab planes, then the slack the last run of the last plane reads past its end
    const std::size_t slab_floats = static_cast<std::size_t>(c1_ * (band + 2) * wp + kDirectT + 2);
    parallel_for(nt, in.n * bands, [&](Jobs& q) {
      float* const slab = gemm_thread_scratch(slab_floats + kDirectMR * kDirectT);
      float* const tmp = slab + slab_floats;
      for (std::int64_t job; q.next(job);) {
        const std::int64_t b = job / bands, y0 = job % bands * band, rows = std::min(band, H - y0);
        const std::int64_t ss = (rows + 2) * wp, P = rows * wp;
        for (std::int64_t ci = 0; ci < c1_; ++ci) {
          const float* src = in.plane(b, ci);
          float* dst = slab + ci * ss;
          for (std::int64_t r = 0; r < rows + 2; ++r, dst += wp) {
            const std::int64_t iy = y0 - 1 + r;
            if (iy < 0 || iy >= H) {
              std::fill(dst, dst + wp, 0.0f);
              continue;
            }
            dst[0] = 0.0f;
            std::memcpy(dst + 1, src + iy * W, sizeof(float) * static_cast<std::size_t>(W));
            dst[W + 1] = 0.0f;
          }
        }
        std::fill(slab + c1_ * ss, slab + slab_floats, 0.0f);
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
          const std::int64_t co0 = blk * kDirectMR, mr = std::min<std::int64_t>(kDirectMR, c2_ - co0);
          const float* wb = w_.data() + blk * K * kDirectMR;
          for (std::int64_t p = 0; p < P; p += kDirectT) {
            direct_detail::tile(slab + p, ss, wp, c1_, wb, tmp);
            const int n = static_cast<int>(std::min<std::int64_t>(kDirectT, P - p));
            gemm_detail::epilogue_tile(tmp, kDirectT, static_cast<int>(mr), n, bias ? bias + co0 : nullptr, act, slope);
            // copy the run's real positions (not the pad columns) row piece by row piece
            for (std::int64_t m = 0; m < mr; ++m) {
              float* o = out.plane(b, co0 + m) + y0 * W;
              for (std::int64_t t = 0; t < n;) {
                const std::int64_t qpos = p + t, y = qpos / wp, x = qpos % wp;
                if (x >= W) {
                  t += wp - x;
                  continue;
                }
                const std::int64_t len = std::min<std::int64_t>(W - x, n - t);
                std::memcpy(o + y * W + x, tmp + m * kDirectT + t, sizeof(float) * static_cast<std::size_t>(len));
                t += len;
              }
            }
          }
        }
      }
    });
  }

 private:
  std::int64_t c1_ = 0, c2_ = 0;
  std::vector<float> w_;  // [ceil(c2 / kDirectMR)][c1 * 9][kDirectMR], zero past c2
};

}  // namespace yv9::ops
