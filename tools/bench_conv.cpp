// SPDX-License-Identifier: MIT
// bench_conv: the paths a 3x3 stride-1 'same' convolution can take (im2col GEMM, Winograd F(2,3)
// and F(4,3), direct), timed side by side per channel count and map size: the measurements behind
// ops::auto_conv_path's table, for a new CPU or a changed kernel.
//
//   bench_conv [--bf16] [--threads N] [--reps R] [--channels 16,32,...] [--maps 10,20,...] [--only PATH]
//   bench_conv [--bf16] [--threads N] [--reps R] --geom C1,C2,K,S,MAP[/C1,C2,K,S,MAP...]
//
// --bf16: the GEMMs on bfloat16 operands (ops/bf16.hpp; F(4,3) runs as F(2,3) there).
//
// --geom times any convolutions (K x K, stride S, 'same' padding, MAP x MAP input) on every path
// that takes them, with GFLOP/s: for the layers the table does not cover (strided, 1x1).
// --only im2col|f2|f4|direct times that path alone (for a profiler); the others print as 0.
// One line per (channels, map): milliseconds per path (best of R; wall time, so run it on a quiet
// machine), the fastest path, and the path Auto takes. c -> c channels, SiLU, batch 1.
#include <yv9/ops/conv.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace yv9;
namespace {

bool g_bf16 = false;  // --bf16: the GEMMs on bf16 operands (ops/bf16.hpp; F(4,3) then runs as F(2,3))

std::vector<long> parse_list(const char* s) {
  std::vector<long> v;
  for (const char* p = s; *p;) {
    char* end = nullptr;
    const long x = std::strtol(p, &end, 10);
    if (end == p || x <= 0 || x > 4096) {
      std::fprintf(stderr, "bench_conv: bad list '%s'\n", s);
      std::exit(2);
    }
    v.push_back(x);
    p = *end == ',' ? end + 1 : end;
  }
  return v;
}

const char* name(ops::ConvAlgo a) {
  switch (a) {
    case ops::ConvAlgo::Im2col: return "im2col";
    case ops::ConvAlgo::F2: return "f2";
    case ops::ConvAlgo::F4: return "f4";
    case ops::ConvAlgo::Direct: return "direct";
    case ops::ConvAlgo::Auto: return "auto";
  }
  return "?";
}

// Best-of-reps milliseconds per call of one convolution on one path (random weights and input, SiLU,
// batch 1), each rep as many calls as fill 20 ms.
double time_conv(const ops::ConvGeom& g, long hw, ops::ConvAlgo algo, int reps, const Context& ctx) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  ops::Conv2d<float> conv;
  conv.g = g;
  conv.weight.resize(static_cast<std::size_t>(g.weight_numel()));
  conv.bias.resize(static_cast<std::size_t>(g.c2));
  for (float& x : conv.weight) x = nd(rng) * 0.05f;
  for (float& x : conv.bias) x = nd(rng) * 0.1f;
  conv.act = ops::Activation{ops::ActKind::SiLU};
  conv.finalize(algo, false, hw, hw, g_bf16);
  Tensor<float> in(Shape{1, g.c1, hw, hw}), out(Shape{1, g.c2, g.out_h(hw), g.out_w(hw)});
  for (std::int64_t i = 0; i < in.size(); ++i) in.data()[i] = nd(rng);
  conv.forward(cview(in), view(out), ctx);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    int iters = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double dt;
    do {
      conv.forward(cview(in), view(out), ctx);
      ++iters;
    } while ((dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) < 0.02);
    best = std::min(best, dt / iters);
  }
  return best * 1e3;
}

// --geom: each listed convolution on every path that takes it.
int run_geoms(const std::string& list, int reps, const Context& ctx) {
  std::printf("threads=%d  ms per call, best of %d (GFLOP/s)\n", ctx.threads, reps);
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const std::size_t end = std::min(list.find('/', pos), list.size());
    const std::vector<long> v = parse_list(list.substr(pos, end - pos).c_str());
    if (v.size() != 5 || v[2] > 15 || v[3] > 8) {
      std::fprintf(stderr, "bench_conv: --geom wants C1,C2,K,S,MAP (K <= 15, S <= 8), got '%s'\n",
                   list.substr(pos, end - pos).c_str());
      return 2;
    }
    const ops::ConvGeom g = ops::conv_geom(v[0], v[1], v[2], v[3]);
    const long hw = v[4];
    if (std::max(g.c1, g.c2) * hw * hw > (std::int64_t(1) << 28) || g.weight_numel() > (std::int64_t(1) << 28)) {
      std::fprintf(stderr, "bench_conv: --geom %s is over 1 GiB per tensor\n", list.substr(pos, end - pos).c_str());
      return 2;
    }
    const double gflop = 2e-9 * static_cast<double>(g.macs(hw, hw));
    std::printf("%-28s map %4ld  %8.4f GMAC:", g.str().c_str(), hw, gflop / 2);
    const bool s1_3x3 = g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1;
    for (ops::ConvAlgo a : {ops::ConvAlgo::Im2col, ops::ConvAlgo::F2, ops::ConvAlgo::F4, ops::ConvAlgo::Direct}) {
      if (a != ops::ConvAlgo::Im2col && !s1_3x3) continue;
      const double ms = time_conv(g, hw, a, reps, ctx);
      std::printf("  %s %.4f (%.0f)", name(a), ms, gflop / ms * 1e3);
    }
    std::printf("\n");
    std::fflush(stdout);
    pos = end + 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 5;
  ops::ConvAlgo only = ops::ConvAlgo::Auto;  // Auto: every path
  std::vector<long> channels{16, 32, 64, 128, 256}, maps{10, 20, 40, 80};
  std::string geoms;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--threads") threads = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--reps") reps = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--channels") channels = parse_list(argv[++i]);
    else if (i + 1 < argc && a == "--maps") maps = parse_list(argv[++i]);
    else if (i + 1 < argc && a == "--geom") geoms = argv[++i];
    else if (a == "--bf16") g_bf16 = true;
    else if (i + 1 < argc && a == "--only") {
      if (!ops::conv_algo_from_name(argv[++i], only) || only == ops::ConvAlgo::Auto) {
        std::fprintf(stderr, "bench_conv: --only takes im2col, f2, f4 or direct\n");
        return 2;
      }
    }
    else {
      std::fprintf(stderr,
                   "usage: bench_conv [--bf16] [--threads N] [--reps R] [--channels 16,32,...] [--maps 10,20,...] [--only PATH]\n"
                   "       bench_conv [--bf16] [--threads N] [--reps R] --geom C1,C2,K,S,MAP[/C1,C2,K,S,MAP...]\n");
      return 2;
    }
  }
  if (threads < 1 || threads > 256 || reps < 1 || reps > 1000) {
    std::fprintf(stderr, "bench_conv: --threads 1..256, --reps 1..1000\n");
    return 2;
  }
  if (g_bf16 && !ops::cpu_has_avx512_bf16()) {
    std::fprintf(stderr, "bench_conv: --bf16 needs AVX512_BF16, which this CPU does not offer\n");
    return 2;
  }
  Context ctx;
  ctx.threads = threads;
  if (!geoms.empty()) return run_geoms(geoms, reps, ctx);
  const ops::ConvAlgo algos[] = {ops::ConvAlgo::Im2col, ops::ConvAlgo::F2, ops::ConvAlgo::F4, ops::ConvAlgo::Direct};
  std::printf("threads=%d  ms per call, best of %d\n%6s %5s %9s %9s %9s %9s  %-7s %s\n", threads, reps, "c", "map", "im2col",
              "f2", "f4", "direct", "best", "auto");
  for (long c : channels)
    for (long hw : maps) {
      const ops::ConvGeom g = ops::conv_geom(c, c, 3, 1, 1);
      double ms[4] = {};
      int best = -1;
      for (int k = 0; k < 4; ++k) {
        if (only != ops::ConvAlgo::Auto && algos[k] != only) continue;
        ms[k] = time_conv(g, hw, algos[k], reps, ctx);
        if (best < 0 || ms[k] < ms[best]) best = k;
      }
      std::printf("%6ld %5ld %9.4f %9.4f %9.4f %9.4f  %-7s %s\n", c, hw, ms[0], ms[1], ms[2], ms[3], name(algos[best]),
                  name(ops::auto_conv_path(c * c, hw * hw)));
      std::fflush(stdout);
    }
  return 0;
}
