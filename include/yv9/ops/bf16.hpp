// SPDX-License-Identifier: MIT
// bf16 matrix product: sgemm's contract (ops/sgemm.hpp) with both operands rounded to bfloat16
// and every product accumulated in fp32, on AVX512_BF16's vdpbf16ps.
//
//   C[m0:m0+mc, j0:j0+nc] = epilogue( bf16(A) * bf16(B) )      fp32 accumulation, fp32 C
//
// Where rounding happens: the weights once, when packed at load (pack_a16); the activations when a
// K block of B is packed, i.e. at every GEMM's input (Im2colB / DenseB / Winograd's V; the
// attention's two products, ops/attention.hpp). Everything between GEMMs (bias, activations,
// concatenations, pools, the softmax, the head) stays fp32, so the error does not compound through
// a layer's epilogue; measured in tests/test_bf16.cpp.
//
// vdpbf16ps multiplies pairs: lane i of the accumulator takes a[2i+1]*b[2i+1], then a[2i]*b[2i],
// each an exact product added with one rounding (checked bit for bit against round_bf16 and
// dot_step below, which are the scalar twin), so K is walked in pairs (k, k+1):
//
//   PackedA16 (per K block of kb = gemm_k_block(K), the same blocking as PackedA, so Winograd's
//   PanelB lines up; per panel of kBfMR = 12 rows): kc2 = ceil(kc / 2) rows of 12 words, word r of
//   row p = (bf16 A[r][k0+2p] | bf16 A[r][k0+2p+1] << 16); an odd block's last pair is padded with 0.
//   Packed B (scratch): ceil(nc / 32) panels of kc2 rows x 32 words, word j of row p = the pair
//   (B[k0+2p][j], B[k0+2p+1][j]), columns past nc zero. One k pair of a 12 x 32 tile is 2 loads of
//   B, 12 broadcasts of A and 24 vdpbf16ps: twice the multiply-adds of the fp32 kernel's k step.
//
// B is first packed in fp32 by the same BPackers sgemm uses (or read where it already lies in
// that layout: Winograd), then converted a block at a time while it is in L2 (convert_b); a plain
// matrix (DenseB: the 1x1 convolutions) is converted straight from memory (pack_dense).
//
// Dispatch is at run time: the native kernels are compiled for AVX512_BF16 with a target
// attribute in every x86 build (an AVX2 binary uses them on a CPU that has the feature) and run
// only where cpu_has_avx512_bf16() says the CPU and the OS support it. Elsewhere bf16 compute is
// refused (model::Precision); the scalar twin (sgemm_bf16 with emulate) runs anywhere, for the tests.
//
// Determinism: as sgemm, each C element is one fixed chain (pairs in k order), whatever the
// tiling or thread count.
#pragma once
#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "../core/memory.hpp"
#include "sgemm.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define YV9_BF16_NATIVE 1
#define YV9_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define YV9_BF16_NATIVE 0
#endif

namespace yv9::ops {

inline constexpr int kBfMR = 12;  // rows of a bf16 micro-tile (24 zmm accumulators)
inline constexpr int kBfNR = 32;  // columns (2 zmm of 16 fp32 lanes)

// ---- scalar bfloat16, as the hardware does it ----------------------------------------------------

// fp32 -> bf16 as vcvtneps2bf16: round to nearest even; denormals flush to a signed zero; NaN
// stays NaN (quieted, the top of its payload kept).
inline std::uint16_t round_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  if ((u & 0x7F800000u) == 0) return static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
inline float widen_bf16(std::uint16_t h) {
  const std::uint32_t u = std::uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace bf16_detail {
inline float flush(float x) { return std::fabs(x) < 1.17549435e-38f ? std::copysign(0.0f, x) : x; }
}  // namespace bf16_detail

// One vdpbf16ps lane: acc + a.hi*b.hi, then + a.lo*b.lo (pairs as packed words), each one exact
// product and one rounding; denormal inputs count as zero and denormal results flush to zero.
inline float dot_step(float acc, std::uint32_t a, std::uint32_t b) {
  using bf16_detail::flush;
  const float a0 = flush(widen_bf16(static_cast<std::uint16_t>(a))), a1 = flush(widen_bf16(static_cast<std::uint16_t>(a >> 16)));
  const float b0 = flush(widen_bf16(static_cast<std::uint16_t>(b))), b1 = flush(widen_bf16(static_cast<std::uint16_t>(b >> 16)));
  acc = flush(std::fma(a1, b1, flush(acc)));
  return flush(std::fma(a0, b0, acc));
}

inline std::uint32_t pair_bf16(float lo, float hi) {
  return std::uint32_t(round_bf16(lo)) | (std::uint32_t(round_bf16(hi)) << 16);
}

// ---- CPU support ----------------------------------------------------------------------------

// AVX512_BF16 with the AVX-512 foundation it needs, and the OS saving the zmm/opmask state.
inline bool cpu_has_avx512_bf16() {
#if YV9_BF16_NATIVE
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6u) != 0xE6u) return false;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31))) return false;  // F, BW, VL
    if (a < 1 || !__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return (a & (1u << 5)) != 0;  // AVX512_BF16
  }();
  return has;
#else
  return false;
#endif
}

// ---- packed A --------------------------------------------------------------------------------

struct PackedA16 {
  std::int64_t M = 0, K = 0;
  std::int64_t kb = 0;  // K block (PackedA's), the last may be shorter
  std::int64_t mp = 0;  // M rounded up to kBfMR
  std::vector<std::uint32_t, AlignedAllocator<std::uint32_t>> data;

  std::int64_t block_kc(std::int64_t k0) const { return std::min(kb, K - k0); }
  static std::int64_t pairs(std::int64_t kc) { return (kc + 1) / 2; }
  // Row m0 of the K block starting at k0; rows advance by 1 word, k pairs by kBfMR.
  const std::uint32_t* panel(std::int64_t k0, std::int64_t m0) const {
    assert(k0 % kb == 0 && m0 >= 0 && m0 < M);
    return data.data() + (k0 / kb) * mp * pairs(kb) + (m0 / kBfMR) * kBfMR * pairs(block_kc(k0)) + m0 % kBfMR;
  }
  std::size_t bytes() const { return data.size() * sizeof(std::uint32_t); }
};

// A[m][k] = A[m * stride_m + k * stride_k], as pack_a_strided (the attention's K^T and V^T are
// transposed views of K and V).
inline void pack_a16_strided(PackedA16& p, const float* A, std::int64_t M, std::int64_t K, std::int64_t stride_m,
                             std::int64_t stride_k) {
  p.M = M;
  p.K = K;
  p.kb = gemm_k_block(K);
  p.mp = (M + kBfMR - 1) / kBfMR * kBfMR;
  const std::int64_t blocks = p.kb > 0 ? (K + p.kb - 1) / p.kb : 0;
  p.data.assign(static_cast<std::size_t>(blocks * p.mp * PackedA16::pairs(p.kb)), 0u);
  for (std::int64_t k0 = 0; k0 < K; k0 += p.kb) {
    const std::int64_t kc = p.block_kc(k0), kc2 = PackedA16::pairs(kc);
    for (std::int64_t m0 = 0; m0 < M; m0 += kBfMR) {
      std::uint32_t* dst = p.data.data() + (k0 / p.kb) * p.mp * PackedA16::pairs(p.kb) + m0 * kc2;
      const std::int64_t rows = std::min<std::int64_t>(kBfMR, M - m0);
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = A + (m0 + r) * stride_m + k0 * stride_k;
        for (std::int64_t q = 0; q < kc2; ++q)
          dst[q * kBfMR + r] = pair_bf16(row[2 * q * stride_k], 2 * q + 1 < kc ? row[(2 * q + 1) * stride_k] : 0.0f);
      }
    }
  }
}
// A: row-major M x K with leading dimension lda.
inline void pack_a16(PackedA16& p, const float* A, std::int64_t M, std::int64_t K, std::int64_t lda) {
  pack_a16_strided(p, A, M, K, lda, 1);
}
inline PackedA16 pack_a16(const float* A, std::int64_t M, std::int64_t K, std::int64_t lda) {
  PackedA16 p;
  pack_a16(p, A, M, K, lda);
  return p;
}

// ---- packed B ----------------------------------------------------------------------------------

// Words of bf16 B scratch for a column tile of nc (one K block).
inline std::size_t bf16_b_words(std::int64_t nc) {
  return static_cast<std::size_t>(PackedA16::pairs(kGemmKC) * ((nc + kBfNR - 1) / kBfNR) * kBfNR);
}

// fp32 B as sgemm packs it (ceil(nc / kGemmNR) panels of kc x kGemmNR; lanes up to the panels'
// end finite) -> bf16 pairs (ceil(nc / 32) panels of ceil(kc / 2) x 32 words). Scalar, any build.
inline void convert_b_reference(const float* src, std::int64_t kc, std::int64_t nc, std::uint32_t* dst) {
  const std::int64_t kc2 = PackedA16::pairs(kc), panels = (nc + kBfNR - 1) / kBfNR;
  for (std::int64_t p = 0; p < panels; ++p)
    for (std::int64_t q = 0; q < kc2; ++q)
      for (std::int64_t c = 0; c < kBfNR; ++c) {
        const std::int64_t j = p * kBfNR + c;
        float lo = 0.0f, hi = 0.0f;
        if (j < nc) {
          const float* s = src + (j / kGemmNR) * kc * kGemmNR + j % kGemmNR;
          lo = s[2 * q * kGemmNR];
          if (2 * q + 1 < kc) hi = s[(2 * q + 1) * kGemmNR];
        }
        dst[(p * kc2 + q) * kBfNR + c] = pair_bf16(lo, hi);
      }
}

// ---- kernels -------------------------------------------------------------------------------------

// Emulated micro-kernel (the twin): rows x ncols of C (+)= A16 panel * B16 panel over kc2 pairs.
inline void micro_kernel_bf16_reference(std::int64_t kc2, const std::uint32_t* a, const std::uint32_t* b, float* c,
                                        std::int64_t ldc, int rows, int ncols, bool load_c) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < ncols; ++j) {
      float acc = load_c ? c[r * ldc + j] : 0.0f;
      for (std::int64_t q = 0; q < kc2; ++q) acc = dot_step(acc, a[q * kBfMR + r], b[q * kBfNR + j]);
      c[r * ldc + j] = acc;
    }
}

#if YV9_BF16_NATIVE
namespace bf16_detail {

// Rows k (lo) and k+1 (hi) of 16 columns -> 16 pair words, lane j = pair_bf16(lo[j], hi[j]):
// vcvtne2ps2bf16 gives [lo x16 | hi x16], one vpermw interleaves them.
YV9_BF16_TARGET inline __m512i pair_rows16(__m512 lo, __m512 hi) {
  alignas(64) static constexpr std::uint16_t kInter[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                          8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInter), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// convert_b_reference with vcvtne2ps2bf16 (two rows of 16 -> 32 bf16) and one permutation to
// interleave them into pairs; columns past nc (rounded up to kGemmNR) are written as zero.
YV9_BF16_TARGET inline void convert_b(const float* src, std::int64_t kc, std::int64_t nc, std::uint32_t* dst) {
  static_assert(kGemmNR % 16 == 0 || kGemmNR < 16, "panel width");
  if constexpr (kGemmNR < 16) {
    convert_b_reference(src, kc, nc, dst);
  } else {
    const std::int64_t kc2 = PackedA16::pairs(kc), panels = (nc + kBfNR - 1) / kBfNR;
    const std::int64_t ncp = (nc + kGemmNR - 1) / kGemmNR * kGemmNR;
    const __m512 zero = _mm512_setzero_ps();
    for (std::int64_t p = 0; p < panels; ++p)
      for (int h = 0; h < 2; ++h) {
        const std::int64_t j = p * kBfNR + h * 16;
        std::uint32_t* d = dst + p * kc2 * kBfNR + h * 16;
        if (j >= ncp) {
          for (std::int64_t q = 0; q < kc2; ++q) _mm512_storeu_si512(d + q * kBfNR, _mm512_setzero_si512());
          continue;
        }
        const float* s = src + (j / kGemmNR) * kc * kGemmNR + j % kGemmNR;
        const std::int64_t full = kc / 2;
        for (std::int64_t q = 0; q < full; ++q) {
          const __m512 lo = _mm512_loadu_ps(s + 2 * q * kGemmNR), hi = _mm512_loadu_ps(s + (2 * q + 1) * kGemmNR);
          _mm512_storeu_si512(d + q * kBfNR, pair_rows16(lo, hi));
        }
        if (kc % 2) {
          _mm512_storeu_si512(d + full * kBfNR, pair_rows16(_mm512_loadu_ps(s + (kc - 1) * kGemmNR), zero));
        }
      }
  }
}

// DenseB's block (rows k0.., columns j0.. of a row-major matrix, leading dimension ldb) straight
// into bf16 pairs, without DenseB::pack's fp32 copy: the same words as DenseB::pack followed by
// convert_b (columns past nc zero).
YV9_BF16_TARGET inline void pack_dense(const float* src, std::int64_t ldb, std::int64_t kc, std::int64_t nc,
                                      std::uint32_t* dst) {
  const std::int64_t kc2 = PackedA16::pairs(kc), panels = (nc + kBfNR - 1) / kBfNR;
  for (std::int64_t q = 0; q < kc2; ++q) {
    const float* r0 = src + 2 * q * ldb;
    const float* r1 = r0 + ldb;
    const bool odd = 2 * q + 1 < kc;
    for (std::int64_t p = 0; p < panels; ++p)
      for (int h = 0; h < 2; ++h) {
        const std::int64_t c = p * kBfNR + h * 16, n = nc - c;
        std::uint32_t* d = dst + (p * kc2 + q) * kBfNR + h * 16;
        if (n <= 0) {
          _mm512_storeu_si512(d, _mm512_setzero_si512());
          continue;
        }
        const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
        const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + c);
        const __m512 hi = odd ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps();
        _mm512_storeu_si512(d, pair_rows16(lo, hi));
      }
  }
}

template <int R, int NV>
YV9_BF16_TARGET void micro_kernel_bf16(std::int64_t kc2, const std::uint32_t* a, const std::uint32_t* b, float* c,
                                       std::int64_t ldc, int ncols, bool load_c) {
  const int n_last = ncols - (NV - 1) * 16;  // 1..16 columns in the last register
  const __mmask16 mlast = static_cast<__mmask16>((1u << n_last) - 1u);
  __m512 acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      if (!load_c)
        acc[r][v] = _mm512_setzero_ps();
      else if (v == NV - 1 && n_last < 16)
        acc[r][v] = _mm512_maskz_loadu_ps(mlast, c + r * ldc + v * 16);
      else
        acc[r][v] = _mm512_loadu_ps(c + r * ldc + v * 16);
    }
#pragma GCC unroll 2
  for (std::int64_t q = 0; q < kc2; ++q) {
    __builtin_prefetch(b + 16 * kBfNR, 0, 3);
    __builtin_prefetch(b + 16 * kBfNR + 16, 0, 3);
    __m512bh bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r]));
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
    a += kBfMR;
    b += kBfNR;
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1 && n_last < 16)
        _mm512_mask_storeu_ps(c + r * ldc + v * 16, mlast, acc[r][v]);
      else
        _mm512_storeu_ps(c + r * ldc + v * 16, acc[r][v]);
    }
}

using KernelBf16 = void (*)(std::int64_t, const std::uint32_t*, const std::uint32_t*, float*, std::int64_t, int, bool);
template <std::size_t... I>
constexpr std::array<KernelBf16, sizeof...(I)> make_bf16_table(std::index_sequence<I...>) {
  return {{&micro_kernel_bf16<static_cast<int>(I) / 2 + 1, static_cast<int>(I) % 2 + 1>...}};
}
// kKernelsBf16[(rows - 1) * 2 + (registers - 1)]
inline constexpr std::array<KernelBf16, kBfMR * 2> kKernelsBf16 = make_bf16_table(std::make_index_sequence<kBfMR * 2>{});

}  // namespace bf16_detail
#endif

// This thread's bf16 B scratch (words), reused as gemm_thread_scratch is.
inline std::uint32_t* bf16_thread_scratch(std::size_t words) {
  thread_local std::vector<std::uint32_t, AlignedAllocator<std::uint32_t>> buf;
  if (buf.size() < words) {
    buf.clear();
    buf.shrink_to_fit();
    buf.resize(words);
  }
  return buf.data();
}

// sgemm (same arguments and contract) on bf16 operands. scratch: gemm_scratch_floats(nc) floats
// for the fp32 packing; the bf16 block goes to this thread's bf16_thread_scratch. `emulate` runs
// the scalar twin instead of the native kernels (tests; and any CPU, slowly); otherwise the CPU
// must have AVX512_BF16 (callers check cpu_has_avx512_bf16()).
inline void sgemm_bf16(const PackedA16& A, std::int64_t m0, std::int64_t mc, const BPacker& B, std::int64_t j0,
                       std::int64_t nc, float* C, std::int64_t ldc, const Epilogue& epi, float* scratch,
                       bool emulate = false) {
  assert(m0 >= 0 && mc >= 0 && m0 + mc <= A.M && j0 >= 0 && nc >= 0);
  if (mc <= 0 || nc <= 0) return;
#if !YV9_BF16_NATIVE
  emulate = true;
#endif
  const std::int64_t K = A.K;
  const bool epi_pass = epi.bias != nullptr || epi.act != EpiAct::None;
  std::uint32_t* const b16 = bf16_thread_scratch(bf16_b_words(nc));
  for (std::int64_t k0 = 0; k0 < K || (K == 0 && k0 == 0); k0 += (K == 0 ? 1 : A.kb)) {
    const std::int64_t kc = K == 0 ? 0 : A.block_kc(k0), kc2 = PackedA16::pairs(kc);
    const DenseB* dense = emulate ? nullptr : dynamic_cast<const DenseB*>(&B);
    const std::uint32_t* pre = kc > 0 && !emulate ? B.packed16(k0, kc, j0, nc) : nullptr;
    if (pre) {
      // B's owner wrote it in bf16 already (the attention's P^T)
    } else if (kc > 0 && dense) {
#if YV9_BF16_NATIVE
      bf16_detail::pack_dense(dense->B + k0 * dense->ldb + j0, dense->ldb, kc, nc, b16);
#endif
    } else if (kc > 0) {
      const float* bp = B.packed(k0, kc, j0, nc);
      if (!bp) {
        B.pack(k0, kc, j0, nc, scratch);
        bp = scratch;
      }
#if YV9_BF16_NATIVE
      if (!emulate)
        bf16_detail::convert_b(bp, kc, nc, b16);
      else
#endif
        convert_b_reference(bp, kc, nc, b16);
    }
    const bool load_c = k0 > 0 || epi.accumulate;
    const bool last = k0 + kc >= K;
    for (std::int64_t i = 0; i < mc;) {
      const std::int64_t m = m0 + i;
      const int rows = static_cast<int>(std::min<std::int64_t>(kBfMR - m % kBfMR, mc - i));
      const std::uint32_t* ap = kc > 0 ? A.panel(k0, m) : nullptr;
      float* crow = C + m * ldc + j0;
      for (std::int64_t j = 0; j < nc; j += kBfNR) {
        const int ncols = static_cast<int>(std::min<std::int64_t>(kBfNR, nc - j));
        const std::uint32_t* bpanel = (pre ? pre : b16) + j * kc2;
        if (kc == 0) {
          if (!load_c)
            for (int r = 0; r < rows; ++r) std::fill(crow + r * ldc + j, crow + r * ldc + j + ncols, 0.0f);
        } else if (emulate) {
          micro_kernel_bf16_reference(kc2, ap, bpanel, crow + j, ldc, rows, ncols, load_c);
        } else {
#if YV9_BF16_NATIVE
          bf16_detail::kKernelsBf16[static_cast<std::size_t>((rows - 1) * 2 + (ncols > 16 ? 1 : 0))](
              kc2, ap, bpanel, crow + j, ldc, ncols, load_c);
#endif
        }
        if (last && epi_pass)
          gemm_detail::epilogue_tile(crow + j, ldc, rows, ncols, epi.bias ? epi.bias + m : nullptr, epi.act, epi.slope);
      }
      i += rows;
    }
  }
}

}  // namespace yv9::ops
