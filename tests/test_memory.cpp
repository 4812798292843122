// SPDX-License-Identifier: MIT
// Bounded memory of the Mobile MQA attention: the [heads, Lq, Lk] score matrix is never
// materialised. Peak heap bytes are measured by replacing the global allocator.
#include <yv9/model/builder.hpp>
#include <yv9/nn/mqa.hpp>
#include <yv9/weights/synthetic.hpp>

#include "alloc_tracker.hpp"
#include "support.hpp"

using namespace yv9;

namespace {

// The seed model's first-stage MQA: MQA(64, 8, 48, 48, 1, 1, 1) inside MMQARepNCSPELAN4(c4 = 64).
nn::MultiQueryAttentionLayerWithDownSampling<float> seed_mqa() {
  const weights::SyntheticSource src(7);
  weights::Binder syn(src);
  nn::MqaArgs a;
  a.in = 64;
  return nn::MultiQueryAttentionLayerWithDownSampling<float>(syn, "m.", a);
}

long long peak_of_forward(const nn::MultiQueryAttentionLayerWithDownSampling<float>& mqa, std::int64_t h, std::int64_t w, int threads) {
  Tensor<float> x = Tensor<float>::zeros(Shape{1, 64, h, w});
  Tensor<float> y(mqa.shape_for(x.shape()));
  Context ctx;
  ctx.threads = threads;
  const long long base = yv9test::live_bytes().load();
  yv9test::reset_peak();
  mqa.run(cview(x), view(y), ctx);
  return yv9test::peak_bytes().load() - base;
}

}  // namespace

TEST_CASE("memory: MQA scratch is linear in tokens, never heads x Lq x Lk") {
  nn::MultiQueryAttentionLayerWithDownSampling<float> mqa = seed_mqa();
  const long long small = peak_of_forward(mqa, 24, 24, 2), big = peak_of_forward(mqa, 48, 48, 2);
  MESSAGE("MQA(64ch) peak scratch: 24x24 " << small / 1024 << " KiB, 48x48 " << big / 1024 << " KiB");
  // 4x the tokens: linear scratch grows ~4x (a materialised score matrix would grow 16x).
  CHECK(big < 5 * small);
  CHECK(static_cast<std::size_t>(big) <= mqa.scratch_bytes(Shape{1, 64, 48, 48}, 2) + (1 << 20));
  // At the seed model's first stage at 640x640 (160x160 = 25,600 tokens per head):
  const std::size_t at640 = mqa.scratch_bytes(Shape{1, 64, 160, 160}, 2);
  MESSAGE("bound at 160x160: " << at640 / (1 << 20) << " MiB (the materialised scores would be 20,000 MiB)");
  CHECK(at640 < (std::size_t(256) << 20));
}
