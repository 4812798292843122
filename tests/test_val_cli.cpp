// SPDX-License-Identifier: MIT
// build/bin/val as a user runs it: on the shared val-public set its numbers must be upstream
// val.py's (metrics.json) within 0.002; on hostile data yaml files, label files and images it
// refuses with one stderr line and exit 1 (bad input) or 2 (usage), or, for a bad image or label
// file among good ones, warns (naming the file and line), leaves that image out and goes on.
//
// The hostile cases run the demo model of this repository (weights/) on small images written here.
#include <yv9/io/json.hpp>
#include <yv9/ops/bf16.hpp>
#include <yv9/vision/output.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

std::string tool() { return std::string(YV9_BINARY_DIR) + "/bin/val"; }
std::string demo_weights() { return yv9test::source_dir() + "/weights/gelan-t-mmqa-shapes.bin"; }

bool have_tool() {
  if (yv9test::exists(tool())) return true;
  yv9test::skip(tool() + " not built (configure with YV9_BUILD_TOOLS=ON)");
  return false;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Scratch {
  fs::path root;
  explicit Scratch(const std::string& tag) {
    root = fs::path(YV9_BINARY_DIR) / ("val-cli-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string write(const std::string& rel, const std::string& text) const {
    const fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

struct Run {
  int code = -1;
  std::vector<std::string> out, err;
  std::string err_text() const {
    std::string s;
    for (const auto& l : err) s += l + "\n";
    return s;
  }
};

Run run_val(const Scratch& s, const std::string& args) {
  const fs::path err = s.root / "stderr.txt", out = s.root / "stdout.txt";
  std::string cmd;
  if (const char* emu = std::getenv("YV9_TEST_EMULATOR")) cmd = std::string(emu) + " ";
  cmd += quote(tool()) + " " + args + " </dev/null >" + quote(out.string()) + " 2>" + quote(err.string());
  const int st = std::system(cmd.c_str());
  Run r;
  r.code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream e(err), o(out);
  for (std::string line; std::getline(e, line);) r.err.push_back(line);
  for (std::string line; std::getline(o, line);) r.out.push_back(line);
  return r;
}

void check_refused(const Run& r, int code, const std::string& expect) {
  CAPTURE(r.err_text());
  CHECK(r.code == code);
  REQUIRE(r.err.size() == 1);
  CHECK(r.err[0].rfind("val: ", 0) == 0);
  CHECK(r.err[0].find(expect) != std::string::npos);
  CHECK(r.out.empty());
}

yv9::io::Json read_json(const std::string& path) {
  return yv9::io::parse_json(yv9::io::read_text_file(path, 16u << 20), path);
}

// A 160x160 grey PNG with a white square, and its label.
void write_sample(const Scratch& s, const std::string& name, const std::string& label) {
  yv9::vision::Image im(160, 160, 114);
  for (int y = 40; y < 100; ++y)
    for (int x = 50; x < 110; ++x)
      for (int c = 0; c < 3; ++c) im.px(x, y)[c] = 250;
  fs::create_directories(s.root / "ds/images");
  yv9::vision::write_image((s.root / "ds/images" / (name + ".png")).string(), im);
  if (!label.empty()) s.write("ds/labels/" + name + ".txt", label);
}

}  // namespace

TEST_CASE("val reproduces upstream val.py on val-public within 0.002" * doctest::test_suite("shared_weights")) {
  if (!yv9test::have_shared_weights()) return;
  if (!have_tool()) return;
  const std::string set = yv9test::shared_weights_dir() + "/val-public";
  if (!yv9test::exists(set + "/metrics.json")) {
    yv9test::skip(set + "/metrics.json not found: the val-public set is missing from the shared weights");
    return;
  }
  Scratch s("public");
  std::string names;
  {
    std::ifstream f(yv9test::shared_weights_dir() + "/classes.txt");
    for (std::string line; std::getline(f, line);)
      if (!line.empty()) names += (names.empty() ? "" : ", ") + line;
  }
  const std::string yaml = s.write("data.yaml", "path: " + set + "\nval: images\nnames: [" + names + "]\n");
  const std::string json = (s.root / "out.json").string();
  const Run r = run_val(s, "--weights " + quote(demo_weights()) + " --data " + quote(yaml) +
                               " --img 160 --batch 32 --threads 2 --json " + quote(json));
  CAPTURE(r.err_text());
  REQUIRE(r.code == 0);
  REQUIRE(!r.out.empty());
  CHECK(r.out.back().rfind("val: images=40 instances=184 P=0.", 0) == 0);

  const yv9::io::Json doc = read_json(set + "/metrics.json");
  REQUIRE(doc.find("val-public"));
  const yv9::io::Json& want = *doc.find("val-public");
  const yv9::io::Json got = read_json(json);
  // metrics.json holds upstream's printed values (3 significant digits); 0.002 is the issue's bound.
  const double tol = 0.002;
  for (const auto& [name, w] : want.items()) {
    CAPTURE(name);
    const yv9::io::Json* g = name == "all" ? got.find("all") : got.find("classes")->find(name);
    REQUIRE(g);
    CHECK(g->find("images")->as_int() == w.find("images")->as_int());
    CHECK(g->find("instances")->as_int() == w.find("instances")->as_int());
    for (const char* k : {"P", "R", "mAP50", "mAP50_95"}) {
      CAPTURE(k);
      CHECK(std::abs(g->find(k)->as_double() - w.find(k)->as_double()) <= tol);
    }
  }
  CHECK(want.size() == 5);

  // bf16 compute (issue: mAP50 and mAP50-95 within 0.005 of fp32), where the CPU has it
  if (!yv9::ops::cpu_has_avx512_bf16()) {
    MESSAGE("SKIPPED the bf16 half: this CPU has no AVX512_BF16");
    return;
  }
  const std::string json16 = (s.root / "out16.json").string();
  const Run r16 = run_val(s, "--weights " + quote(demo_weights()) + " --data " + quote(yaml) +
                                 " --img 160 --batch 32 --threads 2 --precision bf16 --json " + quote(json16));
  CAPTURE(r16.err_text());
  REQUIRE(r16.code == 0);
  const yv9::io::Json got16 = read_json(json16);
  for (const char* k : {"mAP50", "mAP50_95"}) {
    CAPTURE(k);
    const double a = got.find("all")->find(k)->as_double(), b = got16.find("all")->find(k)->as_double();
    MESSAGE("val-public " << std::string(k) << ": fp32 " << a << ", bf16 " << b);
    CHECK(std::abs(a - b) <= 0.005);
  }
}

TEST_CASE("val on bad images and label files among good ones: warns, leaves them out, goes on") {
  if (!have_tool()) return;
  Scratch s("mixed");
  write_sample(s, "a", "1 0.5 0.4375 0.375 0.375\n");
  write_sample(s, "b", "1 0.5 0.4375 0.375 0.375\n1 0.5 0.4375 0.375 0.375\n");  // a duplicate row
  write_sample(s, "c", "1 0.5 0.4375 0.375 0.375\n7 0.5 0.5 0.1 0.1\n");         // class out of range
  write_sample(s, "d", "1 0.5 0.5 1.375 0.375\n");                                // off the image
  write_sample(s, "e", "");                                                       // no label file
  s.write("ds/images/f.png", "not a png");                                        // unreadable image
  const std::string yaml = s.write("data.yaml", "path: ds\nval: images\nnames: {0: circle, 1: square, 2: triangle, 3: star}\n");
  const std::string json = (s.root / "out.json").string();
  const Run r = run_val(s, "--weights " + quote(demo_weights()) + " --data " + quote(yaml) + " --img 160 --threads 1 --json " + quote(json));
  const std::string err = r.err_text();
  CAPTURE(err);
  REQUIRE(r.code == 0);
  CHECK(err.find("c.txt:2: class 7 is not an integer in [0, 4)") != std::string::npos);
  CHECK(err.find("d.txt:1: non-normalized") != std::string::npos);
  CHECK(err.find("f.png: not a JPEG, PNG or BMP image") != std::string::npos);
  CHECK(err.find("b.txt: 1 duplicate labels removed") != std::string::npos);
  REQUIRE(!r.out.empty());
  CHECK(r.out.back().rfind("val: images=3 instances=2 ", 0) == 0);  // a, b (one row left), e
  const yv9::io::Json got = read_json(json);
  const yv9::io::Json* c = got.find("dataset");
  CHECK(c->find("listed")->as_int() == 6);
  CHECK(c->find("corrupt_labels")->as_int() == 2);
  CHECK(c->find("unreadable_images")->as_int() == 1);
  CHECK(c->find("duplicate_rows")->as_int() == 1);
  CHECK(c->find("without_labels")->as_int() == 1);
}

TEST_CASE("val refuses hostile data yaml files and arguments with one line") {
  if (!have_tool()) return;
  Scratch s("hostile");
  write_sample(s, "a", "0 0.5 0.5 0.2 0.2\n");
  const std::string w = " --weights " + quote(demo_weights()) + " --img 160";
  auto data = [&](const std::string& text) { return " --data " + quote(s.write("d.yaml", text)); };
  const std::string good = "path: ds\nval: images\nnames: [circle, square, triangle, star]\n";
  check_refused(run_val(s, w + data("- a\n- b\n")), 1, "a data yaml must be a mapping");
  check_refused(run_val(s, w + data("val: [images\n")), 1, "d.yaml");
  check_refused(run_val(s, w + data(std::string("\x89PNG\r\n\x1a\n\0\0\0", 12))), 1, "d.yaml");
  check_refused(run_val(s, w + data("path: ds\nnames: [a, b, c, d]\n")), 1, "no 'val:' entry");
  check_refused(run_val(s, w + data(good) + " --task test"), 1, "no 'test:' entry");
  check_refused(run_val(s, w + data("path: ds\nval: nowhere\nnames: [a, b, c, d]\n")), 1, "does not exist");
  check_refused(run_val(s, w + data("path: ds\nval: images\nnames: [a, b, c]\n")), 1, "has 4 classes");
  check_refused(run_val(s, w + data("path: ds\nval: images\nnames: {0: a, 5: b}\n")), 1, "'names' keys");
  check_refused(run_val(s, w + data("path: ds\nval: images\nnc: 1e9\n")), 1, "'nc' must be an integer");
  check_refused(run_val(s, w + data("path: ds\nval: images\nnames: [a, b, c, d]\n") + " --img 0"), 2, "--img");
  check_refused(run_val(s, w + data(good) + " --batch x"), 2, "--batch");
  check_refused(run_val(s, w + data(good) + " --bogus 1"), 2, "unknown option '--bogus'");
  check_refused(run_val(s, " --data " + quote(s.write("d.yaml", good))), 2, "--weights");
  check_refused(run_val(s, w + " --data " + quote((s.root / "missing.yaml").string())), 1, "missing.yaml");
  // --json into a folder that does not exist: refused after the run, nothing written.
  const Run r = run_val(s, w + data(good) + " --json " + quote((s.root / "no/such/out.json").string()));
  CHECK(r.code == 1);
  CHECK(r.err.back().find("out.json") != std::string::npos);
  CHECK_FALSE(fs::exists(s.root / "no"));
}
