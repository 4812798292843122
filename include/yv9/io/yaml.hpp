// SPDX-License-Identifier: MIT
// The YAML subset that model configs use, and nothing more:
//   block mappings (`key: value`), block sequences (`- item`), flow sequences and mappings
//   (`[a, [b, c]]`, `{k: v}`) that may span lines and carry comments, plain / 'single' / "double"
//   quoted scalars, `#` comments, a leading `---`.
// Anything else (tabs in indentation, anchors, aliases, tags, multi-line plain scalars, block
// scalars `|`/`>`, duplicate keys, several documents) is refused with `file:line:col: message`.
//
// The result is an io::Json tree, typed as yaml.safe_load types it: quoted scalars are strings, plain
// ones null / bool / int / float when they read as such (yaml_plain_scalar), else strings; mapping
// keys are kept as the text written. Every node's `origin` holds its line and column.
#pragma once
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "file.hpp"
#include "json.hpp"

namespace yv9::io {

namespace detail {

// PyYAML's implicit resolvers (YAML 1.1, what yaml.safe_load applies to plain scalars), written out
// by hand rather than with std::regex, whose recursion a long scalar can drive off the stack.
struct Yaml11Number {
  const std::string& s;
  std::size_t p = 0;

  static bool digit(char c, int base) {
    if (base == 16) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    return c >= '0' && c < static_cast<char>('0' + base);
  }
  static int value(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
  // [digits of base, '_']* from p, accumulated into v (false on int64 overflow).
  bool run(int base, std::int64_t& v) {
    for (; p < s.size() && (s[p] == '_' || digit(s[p], base)); ++p) {
      if (s[p] == '_') continue;
      if (v > (INT64_MAX - value(s[p])) / base) return false;
      v = v * base + value(s[p]);
    }
    return true;
  }
  // (:[0-5]?[0-9])+ from p, folding into v base 60; false when absent, malformed or (for an integer)
  // beyond int64. A float's whole part folds in double, as PyYAML's float(part) * 60**k sum does.
  template <class T>
  bool sexagesimal(T& v) {
    bool any = false;
    while (p < s.size() && s[p] == ':') {
      ++p;
      std::size_t q = p;
      while (q < s.size() && q - p < 2 && s[q] >= '0' && s[q] <= '9') ++q;
      if (q == p || (q - p == 2 && s[p] > '5')) return false;
      const int part = std::atoi(s.substr(p, q - p).c_str());
      if constexpr (std::is_integral_v<T>)
        if (v > (INT64_MAX - part) / 60) return false;
      v = v * 60 + part;
      p = q;
      any = true;
    }
    return any;
  }

  // int: [-+]?(0b[01_]+ | 0[0-7_]+ | 0 | [1-9][0-9_]* | 0x[0-9a-fA-F_]+ | [1-9][0-9_]*(:[0-5]?[0-9])+)
  bool as_int(std::int64_t& out) {
    p = 0;
    const bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) ++p;
    if (p >= s.size() || !digit(s[p], 10)) return false;
    std::int64_t v = 0;
    if (s[p] == '0') {
      ++p;
      if (p == s.size()) {
        out = 0;
        return true;
      }
      int base = 8;
      if (s[p] == 'b') base = 2, ++p;
      else if (s[p] == 'x') base = 16, ++p;
      const std::size_t start = p;
      if (!run(base, v) || p == start || p != s.size()) return false;
    } else {
      if (!run(10, v)) return false;
      if (p < s.size() && !(s[p] == ':' && sexagesimal(v) && p == s.size())) return false;
    }
    out = neg ? -v : v;
    return true;
  }

  // float: [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)?
  //        | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)
  bool as_float(double& out) {
    if (s == ".nan" || s == ".NaN" || s == ".NAN") {
      out = NAN;
      return true;
    }
    p = 0;
    const bool neg = !s.empty() && s[0] == '-';
    const bool signed_ = !s.empty() && (s[0] == '-' || s[0] == '+');
    if (signed_) ++p;
    const std::string rest = s.substr(p);
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF") {
      out = neg ? -HUGE_VAL : HUGE_VAL;
      return true;
    }
    std::string plain = neg ? "-" : "";  // the literal without underscores, for strtod
    double whole = 0;  // of a sexagesimal float, unsigned
    bool sexa = false;
    if (p < s.size() && s[p] == '.') {
      if (signed_ || p + 1 >= s.size() || !digit(s[p + 1], 10)) return false;
    } else {
      if (p >= s.size() || !digit(s[p], 10)) return false;
      for (; p < s.size() && (s[p] == '_' || digit(s[p], 10)); ++p)
        if (s[p] != '_') plain += s[p];
      if (p < s.size() && s[p] == ':') {
        whole = std::strtod(plain.c_str() + (neg ? 1 : 0), nullptr);
        if (!sexagesimal(whole)) return false;
        sexa = true;
      }
      if (p >= s.size() || s[p] != '.') return false;
    }
    std::string frac = ".";
    for (++p; p < s.size() && (s[p] == '_' || digit(s[p], 10)); ++p)
      if (s[p] != '_') frac += s[p];
    if (sexa) {
      if (p != s.size()) return false;
      const double f = whole + std::strtod(("0" + frac).c_str(), nullptr);
      out = neg ? -f : f;
      return true;
    }
    plain += frac;
    if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
      plain += s[p++];
      if (p >= s.size() || (s[p] != '-' && s[p] != '+')) return false;
      plain += s[p++];
      if (p >= s.size()) return false;
      for (; p < s.size() && digit(s[p], 10); ++p) plain += s[p];
    }
    if (p != s.size()) return false;
    out = std::strtod(plain.c_str(), nullptr);
    return true;
  }
};

}  // namespace detail

// A plain (unquoted) scalar typed as yaml.safe_load types it: null (`~`, `null`, empty), bool (`true`,
// `yes`, `on`... in their three spellings), int (decimal, 0b, 0x, 0-octal, underscores, base-60
// `1:30`), float (`1.5`, `.5`, `1.0e-05`, `.inf`, `.nan`; `1e3` has no dot and stays a string, as in
// PyYAML), else the string itself. Integers of magnitude 2^63 or more stay strings. `origin` is left to the caller.
inline Json yaml_plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json();
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})
    if (s == t) return Json(true);
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})
    if (s == f) return Json(false);
  detail::Yaml11Number num{s};
  std::int64_t i = 0;
  if (num.as_int(i)) return Json(i);
  double d = 0;
  if (num.as_float(d)) return Json::number(d, false, 0);
  return Json(s);
}

struct YamlLimits {
  std::size_t max_bytes = 4u << 20;
  int max_depth = 64;
};

class YamlParser {
 public:
  YamlParser(std::string text, std::string label, YamlLimits limits = {})
      : s_(std::move(text)), label_(std::move(label)), lim_(limits) {}

  Json parse() {
    if (s_.size() > lim_.max_bytes)
      throw LimitError(label_ + ": yaml larger than " + std::to_string(lim_.max_bytes) + " bytes");
    for (std::size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\0') fail_at(i, "NUL byte in yaml text");
    if (s_.size() >= 3 && static_cast<unsigned char>(s_[0]) == 0xEF && static_cast<unsigned char>(s_[1]) == 0xBB &&
        static_cast<unsigned char>(s_[2]) == 0xBF)
      pos_ = 3;
    skip_blank_lines();
    if (!at_end() && line_rest_starts_with("---")) {
      pos_ += 3;
      expect_line_end();
      skip_blank_lines();
    }
    Json root;
    if (!at_end()) root = parse_block(-1, 0);
    skip_blank_lines();
    if (!at_end()) fail("unexpected content (only one document with consistent indentation is supported)");
    return root;
  }

 private:
  std::string s_, label_;
  YamlLimits lim_;
  std::size_t pos_ = 0;

  bool at_end() const { return pos_ >= s_.size(); }
  char peek(std::size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }

  void where(std::size_t p, int& line, int& col) const {
    line = 1;
    col = 1;
    for (std::size_t i = 0; i < p && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  }
  [[noreturn]] void fail_at(std::size_t p, const std::string& msg) const {
    int line, col;
    where(p, line, col);
    throw ConfigError(label_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
  }
  [[noreturn]] void fail(const std::string& msg) const { fail_at(pos_, msg); }
  void stamp(Json& n, std::size_t p) const { where(p, n.origin.line, n.origin.col); }

  bool line_rest_starts_with(const char* t) const { return s_.compare(pos_, std::char_traits<char>::length(t), t) == 0; }

  // Skips empty lines and comment-only lines; leaves pos_ at the start of a content line.
  void skip_blank_lines() {
    while (!at_end()) {
      std::size_t p = pos_;
      while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t' || s_[p] == '\r')) ++p;
      if (p >= s_.size()) {
        pos_ = p;
        return;
      }
      if (s_[p] == '\n') {
        pos_ = p + 1;
        continue;
      }
      if (s_[p] == '#') {
        while (p < s_.size() && s_[p] != '\n') ++p;
        pos_ = p < s_.size() ? p + 1 : p;
        continue;
      }
      return;
    }
  }
  int current_indent() {
    int ind = 0;
    std::size_t p = pos_;
    while (p < s_.size() && s_[p] == ' ') {
      ++p;
      ++ind;
    }
    if (p < s_.size() && s_[p] == '\t') fail_at(p, "tab character in indentation");
    return ind;
  }
  void skip_spaces() {
    while (peek() == ' ' || peek() == '\t') ++pos_;
  }
  // After a value: only spaces and an optional comment may remain on the line.
  void expect_line_end() {
    skip_spaces();
    if (peek() == '\r') ++pos_;
    if (peek() == '#') {
      while (!at_end() && peek() != '\n') ++pos_;
    }
    if (at_end()) return;
    if (peek() != '\n') fail("unexpected text after value");
    ++pos_;
  }

  bool is_seq_item() const {
    return peek() == '-' && (peek(1) == ' ' || peek(1) == '\n' || peek(1) == '\r' || peek(1) == '\0');
  }
  // Does the line at pos_ (after indentation) look like `key:`? Scans a plain or quoted key.
  bool looks_like_key() const {
    std::size_t p = pos_;
    if (p < s_.size() && (s_[p] == '\'' || s_[p] == '"')) {
      char q = s_[p++];
      while (p < s_.size() && s_[p] != q && s_[p] != '\n') ++p;
      if (p >= s_.size() || s_[p] != q) return false;
      ++p;
      while (p < s_.size() && s_[p] == ' ') ++p;
      return p < s_.size() && s_[p] == ':';
    }
    if (p < s_.size() && (s_[p] == '[' || s_[p] == '{' || s_[p] == '#')) return false;
    for (; p < s_.size() && s_[p] != '\n'; ++p) {
      if (s_[p] == '#' && p > pos_ && s_[p - 1] == ' ') return false;
      if (s_[p] == ':' && (p + 1 >= s_.size() || s_[p + 1] == ' ' || s_[p + 1] == '\n' || s_[p + 1] == '\r'))
        return true;
    }
    return false;
  }

  // Parses the block node whose first line starts at pos_ (at a content line) with indent > parent.
  Json parse_block(int parent_indent, int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    int ind = current_indent();
    if (ind <= parent_indent) fail("expected an indented block");
    pos_ += static_cast<std::size_t>(ind);
    if (is_seq_item()) return parse_block_seq(ind, depth);
    if (looks_like_key()) return parse_block_map(ind, depth);
    Json n = parse_inline_value(depth);
    expect_line_end();
    return n;
  }

  Json parse_block_seq(int ind, int depth) {
    Json n = Json::array();
    stamp(n, pos_);
    Json::Array& items = n.as_array();
    while (true) {
      // pos_ is at '-'
      ++pos_;
      skip_spaces();
      if (peek() == '#' || peek() == '\n' || peek() == '\r' || at_end()) {
        expect_line_end();
        skip_blank_lines();
        if (at_end() || current_indent() <= ind)
          items.emplace_back();  // `-` alone: null item
        else
          items.push_back(parse_block(ind, depth + 1));
      } else if (looks_like_key()) {
        // `- key: value` starts a nested block map whose indent is the column of `key`.
        int col_ind = static_cast<int>(pos_ - line_start(pos_));
        items.push_back(parse_block_map(col_ind, depth + 1));
      } else {
        items.push_back(parse_inline_value(depth + 1));
        expect_line_end();
      }
      skip_blank_lines();
      if (at_end()) break;
      int next = current_indent();
      if (next < ind) break;
      if (next > ind) fail_at(pos_ + next, "bad indentation in sequence");
      pos_ += static_cast<std::size_t>(next);
      if (!is_seq_item()) {
        pos_ -= static_cast<std::size_t>(next);
        break;
      }
    }
    return n;
  }

  std::size_t line_start(std::size_t p) const {
    while (p > 0 && s_[p - 1] != '\n') --p;
    return p;
  }

  Json parse_block_map(int ind, int depth) {
    Json n = Json::object();
    stamp(n, pos_);
    while (true) {
      std::size_t key_pos = pos_;
      std::string key = parse_key();
      if (n.find(key)) fail_at(key_pos, "duplicate key '" + key + "'");
      skip_spaces();
      Json value;
      if (peek() == '#' || peek() == '\n' || peek() == '\r' || at_end()) {
        expect_line_end();
        skip_blank_lines();
        if (!at_end()) {
          int next = current_indent();
          if (next > ind) {
            value = parse_block(ind, depth + 1);
          } else if (next == ind && s_[pos_ + next] == '-' ) {
            pos_ += static_cast<std::size_t>(next);
            if (is_seq_item())
              value = parse_block_seq(ind, depth + 1);
            else
              pos_ -= static_cast<std::size_t>(next);
          }
        }
        if (value.is_null()) stamp(value, key_pos);
      } else {
        value = parse_inline_value(depth + 1);
        expect_line_end();
      }
      n.items().emplace_back(std::move(key), std::move(value));
      skip_blank_lines();
      if (at_end()) break;
      int next = current_indent();
      if (next < ind) break;
      if (next > ind) fail_at(pos_ + next, "bad indentation in mapping");
      pos_ += static_cast<std::size_t>(next);
      if (is_seq_item() || !looks_like_key()) {
        if (is_seq_item()) fail("sequence item where a mapping key was expected");
        fail("expected 'key: value'");
      }
    }
    return n;
  }

  std::string parse_key() {
    std::string key;
    if (peek() == '\'' || peek() == '"') {
      key = parse_quoted();
      skip_spaces();
    } else {
      std::size_t start = pos_;
      while (!at_end() && !(peek() == ':' && (peek(1) == ' ' || peek(1) == '\n' || peek(1) == '\r' || peek(1) == '\0')))
        ++pos_;
      key = trim(s_.substr(start, pos_ - start));
      check_plain(key, start);
    }
    if (peek() != ':') fail("expected ':' after key");
    ++pos_;
    return key;
  }

  static std::string trim(const std::string& t) {
    std::size_t a = 0, b = t.size();
    while (a < b && (t[a] == ' ' || t[a] == '\t' || t[a] == '\r')) ++a;
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\r')) --b;
    return t.substr(a, b - a);
  }
  void check_plain(const std::string& v, std::size_t at) const {
    if (v.empty()) return;
    const char c = v[0];
    if (c == '&' || c == '*' || c == '!') fail_at(at, "anchors, aliases and tags are not supported");
    if (c == '|' || c == '>') fail_at(at, "block scalars are not supported");
    if (c == '@' || c == '`' || c == '%') fail_at(at, "reserved indicator '" + std::string(1, c) + "'");
  }

  Json parse_inline_value(int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    if (peek() == '[' || peek() == '{') return parse_flow(depth);
    const std::size_t start = pos_;
    Json n;
    if (peek() == '\'' || peek() == '"') {
      n = Json(parse_quoted());
    } else {
      while (!at_end() && peek() != '\n' && !(peek() == '#' && pos_ > start && (s_[pos_ - 1] == ' ' || s_[pos_ - 1] == '\t')))
        ++pos_;
      const std::string text = trim(s_.substr(start, pos_ - start));
      check_plain(text, start);
      n = yaml_plain_scalar(text);
    }
    stamp(n, start);
    return n;
  }

  // Skips whitespace, newlines and comments inside a flow collection.
  void skip_flow_space() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#' && pos_ > 0 && (s_[pos_ - 1] == ' ' || s_[pos_ - 1] == '\n' || s_[pos_ - 1] == '\t')) {
        while (!at_end() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  Json parse_flow(int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    const char open = peek(), close = open == '[' ? ']' : '}';
    const std::size_t open_pos = pos_;
    Json n = open == '[' ? Json::array() : Json::object();
    stamp(n, pos_);
    ++pos_;
    skip_flow_space();
    if (peek() == close) {
      ++pos_;
      return n;
    }
    while (true) {
      if (at_end()) fail_at(open_pos, std::string("unterminated flow collection '") + open + "'");
      if (n.is_array()) {
        n.push_back(parse_flow_item(depth + 1));
      } else {
        skip_flow_space();
        const std::size_t key_pos = pos_;
        if (peek() == '[' || peek() == '{') fail_at(key_pos, "flow mapping keys must be scalars");
        std::string key;
        if (!parse_flow_scalar(/*key=*/true, key) && key.empty()) fail_at(key_pos, "flow mapping keys must be scalars");
        skip_flow_space();
        if (peek() != ':') fail("expected ':' in flow mapping");
        ++pos_;
        skip_flow_space();
        if (n.find(key)) fail_at(key_pos, "duplicate key '" + key + "'");
        n.items().emplace_back(std::move(key), parse_flow_item(depth + 1));
      }
      skip_flow_space();
      if (peek() == ',') {
        ++pos_;
        skip_flow_space();
        if (peek() == close) {  // trailing comma
          ++pos_;
          return n;
        }
        continue;
      }
      if (peek() == close) {
        ++pos_;
        return n;
      }
      if (at_end()) fail_at(open_pos, std::string("unterminated flow collection '") + open + "'");
      fail(std::string("expected ',' or '") + close + "'");
    }
  }

  Json parse_flow_item(int depth) {
    skip_flow_space();
    if (peek() == '[' || peek() == '{') return parse_flow(depth);
    const std::size_t start = pos_;
    std::string text;
    Json n = parse_flow_scalar(/*key=*/false, text) ? Json(std::move(text)) : yaml_plain_scalar(text);
    stamp(n, start);
    return n;
  }

  // Reads a scalar inside a flow collection into `text`; returns whether it was quoted.
  bool parse_flow_scalar(bool key, std::string& text) {
    if (peek() == '\'' || peek() == '"') {
      text = parse_quoted();
      return true;
    }
    std::size_t start = pos_;
    while (!at_end()) {
      char c = peek();
      if (c == ',' || c == ']' || c == '}' || c == '\n' || c == '[' || c == '{') break;
      if (key && c == ':' ) break;
      if (c == ':' && (peek(1) == ' ' || peek(1) == ',' || peek(1) == ']' || peek(1) == '}')) break;
      if (c == '#' && pos_ > start && (s_[pos_ - 1] == ' ' || s_[pos_ - 1] == '\t')) break;
      ++pos_;
    }
    text = trim(s_.substr(start, pos_ - start));
    check_plain(text, start);
    if (text.empty()) {
      if (peek() == '[' || peek() == '{') fail("unexpected '" + std::string(1, peek()) + "'");
      if (peek() == ',' || peek() == ']' || peek() == '}') fail("empty item in flow collection");
    }
    if (peek() == '\n') {
      // A plain scalar may not continue on the next line here.
      std::size_t p = pos_;
      while (p < s_.size() && (s_[p] == '\n' || s_[p] == ' ' || s_[p] == '\r' || s_[p] == '\t')) ++p;
      if (p < s_.size() && s_[p] != ',' && s_[p] != ']' && s_[p] != '}' && s_[p] != '#' && s_[p] != ':')
        fail_at(p, "multi-line plain scalars are not supported");
    }
    return false;
  }

  std::string parse_quoted() {
    const char q = peek();
    const std::size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (at_end() || peek() == '\n') fail_at(start, "unterminated quoted string");
      char c = peek();
      if (q == '\'' && c == '\'') {
        if (peek(1) == '\'') {
          out += '\'';
          pos_ += 2;
          continue;
        }
        ++pos_;
        return out;
      }
      if (q == '"' && c == '"') {
        ++pos_;
        return out;
      }
      if (q == '"' && c == '\\') {
        char e = peek(1);
        pos_ += 2;
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case '\\': out += '\\'; break;
          case '"': out += '"'; break;
          case '/': out += '/'; break;
          case '0': out += '\0'; break;
          default: fail_at(pos_ - 2, std::string("unsupported escape '\\") + e + "'");
        }
        continue;
      }
      out += c;
      ++pos_;
    }
  }
};

inline Json parse_yaml(const std::string& text, const std::string& label, YamlLimits limits = {}) {
  return YamlParser(text, label, limits).parse();
}

inline Json load_yaml(const std::string& path, YamlLimits limits = {}) {
  return parse_yaml(read_text_file(path, limits.max_bytes, "a yaml file"), path, limits);
}

}  // namespace yv9::io
