// SPDX-License-Identifier: MIT
// ops::sgemm against a naive double-precision twin on random shapes (ncnn-style sweeps), its
// tiling-independence (bit-identical results for any split of the output), the im2col packer
// against a direct convolution, and vexp/vsigmoid/vsilu accuracy against exp in double.
//
// GEMM tolerance, per element: |got - ref| <= 2 * u * sqrt(K) * S + 1e-6 * |ref| + 1e-30, where
// u = 2^-24 (fp32 unit roundoff) and S = sum_k |a_ik * b_kj| (computed in double). A chain of K
// fused multiply-adds has worst-case error K * u * S; its rounding errors are independent and of
// either sign, so the typical error is ~ sqrt(K) * u * S, and 2x that leaves margin while an
// indexing bug (a wrong or missing term, error ~ |a*b| ~ S / K) still fails for any K we test.
// The 1e-6 relative term covers the activation (a few ulp from vexp and the reciprocal).
#include <yv9/ops/sgemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

using namespace yv9;
using ops::EpiAct;
using ops::kGemmKC;
using ops::kGemmMR;
using ops::kGemmNR;

namespace {

std::vector<float> random_vec(std::int64_t n, std::mt19937& rng, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

double act_ref(double x, EpiAct act, double slope) {
  switch (act) {
    case EpiAct::None: return x;
    case EpiAct::SiLU: return x / (1.0 + std::exp(-x));
    case EpiAct::ReLU: return x > 0 ? x : 0;
    case EpiAct::LeakyReLU: return x < 0 ? x * slope : x;
    case EpiAct::ReLU6: return std::min(std::max(x, 0.0), 6.0);
  }
  return x;
}
const char* act_name(EpiAct a) {
  const char* names[] = {"None", "SiLU", "ReLU", "LeakyReLU", "ReLU6"};
  return names[static_cast<int>(a)];
}

// B stored transposed (N x K row-major): a packer unlike DenseB, as a caller might write.
struct TransposedB final : ops::BPacker {
  const float* Bt;
  std::int64_t ldbt;
  TransposedB(const float* bt, std::int64_t ld) : Bt(bt), ldbt(ld) {}
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const override {
    for (std::int64_t p = 0; p * kGemmNR < nc; ++p)
      for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t t = 0; t < kGemmNR; ++t) {
          const std::int64_t j = p * kGemmNR + t;
          dst[(p * kc + k) * kGemmNR + t] = j < nc ? Bt[(j0 + j) * ldbt + k0 + k] : 0.0f;
        }
  }
};

struct Case {
  std::int64_t M, N, K;
};

// Runs one sgemm over [m0, m0+mc) x [j0, j0+nc) and checks every element of C against the double
// reference (elements outside the tile must be untouched).
void check_gemm(const Case& c, std::int64_t m0, std::int64_t mc, std::int64_t j0, std::int64_t nc, std::int64_t ldc,
                const ops::Epilogue& epi, bool transposed, std::mt19937& rng) {
  const std::vector<float> A = random_vec(c.M * c.K, rng), B = random_vec(c.K * c.N, rng);
  const std::vector<float> bias = random_vec(c.M, rng);
  std::vector<float> Bt(static_cast<std::size_t>(c.K * c.N));
  for (std::int64_t k = 0; k < c.K; ++k)
    for (std::int64_t j = 0; j < c.N; ++j) Bt[j * c.K + k] = B[k * c.N + j];
  std::vector<float> C = random_vec(c.M * ldc, rng);
  const std::vector<float> C0 = C;
  ops::Epilogue e = epi;
  if (e.bias) e.bias = bias.data();

  // Pack into a PackedA that held a bigger, different matrix before: storage reuse must not leak
  // stale values into the zero padding.
  ops::PackedA pa = ops::pack_a(random_vec((c.M + 13) * (c.K + 7), rng).data(), c.M + 13, c.K + 7, c.K + 7);
  ops::pack_a(pa, A.data(), c.M, c.K, c.K);
  std::vector<float> scratch(ops::gemm_scratch_floats(nc) + 1);
  const ops::DenseB db(B.data(), c.N);
  const TransposedB tb(Bt.data(), c.K);
  // Scratch deliberately misaligned by one float: sgemm must not assume alignment.
  ops::sgemm(pa, m0, mc, transposed ? static_cast<const ops::BPacker&>(tb) : db, j0, nc, C.data(), ldc, e,
             scratch.data() + 1);

  const double u = std::ldexp(1.0, -24);
  int bad = 0;
  for (std::int64_t i = 0; i < c.M; ++i)
    for (std::int64_t j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      const bool inside = i >= m0 && i < m0 + mc && j >= j0 && j < j0 + nc;
      if (!inside) {
        if (std::memcmp(&got, &C0[i * ldc + j], sizeof got) != 0 && bad++ < 3)
          FAIL_CHECK("M" << c.M << " N" << c.N << " K" << c.K << ": C[" << i << "][" << j << "] outside the tile changed");
        continue;
      }
      double acc = e.accumulate ? C0[i * ldc + j] : 0.0, S = std::abs(acc);
      for (std::int64_t k = 0; k < c.K; ++k) {
        const double p = double(A[i * c.K + k]) * double(B[k * c.N + j]);
        acc += p;
        S += std::abs(p);
      }
      if (e.bias) acc += bias[i];
      const double ref = act_ref(acc, e.act, e.slope);
      const double tol = 2 * u * std::sqrt(double(std::max<std::int64_t>(c.K, 1))) * S + 1e-6 * std::abs(ref) + 1e-30;
      if (!(std::abs(got - ref) <= tol) && bad++ < 3)
        FAIL_CHECK("M" << c.M << " N" << c.N << " K" << c.K << " tile m0=" << m0 << " mc=" << mc << " j0=" << j0
                       << " nc=" << nc << " ldc=" << ldc << " act=" << act_name(e.act) << " bias=" << (e.bias != nullptr)
                       << " acc=" << e.accumulate << " transposedB=" << transposed << ": C[" << i << "][" << j
                       << "] = " << got << ", reference " << ref << " (tol " << tol << ")");
    }
  CHECK(bad == 0);
}

// Worst error in ulp (of the reference's binade) of y = fn(xs) against ref(x) in double, and where.
struct UlpWorst {
  double ulp = 0;
  float at = 0;
  template <class Fn, class Ref>
  void measure(Fn fn, Ref ref, const std::vector<float>& xs) {
    std::vector<float> ys(xs.size());
    fn(xs.data(), ys.data(), static_cast<std::int64_t>(xs.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double r = ref(double(xs[i]));
      const double e = std::abs(double(ys[i]) - r) / std::ldexp(1.0, std::ilogb(r) - 23);
      if (e > ulp) {
        ulp = e;
        at = xs[i];
      }
    }
  }
};

}  // namespace

TEST_CASE("sgemm: geometry constants are consistent") {
  CHECK(kGemmMR >= 1);
  CHECK(kGemmNR % 4 == 0);
  CHECK(kGemmKC >= 1);
  CHECK(ops::gemm_k_block(0) == 0);
  CHECK(ops::gemm_k_block(kGemmKC) == kGemmKC);
  CHECK(ops::gemm_k_block(kGemmKC + 1) == (kGemmKC + 2) / 2);
}

TEST_CASE("sgemm: edge shapes against the double reference (DenseB, whole matrix)") {
  std::mt19937 rng(2024);
  const std::int64_t Ms[] = {1, 2, 3, kGemmMR - 1, kGemmMR, kGemmMR + 1, 2 * kGemmMR + 5, 37};
  const std::int64_t Ns[] = {1, 5, kGemmNR - 1, kGemmNR, kGemmNR + 1, 3 * kGemmNR + 7, 97};
  const std::int64_t Ks[] = {1, 2, 7, 31, kGemmKC - 1, kGemmKC, kGemmKC + 1, 2 * kGemmKC + 3};
  for (std::int64_t M : Ms)
    for (std::int64_t N : Ns)
      for (std::int64_t K : Ks) check_gemm(Case{M, N, K}, 0, M, 0, N, N, ops::Epilogue{}, false, rng);
}

TEST_CASE("sgemm: random tiles, ldc > N, epilogues, accumulate, custom packer") {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  const EpiAct acts[] = {EpiAct::None, EpiAct::SiLU, EpiAct::ReLU, EpiAct::LeakyReLU, EpiAct::ReLU6};
  for (int trial = 0; trial < 300; ++trial) {
    const std::int64_t M = 1 + pick(rng) % 70, N = 1 + pick(rng) % 150, K = 1 + pick(rng) % (2 * kGemmKC + 50);
    const std::int64_t m0 = pick(rng) % M, mc = 1 + pick(rng) % (M - m0);
    const std::int64_t j0 = pick(rng) % N, nc = 1 + pick(rng) % (N - j0);
    const std::int64_t ldc = N + pick(rng) % 9;
    ops::Epilogue e;
    e.act = acts[pick(rng) % 5];
    e.slope = 0.1f;
    e.bias = (pick(rng) % 2) ? reinterpret_cast<const float*>(1) : nullptr;  // replaced by real data in check_gemm
    e.accumulate = pick(rng) % 4 == 0;
    INFO("trial " << trial);
    check_gemm(Case{M, N, K}, m0, mc, j0, nc, ldc, e, pick(rng) % 2 == 1, rng);
  }
}

TEST_CASE("sgemm: K = 0 gives act(bias), or act(C + bias) when accumulating") {
  std::mt19937 rng(5);
  for (bool accumulate : {false, true}) {
    const std::int64_t M = 13, N = 37;
    const std::vector<float> bias = random_vec(M, rng);
    std::vector<float> C = random_vec(M * N, rng);
    const std::vector<float> C0 = C;
    const ops::PackedA pa = ops::pack_a(nullptr, M, 0, 0);
    std::vector<float> scratch(ops::gemm_scratch_floats(N));
    const ops::DenseB db(nullptr, N);
    ops::Epilogue e;
    e.bias = bias.data();
    e.act = EpiAct::ReLU;
    e.accumulate = accumulate;
    ops::sgemm(pa, 0, M, db, 0, N, C.data(), N, e, scratch.data());
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        const float x = (accumulate ? C0[i * N + j] : 0.0f) + bias[i];
        CHECK(C[i * N + j] == (x > 0 ? x : 0.0f));
      }
  }
}

TEST_CASE("sgemm: results are bit-identical whatever tiling the caller uses") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  const Case cases[] = {{64, 700, 576}, {50, 333, 2 * kGemmKC + 17}, {kGemmMR * 3 + 1, kGemmNR * 5 + 3, 27}, {7, 1000, 300}};
  for (const Case& c : cases) {
    const std::vector<float> A = random_vec(c.M * c.K, rng), B = random_vec(c.K * c.N, rng);
    const std::vector<float> bias = random_vec(c.M, rng);
    const ops::PackedA pa = ops::pack_a(A.data(), c.M, c.K, c.K);
    const ops::DenseB db(B.data(), c.N);
    ops::Epilogue e;
    e.bias = bias.data();
    e.act = EpiAct::SiLU;
    std::vector<float> whole(static_cast<std::size_t>(c.M * c.N));
    {
      std::vector<float> scratch(ops::gemm_scratch_floats(c.N));
      ops::sgemm(pa, 0, c.M, db, 0, c.N, whole.data(), c.N, e, scratch.data());
    }
    for (int split = 0; split < 6; ++split) {
      // Random row and column cut points, not aligned to MR / NR.
      std::vector<std::int64_t> mcut = {0, c.M}, ncut = {0, c.N};
      for (int i = 0; i < 1 + pick(rng) % 4; ++i) mcut.push_back(pick(rng) % c.M);
      for (int i = 0; i < 1 + pick(rng) % 6; ++i) ncut.push_back(pick(rng) % c.N);
      std::sort(mcut.begin(), mcut.end());
      std::sort(ncut.begin(), ncut.end());
      std::vector<float> tiled(whole.size(), std::numeric_limits<float>::quiet_NaN());
      for (std::size_t a = 0; a + 1 < mcut.size(); ++a)
        for (std::size_t b = 0; b + 1 < ncut.size(); ++b) {
          const std::int64_t m0 = mcut[a], mc = mcut[a + 1] - m0, j0 = ncut[b], nc = ncut[b + 1] - j0;
          std::vector<float> scratch(ops::gemm_scratch_floats(nc));
          ops::sgemm(pa, m0, mc, db, j0, nc, tiled.data(), c.N, e, scratch.data());
        }
      INFO("M" << c.M << " N" << c.N << " K" << c.K << " split " << split);
      CHECK(std::memcmp(whole.data(), tiled.data(), whole.size() * sizeof(float)) == 0);
    }
  }
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
TEST_CASE("sgemm: each element is exactly the in-order fmaf chain over k") {
  // The documented determinism contract, checked against the simplest possible twin.
  std::mt19937 rng(3);
  const std::int64_t M = 2 * kGemmMR + 3, N = 2 * kGemmNR + 5, K = 2 * kGemmKC + 9;
  const std::vector<float> A = random_vec(M * K, rng), B = random_vec(K * N, rng);
  const ops::PackedA pa = ops::pack_a(A.data(), M, K, K);
  std::vector<float> C(static_cast<std::size_t>(M * N)), scratch(ops::gemm_scratch_floats(N));
  ops::sgemm(pa, 0, M, ops::DenseB(B.data(), N), 0, N, C.data(), N, ops::Epilogue{}, scratch.data());
  int mismatches = 0;
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) acc = std::fma(A[i * K + k], B[k * N + j], acc);
      mismatches += std::memcmp(&acc, &C[i * N + j], sizeof acc) != 0;
    }
  CHECK(mismatches == 0);
}
#endif

TEST_CASE("sgemm + Im2colB: implicit GEMM equals a direct convolution") {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  for (int trial = 0; trial < 60; ++trial) {
    const std::int64_t cin = 1 + pick(rng) % 9, cout = 1 + pick(rng) % 20;
    const std::int64_t kh = 1 + pick(rng) % 3, kw = 1 + pick(rng) % 3, sh = 1 + pick(rng) % 2, sw = 1 + pick(rng) % 3;
    const std::int64_t ph = pick(rng) % 3, pw = pick(rng) % 3, dh = 1 + pick(rng) % 2, dw = 1 + pick(rng) % 2;
    const std::int64_t H = 1 + pick(rng) % 40, W = 1 + pick(rng) % 75;
    const std::int64_t Ho = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    if (Ho <= 0 || Wo <= 0) continue;
    const std::int64_t K = cin * kh * kw, P = Ho * Wo;
    const std::vector<float> x = random_vec(cin * H * W, rng), w = random_vec(cout * K, rng);
    ops::Im2colB ib;
    ib.src = x.data();
    ib.H = H;
    ib.W = W;
    ib.kh = kh;
    ib.kw = kw;
    ib.sh = sh;
    ib.sw = sw;
    ib.ph = ph;
    ib.pw = pw;
    ib.dh = dh;
    ib.dw = dw;
    ib.Wo = Wo;
    const ops::PackedA pa = ops::pack_a(w.data(), cout, K, K);
    std::vector<float> y(static_cast<std::size_t>(cout * P));
    const std::int64_t tile = 1 + pick(rng) % 200;  // column tiles cross output rows at arbitrary points
    std::vector<float> scratch(ops::gemm_scratch_floats(tile));
    for (std::int64_t j0 = 0; j0 < P; j0 += tile)
      ops::sgemm(pa, 0, cout, ib, j0, std::min(tile, P - j0), y.data(), P, ops::Epilogue{}, scratch.data());
    int bad = 0;
    for (std::int64_t co = 0; co < cout; ++co)
      for (std::int64_t oy = 0; oy < Ho; ++oy)
        for (std::int64_t ox = 0; ox < Wo; ++ox) {
          double acc = 0, S = 0;
          for (std::int64_t ci = 0; ci < cin; ++ci)
            for (std::int64_t ky = 0; ky < kh; ++ky)
              for (std::int64_t kx = 0; kx < kw; ++kx) {
                const std::int64_t iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const double p = double(w[((co * cin + ci) * kh + ky) * kw + kx]) * x[(ci * H + iy) * W + ix];
                acc += p;
                S += std::abs(p);
              }
          const double got = y[co * P + oy * Wo + ox];
          const double tol = 2 * std::ldexp(1.0, -24) * std::sqrt(double(K)) * S + 1e-30;
          if (!(std::abs(got - acc) <= tol) && bad++ < 3)
            FAIL_CHECK("trial " << trial << " cin " << cin << " cout " << cout << " k " << kh << "x" << kw << " s " << sh
                                << "," << sw << " p " << ph << "," << pw << " d " << dh << "," << dw << " in " << H << "x"
                                << W << " tile " << tile << ": y[" << co << "][" << oy << "][" << ox << "] = " << got
                                << ", reference " << acc);
        }
    CHECK(bad == 0);
  }
}

TEST_CASE("vexp: max ulp error against exp in double over [-87, 88], and special values") {
  // Every 97th float bit pattern of [-87, 88] (23M values), plus a sweep of [-0.01, 0.01] in steps
  // of 1e-7 where r is tiny and the polynomial's low terms dominate; evaluated in chunks.
  UlpWorst worst;
  std::int64_t count = 0;
  std::vector<float> xs;
  auto flush = [&] {
    worst.measure(ops::vexp, [](double x) { return std::exp(x); }, xs);
    count += static_cast<std::int64_t>(xs.size());
    xs.clear();
  };
  auto push = [&](float x) {
    xs.push_back(x);
    if (xs.size() == 4096) flush();
  };
  const auto bits = [](float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
  };
  const auto from_bits = [](std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  };
  for (std::uint32_t b = bits(-87.0f); b > 0x80000000u + 97; b -= 97) push(from_bits(b));  // negative side
  for (std::uint32_t b = 0; b <= bits(88.0f); b += 97) push(from_bits(b));
  for (int i = -100000; i <= 100000; ++i) push(float(i) * 1e-7f);
  flush();
  MESSAGE("vexp: max error " << worst.ulp << " ulp (at x = " << worst.at << ") over " << count << " inputs");
  CHECK(worst.ulp <= 2.0);

  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f, -0.0f, -88.0f, -103.0f, -104.5f, -200.0f, -inf, 88.72f, 88.8f, 100.0f, inf,
                           std::numeric_limits<float>::quiet_NaN(), 1.0f};
  float out[13];
  ops::vexp(special, out, 13);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 1.0f);
  CHECK(std::abs(out[2] / std::exp(-88.0) - 1) < 1e-6);  // just below FLT_MIN's neighbourhood, still normal
  CHECK(std::abs(out[3] - std::exp(-103.0)) <= std::ldexp(1.0, -149));  // subnormal: within one subnormal step
  CHECK(out[4] == 0.0f);
  CHECK(out[5] == 0.0f);
  CHECK(out[6] == 0.0f);
  CHECK(std::isfinite(out[7]));
  CHECK(out[8] == inf);
  CHECK(out[9] == inf);
  CHECK(out[10] == inf);
  CHECK(std::isnan(out[11]));
  CHECK(std::abs(out[12] - 2.718281828f) <= 2.4e-7f);
}

TEST_CASE("vexp2: max ulp error against exp2 in double over [-126, 127], and special values") {
  // Every 61st float bit pattern of [-126, 127], plus [-0.01, 0.01] in steps of 1e-7 (f tiny).
  UlpWorst worst;
  std::vector<float> xs;
  auto flush = [&] {
    worst.measure(ops::vexp2, [](double x) { return std::exp2(x); }, xs);
    xs.clear();
  };
  auto push = [&](float x) {
    xs.push_back(x);
    if (xs.size() == 4096) flush();
  };
  std::uint32_t lo, hi;
  const float flo = -126.0f, fhi = 127.0f;
  std::memcpy(&lo, &flo, sizeof lo);
  std::memcpy(&hi, &fhi, sizeof hi);
  for (std::uint32_t b = lo; b > 0x80000000u + 61; b -= 61) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    push(f);
  }
  for (std::uint32_t b = 0; b <= hi; b += 61) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    push(f);
  }
  for (int i = -100000; i <= 100000; ++i) push(float(i) * 1e-7f);
  flush();
  MESSAGE("vexp2: max error " << worst.ulp << " ulp (at x = " << worst.at << ")");
  CHECK(worst.ulp <= 1.5);

  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 10.0f, -130.0f, -149.0f, -150.0f, -151.5f, -inf,
                           127.5f, 128.0f, inf, std::numeric_limits<float>::quiet_NaN(), 0.5f};
  constexpr int kN = 15;
  float out[kN];
  ops::vexp2(special, out, kN);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 1.0f);
  CHECK(out[2] == 2.0f);
  CHECK(out[3] == 0.5f);
  CHECK(out[4] == 1024.0f);
  CHECK(std::abs(out[5] - std::exp2(-130.0)) <= std::ldexp(1.0, -149));  // subnormal: within one step
  CHECK(out[6] == std::ldexp(1.0f, -149));  // the smallest subnormal
  CHECK(out[7] == 0.0f);                    // half of it: ties to even
  CHECK(out[8] == 0.0f);
  CHECK(out[9] == 0.0f);
  CHECK(std::isfinite(out[10]));
  CHECK(out[11] == inf);
  CHECK(out[12] == inf);
  CHECK(std::isnan(out[13]));
  CHECK(std::abs(out[14] - 1.41421356f) <= 1.2e-7f);
}

TEST_CASE("vsigmoid / vsilu / exp_sub_max_sum against double, all tail lengths") {
  std::mt19937 rng(8);
  for (std::int64_t n = 0; n <= 40; ++n) {
    std::vector<float> x = random_vec(n, rng, -30, 30);
    if (n > 3) {
      x[0] = -100.0f;  // exp(-x) overflows: sigmoid -> 0, silu -> -0
      x[1] = 100.0f;
      x[2] = 0.0f;
    }
    std::vector<float> s(x.size()), l(x.size());
    ops::vsigmoid(x.data(), s.data(), n);
    ops::vsilu(x.data(), l.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      const double sr = 1.0 / (1.0 + std::exp(-double(x[i]))), lr = double(x[i]) * sr;
      // A few ulp: exp's <= 2 ulp plus the reciprocal's (rcp14 + Newton or a division).
      CHECK(std::abs(s[i] - sr) <= 5e-7 * sr + 1e-37);
      CHECK(std::abs(l[i] - lr) <= 5e-7 * std::abs(lr) + 1e-37);
    }
    std::vector<float> y = x;
    const float m = n ? *std::max_element(x.begin(), x.end()) : 0.0f;
    const float sum = ops::exp_sub_max_sum(y.data(), n, m);
    double sref = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double r = std::exp(double(x[i] - m));  // the contract: the subtraction is in float
      sref += r;
      CHECK(std::abs(y[i] - r) <= 3e-7 * r + 1e-44);  // + a few subnormal steps
    }
    // n terms in [0, 1] summed in float: relative error <= n * u.
    CHECK(std::abs(sum - sref) <= 6e-8 * double(n + 1) * sref + 1e-30);
  }
}
