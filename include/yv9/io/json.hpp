// SPDX-License-Identifier: MIT
// A small, strict JSON reader and writer (RFC 8259), enough for weight-file headers, fixture
// descriptions and detections.json. Json is also the library's one dynamic value tree: the yaml
// reader (yaml.hpp) produces it too, typed as yaml.safe_load types scalars.
//
// Reading: parse_json(text, label) -> Json. Strict: no comments, no trailing commas, no NaN, no
// leading BOM, no duplicate object keys, UTF-8 validated, \u escapes (surrogate pairs included)
// decoded to UTF-8. Objects keep insertion order. Numbers are kept as double and, when the literal
// is an integer (no fraction, no exponent) that fits in int64, also as that exact integer — so
// byte offsets above 2^53 survive. Input size, nesting depth and value count are limited; every
// error is a yv9::FormatError (syntax) or yv9::LimitError (limits) whose message is
//   "<label>: invalid JSON at byte <offset>: <what>".
//
// Writing: Json values can be built in code (Json::object().set("k", 1)) and dump()ed, compact or
// indented; json_quote() escapes a string for hand-written output. Invalid UTF-8 handed to the
// writer is replaced by U+FFFD so the output is always valid JSON; non-finite numbers become null.
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../core/error.hpp"

namespace yv9::io {

struct JsonLimits {
  std::size_t max_bytes = std::size_t(100) << 20;  // input text size
  int max_depth = 64;                              // nesting of arrays/objects
  std::size_t max_values = std::size_t(8) << 20;   // total values (bounds memory: ~48 bytes each)
};

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(double d) : v_(Number{d, 0, false}) {}
  Json(float f) : Json(static_cast<double>(f)) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Json(I i) : v_(make_integer(i)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }
  // A number from a parsed literal: the double, plus the exact integer when the literal was one.
  static Json number(double d, bool is_integer, std::int64_t i) {
    Json j;
    j.v_ = Number{d, i, is_integer};
    return j;
  }

  // Where the value was read from: 1-based line and column in a yaml file (yaml.hpp sets it, for
  // error messages); 0 for values built in code or read from JSON, whose errors carry byte offsets.
  struct Origin {
    int line = 0, col = 0;
  };
  Origin origin;

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  // True for numbers written as an integer literal that fits in int64 (or built from an integer).
  bool is_integer() const { return is_number() && std::get<Number>(v_).is_int; }

  bool as_bool() const { return get<bool>("a boolean"); }
  double as_double() const { return get<Number>("a number").d; }
  std::int64_t as_int() const {
    const Number& n = get<Number>("a number");
    if (!n.is_int) throw FormatError("JSON number " + dump() + " is not an integer");
    return n.i;
  }
  const std::string& as_string() const { return get<std::string>("a string"); }
  const Array& as_array() const { return get<Array>("an array"); }
  Array& as_array() { return get_mut<Array>("an array"); }
  const Object& items() const { return get<Object>("an object"); }
  Object& items() { return get_mut<Object>("an object"); }

  // Number of elements of an array or members of an object; 0 for scalars.
  std::size_t size() const {
    if (is_array()) return std::get<Array>(v_).size();
    if (is_object()) return std::get<Object>(v_).size();
    return 0;
  }
  // Object member lookup (linear; objects are small or iterated instead). nullptr if absent.
  const Json* find(std::string_view key) const {
    for (const Member& m : items())
      if (m.first == key) return &m.second;
    return nullptr;
  }
  // Object: replace the member's value, or append it. Returns *this for chaining.
  Json& set(std::string key, Json value) {
    Object& o = get_mut<Object>("an object");
    for (Member& m : o)
      if (m.first == key) {
        m.second = std::move(value);
        return *this;
      }
    o.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Json& push_back(Json value) {
    get_mut<Array>("an array").push_back(std::move(value));
    return *this;
  }

  // indent < 0: compact one line; otherwise pretty-printed with that many spaces per level.
  std::string dump(int indent = -1) const {
    std::string out;
    dump_to(out, indent, 0);
    return out;
  }

  static const char* type_name(Type t) {
    switch (t) {
      case Type::Null: return "null";
      case Type::Bool: return "a boolean";
      case Type::Number: return "a number";
      case Type::String: return "a string";
      case Type::Array: return "an array";
      case Type::Object: return "an object";
    }
    return "?";
  }

 private:
  struct Number {
    double d = 0;
    std::int64_t i = 0;
    bool is_int = false;
  };
  template <class I>
  static Number make_integer(I i) {
    if constexpr (std::is_unsigned_v<I>) {
      if (static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(INT64_MAX))
        return Number{static_cast<double>(i), 0, false};
    }
    return Number{static_cast<double>(i), static_cast<std::int64_t>(i), true};
  }
  template <class T>
  const T& get(const char* want) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    throw FormatError(std::string("JSON value is ") + type_name(type()) + ", expected " + want);
  }
  template <class T>
  T& get_mut(const char* want) {
    if (T* p = std::get_if<T>(&v_)) return *p;
    throw UsageError(std::string("JSON value is ") + type_name(type()) + ", expected " + want);
  }
  void dump_to(std::string& out, int indent, int depth) const;

  std::variant<std::monostate, bool, Number, std::string, Array, Object> v_;
};

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers (shared by the reader and the writer)

namespace detail {

// Length (1-4) of the valid, shortest-form UTF-8 sequence at p, or 0 if it is invalid or cut off.
inline std::size_t utf8_sequence_length(const unsigned char* p, std::size_t avail) {
  if (avail == 0) return 0;
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;      // no overlong forms
    if (c == 0xED) hi = 0x9F;      // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;      // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (avail < n || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((p[k] & 0xC0) != 0x80) return 0;
  return n;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace detail

inline bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = detail::utf8_sequence_length(p + i, s.size() - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Writer

// Appends s as a quoted JSON string. Control characters are escaped; other valid UTF-8 is copied;
// invalid bytes become U+FFFD.
inline void json_append_quoted(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned c = p[i];
    if (c >= 0x80) {
      const std::size_t n = detail::utf8_sequence_length(p + i, s.size() - i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

inline std::string json_quote(std::string_view s) {
  std::string out;
  json_append_quoted(out, s);
  return out;
}

// Shortest text that reads back as exactly x (e.g. 0.001, 1e-05, 640); null if not finite.
inline std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  // to_chars writes -0.0 as "-0", which reads back as the integer 0: keep it a (negative) float.
  if (x == 0 && std::signbit(x)) return "-0.0";
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

inline void Json::dump_to(std::string& out, int indent, int depth) const {
  if (depth > 10000) throw LimitError("JSON dump: nesting deeper than 10000");
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(d), ' ');
  };
  switch (type()) {
    case Type::Null: out += "null"; return;
    case Type::Bool: out += std::get<bool>(v_) ? "true" : "false"; return;
    case Type::Number: {
      const Number& n = std::get<Number>(v_);
      out += n.is_int ? std::to_string(n.i) : json_number(n.d);
      return;
    }
    case Type::String: json_append_quoted(out, std::get<std::string>(v_)); return;
    case Type::Array: {
      const Array& a = std::get<Array>(v_);
      out += '[';
      for (std::size_t k = 0; k < a.size(); ++k) {
        if (k) out += ',';
        newline(depth + 1);
        a[k].dump_to(out, indent, depth + 1);
      }
      if (!a.empty()) newline(depth);
      out += ']';
      return;
    }
    case Type::Object: {
      const Object& o = std::get<Object>(v_);
      out += '{';
      for (std::size_t k = 0; k < o.size(); ++k) {
        if (k) out += ',';
        newline(depth + 1);
        json_append_quoted(out, o[k].first);
        out += indent < 0 ? ":" : ": ";
        o[k].second.dump_to(out, indent, depth + 1);
      }
      if (!o.empty()) newline(depth);
      out += '}';
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace detail {

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& label, const JsonLimits& limits)
      : s_(text), label_(label), lim_(limits) {}

  Json parse_document() {
    if (s_.size() > lim_.max_bytes)
      throw LimitError(label_ + ": JSON text is " + std::to_string(s_.size()) + " bytes, over the limit of " +
                       std::to_string(lim_.max_bytes));
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(label_ + ": invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(s_[pos_]); }
  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  void expect(char c) {
    if (at_end()) fail(std::string("expected '") + c + "', got end of input");
    if (peek() != static_cast<unsigned char>(c)) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void count_value() {
    if (++values_ > lim_.max_values)
      throw LimitError(label_ + ": invalid JSON at byte " + std::to_string(pos_) + ": more than " +
                       std::to_string(lim_.max_values) + " values");
  }

  Json parse_value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    count_value();
    const unsigned char c = peek();
    if (c == '{') return parse_object(depth + 1);
    if (c == '[') return parse_array(depth + 1);
    if (c == '"') return Json(parse_string());
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    if (match_literal("true")) return Json(true);
    if (match_literal("false")) return Json(false);
    if (match_literal("null")) return Json();
    fail("unexpected character, expected a value");
  }

  bool match_literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  void check_depth(int depth) const {
    if (depth > lim_.max_depth)
      throw LimitError(label_ + ": invalid JSON at byte " + std::to_string(pos_) + ": nesting deeper than " +
                       std::to_string(lim_.max_depth));
  }

  Json parse_array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Json::Array a;
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return Json(std::move(a));
    }
    for (;;) {
      skip_ws();
      a.push_back(parse_value(depth));
      skip_ws();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return Json(std::move(a));
    }
  }

  Json parse_object(int depth) {
    check_depth(depth);
    const std::size_t start = pos_;
    ++pos_;  // '{'
    Json::Object o;
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return Json(std::move(o));
    }
    for (;;) {
      skip_ws();
      if (at_end() || peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      Json value = parse_value(depth);
      o.emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      check_unique_keys(o, start);
      return Json(std::move(o));
    }
  }

  void check_unique_keys(const Json::Object& o, std::size_t object_start) {
    if (o.size() < 2) return;
    std::vector<const std::string*> keys;
    keys.reserve(o.size());
    for (const Json::Member& m : o) keys.push_back(&m.first);
    std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
    for (std::size_t k = 1; k < keys.size(); ++k)
      if (*keys[k] == *keys[k - 1]) {
        pos_ = object_start;
        fail("duplicate key " + json_quote(*keys[k]) + " in the object starting here");
      }
  }

  unsigned parse_hex4() {
    if (s_.size() - pos_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const unsigned char c = peek();
      unsigned d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else fail("invalid hex digit in \\u escape");
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  // After "\u": one code point, combining a surrogate pair.
  std::uint32_t parse_unicode_escape() {
    const unsigned hi = parse_hex4();
    if (hi >= 0xDC00 && hi <= 0xDFFF) fail("lone low surrogate in \\u escape");
    if (hi < 0xD800 || hi > 0xDBFF) return hi;
    if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("high surrogate not followed by \\u");
    pos_ += 2;
    const unsigned lo = parse_hex4();
    if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low surrogate");
    return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
  }

  void parse_escape(std::string& out) {
    if (at_end()) fail("unterminated string");
    const char c = s_[pos_++];
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': append_utf8(out, parse_unicode_escape()); break;
      default: --pos_; fail("invalid escape sequence");
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    const auto* p = reinterpret_cast<const unsigned char*>(s_.data());
    for (;;) {
      if (at_end()) fail("unterminated string");
      const unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ++pos_;
        parse_escape(out);
      } else if (c < 0x20) {
        fail("control character in string");
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
      } else {
        const std::size_t n = utf8_sequence_length(p + pos_, s_.size() - pos_);
        if (n == 0) fail("invalid UTF-8 in string");
        out.append(s_.data() + pos_, n);
        pos_ += n;
      }
    }
  }

  void skip_digits() {
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
  }

  Json parse_number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (at_end() || peek() < '0' || peek() > '9') fail("invalid number");
    if (peek() == '0') ++pos_;
    else skip_digits();
    bool integral = true;
    if (!at_end() && peek() == '.') {
      integral = false;
      ++pos_;
      if (at_end() || peek() < '0' || peek() > '9') fail("invalid number: digit expected after '.'");
      skip_digits();
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (at_end() || peek() < '0' || peek() > '9') fail("invalid number: digit expected in exponent");
      skip_digits();
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    double d = 0;
    const std::from_chars_result rd = std::from_chars(b, e, d);
    if (rd.ec != std::errc() || rd.ptr != e) {
      pos_ = start;
      fail("number out of range");
    }
    std::int64_t i = 0;
    if (integral) {
      const std::from_chars_result ri = std::from_chars(b, e, i);
      integral = ri.ec == std::errc() && ri.ptr == e;  // false when it overflows int64
    }
    return Json::number(d, integral, integral ? i : 0);
  }

  std::string_view s_;
  const std::string& label_;
  const JsonLimits& lim_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
};

}  // namespace detail

// Parses one JSON document; label names the source in error messages (e.g. "m.bin: header").
inline Json parse_json(std::string_view text, const std::string& label, const JsonLimits& limits = {}) {
  return detail::JsonParser(text, label, limits).parse_document();
}

}  // namespace yv9::io
