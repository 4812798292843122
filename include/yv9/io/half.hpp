// SPDX-License-Identifier: MIT
// The 16-bit float formats of weight files, both ways.
//
//            sign exponent fraction   bias  largest finite        smallest subnormal
//   F16      1    5        10         15    65504                 2^-24
//   BF16     1    8        7          127   (2 - 2^-7) * 2^127    2^-133
//   F32      1    8        23         127   (2 - 2^-23) * 2^127   2^-149
//
// Widening (half_to_float, bf16_to_float) is exact for every input. Narrowing (float_to_half,
// float_to_bf16, double_to_float) rounds to nearest, ties to even, computed in integers on the
// double's significand, so the result does not depend on the FP environment and a double input
// is rounded once (not through float first). Subnormal results are produced, not flushed; NaN
// stays a quiet NaN with its sign; infinities stay infinities. A finite input whose rounded
// magnitude does not fit the format is refused (the function returns false) rather than turned
// into an infinity: a weight file must hold the model's values, not silently different ones.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace yv9::io {

// IEEE half -> float, exact for every input (subnormals, infinities, NaN payloads).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal half: normalise into a float
    std::uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace detail {

// m / 2^s rounded to nearest, ties to even (s >= 1).
inline std::uint64_t shift_right_even(std::uint64_t m, int s) {
  if (s >= 64) return 0;  // m < 2^53 <= 2^(s-1): below one half
  const std::uint64_t q = m >> s, rem = m & ((std::uint64_t(1) << s) - 1), half = std::uint64_t(1) << (s - 1);
  return (rem > half || (rem == half && (q & 1))) ? q + 1 : q;
}

// x rounded to the binary format with `frac` fraction bits, `exp_bits` exponent bits and bias
// emax = 2^(exp_bits-1) - 1, as its bit pattern. False if x is finite and rounds past the largest
// finite value.
inline bool round_to_binary(double x, int frac, int exp_bits, std::uint32_t& bits) {
  const int emax = (1 << (exp_bits - 1)) - 1, emin = 1 - emax;
  const std::uint32_t sign = std::signbit(x) ? std::uint32_t(1) << (frac + exp_bits) : 0;
  const std::uint32_t inf = ((std::uint32_t(1) << exp_bits) - 1) << frac;
  if (std::isnan(x)) {
    bits = sign | inf | (std::uint32_t(1) << (frac - 1));  // quiet NaN
    return true;
  }
  if (std::isinf(x)) {
    bits = sign | inf;
    return true;
  }
  if (x == 0) {
    bits = sign;
    return true;
  }
  int e = 0;
  const double f = std::frexp(std::fabs(x), &e);                         // |x| = f 2^e, f in [0.5, 1)
  const auto m = static_cast<std::uint64_t>(std::ldexp(f, 53));         // |x| = m 2^(e-53), exactly
  int E = e - 1;                                                        // |x| in [2^E, 2^(E+1))
  const int ulp_exp = (E < emin ? emin : E) - frac;                     // the result's last place
  std::uint64_t q = shift_right_even(m, ulp_exp - (e - 53));            // |result| = q 2^ulp_exp
  if (E < emin) {  // subnormal range; q == 2^frac is the smallest normal, whose pattern is q too
    bits = sign | static_cast<std::uint32_t>(q);
    return true;
  }
  if (q == (std::uint64_t(1) << (frac + 1))) {  // rounded up to the next power of two
    q >>= 1;
    ++E;
  }
  if (E > emax) return false;
  bits = sign | (static_cast<std::uint32_t>(E + emax) << frac) | static_cast<std::uint32_t>(q - (std::uint64_t(1) << frac));
  return true;
}

}  // namespace detail

// x as IEEE half, round to nearest even; false if finite x is beyond the half range (|x| >= 65520).
inline bool float_to_half(double x, std::uint16_t& out) {
  std::uint32_t b = 0;
  if (!detail::round_to_binary(x, 10, 5, b)) return false;
  out = static_cast<std::uint16_t>(b);
  return true;
}

// x as bfloat16, round to nearest even; false if finite x is beyond the bfloat16 range.
inline bool float_to_bf16(double x, std::uint16_t& out) {
  std::uint32_t b = 0;
  if (!detail::round_to_binary(x, 7, 8, b)) return false;
  out = static_cast<std::uint16_t>(b);
  return true;
}

// x as float, round to nearest even; false if finite x is beyond the float range.
inline bool double_to_float(double x, float& out) {
  std::uint32_t b = 0;
  if (!detail::round_to_binary(x, 23, 8, b)) return false;
  std::memcpy(&out, &b, 4);
  return true;
}

}  // namespace yv9::io
