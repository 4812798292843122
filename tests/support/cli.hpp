// SPDX-License-Identifier: MIT
// Running the built command-line tools from tests: through /bin/sh (the tests' own paths only),
// stdout and stderr captured to files, exit status as a shell reports it.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "support.hpp"

namespace yv9test {

struct Run {
  int code;
  std::string out, err;
};

inline std::string slurp_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// 'text' for sh, whatever it holds
inline std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

inline std::string tool_path(const std::string& name) { return std::string(YV9_BINARY_DIR) + "/bin/" + name; }

// The shell words that run a built tool: the binary, or in cross builds the emulator and the binary
// ($YV9_TEST_EMULATOR, which tests/CMakeLists.txt sets for the tests that start tools).
inline std::string tool_command(const std::string& name) {
  const char* emu = std::getenv("YV9_TEST_EMULATOR");
  return (emu && *emu ? std::string(emu) + " " : std::string()) + sh_quote(tool_path(name));
}

// Runs `cmd` with sh; `scratch` receives the captured stdout/stderr files.
inline Run run_shell(const std::string& cmd, const std::string& scratch) {
  const std::string o = scratch + "/stdout", e = scratch + "/stderr";
  const int st = std::system((cmd + " >" + sh_quote(o) + " 2>" + sh_quote(e)).c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp_text(o), slurp_text(e)};
}

// True when `program` is on PATH.
inline bool on_path(const std::string& program) {
  return std::system(("command -v " + sh_quote(program) + " >/dev/null 2>&1").c_str()) == 0;
}

// A fresh scratch folder under the build tree, removed first if it exists.
inline std::string fresh_dir(const std::string& name) {
  const std::string d = std::string(YV9_BINARY_DIR) + "/" + name + "-" + std::to_string(::getpid());
  std::system(("rm -rf " + sh_quote(d) + " && mkdir -p " + sh_quote(d)).c_str());
  return d;
}

}  // namespace yv9test
