// SPDX-License-Identifier: MIT
// Bounded memory of the Mobile MQA attention: the [heads, Lq, Lk] score matrix is never
// materialised. Peak heap bytes are measured by replacing the global allocator.
#include <yv9/model/builder.hpp>
#include <yv9/nn/mqa.hpp>
#include <yv9/weights/synthetic.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

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
  const long long base = yv9test::live_total();
  yv9test::reset_peak();
  mqa.run(cview(x), view(y), ctx);
  return yv9test::peak_total() - base;
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

TEST_CASE("memory: an attention layer reserves its scratch from the load's budget for speed") {
  // Winograd's larger weights and the attention's scratch share one budget (weights::Binder), so
  // that a model whose time goes to attention keeps its memory.
  const weights::SyntheticSource src(7);
  weights::Binder b(src);
  b.set_image_size(640);
  b.set_input_maps({{160, 160}});
  nn::MqaArgs a;
  a.in = 64;
  const nn::MultiQueryAttentionLayerWithDownSampling<float> mqa(b, "m.", a);
  const auto left = b.winograd_extra_budget() - static_cast<std::int64_t>(mqa.scratch_bytes(Shape{1, 64, 160, 160}, 2));
  REQUIRE(left > 0);
  CHECK_FALSE(b.claim_winograd_extra(left + 1));
  CHECK(b.claim_winograd_extra(left));
  b.reserve_scratch(std::int64_t(1) << 40);  // more than is left: the budget is used up, no more
  CHECK_FALSE(b.claim_winograd_extra(1));
}

// BlockCache (core/memory.hpp), on instances of its own. Blocks must never overlap while live, and
// live + cached bytes must never exceed the most live at once so far (the cache adds no peak).
TEST_CASE("memory: BlockCache recycles big blocks without overlap, within the live high-water mark") {
  using detail::BlockCache;
  if (!BlockCache::kEnabled) {
    MESSAGE("SKIP: BlockCache is off in this build (AddressSanitizer or not Linux): plain heap blocks");
    return;
  }
  constexpr std::size_t MiB = 1 << 20;
  SUBCASE("a freed block serves the next request of its size, and its halves, and merges back") {
    BlockCache c;
    void* p = c.take(MiB);
    c.give(p, MiB);
    CHECK(c.take(MiB) == p);
    c.give(p, MiB);
    void* a = c.take(MiB / 2);
    void* b = c.take(MiB / 2);
    CHECK(a == p);  // split: the head first, then the tail
    CHECK(b == static_cast<char*>(p) + MiB / 2);
    c.give(b, MiB / 2);
    c.give(a, MiB / 2);
    CHECK(c.cached_bytes() == MiB);
    CHECK(c.take(MiB) == p);  // merged into one block again
    c.give(p, MiB);
  }
  SUBCASE("a request that raises the live total evicts, oldest first, what would exceed the mark") {
    BlockCache c;
    void* a = c.take(4 * MiB);
    void* b = c.take(MiB);  // 5 MiB live at once: the mark
    c.give(a, 4 * MiB);
    c.give(b, MiB);
    CHECK(c.cached_bytes() == 5 * MiB);
    void* big = c.take(8 * MiB);  // grows the 4 MiB block; 8 MiB live, so the 1 MiB block must go
    CHECK(c.live_bytes() == 8 * MiB);
    CHECK(c.cached_bytes() == 0);
    static_cast<char*>(big)[8 * MiB - 1] = 1;
    c.give(big, 8 * MiB);
    void* x = c.take(2 * MiB);
    void* y = c.take(2 * MiB);
    c.give(x, 2 * MiB);  // 4 MiB live, 4 cached, then 2 live
    CHECK(c.live_bytes() + c.cached_bytes() == 8 * MiB);
    c.give(y, 2 * MiB);
    c.trim();
    CHECK(c.cached_bytes() == 0);
  }
  SUBCASE("random sizes and lifetimes, two threads") {
    BlockCache c;
    std::atomic<bool> bad{false};
    std::mutex mu;
    std::size_t max_live = 0, max_excess = 0;  // live + cached beyond the most live so far
    const auto run = [&](unsigned seed) {
      std::mt19937 rng(seed);
      struct Live {
        unsigned char* p;
        std::size_t bytes;
        unsigned char tag;
      };
      std::vector<Live> held;
      for (int step = 0; step < 400; ++step) {
        if (held.empty() || (held.size() < 6 && rng() % 2)) {
          const std::size_t bytes = BlockCache::rounded(BlockCache::kMinBytes + rng() % (3 * MiB));
          auto* p = static_cast<unsigned char*>(c.take(bytes));
          const auto tag = static_cast<unsigned char>(rng());
          std::memset(p, tag, bytes);
          held.push_back({p, bytes, tag});
        } else {
          const std::size_t i = rng() % held.size();
          const Live l = held[i];
          for (std::size_t k = 0; k < l.bytes; k += 4096)  // a live neighbour wrote over it?
            if (l.p[k] != l.tag || l.p[l.bytes - 1] != l.tag) bad = true;
          c.give(l.p, l.bytes);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        }
        std::lock_guard<std::mutex> lock(mu);
        const std::size_t live = c.live_bytes(), cached = c.cached_bytes();
        max_live = std::max(max_live, live);
        if (live + cached > max_live) max_excess = std::max(max_excess, live + cached - max_live);
      }
      for (const Live& l : held) c.give(l.p, l.bytes);
    };
    std::thread t(run, 2u);
    run(1u);
    t.join();
    CHECK_FALSE(bad.load());
    CHECK(c.live_bytes() == 0);
    MESSAGE("most live at once " << max_live / MiB << " MiB; cached at the end " << c.cached_bytes() / MiB << " MiB");
    // Sampled after each step of one thread; the other may be mid-call, so allow one block.
    CHECK(max_excess <= 4 * MiB);
    c.trim();
    CHECK(c.cached_bytes() == 0);
  }
}
