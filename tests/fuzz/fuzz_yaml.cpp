// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary text through everything a model config reaches before any weight is
// read — the yaml subset (io::parse_yaml), the config reader (model::parse_config), the builder in
// spec mode (model::build with an unbound Binder: modules, channel rules, repeats, heads, strides),
// the summary table, and the network's shape inference on a small input (what `detect --summary`
// and `--bench` do with a config before allocating). MAC counts are left out: they are bench
// statistics whose int64 sums a config can overflow only with models far too big to run. Any yv9::Error is an accepted outcome; crashes,
// sanitizer reports (signed overflow included), leaks, timeouts and memory blow-ups are bugs: huge
// widths, depths and repeats must be refused by limits, not attempted.
#include <yv9/model/network.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const yv9::io::Json root = yv9::io::parse_yaml(text, "fuzz.yaml");
    const yv9::model::ModelConfig cfg = yv9::model::parse_config(root, "fuzz.yaml");
    yv9::weights::Binder spec;
    yv9::model::BuiltModel<float> built = yv9::model::build<float>(cfg, spec);
    std::size_t chars = yv9::model::summary_header().size();
    for (const auto& l : built.info) chars += yv9::model::summary_row(l).size();
    const yv9::model::Network<float> net(std::move(built));
    const yv9::Shape in{1, net.in_channels(), 64, 64};
    const std::vector<yv9::Shape> shapes = net.shapes(in);
    (void)chars;
    (void)shapes;
  } catch (const yv9::Error&) {
  }
  return 0;
}
