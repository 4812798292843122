// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes through io::parse_npy, then (for float32 arrays) the tensor
// conversion and the writer, whose output must parse back to the same shape and bytes. Any
// yv9::Error is an accepted outcome; crashes, sanitizer reports, leaks and timeouts are bugs.
#include <yv9/io/npy.hpp>

#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  yv9::io::NpyLimits lim;
  lim.max_bytes = std::uint64_t(64) << 20;
  try {
    const yv9::io::NpyArray a = yv9::io::parse_npy(data, size, "fuzz.npy", lim);
    if (a.bytes.size() != static_cast<std::size_t>(a.numel()) * yv9::io::detail::npy_item_size(a.descr)) __builtin_trap();
    if (a.descr != "<f4" || a.shape.size() > 4) return 0;
    const yv9::Tensor<float> t = yv9::io::npy_to_tensor_f32(a, "fuzz.npy");
    const std::vector<std::uint8_t> out = yv9::io::npy_bytes_f32(t);
    const yv9::io::NpyArray b = yv9::io::parse_npy(out.data(), out.size(), "round-trip", lim);
    if (b.shape != a.shape && !(a.shape.empty() && b.shape.empty())) __builtin_trap();
    if (b.bytes != a.bytes) __builtin_trap();
  } catch (const yv9::Error&) {
  }
  return 0;
}
