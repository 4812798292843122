// SPDX-License-Identifier: MIT
// The bundled demo model on the bundled sample photos gives upstream detect.py's boxes
// (weights/expected, written by upstream with --save-txt --save-conf).
#include <yv9/vision/all.hpp>
#include <yv9/vision/detector.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "support.hpp"

using namespace yv9;

namespace {

struct Line {
  int cls;
  double xc, yc, w, h, conf;
};

std::vector<Line> read_lines(const std::string& path) {
  std::vector<Line> out;
  std::ifstream f(path);
  Line l;
  while (f >> l.cls >> l.xc >> l.yc >> l.w >> l.h >> l.conf) out.push_back(l);
  return out;
}

void check_samples(double conf, const std::string& expected_dir) {
  vision::DetectorOptions o;
  o.img = 160;
  o.square = true;
  o.nms.conf_thres = conf;
  vision::Detector det(yv9test::source_dir() + "/weights/gelan-t-mmqa-shapes.bin", o);
  CHECK(det.names() == std::vector<std::string>{"circle", "square", "triangle", "star"});
  int boxes = 0;
  for (int i = 0; i < 4; ++i) {
    const std::string name = "samples_0000" + std::to_string(i);
    CAPTURE(name);
    vision::Image im = vision::load_image(yv9test::source_dir() + "/weights/samples/" + name + ".png");
    vision::DetectionResult r = det.detect(im);
    vision::round_boxes(r.detections);
    // detect.py writes `reversed(det)`: lowest confidence first
    std::vector<Line> want = read_lines(expected_dir + "/" + name + ".txt");
    std::reverse(want.begin(), want.end());
    REQUIRE(r.detections.size() == want.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
      const vision::Detection& d = r.detections[k];
      const Line& w = want[k];
      CHECK(d.cls == w.cls);
      // labels carry 6 significant digits of normalised coordinates; agreement with upstream's
      // detect.py is required to 1 px
      CHECK(std::abs((d.x1 + d.x2) / 2 - w.xc * im.width) <= 1.0);
      CHECK(std::abs((d.y1 + d.y2) / 2 - w.yc * im.height) <= 1.0);
      CHECK(std::abs((d.x2 - d.x1) - w.w * im.width) <= 1.0);
      CHECK(std::abs((d.y2 - d.y1) - w.h * im.height) <= 1.0);
      // confidence: fp16 weights in fp32, 6-digit labels; the fixtures' score noise floor is ~1e-5
      CHECK(std::abs(d.conf - w.conf) <= 1e-4);
      ++boxes;
    }
  }
  MESSAGE("conf " << conf << ": " << boxes << " boxes match upstream");
}

}  // namespace

TEST_CASE("demo: detections on the sample photos equal upstream detect.py's (conf 0.25 and 0.1)") {
  check_samples(0.25, yv9test::source_dir() + "/weights/expected");
  check_samples(0.1, yv9test::source_dir() + "/weights/expected/conf0.1");
}
