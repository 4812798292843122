// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes through WeightFile::parse and then every accessor a loader
// uses (find, raw, values<float>/<double>). Any yv9::Error is an accepted outcome; crashes,
// sanitizer reports, leaks and timeouts are bugs.
#include <yv9/io/weightfile.hpp>

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  yv9::io::WeightFileLimits lim;
  lim.max_header_bytes = std::uint64_t(16) << 20;
  try {
    const yv9::io::WeightFile w = yv9::io::WeightFile::parse(std::vector<std::uint8_t>(data, data + size), "fuzz.bin", lim);
    double sum = 0;
    for (const yv9::io::TensorEntry& e : w.tensors()) {
      if (w.find(e.name) != &e) __builtin_trap();
      const std::vector<float> f = w.values<float>(e);
      const std::vector<double> d = w.values<double>(e);
      if (f.size() != static_cast<std::size_t>(e.numel()) || d.size() != f.size()) __builtin_trap();
      if (!f.empty()) sum += d[0] + w.data(e).bytes[0];
    }
    (void)sum;
    for (const auto& kv : w.metadata()) (void)yv9::io::parse_json(kv.second, "meta").type();
  } catch (const yv9::Error&) {
  }
  return 0;
}
