// SPDX-License-Identifier: MIT
// The YAML subset that model configs use, and nothing more:
//   block mappings (`key: value`), block sequences (`- item`), flow sequences and mappings
//   (`[a, [b, c]]`, `{k: v}`) that may span lines and carry comments, plain / 'single' / "double"
//   quoted scalars, `#` comments, a leading `---`.
// Anything else (tabs in indentation, anchors, aliases, tags, multi-line plain scalars, block
// scalars `|`/`>`, duplicate keys, several documents) is refused with `file:line:col: message`.
#pragma once
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "file.hpp"

namespace yv9::io {

struct YamlNode {
  enum class Kind { Null, Scalar, Seq, Map };
  Kind kind = Kind::Null;
  std::string scalar;  // Scalar
  bool quoted = false;  // Scalar was quoted: never a number/null/bool
  std::vector<YamlNode> items;  // Seq
  std::vector<std::pair<std::string, YamlNode>> map;  // Map, in file order
  int line = 0, col = 0;  // 1-based position of the node

  bool is_scalar() const { return kind == Kind::Scalar; }
  bool is_seq() const { return kind == Kind::Seq; }
  bool is_map() const { return kind == Kind::Map; }
  bool is_null() const { return kind == Kind::Null; }
  const YamlNode* find(const std::string& key) const {
    for (const auto& kv : map)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

struct YamlLimits {
  std::size_t max_bytes = 4u << 20;
  int max_depth = 64;
};

class YamlParser {
 public:
  YamlParser(std::string text, std::string label, YamlLimits limits = {})
      : s_(std::move(text)), label_(std::move(label)), lim_(limits) {}

  YamlNode parse() {
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
    YamlNode root;
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
  void stamp(YamlNode& n, std::size_t p) const { where(p, n.line, n.col); }

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
  YamlNode parse_block(int parent_indent, int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    int ind = current_indent();
    if (ind <= parent_indent) fail("expected an indented block");
    pos_ += static_cast<std::size_t>(ind);
    if (is_seq_item()) return parse_block_seq(ind, depth);
    if (looks_like_key()) return parse_block_map(ind, depth);
    YamlNode n = parse_inline_value(depth);
    expect_line_end();
    return n;
  }

  YamlNode parse_block_seq(int ind, int depth) {
    YamlNode n;
    n.kind = YamlNode::Kind::Seq;
    stamp(n, pos_);
    while (true) {
      // pos_ is at '-'
      ++pos_;
      skip_spaces();
      if (peek() == '#' || peek() == '\n' || peek() == '\r' || at_end()) {
        expect_line_end();
        skip_blank_lines();
        if (at_end() || current_indent() <= ind)
          n.items.emplace_back();  // `-` alone: null item
        else
          n.items.push_back(parse_block(ind, depth + 1));
      } else if (looks_like_key()) {
        // `- key: value` starts a nested block map whose indent is the column of `key`.
        int col_ind = static_cast<int>(pos_ - line_start(pos_));
        n.items.push_back(parse_block_map(col_ind, depth + 1));
      } else {
        n.items.push_back(parse_inline_value(depth + 1));
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

  YamlNode parse_block_map(int ind, int depth) {
    YamlNode n;
    n.kind = YamlNode::Kind::Map;
    stamp(n, pos_);
    while (true) {
      std::size_t key_pos = pos_;
      std::string key = parse_key();
      for (const auto& kv : n.map)
        if (kv.first == key) fail_at(key_pos, "duplicate key '" + key + "'");
      skip_spaces();
      YamlNode value;
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
        if (value.kind == YamlNode::Kind::Null) stamp(value, key_pos);
      } else {
        value = parse_inline_value(depth + 1);
        expect_line_end();
      }
      n.map.emplace_back(std::move(key), std::move(value));
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

  YamlNode parse_inline_value(int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    YamlNode n;
    stamp(n, pos_);
    if (peek() == '[' || peek() == '{') return parse_flow(depth);
    n.kind = YamlNode::Kind::Scalar;
    if (peek() == '\'' || peek() == '"') {
      n.scalar = parse_quoted();
      n.quoted = true;
      return n;
    }
    std::size_t start = pos_;
    while (!at_end() && peek() != '\n' && !(peek() == '#' && pos_ > start && (s_[pos_ - 1] == ' ' || s_[pos_ - 1] == '\t')))
      ++pos_;
    n.scalar = trim(s_.substr(start, pos_ - start));
    check_plain(n.scalar, start);
    if (n.scalar.empty()) n.kind = YamlNode::Kind::Null;
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

  YamlNode parse_flow(int depth) {
    if (depth > lim_.max_depth) fail("nesting deeper than " + std::to_string(lim_.max_depth));
    YamlNode n;
    stamp(n, pos_);
    const char open = peek(), close = open == '[' ? ']' : '}';
    const std::size_t open_pos = pos_;
    n.kind = open == '[' ? YamlNode::Kind::Seq : YamlNode::Kind::Map;
    ++pos_;
    skip_flow_space();
    if (peek() == close) {
      ++pos_;
      return n;
    }
    while (true) {
      if (at_end()) fail_at(open_pos, std::string("unterminated flow collection '") + open + "'");
      if (n.kind == YamlNode::Kind::Seq) {
        n.items.push_back(parse_flow_item(depth + 1));
      } else {
        std::size_t key_pos = pos_;
        YamlNode k = parse_flow_item(depth + 1, /*key=*/true);
        if (!k.is_scalar()) fail_at(key_pos, "flow mapping keys must be scalars");
        skip_flow_space();
        if (peek() != ':') fail("expected ':' in flow mapping");
        ++pos_;
        skip_flow_space();
        for (const auto& kv : n.map)
          if (kv.first == k.scalar) fail_at(key_pos, "duplicate key '" + k.scalar + "'");
        n.map.emplace_back(k.scalar, parse_flow_item(depth + 1));
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

  YamlNode parse_flow_item(int depth, bool key = false) {
    skip_flow_space();
    YamlNode n;
    stamp(n, pos_);
    if (peek() == '[' || peek() == '{') return parse_flow(depth);
    n.kind = YamlNode::Kind::Scalar;
    if (peek() == '\'' || peek() == '"') {
      n.scalar = parse_quoted();
      n.quoted = true;
      return n;
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
    n.scalar = trim(s_.substr(start, pos_ - start));
    check_plain(n.scalar, start);
    if (n.scalar.empty()) {
      if (peek() == '[' || peek() == '{') fail("unexpected '" + std::string(1, peek()) + "'");
      n.kind = YamlNode::Kind::Null;
      if (peek() == ',' || peek() == ']' || peek() == '}') fail("empty item in flow collection");
    }
    if (peek() == '\n') {
      // A plain scalar may not continue on the next line here.
      std::size_t p = pos_;
      while (p < s_.size() && (s_[p] == '\n' || s_[p] == ' ' || s_[p] == '\r' || s_[p] == '\t')) ++p;
      if (p < s_.size() && s_[p] != ',' && s_[p] != ']' && s_[p] != '}' && s_[p] != '#' && s_[p] != ':')
        fail_at(p, "multi-line plain scalars are not supported");
    }
    return n;
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

inline YamlNode parse_yaml(const std::string& text, const std::string& label, YamlLimits limits = {}) {
  return YamlParser(text, label, limits).parse();
}

inline YamlNode load_yaml(const std::string& path, YamlLimits limits = {}) {
  return parse_yaml(read_text_file(path, limits.max_bytes, "a yaml file"), path, limits);
}

}  // namespace yv9::io
