// SPDX-License-Identifier: MIT
// bench_sgemm: single-thread GFLOP/s of ops::sgemm on the shapes a YOLO convolution produces,
// against Eigen's GEMM on the same data, plus the implicit-GEMM (Im2colB) variant of the 3x3
// convolutions and the core's measured FMA peak.
//
//   bench_sgemm [--nc N] [--reps R] [--quick]
//
// Time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time: on a shared machine
// wall time counts the slices other processes run in. Numbers are the best of R repetitions (the
// least noisy estimate of what the code can do). FLOPs = 2*M*N*K.
#include <yv9/ops/gemm.hpp>
#include <yv9/ops/sgemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <time.h>

using namespace yv9;
namespace {

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
double seconds_since(double t0) { return cpu_now() - t0; }

// Best time of `reps` runs of f, each run repeated until it lasts >= 20 ms.
template <class F>
double best_seconds(int reps, F&& f) {
  f();  // warm up caches, page in buffers
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    int iters = 0;
    const double t0 = cpu_now();
    double dt;
    do {
      f();
      ++iters;
    } while ((dt = seconds_since(t0)) < 0.02);
    best = std::min(best, dt / iters);
  }
  return best;
}

// Peak: independent FMA chains (more than latency x ports) on registers only.
double fma_peak_gflops(int reps) {
  constexpr long kIters = 20'000'000;
  volatile float seed = 1.0f;
#if defined(__AVX512F__)
  constexpr int kLanes = 16;
  auto run = [&] {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(seed * i);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < kIters; ++it)
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    __m512 s = acc[0];
    for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float out[16];
    _mm512_store_ps(out, s);
    seed = out[0];
  };
  constexpr int kChains = 16;
#elif defined(__AVX2__) && defined(__FMA__)
  constexpr int kLanes = 8;
  auto run = [&] {
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(seed * i);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < kIters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    __m256 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
    alignas(32) float out[8];
    _mm256_store_ps(out, s);
    seed = out[0];
  };
  constexpr int kChains = 12;
#else
  constexpr int kLanes = 4;
  auto run = [&] {
    float acc[8][4];
    for (int i = 0; i < 8; ++i)
      for (int l = 0; l < 4; ++l) acc[i][l] = seed * (i + l);
    for (long it = 0; it < kIters; ++it)
      for (int i = 0; i < 8; ++i)
        for (int l = 0; l < 4; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < 8; ++i)
      for (int l = 0; l < 4; ++l) s += acc[i][l];
    seed = s;
  };
  constexpr int kChains = 8;
#endif
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = cpu_now();
    run();
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * kLanes * kChains * double(kIters) / best * 1e-9;
}

struct Shape {
  std::int64_t M, N, K;
  const char* what;
  // 3x3 convolution geometry behind the shape, for the implicit-GEMM row (cin, H=W of the output, stride)
  std::int64_t cin = 0, hw = 0, stride = 1;
};

std::vector<float> random_vec(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Column tile width when --nc is not given: 256 (8 panels of 32 / 16 of 16), the best of
// 128/256/512 over these shapes; small N as one tile.
std::int64_t default_nc(std::int64_t N) { return N <= 512 ? N : 256; }

}  // namespace

int main(int argc, char** argv) {
  std::int64_t nc_opt = 0;
  int reps = 5;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nc" && i + 1 < argc)
      nc_opt = std::atoll(argv[++i]);
    else if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (a == "--quick")
      quick = true;
    else {
      std::fprintf(stderr, "usage: bench_sgemm [--nc N] [--reps R] [--quick]\n");
      return 2;
    }
  }
#if defined(__AVX512F__)
  const char* isa = "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  const char* isa = "AVX2+FMA";
#else
  const char* isa = "portable";
#endif
  const double peak = fma_peak_gflops(3);
  std::printf("target %s, micro-tile %d x %d, KC <= %lld\n", isa, ops::kGemmMR, ops::kGemmNR,
              static_cast<long long>(ops::kGemmKC));
  std::printf("measured single-core FMA peak: %.1f GFLOP/s (register-only FMA chains)\n\n", peak);

  {
    // Micro-kernel ceiling: the full MR x NR kernel over 8 packed B panels (kc = KC, 256 KiB, L2)
    // and one A panel (L1), C in L1: what the loops around it can at best reach.
    const std::int64_t kc = ops::kGemmKC;
    std::vector<float> a(static_cast<std::size_t>(kc * ops::kGemmMR), 0.5f), b(static_cast<std::size_t>(kc * ops::kGemmNR * 8), 0.25f);
    std::vector<float> c(static_cast<std::size_t>(ops::kGemmMR * ops::kGemmNR * 8));
    const ops::gemm_detail::KernelFn kern = ops::gemm_detail::kKernels.back();
    auto run = [&] {
      for (int p = 0; p < 8; ++p)
        kern(kc, a.data(), b.data() + p * kc * ops::kGemmNR, c.data() + p * ops::kGemmNR, 8 * ops::kGemmNR, ops::kGemmNR, true);
    };
    const double g = 2.0 * ops::kGemmMR * ops::kGemmNR * kc * 8 / best_seconds(reps, run) * 1e-9;
    std::printf("micro-kernel alone (kc %lld, B panels in L2): %.1f GFLOP/s = %.1f%% of peak\n\n",
                static_cast<long long>(kc), g, 100 * g / peak);
  }
  std::vector<Shape> shapes = {
      {64, 25600, 576, "conv3x3 64->64 @160", 64, 160, 1},
      {128, 6400, 1152, "conv3x3 128->128 @80", 128, 80, 1},
      {256, 1600, 2304, "conv3x3 256->256 @40", 256, 40, 1},
      {512, 400, 4608, "conv3x3 512->512 @20", 512, 20, 1},
      {32, 102400, 27, "conv3x3 3->32 s2 @320", 3, 320, 2},
      {256, 6400, 256, "conv1x1 256->256 @80"},
      {48, 64, 256, "attn tile QK"},
      {64, 256, 48, "attn tile SV"},
      {1024, 1024, 1024, "square"},
  };
  if (quick) shapes.resize(4);
  std::printf("%-24s %5s %6s %5s %5s | %8s %6s | %8s %6s | %6s\n", "shape", "M", "N", "K", "nc", "sgemm", "%peak",
              "Eigen", "%peak", "ratio");
  std::mt19937 rng(42);
  for (const Shape& s : shapes) {
    const std::int64_t nc = nc_opt > 0 ? std::min(nc_opt, s.N) : default_nc(s.N);
    std::vector<float> A = random_vec(static_cast<std::size_t>(s.M * s.K), rng);
    std::vector<float> B = random_vec(static_cast<std::size_t>(s.K * s.N), rng);
    std::vector<float> C(static_cast<std::size_t>(s.M * s.N)), C2(C.size());
    const ops::PackedA pa = ops::pack_a(A.data(), s.M, s.K, s.K);
    std::vector<float> scratch(ops::gemm_scratch_floats(nc));
    const ops::DenseB db(B.data(), s.N);
    const ops::Epilogue epi;
    auto run = [&] {
      for (std::int64_t j0 = 0; j0 < s.N; j0 += nc)
        ops::sgemm(pa, 0, s.M, db, j0, std::min(nc, s.N - j0), C.data(), s.N, epi, scratch.data());
    };
    auto run_eigen = [&] { ops::gemm<float>(s.M, s.N, s.K, A.data(), s.K, B.data(), s.N, C2.data(), s.N); };
    const double flops = 2.0 * s.M * s.N * s.K;
    const double g = flops / best_seconds(reps, run) * 1e-9;
    const double ge = flops / best_seconds(reps, run_eigen) * 1e-9;
    double err = 0;
    for (std::size_t i = 0; i < C.size(); ++i) err = std::max(err, double(std::abs(C[i] - C2[i])));
    std::printf("%-24s %5lld %6lld %5lld %5lld | %8.1f %5.1f%% | %8.1f %5.1f%% | %5.2fx%s\n", s.what,
                static_cast<long long>(s.M), static_cast<long long>(s.N), static_cast<long long>(s.K),
                static_cast<long long>(nc), g, 100 * g / peak, ge, 100 * ge / peak, g / ge,
                err > 1e-3 * std::sqrt(double(s.K)) ? "  MISMATCH" : "");
    if (s.K <= 576 && s.N >= 6400) {
      // The conv epilogue fused into the last K block: bias + SiLU (vectorised exp).
      std::vector<float> bias = random_vec(static_cast<std::size_t>(s.M), rng);
      ops::Epilogue silu;
      silu.bias = bias.data();
      silu.act = ops::EpiAct::SiLU;
      auto run_silu = [&] {
        for (std::int64_t j0 = 0; j0 < s.N; j0 += nc)
          ops::sgemm(pa, 0, s.M, db, j0, std::min(nc, s.N - j0), C.data(), s.N, silu, scratch.data());
      };
      const double gs = flops / best_seconds(reps, run_silu) * 1e-9;
      std::printf("%-24s %5s %6s %5s %5s | %8.1f %5.1f%% |\n", "  + bias + SiLU epilogue", "", "", "", "", gs,
                  100 * gs / peak);
    }
    if (s.cin > 0) {
      // Same product with B gathered from the (padded-by-1) input image: implicit GEMM.
      const std::int64_t H = s.hw * s.stride, W = H;
      std::vector<float> img = random_vec(static_cast<std::size_t>(s.cin * H * W), rng);
      ops::Im2colB ib;
      ib.src = img.data();
      ib.H = H;
      ib.W = W;
      ib.kh = ib.kw = 3;
      ib.sh = ib.sw = s.stride;
      ib.ph = ib.pw = 1;
      ib.Wo = s.hw;
      auto run_im2col = [&] {
        for (std::int64_t j0 = 0; j0 < s.N; j0 += nc)
          ops::sgemm(pa, 0, s.M, ib, j0, std::min(nc, s.N - j0), C.data(), s.N, epi, scratch.data());
      };
      const double gi = flops / best_seconds(reps, run_im2col) * 1e-9;
      std::printf("%-24s %5s %6s %5s %5s | %8.1f %5.1f%% |\n", "  + implicit im2col", "", "", "", "", gi,
                  100 * gi / peak);
    }
  }
  return 0;
}
