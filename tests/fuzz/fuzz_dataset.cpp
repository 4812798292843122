// SPDX-License-Identifier: MIT
// libFuzzer target: what `val` reads from a user's data set before any image — a data yaml
// (io::parse_yaml + vision::parse_data_config) and a label file (vision::parse_label_text). The
// first byte picks which; the rest is the text. Any yv9::Error is an accepted outcome for the yaml;
// the label parser reports problems in its result and must never throw. Crashes, sanitizer
// reports, leaks, timeouts and memory blow-ups are bugs.
#include <yv9/vision/dataset.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    const yv9::vision::LabelFile f = yv9::vision::parse_label_text(text, "fuzz.txt", 1 + data[0] / 2);
    if (f.status == yv9::vision::LabelFile::Status::Corrupt && f.problem.empty()) std::abort();
    if (f.status != yv9::vision::LabelFile::Status::Ok && !f.rows.empty()) std::abort();
  } else {
    try {
      const yv9::vision::DataConfig c = yv9::vision::parse_data_config(yv9::io::parse_yaml(text, "fuzz.yaml"), "/nonexistent/fuzz.yaml");
      if (c.names.empty()) std::abort();
    } catch (const yv9::Error&) {
    }
  }
  return 0;
}
