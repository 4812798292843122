// SPDX-License-Identifier: MIT
// What the command-line tools (detect, val, pt2bin) share: one argument parser, one number parser
// and one way to end.
//
//   const yv9tool::ArgSpec spec = {/*values=*/{"--img"}, /*flags=*/{"--square"}};
//   return yv9tool::run_tool("detect", argc, argv, [&] {
//     const yv9tool::Args a = yv9tool::parse_args(spec, argc, argv);
//     ... a.get_int("--img", 32, 8192, 640) ...
//   });
//
// Options are written `--name value` or `--name=value`; a list option takes every following word
// that does not start with "--" (argparse's nargs='+'); `-h` is `--help`. Exit status, the same for
// every tool: 0 done, 1 bad input (one line on stderr naming the file), 2 usage error, 130/143
// interrupted (the tool returns those itself).
#pragma once
#include <yv9/core/error.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace yv9tool {

struct ArgSpec {
  std::vector<std::string> values;              // options taking one value
  std::vector<std::string> flags;               // options taking none (--help is always known)
  std::vector<std::string> lists;               // options taking one or more values
  std::map<std::string, std::string> aliases;   // other spellings, e.g. upstream's --conf-thres
  std::size_t max_positional = 0;               // plain words allowed (e.g. IN.pt OUT.bin)
};

inline int parse_int(const std::string& s, const std::string& what, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || !end || *end || v < lo || v > hi)
    throw yv9::UsageError(what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'");
  return static_cast<int>(v);
}

inline double parse_double(const std::string& s, const std::string& what, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end || !(v >= lo && v <= hi))  // !(..) also refuses NaN
    throw yv9::UsageError(what + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'");
  return v;
}

class Args {
 public:
  bool has(const std::string& k) const { return values_.count(k) || flags_.count(k) || lists_.count(k); }
  std::string get(const std::string& k, const std::string& fallback = "") const {
    const auto it = values_.find(k);
    return it == values_.end() ? fallback : it->second;
  }
  int get_int(const std::string& k, int lo, int hi, int fallback) const {
    return has(k) ? parse_int(get(k), k, lo, hi) : fallback;
  }
  double get_double(const std::string& k, double lo, double hi, double fallback) const {
    return has(k) ? parse_double(get(k), k, lo, hi) : fallback;
  }
  const std::vector<std::string>& list(const std::string& k) const {
    static const std::vector<std::string> none;
    const auto it = lists_.find(k);
    return it == lists_.end() ? none : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend Args parse_args(const ArgSpec&, int, char**);
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::vector<std::string> positional_;
};

inline Args parse_args(const ArgSpec& spec, int argc, char** argv) {
  const auto known = [](const std::vector<std::string>& v, const std::string& k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i], v;
    bool inline_value = false;
    if (const auto eq = k.find('='); k.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = k.substr(eq + 1);
      k = k.substr(0, eq);
      inline_value = true;
    }
    if (const auto it = spec.aliases.find(k); it != spec.aliases.end()) k = it->second;
    if (k == "-h") k = "--help";
    if (k == "--help" || known(spec.flags, k)) {
      if (inline_value) throw yv9::UsageError("option " + k + " takes no value");
      a.flags_[k] = true;
    } else if (known(spec.lists, k)) {
      std::vector<std::string>& list = a.lists_[k];
      if (inline_value) list.push_back(v);
      while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) list.push_back(argv[++i]);
      if (list.empty()) throw yv9::UsageError("option " + k + " needs at least one value");
    } else if (known(spec.values, k)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw yv9::UsageError("option " + k + " needs a value");
        v = argv[++i];
      }
      if (a.values_.count(k)) throw yv9::UsageError("option " + k + " given twice");
      a.values_[k] = v;
    } else if (k.size() > 1 && k[0] == '-') {
      throw yv9::UsageError("unknown option '" + k + "'");
    } else if (a.positional_.size() < spec.max_positional) {
      a.positional_.push_back(k);
    } else {
      throw yv9::UsageError("unexpected argument '" + k + "'");
    }
  }
  return a;
}

// Runs a tool's body and turns what it throws into the one-line message and exit status above.
template <class F>
int run_tool(const char* name, F&& body) noexcept {
  try {
    return body();
  } catch (const yv9::UsageError& e) {
    std::cerr << name << ": " << e.what() << " (" << name << " --help for the usage)\n";
    return 2;
  } catch (const yv9::Error& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << name << ": out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace yv9tool
