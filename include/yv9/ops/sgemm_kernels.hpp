// SPDX-License-Identifier: MIT
// Register-blocked micro-kernels behind ops/sgemm.hpp (see there for the packed layouts).
//
//   c[0:R, 0:ncols] (+)= sum_k a[k*kGemmMR + r] * b[k*kGemmNR + j]      R <= kGemmMR, ncols <= kGemmNR
//
// One template per target, instantiated for every row count R (edge panels run only their real
// rows, no wasted FMAs on zero padding) and every register count NV (a narrow last column panel
// skips its empty registers). Every C element is one chain of fused multiply-adds in k order,
// started from 0 (or from C when `load_c`): the same sequence whatever R, NV, or the caller's
// tiling, which is what makes sgemm's results independent of how work is split.
//
// Target selection is compile-time only:
//   __AVX512F__          zmm, kGemmMR x kGemmNR = 12 x 32: 24 accumulators + 2 B + 1 broadcast of 32 registers
//   __AVX2__ && __FMA__  ymm, 6 x 16: 12 accumulators + 2 B + 1 broadcast of 16 registers
//   otherwise            plain C++ over a float tile that GCC vectorises (NEON, SSE2)
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "vexp.hpp"

namespace yv9::ops {

#if defined(__AVX512F__)
inline constexpr int kGemmMR = 12;
inline constexpr int kGemmNR = 32;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr int kGemmMR = 6;
inline constexpr int kGemmNR = 16;
#elif defined(__aarch64__)
inline constexpr int kGemmMR = 8;  // 32 NEON registers: 8 rows x 2 q-registers of accumulators
inline constexpr int kGemmNR = 8;
#else
inline constexpr int kGemmMR = 4;  // 16 SSE registers: 4 rows x 2 xmm of accumulators
inline constexpr int kGemmNR = 8;
#endif
// Upper bound of the K block (PackedA balances the blocks of a given K below this). A 12 x 256
// A panel (12 KiB) stays in L1 while B panels stream from L2.
inline constexpr std::int64_t kGemmKC = 256;

// Per-row epilogue applied when the last K block of a tile is stored (see sgemm.hpp).
enum class EpiAct { None, SiLU, ReLU, LeakyReLU, ReLU6 };

namespace gemm_detail {

#if defined(__AVX512F__)
struct Isa {
  using V = __m512;
  static constexpr int W = 16;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store_n(float* p, V v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  // maskz forms: the unmasked min/max trip GCC 12's false -Wuninitialized (see vexp.hpp).
  static V max(V a, V b) { return _mm512_maskz_max_ps(vmath::kAll16, a, b); }
  static V min(V a, V b) { return _mm512_maskz_min_ps(vmath::kAll16, a, b); }
  static V neg_select(V x, V if_neg) {  // x < 0 ? if_neg : x
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x, if_neg);
  }
  static V silu(V x) { return vmath::silu16(x); }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Isa {
  using V = __m256;
  static constexpr int W = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load_n(const float* p, int n) { return _mm256_maskload_ps(p, vmath::tail_mask8(n)); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store_n(float* p, V v, int n) { _mm256_maskstore_ps(p, vmath::tail_mask8(n), v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V neg_select(V x, V if_neg) {
    return _mm256_blendv_ps(x, if_neg, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
  }
  static V silu(V x) { return vmath::silu8(x); }
};
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
inline constexpr int kNV = kGemmNR / Isa::W;  // registers per micro-tile row

template <int R, int NV>
inline void micro_kernel(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, int ncols,
                         bool load_c) {
  using V = Isa::V;
  constexpr int W = Isa::W;
  const int n_last = ncols - (NV - 1) * W;  // 1..W columns in the last register
  V acc[R][NV];
  if (load_c) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[r][v] = (v == NV - 1 && n_last < W) ? Isa::load_n(c + r * ldc + v * W, n_last)
                                                : Isa::load(c + r * ldc + v * W);
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Isa::zero();
  }
#pragma GCC unroll 2
  for (std::int64_t k = 0; k < kc; ++k) {
    V bv[NV];
    // B panels stream from L2 (the A panel stays in L1); the hardware prefetchers alone leave
    // L2 latency exposed, so fetch 16 k-rows ahead (measured +0..6% over none, +1..5% over 8 rows).
    __builtin_prefetch(b + 16 * kGemmNR, 0, 3);
    if constexpr (kGemmNR * sizeof(float) > 64) __builtin_prefetch(b + 16 * kGemmNR + 16, 0, 3);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Isa::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const V av = Isa::set1(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Isa::fma(av, bv[v], acc[r][v]);
    }
    a += kGemmMR;
    b += kGemmNR;
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1 && n_last < W)
        Isa::store_n(c + r * ldc + v * W, acc[r][v], n_last);
      else
        Isa::store(c + r * ldc + v * W, acc[r][v]);
    }
}

// act(x + bias[r]) over a stored tile, while it is still in L1.
inline void epilogue_tile(float* c, std::int64_t ldc, int rows, int ncols, const float* bias, EpiAct act,
                          float slope) {
  using V = Isa::V;
  constexpr int W = Isa::W;
  const V zero = Isa::zero(), six = Isa::set1(6.0f), vslope = Isa::set1(slope);
  for (int r = 0; r < rows; ++r) {
    float* p = c + r * ldc;
    const V vb = Isa::set1(bias ? bias[r] : 0.0f);
    for (int j = 0; j < ncols; j += W) {
      const int n = ncols - j < W ? ncols - j : W;
      V x = n == W ? Isa::load(p + j) : Isa::load_n(p + j, n);
      if (bias) x = Isa::add(x, vb);
      switch (act) {
        case EpiAct::None: break;
        case EpiAct::SiLU: x = Isa::silu(x); break;
        case EpiAct::ReLU: x = Isa::max(x, zero); break;
        case EpiAct::LeakyReLU: x = Isa::neg_select(x, Isa::mul(x, vslope)); break;
        case EpiAct::ReLU6: x = Isa::min(Isa::max(x, zero), six); break;
      }
      if (n == W)
        Isa::store(p + j, x);
      else
        Isa::store_n(p + j, x, n);
    }
  }
}

#else  // portable
inline constexpr int kNV = 1;

template <int R, int NV>
inline void micro_kernel(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, int ncols,
                         bool load_c) {
  static_assert(NV == 1, "the portable kernel treats a whole NR row as one register");
  float acc[R][kGemmNR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < kGemmNR; ++j) acc[r][j] = (load_c && j < ncols) ? c[r * ldc + j] : 0.0f;
  for (std::int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < R; ++r) {
      const float av = a[r];
      for (int j = 0; j < kGemmNR; ++j) acc[r][j] += av * b[j];
    }
    a += kGemmMR;
    b += kGemmNR;
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < ncols; ++j) c[r * ldc + j] = acc[r][j];
}

inline void epilogue_tile(float* c, std::int64_t ldc, int rows, int ncols, const float* bias, EpiAct act,
                          float slope) {
  for (int r = 0; r < rows; ++r) {
    float* p = c + r * ldc;
    const float b = bias ? bias[r] : 0.0f;
    for (int j = 0; j < ncols; ++j) {
      float x = p[j] + b;
      switch (act) {
        case EpiAct::None: break;
        case EpiAct::SiLU: x = vmath::silu_scalar(x); break;
        case EpiAct::ReLU: x = x > 0.0f ? x : 0.0f; break;
        case EpiAct::LeakyReLU: x = x < 0.0f ? x * slope : x; break;
        case EpiAct::ReLU6: x = x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; break;
      }
      p[j] = x;
    }
  }
}
#endif

using KernelFn = void (*)(std::int64_t, const float*, const float*, float*, std::int64_t, int, bool);

template <std::size_t... I>
constexpr std::array<KernelFn, sizeof...(I)> make_kernel_table(std::index_sequence<I...>) {
  return {{&micro_kernel<static_cast<int>(I) / kNV + 1, static_cast<int>(I) % kNV + 1>...}};
}
// kKernels[(rows - 1) * kNV + (registers - 1)]
inline constexpr std::array<KernelFn, kGemmMR * kNV> kKernels =
    make_kernel_table(std::make_index_sequence<kGemmMR * kNV>{});

}  // namespace gemm_detail
}  // namespace yv9::ops
