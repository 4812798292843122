// SPDX-License-Identifier: MIT
// Threads: the library's own fork/join pool (no OpenMP), built for machines it shares.
//
//   parallel_for(nt, jobs, [&](Jobs& q) {
//     std::vector<float> scratch(...);            // once per participant that gets a job
//     for (std::int64_t j; q.next(j);) work(j);   // jobs 0..jobs-1, each claimed exactly once
//   });
//
// Why not OpenMP: its regions split loops statically and end in a barrier, so one descheduled
// thread holds every region (hundreds per forward) until it gets a core back, and libgomp's
// spin-waiting keeps the other thread burning its time slice meanwhile. With another process busy
// on one of two cores, gelan-c at 320 took 1.45 s with 2 threads and 0.2 s with 1. Here:
//   - the calling thread participates, and every participant claims jobs one at a time from a
//     shared counter, so the share of a thread that did not get a core is taken by the others;
//   - the caller waits only for jobs actually in flight: a worker that wakes after all jobs were
//     claimed finds nothing and never touches the region (claims are one atomic word, below);
//   - idle workers spin briefly, then sleep on a condition variable (a woken sleeper gets the
//     scheduler's wake-up preference, a spinner only burns its share of a busy core); a waiting
//     caller does the same, so its core can pull a preempted worker over;
//   - when waiting for a starved partner costs more than the partner's jobs saved, the caller
//     backs off for a while (doubling up to kSoloMaxMs), then tries again: in back-off a region
//     opens to the others only after the caller has run it alone for kLateJoinNs, so short
//     regions never wait for a starved partner and long ones still take what help it gives;
//   - a caller that waits for one pinned worker's last job reads that worker's CPU clock every
//     kProbeNs; a worker that did not run lost its core to another process mid-job (the kernel
//     then keeps it off for a whole time slice, 4 ms here), so the caller moves it onto its own
//     core and sleeps, and the worker goes home after the job. gelan-c at 320 with one core
//     busy, 8 interleaved rounds: medians 118 -> 110 ms, stalls (below) 25-40 -> 1-5 per 17 runs;
//   - a region whose caller waited over kStallNs for a partner's last job (the partner lost its
//     core mid-job) makes the pool "stressed" for kStressNs: Context::threads_for then gives a team
//     only to layers kStressedGrain times larger, so the many small layers stop paying for
//     such stalls, and workers leave the last quarter of each region's jobs to the caller. On an
//     idle machine small layers (from ~0.25 M multiply-adds) do get a team:
//     gelan-t at 320, 2 threads, 34.5 -> 27.5 ms.
// Results never depend on any of this: a job's output is fixed by its index, whoever runs it.
//
// One process-wide pool, created on first use (why a global: worker threads are costly to create
// and several Networks or Detectors in one process should share the cores, not multiply threads).
// It serves one region at a time: a caller that finds it busy (another application thread
// running forward() at the same time, or a nested call) runs its region alone on its own thread,
// which is the right split when the application already runs several forwards in parallel.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace yv9 {

// Cores this process may run on (its affinity mask on Linux), at least 1.
inline int hardware_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// 0 (or less) means "all cores this process may use".
inline int resolve_threads(int requested) { return requested > 0 ? requested : hardware_threads(); }

namespace pool_detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spin budgets: long enough to bridge the gap between two regions of one forward on an idle
// machine (a sleeping thread takes tens of µs to wake), short enough that a thread sharing a core
// with another process soon gives its time back.
inline constexpr std::int64_t kWorkerSpinNs = 100'000;
inline constexpr std::int64_t kCallerSpinNs = 50'000;
// Starvation back-off: solo periods start at kSoloMinMs and double while partners stay starved.
inline constexpr std::int64_t kSoloMinMs = 5, kSoloMaxMs = 320;
// A wait shorter than this is never blamed on starvation (wake-up latency, uneven last jobs).
inline constexpr std::int64_t kStarvedWaitNs = 300'000;
// In back-off, a region opens to the workers after running this long alone.
inline constexpr std::int64_t kLateJoinNs = 2'000'000;
// A stall: the caller waited longer than this and than two of its own mean jobs for a partner's
// last job (a partner descheduled while holding a job). Each stall makes the pool "stressed" for
// kStressNs: Context::threads_for then opens a team only for layers kStressedGrain times larger.
inline constexpr std::int64_t kStallNs = 1'000'000, kStressNs = 250'000'000;
// A caller waiting for one pinned worker's last job checks every kProbeNs whether that worker got
// CPU time meanwhile; one that got less than half has lost its core, and is moved (Pool::rescue).
inline constexpr std::int64_t kProbeNs = 50'000;

// Until when the pool counts as stressed (steady-clock ns); written by region owners.
inline std::atomic<std::int64_t> g_stressed_until_ns{0};
// While stressed, a worker claims no more jobs (after the one it joined with) once only
// 1/kStressedReserve of the region's jobs are left: the caller, whose core is the free one, does
// the tail, and a worker that lost its core mid-job has that long to get it back before the caller
// waits for it. gelan-c at 320 with one core busy, 4 interleaved rounds: medians ~190 -> ~176 ms
// (one thread: 196); with two busy processes on that core 240 -> 214 (one thread: 202).
inline constexpr std::int64_t kStressedReserve = 4;

class Pool;

// What the pool did, for tuning it (YV9_POOL_STATS=1 prints this to stderr at exit). Updated by
// the region's owner only. Durations are in log2 buckets of microseconds.
struct Stats {
  static constexpr int kBuckets = 16;
  std::int64_t team = 0, late = 0, joined = 0, starved = 0;  // regions: as a team / in back-off, of those
                                                             // joined late; judged starved
  std::int64_t stalls = 0;                                   // team regions that made the pool stressed
  std::int64_t team_ns = 0, late_ns = 0, wait_ns = 0;        // time in both kinds, and waiting for partners
  std::int64_t team_hist[kBuckets] = {}, late_hist[kBuckets] = {}, wait_hist[kBuckets] = {};
  static int bucket(std::int64_t ns) {
    int b = 0;
    for (std::int64_t us = ns / 1000; us > 1 && b < kBuckets - 1; us >>= 1) ++b;
    return b;
  }
};

inline bool stats_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("YV9_POOL_STATS");
    return e && *e && *e != '0';
  }();
  return on;
}

}  // namespace pool_detail

// One participant's claims in a region: next(j) hands out the next unclaimed job index.
class Jobs {
 public:
  bool next(std::int64_t& job);

 private:
  friend class pool_detail::Pool;
  template <class F>
  friend void parallel_for(int, std::int64_t, F&&);
  pool_detail::Pool* pool_ = nullptr;  // null: a region run alone, counting locally
  std::int64_t jobs_ = 0, local_ = 0;
  std::int64_t first_ = -1;  // the job claimed before the body was entered (-1: handed out)
  std::int64_t count_ = 0;   // jobs this participant claimed
  bool owner_ = false;       // the region's caller
};

namespace pool_detail {

// The claim word packs what a participant needs to check and change in one atomic step:
//
//   bits 63..56 unused | 55..40 seats (workers that may still join) | 39..0 jobs not yet claimed
//
// A worker joins by taking a seat and a job in one compare-exchange; later claims take a job
// only. Since a region cannot end while one of its jobs is unclaimed or unfinished, a successful
// claim always belongs to the region that is open, and nothing else of a region (its body, its
// job count) is read before such a claim: a late or long-preempted worker cannot touch a
// finished region. (The same word recurring in a later region is harmless for that reason.)
inline constexpr int kSeatShift = 40;
inline constexpr std::uint64_t kRemMask = (std::uint64_t(1) << kSeatShift) - 1, kOneSeat = std::uint64_t(1) << kSeatShift;
inline constexpr int kMaxWorkers = 255;
inline std::int64_t remaining(std::uint64_t c) { return static_cast<std::int64_t>(c & kRemMask); }
inline std::uint64_t seats(std::uint64_t c) { return c >> kSeatShift; }

class Pool {
 public:
  static Pool& instance() {
    static Pool pool;  // joined at exit (workers are idle unless a forward is still running)
    return pool;
  }

  ~Pool() {
    if (stats_enabled()) print_stats();
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true);
    }
    work_cv_.notify_all();
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }

  bool try_own() { return !owned_.exchange(true, std::memory_order_acquire); }
  // Owner only. Workers moved to a waiting caller's core so far (see rescue).
  std::int64_t rescues() const { return rescues_; }
  void disown() { owned_.store(false, std::memory_order_release); }

  // Owner only. Whether the next region starts alone (a starved partner is being avoided).
  bool solo_now() {
    if (solo_until_ns_ == 0) return false;
    if (now_ns() < solo_until_ns_) return true;
    solo_until_ns_ = 0;  // back-off over: the next region is a probe
    probing_ = true;
    return false;
  }

  // Owner only. Enters back-off as if a partner had been judged starved (for tests: a loaded
  // machine is what reaches this path otherwise).
  void back_off_for(std::int64_t ms) {
    solo_until_ns_ = now_ns() + ms * 1'000'000;
    probing_ = false;
  }

  // Owner only: the region protocol (see parallel_for). In back-off (late) the seats open only
  // once the owner has run the region alone for kLateJoinNs: short regions never wait for a
  // starved partner, long ones still get its help.
  template <class F>
  void run(int nt, std::int64_t jobs, F& body, bool late) noexcept {  // a throwing body terminates, as in OpenMP
    grow(nt - 1);
    const std::uint64_t seat_count = static_cast<std::uint64_t>(std::min<std::size_t>(nt - 1, workers_.size()));
    body_ = &body;
    invoke_ = [](void* b, Jobs& q) { (*static_cast<F*>(b))(q); };
    jobs_ = jobs;
    done_.store(0, std::memory_order_relaxed);
    const std::int64_t t0 = now_ns();
    late_seats_ = late ? seat_count : 0;
    late_at_ns_ = t0 + late_join_ns();
    claim_.store((late ? 0 : seat_count) << kSeatShift | static_cast<std::uint64_t>(jobs), std::memory_order_seq_cst);
    if (!late) wake_workers();
    Jobs q;
    q.pool_ = this;
    q.jobs_ = jobs;
    q.owner_ = true;
    std::int64_t j;
    if (claim(q, j)) {
      q.first_ = j;
      body(q);
    }
    const std::int64_t t1 = now_ns();
    if (q.count_ == jobs) {  // nobody else got a job: nothing to wait for
      done_.store(jobs, std::memory_order_relaxed);
    } else {
      done_.fetch_add(q.count_, std::memory_order_acq_rel);
      wait_done(jobs);
    }
    const std::int64_t t2 = now_ns();
    judge(q.count_, jobs, t1 - t0, t2 - t1);
    const bool stall = q.count_ < jobs && t2 - t1 > std::max(kStallNs, 2 * (t1 - t0) / std::max<std::int64_t>(q.count_, 1));
    if (stall) g_stressed_until_ns.store(t2 + kStressNs, std::memory_order_relaxed);
    if (stats_enabled()) {
      (late ? stats_.late : stats_.team) += 1;
      (late ? stats_.late_ns : stats_.team_ns) += t2 - t0;
      stats_.joined += late && q.count_ < jobs;
      stats_.stalls += stall;
      stats_.wait_ns += t2 - t1;
      if (q.count_ < jobs) ++stats_.wait_hist[Stats::bucket(t2 - t1)];
      ++(late ? stats_.late_hist : stats_.team_hist)[Stats::bucket(t2 - t0)];
    }
  }

  // Claims the next job of the open region for q (a participant already holding a job).
  bool claim(Jobs& q, std::int64_t& job) {
    if (q.owner_ && late_seats_ > 0 && now_ns() >= late_at_ns_) open_late_seats();
    std::uint64_t c = claim_.load(std::memory_order_relaxed);
    // While stressed, workers leave the region's last jobs to the caller (see kStressedReserve).
    const bool reserve = !q.owner_ && now_ns() < g_stressed_until_ns.load(std::memory_order_relaxed);
    const std::int64_t floor = reserve ? q.jobs_ / kStressedReserve : 0;
    while (remaining(c) > floor)
      if (claim_.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        job = q.jobs_ - remaining(c);
        ++q.count_;
        return true;
      }
    return false;
  }

 private:
  Pool() = default;

  // One worker thread: the CPU it is pinned to (-1: not pinned), whether it runs a job of the open
  // region, and whether a waiting caller moved it to its own CPU (see rescue).
  struct Worker {
    std::thread thread;
    int home = -1;
    std::atomic<bool> in_job{false}, moved{false};
  };

  static std::int64_t late_join_ns() {
    static const std::int64_t ns = [] {
      const char* e = std::getenv("YV9_POOL_LATE_US");
      return e ? std::atoll(e) * 1000 : kLateJoinNs;
    }();
    return ns;
  }

  void wake_workers() {
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(m_);
      work_cv_.notify_all();
    }
  }

  // Owner: a back-off region has run long enough alone; let the workers join what is left.
  void open_late_seats() {
    std::uint64_t c = claim_.load(std::memory_order_relaxed);
    while (remaining(c) > 0 &&
           !claim_.compare_exchange_weak(c, c + (late_seats_ << kSeatShift), std::memory_order_seq_cst, std::memory_order_relaxed)) {
    }
    late_seats_ = 0;
    wake_workers();
  }

  void grow(int want) {
    want = std::min(want, kMaxWorkers);
    if (static_cast<int>(workers_.size()) >= want) return;
    const std::vector<int> cpus = pin_workers(want + 1) ? allowed_cpus() : std::vector<int>{};
    while (static_cast<int>(workers_.size()) < want) {
      const std::size_t k = workers_.size() + 1;  // worker k gets the k-th allowed CPU; the caller's is left free
      workers_.push_back(std::make_unique<Worker>());
      Worker* w = workers_.back().get();
      w->home = k < cpus.size() ? cpus[k] : -1;
      w->thread = std::thread([this, w] {
        if (w->home >= 0) pin_self(w->home);
        work(*w);
      });
    }
  }

  // Whether workers get a core each: when a team uses every core the process may run on (the
  // default), worker k is pinned to the k-th allowed CPU and the caller's thread is left free.
  // Unpinned, the kernel's load balancer, seeing a core shared by a worker and another busy
  // process, moves the worker onto the caller's core, so the team shares one core and gains
  // nothing from the other's spare time (gelan-c at 320 with a process busy on core 1: default
  // ~1.07x one thread unpinned, ~0.9x pinned). A smaller team is left to the kernel: pinning it
  // would pile every process's workers onto the first cores. YV9_POOL_PIN=0 or 1 overrides.
  static bool pin_workers(int team) {
    static const int env = [] {
      const char* e = std::getenv("YV9_POOL_PIN");
      return e && (*e == '0' || *e == '1') ? *e - '0' : -1;
    }();
    return env >= 0 ? env == 1 : team >= hardware_threads() && hardware_threads() > 1;
  }

  // The CPUs this process may run on, in order (empty where that cannot be known).
  static std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
#endif
    return cpus;
  }

#if defined(__linux__)
  // Pins a thread to one CPU; false if refused (it then stays where it is).
  static bool pin(pthread_t thread, int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(thread, sizeof(one), &one) == 0;
  }
#endif
  static void pin_self(int cpu) {
#if defined(__linux__)
    pin(pthread_self(), cpu);
#else
    (void)cpu;
#endif
  }

  // The one worker still running a job of the region, if exactly one is.
  Worker* straggler() const {
    Worker* found = nullptr;
    for (const auto& w : workers_)
      if (w->in_job.load(std::memory_order_relaxed)) {
        if (found) return nullptr;
        found = w.get();
      }
    return found;
  }

  // CPU time the worker's thread has run (ns), or -1 where that cannot be read.
  static std::int64_t cpu_time_ns(Worker& w) {
#if defined(__linux__)
    clockid_t clock;
    timespec ts;
    if (pthread_getcpuclockid(w.thread.native_handle(), &clock) == 0 && clock_gettime(clock, &ts) == 0)
      return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
#else
    (void)w;
#endif
    return -1;
  }

  // Caller, waiting for a pinned worker's last job while that worker gets no CPU time: it has
  // lost its core to another process mid-job, and the kernel keeps it off for a whole time slice
  // (4 ms on the machines we measure) while the caller's core idles. Pinning keeps the kernel
  // from moving it to the idle core, so we do: it is pinned to the caller's CPU, which the caller
  // leaves by sleeping, and goes home by itself when its job is done (go_home).
  void rescue(Worker& w) {
#if defined(__linux__)
    const int cpu = sched_getcpu();
    if (cpu < 0 || w.home < 0 || w.home == cpu || !pin(w.thread.native_handle(), cpu)) return;
    w.moved.store(true, std::memory_order_release);  // after the move, so go_home undoes it
    ++rescues_;
#else
    (void)w;
#endif
  }

  // Worker: back to its own CPU if a caller moved it (see rescue).
  static void go_home(Worker& w) {
    if (w.moved.exchange(false, std::memory_order_acq_rel)) pin_self(w.home);
  }

  // Caller: wait until every claimed job is finished: spin, then sleep, waking every kProbeNs
  // while a single pinned worker is still running to see whether it needs a rescue.
  void wait_done(std::int64_t jobs) {
    const std::int64_t spin_end = now_ns() + kCallerSpinNs;
    for (int i = 0; done_.load(std::memory_order_acquire) != jobs; ++i) {
      cpu_relax();
      if ((i & 63) == 63 && now_ns() > spin_end) break;
    }
    std::unique_lock<std::mutex> lk(m_);
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    Worker* watched = nullptr;  // the straggler whose CPU time was last read, at `wall`
    std::int64_t wall = 0, cpu = 0;
    bool probe = true;  // until a rescue, or nothing to rescue
    while (done_.load(std::memory_order_seq_cst) != jobs) {
      if (!probe) {
        done_cv_.wait(lk);
        continue;
      }
      if (watched &&
          done_cv_.wait_until(lk, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(wall + kProbeNs))) !=
              std::cv_status::timeout)
        continue;
      Worker* w = straggler();  // several still busy, or not pinned: the kernel's business
      const std::int64_t now = now_ns(), ran = w && w->home >= 0 ? cpu_time_ns(*w) : -1;
      if (ran < 0) {
        probe = false;
        continue;
      }
      if (w == watched && ran - cpu < (now - wall) / 2) {  // it did not run: it lost its core
        probe = false;
        lk.unlock();  // a finishing worker may need m_ to wake us; the loop re-checks done_ under it
        rescue(*w);
        lk.lock();
        continue;
      }
      watched = w;
      wall = now;
      cpu = ran;
    }
    caller_sleeping_.store(false, std::memory_order_relaxed);
  }

  // Caller: was the team worth it? The partners' jobs saved about (their count x the caller's
  // mean job time); the wait for their last jobs was lost. If the loss wins, run alone for a
  // while; a probe that goes well restores the team at once.
  void judge(std::int64_t mine, std::int64_t jobs, std::int64_t busy_ns, std::int64_t wait_ns) {
    const bool starved =
        wait_ns > kStarvedWaitNs && mine > 0 && wait_ns > (jobs - mine) * (busy_ns / mine);
    if (!starved) {
      if (probing_) solo_ms_ = 0;
      probing_ = false;
      return;
    }
    ++stats_.starved;
    solo_ms_ = solo_ms_ == 0 ? kSoloMinMs : std::min(kSoloMaxMs, 2 * solo_ms_);
    solo_until_ns_ = now_ns() + solo_ms_ * 1'000'000;
    probing_ = false;
  }

  // Worker: wait for an open region with a free seat, join it, run, repeat.
  void work(Worker& self) noexcept {
    for (;;) {
      if (!wait_work()) return;
      go_home(self);
      std::uint64_t c = claim_.load(std::memory_order_relaxed);
      bool joined = false;
      while (remaining(c) > 0 && seats(c) > 0)
        if (claim_.compare_exchange_weak(c, c - 1 - kOneSeat, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          joined = true;
          break;
        }
      if (!joined) continue;
      Jobs q;
      q.pool_ = this;
      q.jobs_ = jobs_;  // safe: our unfinished job keeps the region open
      q.first_ = q.jobs_ - remaining(c);
      q.count_ = 1;
      self.in_job.store(true, std::memory_order_relaxed);
      invoke_(body_, q);
      self.in_job.store(false, std::memory_order_relaxed);
      if (done_.fetch_add(q.count_, std::memory_order_seq_cst) + q.count_ == q.jobs_ &&
          caller_sleeping_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_one();
      }
      go_home(self);
    }
  }

  bool open() const {
    const std::uint64_t c = claim_.load(std::memory_order_seq_cst);
    return remaining(c) > 0 && seats(c) > 0;
  }

  bool wait_work() {
    const std::int64_t deadline = now_ns() + kWorkerSpinNs;
    for (int i = 0;; ++i) {
      if (open()) return true;
      if (stop_.load(std::memory_order_relaxed)) return false;
      cpu_relax();
      if ((i & 63) == 63 && now_ns() > deadline) break;
    }
    std::unique_lock<std::mutex> lk(m_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (!open() && !stop_.load()) work_cv_.wait(lk);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return !stop_.load();
  }

  std::atomic<bool> owned_{false};
  std::atomic<std::uint64_t> claim_{0};
  std::atomic<std::int64_t> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false}, stop_{false};
  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  // The open region (written by its owner before claim_ publishes it).
  void* body_ = nullptr;
  void (*invoke_)(void*, Jobs&) = nullptr;
  std::int64_t jobs_ = 0;
  // Owner only.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::int64_t rescues_ = 0;  // workers moved to a waiting caller's core (see rescue)
  std::int64_t solo_until_ns_ = 0, solo_ms_ = 0;
  bool probing_ = false;
  std::uint64_t late_seats_ = 0;  // seats a back-off region opens at late_at_ns_
  std::int64_t late_at_ns_ = 0;
  Stats stats_;

  void print_stats() const {
    const Stats& s = stats_;
    std::fprintf(stderr, "yv9 pool: %lld team regions (%.1f ms), %lld in back-off (%.1f ms; %lld joined late); %.1f ms waiting; %lld judged starved; %lld stalls; %lld rescues\n",
                 static_cast<long long>(s.team), s.team_ns * 1e-6, static_cast<long long>(s.late), s.late_ns * 1e-6,
                 static_cast<long long>(s.joined), s.wait_ns * 1e-6, static_cast<long long>(s.starved),
                 static_cast<long long>(s.stalls), static_cast<long long>(rescues_));
    std::fprintf(stderr, "yv9 pool: region length (us, up to) team/back-off:");
    for (int b = 0; b < Stats::kBuckets; ++b)
      if (s.team_hist[b] || s.late_hist[b])
        std::fprintf(stderr, " %d:%lld/%lld", 2 << b, static_cast<long long>(s.team_hist[b]), static_cast<long long>(s.late_hist[b]));
    std::fprintf(stderr, "\nyv9 pool: waits for partners (us, up to):");
    for (int b = 0; b < Stats::kBuckets; ++b)
      if (s.wait_hist[b]) std::fprintf(stderr, " %d:%lld", 2 << b, static_cast<long long>(s.wait_hist[b]));
    std::fprintf(stderr, "\n");
  }
};

}  // namespace pool_detail

// Whether a recent region stalled on a descheduled partner (another process competes for the
// cores): small layers should then run alone.
inline bool pool_stressed() {
  return pool_detail::now_ns() < pool_detail::g_stressed_until_ns.load(std::memory_order_relaxed);
}

inline bool Jobs::next(std::int64_t& job) {
  if (first_ >= 0) {
    job = first_;
    first_ = -1;
    return true;
  }
  if (!pool_) {
    if (local_ >= jobs_) return false;
    job = local_++;
    ++count_;
    return true;
  }
  return pool_->claim(*this, job);
}

// Runs body(Jobs&) on up to nt threads (the caller included) until jobs 0..jobs-1 are done.
// body is entered only by participants that got a job; it must not throw (as an OpenMP region).
template <class F>
void parallel_for(int nt, std::int64_t jobs, F&& body) {
  if (jobs <= 0) return;
  const auto alone = [&] {
    Jobs q;
    q.jobs_ = jobs;
    body(q);
  };
  if (nt <= 1 || jobs == 1) return alone();
  pool_detail::Pool& pool = pool_detail::Pool::instance();
  if (!pool.try_own()) return alone();
  pool.run(nt, jobs, body, /*late=*/pool.solo_now());
  pool.disown();
}

// The common case: f(j) for every job j.
template <class F>
void parallel_for_each(int nt, std::int64_t jobs, F&& f) {
  parallel_for(nt, jobs, [&](Jobs& q) {
    for (std::int64_t j; q.next(j);) f(j);
  });
}

}  // namespace yv9
