// The thread pool behind every parallel kernel (core/threads.hpp): each job runs exactly once
// whatever the team, callers that find the pool busy still finish (alone), nested regions do not
// deadlock, a participant stuck in one job does not hold back the others' jobs, one that loses
// its core mid-job makes small layers run alone for a while, and a convolution gives the same
// bits for 1..4 threads and on a pool busy with another caller. Built with TSan by .ci/tsan.sh as
// well (the claim word and the region hand-over are what it checks).
#include <yv9/core/threads.hpp>
#include <yv9/ops/conv.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace yv9;

namespace {

// Runs parallel_for(nt, jobs) and checks that each job ran exactly once.
bool each_once(int nt, std::int64_t jobs) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(jobs));
  for (auto& h : hits) h.store(0);
  parallel_for(nt, jobs, [&](Jobs& q) {
    for (std::int64_t j; q.next(j);) hits[static_cast<std::size_t>(j)].fetch_add(1, std::memory_order_relaxed);
  });
  for (auto& h : hits)
    if (h.load() != 1) return false;
  return true;
}

}  // namespace

TEST_CASE("parallel_for runs every job exactly once, for any team and job count") {
  for (int nt : {0, 1, 2, 3, 4, 8})
    for (std::int64_t jobs : {0, 1, 2, 3, 7, 64, 1000}) {
      CAPTURE(nt);
      CAPTURE(jobs);
      CHECK(each_once(nt, jobs));
    }
  // Many small regions back to back: workers arriving late must never claim from a later region
  // with an earlier region's body (each region here checks its own job set).
  int bad = 0;
  for (int r = 0; r < 2000; ++r) bad += !each_once(2, 1 + r % 5);
  CHECK(bad == 0);
}

TEST_CASE("the body is entered only by participants that got a job") {
  std::atomic<int> entered{0};
  std::atomic<std::int64_t> ran{0};
  for (int r = 0; r < 200; ++r)
    parallel_for(4, 2, [&](Jobs& q) {
      entered.fetch_add(1);
      for (std::int64_t j; q.next(j);) ran.fetch_add(1);
    });
  CHECK(ran.load() == 400);
  CHECK(entered.load() <= 400);  // at most one entry per job: nobody enters to find nothing
}

TEST_CASE("concurrent callers and nested regions finish (the pool serves one, the others run alone)") {
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int w = 0; w < 4; ++w)
    callers.emplace_back([&, w] {
      for (int r = 0; r < 300; ++r) {
        if (!each_once(2 + w % 2, 1 + (r * 7 + w) % 40)) bad.fetch_add(1);
        // nested: a body opening another region (kernels do not, but it must not deadlock)
        std::atomic<int> inner{0};
        parallel_for_each(2, 3, [&](std::int64_t) {
          parallel_for_each(2, 5, [&](std::int64_t) { inner.fetch_add(1); });
        });
        if (inner.load() != 15) bad.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  CHECK(bad.load() == 0);
}

TEST_CASE("a participant stuck in one job does not hold back the other jobs") {
  // Job 0 blocks until every other job has run: that can only finish if the remaining jobs are
  // taken by whoever is free, not split in advance (a static split would give the blocked
  // participant half of them and never finish; the deadline turns that into a failure instead).
  // A region may also run alone when the pool has just backed off from a starved partner (at
  // most kSoloMaxMs): then the deadline passes and the next attempt runs with the team.
  constexpr std::int64_t kJobs = 50;
  bool finished = false;
  for (int attempt = 0; attempt < 3 && !finished; ++attempt) {
    std::atomic<std::int64_t> others{0};
    std::atomic<bool> timed_out{false};
    parallel_for_each(2, kJobs, [&](std::int64_t j) {
      if (j != 0) {
        others.fetch_add(1);
        return;
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (others.load() < kJobs - 1 && !timed_out.load())
        if (std::chrono::steady_clock::now() > deadline)
          timed_out.store(true);
        else
          std::this_thread::yield();
    });
    CHECK(others.load() == kJobs - 1);
    finished = !timed_out.load();
  }
  CHECK(finished);
}

TEST_CASE("in back-off short regions run alone and long ones open to the team after a while") {
  auto back_off = [] {
    pool_detail::Pool& pool = pool_detail::Pool::instance();
    REQUIRE(pool.try_own());
    pool.back_off_for(10'000);  // 10 s: longer than this test
    pool.disown();
  };
  back_off();
  int bad = 0;
  for (int r = 0; r < 500; ++r) bad += !each_once(2, 1 + r % 9);
  CHECK(bad == 0);
  // 40 jobs of 1 ms: the caller runs alone for the first ~2 ms, then the worker joins.
  bool helped = false;
  for (int attempt = 0; attempt < 3 && !helped; ++attempt) {
    back_off();
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> by_others{0};
    std::vector<std::atomic<int>> hits(40);
    for (auto& h : hits) h.store(0);
    parallel_for_each(2, 40, [&](std::int64_t j) {
      hits[static_cast<std::size_t>(j)].fetch_add(1);
      if (std::this_thread::get_id() != caller) by_others.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    for (auto& h : hits) CHECK(h.load() == 1);
    helped = by_others.load() > 0;
  }
  CHECK(helped);
  // leave the pool as the other tests expect it: a region judged fine ends nothing, so probe
  pool_detail::Pool& pool = pool_detail::Pool::instance();
  REQUIRE(pool.try_own());
  pool.back_off_for(0);
  pool.disown();
}

TEST_CASE("a partner that loses its core mid-job makes small layers run alone for a while") {
  pool_detail::g_stressed_until_ns.store(0);
  Context ctx;
  ctx.threads = 2;
  CHECK(!pool_stressed());
  CHECK(ctx.threads_for(4 * kGrainMacs, kGrainMacs) == 2);
  // The worker's job takes 5 ms (as if descheduled), the caller's 0.3 ms: the caller waits.
  const std::thread::id caller = std::this_thread::get_id();
  for (int attempt = 0; attempt < 50 && !pool_stressed(); ++attempt) {
    parallel_for_each(2, 2, [&](std::int64_t) {
      if (std::this_thread::get_id() != caller) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return;
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
      while (std::chrono::steady_clock::now() < until) {
      }
    });
  }
  REQUIRE(pool_stressed());
  CHECK(ctx.threads_for(4 * kGrainMacs, kGrainMacs) == 1);
  CHECK(ctx.threads_for(2 * kStressedGrain * kGrainMacs, kGrainMacs) == 2);
  Context one;
  CHECK(one.threads_for(2 * kStressedGrain * kGrainMacs, kGrainMacs) == 1);
  // leave the pool as the other tests expect it
  pool_detail::g_stressed_until_ns.store(0);
  pool_detail::Pool& pool = pool_detail::Pool::instance();
  REQUIRE(pool.try_own());
  pool.back_off_for(0);
  pool.disown();
}

TEST_CASE("while the pool is stressed a worker leaves the last quarter of the jobs to the caller") {
  pool_detail::Pool& pool = pool_detail::Pool::instance();
  REQUIRE(pool.try_own());
  pool.back_off_for(0);
  pool.disown();
  const std::thread::id caller = std::this_thread::get_id();
  constexpr std::int64_t kJobs = 200;
  bool worker_claimed = false;  // beyond the job it joined with
  for (int attempt = 0; attempt < 20 && !worker_claimed; ++attempt) {
    pool_detail::g_stressed_until_ns.store(pool_detail::now_ns() + std::int64_t(60) * 1'000'000'000);
    std::vector<std::int64_t> worker_jobs;  // in claim order (one worker: nt = 2)
    std::vector<int> done(kJobs, 0);
    std::mutex m;
    parallel_for(2, kJobs, [&](Jobs& q) {
      for (std::int64_t j; q.next(j);) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
        while (std::chrono::steady_clock::now() < until) {
        }
        std::lock_guard<std::mutex> lk(m);
        ++done[static_cast<std::size_t>(j)];
        if (std::this_thread::get_id() != caller) worker_jobs.push_back(j);
      }
    });
    CHECK(std::count(done.begin(), done.end(), 1) == kJobs);
    for (std::size_t i = 1; i < worker_jobs.size(); ++i) CHECK(worker_jobs[i] < kJobs - kJobs / pool_detail::kStressedReserve);
    worker_claimed = worker_jobs.size() >= 2;
  }
  pool_detail::g_stressed_until_ns.store(0);
  CHECK(worker_claimed);  // the worker took part at all, so the bound above was tested
}

TEST_CASE("convolution: same bits for 1..4 threads, and while the pool serves another caller") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  ops::Conv2d<float> c;
  c.g.c1 = 32;
  c.g.c2 = 48;
  c.g.kh = c.g.kw = 3;
  c.g.ph = c.g.pw = 1;
  c.weight.resize(static_cast<std::size_t>(c.g.weight_numel()));
  for (float& v : c.weight) v = u(rng) * 0.2f;
  c.bias.resize(48);
  for (float& v : c.bias) v = u(rng);
  c.act.kind = ops::ActKind::SiLU;
  c.finalize(ops::default_conv_algo());
  Tensor<float> x(Shape{1, 32, 61, 67});  // 4087 pixels x 288 x 48: above the grain for 2+ threads
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = u(rng);
  const Shape ys{1, 48, 61, 67};
  auto run = [&](int threads) {
    Tensor<float> y(ys);
    Context ctx;
    ctx.threads = threads;
    c.forward(cview(x), view(y), ctx);
    return y;
  };
  const Tensor<float> one = run(1);
  for (int threads : {2, 3, 4}) {
    CAPTURE(threads);
    const Tensor<float> y = run(threads);
    CHECK(std::memcmp(y.data(), one.data(), one.bytes()) == 0);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> callers;
  for (int w = 0; w < 3; ++w)
    callers.emplace_back([&, w] {
      for (int r = 0; r < 5; ++r)
        if (std::memcmp(run(1 + (w + r) % 3).data(), one.data(), one.bytes()) != 0) mismatches.fetch_add(1);
    });
  for (auto& t : callers) t.join();
  CHECK(mismatches.load() == 0);
}
