// SPDX-License-Identifier: MIT
// Outputs: YOLO label lines exactly as upstream detect.py --save-txt --save-conf writes them
// (checked against shared/weights/expected), the JSON document, atomic image/label writing and
// the annotation drawing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"
#include "yv9/vision/decode.hpp"
#include "yv9/vision/draw.hpp"
#include "yv9/vision/output.hpp"

namespace fs = std::filesystem;
using namespace yv9;
using namespace yv9::vision;

// stb's JPEG writer performs signed left shifts that UBSan reports (harmless on every real
// compiler; an upstream stb issue). Sanitizer builds skip the JPEG round trip.
#if defined(__SANITIZE_ADDRESS__)
#define YV9_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define YV9_TEST_SANITIZED 1
#endif
#endif

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh scratch folder under the build tree.
fs::path scratch(const std::string& name) {
  const fs::path p = fs::path(YV9_BINARY_DIR) / "test_scratch" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Rebuilds the integer (rounded) box and the conf behind an upstream label line. Rounded boxes
// are integers, so 2*xc*W and w*W identify x1 + x2 and x2 - x1 despite the 6-digit printing.
Detection detection_from_line(const std::string& line, int W, int H) {
  std::istringstream is(line);
  std::string cls, xc, yc, w, h, conf;
  is >> cls >> xc >> yc >> w >> h >> conf;
  const double sx = std::round(std::stod(xc) * W * 2), dx = std::round(std::stod(w) * W);
  const double sy = std::round(std::stod(yc) * H * 2), dy = std::round(std::stod(h) * H);
  REQUIRE(std::fmod(sx + dx, 2.0) == 0.0);
  REQUIRE(std::fmod(sy + dy, 2.0) == 0.0);
  Detection d;
  d.x1 = static_cast<float>((sx - dx) / 2), d.x2 = static_cast<float>((sx + dx) / 2);
  d.y1 = static_cast<float>((sy - dy) / 2), d.y2 = static_cast<float>((sy + dy) / 2);
  d.conf = std::strtof(conf.c_str(), nullptr);
  d.cls = std::stoi(cls);
  return d;
}

}  // namespace

TEST_CASE("label lines reproduce upstream's expected/*.txt byte for byte" * doctest::test_suite("shared_weights")) {
  if (!yv9test::have_shared_weights()) return;
  const std::string dir = yv9test::shared_weights_dir();
  int files = 0, lines = 0;
  for (const fs::path& sub : {fs::path(dir) / "expected", fs::path(dir) / "expected" / "extra-conf0.1"}) {
    const int files_before = files;
    for (const auto& e : fs::directory_iterator(sub)) {
      if (e.path().extension() != ".txt") continue;
      const fs::path img = fs::path(dir) / "samples" / "images" / (e.path().stem().string() + ".png");
      REQUIRE(fs::exists(img));
      const Image im = load_image(img.string());
      const std::string text = read_text(e.path());
      std::vector<std::string> file_lines;
      std::istringstream is(text);
      for (std::string l; std::getline(is, l);) file_lines.push_back(l);
      // The file lists detections lowest score first; NMS order is the reverse.
      std::vector<Detection> dets;
      for (auto it = file_lines.rbegin(); it != file_lines.rend(); ++it)
        dets.push_back(detection_from_line(*it, im.width, im.height));
      INFO(e.path().string());
      CHECK(yolo_labels(dets, im.width, im.height, true) == text);
      ++files, lines += static_cast<int>(file_lines.size());
    }
    // how many files there are follows the data (none for an image without boxes); an empty
    // folder would check nothing
    INFO(sub.string());
    CHECK(files > files_before);
  }
  MESSAGE("label files reproduced: " << files << " (" << lines << " lines)");
}

TEST_CASE("label line arithmetic and formatting (float32 + %g)") {
  Detection d;
  d.x1 = 95, d.y1 = 83, d.x2 = 280, d.y2 = 269, d.conf = 0.696313f, d.cls = 3;  // xc = 187.5 / 640 ...
  CHECK(yolo_label_line(d, 640, 480, true) == "3 0.292969 0.366667 0.289062 0.3875 0.696313");
  CHECK(yolo_label_line(d, 640, 480, false) == "3 0.292969 0.366667 0.289062 0.3875");
  d.x1 = 0, d.x2 = 0, d.y1 = 0, d.y2 = 0, d.conf = 1e-5f, d.cls = 0;
  CHECK(yolo_label_line(d, 640, 480, true) == "0 0 0 0 0 1e-05");
  CHECK(yolo_labels({}, 640, 480, true).empty());
  const fs::path dir = scratch("labels");
  CHECK_FALSE(write_yolo_labels((dir / "none.txt").string(), {}, 640, 480, true));
  CHECK_FALSE(fs::exists(dir / "none.txt"));  // upstream writes no file without detections
  CHECK(write_yolo_labels((dir / "one.txt").string(), {d}, 640, 480, true));
  CHECK(read_text(dir / "one.txt") == "0 0 0 0 0 1e-05\n");
}

TEST_CASE("JSON document") {
  Detection a;
  a.x1 = 10, a.y1 = 20.5f, a.x2 = 30, a.y2 = 40, a.conf = 0.875f, a.cls = 1;
  Detection b = a;
  b.cls = 7, b.conf = 0.1f;
  const std::string j = detections_json("dir/\"q\"\\x.jpg", 640, 480, {a, b}, {"circle", "square"});
  CHECK(j ==
        "{\"image\": \"dir/\\\"q\\\"\\\\x.jpg\", \"width\": 640, \"height\": 480, \"detections\": [\n"
        "  {\"class_id\": 1, \"name\": \"square\", \"confidence\": 0.875, \"box\": [10, 20.5, 30, 40]},\n"
        "  {\"class_id\": 7, \"name\": \"7\", \"confidence\": 0.1, \"box\": [10, 20.5, 30, 40]}\n"
        "]}\n");
  CHECK(detections_json("a.png", 1, 2, {}, {}) == "{\"image\": \"a.png\", \"width\": 1, \"height\": 2, \"detections\": []}\n");
  CHECK(json_string(std::string("a\nb\x01", 4)) == "\"a\\nb\\u0001\"");
  CHECK(json_number(std::nanf("")) == "null");
  CHECK(json_number(0.696313f) == "0.696313");
  CHECK(std::strtof(json_number(0.1f + 1e-8f).c_str(), nullptr) == 0.1f + 1e-8f);  // round-trips
}

TEST_CASE("write_image: PNG round-trips exactly, JPEG approximately, writes are atomic") {
  Image im(40, 30);
  for (std::size_t i = 0; i < im.bgr.size(); ++i) im.bgr[i] = static_cast<std::uint8_t>(i * 7 % 251);
  const fs::path dir = scratch("images");
  write_image((dir / "a.png").string(), im);
  CHECK(load_image((dir / "a.png").string()).bgr == im.bgr);
  Image flat(40, 30, 128);
#ifndef YV9_TEST_SANITIZED
  write_image((dir / "b.JPG").string(), flat);
  const Image back = load_image((dir / "b.JPG").string());
  int maxd = 0;
  for (std::size_t i = 0; i < back.bgr.size(); ++i) maxd = std::max(maxd, std::abs(int(back.bgr[i]) - 128));
  CHECK(maxd <= 2);
#else
  MESSAGE("sanitizer build: JPEG encoding (stb_image_write, UBSan-unclean) not exercised");
  write_image((dir / "b.png").string(), flat);
#endif
  CHECK_THROWS_AS(write_image((dir / "c.gif").string(), im), UsageError);
  CHECK_THROWS_AS(write_image((dir / "missing" / "d.png").string(), im), IoError);
  // overwrite in place, no temporary files left behind
  write_image((dir / "a.png").string(), flat);
  CHECK(load_image((dir / "a.png").string()).bgr == flat.bgr);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 2);
}

TEST_CASE("font table is complete and indexed by character code") {
  for (int i = 0; i < 95; ++i) {
    CHECK(font::kGlyphs[i].ch == static_cast<char>(32 + i));
    for (int r = 0; r < font::kGlyphH; ++r) {
      const std::string row = font::kGlyphs[i].rows[r];
      CHECK(row.size() == 5);
      CHECK(row.find_first_not_of(".#") == std::string::npos);
    }
  }
  CHECK(font::ink('A', 0, 1));
  CHECK_FALSE(font::ink(' ', 2, 3));
  CHECK(&font::glyph('\x01') == &font::glyph('?'));
}

TEST_CASE("annotation: upstream line width, palette, box and label placement, clipping") {
  CHECK(annotation_line_width(773, 512) == 2);   // (512 + 773 + 3) / 2 * 0.003 = 1.93
  CHECK(annotation_line_width(1920, 1080) == 5); // 4.5045
  CHECK(annotation_line_width(160, 160) == 2);
  const Bgr c0 = class_color(0);  // FF3838 -> BGR (0x38, 0x38, 0xFF)
  CHECK((c0.b == 0x38 && c0.g == 0x38 && c0.r == 0xFF));
  const Bgr c21 = class_color(21);  // wraps to 1: FF9D97
  CHECK((c21.b == 0x97 && c21.g == 0x9D && c21.r == 0xFF));

  Image im(200, 120, 114);
  Detection d;
  d.x1 = 50, d.y1 = 60, d.x2 = 150, d.y2 = 100, d.conf = 0.8765f, d.cls = 0;
  CHECK(detection_label(d, {"circle"}) == "circle 0.88");
  CHECK(detection_label(d, {}) == "0 0.88");
  draw_detections(im, {d}, {"circle"});
  auto is = [&](int x, int y, Bgr c) {
    const std::uint8_t* p = im.px(x, y);
    return p[0] == c.b && p[1] == c.g && p[2] == c.r;
  };
  CHECK(is(100, 100, c0));         // bottom edge
  CHECK(is(150, 80, c0));          // right edge
  CHECK(is(100, 80, {114, 114, 114}));  // inside untouched
  // label tab above the box (60 - 14 >= 3), with white text ink inside it
  int white = 0;
  for (int y = 40; y < 60; ++y)
    for (int x = 50; x < 150; ++x) white += is(x, y, {255, 255, 255});
  CHECK(white > 20);
  // boxes at and beyond the borders, NaN and huge values: clipped, no crash
  Detection e = d;
  e.x1 = -50, e.y1 = -10, e.x2 = 1e9f, e.y2 = std::nanf("");
  draw_detections(im, {e, d}, {"circle"});
  Detection top = d;
  top.y1 = 2;  // label does not fit above: drawn inside
  draw_detections(im, {top}, {"a-very-long-class-name-that-overflows"});
}

TEST_CASE("annotation: upstream's expected detections drawn on a sample photo" *
          doctest::test_suite("shared_weights")) {
  if (!yv9test::have_shared_weights()) return;
  const std::string wdir = yv9test::shared_weights_dir();
  Image s = load_image(wdir + "/samples/images/samples_00003.png");
  std::vector<Detection> dets;
  const std::string text = read_text(fs::path(wdir) / "expected" / "extra-conf0.1" / "samples_00003.txt");
  std::istringstream ls(text);
  for (std::string l; std::getline(ls, l);) dets.insert(dets.begin(), detection_from_line(l, s.width, s.height));
  REQUIRE(!dets.empty());
  draw_detections(s, dets, {"circle", "square", "triangle", "star"});
  const fs::path out = scratch("annotated") / "samples_00003.png";
  write_image(out.string(), s);
  CHECK(load_image(out.string()).bgr == s.bgr);  // a picture to look at; PNG round-trips exactly
  MESSAGE("annotated example written to " << out.string());
}
