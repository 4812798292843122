// SPDX-License-Identifier: MIT
// ops/bf16.hpp: the scalar bfloat16 twin (rounding, the vdpbf16ps step) against known values and
// float64, and the native AVX512_BF16 kernels against the twin, bit for bit (skipped loudly where
// the CPU lacks the feature).
//
// Tolerance of the twin against float64: the reference takes the bf16-rounded operands, so only
// the fp32 accumulation remains: |got - ref| <= 2 * u * sqrt(K) * S + 1e-6 * |ref| (u = 2^-24,
// S = sum_k |a_ik * b_kj|), test_sgemm's bound; a wrong or missing pair (~S / K) still fails.
#include <yv9/ops/attention.hpp>
#include <yv9/ops/bf16.hpp>
#include <yv9/ops/conv.hpp>
#include <yv9/ops/reference.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

using namespace yv9;
using ops::EpiAct;

namespace {

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> random_vec(std::int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

struct Case {
  std::int64_t M, K, N;
};

// C = act(A * B + bias) with the operands rounded to bf16, in double; S per element for the bound.
void reference(const std::vector<float>& A, const std::vector<float>& B, const std::vector<float>& bias, const Case& c,
               EpiAct act, std::vector<double>& out, std::vector<double>& S) {
  out.assign(static_cast<std::size_t>(c.M * c.N), 0.0);
  S.assign(out.size(), 0.0);
  for (std::int64_t m = 0; m < c.M; ++m)
    for (std::int64_t j = 0; j < c.N; ++j) {
      double acc = 0, s = 0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const double p = double(ops::widen_bf16(ops::round_bf16(A[static_cast<std::size_t>(m * c.K + k)]))) *
                         double(ops::widen_bf16(ops::round_bf16(B[static_cast<std::size_t>(k * c.N + j)])));
        acc += p;
        s += std::fabs(p);
      }
      acc += bias.empty() ? 0.0 : bias[static_cast<std::size_t>(m)];
      if (act == EpiAct::SiLU) acc = acc / (1.0 + std::exp(-acc));
      out[static_cast<std::size_t>(m * c.N + j)] = acc;
      S[static_cast<std::size_t>(m * c.N + j)] = s;
    }
}

// The whole product through sgemm_bf16 in tiles of (mt x nt) (0: whole).
std::vector<float> run(const ops::PackedA16& pa, const std::vector<float>& B, const Case& c, const ops::Epilogue& e,
                       bool emulate, std::int64_t mt = 0, std::int64_t nt = 0) {
  std::vector<float> C(static_cast<std::size_t>(c.M * c.N), 0.0f);
  std::vector<float> scratch(ops::gemm_scratch_floats(nt ? nt : c.N));
  const ops::DenseB db(B.data(), c.N);
  if (!mt) mt = c.M;
  if (!nt) nt = c.N;
  for (std::int64_t m0 = 0; m0 < c.M; m0 += mt)
    for (std::int64_t j0 = 0; j0 < c.N; j0 += nt)
      ops::sgemm_bf16(pa, m0, std::min(mt, c.M - m0), db, j0, std::min(nt, c.N - j0), C.data(), c.N, e, scratch.data(),
                      emulate);
  return C;
}

const Case kCases[] = {{1, 1, 1},   {12, 2, 32},   {13, 3, 33},    {5, 7, 17},    {24, 64, 64},
                       {7, 255, 45}, {30, 257, 70}, {64, 600, 100}, {3, 1000, 31}, {40, 9, 400}};

}  // namespace

TEST_CASE("round_bf16: nearest even, denormals flush, NaN stays NaN") {
  CHECK(ops::round_bf16(1.0f) == 0x3F80);
  CHECK(ops::round_bf16(-2.0f) == 0xC000);
  CHECK(ops::round_bf16(from_bits(0x3F808000u)) == 0x3F80);  // tie, even below
  CHECK(ops::round_bf16(from_bits(0x3F818000u)) == 0x3F82);  // tie, even above
  CHECK(ops::round_bf16(from_bits(0x3F808001u)) == 0x3F81);
  CHECK(ops::round_bf16(from_bits(0x3F807FFFu)) == 0x3F80);
  CHECK(ops::round_bf16(from_bits(0x7F7FFFFFu)) == 0x7F80);  // rounds up to infinity
  CHECK(ops::round_bf16(from_bits(0x00400000u)) == 0x0000);  // denormal
  CHECK(ops::round_bf16(from_bits(0x80400000u)) == 0x8000);
  CHECK(ops::round_bf16(from_bits(0x7FA00001u)) == 0x7FE0);  // signalling NaN -> quiet
  CHECK(ops::round_bf16(from_bits(0x7F800000u)) == 0x7F80);
  CHECK(ops::widen_bf16(0x3F80) == 1.0f);
  // the step is two fused multiply-adds, odd pair member first
  const std::uint32_t a = ops::pair_bf16(3.0f, 1.0f), b = ops::pair_bf16(1.0f, 1e-8f);
  CHECK(ops::dot_step(1.0f, a, b) == std::fma(3.0f, 1.0f, std::fma(1.0f, ops::widen_bf16(ops::round_bf16(1e-8f)), 1.0f)));
}

TEST_CASE("sgemm_bf16 (scalar twin) against float64 on the rounded operands") {
  std::mt19937 rng(7);
  for (const Case& c : kCases) {
    CAPTURE(c.M);
    CAPTURE(c.K);
    CAPTURE(c.N);
    const auto A = random_vec(c.M * c.K, rng), B = random_vec(c.K * c.N, rng), bias = random_vec(c.M, rng);
    const ops::PackedA16 pa = ops::pack_a16(A.data(), c.M, c.K, c.K);
    ops::Epilogue e;
    e.bias = bias.data();
    e.act = EpiAct::SiLU;
    const auto got = run(pa, B, c, e, true);
    std::vector<double> ref, S;
    reference(A, B, bias, c, EpiAct::SiLU, ref, S);
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double tol = 2 * std::ldexp(1.0, -24) * std::sqrt(double(c.K)) * S[i] + 1e-6 * std::fabs(ref[i]) + 1e-30;
      worst = std::max(worst, std::fabs(got[i] - ref[i]) / tol);
    }
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("sgemm_bf16 native kernels: bit-identical to the scalar twin, for any tiling") {
  if (!ops::cpu_has_avx512_bf16()) {
    MESSAGE("SKIPPED: this CPU has no AVX512_BF16 (or the OS does not save zmm state); the native bf16 kernels are untested here");
    return;
  }
  std::mt19937 rng(11);
  for (const Case& c : kCases) {
    CAPTURE(c.M);
    CAPTURE(c.K);
    CAPTURE(c.N);
    auto A = random_vec(c.M * c.K, rng), B = random_vec(c.K * c.N, rng);
    const auto bias = random_vec(c.M, rng);
    // specials: ties, a denormal, an infinity-free large value
    B[0] = from_bits(0x3F808000u);
    if (B.size() > 1) B[1] = from_bits(0x00400000u);
    if (A.size() > 1) A[1] = 1e30f;
    const ops::PackedA16 pa = ops::pack_a16(A.data(), c.M, c.K, c.K);
    for (int variant = 0; variant < 3; ++variant) {
      ops::Epilogue e;
      if (variant == 1) {
        e.bias = bias.data();
        e.act = EpiAct::SiLU;
      }
      const auto emu = run(pa, B, c, e, true);
      const auto nat = run(pa, B, c, e, false);
      CHECK(std::memcmp(emu.data(), nat.data(), emu.size() * sizeof(float)) == 0);
      const auto tiled = run(pa, B, c, e, false, 5, 48);
      CHECK(std::memcmp(nat.data(), tiled.data(), nat.size() * sizeof(float)) == 0);
      if (variant == 2) {  // accumulate: C += A*B on top of a first product
        ops::Epilogue acc;
        acc.accumulate = true;
        std::vector<float> c1 = nat, c2 = nat;
        std::vector<float> scratch(ops::gemm_scratch_floats(c.N));
        const ops::DenseB db(B.data(), c.N);
        ops::sgemm_bf16(pa, 0, c.M, db, 0, c.N, c1.data(), c.N, acc, scratch.data(), true);
        ops::sgemm_bf16(pa, 0, c.M, db, 0, c.N, c2.data(), c.N, acc, scratch.data(), false);
        CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
      }
    }
  }
}

#if YV9_BF16_NATIVE
TEST_CASE("convert_b: hardware rounding equals round_bf16 on every kind of value") {
  if (!ops::cpu_has_avx512_bf16()) {
    MESSAGE("SKIPPED: this CPU has no AVX512_BF16");
    return;
  }
  std::mt19937 rng(3);
  const std::int64_t kc = 9, nc = 45, panels = (nc + ops::kGemmNR - 1) / ops::kGemmNR;
  std::vector<float> src(static_cast<std::size_t>(panels * kc * ops::kGemmNR));
  for (float& x : src) x = from_bits(static_cast<std::uint32_t>(rng()));  // NaNs, denormals, infinities, all
  for (std::int64_t k = 0; k < kc; ++k)  // lanes past nc are zero in a real pack
    for (std::int64_t j = nc; j < panels * ops::kGemmNR; ++j)
      src[static_cast<std::size_t>((j / ops::kGemmNR) * kc * ops::kGemmNR + k * ops::kGemmNR + j % ops::kGemmNR)] = 0.0f;
  const std::size_t words = static_cast<std::size_t>(((nc + ops::kBfNR - 1) / ops::kBfNR) * ((kc + 1) / 2) * ops::kBfNR);
  std::vector<std::uint32_t> ref(words), nat(words);
  ops::convert_b_reference(src.data(), kc, nc, ref.data());
  ops::bf16_detail::convert_b(src.data(), kc, nc, nat.data());
  CHECK(ref == nat);
}
#endif

// ---- convolutions in bf16 -------------------------------------------------------------------------

namespace {

float round_trip(float x) { return ops::widen_bf16(ops::round_bf16(x)); }

ops::Conv2d<float> conv_for(const ops::ConvGeom& g, const std::vector<float>& w, const std::vector<float>& bias,
                            ops::ConvAlgo algo, bool bf16) {
  ops::Conv2d<float> c;
  c.g = g;
  c.weight = w;
  c.bias = bias;
  c.act.kind = ops::ActKind::SiLU;
  c.finalize(algo, /*keep_plain=*/false, 0, 0, bf16);
  return c;
}

double max_abs(const Tensor<float>& a, const Tensor<double>& b) {
  double e = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) e = std::max(e, std::fabs(double(a[i]) - b[i]));
  return e;
}

}  // namespace

TEST_CASE("bf16 convolutions: im2col exact on the rounded operands, Winograd within its bound, any thread count") {
  if (!ops::cpu_has_avx512_bf16()) {
    MESSAGE("SKIPPED: this CPU has no AVX512_BF16; the bf16 convolutions are untested here");
    return;
  }
  struct C {
    std::int64_t c1, c2, k, s, g, h, w;
  };
  const C cases[] = {{8, 16, 3, 2, 1, 33, 31}, {64, 48, 1, 1, 1, 20, 20}, {64, 64, 3, 1, 1, 20, 20},
                     {128, 96, 3, 1, 1, 10, 10}, {48, 48, 3, 2, 1, 19, 19}, {16, 32, 3, 1, 2, 9, 40}};
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const C& t : cases) {
    CAPTURE(t.c1);
    CAPTURE(t.c2);
    CAPTURE(t.k);
    CAPTURE(t.s);
    const ops::ConvGeom g = ops::conv_geom(t.c1, t.c2, t.k, t.s, -1, t.g);
    std::vector<float> w(static_cast<std::size_t>(g.weight_numel())), bias(static_cast<std::size_t>(t.c2));
    const float scale = 1.0f / std::sqrt(float(g.kdim()));
    for (float& v : w) v = nd(rng) * scale;
    for (float& v : bias) v = 0.2f * nd(rng);
    Tensor<float> x(Shape{1, t.c1, t.h, t.w});
    for (std::int64_t i = 0; i < x.size(); ++i) x[i] = nd(rng);
    // float64 on the bf16-rounded operands: what the bf16 GEMM computes, but for its fp32 accumulation
    Tensor<double> xr(x.shape());
    for (std::int64_t i = 0; i < x.size(); ++i) xr[i] = round_trip(x[i]);
    std::vector<double> wr(w.size()), wd(w.begin(), w.end()), bd(bias.begin(), bias.end());
    for (std::size_t i = 0; i < w.size(); ++i) wr[i] = round_trip(w[i]);
    ops::Activation act;
    act.kind = ops::ActKind::SiLU;
    const Tensor<double> ref_r = ops::reference::conv2d(xr, g, wr, bd, act);
    const Tensor<double> ref = ops::reference::conv2d(x.cast<double>(), g, wd, bd, act);
    double peak = 0;
    for (std::int64_t i = 0; i < ref.size(); ++i) peak = std::max(peak, std::fabs(ref[i]));

    Context one, two;
    two.threads = 2;
    const ops::Conv2d<float> c32 = conv_for(g, w, bias, ops::ConvAlgo::Im2col, false);
    const ops::Conv2d<float> c16 = conv_for(g, w, bias, ops::ConvAlgo::Im2col, true);
    REQUIRE(!c16.packed16.empty());
    if (t.c1 == 8) {  // a K below 64 (the 3-channel stem) stays fp32: too short to amortise B's conversion
      ops::ConvGeom stem = ops::conv_geom(3, 16, 3, 2);
      const ops::Conv2d<float> s16 = conv_for(stem, std::vector<float>(static_cast<std::size_t>(stem.weight_numel()), 0.5f),
                                              std::vector<float>(16, 0.0f), ops::ConvAlgo::Im2col, true);
      CHECK(s16.packed16.empty());
      CHECK(!s16.packed.empty());
    }
    const Tensor<float> y32 = ops::run_conv(c32, cview(x), two), y16 = ops::run_conv(c16, cview(x), two);
    const Tensor<float> y16one = ops::run_conv(c16, cview(x), one);
    CHECK(std::memcmp(y16.data(), y16one.data(), sizeof(float) * static_cast<std::size_t>(y16.size())) == 0);
    const double e32 = max_abs(y32, ref), e16r = max_abs(y16, ref_r), e16 = max_abs(y16, ref);
    const double floor = std::max(e32, 4 * 1.1920929e-7 * peak);
    MESSAGE("c" << t.c1 << "->" << t.c2 << " k" << t.k << " s" << t.s << " g" << t.g << " " << t.h << "x" << t.w
                << ": fp32 im2col " << e32 << "; bf16 im2col " << e16 << " (" << e16 / peak
                << " of the peak), on the rounded operands " << e16r);
    CHECK(e16r <= 2 * floor);              // only the fp32 accumulation differs
    CHECK(e16 <= 4 * std::ldexp(1.0, -8) * peak);  // ~2^-9 per operand, summed over random signs
    if (ops::winograd_applies(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups)) {
      for (ops::ConvAlgo algo : {ops::ConvAlgo::F2, ops::ConvAlgo::F4}) {
        if (algo == ops::ConvAlgo::F4) {  // what F(4,3) would have given: measured, and why it is not used
          ops::Conv2d<float> f4 = conv_for(g, w, bias, ops::ConvAlgo::Im2col, false);
          f4.f4 = ops::Winograd3x3<4>(w.data(), g.c1, g.c2, true);
          f4.packed.clear();
          f4.winograd = 4;
          const double e4 = max_abs(ops::run_conv(f4, cview(x), two), ref);
          MESSAGE("   bf16 F(4,3), not used: " << e4 << " (" << e4 / e16 << "x bf16 im2col)");
          CHECK(e4 > 4 * e16);  // if this ever fails, F(4,3) may be worth allowing in bf16
        }
        const ops::Conv2d<float> cw = conv_for(g, w, bias, algo, true);
        REQUIRE(cw.winograd == 2);  // F(4,3) is too inaccurate on bf16 operands: bf16 runs F(2,3) for it
        const Tensor<float> yw = ops::run_conv(cw, cview(x), two), ywone = ops::run_conv(cw, cview(x), one);
        CHECK(std::memcmp(yw.data(), ywone.data(), sizeof(float) * static_cast<std::size_t>(yw.size())) == 0);
        const double ew = max_abs(yw, ref);
        MESSAGE("   bf16 F(" << cw.winograd << ",3): " << ew << " (" << ew / e16 << "x bf16 im2col)");
        // the operands are rounded in the transform domain, where F(4,3)'s constants spread them
        // V = B^T d B sums up to 4 inputs (U up to 9 taps / 4), rounded as one: its error per operand is
        // up to ~2x im2col's, measured 1.1-2.1x; 3x bounds it, a bug gives O(peak)
        CHECK(ew <= 3.0 * std::max(e16, std::ldexp(1.0, -9) * peak));
      }
    }
  }
}

// The attention in bf16 (Precision::Bf16 loads of MMQA models): K^T, V^T and the scaled Q^T rounded
// to bf16 (Q^T scaled by scale * log2(e): scores in base 2), P = 2^(S - m) rounded as the second
// product packs it, everything else fp32.
//   reference: float64 on those rounded operands, with P exact. P's rounding (at most 2^-8 relative
//   per element: bf16 keeps 8 significant bits) then moves O by at most 2^-8 * max|V| (O is a
//   P-weighted mean of V over l, which is summed from the unrounded P); the rest is fp32 noise. A
//   wrong pair or a missed key block is O(max|V|). (P's largest terms are not exactly 1: the
//   softmax's reference m is the first key block's maximum, ops/attention.hpp.)
TEST_CASE("bf16 attention: scalar twin within P's rounding of float64, native bit-identical, any thread count") {
  struct A {
    std::int64_t rows, Lk, d;
    double rise = 0;  // key j scaled by 1 + rise * j / Lk: later key blocks far above the first (they raise m)
  };
  const A cases[] = {{96, 256, 48}, {200, 300, 48}, {37, 513, 17}, {8 * 100, 100, 32}, {96, 800, 48, 4}};
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const A& c : cases) {
    CAPTURE(c.rows);
    CAPTURE(c.Lk);
    CAPTURE(c.d);
    std::vector<float> Q(static_cast<std::size_t>(c.rows * c.d)), K(static_cast<std::size_t>(c.d * c.Lk)),
        V(static_cast<std::size_t>(c.Lk * c.d));
    for (float& v : Q) v = 1.5f * nd(rng);  // scores of a few units, as in trained models
    for (float& v : K) v = nd(rng);
    for (float& v : V) v = nd(rng);
    for (std::int64_t k = 0; k < c.d; ++k)
      for (std::int64_t j = 0; j < c.Lk; ++j) K[static_cast<std::size_t>(k * c.Lk + j)] *= static_cast<float>(1 + c.rise * j / c.Lk);
    const float scale = 1.0f / std::sqrt(6.0f);
    const float base2 = scale * ops::vmath::kLog2e;  // the scores' scale: the softmax runs in base 2
    Context one, two;
    two.threads = 2;
    auto run_attn = [&](ops::AttnPrecision p, const Context& ctx) {
      std::vector<float> O(Q.size());
      ops::attention_sgemm(Q.data(), c.rows, K.data(), V.data(), c.Lk, c.d, scale, O.data(), ctx, p);
      return O;
    };
    const std::vector<float> twin = run_attn(ops::AttnPrecision::Bf16Emulated, two);
    const std::vector<float> f32 = run_attn(ops::AttnPrecision::Fp32, two);
    double vmax = 0, worst = 0, worst32 = 0, worst_exact = 0;
    for (float v : V) vmax = std::max(vmax, double(std::fabs(v)));
    for (std::int64_t r = 0; r < c.rows; ++r) {
      std::vector<double> s(static_cast<std::size_t>(c.Lk)), s_exact(s.size());
      double mx = -1e300, mx_exact = -1e300;
      for (std::int64_t j = 0; j < c.Lk; ++j) {
        double a = 0, b = 0;
        for (std::int64_t k = 0; k < c.d; ++k) {
          const float q = Q[static_cast<std::size_t>(r * c.d + k)], kk = K[static_cast<std::size_t>(k * c.Lk + j)];
          a += round_trip(base2 * q) * round_trip(kk);
          b += double(scale) * q * kk;
        }
        s[static_cast<std::size_t>(j)] = a;
        s_exact[static_cast<std::size_t>(j)] = b;
        mx = std::max(mx, a);
        mx_exact = std::max(mx_exact, b);
      }
      for (std::int64_t k = 0; k < c.d; ++k) {
        double num = 0, l = 0, num_e = 0, l_e = 0;
        for (std::int64_t j = 0; j < c.Lk; ++j) {
          const double p = std::exp2(s[static_cast<std::size_t>(j)] - mx), pe = std::exp(s_exact[static_cast<std::size_t>(j)] - mx_exact);
          num += p * round_trip(V[static_cast<std::size_t>(j * c.d + k)]);
          l += p;
          num_e += pe * V[static_cast<std::size_t>(j * c.d + k)];
          l_e += pe;
        }
        const std::size_t i = static_cast<std::size_t>(r * c.d + k);
        worst = std::max(worst, std::fabs(twin[i] - num / l));
        worst32 = std::max(worst32, std::fabs(f32[i] - num_e / l_e));
        worst_exact = std::max(worst_exact, std::fabs(twin[i] - num_e / l_e));
      }
    }
    MESSAGE("attention rows " << c.rows << " keys " << c.Lk << " d " << c.d << ": bf16 twin " << worst
                              << " from float64 on its rounded operands (bound " << std::ldexp(vmax, -8)
                              << "); from exact float64: bf16 " << worst_exact << ", fp32 " << worst32);
    CHECK(worst <= std::ldexp(vmax, -8) + 1e-5 * vmax);
    CHECK(std::memcmp(twin.data(), f32.data(), sizeof(float) * twin.size()) != 0);  // bf16 was really used
    if (!ops::cpu_has_avx512_bf16()) {
      MESSAGE("SKIPPED: this CPU has no AVX512_BF16; the native bf16 attention is untested here");
      continue;
    }
    const std::vector<float> native = run_attn(ops::AttnPrecision::Bf16, two), native1 = run_attn(ops::AttnPrecision::Bf16, one);
    CHECK(std::memcmp(native.data(), twin.data(), sizeof(float) * twin.size()) == 0);
    CHECK(std::memcmp(native1.data(), twin.data(), sizeof(float) * twin.size()) == 0);
  }
}
