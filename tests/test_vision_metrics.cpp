// SPDX-License-Identifier: MIT
// vision/metrics.hpp (val.py's matching, AP, P/R at the best F1) and vision/dataset.hpp (data
// yaml, label files, rect batches): hand-computed cases, and random cases against the NumPy
// transcription in tests/make_metrics_cases.py (tests/data/metrics/cases.json).
#include <yv9/io/json.hpp>
#include <yv9/vision/dataset.hpp>
#include <yv9/vision/metrics.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support.hpp"

using namespace yv9::vision;
namespace fs = std::filesystem;

namespace {

Detection det(float x1, float y1, float x2, float y2, float conf, int cls) {
  Detection d;
  d.x1 = x1, d.y1 = y1, d.x2 = x2, d.y2 = y2, d.conf = conf, d.cls = cls;
  return d;
}

yv9::io::Json load_cases() {
  const std::string path = yv9test::data_dir() + "/metrics/cases.json";
  return yv9::io::parse_json(yv9::io::read_text_file(path, 16u << 20), path);
}

std::vector<double> doubles(const yv9::io::Json& a) {
  std::vector<double> v;
  for (const auto& x : a.as_array()) v.push_back(x.as_double());
  return v;
}

struct TempDir {
  fs::path root;
  TempDir() {
    root = fs::path(YV9_BINARY_DIR) / ("metrics-test-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = root / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

}  // namespace

TEST_CASE("np_interp: ties take the last equal xp, ends take left / the last value") {
  const std::vector<double> xp = {0, 1, 1, 2}, fp = {0, 5, 7, 9};
  CHECK(np_interp(-1, xp, fp, -3, 42) == -3);
  CHECK(np_interp(3, xp, fp, -3, 42) == 42);
  CHECK(np_interp(0, xp, fp, -3, 42) == 0);
  CHECK(np_interp(0.5, xp, fp, -3, 42) == doctest::Approx(2.5));
  CHECK(np_interp(1, xp, fp, -3, 42) == 7);
  CHECK(np_interp(1.5, xp, fp, -3, 42) == doctest::Approx(8));
  CHECK(np_interp(2, xp, fp, -3, 42) == 9);
}

TEST_CASE("compute_ap on curves computed by hand") {
  // Perfect detector: envelope 1 up to recall 1, but the sentinel (1, 0) shares x = 1 and numpy's
  // interp takes the last equal point: the last of the 101 samples is 0 -> 0.99 + 0.01 / 2.
  CHECK(compute_ap({1.0}, {1.0}) == doctest::Approx(0.995).epsilon(1e-12));
  // Half the objects found at precision 1: 1 up to 0.5, then linear down to (1, 0): 0.5 + 0.25.
  CHECK(compute_ap({0.5}, {1.0}) == doctest::Approx(0.75).epsilon(1e-12));
  // Precision envelope: a later higher precision lifts the earlier plateau.
  // recall 0.5 @ p 0.5, recall 1 @ p 1 -> envelope 1 everywhere up to 1 -> 0.995.
  CHECK(compute_ap({0.5, 1.0}, {0.5, 1.0}) == doctest::Approx(0.995).epsilon(1e-12));
  // Nothing found: recall 0 at precision 0; x = 0 takes the last of the points at recall 0 (0): 0.
  CHECK(compute_ap({0.0}, {0.0}) == 0.0);
}

TEST_CASE("smooth: a box filter of 2 * round(n f) / 2 + 1 taps with padded ends") {
  std::vector<double> y(1000, 0.25);
  for (double v : smooth(y, 0.1)) CHECK(v == doctest::Approx(0.25).epsilon(1e-14));
  // A step 0 -> 1 at index 500: the 101-tap mean crosses 0.5 halfway (k = 500 sees 51 ones).
  std::vector<double> s(1000, 0.0);
  for (std::size_t i = 500; i < 1000; ++i) s[i] = 1.0;
  const std::vector<double> o = smooth(s, 0.1);
  REQUIRE(o.size() == 1000);
  CHECK(o[449] == 0.0);
  CHECK(o[450] == doctest::Approx(1.0 / 101));
  CHECK(o[500] == doctest::Approx(51.0 / 101));
  CHECK(o[550] == doctest::Approx(1.0));
  CHECK(o[999] == doctest::Approx(1.0));
}

TEST_CASE("match_predictions: each label goes to its most confident match, not its best IoU") {
  const std::vector<LabelBox> labels = {{0, 0, 0, 10, 10}};
  // d0 (more confident) IoU 0.62, d1 IoU 0.92, d2 the wrong class at IoU 1.
  const std::vector<Detection> preds = {det(0, 0, 10, 6.2f, 0.9f, 0), det(0, 0, 10, 9.2f, 0.8f, 0), det(0, 0, 10, 10, 0.7f, 1)};
  const std::vector<Correct> c = match_predictions(preds, labels);
  const auto thr = iou_thresholds();
  for (int t = 0; t < kIouSteps; ++t) {
    CAPTURE(thr[t]);
    CHECK(c[0][t] == (thr[t] <= 0.62f));                    // wins every threshold it reaches
    CHECK(c[1][t] == (thr[t] > 0.62f && thr[t] <= 0.92f));  // only where d0 no longer qualifies
    CHECK_FALSE(c[2][t]);
  }
  CHECK(thr[0] == 0.5f);
  CHECK(thr[9] == 0.95f);
  // Two labels, one prediction overlapping both: it counts once, for its better IoU's label.
  const std::vector<LabelBox> two = {{0, 0, 0, 10, 10}, {0, 0, 0, 10, 8}};
  const std::vector<Correct> c2 = match_predictions({det(0, 0, 10, 8, 0.5f, 0)}, two);
  CHECK(c2[0][9]);  // IoU 1 with the second label
}

TEST_CASE("ap_per_class on a case computed by hand") {
  // Class 0: 2 labels; predictions (conf, tp@0.5): (0.9, 1), (0.8, 0), (0.7, 1). Class 1: 1 label, no prediction.
  std::vector<PredictionRecord> p(3);
  p[0].conf = 0.9f, p[0].tp.fill(true);
  p[1].conf = 0.8f;
  p[2].conf = 0.7f, p[2].tp.fill(true);
  const Metrics m = ap_per_class(p, {0, 0, 1});
  REQUIRE(m.classes.size() == 2);
  // recall 0.5, 0.5, 1; precision 1, 0.5, 2/3 -> envelope 1 (to 0.5), 2/3 (to 1), sentinel 0.
  // AP = 0.5 * 1 + 0.5 * 2/3 - corrections at the jumps (trapezoids across them):
  //   [0.5, 0.51]: (2/3 + 2/3)/2, and samples at 0.5 -> 1? x = 0.5 equals recall[1] (ties: last), so
  //   envelope there is 2/3: the trapezoid [0.49, 0.5] is (1 + 2/3)/2 * 0.01, [0.99, 1] is (2/3 + 0)/2.
  const double ap = 0.49 * 1 + 0.01 * (1 + 2.0 / 3) / 2 + 0.49 * (2.0 / 3) + 0.01 * (2.0 / 3 + 0) / 2;
  CHECK(m.classes[0].ap50 == doctest::Approx(ap).epsilon(1e-12));
  CHECK(m.classes[1].ap50 == 0);
  CHECK(m.classes[1].p == 0);
  CHECK(m.map50 == doctest::Approx(ap / 2).epsilon(1e-12));
}

TEST_CASE("matching and ap_per_class agree with the NumPy transcription on random cases") {
  const yv9::io::Json doc = load_cases();
  int n_case = 0;
  for (const yv9::io::Json& cs : doc.find("cases")->as_array()) {
    ++n_case;
    CAPTURE(n_case);
    MetricsAccumulator acc;
    for (const yv9::io::Json& im : cs.find("images")->as_array()) {
      std::vector<LabelBox> labels;
      for (const auto& l : im.find("labels")->as_array()) {
        const std::vector<double> v = doubles(l);
        labels.push_back({static_cast<int>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2]), static_cast<float>(v[3]),
                          static_cast<float>(v[4])});
      }
      std::vector<Detection> preds;
      for (const auto& d : im.find("preds")->as_array()) {
        const std::vector<double> v = doubles(d);
        preds.push_back(det(static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2]),
                            static_cast<float>(v[3]), static_cast<float>(v[4]), static_cast<int>(v[5])));
      }
      const std::vector<Correct> c = match_predictions(preds, labels);
      const auto& want = im.find("correct")->as_array();
      REQUIRE(want.size() == c.size());
      for (std::size_t i = 0; i < c.size(); ++i)
        for (int t = 0; t < kIouSteps; ++t) CHECK(c[i][t] == (want[i].as_array()[static_cast<std::size_t>(t)].as_int() != 0));
      acc.add_image(preds, labels);
    }
    const Metrics m = acc.compute();
    const yv9::io::Json* want = cs.find("metrics");
    if (!want) {
      CHECK(m.classes.empty());
      CHECK(m.map50 == 0);
      continue;
    }
    // Both sides compute in double; only summation order differs (np.trapz, np.convolve).
    const double tol = 1e-9;
    const auto& cls = want->find("classes")->as_array();
    REQUIRE(m.classes.size() == cls.size());
    for (std::size_t i = 0; i < cls.size(); ++i) {
      CHECK(m.classes[i].cls == cls[i].as_int());
      CHECK(m.classes[i].instances == want->find("instances")->as_array()[i].as_int());
      CHECK(m.classes[i].p == doctest::Approx(want->find("p")->as_array()[i].as_double()).epsilon(tol));
      CHECK(m.classes[i].r == doctest::Approx(want->find("r")->as_array()[i].as_double()).epsilon(tol));
      CHECK(m.classes[i].ap50 == doctest::Approx(want->find("ap50")->as_array()[i].as_double()).epsilon(tol));
      CHECK(m.classes[i].ap == doctest::Approx(want->find("ap")->as_array()[i].as_double()).epsilon(tol));
    }
    CHECK(m.mp == doctest::Approx(want->find("mp")->as_double()).epsilon(tol));
    CHECK(m.mr == doctest::Approx(want->find("mr")->as_double()).epsilon(tol));
    CHECK(m.map50 == doctest::Approx(want->find("map50")->as_double()).epsilon(tol));
    CHECK(m.map == doctest::Approx(want->find("map")->as_double()).epsilon(tol));
  }
  CHECK(n_case == 6);
  for (const yv9::io::Json& cv : doc.find("curves")->as_array())
    CHECK(compute_ap(doubles(*cv.find("recall")), doubles(*cv.find("precision"))) ==
          doctest::Approx(cv.find("ap")->as_double()).epsilon(1e-12));
  const std::vector<double> sm = smooth(doubles(*doc.find("smooth")->find("y")), 0.1);
  const std::vector<double> want = doubles(*doc.find("smooth")->find("out"));
  REQUIRE(sm.size() == want.size());
  for (std::size_t i = 0; i < sm.size(); ++i) CHECK(sm[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

TEST_CASE("multi-label NMS keeps every class above the threshold of an anchor") {
  // 2 anchors, nc = 3: anchor 0 scores (0.6, 0.3, 0.0005), anchor 1 far away (0.0, 0.0, 0.2).
  const int A = 2;
  std::vector<float> pred = {10, 100, 10, 100, 4, 4, 4, 4, 0.6f, 0.0f, 0.3f, 0.0f, 0.0005f, 0.2f};
  NmsOptions o;
  o.conf_thres = 0.001, o.iou_thres = 0.7;
  const std::vector<Detection> single = non_max_suppression(pred.data(), 7, A, o);
  REQUIRE(single.size() == 2);
  CHECK(single[0].cls == 0);
  CHECK(single[1].cls == 2);
  o.multi_label = true;
  const std::vector<Detection> multi = non_max_suppression(pred.data(), 7, A, o);
  REQUIRE(multi.size() == 3);  // the same box twice (classes never suppress each other), by score
  CHECK(multi[0].cls == 0);
  CHECK(multi[1].cls == 1);
  CHECK(multi[1].conf == 0.3f);
  CHECK(multi[2].cls == 2);
  CHECK(multi[0].x1 == multi[1].x1);
}

TEST_CASE("rect batches: upstream's shape rule") {
  // 640 x 480 (wide, ar 0.75), 480 x 640 (tall), 500 x 500.
  auto one = [](int w, int h) { return rect_batches({{w, h}}, 640, 32, 32, 0.5).at(0); };
  CHECK(one(640, 480).height == 512);  // ceil(0.75 * 20 + 0.5) * 32
  CHECK(one(640, 480).width == 672);
  CHECK(one(480, 640).height == 672);
  CHECK(one(480, 640).width == 512);
  CHECK(one(500, 500).height == 672);
  CHECK(one(160, 160).height == 672);
  CHECK(rect_batches({{160, 160}}, 160, 32, 32, 0.5).at(0).width == 192);  // val-public
  // Sorted by h / w; batches of 2: (tall, wide) mixed -> square; wide pair -> wide shape.
  const auto b = rect_batches({{480, 640}, {640, 480}, {640, 400}, {640, 320}}, 640, 2, 32, 0.5);
  REQUIRE(b.size() == 2);
  CHECK(b[0].items == std::vector<std::size_t>{3, 2});
  CHECK(b[0].height == 416);  // max ar 0.625 -> ceil(12.5 + 0.5) * 32
  CHECK(b[1].items == std::vector<std::size_t>{1, 0});
  CHECK(b[1].height == 672);
  CHECK(b[1].width == 672);
}

TEST_CASE("label paths: the last /images/ becomes /labels/, the extension .txt") {
  CHECK(label_path_for("/d/images/a/images/x.y.jpg") == "/d/images/a/labels/x.y.txt");
  CHECK(label_path_for("/d/pics/x.png") == "/d/pics/x.txt");
}

TEST_CASE("label files: upstream's checks, file and line named") {
  TempDir t;
  auto read = [&](const std::string& text) { return read_label_file(t.write("l.txt", text), 4); };
  LabelFile ok = read("0 0.5 0.5 0.2 0.2\r\n\n3 0.1 0.1 0.1 0.1\n0 0.5 0.5 0.2 0.2\n\n");
  CHECK(ok.status == LabelFile::Status::Ok);
  CHECK(ok.rows.size() == 2);
  CHECK(ok.duplicates == 1);
  CHECK(read("").status == LabelFile::Status::Empty);
  CHECK(read(" \n\n").status == LabelFile::Status::Empty);
  CHECK(read_label_file((t.root / "absent.txt").string(), 4).status == LabelFile::Status::Missing);
  struct Bad {
    const char* text;
    const char* where;
  } bad[] = {{"0 0.5 0.5 0.2\n", ":1: labels require 5 columns, 4 found"},
             {"0 0.5 0.5 0.2 0.2\n1 0.5 -0.5 0.2 0.2\n", ":2: negative"},
             {"0 0.5 0.5 1.5 0.2\n", ":1: non-normalized"},
             {"4 0.5 0.5 0.5 0.2\n", ":1: class 4 is not an integer in [0, 4)"},
             {"1.5 0.5 0.5 0.5 0.2\n", ":1: class 1.5"},
             {"0 0.5 nan 0.5 0.2\n", ":1: negative or NaN"},
             {"0 0.5 0x1 0.5 0.2\n", ":1: '0x1' is not a number"},
             {"0 0.5 0.5 0.5 0.2\n\n   \n1 0.5 0.5 0.5 0.2\n", ":3: blank row"},
             {"0 0.1 0.1 0.2 0.1 0.2 0.2 0.1\n", ":1: a polygon needs"}};
  for (const Bad& b : bad) {
    CAPTURE(b.text);
    const LabelFile f = read(b.text);
    CHECK(f.status == LabelFile::Status::Corrupt);
    CHECK(f.problem.find(b.where) != std::string::npos);
    CHECK(f.problem.find("l.txt") != std::string::npos);
    CHECK(f.problem.find('\n') == std::string::npos);
  }
  // Polygons: any row longer than 6 values makes every row a polygon; the box is its extent.
  const LabelFile poly = read("2 0.1 0.2 0.5 0.2 0.3 0.6\n1 0.1 0.1 0.3 0.3\n");
  REQUIRE(poly.status == LabelFile::Status::Ok);
  REQUIRE(poly.rows.size() == 2);
  CHECK(poly.rows[0].cx == doctest::Approx(0.3));
  CHECK(poly.rows[0].h == doctest::Approx(0.4));
  CHECK(poly.rows[1].w == doctest::Approx(0.2));
}

TEST_CASE("data yaml: upstream's forms, and one-line errors naming the file") {
  TempDir t;
  fs::create_directories(t.root / "ds/images/val");
  t.write("ds/list.txt", "./images/val/a.jpg\n./images/val/b.PNG\nnotes.md\n");
  const DataConfig a = load_data_config(t.write("a.yaml", "path: ds\nval: [images/val, list.txt]\nnames: {1: b, 0: a}\n"));
  CHECK(a.names == std::vector<std::string>{"a", "b"});
  REQUIRE(a.split("val"));
  CHECK(a.split("val")->size() == 2);
  CHECK(a.split("val")->at(0) == fs::weakly_canonical(t.root / "ds/images/val").string());
  CHECK_FALSE(a.split("test"));
  const DataConfig b = load_data_config(t.write("b.yaml", "val: ds/images/val\nnc: 3\n"));
  CHECK(b.names == std::vector<std::string>{"class0", "class1", "class2"});
  const DataConfig c = load_data_config(t.write("c.yaml", "val: ds/images/val\nnc: 3\nnames: [x, y]\n"));
  CHECK(c.names.size() == 2);
  CHECK(c.warnings.size() == 1);
  // The .txt list: "./" relative to the list's folder, other names filtered by extension.
  const std::vector<std::string> files = list_images({fs::weakly_canonical(t.root / "ds/list.txt").string()});
  REQUIRE(files.size() == 2);
  CHECK(files[0].find("/ds/images/val/a.jpg") != std::string::npos);
  CHECK_THROWS_AS(list_images({(t.root / "ds/images/val").string()}), yv9::IoError);  // empty folder
  CHECK_THROWS_AS(list_images({(t.root / "nope").string()}), yv9::IoError);
  for (const char* text : {"- a\n- b\n", "val: x\n", "val: x\nnames: {0: a, 2: b}\n", "val: x\nnames: 3\n",
                           "val: x\nnc: -1\n", "val: [1, 2]\nnames: [a]\n", "val: x\nnames: []\n"}) {
    CAPTURE(text);
    try {
      load_data_config(t.write("bad.yaml", text));
      FAIL("accepted");
    } catch (const yv9::Error& e) {
      const std::string m = e.what();
      CHECK(m.find("bad.yaml") != std::string::npos);
      CHECK(m.find('\n') == std::string::npos);
    }
  }
}
