// SPDX-License-Identifier: MIT
// bench_conv: the paths a 3x3 stride-1 'same' convolution can take (im2col GEMM, Winograd F(2,3)
// and F(4,3), direct), timed side by side per channel count and map size: the measurements behind
// ops::auto_conv_path's table, for a new CPU or a changed kernel.
//
//   bench_conv [--threads N] [--reps R] [--channels 16,32,...] [--maps 10,20,...] [--only PATH]
//
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

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 5;
  ops::ConvAlgo only = ops::ConvAlgo::Auto;  // Auto: every path
  std::vector<long> channels{16, 32, 64, 128, 256}, maps{10, 20, 40, 80};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--threads") threads = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--reps") reps = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--channels") channels = parse_list(argv[++i]);
    else if (i + 1 < argc && a == "--maps") maps = parse_list(argv[++i]);
    else if (i + 1 < argc && a == "--only") {
      if (!ops::conv_algo_from_name(argv[++i], only) || only == ops::ConvAlgo::Auto) {
        std::fprintf(stderr, "bench_conv: --only takes im2col, f2, f4 or direct\n");
        return 2;
      }
    }
    else {
      std::fprintf(stderr, "usage: bench_conv [--threads N] [--reps R] [--channels 16,32,...] [--maps 10,20,...] [--only PATH]\n");
      return 2;
    }
  }
  if (threads < 1 || threads > 256 || reps < 1 || reps > 1000) {
    std::fprintf(stderr, "bench_conv: --threads 1..256, --reps 1..1000\n");
    return 2;
  }
  Context ctx;
  ctx.threads = threads;
  const ops::ConvAlgo algos[] = {ops::ConvAlgo::Im2col, ops::ConvAlgo::F2, ops::ConvAlgo::F4, ops::ConvAlgo::Direct};
  std::printf("threads=%d  ms per call, best of %d\n%6s %5s %9s %9s %9s %9s  %-7s %s\n", threads, reps, "c", "map", "im2col",
              "f2", "f4", "direct", "best", "auto");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (long c : channels)
    for (long hw : maps) {
      const ops::ConvGeom g = ops::conv_geom(c, c, 3, 1, 1);
      std::vector<float> w(static_cast<std::size_t>(c * c * 9)), b(static_cast<std::size_t>(c));
      for (float& x : w) x = nd(rng) * 0.05f;
      for (float& x : b) x = nd(rng) * 0.1f;
      Tensor<float> in(Shape{1, c, hw, hw}), out(Shape{1, c, hw, hw});
      for (std::int64_t i = 0; i < in.size(); ++i) in.data()[i] = nd(rng);
      double ms[4] = {};
      int best = -1;
      for (int k = 0; k < 4; ++k) {
        if (only != ops::ConvAlgo::Auto && algos[k] != only) continue;
        ops::Conv2d<float> conv;
        conv.g = g;
        conv.weight = w;
        conv.bias = b;
        conv.act = ops::Activation{ops::ActKind::SiLU};
        conv.finalize(algos[k], false, hw, hw);
        conv.forward(cview(in), view(out), ctx);  // warm-up
        double bestt = 1e30;
        for (int r = 0; r < reps; ++r) {
          int iters = 0;
          const auto t0 = std::chrono::steady_clock::now();
          double dt;
          do {
            conv.forward(cview(in), view(out), ctx);
            ++iters;
          } while ((dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) < 0.02);
          bestt = std::min(bestt, dt / iters);
        }
        ms[k] = bestt * 1e3;
        if (best < 0 || ms[k] < ms[best]) best = k;
      }
      std::printf("%6ld %5ld %9.4f %9.4f %9.4f %9.4f  %-7s %s\n", c, hw, ms[0], ms[1], ms[2], ms[3], name(algos[best]),
                  name(ops::auto_conv_path(c * c, hw * hw)));
      std::fflush(stdout);
    }
  return 0;
}
