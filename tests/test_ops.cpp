// SPDX-License-Identifier: MIT
// Optimised kernels against their naive twins on random shapes (ncnn-style sweeps). Each failure
// prints the configuration. Tolerance: float32 accumulation over K <= 1200 terms of O(1) values
// gives errors ~1e-5 relative; 1e-4 abs + 1e-4 rel leaves margin without hiding indexing bugs
// (those give O(1) errors).
#include <yv9/ops/attention.hpp>
#include <yv9/ops/conv.hpp>
#include <yv9/ops/pool.hpp>
#include <yv9/ops/reference.hpp>

#include <cstring>
#include <random>
#include <tuple>

#include "support.hpp"

using namespace yv9;

namespace {

template <class T>
Tensor<T> random_tensor(const Shape& s, std::mt19937& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor<T> t(s);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(u(rng));
  return t;
}

template <class T>
double max_excess(const T* a, const T* b, std::int64_t n, double atol, double rtol) {
  double worst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    worst = std::max(worst, d - (atol + rtol * std::abs(static_cast<double>(b[i]))));
  }
  return worst;
}

}  // namespace

TEST_CASE("conv2d: GEMM path equals the direct reference on random geometries") {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  for (int trial = 0; trial < 120; ++trial) {
    ops::ConvGeom g;
    const int groups_choices[] = {1, 1, 2, 4};
    g.groups = groups_choices[pick(rng) % 4];
    g.c1 = g.groups * (1 + pick(rng) % 12);
    g.c2 = g.groups * (1 + pick(rng) % 12);
    g.kh = g.kw = 1 + 2 * (pick(rng) % 3);
    if (pick(rng) % 5 == 0) g.kw = 1 + pick(rng) % 3;
    g.sh = 1 + pick(rng) % 2;
    g.sw = 1 + pick(rng) % 2;
    g.dh = 1 + pick(rng) % 2;
    g.dw = g.dh;
    g.ph = pick(rng) % 3;
    g.pw = pick(rng) % 3;
    const std::int64_t H = 1 + pick(rng) % 23, W = 1 + pick(rng) % 29, N = 1 + pick(rng) % 2;
    if (g.out_h(H) <= 0 || g.out_w(W) <= 0) continue;
    Tensor<float> x = random_tensor<float>(Shape{N, g.c1, H, W}, rng);
    ops::Conv2d<float> c;
    c.g = g;
    Tensor<float> w = random_tensor<float>(Shape{g.weight_numel()}, rng);
    c.weight.assign(w.data(), w.data() + w.size());
    if (pick(rng) % 2) {
      Tensor<float> b = random_tensor<float>(Shape{g.c2}, rng);
      c.bias.assign(b.data(), b.data() + b.size());
    }
    const ops::ActKind kinds[] = {ops::ActKind::Identity, ops::ActKind::SiLU, ops::ActKind::LeakyReLU, ops::ActKind::ReLU};
    c.act.kind = kinds[pick(rng) % 4];
    c.act.slope = 0.1;
    if (trial % 3) c.finalize(ops::default_conv_algo(), /*keep_plain=*/true);  // 2/3 on sgemm, 1/3 on the Eigen path
    Tensor<float> y(Shape{N, g.c2, g.out_h(H), g.out_w(W)});
    Context ctx;
    ctx.threads = 1 + trial % 2;
    c.forward(cview(x), view(y), ctx);
    Tensor<float> ref = ops::reference::conv2d(x, g, c.weight, c.bias, c.act);
    INFO("trial " << trial << ": " << g.str() << " input " << x.shape().str());
    CHECK(max_excess(y.data(), ref.data(), y.size(), 1e-4, 1e-4) <= 0);
  }
}

TEST_CASE("conv2d: output into a channel slice of a wider tensor") {
  std::mt19937 rng(7);
  ops::Conv2d<float> c;
  c.g.c1 = 3;
  c.g.c2 = 5;
  c.g.kh = c.g.kw = 3;
  c.g.ph = c.g.pw = 1;
  Tensor<float> w = random_tensor<float>(Shape{c.g.weight_numel()}, rng);
  c.weight.assign(w.data(), w.data() + w.size());
  c.finalize(ops::default_conv_algo(), /*keep_plain=*/true);
  Tensor<float> x = random_tensor<float>(Shape{2, 3, 6, 7}, rng);
  Tensor<float> wide = Tensor<float>::zeros(Shape{2, 9, 6, 7});
  c.forward(cview(x), view(wide).channels(2, 5), Context{});
  Tensor<float> ref = ops::reference::conv2d(x, c.g, c.weight, c.bias, c.act);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t ch = 0; ch < 9; ++ch)
      for (std::int64_t i = 0; i < 42; ++i) {
        const float got = wide.plane(n, ch)[i];
        if (ch < 2 || ch >= 7)
          CHECK(got == 0.0f);
        else
          CHECK(std::abs(got - ref.plane(n, ch - 2)[i]) < 1e-4 * (1 + std::abs(ref.plane(n, ch - 2)[i])));
      }
}

TEST_CASE("attention: tiled online softmax equals the materialised reference") {
  std::mt19937 rng(99);
  struct Case {
    std::int64_t rows, Lk, d;
    double qscale, rise = 0;  // rise: key j scaled by 1 + rise * j / Lk
  };
  // Lk around the column-block size (256) and rows around the row-block size (64) hit the tile edges.
  // Rising keys put later key blocks far above the first, whose maximum the softmax takes as its
  // reference: they raise it (ops/attention.hpp, softmax_update).
  for (Case c : {Case{1, 1, 1, 1}, Case{5, 3, 6, 1}, Case{64, 256, 48, 3}, Case{65, 257, 48, 3}, Case{130, 700, 16, 5},
                 Case{200, 100, 48, 8}, Case{100, 1000, 48, 2, 6}, Case{70, 800, 8, 3, 3}}) {
    Tensor<float> Q = random_tensor<float>(Shape{c.rows * c.d}, rng, -c.qscale, c.qscale);
    Tensor<float> K = random_tensor<float>(Shape{c.d * c.Lk}, rng);
    for (std::int64_t k = 0; k < c.d; ++k)
      for (std::int64_t j = 0; j < c.Lk; ++j) K[k * c.Lk + j] *= static_cast<float>(1 + c.rise * j / c.Lk);
    Tensor<float> V = random_tensor<float>(Shape{c.Lk * c.d}, rng);
    std::vector<float> O(static_cast<std::size_t>(c.rows * c.d));
    const float scale = 1.0f / std::sqrt(6.0f);
    for (int threads : {1, 2}) {
      Context ctx;
      ctx.threads = threads;
      ops::attention_tiled<float>(Q.data(), c.rows, K.data(), V.data(), c.Lk, c.d, scale, O.data(), ctx);
      std::vector<float> ref = ops::reference::attention<float>(Q.data(), c.rows, K.data(), V.data(), c.Lk, c.d, scale);
      INFO("rows " << c.rows << " Lk " << c.Lk << " d " << c.d << " threads " << threads);
      // Scores reach |s| ~ 150 here: a float32 score carries ~150 * 6e-8 = 1e-5 absolute error, which
      // exp() turns into ~1e-5 relative error of the weights of a convex combination of |V| <= 1.
      CHECK(max_excess(O.data(), ref.data(), c.rows * c.d, 1e-5, 1e-5) <= 0);
      // The MQA layer packs K and V first and writes the result over Q: the same bits.
      std::vector<float> inplace(Q.data(), Q.data() + c.rows * c.d);
      const ops::PackedKV kv = ops::pack_kv(K.data(), V.data(), c.Lk, c.d, ctx);
      ops::attention_packed(inplace.data(), c.rows, kv, scale, inplace.data(), ctx);
      CHECK(inplace == O);
    }
  }
}

TEST_CASE("pooling: PyTorch window and divisor rules") {
  // 1x1x3x4 input 0..11
  Tensor<float> x(Shape{1, 1, 3, 4});
  for (int i = 0; i < 12; ++i) x[i] = static_cast<float>(i);
  ops::PoolGeom g;
  g.kh = g.kw = 3;
  g.sh = g.sw = 2;
  g.ph = g.pw = 1;
  Tensor<float> m(Shape{1, 1, g.out_h(3), g.out_w(4)});
  REQUIRE(m.dim(2) == 2);
  REQUIRE(m.dim(3) == 2);
  ops::max_pool2d<float>(cview(x), view(m), g, Context{});
  CHECK(m[0] == 5);
  CHECK(m[1] == 7);
  CHECK(m[2] == 9);
  CHECK(m[3] == 11);
  // avg_pool2d(k=3, s=2, p=1, count_include_pad=True): the padded window always counts 9
  Tensor<float> a(Shape{1, 1, 2, 2});
  ops::avg_pool2d<float>(cview(x), view(a), g, Context{});
  CHECK(a[0] == doctest::Approx((0 + 1 + 4 + 5) / 9.0));
  g.count_include_pad = false;
  ops::avg_pool2d<float>(cview(x), view(a), g, Context{});
  CHECK(a[0] == doctest::Approx((0 + 1 + 4 + 5) / 4.0));
  // ceil_mode: last window must start inside input + left padding
  CHECK(ops::PoolGeom::out_size(5, 2, 2, 0, true) == 3);
  CHECK(ops::PoolGeom::out_size(4, 2, 2, 1, true) == 3);
  CHECK(ops::PoolGeom::out_size(5, 2, 2, 0, false) == 2);
}

TEST_CASE("nearest resize twin: PyTorch's index rule by hand") {
  // F.interpolate(torch.arange(n), size=m, mode='nearest') picks floor(dst * float32(n / m))
  const auto picks = [](std::int64_t in, std::int64_t out, double scale_factor = 0) {
    std::vector<std::int64_t> v;
    for (std::int64_t d = 0; d < out; ++d) v.push_back(ops::reference::nearest_index(d, in, out, scale_factor));
    return v;
  };
  CHECK(picks(5, 3) == std::vector<std::int64_t>{0, 1, 3});        // scale 1.6666666f
  CHECK(picks(3, 5) == std::vector<std::int64_t>{0, 0, 1, 1, 2});  // scale 0.6f
  CHECK(picks(7, 7) == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(picks(3, 6) == std::vector<std::int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(picks(2, 6, 3.0) == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1});  // nn.Upsample(scale_factor=3)
}

TEST_CASE("nearest resize equals its naive twin: F.interpolate(size=) and nn.Upsample(scale_factor=)") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> size(1, 40);
  for (int trial = 0; trial < 200; ++trial) {
    const std::int64_t H = size(rng), W = size(rng);
    // every third trial an exact x2 (the fast path), else any size, down or up
    const std::int64_t oh = trial % 3 ? size(rng) : 2 * H, ow = trial % 3 ? size(rng) : 2 * W;
    const Tensor<float> x = random_tensor<float>(Shape{1 + trial % 2, 3, H, W}, rng);
    Tensor<float> fast(Shape{x.dim(0), 3, oh, ow});
    Context ctx;
    ctx.threads = 1 + trial % 3;
    ops::resize_nearest<float>(cview(x), view(fast), ctx);
    const Tensor<float> slow = ops::reference::resize_nearest(x, oh, ow);
    INFO(H << "x" << W << " -> " << oh << "x" << ow);
    CHECK(std::memcmp(fast.data(), slow.data(), fast.bytes()) == 0);
  }
  // nn.Upsample(None, s, 'nearest') for every scale the registry accepts: PyTorch indexes with
  // 1 / s, ours with in / out; the same float32 for these sizes, checked here rather than argued.
  for (std::int64_t s = 1; s <= 64; ++s)
    for (std::int64_t H : {1, 3, 5}) {
      const Tensor<float> x = random_tensor<float>(Shape{1, 1, H, H + 2}, rng);
      Tensor<float> fast(Shape{1, 1, H * s, (H + 2) * s});
      ops::resize_nearest<float>(cview(x), view(fast), Context{});
      const Tensor<float> slow = ops::reference::resize_nearest(x, H * s, (H + 2) * s, static_cast<double>(s));
      INFO("scale_factor " << s << " input " << H << "x" << H + 2);
      CHECK(std::memcmp(fast.data(), slow.data(), fast.bytes()) == 0);
    }
}

TEST_CASE("concat: channel ranges, any thread split") {
  std::mt19937 rng(12);
  for (int threads : {1, 2, 3}) {
    Context ctx;
    ctx.threads = threads;
    int bad = 0;
    // concat of three inputs, batch 2, large enough to be split between threads mid-plane
    const Tensor<float> a = random_tensor<float>(Shape{2, 300, 30, 31}, rng),
                        b = random_tensor<float>(Shape{2, 1, 30, 31}, rng),
                        d = random_tensor<float>(Shape{2, 257, 30, 31}, rng);
    Tensor<float> cat(Shape{2, 558, 30, 31});
    ops::concat_channels<float>({cview(a), cview(b), cview(d)}, view(cat), ctx);
    for (std::int64_t n = 0; n < 2; ++n)
      for (std::int64_t c = 0; c < 558; ++c)
        for (std::int64_t y = 0; y < 30; ++y)
          for (std::int64_t xx = 0; xx < 31; ++xx) {
            const float want = c < 300 ? a.at(n, c, y, xx) : c < 301 ? b.at(n, 0, y, xx) : d.at(n, c - 301, y, xx);
            bad += std::memcmp(&want, &cat.at(n, c, y, xx), sizeof(float)) != 0;
          }
    CHECK(bad == 0);
    Tensor<float> fewer(Shape{2, 557, 30, 31}), more(Shape{2, 559, 30, 31});
    CHECK_THROWS_AS(ops::concat_channels<float>({cview(a), cview(b), cview(d)}, view(fewer), ctx), Error);
    CHECK_THROWS_AS(ops::concat_channels<float>({cview(a), cview(b), cview(d)}, view(more), ctx), Error);
  }
}

TEST_CASE("pooling: fast paths equal the naive twins bit for bit (NaN included)") {
  std::mt19937 rng(5);
  // the geometries the models use (SPPELAN's 5/1/2, ADown's 3/2/1 and 2/1/0) and the separable path's edges
  for (auto [k, s, p] : {std::tuple<int, int, int>{3, 2, 1}, {5, 1, 2}, {2, 2, 0}, {3, 1, 1}, {2, 1, 0}}) {
    for (std::int64_t H : {1, 2, 7, 12, 37}) {  // 37 x 40: the vectorised interior runs
      Tensor<float> x = random_tensor<float>(Shape{1, 3, H, H + 3}, rng);
      for (std::int64_t i : {5, 77, 301, 2000, 3001}) x[i % x.size()] = std::nanf("");
      x[123 % x.size()] = -INFINITY;
      ops::PoolGeom g;
      g.kh = g.kw = k;
      g.sh = g.sw = s;
      g.ph = g.pw = p;
      if (g.out_h(H) <= 0 || g.out_w(H + 3) <= 0) continue;
      INFO("k " << k << " s " << s << " p " << p << " input " << H << "x" << H + 3);
      const Tensor<float> slow = ops::reference::max_pool2d(x, g);
      Tensor<float> fast(slow.shape());
      REQUIRE(fast.dim(2) == g.out_h(H));
      REQUIRE(fast.dim(3) == g.out_w(H + 3));
      ops::max_pool2d<float>(cview(x), view(fast), g, Context{});
      CHECK(std::memcmp(fast.data(), slow.data(), fast.bytes()) == 0);
      const Tensor<float> slow_avg = ops::reference::avg_pool2d(x, g);
      Tensor<float> fast_avg(slow_avg.shape());
      ops::avg_pool2d<float>(cview(x), view(fast_avg), g, Context{});
      CHECK(std::memcmp(fast_avg.data(), slow_avg.data(), fast_avg.bytes()) == 0);
    }
  }
}

TEST_CASE("pooling: random geometries (rectangular, ceil_mode, count_include_pad) equal the naive twins") {
  std::mt19937 rng(6);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  int ran = 0;
  for (int trial = 0; trial < 300; ++trial) {
    ops::PoolGeom g;
    g.kh = 1 + pick(rng) % 5, g.kw = 1 + pick(rng) % 5;
    g.sh = 1 + pick(rng) % 3, g.sw = 1 + pick(rng) % 3;
    g.ph = pick(rng) % (g.kh / 2 + 1), g.pw = pick(rng) % (g.kw / 2 + 1);  // PyTorch: pad <= kernel / 2
    g.ceil_mode = pick(rng) % 2;
    g.count_include_pad = pick(rng) % 2;
    const std::int64_t H = 1 + pick(rng) % 15, W = 1 + pick(rng) % 15;
    // Windows larger than the padded input are left out: PyTorch's ceil_mode still gives one output
    // there (e.g. in 1, k 5, s 3, p 1 -> 1) where PoolGeom::out_size gives 0; no model pools so.
    if (g.kh > H + 2 * g.ph || g.kw > W + 2 * g.pw) continue;
    const Tensor<float> x = random_tensor<float>(Shape{1 + pick(rng) % 2, 1 + pick(rng) % 3, H, W}, rng);
    const Tensor<float> slow_max = ops::reference::max_pool2d(x, g), slow_avg = ops::reference::avg_pool2d(x, g);
    INFO("trial " << trial << ": k " << g.kh << "x" << g.kw << " s " << g.sh << "x" << g.sw << " p " << g.ph << "x"
                  << g.pw << " ceil " << g.ceil_mode << " include_pad " << g.count_include_pad << " input " << H << "x"
                  << W);
    CHECK(g.out_h(H) == slow_max.dim(2));
    CHECK(g.out_w(W) == slow_max.dim(3));
    if (slow_max.dim(2) <= 0 || slow_max.dim(3) <= 0) continue;
    Tensor<float> fast(slow_max.shape());
    Context ctx;
    ctx.threads = 1 + trial % 2;
    ops::max_pool2d<float>(cview(x), view(fast), g, ctx);
    CHECK(std::memcmp(fast.data(), slow_max.data(), fast.bytes()) == 0);
    ops::avg_pool2d<float>(cview(x), view(fast), g, ctx);
    CHECK(std::memcmp(fast.data(), slow_avg.data(), fast.bytes()) == 0);
    ++ran;
  }
  CHECK(ran > 150);
}
