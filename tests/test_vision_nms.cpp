// SPDX-License-Identifier: MIT
// NMS + scale_boxes parity with upstream on shared/fixtures/nms: every <pred>_nms_<setting>.npy
// (and its _scaled / _scaled_rounded variants) must be reproduced row for row.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "support.hpp"
#include "yv9/vision/nms.hpp"

namespace fs = std::filesystem;
using namespace yv9;
using namespace yv9::vision;

namespace {

std::string nms_dir() { return yv9test::fixtures_dir() + "/nms"; }

// "conf0.25_iou0.45_max1000_agnostic" -> options (upstream's keyword arguments).
NmsOptions parse_setting(const std::string& s) {
  NmsOptions o;
  auto num = [&](const char* key) {
    const std::size_t p = s.find(key);
    REQUIRE(p != std::string::npos);
    return std::strtod(s.c_str() + p + std::strlen(key), nullptr);
  };
  o.conf_thres = num("conf");
  o.iou_thres = num("iou");
  o.max_det = static_cast<int>(num("max"));
  o.agnostic = s.find("agnostic") != std::string::npos;
  return o;
}

struct Compare {
  std::int64_t rows = 0, expected_rows = 0, conf_mismatch = 0, cls_mismatch = 0;
  double max_box_diff = 0;
};

// Expected (n, 6) float32 [x1, y1, x2, y2, conf, cls] vs ours, row by row.
Compare compare(const std::vector<Detection>& got, const io::NpyArray& exp) {
  Compare c;
  REQUIRE(exp.shape.size() == 2);
  REQUIRE(exp.shape[1] == 6);
  c.rows = static_cast<std::int64_t>(got.size());
  c.expected_rows = exp.shape[0];
  const std::vector<float> v = yv9test::npy_values<float>(exp);
  const std::size_t n = std::min<std::size_t>(got.size(), static_cast<std::size_t>(exp.shape[0]));
  for (std::size_t i = 0; i < n; ++i) {
    const float* e = &v[6 * i];
    const Detection& d = got[i];
    for (int k = 0; k < 4; ++k) {
      const float g = k == 0 ? d.x1 : k == 1 ? d.y1 : k == 2 ? d.x2 : d.y2;
      c.max_box_diff = std::max(c.max_box_diff, std::fabs(double(g) - double(e[k])));
    }
    c.conf_mismatch += std::memcmp(&d.conf, &e[4], sizeof(float)) != 0;
    c.cls_mismatch += static_cast<float>(d.cls) != e[5];
  }
  return c;
}

}  // namespace

TEST_CASE("non_max_suppression + scale_boxes reproduce every upstream NMS fixture" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = nms_dir();
  // Upstream's input and original image shapes for both predictions (nms.json).
  const int img1_h = 448, img1_w = 640, img0_h = 512, img0_w = 773;
  int settings = 0, exact_sets = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    const std::size_t at = file.find("_nms_");
    if (at == std::string::npos || file.find("_scaled") != std::string::npos) continue;
    const std::string pred_name = file.substr(0, at);
    const std::string setting = file.substr(at + 5, file.size() - at - 5 - 4);
    const std::string stem = dir + "/" + file.substr(0, file.size() - 4);
    INFO(file);
    const auto pred = io::read_npy(dir + "/" + pred_name + "_pred.npy");
    REQUIRE(pred.shape.size() == 3);
    const std::vector<float> p = yv9test::npy_values<float>(pred);
    const NmsOptions o = parse_setting(setting);

    std::vector<Detection> dets =
        non_max_suppression(p.data(), static_cast<int>(pred.shape[1]), static_cast<int>(pred.shape[2]), o);
    const Compare raw = compare(dets, io::read_npy(stem + ".npy"));
    scale_boxes(img1_h, img1_w, img0_h, img0_w, dets);
    const Compare scaled = compare(dets, io::read_npy(stem + "_scaled.npy"));
    round_boxes(dets);
    const Compare rounded = compare(dets, io::read_npy(stem + "_scaled_rounded.npy"));

    MESSAGE(pred_name << " " << setting << ": kept " << raw.rows << " (upstream " << raw.expected_rows
                      << "); max |box diff| raw " << raw.max_box_diff << ", scaled " << scaled.max_box_diff
                      << ", rounded " << rounded.max_box_diff << "; conf mismatches " << raw.conf_mismatch
                      << ", cls mismatches " << raw.cls_mismatch);
    for (const Compare* c : {&raw, &scaled, &rounded}) {
      CHECK(c->rows == c->expected_rows);
      CHECK(c->conf_mismatch == 0);
      CHECK(c->cls_mismatch == 0);
      // Boxes are copies of the input xyxy (tolerance from the fixture README: 1e-4 px).
      CHECK(c->max_box_diff <= 1e-4);
    }
    CHECK(rounded.max_box_diff == 0.0);
    ++settings;
    exact_sets += raw.max_box_diff == 0 && scaled.max_box_diff == 0 && rounded.max_box_diff == 0 &&
                  raw.rows == raw.expected_rows && raw.conf_mismatch == 0 && raw.cls_mismatch == 0;
  }
  MESSAGE("NMS settings checked: " << settings << ", bit-exact (boxes, conf, cls, order, scaled, rounded): "
                                   << exact_sets);
  CHECK(settings == 8);
}

TEST_CASE("NMS semantics on hand-made predictions") {
  // 3 classes, 5 anchors; columns are anchors.  Layout (4 + nc, A).
  const int A = 5, C = 7;
  std::vector<float> p(C * A, 0.0f);
  auto set = [&](int a, float cx, float cy, float w, float h, float s0, float s1, float s2) {
    const float v[7] = {cx, cy, w, h, s0, s1, s2};
    for (int r = 0; r < C; ++r) p[r * A + a] = v[r];
  };
  set(0, 50, 50, 20, 20, 0.90f, 0.10f, 0.0f);  // class 0, best
  set(1, 52, 50, 20, 20, 0.80f, 0.10f, 0.0f);  // class 0, IoU ~0.82 with anchor 0 -> suppressed
  set(2, 52, 50, 20, 20, 0.10f, 0.85f, 0.0f);  // class 1, same place: kept unless agnostic
  set(3, 200, 200, 10, 10, 0.25f, 0.0f, 0.0f);  // exactly the threshold: dropped (strict >)
  set(4, 300, 300, 10, 10, 0.0f, 0.30f, 0.30f);  // tie between classes 1 and 2: first wins

  NmsOptions o;
  std::vector<Detection> d = non_max_suppression(p.data(), C, A, o);
  REQUIRE(d.size() == 3);
  CHECK(d[0].conf == 0.90f);
  CHECK(d[0].cls == 0);
  CHECK(d[1].cls == 1);
  CHECK(d[1].x1 == 42.0f);
  CHECK(d[2].cls == 1);  // first maximum
  CHECK(d[2].x1 == 295.0f);

  o.agnostic = true;
  d = non_max_suppression(p.data(), C, A, o);
  REQUIRE(d.size() == 2);  // the class-1 box at anchor 2 now overlaps anchor 0
  CHECK(d[0].conf == 0.90f);
  CHECK(d[1].conf == 0.30f);

  o = {};
  o.classes = {1};
  d = non_max_suppression(p.data(), C, A, o);
  REQUIRE(d.size() == 2);
  CHECK(d[0].cls == 1);

  o = {};
  o.max_det = 1;
  CHECK(non_max_suppression(p.data(), C, A, o).size() == 1);

  p[4 * A + 0] = std::nanf("");  // a NaN score poisons that anchor (torch.amax propagates NaN)
  o = {};
  d = non_max_suppression(p.data(), C, A, o);
  REQUIRE(d.size() == 3);
  CHECK(d[0].conf == 0.85f);

  CHECK_THROWS_AS(non_max_suppression(p.data(), 4, A, NmsOptions{}), UsageError);
  NmsOptions bad;
  bad.iou_thres = 1.5;
  CHECK_THROWS_AS(non_max_suppression(p.data(), C, A, bad), UsageError);
  CHECK(non_max_suppression(p.data(), C, 0, NmsOptions{}).empty());
}

// The fixtures cannot see a 1-ulp IoU difference (no pair sits that close to the threshold), so
// this pins the kernel's float32 operation order directly: for box pairs where torchvision's
// separate roundings and a fused multiply-add disagree, the threshold is put between the two
// values and NMS must take torchvision's side.
TEST_CASE("IoU is computed with torchvision's separate float32 roundings (no FMA)") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pos(0.f, 600.f), size(1.f, 300.f);
  auto strict = [](float v) {
    volatile float t = v;
    return t;
  };
  int found = 0;
  for (int iter = 0; iter < 200000 && found < 20; ++iter) {
    const float cx[2] = {pos(rng), 0}, cy[2] = {pos(rng), 0}, w[2] = {size(rng), size(rng)}, h[2] = {size(rng), size(rng)};
    const float cx1 = cx[0] + (pos(rng) - 300.f) / 8.f, cy1 = cy[0] + (pos(rng) - 300.f) / 8.f;
    const float X[2] = {cx[0], cx1}, Y[2] = {cy[0], cy1};
    float x1[2], y1[2], x2[2], y2[2], area[2];
    for (int k = 0; k < 2; ++k) {
      x1[k] = X[k] - w[k] / 2.0f, y1[k] = Y[k] - h[k] / 2.0f, x2[k] = X[k] + w[k] / 2.0f, y2[k] = Y[k] + h[k] / 2.0f;
      area[k] = strict(strict(x2[k] - x1[k]) * strict(y2[k] - y1[k]));
    }
    const float iw = std::max(0.0f, strict(std::min(x2[0], x2[1]) - std::max(x1[0], x1[1])));
    const float ih = std::max(0.0f, strict(std::min(y2[0], y2[1]) - std::max(y1[0], y1[1])));
    const float inter = strict(iw * ih);
    const float sep = strict(inter / strict(strict(area[0] + area[1]) - inter));
    const float fused = strict(inter / std::fma(-iw, ih, strict(area[0] + area[1])));
    if (sep == fused || !(sep > 0.05f && sep < 0.95f)) continue;
    ++found;
    std::vector<float> p(6 * 2, 0.0f);
    for (int k = 0; k < 2; ++k) {
      p[0 * 2 + k] = X[k], p[1 * 2 + k] = Y[k], p[2 * 2 + k] = w[k], p[3 * 2 + k] = h[k];
      p[4 * 2 + k] = k == 0 ? 0.9f : 0.8f;
    }
    NmsOptions o;
    o.conf_thres = 0.1;
    o.iou_thres = static_cast<double>(std::min(sep, fused));  // separate rounding suppresses iff sep is the larger
    const std::size_t expect = sep > fused ? 1 : 2;
    INFO("iter " << iter << " sep " << sep << " fused " << fused);
    CHECK(non_max_suppression(p.data(), 6, 2, o).size() == expect);
  }
  MESSAGE("box pairs where a fused multiply-add would flip the NMS decision: " << found);
  CHECK(found > 0);
}

TEST_CASE("scale_boxes clips and round_boxes rounds half to even") {
  std::vector<Detection> d(1);
  d[0].x1 = -5, d[0].y1 = 10, d[0].x2 = 700, d[0].y2 = 500;
  scale_boxes(448, 640, 512, 773, d);  // gain 640/773, pad (0, 12.03...)
  CHECK(d[0].x1 == 0.0f);
  CHECK(d[0].x2 == 773.0f);
  CHECK(d[0].y2 == 512.0f);
  std::vector<Detection> r(1);
  r[0].x1 = 0.5f, r[0].y1 = 1.5f, r[0].x2 = 2.5f, r[0].y2 = -0.5f;
  round_boxes(r);
  CHECK(r[0].x1 == 0.0f);
  CHECK(r[0].y1 == 2.0f);
  CHECK(r[0].x2 == 2.0f);
  CHECK(r[0].y2 == 0.0f);
}

TEST_CASE("batched overload splits a (B, 4 + nc, A) tensor") {
  Tensor<float> t = Tensor<float>::zeros(Shape{2, 6, 3});
  float* p = t.data();
  // image 1, anchor 2: box (10,10,4,4), class 1 score 0.9
  p[1 * 18 + 0 * 3 + 2] = 10, p[1 * 18 + 1 * 3 + 2] = 10, p[1 * 18 + 2 * 3 + 2] = 4, p[1 * 18 + 3 * 3 + 2] = 4;
  p[1 * 18 + 5 * 3 + 2] = 0.9f;
  const auto out = non_max_suppression(t, NmsOptions{});
  REQUIRE(out.size() == 2);
  CHECK(out[0].empty());
  REQUIRE(out[1].size() == 1);
  CHECK(out[1][0].cls == 1);
  CHECK(out[1][0].x1 == 8.0f);
}
