// SPDX-License-Identifier: MIT
// Python-like values for layer arguments: what upstream's parse_model sees after yaml loading and
// `eval` of strings ('nc' -> the class count, 'None' -> None, other names stay strings).
// repr() prints them as Python's str(list) does, so the summary table matches upstream's log.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../io/yaml.hpp"

namespace yv9::model {

struct Value {
  enum class Kind { None, Bool, Int, Float, Str, List };
  Kind kind = Kind::None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<Value> list;
  int line = 0, col = 0;

  static Value none() { return Value{}; }
  static Value integer(std::int64_t v) {
    Value x;
    x.kind = Kind::Int;
    x.i = v;
    return x;
  }
  static Value number(double v) {
    Value x;
    x.kind = Kind::Float;
    x.f = v;
    return x;
  }
  static Value str(std::string v) {
    Value x;
    x.kind = Kind::Str;
    x.s = std::move(v);
    return x;
  }
  static Value of_list(std::vector<Value> v) {
    Value x;
    x.kind = Kind::List;
    x.list = std::move(v);
    return x;
  }

  bool is_none() const { return kind == Kind::None; }
  bool is_int() const { return kind == Kind::Int; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  bool is_list() const { return kind == Kind::List; }
  bool is_str() const { return kind == Kind::Str; }
  double as_double() const { return kind == Kind::Int ? static_cast<double>(i) : f; }

  std::string repr() const {
    switch (kind) {
      case Kind::None: return "None";
      case Kind::Bool: return b ? "True" : "False";
      case Kind::Int: return std::to_string(i);
      case Kind::Float: return float_repr(f);
      case Kind::Str: {
        // Python prefers single quotes unless the string contains one and no double quote.
        const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
        const char q = dq ? '"' : '\'';
        std::string out(1, q);
        for (char c : s) {
          if (c == '\\' || (c == q)) out += '\\';
          out += c;
        }
        return out + q;
      }
      case Kind::List: {
        std::string out = "[";
        for (std::size_t k = 0; k < list.size(); ++k) out += (k ? ", " : "") + list[k].repr();
        return out + "]";
      }
    }
    return "?";
  }

  // Python's repr(float): the shortest string that round-trips, with '.0' for integral values.
  static std::string float_repr(double v) {
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
};

// A yaml scalar as yaml.safe_load types it: null, bool, int, float, else string.
inline Value scalar_value(const io::YamlNode& n) {
  Value v;
  v.line = n.line;
  v.col = n.col;
  if (n.is_null()) return v;
  if (n.is_seq()) {
    v.kind = Value::Kind::List;
    for (const auto& it : n.items) v.list.push_back(scalar_value(it));
    return v;
  }
  if (n.is_map()) throw ConfigError("mapping where a value was expected (line " + std::to_string(n.line) + ")");
  const std::string& s = n.scalar;
  v.kind = Value::Kind::Str;
  v.s = s;
  if (n.quoted) return v;
  if (s == "null" || s == "Null" || s == "NULL" || s == "~") {
    v.kind = Value::Kind::None;
    return v;
  }
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
    v.kind = Value::Kind::Bool;
    v.b = s[0] == 't' || s[0] == 'T';
    return v;
  }
  // int: [-+]?[0-9]+  (yaml 1.1 also allows 0x.., 0o..: accepted for completeness)
  {
    std::size_t k = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    bool digits = k < s.size();
    for (std::size_t j = k; j < s.size(); ++j)
      if (s[j] < '0' || s[j] > '9') digits = false;
    if (digits && s.size() - k <= 18) {
      v.kind = Value::Kind::Int;
      v.i = std::strtoll(s.c_str(), nullptr, 10);
      return v;
    }
  }
  // float: digits with '.', optional exponent; .inf/.nan
  {
    const char* b = s.c_str();
    char* end = nullptr;
    const bool looks = s.find_first_of(".eE") != std::string::npos && s.find_first_not_of("+-.0123456789eE") == std::string::npos;
    if (looks) {
      double d = std::strtod(b, &end);
      if (end && *end == '\0') {
        v.kind = Value::Kind::Float;
        v.f = d;
        return v;
      }
    }
    if (s == ".inf" || s == "+.inf") return Value::number(HUGE_VAL);
    if (s == "-.inf") return Value::number(-HUGE_VAL);
    if (s == ".nan") return Value::number(NAN);
  }
  return v;
}

}  // namespace yv9::model
