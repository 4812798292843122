// The thread pool behind every parallel kernel (core/threads.hpp): each job runs exactly once
// whatever the team, callers that find the pool busy still finish (alone), nested regions do not
// deadlock, a participant stuck in one job does not hold back the others' jobs, one that loses
// its core mid-job is moved to the waiting caller's core and makes small layers run alone for a
// while, and a convolution gives the same bits for 1..4 threads and on a pool busy with another
// caller. Built with TSan by .ci/tsan.sh as well (the claim word and the region hand-over are
// what it checks).
#include <yv9/core/threads.hpp>
#include <yv9/ops/conv.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <sched.h>
#endif

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

TEST_CASE("a pinned worker that gets no CPU time mid-job is moved to the waiting caller's core, and goes home after") {
#if !defined(__linux__)
  MESSAGE("SKIPPED: worker pinning and rescue are Linux only");
#else
  const int nt = hardware_threads();  // workers are pinned when the team uses every core
  if (nt < 2 || std::getenv("YV9_POOL_PIN")) {
    MESSAGE("SKIPPED: needs >= 2 allowed CPUs and default pinning (YV9_POOL_PIN unset)");
    return;
  }
  // Job 0 is the caller's: it waits until a worker holds job 1, which sleeps in 1 ms slices until
  // it finds itself moved, so it gets no CPU time while the caller waits (as when another process
  // has its core). The caller's probe must move it: it wakes on another CPU than the one it was
  // pinned to. This is the file's first
  // test, so the pool has no workers beyond the cores yet (those would not be pinned); attempts
  // that one of them takes anyway (other test orders) are repeated.
  struct Seen {
    std::atomic<bool> started{false};
    std::thread::id worker;
    int pinned_to = -1, after = -1;  // pinned_to: the only CPU it may run on, -1 if several
  };
  auto region = [&](Seen& seen, int sleep_ms) {
    const std::thread::id caller = std::this_thread::get_id();
    parallel_for(nt, 2, [&](Jobs& q) {
      for (std::int64_t j; q.next(j);) {
        if (std::this_thread::get_id() == caller) {
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
          while (!seen.started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          continue;
        }
        cpu_set_t allowed;
        if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) == 1)
          seen.pinned_to = sched_getcpu();
        seen.worker = std::this_thread::get_id();
        seen.started.store(true);
        // Sleep until moved (or 2 s): in slices, so a caller that itself waits for its core
        // (other processes, as under ctest -j2) still finds the worker idle when it probes.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        do std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
        while (sleep_ms > 0 && sched_getcpu() == seen.pinned_to && std::chrono::steady_clock::now() < deadline);
        seen.after = sched_getcpu();
      }
    });
  };
  parallel_for_each(nt, 2 * nt, [](std::int64_t) {});  // the pool's workers, one pinned to each other CPU
  // The caller keeps to the first allowed CPU, the one the pool leaves free for it (were it on a
  // worker's CPU, sleeping would already give that worker its core, and nothing is moved).
  cpu_set_t caller_allowed, first;
  REQUIRE(sched_getaffinity(0, sizeof(caller_allowed), &caller_allowed) == 0);
  CPU_ZERO(&first);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &caller_allowed)) {
      CPU_SET(cpu, &first);
      break;
    }
  REQUIRE(sched_setaffinity(0, sizeof(first), &first) == 0);
  pool_detail::Pool& pool = pool_detail::Pool::instance();
  bool moved = false, home = false;
  for (int attempt = 0; attempt < 50 && !(moved && home); ++attempt) {
    Seen seen;
    REQUIRE(pool.try_own());
    const std::int64_t rescues = pool.rescues();
    pool.back_off_for(0);
    pool.disown();
    region(seen, 1);
    if (!seen.started.load() || seen.pinned_to < 0) continue;
    REQUIRE(pool.try_own());
    CHECK(pool.rescues() == rescues + 1);
    pool.disown();
    CHECK(seen.after != seen.pinned_to);
    moved = seen.after != seen.pinned_to;
    // When that worker next joins a region, it is back on the CPU it was pinned to.
    for (int again = 0; again < 50 && !home; ++again) {
      Seen next;
      region(next, 0);
      if (!next.started.load() || next.worker != seen.worker) continue;
      CHECK(next.pinned_to == seen.pinned_to);
      home = true;
    }
  }
  REQUIRE(sched_setaffinity(0, sizeof(caller_allowed), &caller_allowed) == 0);
  CHECK(moved);
  CHECK(home);
  pool_detail::g_stressed_until_ns.store(0);  // the sleeping jobs count as stalls
  REQUIRE(pool.try_own());
  pool.back_off_for(0);
  pool.disown();
#endif
}

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
