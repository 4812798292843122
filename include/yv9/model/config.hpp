// SPDX-License-Identifier: MIT
// What the builder reads (a parsed config) and what it reports per row (the summary table).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../ops/activation.hpp"
#include "value.hpp"

namespace yv9::model {

struct LayerDef {
  Value from;  // int or list of ints, as written
  std::int64_t n = 1;
  std::string module;
  std::vector<Value> args;
  int line = 0;
};

struct ModelConfig {
  std::string label;  // file name for messages
  std::int64_t nc = 80;
  double depth = 1.0, width = 1.0;
  std::int64_t na = 3;  // anchors per level (only for upstream's `c2 != no` quirk)
  std::int64_t ch = 3;  // input channels
  ops::Activation act{ops::ActKind::SiLU};
  std::string act_text;  // as written, empty if absent
  std::vector<LayerDef> layers;
};

// One row of upstream's parse_model table.
struct LayerInfo {
  int index = 0;
  std::string from_repr;
  std::vector<int> from;  // resolved; -1 = the network input
  std::int64_t n = 1;
  std::int64_t params = 0;
  std::string type;  // e.g. models.common.Conv
  std::string args_repr;
  std::int64_t channels = 0;
  std::vector<std::int64_t> splits;  // CBLinear
};

}  // namespace yv9::model
