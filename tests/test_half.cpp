// SPDX-License-Identifier: MIT
// 16-bit floats (include/yv9/io/half.hpp) and narrowing of weight-file tensors: the rounding is
// checked exhaustively against its own definition (every F16 and BF16 value round-trips; every
// tie between neighbours goes to the even one, the float just beside a tie to the nearer one) and
// against other libraries' conversions (tests/data/dtype/rounding.txt: numpy, torch, exact
// fractions; see make_rounding.py there). Exact bit equality throughout: rounding has one right
// answer, so there is no tolerance.
#include <doctest/doctest.h>

#include <yv9/io/half.hpp>
#include <yv9/io/weightfile.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "support.hpp"

using namespace yv9::io;

namespace {

float f32_of(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
std::uint32_t bits_of(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Checks narrow(x) against the expectation: "overflow" (refused), "nan" (a NaN) or hex bits.
template <class Narrow, class Widen>
void check_expect(Narrow narrow, Widen widen, double x, const std::string& want, const std::string& what) {
  std::uint16_t h = 0;
  const bool ok = narrow(x, h);
  if (want == "overflow") {
    CHECK_MESSAGE(!ok, what << ": expected a refusal, got " << hex(h));
  } else if (want == "nan") {
    CHECK_MESSAGE((ok && std::isnan(widen(h))), what << ": expected NaN, got " << hex(h));
  } else {
    CHECK_MESSAGE((ok && hex(h) == hex(std::stoul(want, nullptr, 16))), what << ": expected " << want << ", got "
                                                                              << (ok ? hex(h) : "a refusal"));
  }
}

// All finite non-negative values of a 16-bit format in increasing order of bit pattern
// (= increasing value), up to and including the largest finite one.
template <class Widen>
void check_ties(std::uint16_t largest, Widen widen, bool (*narrow)(double, std::uint16_t&), const char* name) {
  long bad = 0;
  for (std::uint32_t b = 0; b < largest; ++b) {
    for (std::uint16_t sign : {std::uint16_t(0), std::uint16_t(0x8000)}) {
      const auto lo = static_cast<std::uint16_t>(b | sign), hi = static_cast<std::uint16_t>((b + 1) | sign);
      const double a = widen(lo), c = widen(hi), mid = (a + c) / 2;  // exact in double
      const std::uint16_t even = (b & 1) ? hi : lo;
      std::uint16_t got = 0;
      if (!narrow(mid, got) || got != even) ++bad;
      if (!narrow(std::nextafter(mid, a), got) || got != lo) ++bad;
      if (!narrow(std::nextafter(mid, c), got) || got != hi) ++bad;
      // the float32 neighbours of the tie (what a float32 weight can be)
      const float mf = static_cast<float>(mid);
      if (static_cast<double>(mf) == mid) {
        if (!narrow(std::nextafter(mf, static_cast<float>(a)), got) || got != lo) ++bad;
        if (!narrow(std::nextafter(mf, static_cast<float>(c)), got) || got != hi) ++bad;
      }
    }
  }
  CHECK_MESSAGE(bad == 0, std::string(name) << ": " << bad << " wrong roundings around ties");
}

}  // namespace

TEST_CASE("half: every F16 and BF16 value survives widening and narrowing unchanged") {
  long bad = 0;
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    std::uint16_t back = 0;
    const float f = half_to_float(h);
    if (std::isnan(f)) {
      if (!float_to_half(f, back) || !std::isnan(half_to_float(back)) || (back & 0x8000) != (h & 0x8000)) ++bad;
    } else if (!float_to_half(f, back) || back != h) {
      ++bad;
    }
    const float g = bf16_to_float(h);
    if (std::isnan(g)) {
      if (!float_to_bf16(g, back) || !std::isnan(bf16_to_float(back)) || (back & 0x8000) != (h & 0x8000)) ++bad;
    } else if (!float_to_bf16(g, back) || back != h) {
      ++bad;
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("half: ties go to the even neighbour, everything else to the nearer one (all F16 and BF16 pairs)") {
  check_ties(0x7BFF, half_to_float, float_to_half, "F16");
  check_ties(0x7F7F, bf16_to_float, float_to_bf16, "BF16");
}

TEST_CASE("half: the edges of the ranges") {
  std::uint16_t h = 0;
  // F16: 65504 is the largest finite; the tie above it (65520) would round to 2^16 = inf: refused
  CHECK((float_to_half(65504.0, h) && h == 0x7BFF));
  CHECK((float_to_half(65519.99, h) && h == 0x7BFF));
  CHECK_FALSE(float_to_half(65520.0, h));
  CHECK_FALSE(float_to_half(-1e5, h));
  CHECK_FALSE(float_to_half(std::numeric_limits<float>::max(), h));
  CHECK((float_to_half(std::numeric_limits<double>::infinity(), h) && h == 0x7C00));  // inf stays inf
  CHECK((float_to_half(-std::numeric_limits<double>::infinity(), h) && h == 0xFC00));
  CHECK((float_to_half(std::nan(""), h) && (h & 0x7E00) == 0x7E00));
  CHECK((float_to_half(-std::nan(""), h) && (h & 0xFE00) == 0xFE00));
  // F16 subnormals: 2^-24 is the smallest; its half rounds to 0 (even), anything above to 2^-24
  CHECK((float_to_half(std::ldexp(1.0, -24), h) && h == 0x0001));
  CHECK((float_to_half(std::ldexp(1.0, -25), h) && h == 0x0000));
  CHECK((float_to_half(-std::ldexp(1.0, -25), h) && h == 0x8000));  // signed zero kept
  CHECK((float_to_half(std::ldexp(1.0, -25) * (1 + 1e-9), h) && h == 0x0001));
  CHECK((float_to_half(std::ldexp(3.0, -25), h) && h == 0x0002));
  CHECK((float_to_half(std::ldexp(1.0, -14) - std::ldexp(1.0, -25), h) && h == 0x0400));  // up into the normals
  CHECK((float_to_half(std::ldexp(1.0, -1074), h) && h == 0x0000));
  CHECK((float_to_half(-0.0, h) && h == 0x8000));
  // BF16: float's largest finite lies above BF16's largest + half an ulp: refused; subnormals kept
  CHECK_FALSE(float_to_bf16(std::numeric_limits<float>::max(), h));
  CHECK((float_to_bf16(3.3895313892515355e38, h) && h == 0x7F7F));
  CHECK((float_to_bf16(std::ldexp(1.0, -133), h) && h == 0x0001));
  CHECK((float_to_bf16(std::ldexp(1.0, -134), h) && h == 0x0000));
  CHECK((float_to_bf16(std::ldexp(3.0, -134), h) && h == 0x0002));
  CHECK((float_to_bf16(std::nan(""), h) && std::isnan(bf16_to_float(h))));
  // F32 from F64
  float f = 0;
  CHECK_FALSE(double_to_float(1e39, f));
  CHECK((double_to_float(0.1, f) && f == 0.1f));
  CHECK((double_to_float(std::ldexp(1.0, -150), f) && bits_of(f) == 0));
  CHECK((double_to_float(std::ldexp(1.0, -149), f) && bits_of(f) == 1));
}

TEST_CASE("half: numpy, torch and exact fractions agree with every rounding (tests/data/dtype/rounding.txt)") {
  std::ifstream in(yv9test::data_dir() + "/dtype/rounding.txt");
  REQUIRE(in.good());
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string kind, x, f16, bf16, f32;
    REQUIRE((ls >> kind >> x >> f16 >> bf16 >> f32));
    double v = 0;
    if (kind == "f32") {
      v = f32_of(static_cast<std::uint32_t>(std::stoul(x, nullptr, 16)));
    } else {
      REQUIRE(kind == "f64");
      const std::uint64_t b = std::stoull(x, nullptr, 16);
      std::memcpy(&v, &b, 8);
      float g = 0;
      const bool ok = double_to_float(v, g);
      if (f32 == "overflow") CHECK_MESSAGE(!ok, line);
      else if (f32 == "nan") CHECK_MESSAGE((ok && std::isnan(g)), line);
      else CHECK_MESSAGE((ok && hex(bits_of(g)) == hex(std::stoul(f32, nullptr, 16))), line << " -> " << hex(bits_of(g)));
    }
    check_expect(float_to_half, half_to_float, v, f16, line + " (F16)");
    check_expect(float_to_bf16, bf16_to_float, v, bf16, line + " (BF16)");
    ++lines;
  }
  CHECK(lines > 1800);
}

TEST_CASE("half: narrow_tensor rounds floating tensors, leaves the others, and names what does not fit") {
  auto le = [](std::vector<float> v) {
    std::vector<std::uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  WriteTensor w{"model.0.conv.weight", DType::F32, {3}, le({1.0f, 1.0f + std::ldexp(1.0f, -11), -2.5f})};
  WriteTensor b = w;
  narrow_tensor(w, DType::F16, "in.pt");
  CHECK(w.dtype == DType::F16);
  CHECK(w.bytes == std::vector<std::uint8_t>{0x00, 0x3C, 0x00, 0x3C, 0x00, 0xC1});  // 1 + 2^-11 is a tie: to even
  narrow_tensor(b, DType::BF16, "in.pt");
  CHECK(b.bytes == std::vector<std::uint8_t>{0x80, 0x3F, 0x80, 0x3F, 0x20, 0xC0});
  narrow_tensor(w, DType::F32, "in.pt");  // widening back is exact
  CHECK(w.bytes == le({1.0f, 1.0f, -2.5f}));

  WriteTensor n{"model.0.bn.num_batches_tracked", DType::I64, {}, std::vector<std::uint8_t>(8, 7)};
  narrow_tensor(n, DType::F16, "in.pt");
  CHECK((n.dtype == DType::I64 && n.bytes == std::vector<std::uint8_t>(8, 7)));

  WriteTensor big{"model.22.cv3.0.2.bias", DType::F32, {2}, le({0.5f, 70000.0f})};
  const WriteTensor before = big;
  try {
    narrow_tensor(big, DType::F16, "in.pt");
    FAIL("no error");
  } catch (const yv9::FormatError& e) {
    CHECK(std::string(e.what()) ==
          "in.pt: tensor \"model.22.cv3.0.2.bias\" element 1 = 70000 is beyond the F16 range (largest 65504)");
  }
  CHECK((big.dtype == before.dtype && big.bytes == before.bytes));
  CHECK_NOTHROW(narrow_tensor(big, DType::BF16, "in.pt"));
}
