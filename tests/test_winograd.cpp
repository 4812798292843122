// SPDX-License-Identifier: MIT
// The 3x3 paths beside im2col: Winograd F(2,3) and F(4,3), and the direct kernel, against the
// convolution computed in float64, beside the im2col GEMM path on the same data: each path's
// worst error, and its ratio to im2col's. The transforms add rounding (F(4,3)'s constants reach 8
// and 1/24), so the bound is relative to the im2col path's own float32 error on the same layer
// (or 4 ulps of the largest output, if more): measured ratios are ~0.3-0.7 for F(2,3), ~4-8 for
// F(4,3) (printed below); F(2,3) must stay within 2x and F(4,3) within 16x of im2col. The direct
// kernel computes each output as im2col does and must give its bits. An indexing or transform
// bug gives errors of the size of the outputs, thousands of times more.
#include <yv9/ops/conv.hpp>
#include <yv9/ops/reference.hpp>

#include <cstdio>
#include <cstring>
#include <random>

#include "support.hpp"

using namespace yv9;

namespace {

struct Case {
  std::int64_t n, c, k, h, w;
  ops::ActKind act;
  bool bias;
};

double max_abs_diff(const Tensor<float>& a, const Tensor<double>& b) {
  double worst = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

ops::Conv2d<float> make_conv(const Case& t, std::mt19937& rng, ops::ConvAlgo algo) {
  ops::Conv2d<float> c;
  c.g = ops::conv_geom(t.c, t.k, 3, 1, -1, 1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<std::size_t>(c.g.weight_numel()));
  const float scale = 1.0f / std::sqrt(9.0f * static_cast<float>(t.c));  // unit-variance outputs
  for (auto& v : w) v = nd(rng) * scale;
  c.weight = w;
  if (t.bias) {
    c.bias.resize(static_cast<std::size_t>(t.k));
    for (auto& v : c.bias) v = 0.2f * nd(rng);
  }
  c.act.kind = t.act;
  c.act.slope = 0.1;
  c.finalize(algo, /*keep_plain=*/true);
  return c;
}

}  // namespace

TEST_CASE("winograd: F(2,3) and F(4,3) against float64, beside im2col") {
  const Case cases[] = {
      {1, 1, 1, 1, 1, ops::ActKind::Identity, false},  {1, 3, 5, 2, 3, ops::ActKind::SiLU, true},
      {2, 7, 13, 9, 11, ops::ActKind::LeakyReLU, true}, {1, 16, 16, 17, 5, ops::ActKind::ReLU, false},
      {1, 33, 17, 27, 27, ops::ActKind::SiLU, true},    {1, 64, 64, 40, 40, ops::ActKind::SiLU, true},
      {1, 128, 96, 13, 21, ops::ActKind::Identity, true}, {2, 40, 24, 6, 70, ops::ActKind::SiLU, true},
      {1, 256, 256, 10, 10, ops::ActKind::SiLU, true},
  };
  std::mt19937 rng(2024);
  for (const Case& t : cases) {
    CAPTURE(t.n);
    CAPTURE(t.c);
    CAPTURE(t.k);
    CAPTURE(t.h);
    CAPTURE(t.w);
    std::mt19937 wrng(static_cast<unsigned>(t.c * 131 + t.k));
    ops::Conv2d<float> direct = make_conv(t, wrng, ops::ConvAlgo::Im2col);
    std::mt19937 wrng2(static_cast<unsigned>(t.c * 131 + t.k)), wrng4(static_cast<unsigned>(t.c * 131 + t.k));
    ops::Conv2d<float> f2 = make_conv(t, wrng2, ops::ConvAlgo::F2), f4 = make_conv(t, wrng4, ops::ConvAlgo::F4);
    std::mt19937 wrngd(static_cast<unsigned>(t.c * 131 + t.k));
    ops::Conv2d<float> d3 = make_conv(t, wrngd, ops::ConvAlgo::Direct);
    REQUIRE(direct.winograd == 0);
    REQUIRE(!direct.direct);
    REQUIRE(f2.winograd == 2);
    REQUIRE(f4.winograd == 4);
    REQUIRE(d3.direct);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Tensor<float> x(Shape{t.n, t.c, t.h, t.w});
    for (std::int64_t i = 0; i < x.size(); ++i) x[i] = nd(rng);
    const Tensor<double> ref = ops::reference::conv2d(x.cast<double>(), direct.g,
                                                      std::vector<double>(direct.weight.begin(), direct.weight.end()),
                                                      std::vector<double>(direct.bias.begin(), direct.bias.end()), direct.act);
    Context ctx;
    ctx.threads = 2;
    const Tensor<float> y0 = ops::run_conv(direct, cview(x), ctx), y2 = ops::run_conv(f2, cview(x), ctx),
                        y4 = ops::run_conv(f4, cview(x), ctx), yd = ops::run_conv(d3, cview(x), ctx);
    const double e0 = max_abs_diff(y0, ref), e2 = max_abs_diff(y2, ref), e4 = max_abs_diff(y4, ref),
                 ed = max_abs_diff(yd, ref);
    // Tiny layers (a few dozen terms) can come out of im2col almost exact: below 4 ulps of the largest
    // output every path is at float32's floor, so the ratio is taken against at least that.
    double peak = 0;
    for (std::int64_t i = 0; i < ref.size(); ++i) peak = std::max(peak, std::abs(ref[i]));
    const double floor = std::max(e0, 4 * 1.1920929e-7 * peak);
    MESSAGE("c" << t.c << " k" << t.k << " " << t.h << "x" << t.w << ": max error vs float64 im2col " << e0 << ", F(2,3) "
                << e2 << " (" << e2 / floor << "x), F(4,3) " << e4 << " (" << e4 / floor << "x), direct " << ed << " ("
                << ed / floor << "x)");
    CHECK(e2 <= 2 * floor);
    CHECK(e4 <= 16 * floor);
    CHECK(ed <= 2 * floor);
    // The direct kernel runs the same chain per output as sgemm (fused multiply-adds in
    // (c_in, ky, kx) order from 0, then act(sum + bias)): the same bits, not just the same error.
    CHECK(std::memcmp(yd.data(), y0.data(), sizeof(float) * static_cast<std::size_t>(y0.size())) == 0);
  }
}

TEST_CASE("winograd: bit-identical for any thread count and into a channel slice") {
  std::mt19937 rng(99);
  for (ops::ConvAlgo algo : {ops::ConvAlgo::F2, ops::ConvAlgo::F4, ops::ConvAlgo::Direct}) {
    // Wide enough that one image makes several tile blocks, small enough to split channels too;
    // the third is one image in one block (the threads share its input transform).
    for (const Case& t : {Case{1, 24, 40, 70, 66, ops::ActKind::SiLU, true}, Case{2, 48, 36, 5, 7, ops::ActKind::SiLU, true},
                          Case{1, 53, 37, 9, 13, ops::ActKind::SiLU, true}}) {
      ops::Conv2d<float> c = make_conv(t, rng, algo);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      Tensor<float> x(Shape{t.n, t.c, t.h, t.w});
      for (std::int64_t i = 0; i < x.size(); ++i) x[i] = nd(rng);
      Context one;
      const Tensor<float> y1 = ops::run_conv(c, cview(x), one);
      for (int threads : {2, 3, 5}) {
        Context ctx;
        ctx.threads = threads;
        const Tensor<float> y = ops::run_conv(c, cview(x), ctx);
        CHECK(std::memcmp(y.data(), y1.data(), sizeof(float) * static_cast<std::size_t>(y.size())) == 0);
      }
      Tensor<float> wide = Tensor<float>::zeros(Shape{t.n, t.k + 5, t.h, t.w});
      c.forward(cview(x), view(wide).channels(3, t.k), Context{});
      bool same = true;
      for (std::int64_t b = 0; b < t.n; ++b)
        for (std::int64_t ch = 0; ch < t.k + 5; ++ch)
          for (std::int64_t i = 0; i < t.h * t.w; ++i) {
            const float want = (ch >= 3 && ch < 3 + t.k) ? y1.plane(b, ch - 3)[i] : 0.0f;
            same = same && wide.plane(b, ch)[i] == want;
          }
      CHECK(same);
    }
  }
}

TEST_CASE("direct: which layers take it") {
  ops::Conv2d<float> c;
  c.g = ops::conv_geom(16, 16, 3, 1, -1, 1);
  CHECK(!c.direct_for(ops::ConvAlgo::Auto));  // unknown map: never
  CHECK(c.direct_for(ops::ConvAlgo::Auto, 40, 40));
  CHECK(c.direct_for(ops::ConvAlgo::Auto, 80, 80));
  CHECK(!c.direct_for(ops::ConvAlgo::Im2col, 40, 40));
  CHECK(!c.direct_for(ops::ConvAlgo::F2, 40, 40));
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 1);
  CHECK(!c.direct_for(ops::ConvAlgo::Auto, 20, 20));
#if defined(__AVX512F__)  // the target's table (ops::auto_conv_path)
  c.g = ops::conv_geom(16, 16, 3, 1, -1, 1);
  CHECK(c.direct_for(ops::ConvAlgo::Auto, 160, 160));
  CHECK(!c.direct_for(ops::ConvAlgo::Auto, 20, 20));
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 1);
  CHECK(!c.direct_for(ops::ConvAlgo::Auto, 10, 10));
#else
  c.g = ops::conv_geom(16, 16, 3, 1, -1, 1);
  CHECK(!c.direct_for(ops::ConvAlgo::Auto, 160, 160));
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 1);
  CHECK(c.direct_for(ops::ConvAlgo::Auto, 10, 10));
#endif
  CHECK(c.direct_for(ops::ConvAlgo::Direct, 80, 80));  // forced: whatever the map
  c.g = ops::conv_geom(16, 16, 3, 2, -1, 1);             // stride 2
  CHECK(!c.direct_for(ops::ConvAlgo::Direct, 40, 40));
  c.g = ops::conv_geom(16, 16, 3, 1, -1, 4);  // grouped
  CHECK(!c.direct_for(ops::ConvAlgo::Direct, 40, 40));
  c.g = ops::conv_geom(16, 16, 1, 1, -1, 1);
  CHECK(!c.direct_for(ops::ConvAlgo::Direct, 40, 40));
  // finalize takes it, and Winograd does not
  c.g = ops::conv_geom(16, 16, 3, 1, -1, 1);
  c.weight.assign(static_cast<std::size_t>(c.g.weight_numel()), 0.5f);
  c.finalize(ops::ConvAlgo::Auto, false, 40, 40);
  CHECK(c.direct);
  CHECK(c.winograd == 0);
  CHECK(c.packed.empty());
}

TEST_CASE("winograd: which layers take it") {
  ops::Conv2d<float> c;
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto) == 4);
  CHECK(c.winograd_for(ops::ConvAlgo::Im2col) == 0);
  c.g = ops::conv_geom(256, 256, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto) == 2);
  // by the map the layer will see: Winograd where it measured faster, F(4,3) unless its weights
  // would be large (the table is the target's: auto_conv_path)
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 80, 80) == 4);
#if defined(__AVX512F__)
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 10, 10) == 2);  // transforms across 16 tiles: even 5x5 tiles pay
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 20, 20) == 4);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 40, 40) == 4);
  c.g = ops::conv_geom(128, 128, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 10, 10) == 2);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 20, 20) == 4);
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 10, 10) == 0);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 20, 20) == 2);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 40, 40) == 4);
  c.g = ops::conv_geom(32, 32, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 40, 40) == 0);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 80, 80) == 4);
  c.g = ops::conv_geom(512, 512, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 12, 12) == 2);
#else
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 10, 10) == 0);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 20, 20) == 2);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 40, 40) == 2);
  c.g = ops::conv_geom(512, 512, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 12, 12) == 0);
#endif
  CHECK(c.winograd_for(ops::ConvAlgo::F4, 10, 10) == 4);  // a forced path is taken whatever the map
  c.g = ops::conv_geom(512, 512, 3, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::Auto, 160, 160) == 2);
  c.g = ops::conv_geom(64, 64, 3, 2, -1, 1);  // stride 2
  CHECK(c.winograd_for(ops::ConvAlgo::F4) == 0);
  c.g = ops::conv_geom(64, 64, 3, 1, -1, 64);  // depthwise
  CHECK(c.winograd_for(ops::ConvAlgo::F4) == 0);
  c.g = ops::conv_geom(64, 64, 3, 1, 0, 1);  // no padding
  CHECK(c.winograd_for(ops::ConvAlgo::F4) == 0);
  c.g = ops::conv_geom(64, 64, 1, 1, -1, 1);
  CHECK(c.winograd_for(ops::ConvAlgo::F4) == 0);
  ops::ConvAlgo a = ops::ConvAlgo::Auto;
  CHECK((ops::conv_algo_from_name("im2col", a) && a == ops::ConvAlgo::Im2col));
  CHECK((ops::conv_algo_from_name("direct", a) && a == ops::ConvAlgo::Direct));
  CHECK(!ops::conv_algo_from_name("winograd", a));
}
