// SPDX-License-Identifier: MIT
// Vectorised exp and the activations built on it (SiLU, sigmoid, softmax rows), for the GEMM
// epilogue and attention. One algorithm for every target, so the paths differ only in rounding
// details (the ISA is fixed at compile time by __AVX512F__ / __AVX2__+__FMA__ / neither):
//
//   x  clamped to [-104, 89]          (NaN passes through the clamp unchanged)
//   n  = round(x * log2(e))           n in [-150, 129]
//   r  = x - n*C1 - n*C2              C1 + C2 = ln 2; C1 has 9 significant bits, so n*C1 and
//                                     x - n*C1 are exact (Cody-Waite); |r| <= ln2/2 + tiny
//   p  = 1 + r + r^2 (1/2! + r (1/3! + ... + r/7!))   Taylor to degree 7: the truncation error
//                                     r^8/8! < 5.2e-9 relative is well below half an ulp (6e-8)
//   exp(x) = p * 2^n                  AVX-512: vscalefps (exact, handles overflow/underflow);
//                                     AVX2 / portable: p * 2^(n>>1) * 2^(n-(n>>1)), two exponent
//                                     fields that are always normal, so results below FLT_MIN
//                                     underflow gradually and results above FLT_MAX become inf.
//
// Accuracy (tests/test_sgemm.cpp measures it against exp in double): <= 2 ulp over [-87, 88];
// x < -103.98 gives +0, x > 88.73 gives +inf, NaN gives NaN.
//
// 2^x (exp2_16/exp2_8/exp2_scalar, for softmax in base 2: attention folds log2(e) into its scale
// and saves exp's multiply and Cody-Waite steps, 4 of its 15 instructions on AVX-512):
//
//   x  clamped to [-151, 128]         (NaN passes)
//   n  = round(x), f = x - n          exact: f in [-1/2, 1/2]
//   p  = 1 + f (c1 + f (c2 + ... + f c6))   degree 6, fitted for relative error (2e-9 on the
//                                     interval, below the float rounding of the Horner steps)
//   2^x = p * 2^n                     as for exp
//
// Accuracy: <= 1.5 ulp over [-126, 127] (measured 0.93 with FMA, 1.23 without);
// x <= -150 gives +0, x >= 128 gives +inf, NaN gives NaN.
//
// Public functions (all accept y == x; none allocates or keeps state):
//   vexp(x, y, n)            y[i] = exp(x[i])
//   vexp2(x, y, n)           y[i] = 2^x[i]
//   vsigmoid(x, y, n)        y[i] = 1 / (1 + exp(-x[i]))
//   vsilu(x, y, n)           y[i] = x[i] / (1 + exp(-x[i]))
//   exp_sub_max_sum(x, n, m) x[i] = exp(x[i] - m) in place, returns the sum (softmax rows; the
//                            summation order depends only on n, so it is thread-count independent)
// and per-register versions (vmath::exp16/exp8 ...) for kernels that already hold the data.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace yv9::ops {
namespace vmath {

inline constexpr float kExpLo = -104.0f;  // exp(-104) < 2^-149: rounds to +0
inline constexpr float kExpHi = 89.0f;    // exp(89) > FLT_MAX: becomes +inf
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;         // 355/512: 9 significant bits
inline constexpr float kLn2Lo = -2.12194440054690583e-4f;  // ln 2 - kLn2Hi
// 1/k! for k = 2..7 (Taylor coefficients; see the header comment for why degree 7 suffices).
inline constexpr float kC2 = 0.5f;
inline constexpr float kC3 = 1.66666666666666667e-1f;
inline constexpr float kC4 = 4.16666666666666667e-2f;
inline constexpr float kC5 = 8.33333333333333333e-3f;
inline constexpr float kC6 = 1.38888888888888889e-3f;
inline constexpr float kC7 = 1.98412698412698413e-4f;

// 2^f on [-1/2, 1/2]: p(f) = 1 + f (kE2C1 + f (kE2C2 + ... + f kE2C6)), least relative error.
inline constexpr float kExp2Lo = -151.0f;  // 2^-151 < half the smallest subnormal: rounds to +0
inline constexpr float kExp2Hi = 128.0f;   // 2^128 > FLT_MAX: becomes +inf
inline constexpr float kE2C1 = 0.6931471824645996f;
inline constexpr float kE2C2 = 0.24022647738456726f;
inline constexpr float kE2C3 = 0.055503323674201965f;
inline constexpr float kE2C4 = 0.00961843691766262f;
inline constexpr float kE2C5 = 0.001339887036010623f;
inline constexpr float kE2C6 = 0.0001535360497655347f;

inline float bits_to_float(std::int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

// Round to nearest with the 1.5*2^23 trick (exact for |t| < 2^22); no -ffast-math, so the
// add/sub pair is not folded away.
inline float round_nearest(float t) {
  const float magic = 12582912.0f;
  return (t + magic) - magic;
}
// p * 2^n for an integral n in [-151, 129] as two factors whose exponent fields are always normal,
// so results below FLT_MIN underflow gradually and results above FLT_MAX become inf.
inline float scale_pow2(float p, float n) {
  const std::int32_t ni = static_cast<std::int32_t>(n == n ? n : 0.0f);  // NaN -> any exponent: p is NaN
  const std::int32_t h = ni >> 1;
  return p * bits_to_float((h + 127) << 23) * bits_to_float((ni - h + 127) << 23);
}

// Portable versions, written branch-free so GCC vectorises loops that call them (aarch64 NEON, SSE2).
inline float exp_scalar(float x) {
  x = x < kExpLo ? kExpLo : x;  // comparisons with NaN are false: NaN stays NaN
  x = x > kExpHi ? kExpHi : x;
  const float n = round_nearest(x * kLog2e);
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float q = kC7;
  q = q * r + kC6;
  q = q * r + kC5;
  q = q * r + kC4;
  q = q * r + kC3;
  q = q * r + kC2;
  return scale_pow2(1.0f + (r + (r * r) * q), n);
}

inline float exp2_scalar(float x) {
  x = x < kExp2Lo ? kExp2Lo : x;
  x = x > kExp2Hi ? kExp2Hi : x;
  const float n = round_nearest(x);
  const float f = x - n;
  float q = kE2C6;
  q = q * f + kE2C5;
  q = q * f + kE2C4;
  q = q * f + kE2C3;
  q = q * f + kE2C2;
  q = q * f + kE2C1;
  return scale_pow2(q * f + 1.0f, n);
}

#if defined(__AVX512F__)
// GCC 12's unmasked forms of min/max/roundscale/scalef/rcp14 pass _mm512_undefined_ps() and then
// warn (-Wuninitialized, a false positive: GCC bug 105593) in every file that inlines them; the
// masked forms with an all-ones mask compile to the same instructions without the warning.
inline constexpr __mmask16 kAll16 = 0xFFFF;
// The first min(n, 16) lanes (n >= 0): the mask of a loop's last, partial vector.
inline __mmask16 tail_mask16(std::int64_t n) { return n >= 16 ? kAll16 : static_cast<__mmask16>((1u << n) - 1u); }

inline __m512 exp16(__m512 x) {
  // vminps/vmaxps return the second operand when either is NaN: with the constant first, a NaN x
  // passes through the clamp.
  x = _mm512_maskz_min_ps(kAll16, _mm512_set1_ps(kExpHi), x);
  x = _mm512_maskz_max_ps(kAll16, _mm512_set1_ps(kExpLo), x);
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(kLog2e));
  const __m512 n = _mm512_mask_roundscale_ps(t, kAll16, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(kC7), r, _mm512_set1_ps(kC6));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(kC5));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(kC4));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(kC3));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(kC2));
  const __m512 p = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r));
  return _mm512_mask_scalef_ps(p, kAll16, p, n);
}
inline __m512 exp2_16(__m512 x) {
  x = _mm512_maskz_min_ps(kAll16, _mm512_set1_ps(kExp2Hi), x);  // constant first: NaN passes
  x = _mm512_maskz_max_ps(kAll16, _mm512_set1_ps(kExp2Lo), x);
  const __m512 n = _mm512_mask_roundscale_ps(x, kAll16, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(kE2C6), f, _mm512_set1_ps(kE2C5));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(kE2C4));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(kE2C3));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(kE2C2));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(kE2C1));
  const __m512 p = _mm512_fmadd_ps(q, f, _mm512_set1_ps(1.0f));
  return _mm512_mask_scalef_ps(p, kAll16, p, n);
}
// 1/d for d >= 1 to ~2^-28 relative: rcp14 plus one Newton step is cheaper than vdivps on a zmm.
// The Newton step would turn d = inf into inf * 0 = NaN, so d > 2^126 (1/d below FLT_MIN) gives 0.
inline __m512 recip16(__m512 d) {
  const __m512 y = _mm512_mask_rcp14_ps(d, kAll16, d);
  const __m512 r = _mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(1.0f)), y);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(d, _mm512_set1_ps(0x1p126f), _CMP_GT_OQ), r, _mm512_setzero_ps());
}
inline __m512 sigmoid16(__m512 x) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return recip16(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
inline __m512 silu16(__m512 x) { return _mm512_mul_ps(x, sigmoid16(x)); }
// Horizontal sum in a fixed order (lane pairs, then halves): deterministic and warning-free.
inline float sum16(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  float s8[8];
  for (int i = 0; i < 8; ++i) s8[i] = l[i] + l[i + 8];
  return ((s8[0] + s8[4]) + (s8[2] + s8[6])) + ((s8[1] + s8[5]) + (s8[3] + s8[7]));
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
// scale_pow2 on 8 lanes. NaN converts to INT_MIN: the exponent fields are then garbage but p is
// NaN, so is the result.
inline __m256 scale_pow2_8(__m256 p, __m256 n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(kExpHi), x);
  x = _mm256_max_ps(_mm256_set1_ps(kExpLo), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(kC7), r, _mm256_set1_ps(kC6));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC5));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC4));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC3));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC2));
  return scale_pow2_8(_mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r)), n);
}
inline __m256 exp2_8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(kExp2Hi), x);
  x = _mm256_max_ps(_mm256_set1_ps(kExp2Lo), x);
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(kE2C6), f, _mm256_set1_ps(kE2C5));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(kE2C4));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(kE2C3));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(kE2C2));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(kE2C1));
  return scale_pow2_8(_mm256_fmadd_ps(q, f, _mm256_set1_ps(1.0f)), n);
}
// Division, not rcp + Newton: _mm256_rcp_ps has only 12 bits and vdivps ymm is cheap on AVX2 cores.
inline __m256 sigmoid8(__m256 x) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}
inline __m256 silu8(__m256 x) { return _mm256_mul_ps(x, sigmoid8(x)); }

// Lane mask with the first n (0..8) lanes set, for maskload/maskstore tails.
inline __m256i tail_mask8(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

inline float sigmoid_scalar(float x) { return 1.0f / (1.0f + exp_scalar(-x)); }
inline float silu_scalar(float x) { return x / (1.0f + exp_scalar(-x)); }

}  // namespace vmath

namespace vmath {
// Function objects overloaded on the register type of this target and on float (the portable twin).
#if defined(__AVX512F__)
#define YV9_VMATH_FN(NAME, V512, V256, SCALAR) \
  struct NAME {                                \
    __m512 operator()(__m512 v) const { return V512(v); } \
    float operator()(float v) const { return SCALAR(v); } \
  };
#elif defined(__AVX2__) && defined(__FMA__)
#define YV9_VMATH_FN(NAME, V512, V256, SCALAR) \
  struct NAME {                                \
    __m256 operator()(__m256 v) const { return V256(v); } \
    float operator()(float v) const { return SCALAR(v); } \
  };
#else
#define YV9_VMATH_FN(NAME, V512, V256, SCALAR) \
  struct NAME {                                \
    float operator()(float v) const { return SCALAR(v); } \
  };
#endif
YV9_VMATH_FN(ExpFn, exp16, exp8, exp_scalar)
YV9_VMATH_FN(Exp2Fn, exp2_16, exp2_8, exp2_scalar)
YV9_VMATH_FN(SigmoidFn, sigmoid16, sigmoid8, sigmoid_scalar)
YV9_VMATH_FN(SiluFn, silu16, silu8, silu_scalar)
#undef YV9_VMATH_FN

// y[i] = f(x[i]): full registers, then one masked register for the tail.
template <class F>
inline void map(const float* x, float* y, std::int64_t n, F f) {
#if defined(__AVX512F__)
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask16(n - i);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
#elif defined(__AVX2__) && defined(__FMA__)
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask8(n - i);
    _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));
  }
#else
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
#endif
}
}  // namespace vmath

inline void vexp(const float* x, float* y, std::int64_t n) { vmath::map(x, y, n, vmath::ExpFn{}); }
inline void vexp2(const float* x, float* y, std::int64_t n) { vmath::map(x, y, n, vmath::Exp2Fn{}); }
inline void vsigmoid(const float* x, float* y, std::int64_t n) { vmath::map(x, y, n, vmath::SigmoidFn{}); }
inline void vsilu(const float* x, float* y, std::int64_t n) { vmath::map(x, y, n, vmath::SiluFn{}); }

inline float exp_sub_max_sum(float* x, std::int64_t n, float m) {
#if defined(__AVX512F__)
  const __m512 vm = _mm512_set1_ps(m);
  __m512 s = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = vmath::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    _mm512_storeu_ps(x + i, e);
    s = _mm512_add_ps(s, e);
  }
  if (i < n) {
    const __mmask16 k = vmath::tail_mask16(n - i);
    const __m512 e = vmath::exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm));
    _mm512_mask_storeu_ps(x + i, k, e);
    s = _mm512_mask_add_ps(s, k, s, e);
  }
  return vmath::sum16(s);
#elif defined(__AVX2__) && defined(__FMA__)
  const __m256 vm = _mm256_set1_ps(m);
  __m256 s = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = vmath::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  if (i < n) {
    const __m256i k = vmath::tail_mask8(n - i);
    const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(k), vmath::exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm)));
    _mm256_maskstore_ps(x + i, k, e);
    s = _mm256_add_ps(s, e);
  }
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  const __m128 h2 = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
#else
  // Eight interleaved partial sums: lets GCC vectorise without -ffast-math reassociation, and the
  // order is still fixed by n alone.
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      x[i + l] = vmath::exp_scalar(x[i + l] - m);
      part[l] += x[i + l];
    }
  for (; i < n; ++i) {
    x[i] = vmath::exp_scalar(x[i] - m);
    part[0] += x[i];
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
#endif
}

}  // namespace yv9::ops
