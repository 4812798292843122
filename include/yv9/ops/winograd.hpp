// SPDX-License-Identifier: MIT
// Winograd convolution F(m x m, 3 x 3) for 3x3, stride-1, dilation-1, ungrouped convolutions with
// padding 1 (the bulk of every GELAN): each m x m output tile comes from an a x a input tile
// (a = m + 2) with a^2 multiplications per input channel instead of 9 m^2 (F(2,3): 16 vs 36,
// F(4,3): 36 vs 144). Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016).
//
//   U[xi] = (G g G^T)[xi]          K x C, per output channel k and input channel c (made at load,
//                                   in double, packed for sgemm)
//   V[xi] = (B^T d B)[xi]          C x T, per input channel and tile d (a x a, zero outside the map)
//   M[xi] = U[xi] * V[xi]          a^2 products of K x C by C x T (sgemm)
//   Y     = A^T M A                 m x m per output channel and tile, then + bias, activation
//
// Tiles are processed in blocks (one job each); a block transforms its input tiles into V, runs
// the a^2 products and transforms back, so V and M stay in cache. Each output element is one fixed
// chain of operations whatever the block split or thread count (sgemm's contract; the transforms
// are per tile), so results are bit-identical for any number of threads.
//
// Accuracy: the transforms add rounding that direct convolution does not have; F(2,3)'s constants
// (0, +-1, 1/2) keep it near the direct path, F(4,3)'s (up to 8 and 1/24) make it several times
// larger. tests/test_winograd.cpp measures both against float64.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "activation.hpp"
#include "sgemm.hpp"
#include "vexp.hpp"

namespace yv9::ops {

// The transform matrices of F(m, 3): BT (a x a), G (a x 3), AT (m x a).
template <int M>
struct WinogradF;

template <>
struct WinogradF<2> {
  static constexpr int m = 2, a = 4;
  static constexpr double BT[a][a] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[a][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double AT[m][a] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct WinogradF<4> {
  static constexpr int m = 4, a = 6;
  static constexpr double BT[a][a] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[a][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  static constexpr double AT[m][a] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// The geometries Winograd3x3 computes: 3x3, stride 1, dilation 1, padding 1, one group.
inline bool winograd_applies(std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t ph,
                             std::int64_t pw, std::int64_t dh, std::int64_t dw, std::int64_t groups) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph == 1 && pw == 1 && dh == 1 && dw == 1 && groups == 1;
}

// Tag of the per-thread Winograd work area (V, M and the transform rows; ops/sgemm.hpp
// thread_scratch): one for F(2,3) and F(4,3) alike, reused by every layer (at most ~8 MiB of V and
// M, see block_rows). Every user writes it before it reads it.
struct WinogradWork {};

template <int M>
struct Winograd3x3 {
  using F = WinogradF<M>;
  static constexpr int m = F::m, a = F::a, a2 = a * a;
  static constexpr std::int64_t kMinTiles = 64;  // per job: fewer leave the a^2 GEMMs streaming U for a few columns
  std::int64_t cin = 0, cout = 0;
  std::vector<PackedA> u;  // a^2 packed K x C matrices

  Winograd3x3() = default;
  // weight: [cout][cin][3][3] (PyTorch layout).
  Winograd3x3(const float* weight, std::int64_t c_in, std::int64_t c_out) : cin(c_in), cout(c_out) {
    std::vector<float> ux(static_cast<std::size_t>(a2 * cout * cin));
    for (std::int64_t k = 0; k < cout; ++k)
      for (std::int64_t c = 0; c < cin; ++c) {
        const float* g = weight + (k * cin + c) * 9;
        double gg[a][3];  // G g
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < 3; ++j) {
            double s = 0;
            for (int t = 0; t < 3; ++t) s += F::G[i][t] * g[t * 3 + j];
            gg[i][j] = s;
          }
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j) {
            double s = 0;
            for (int t = 0; t < 3; ++t) s += gg[i][t] * F::G[j][t];
            ux[static_cast<std::size_t>(((i * a + j) * cout + k) * cin + c)] = static_cast<float>(s);
          }
      }
    u.resize(a2);
    for (int xi = 0; xi < a2; ++xi) pack_a(u[static_cast<std::size_t>(xi)], ux.data() + xi * cout * cin, cout, cin, cin);
  }

  // Tile rows per block. Every block streams all of U (a^2 K x C, tens of MB in the widest layers)
  // through the GEMMs, so a block takes at least ~128 tiles (or the whole map) to amortise that;
  // beyond, V (a^2 x C x tiles) and M (a^2 x K x tiles) together take about 1 MiB, and never more
  // than 8 MiB.
  std::int64_t block_rows(std::int64_t tile_rows, std::int64_t tiles_per_row) const {
    const std::int64_t per_row = a2 * (cin + cout) * tiles_per_row * std::int64_t(sizeof(float));
    std::int64_t r = std::max((std::int64_t(1) << 20) / per_row, (128 + tiles_per_row - 1) / tiles_per_row);
    r = std::min(r, (std::int64_t(8) << 20) / per_row);
    return std::max<std::int64_t>(1, std::min(r, tile_rows));
  }

  // out = act(conv(in) + bias); bias may be null.
  void forward(View<const float> in, View<float> out, const float* bias, const Activation& act, const Context& ctx) const {
    const std::int64_t H = in.h, W = in.w;
    if (in.c != cin || out.c != cout || out.h != H || out.w != W || in.n != out.n)
      throw Error("Winograd3x3: bad view shapes");
    if (H <= 0 || W <= 0) return;
    const std::int64_t th = (H + m - 1) / m, tw = (W + m - 1) / m;
    const int nt = ctx.threads_for(in.n * H * W * cin * cout * 9, kGrainMacs);
    // At least ~4 jobs per thread where the map allows: a thread that loses its core to another
    // process then leaves the rest of its share to the others (core/threads.hpp claims jobs one by one).
    std::int64_t rows = block_rows(th, tw);
    while (nt > 1 && rows > 1 && in.n * ((th + rows - 1) / rows) < 4 * nt && (rows + 1) / 2 * tw >= kMinTiles) rows = (rows + 1) / 2;
    const std::int64_t blocks = (th + rows - 1) / rows, nb = rows * tw;
    // Small maps have fewer tile blocks than threads: split the output channels too, so that each
    // thread streams only its rows of U (the input transform is then repeated per channel block).
    std::int64_t kblocks = 1;
    if (in.n * blocks < nt) kblocks = std::min<std::int64_t>((nt + in.n * blocks - 1) / (in.n * blocks), (cout + kGemmMR - 1) / kGemmMR);
    const std::int64_t kb = ((cout + kblocks - 1) / kblocks + kGemmMR - 1) / kGemmMR * kGemmMR;
    kblocks = (cout + kb - 1) / kb;
    const std::int64_t jobs = in.n * blocks * kblocks;
    const std::int64_t L = (tw + 1) * m + 2;  // a padded input row: x = -1 .. tw*m + m, zero past W
#if defined(__AVX512F__)
    // Transforms across 16 tiles at a time, gathered by 32-bit offsets into a plane.
    const bool lanes16 = (H + m) * (W + m) < (std::int64_t(1) << 30);
#endif
    parallel_for(nt, jobs, [&](Jobs& q) {
      const std::size_t vsize = static_cast<std::size_t>(a2 * cin * nb), msize = static_cast<std::size_t>(a2 * cout * nb);
      const std::size_t rsize = static_cast<std::size_t>(2 * a * L + a * m * (tw + 1) + m * a * tw + m * m * tw);
      float* V = thread_scratch<WinogradWork>(vsize + msize + rsize);
      float* Mx = V + vsize;
      float* rowbuf = Mx + msize;
      float* const scratch = gemm_thread_scratch(gemm_scratch_floats(nb));
      for (std::int64_t job; q.next(job);) {
        const std::int64_t kblk = job % kblocks, blk = job / kblocks % blocks, b = job / (kblocks * blocks);
        const std::int64_t ty0 = blk * rows, ny = std::min(rows, th - ty0), n = ny * tw;
        const std::int64_t k0 = kblk * kb, kc = std::min(kb, cout - k0);
#if defined(__AVX512F__)
        if (lanes16) {
          input_transform16(in, b, ty0, tw, n, nb, V);
        } else
#endif
          for (std::int64_t ty = ty0; ty < ty0 + ny; ++ty) input_transform(in, b, ty, tw, (ty - ty0) * tw, nb, V, rowbuf);
        for (int xi = 0; xi < a2; ++xi) {
          DenseB B(V + xi * cin * nb, nb);
          sgemm(u[static_cast<std::size_t>(xi)], k0, kc, B, 0, n, Mx + xi * cout * nb, nb, Epilogue{}, scratch);
        }
#if defined(__AVX512F__)
        if (lanes16) {
          output_transform16(Mx, out, b, ty0, tw, n, nb, k0, kc, bias, act);
        } else
#endif
          for (std::int64_t ty = ty0; ty < ty0 + ny; ++ty)
            output_transform(Mx, out, b, ty, tw, (ty - ty0) * tw, nb, k0, kc, bias, act, rowbuf);
      }
    });
  }

 private:
#if defined(__AVX512F__)
  // out = sum_k coef[k] * v[k], terms with a zero coefficient skipped and unit ones not multiplied
  // (the coefficients are constants: unrolled, every test folds away).
  template <int N>
  static __m512 lin16(const double (&coef)[N], const __m512 (&v)[N]) {
    __m512 acc = _mm512_setzero_ps();
    bool first = true;
#pragma GCC unroll 8
    for (int k = 0; k < N; ++k) {
      const float c = static_cast<float>(coef[k]);
      if (c == 0.0f) continue;
      if (first) {
        acc = c == 1.0f ? v[k] : c == -1.0f ? _mm512_sub_ps(_mm512_setzero_ps(), v[k]) : _mm512_mul_ps(_mm512_set1_ps(c), v[k]);
        first = false;
      } else if (c == 1.0f) {
        acc = _mm512_add_ps(acc, v[k]);
      } else if (c == -1.0f) {
        acc = _mm512_sub_ps(acc, v[k]);
      } else {
        acc = _mm512_fmadd_ps(_mm512_set1_ps(c), v[k], acc);
      }
    }
    return acc;
  }

  // Per lane of a group of 16 tiles (block tiles g0 .. g0+15, row-major over the block's tile
  // rows from ty0): the plane offset of the tile's corner (y, x) = (ty*m + dy, tx*m + dx), and
  // which of its a rows and a columns lie inside the map.
  struct Lanes {
    __m512i corner;
    __mmask16 live = 0, row[a] = {}, col[a] = {};
  };
  static Lanes lanes(std::int64_t g0, std::int64_t n, std::int64_t ty0, std::int64_t tw, std::int64_t H, std::int64_t W,
                     std::int64_t d) {
    Lanes r;
    alignas(64) std::int32_t corner[16] = {};
    for (int l = 0; l < 16 && g0 + l < n; ++l) {
      const std::int64_t t = g0 + l, y = (ty0 + t / tw) * m + d, x = t % tw * m + d;
      corner[l] = static_cast<std::int32_t>(y * W + x);
      r.live = static_cast<__mmask16>(r.live | (1u << l));
      for (int k = 0; k < a; ++k) {
        if (y + k >= 0 && y + k < H) r.row[k] = static_cast<__mmask16>(r.row[k] | (1u << l));
        if (x + k >= 0 && x + k < W) r.col[k] = static_cast<__mmask16>(r.col[k] | (1u << l));
      }
    }
    r.corner = _mm512_load_si512(corner);
    return r;
  }

  // V[xi][c][t] for the block's n tiles, 16 tiles per vector: each tile's a x a patch gathered
  // from the plane (zero outside the map), B^T d B in registers.
  void input_transform16(View<const float> in, std::int64_t b, std::int64_t ty0, std::int64_t tw, std::int64_t n,
                         std::int64_t nb, float* V) const {
    const std::int64_t W = in.w;
    for (std::int64_t g0 = 0; g0 < n; g0 += 16) {
      const Lanes ln = lanes(g0, n, ty0, tw, in.h, W, -1);
      for (std::int64_t c = 0; c < cin; ++c) {
        const float* plane = in.plane(b, c);
        __m512 e[a][a];  // e[k] = row k of the patch times B (the columns' transform)
        for (int k = 0; k < a; ++k) {
          __m512 d[a];
          for (int j = 0; j < a; ++j)
            d[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(ln.row[k] & ln.col[j]),
                                            _mm512_add_epi32(ln.corner, _mm512_set1_epi32(static_cast<std::int32_t>(k * W + j))),
                                            plane, 4);
          for (int j = 0; j < a; ++j) e[k][j] = lin16(F::BT[j], d);
        }
        for (int i = 0; i < a; ++i) {
          __m512 col[a];
          for (int j = 0; j < a; ++j) {
            for (int k = 0; k < a; ++k) col[k] = e[k][j];
            _mm512_mask_storeu_ps(V + ((i * a + j) * cin + c) * nb + g0, ln.live, lin16(F::BT[i], col));
          }
        }
      }
    }
  }

  // out[k] = act(A^T M A + bias[k]) for the block's n tiles, 16 tiles per vector, scattered into
  // the map (clipped at its right and bottom edges).
  void output_transform16(const float* Mx, View<float> out, std::int64_t b, std::int64_t ty0, std::int64_t tw,
                          std::int64_t n, std::int64_t nb, std::int64_t k0, std::int64_t kc, const float* bias,
                          const Activation& act) const {
    const std::int64_t W = out.w;
    for (std::int64_t g0 = 0; g0 < n; g0 += 16) {
      const Lanes ln = lanes(g0, n, ty0, tw, out.h, W, 0);
      for (std::int64_t k = k0; k < k0 + kc; ++k) {
        __m512 t[m][a];  // A^T M
        for (int j = 0; j < a; ++j) {
          __m512 col[a];
          for (int i = 0; i < a; ++i) col[i] = _mm512_maskz_loadu_ps(ln.live, Mx + ((i * a + j) * cout + k) * nb + g0);
          for (int p = 0; p < m; ++p) t[p][j] = lin16(F::AT[p], col);
        }
        alignas(64) float y[m * m][16];
        const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        for (int p = 0; p < m; ++p)
          for (int q = 0; q < m; ++q) {
            __m512 v = _mm512_add_ps(lin16(F::AT[q], t[p]), bk);
            if (act.kind == ActKind::SiLU) v = vmath::silu16(v);
            _mm512_store_ps(y[p * m + q], v);
          }
        if (act.kind != ActKind::SiLU && act.kind != ActKind::Identity) act.apply(&y[0][0], m * m * 16);
        float* plane = out.plane(b, k);
        for (int p = 0; p < m; ++p)
          for (int q = 0; q < m; ++q)
            _mm512_mask_i32scatter_ps(plane, static_cast<__mmask16>(ln.live & ln.row[p] & ln.col[q]),
                                      _mm512_add_epi32(ln.corner, _mm512_set1_epi32(static_cast<std::int32_t>(p * W + q))),
                                      _mm512_load_ps(y[p * m + q]), 4);
      }
    }
  }
#endif

  // dst[x] = sum_k coef[k] * src[k][x], x < n: one output row of a transform, vectorised over x
  // (the sum runs in k order; dst never overlaps a source).
  template <int N>
  static void combine(const double (&coef)[N], const float* const (&src)[N], float* __restrict dst, std::int64_t n) {
    static_assert(N == 4 || N == 6, "F(2,3) and F(4,3) tiles");
    const float c0 = static_cast<float>(coef[0]), c1 = static_cast<float>(coef[1]);
    const float c2 = static_cast<float>(coef[2]), c3 = static_cast<float>(coef[3]);
    const float* __restrict s0 = src[0];
    const float* __restrict s1 = src[1];
    const float* __restrict s2 = src[2];
    const float* __restrict s3 = src[3];
    if constexpr (N == 4) {
      for (std::int64_t x = 0; x < n; ++x) dst[x] = c0 * s0[x] + c1 * s1[x] + c2 * s2[x] + c3 * s3[x];
    } else {
      const float c4 = static_cast<float>(coef[4]), c5 = static_cast<float>(coef[5]);
      const float* __restrict s4 = src[4];
      const float* __restrict s5 = src[5];
      for (std::int64_t x = 0; x < n; ++x)
        dst[x] = c0 * s0[x] + c1 * s1[x] + c2 * s2[x] + c3 * s3[x] + c4 * s4[x] + c5 * s5[x];
    }
  }

  // V[xi][c][t0 + tx] = (B^T d B)[xi] for the tiles of tile row ty, every input channel c. Separable:
  // rows first (r_i = sum_k BT[i][k] row(y0 + k), vectorised along the image row), then the rows
  // are split into m phases so that tap k of tile tx is phase k % m at tx + k / m, and the columns
  // combine vectorised across tiles.
  void input_transform(View<const float> in, std::int64_t b, std::int64_t ty, std::int64_t tw, std::int64_t t0,
                       std::int64_t nb, float* V, float* buf) const {
    const std::int64_t H = in.h, W = in.w, L = (tw + 1) * m + 2, y0 = ty * m - 1;
    float* pad = buf;            // a rows of L: the input rows y0..y0+a-1, x from -1, zero outside
    float* r = pad + a * L;      // a rows of L: B^T applied down the columns
    float* ph = r + a * L;       // [a][m][tw + 1]: r's phases
    for (std::int64_t c = 0; c < cin; ++c) {
      const float* plane = in.plane(b, c);
      for (int k = 0; k < a; ++k) {
        float* row = pad + k * L;
        const std::int64_t y = y0 + k;
        std::fill(row, row + L, 0.0f);
        if (y >= 0 && y < H) std::copy(plane + y * W, plane + y * W + std::min(W, L - 1), row + 1);
      }
      const float* rows[a];
      for (int k = 0; k < a; ++k) rows[k] = pad + k * L;
      for (int i = 0; i < a; ++i) combine(F::BT[i], rows, r + i * L, L);
      for (int i = 0; i < a; ++i)
        for (int p = 0; p < m; ++p) {
          float* dst = ph + (i * m + p) * (tw + 1);
          const float* src = r + i * L + p;
          for (std::int64_t u = 0; u <= tw; ++u) dst[u] = src[u * m];
        }
      for (int i = 0; i < a; ++i) {
        const float* taps[a];
        for (int k = 0; k < a; ++k) taps[k] = ph + (i * m + k % m) * (tw + 1) + k / m;
        for (int j = 0; j < a; ++j) combine(F::BT[j], taps, V + ((i * a + j) * cin + c) * nb + t0, tw);
      }
    }
  }

  // out[k] rows of tile row ty = act(A^T M A + bias[k]), vectorised across the row's tiles, then
  // scattered into the map (clipped at its right and bottom edges).
  void output_transform(const float* Mx, View<float> out, std::int64_t b, std::int64_t ty, std::int64_t tw,
                        std::int64_t t0, std::int64_t nb, std::int64_t k0, std::int64_t kc, const float* bias,
                        const Activation& act, float* buf) const {
    const std::int64_t H = out.h, W = out.w, y0 = ty * m;
    float* t1 = buf;                // [m][a][tw]: A^T M
    float* y = t1 + m * a * tw;     // [m][m][tw]
    for (std::int64_t k = k0; k < k0 + kc; ++k) {
      for (int j = 0; j < a; ++j) {
        const float* col[a];
        for (int i = 0; i < a; ++i) col[i] = Mx + ((i * a + j) * cout + k) * nb + t0;
        for (int p = 0; p < m; ++p) combine(F::AT[p], col, t1 + (p * a + j) * tw, tw);
      }
      for (int p = 0; p < m; ++p) {
        const float* row[a];
        for (int j = 0; j < a; ++j) row[j] = t1 + (p * a + j) * tw;
        for (int q = 0; q < m; ++q) combine(F::AT[q], row, y + (p * m + q) * tw, tw);
      }
      const float bk = bias ? bias[k] : 0.0f;
      if (bk != 0.0f)
        for (std::int64_t e = 0; e < m * m * tw; ++e) y[e] += bk;
      if (act.kind == ActKind::SiLU)
        vsilu(y, y, m * m * tw);
      else
        act.apply(y, m * m * tw);
      float* plane = out.plane(b, k);
      const std::int64_t ny = std::min<std::int64_t>(m, H - y0);
      const std::int64_t full = W / m;  // tiles wholly inside the map's width
      for (std::int64_t p = 0; p < ny; ++p) {
        float* dst = plane + (y0 + p) * W;
        const float* yp = y + p * m * tw;
        for (std::int64_t tx = 0; tx < full; ++tx)
          for (int q = 0; q < m; ++q) dst[tx * m + q] = yp[q * tw + tx];
        for (std::int64_t q = 0; full < tw && q < W - full * m; ++q) dst[full * m + q] = yp[q * tw + full];
      }
    }
  }
};

}  // namespace yv9::ops
