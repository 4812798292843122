// SPDX-License-Identifier: MIT
// Pre-processing parity with upstream (cv2.imread -> letterbox -> BGR2RGB -> /255):
// every photo of shared/fixtures/preprocess in both modes must match byte for byte.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "support.hpp"
#include "yv9/vision/decode.hpp"
#include "yv9/vision/letterbox.hpp"
#include "yv9/vision/reference.hpp"

namespace fs = std::filesystem;
using namespace yv9;
using namespace yv9::vision;

namespace {

std::string preprocess_dir() { return yv9test::fixtures_dir() + "/preprocess"; }

Image image_from_hwc_npy(const io::NpyArray& a) {
  REQUIRE(a.shape.size() == 3);
  REQUIRE(a.shape[2] == 3);
  Image im(static_cast<int>(a.shape[1]), static_cast<int>(a.shape[0]));
  im.bgr = yv9test::npy_values<std::uint8_t>(a);
  return im;
}

// Counts bytes of `im` (HWC BGR) that differ from an upstream (1,3,H,W) RGB u8 tensor.
std::int64_t count_mismatch_u8(const Image& im, const io::NpyArray& chw) {
  REQUIRE(chw.shape.size() == 4);
  REQUIRE(chw.shape[0] == 1);
  REQUIRE(chw.shape[1] == 3);
  REQUIRE(chw.shape[2] == im.height);
  REQUIRE(chw.shape[3] == im.width);
  const std::vector<std::uint8_t> v = yv9test::npy_values<std::uint8_t>(chw);
  const std::size_t plane = static_cast<std::size_t>(im.width) * im.height;
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) bad += v[c * plane + i] != im.bgr[3 * i + (2 - c)];
  return bad;
}

struct Case {
  const char* name;
  const char* source;  // decoded with stb (PNG) unless a cv2-decoded .npy is given
  const char* decoded_npy;
  // expected geometry (from preprocess.json): square t/b/l/r, auto shape h,w and t/b/l/r
  int sq[4];
  int auto_hw[2];
  int au[4];
};

const Case kCases[] = {
    {"horses", "horses.jpg", "horses_decoded_bgr_u8.npy", {108, 108, 0, 0}, {448, 640}, {12, 12, 0, 0}},
    {"coffee", "coffee.png", nullptr, {106, 107, 0, 0}, {448, 640}, {10, 11, 0, 0}},
    {"chelsea", "chelsea.png", nullptr, {107, 107, 0, 0}, {448, 640}, {11, 11, 0, 0}},
    {"chelsea_portrait", "chelsea_portrait.png", nullptr, {0, 0, 105, 106}, {640, 448}, {0, 0, 9, 10}},
};

}  // namespace

TEST_CASE("python_round is half-to-even on doubles") {
  CHECK(python_round(0.5) == 0.0);
  CHECK(python_round(1.5) == 2.0);
  CHECK(python_round(2.5) == 2.0);
  CHECK(python_round(-0.5) == -0.0);
  CHECK(python_round(-1.5) == -2.0);
  CHECK(python_round(106.4) == 106.0);
  CHECK(python_round(106.6) == 107.0);
  CHECK(python_round(2.675) == 3.0);  // 2.675 is 2.67499999... in binary, still rounds to 3 (> .5 of 2)
  CHECK(python_round(0.49999999999999994) == 0.0);
}

TEST_CASE("letterbox geometry follows upstream for the special options") {
  LetterboxOptions o;
  o.scaleup = false;
  LetterboxGeometry g = letterbox_geometry(300, 200, o);  // r capped at 1: no resize
  CHECK(g.unpad_w == 300);
  CHECK(g.unpad_h == 200);
  CHECK(g.pad_w == 170.0);
  CHECK(g.pad_h == 220.0);
  CHECK(g.out_w == 640);
  CHECK(g.out_h == 640);

  o = {};
  o.scale_fill = true;
  g = letterbox_geometry(300, 200, o);
  CHECK(g.unpad_w == 640);
  CHECK(g.unpad_h == 640);
  CHECK(g.ratio_w == doctest::Approx(640.0 / 300));
  CHECK(g.ratio_h == doctest::Approx(640.0 / 200));
  CHECK(g.top + g.bottom + g.left + g.right == 0);

  o = {};
  o.auto_pad = true;
  o.height = o.width = 160;
  g = letterbox_geometry(480, 640, o);  // a portrait sample at --img 160: 120x160, no padding in x
  CHECK(g.unpad_w == 120);
  CHECK(g.unpad_h == 160);
  CHECK(g.out_w == 128);
  CHECK(g.left == 4);
  CHECK(g.right == 4);

  CHECK_THROWS_AS(letterbox_geometry(20000, 1, LetterboxOptions{}), LimitError);
  CHECK_THROWS_AS(letterbox_geometry(0, 10, LetterboxOptions{}), UsageError);
}

TEST_CASE("resize_linear equals its naive twin on random shapes") {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> size(1, 40), byte(0, 255);
  int configs = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const int sw = size(rng), sh = size(rng);
    int dw = size(rng), dh = size(rng);
    if (iter % 10 == 0) dw = (sw + 1) / 2, dh = (sh + 1) / 2;  // exercise the exact 2x path
    if (iter % 10 == 1) dw = sw * 3, dh = sh * 2;              // integer upscales
    Image src(sw, sh);
    for (auto& b : src.bgr) b = static_cast<std::uint8_t>(byte(rng));
    const Image fast = resize_linear(src, dw, dh);
    const Image slow = reference::resize_linear_naive(src, dw, dh);
    INFO("src " << sw << "x" << sh << " -> " << dw << "x" << dh);
    REQUIRE(fast.bgr == slow.bgr);
    ++configs;
  }
  CHECK(configs == 300);
}

TEST_CASE("constant images stay constant through resize (fixed-point sanity)") {
  for (int v : {0, 1, 114, 254, 255}) {
    Image src(37, 23, static_cast<std::uint8_t>(v));
    for (auto wh : {std::pair<int, int>{640, 397}, {18, 11}, {74, 46}, {5, 3}}) {
      const Image out = resize_linear(src, wh.first, wh.second);
      bool all = true;
      for (auto b : out.bgr) all = all && b == v;
      CHECK_MESSAGE(all, "value " << v << " -> " << wh.first << "x" << wh.second);
    }
  }
}

TEST_CASE("resize_area (upstream's shrink): cell means, exact on integer factors and constant images") {
  std::mt19937 rng(7);
  Image src(12, 9);
  for (auto& v : src.bgr) v = static_cast<std::uint8_t>(rng() % 256);
  // 3x on both axes: each output pixel is the rounded mean of its 3x3 cell.
  const Image third = resize_area(src, 4, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < 3; ++dy)
          for (int dx = 0; dx < 3; ++dx) sum += src.px(3 * x + dx, 3 * y + dy)[c];
        CHECK(std::abs(third.px(x, y)[c] - sum / 9.0) <= 0.5 + 1e-9);
      }
  // Non-integer factors: area-weighted means, so a constant stays constant and every value lies
  // within the range of the source pixels its cell covers (here: of the whole image).
  Image flat(13, 7, 77);
  const Image f = resize_area(flat, 5, 4);
  for (auto v : f.bgr) CHECK(v == 77);
  const Image r = resize_area(src, 7, 5);
  const auto [lo, hi] = std::minmax_element(src.bgr.begin(), src.bgr.end());
  for (auto v : r.bgr) CHECK((v >= *lo && v <= *hi));
  // 1.5x on a horizontal ramp 0, 30, 60, ...: output x covers source [1.5x, 1.5x + 1.5).
  Image ramp(6, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) ramp.px(x, y)[c] = static_cast<std::uint8_t>(30 * x);
  const Image rr = resize_area(ramp, 4, 2);
  CHECK(rr.px(0, 0)[0] == 10);  // (0 * 1 + 30 * 0.5) / 1.5
  CHECK(rr.px(1, 0)[0] == 50);  // (30 * 0.5 + 60 * 1) / 1.5
  CHECK(rr.px(3, 1)[2] == 140);  // (120 * 0.5 + 150 * 1) / 1.5
  CHECK_THROWS_AS(resize_area(src, 13, 9), UsageError);  // enlarging is not an area resize
}

TEST_CASE("letterbox + to_tensor match upstream for every preprocess fixture" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = preprocess_dir();
  int exact = 0;
  for (const Case& c : kCases) {
    Image im = c.decoded_npy ? image_from_hwc_npy(io::read_npy(dir + "/" + c.decoded_npy))
                             : load_image(dir + "/" + c.source);
    for (int mode = 0; mode < 2; ++mode) {
      LetterboxOptions o;
      o.auto_pad = mode == 1;
      const Letterboxed lb = letterbox(im, o);
      const LetterboxGeometry& g = lb.geometry;
      const int* pads = mode == 0 ? c.sq : c.au;
      const std::string tag = std::string(c.name) + (mode == 0 ? "_square" : "_auto");
      INFO(tag);
      CHECK(g.top == pads[0]);
      CHECK(g.bottom == pads[1]);
      CHECK(g.left == pads[2]);
      CHECK(g.right == pads[3]);
      CHECK(g.out_h == (mode == 0 ? 640 : c.auto_hw[0]));
      CHECK(g.out_w == (mode == 0 ? 640 : c.auto_hw[1]));
      const auto expected = io::read_npy(dir + "/" + tag + "_u8.npy");
      const std::int64_t bad = count_mismatch_u8(lb.image, expected);
      MESSAGE(tag << ": " << bad << " of " << expected.numel() << " bytes differ from upstream");
      CHECK(bad == 0);
      exact += bad == 0;
    }
  }
  MESSAGE("preprocess fixtures matched exactly: " << exact << " / " << 2 * std::size(kCases));
}

TEST_CASE("to_tensor is bit-identical to torch .float() / 255 (horses auto)" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = preprocess_dir();
  const Image im = image_from_hwc_npy(io::read_npy(dir + "/horses_decoded_bgr_u8.npy"));
  LetterboxOptions o;
  o.auto_pad = true;
  const Tensor<float> t = to_tensor(letterbox(im, o).image);
  const auto ref = io::read_npy(dir + "/horses_auto_f32.npy");
  REQUIRE(ref.shape == std::vector<std::int64_t>{1, 3, 448, 640});
  REQUIRE(t.shape() == Shape({1, 3, 448, 640}));
  const std::vector<float> v = yv9test::npy_values<float>(ref);
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < t.size(); ++i) bad += std::memcmp(&v[i], &t[i], sizeof(float)) != 0;
  CHECK(bad == 0);
}

TEST_CASE("stb_image vs cv2 (libjpeg-turbo) decode of horses.jpg: measured, loosely bounded" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = preprocess_dir();
  const Image cv = image_from_hwc_npy(io::read_npy(dir + "/horses_decoded_bgr_u8.npy"));
  const Image stb = load_image(dir + "/horses.jpg");
  REQUIRE(stb.width == cv.width);
  REQUIRE(stb.height == cv.height);
  int max_diff = 0;
  std::int64_t diff_values = 0, diff_pixels = 0, sum_abs = 0;
  for (std::size_t p = 0; p < stb.bgr.size() / 3; ++p) {
    bool any = false;
    for (int c = 0; c < 3; ++c) {
      const int d = std::abs(int(stb.bgr[3 * p + c]) - int(cv.bgr[3 * p + c]));
      max_diff = std::max(max_diff, d);
      diff_values += d != 0;
      sum_abs += d;
      any = any || d != 0;
    }
    diff_pixels += any;
  }
  const std::int64_t npx = static_cast<std::int64_t>(stb.bgr.size() / 3);
  MESSAGE("horses.jpg stb vs cv2: max |diff| " << max_diff << ", differing pixels " << diff_pixels << " / " << npx
                                               << ", differing channel values " << diff_values << " / "
                                               << stb.bgr.size() << ", mean |diff| "
                                               << double(sum_abs) / double(stb.bgr.size()));
  // Loose bound (measured: max 3, mean 0.067): two correct JPEG decoders differ by IDCT and
  // chroma-upsampling rounding only; a colour-order or orientation bug would blow far past it.
  CHECK(max_diff <= 8);
  CHECK(double(sum_abs) / double(stb.bgr.size()) < 0.5);

  // What it does downstream: the network input built from stb's pixels vs upstream's.
  LetterboxOptions o;
  o.auto_pad = true;
  const auto expected = io::read_npy(dir + "/horses_auto_u8.npy");
  const std::int64_t bad = count_mismatch_u8(letterbox(stb, o).image, expected);
  MESSAGE("horses_auto from stb's decode: " << bad << " of " << expected.numel() << " input bytes differ");
}
