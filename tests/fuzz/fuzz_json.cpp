// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary text through io::parse_json (the weight file header and its metadata
// strings go through it), then the writer: dump() of a parsed value must parse again, and dump() of
// that must be the same text (a fixed point after one round). Any yv9::Error is an accepted
// outcome; crashes, sanitizer reports, leaks, timeouts and non-round-tripping output are bugs.
#include <yv9/io/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  yv9::io::JsonLimits lim;
  lim.max_values = std::size_t(1) << 20;
  std::string once;
  try {
    once = yv9::io::parse_json(text, "fuzz.json", lim).dump();
  } catch (const yv9::Error&) {
    return 0;
  }
  // Whatever the reader accepted, the writer's text must be valid JSON that reads back the same.
  const yv9::io::Json again = yv9::io::parse_json(once, "dump", lim);
  if (again.dump() != once) __builtin_trap();
  (void)again.dump(2);
  return 0;
}
