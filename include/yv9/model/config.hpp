// SPDX-License-Identifier: MIT
// What the builder reads (a parsed config) and what it reports per row (the summary table).
// Layer arguments are the yaml's values as yaml.safe_load types them (io::Json: null, bool, integer,
// float, string, list); py_repr prints them as Python's str() of a list does, so the summary table
// matches upstream's log character for character.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../io/json.hpp"
#include "../ops/activation.hpp"

namespace yv9::model {

using Args = io::Json::Array;

struct LayerDef {
  io::Json from;  // int or list of ints, as written
  std::int64_t n = 1;
  std::string module;
  Args args;
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

// Python's repr(float): the shortest string that round-trips, with '.0' for integral values.
inline std::string py_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string r = buf;
  const auto e = r.find('e');
  if (e != std::string::npos) {
    // %g uses an exponent from exp >= precision on; Python's repr only from exp >= 16 (or < -4).
    const int exp10 = std::atoi(r.c_str() + e + 1);
    if (exp10 < -4 || exp10 >= 16) return r;
    int digits = 0;
    for (std::size_t k = 0; k < e; ++k) digits += (r[k] >= '0' && r[k] <= '9');
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, digits - 1 - exp10), v);
    r = buf;
  }
  if (r.find('.') == std::string::npos) r += ".0";
  return r;
}

// Python's repr() of the value: None, True, 3, 0.5, 'nearest', [1, [2, 3]], {'k': 1}.
inline std::string py_repr(const io::Json& v) {
  switch (v.type()) {
    case io::Json::Type::Null: return "None";
    case io::Json::Type::Bool: return v.as_bool() ? "True" : "False";
    case io::Json::Type::Number: return v.is_integer() ? std::to_string(v.as_int()) : py_float_repr(v.as_double());
    case io::Json::Type::String: {
      // Python prefers single quotes unless the string contains one and no double quote.
      const std::string& s = v.as_string();
      const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
      const char q = dq ? '"' : '\'';
      std::string out(1, q);
      for (char c : s) {
        if (c == '\\' || c == q) out += '\\';
        out += c;
      }
      return out + q;
    }
    case io::Json::Type::Array: {
      std::string out = "[";
      for (const io::Json& x : v.as_array()) out += (out.size() > 1 ? ", " : "") + py_repr(x);
      return out + "]";
    }
    case io::Json::Type::Object: {
      std::string out = "{";
      for (const auto& kv : v.items()) out += (out.size() > 1 ? ", " : "") + py_repr(kv.first) + ": " + py_repr(kv.second);
      return out + "}";
    }
  }
  return "?";
}

}  // namespace yv9::model
