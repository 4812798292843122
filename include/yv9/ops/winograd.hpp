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
// The transforms: AVX-512 builds vectorise them across 16 tiles of the whole block (the patches
// are first laid out block-wide from each input row's m phases; coefficients are compile-time
// constants, zero terms skipped) and write V straight in sgemm's packed-B layout (PanelB), so even
// 5x5-tile maps keep most of the saving. Other builds vectorise them along one row of tiles
// (input_transform / output_transform), and sgemm packs V.
//
// Accuracy: the transforms add rounding that direct convolution does not have; F(2,3)'s constants
// (0, +-1, 1/2) keep it near the direct path, F(4,3)'s (up to 8 and 1/24) make it several times
// larger. tests/test_winograd.cpp measures both against float64.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "activation.hpp"
#include "bf16.hpp"
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
struct WinogradShared {};  // the V that forward_shared's threads fill together (the calling thread's)

template <int M>
struct Winograd3x3 {
  using F = WinogradF<M>;
  static constexpr int m = F::m, a = F::a, a2 = a * a;
  static constexpr std::int64_t kMinTiles = 64;  // per job: fewer leave the a^2 GEMMs streaming U for a few columns
  std::int64_t cin = 0, cout = 0;
  std::vector<PackedA> u;      // a^2 packed K x C matrices (fp32)
  std::vector<PackedA16> u16;  // or the same in bf16 (ops/bf16.hpp), then u is empty

  Winograd3x3() = default;
  // weight: [cout][cin][3][3] (PyTorch layout). bf16: U rounded to bf16 and the a^2 products run
  // on bf16 operands (V rounded as it is packed), fp32 accumulation; the transforms stay fp32.
  Winograd3x3(const float* weight, std::int64_t c_in, std::int64_t c_out, bool bf16 = false) : cin(c_in), cout(c_out) {
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
    if (bf16) {
      u16.resize(a2);
      for (int xi = 0; xi < a2; ++xi) pack_a16(u16[static_cast<std::size_t>(xi)], ux.data() + xi * cout * cin, cout, cin, cin);
    } else {
      u.resize(a2);
      for (int xi = 0; xi < a2; ++xi) pack_a(u[static_cast<std::size_t>(xi)], ux.data() + xi * cout * cin, cout, cin, cin);
    }
  }

  // Bytes of the transformed weights.
  std::int64_t weight_bytes() const {
    std::int64_t s = 0;
    for (const PackedA& p : u) s += static_cast<std::int64_t>(p.data.size() * sizeof(float));
    for (const PackedA16& p : u16) s += static_cast<std::int64_t>(p.bytes());
    return s;
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
    // thread streams only its rows of U (the input transform is then repeated per channel block,
    // except on AVX-512 for one image in one block: forward_shared transforms it once).
    std::int64_t kblocks = 1;
    if (in.n * blocks < nt) kblocks = std::min<std::int64_t>((nt + in.n * blocks - 1) / (in.n * blocks), (cout + kGemmMR - 1) / kGemmMR);
    const std::int64_t kb = ((cout + kblocks - 1) / kblocks + kGemmMR - 1) / kGemmMR * kGemmMR;
    kblocks = (cout + kb - 1) / kb;
    const std::int64_t jobs = in.n * blocks * kblocks;
    const std::int64_t L = (tw + 1) * m + 2;  // a padded input row: x = -1 .. tw*m + m, zero past W
#if defined(__AVX512F__)
    if (in.n == 1 && blocks == 1 && kblocks > 1) return forward_shared(in, out, bias, act, nt, th, tw, kblocks, kb);
#endif
    parallel_for(nt, jobs, [&](Jobs& q) {
#if defined(__AVX512F__)
      // V[xi]: sgemm's packed B for cin x nb (PanelB); then the block's patches D (a^2 x nb;
      // later its outputs Y, m^2 x nb), one padded input row and its phases
      const std::int64_t vstride = PanelB::floats(cin, nb);
      const std::size_t vsize = static_cast<std::size_t>(a2 * vstride), msize = static_cast<std::size_t>(a2 * cout * nb);
      const std::size_t rsize = static_cast<std::size_t>(a2 * nb + L + phase_floats(rows, tw));
#else
      const std::size_t vsize = static_cast<std::size_t>(a2 * cin * nb), msize = static_cast<std::size_t>(a2 * cout * nb);
      const std::size_t rsize = static_cast<std::size_t>(2 * a * L + a * m * (tw + 1) + m * a * tw + m * m * tw);
#endif
      float* V = thread_scratch<WinogradWork>(vsize + msize + rsize);
      float* Mx = V + vsize;
      float* rowbuf = Mx + msize;
      float* const scratch = gemm_thread_scratch(gemm_scratch_floats(nb));
      for (std::int64_t job; q.next(job);) {
        const std::int64_t kblk = job % kblocks, blk = job / kblocks % blocks, b = job / (kblocks * blocks);
        const std::int64_t ty0 = blk * rows, ny = std::min(rows, th - ty0), n = ny * tw;
        const std::int64_t k0 = kblk * kb, kc = std::min(kb, cout - k0);
#if defined(__AVX512F__)
        input_transform16(in, b, ty0, ny, tw, nb, vstride, V, rowbuf, rowbuf + a2 * nb, 0, cin);
        for (int xi = 0; xi < a2; ++xi) {
          const PanelB B(V + xi * vstride, cin, kblock(), n);
          product(xi, k0, kc, B, n, Mx + xi * cout * nb, nb, scratch);
        }
        output_transform16(Mx, out, b, ty0, ny, tw, nb, k0, kc, bias, act, rowbuf);
#else
        for (std::int64_t ty = ty0; ty < ty0 + ny; ++ty) input_transform(in, b, ty, tw, (ty - ty0) * tw, nb, V, rowbuf);
        for (int xi = 0; xi < a2; ++xi) {
          DenseB B(V + xi * cin * nb, nb);
          product(xi, k0, kc, B, n, Mx + xi * cout * nb, nb, scratch);
        }
        for (std::int64_t ty = ty0; ty < ty0 + ny; ++ty)
          output_transform(Mx, out, b, ty, tw, (ty - ty0) * tw, nb, k0, kc, bias, act, rowbuf);
#endif
      }
    });
  }

 private:
  std::int64_t kblock() const { return gemm_k_block(cin); }  // U's K blocking, which V's panels follow

  // M[xi] rows [k0, k0+kc) = U[xi] * V[xi] (columns [0, n)), in fp32 or bf16.
  void product(int xi, std::int64_t k0, std::int64_t kc, const BPacker& B, std::int64_t n, float* C, std::int64_t ldc,
               float* scratch) const {
    if (!u16.empty())
      sgemm_bf16(u16[static_cast<std::size_t>(xi)], k0, kc, B, 0, n, C, ldc, Epilogue{}, scratch);
    else
      sgemm(u[static_cast<std::size_t>(xi)], k0, kc, B, 0, n, C, ldc, Epilogue{}, scratch);
  }

#if defined(__AVX512F__)
  // One image whose tiles make a single block, on nt threads: the threads first transform the
  // input together (channels split), into one V, then split the output channels for the GEMMs and
  // the output transform. (Each thread transforming the whole input for its channel block cost
  // F(4,3) its second thread at 20x20 and 40x40.)
  void forward_shared(View<const float> in, View<float> out, const float* bias, const Activation& act, int nt,
                      std::int64_t th, std::int64_t tw, std::int64_t kblocks, std::int64_t kb) const {
    const std::int64_t n = th * tw, L = (tw + 1) * m + 2, vstride = PanelB::floats(cin, n);
    float* const V = thread_scratch<WinogradShared>(static_cast<std::size_t>(a2 * vstride));
    const std::int64_t cchunk = std::max<std::int64_t>(1, (cin + 4 * nt - 1) / (4 * nt));
    parallel_for(nt, (cin + cchunk - 1) / cchunk, [&](Jobs& q) {
      float* D = thread_scratch<WinogradWork>(static_cast<std::size_t>(a2 * n + L + phase_floats(th, tw)));
      for (std::int64_t job; q.next(job);)
        input_transform16(in, 0, 0, th, tw, n, vstride, V, D, D + a2 * n, job * cchunk, std::min(cin, (job + 1) * cchunk));
    });
    parallel_for(nt, kblocks, [&](Jobs& q) {
      float* Mx = thread_scratch<WinogradWork>(static_cast<std::size_t>(a2 * cout * n + m * m * n));
      float* const scratch = gemm_thread_scratch(gemm_scratch_floats(n));
      for (std::int64_t kblk; q.next(kblk);) {
        const std::int64_t k0 = kblk * kb, kc = std::min(kb, cout - k0);
        for (int xi = 0; xi < a2; ++xi) {
          const PanelB B(V + xi * vstride, cin, kblock(), n);
          product(xi, k0, kc, B, n, Mx + xi * cout * n, n, scratch);
        }
        output_transform16(Mx, out, 0, 0, th, tw, n, k0, kc, bias, act, Mx + a2 * cout * n);
      }
    });
  }

  // Floats of input_transform16's phase rows for a block of `rows` tile rows.
  static std::int64_t phase_floats(std::int64_t rows, std::int64_t tw) { return (rows * m + a - m) * m * (tw + 1); }

  // sum_k C[Row][k] * v[k] with the coefficients as constants: zero terms skipped, unit ones
  // added or subtracted, the rest one FMA each.
  template <const auto& C, int Row, int K = 0, bool First = true, int N>
  static __m512 lin16(const __m512 (&v)[N], __m512 acc = _mm512_setzero_ps()) {
    if constexpr (K == N) {
      return acc;
    } else {
      constexpr float c = static_cast<float>(C[Row][K]);
      if constexpr (c == 0.0f)
        return lin16<C, Row, K + 1, First>(v, acc);
      else if constexpr (First)
        return lin16<C, Row, K + 1, false>(v, c == 1.0f ? v[K] : _mm512_mul_ps(_mm512_set1_ps(c), v[K]));
      else if constexpr (c == 1.0f)
        return lin16<C, Row, K + 1, false>(v, _mm512_add_ps(acc, v[K]));
      else if constexpr (c == -1.0f)
        return lin16<C, Row, K + 1, false>(v, _mm512_sub_ps(acc, v[K]));
      else
        return lin16<C, Row, K + 1, false>(v, _mm512_fmadd_ps(_mm512_set1_ps(c), v[K], acc));
    }
  }
  // f(std::integral_constant<int, 0>{}) ... f(std::integral_constant<int, N - 1>{})
  template <int N, class Fn>
  static void unroll(Fn&& f) {
    unroll_seq(f, std::make_integer_sequence<int, N>{});
  }
  template <class Fn, int... I>
  static void unroll_seq(Fn& f, std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }

  // V[xi] for the block's tiles t (ny tile rows of tw, row-major), 16 tiles per vector, written
  // as sgemm's packed B (PanelB over cin x n; lanes past n zero). Each channel's a x a patches are
  // first laid out block-wide, D[k][j][t] (row k, column j of tile t's patch; zero outside the
  // map), from the m phases of each padded input row; then B^T d B runs on contiguous vectors.
  void input_transform16(View<const float> in, std::int64_t b, std::int64_t ty0, std::int64_t ny, std::int64_t tw,
                         std::int64_t nb, std::int64_t vstride, float* V, float* D, float* pad, std::int64_t c_begin,
                         std::int64_t c_end) const {
    const std::int64_t H = in.h, W = in.w, L = (tw + 1) * m + 2, n = ny * tw, kb = kblock();
    // ph[i][p][u] = pad_i[u * m + p]: the m phases of each of the block's input rows i (image row
    // ty0 * m - 1 + i, padded: pad_i[x + 1] = row at x), made once though tile rows share rows
    float* ph = pad + L;
    const std::int64_t rows_in = ny * m + a - m, prow = m * (tw + 1);
    for (std::int64_t c = c_begin; c < c_end; ++c) {
      const float* plane = in.plane(b, c);
      for (std::int64_t i = 0; i < rows_in; ++i) {
        const std::int64_t y = ty0 * m - 1 + i;
        // (loops, not std::copy: these rows are short, and a memmove call per row cost 4% of gelan-c)
        const std::int64_t w = y >= 0 && y < H ? std::min(W, L - 1) : 0;
        const float* __restrict row = plane + (w > 0 ? y * W : 0);
        pad[0] = 0.0f;
        for (std::int64_t x = 0; x < w; ++x) pad[x + 1] = row[x];
        for (std::int64_t x = w + 1; x < L; ++x) pad[x] = 0.0f;
        float* phi = ph + i * prow;
        for (int p = 0; p < m; ++p)
          for (std::int64_t x = 0; x <= tw; ++x) phi[p * (tw + 1) + x] = pad[x * m + p];
      }
      for (std::int64_t r = 0; r < ny; ++r)
        for (int k = 0; k < a; ++k)
          for (int j = 0; j < a; ++j) {
            const float* __restrict src = ph + (r * m + k) * prow + (j % m) * (tw + 1) + j / m;
            float* __restrict dst = D + (k * a + j) * nb + r * tw;
            for (std::int64_t x = 0; x < tw; ++x) dst[x] = src[x];
          }
      static_assert(kGemmNR % 16 == 0, "a group of 16 tiles stays inside one packed-B panel");
      for (std::int64_t g0 = 0; g0 < n; g0 += 16) {
        const __mmask16 live = vmath::tail_mask16(n - g0);
        float* vg = V + PanelB::offset(c, g0, cin, kb, n);  // + xi * vstride
        __m512 e[a][a];  // e[k] = row k of the patch times B (the columns' transform)
        for (int k = 0; k < a; ++k) {
          __m512 d[a];
          for (int j = 0; j < a; ++j) d[j] = _mm512_maskz_loadu_ps(live, D + (k * a + j) * nb + g0);
          unroll<a>([&](auto j) { e[k][j] = lin16<F::BT, decltype(j)::value>(d); });
        }
        for (int j = 0; j < a; ++j) {
          __m512 col[a];
          for (int k = 0; k < a; ++k) col[k] = e[k][j];
          unroll<a>([&](auto i) { _mm512_storeu_ps(vg + (i * a + j) * vstride, lin16<F::BT, decltype(i)::value>(col)); });
        }
      }
    }
  }

  // out[k] = act(A^T M A + bias[k]) for the block's tiles, 16 tiles per vector into Y[p][q][t],
  // then written into the map row by row (clipped at its right and bottom edges).
  void output_transform16(const float* Mx, View<float> out, std::int64_t b, std::int64_t ty0, std::int64_t ny,
                          std::int64_t tw, std::int64_t nb, std::int64_t k0, std::int64_t kc, const float* bias,
                          const Activation& act, float* Y) const {
    const std::int64_t H = out.h, W = out.w, n = ny * tw;
    const std::int64_t full = W / m;  // tiles wholly inside the map's width
    for (std::int64_t k = k0; k < k0 + kc; ++k) {
      const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
      for (std::int64_t g0 = 0; g0 < n; g0 += 16) {
        const __mmask16 live = vmath::tail_mask16(n - g0);
        __m512 t[m][a];  // A^T M
        for (int j = 0; j < a; ++j) {
          __m512 col[a];
          for (int i = 0; i < a; ++i) col[i] = _mm512_maskz_loadu_ps(live, Mx + ((i * a + j) * cout + k) * nb + g0);
          unroll<m>([&](auto p) { t[p][j] = lin16<F::AT, decltype(p)::value>(col); });
        }
        for (int p = 0; p < m; ++p)
          unroll<m>([&](auto q) {
            __m512 v = _mm512_add_ps(lin16<F::AT, decltype(q)::value>(t[p]), bk);
            if (act.kind == ActKind::SiLU) v = vmath::silu16(v);
            _mm512_mask_storeu_ps(Y + (p * m + q) * nb + g0, live, v);
          });
      }
      if (act.kind != ActKind::SiLU && act.kind != ActKind::Identity)
        for (int e = 0; e < m * m; ++e) act.apply(Y + e * nb, n);
      float* plane = out.plane(b, k);
      for (std::int64_t r = 0; r < ny; ++r)
        for (int p = 0; p < m; ++p) {
          const std::int64_t y = (ty0 + r) * m + p;
          if (y >= H) break;
          float* dst = plane + y * W;
          for (int q = 0; q < m; ++q) {
            const float* __restrict src = Y + (p * m + q) * nb + r * tw;
            for (std::int64_t tx = 0; tx < full; ++tx) dst[tx * m + q] = src[tx];
            if (full < tw && full * m + q < W) dst[full * m + q] = src[full];
          }
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
