// SPDX-License-Identifier: MIT
// The real thing: the seed model's first-stage MQA at 640x640 input (64 channels, 160x160 tokens,
// 8 heads -> 204,800 query rows x 25,600 keys; 0.5 TMAC). Heavy: minutes on 2 cores.
#include <yv9/nn/mqa.hpp>
#include <yv9/weights/synthetic.hpp>

#include "alloc_tracker.hpp"
#include "support.hpp"

using namespace yv9;

TEST_CASE("memory (heavy): seed-model MQA at 160x160 tokens stays under 256 MiB of scratch") {
  const weights::SyntheticSource src(7);
  weights::Binder syn(src);
  nn::MqaArgs a;
  a.in = 64;
  nn::MultiQueryAttentionLayerWithDownSampling<float> mqa(syn, "m.", a);
  Tensor<float> x(Shape{1, 64, 160, 160});
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  Tensor<float> y(mqa.shape_for(x.shape()));
  Context ctx;
  ctx.threads = 2;
  const long long base = yv9test::live_total();
  yv9test::reset_peak();
  mqa.run(cview(x), view(y), ctx);
  const long long peak = yv9test::peak_total() - base;
  MESSAGE("peak scratch " << peak / (1 << 20) << " MiB");
  CHECK(peak < (256ll << 20));
  bool finite = true;
  for (std::int64_t i = 0; i < y.size(); ++i) finite &= std::isfinite(y[i]);
  CHECK(finite);
}
