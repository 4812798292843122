// SPDX-License-Identifier: MIT
// One loaded Network shared by several std::threads: Network::forward is const and keeps no state
// between calls (model/network.hpp), so concurrent calls must neither race nor change a single bit
// of the result. Each case runs every input serially first (the reference), then 4 threads x 3
// rounds over all inputs at once, with Context threads = 1 and = 2 (parallel regions opened inside
// concurrent calls: one input per case is large enough for the kernels to use 2 threads). Tolerance: none — bit-identical to the serial run, and 1 vs 2 threads
// identical too, as the engine promises for its tiling (STYLE rule 10).
//
// Built with -DYV9_TSAN=ON by .ci/tsan.sh, where ThreadSanitizer checks the same runs for races.
#include <yv9/io/npy.hpp>
#include <yv9/model/loader.hpp>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace yv9;

namespace {

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.bytes()) == 0);
}

// Deterministic pseudo-random image in [0, 1).
Tensor<float> synthetic_input(std::int64_t h, std::int64_t w) {
  Tensor<float> x(Shape{1, 3, h, w});
  std::uint32_t state = 12345;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    x[i] = static_cast<float>(state >> 8) / 16777216.0f;
  }
  return x;
}

// Serial reference first, then kWorkers threads x kRounds over all inputs on the same Network.
// Besides the case's own (small) inputs, a synthetic `big` x `big` image: layers below
// 2 x kGrainMacs run on one thread whatever Context says, so without a larger input threads=2
// would not open a single parallel region.
void check_case(const std::string& name, const std::vector<std::string>& inputs, std::int64_t big) {
  const std::string dir = yv9test::data_dir() + "/ref/" + name;
  CAPTURE(name);
  const auto m = model::load_model<float>(dir + "/model.bin");
  const model::Network<float>& net = m.net;
  std::vector<Tensor<float>> xs;
  for (const auto& in : inputs) xs.push_back(io::read_npy_f32(dir + "/" + in));
  xs.push_back(synthetic_input(big, big));
  int teams = 0;
  for (std::int64_t macs : net.macs(xs.back().shape())) teams += macs >= 2 * kGrainMacs;
  REQUIRE_MESSAGE(teams > 0, "no layer of " << name << " is big enough for 2 threads at " << big << "x" << big);

  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Context ctx;
    ctx.threads = threads;
    std::vector<Tensor<float>> serial;
    for (const auto& x : xs) serial.push_back(net.forward(x, ctx));
    if (threads == 2) {
      Context one;
      for (std::size_t i = 0; i < xs.size(); ++i) CHECK(same_bits(serial[i], net.forward(xs[i], one)));
    }

    constexpr int kWorkers = 4, kRounds = 3;
    std::atomic<int> mismatches{0}, errors{0}, ready{0};
    std::vector<std::thread> pool;
    for (int w = 0; w < kWorkers; ++w) {
      pool.emplace_back([&, w] {
        // Start together so the calls overlap instead of running one after another.
        ready.fetch_add(1);
        while (ready.load() < kWorkers) std::this_thread::yield();
        try {
          for (int r = 0; r < kRounds; ++r)
            for (std::size_t k = 0; k < xs.size(); ++k) {
              const std::size_t i = (k + static_cast<std::size_t>(w)) % xs.size();  // workers on different inputs
              int layers_seen = 0;
              const Tensor<float> y = net.forward(xs[i], ctx, [&](int, const Tensor<float>&, double) { ++layers_seen; });
              if (!same_bits(y, serial[i]) || layers_seen == 0) mismatches.fetch_add(1);
            }
        } catch (const std::exception&) {
          errors.fetch_add(1);
        }
      });
    }
    for (auto& t : pool) t.join();
    CHECK(errors.load() == 0);
    CHECK(mismatches.load() == 0);
  }
}

}  // namespace

TEST_CASE("concurrent forward on one network: gelan (ELAN1/AConv/RepNCSP, LeakyReLU, DDetect)") {
  check_case("gelan-leaky-nc3", {"in_32x32.npy", "in_32x64.npy"}, 256);
}

TEST_CASE("concurrent forward on one network: MMQA (tiled attention has its own parallel region)") {
  check_case("mmqa-small", {"in_29x61.npy", "in_32x64.npy"}, 128);
}

TEST_CASE("concurrent forward on one network: yolov9-c style (CBLinear/CBFuse, DualDDetect with aux dropped)") {
  check_case("v9c-small", {"in_29x61.npy", "in_64x64.npy"}, 256);
}

TEST_CASE("concurrent shape and MAC queries agree with serial ones") {
  const auto m = model::load_model<float>(yv9test::data_dir() + "/ref/gelan-leaky-nc3/model.bin");
  const Shape in{1, 3, 64, 96};
  const std::vector<std::int64_t> ref = m.net.macs(in);
  std::atomic<int> bad{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < 4; ++w)
    pool.emplace_back([&] {
      for (int r = 0; r < 20; ++r)
        if (m.net.macs(in) != ref) bad.fetch_add(1);
    });
  for (auto& t : pool) t.join();
  CHECK(bad.load() == 0);
}
