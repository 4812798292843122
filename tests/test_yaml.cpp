// SPDX-License-Identifier: MIT
#include <yv9/io/yaml.hpp>

#include <cmath>

#include "support.hpp"

using yv9::io::parse_yaml;
using yv9::io::Json;

TEST_CASE("yaml: upstream-style config with multi-line flow lists and comments") {
  const char* text =
      "# YOLOv9\n"
      "nc: 80  # number of classes\n"
      "depth_multiple: 1.0\n"
      "activation: nn.LeakyReLU(0.1)\n"
      "backbone:\n"
      "  [\n"
      "   [-1, 1, Silence, []],  \n"
      "   # conv down\n"
      "   [-1, 1, Conv, [64, 3, 2]],  # 1-P1/2\n"
      "   [[-1, 6], 1, Concat, [1]],\n"
      "   [-1, 1, nn.Upsample, [None, 2, 'nearest']],\n"
      "  ]\n"
      "head:\n"
      "  - [[15, 18, 21], 1, DDetect, [nc]]\n";
  Json root = parse_yaml(text, "t.yaml");
  REQUIRE(root.is_object());
  CHECK(root.find("nc")->as_int() == 80);
  CHECK(root.find("depth_multiple")->as_double() == 1.0);
  CHECK(!root.find("depth_multiple")->is_integer());
  CHECK(root.find("activation")->as_string() == "nn.LeakyReLU(0.1)");
  const Json* bb = root.find("backbone");
  REQUIRE(bb->is_array());
  REQUIRE(bb->size() == 4);
  const Json::Array& rows = bb->as_array();
  CHECK(rows[0].as_array()[3].is_array());
  CHECK(rows[0].as_array()[3].size() == 0);
  CHECK(rows[1].as_array()[2].as_string() == "Conv");
  CHECK(rows[1].as_array()[0].as_int() == -1);
  CHECK(rows[2].as_array()[0].as_array()[1].as_int() == 6);
  CHECK(rows[3].as_array()[3].as_array()[0].as_string() == "None");  // safe_load: None is a string
  CHECK(rows[3].as_array()[3].as_array()[2].as_string() == "nearest");
  CHECK(rows[1].origin.line == 9);
  CHECK(rows[1].as_array()[2].origin.line == 9);
  CHECK(rows[1].as_array()[2].origin.col == 12);
  const Json* head = root.find("head");
  REQUIRE(head->is_array());
  CHECK(head->as_array()[0].as_array()[3].as_array()[0].as_string() == "nc");
}

TEST_CASE("yaml: scalars are typed as yaml.safe_load types them") {
  const Json d = parse_yaml(
      "a: [~, null, Null, NULL, true, False, TRUE, 0, -7, +3, 1.5, -2e-3, 1e3, .inf, -.inf, .nan]\n"
      "b: ['1', \"true\", None, none, 12345678901234567890, nn.SiLU()]\n"
      "c: {x: 1, 'y': two}\n",
      "t.yaml");
  const Json::Array& a = d.find("a")->as_array();
  REQUIRE(a.size() == 16);
  for (int k = 0; k < 4; ++k) CHECK(a[k].is_null());
  CHECK(a[4].as_bool());
  CHECK(!a[5].as_bool());
  CHECK(a[6].as_bool());
  CHECK(a[7].as_int() == 0);
  CHECK(a[8].as_int() == -7);
  CHECK(a[9].as_int() == 3);
  CHECK((a[10].as_double() == 1.5 && !a[10].is_integer()));
  CHECK(a[11].is_string());  // PyYAML's floats need a dot: -2e-3 and 1e3 are strings
  CHECK(a[12].is_string());
  CHECK(std::isinf(a[13].as_double()));
  CHECK(a[14].as_double() < 0);
  CHECK(std::isnan(a[15].as_double()));
  // YAML 1.1 as PyYAML reads it: yes/no/on/off, octal, hex, binary, underscores, base 60.
  const Json doc_b = parse_yaml("b: [yes, Off, 010, 0x1F, 0b101, 1_000, 1:30, 1.5e+3, .5, 09, 1.2.3]\n", "t.yaml");
  const Json::Array& b = doc_b.find("b")->as_array();
  CHECK(b[0].as_bool());
  CHECK(!b[1].as_bool());
  CHECK(b[2].as_int() == 8);
  CHECK(b[3].as_int() == 31);
  CHECK(b[4].as_int() == 5);
  CHECK(b[5].as_int() == 1000);
  CHECK(b[6].as_int() == 90);
  CHECK(b[7].as_double() == 1500.0);
  CHECK(b[8].as_double() == 0.5);
  CHECK(b[9].as_string() == "09");
  CHECK(b[10].as_string() == "1.2.3");
  // A base-60 float whose whole part is beyond int64 folds in double, as PyYAML's does (it once
  // negated INT64_MIN here, which UBSan caught under the fuzzer).
  const Json doc_f = parse_yaml("f: [1:30.5, -66666666666666666666666:30.5]\n", "t.yaml");
  const Json::Array& f = doc_f.find("f")->as_array();
  CHECK(f[0].as_double() == 90.5);
  CHECK(f[1].as_double() == doctest::Approx(-4e24).epsilon(1e-12));
  // Quoted scalars stay strings; so do names and integers too large for int64.
  for (const Json& s : d.find("b")->as_array()) CHECK(s.is_string());
  const Json* c = d.find("c");
  REQUIRE(c->is_object());
  CHECK(c->find("x")->as_int() == 1);
  CHECK(c->find("y")->as_string() == "two");
}

TEST_CASE("yaml: every shared config parses" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  for (const char* name : {"gelan-c", "gelan-e", "gelan-m", "gelan-s", "gelan-t", "gelan", "gelan-t-MMQA", "yolov9-c",
                           "yolov9-e", "yolov9-m", "yolov9-s", "yolov9-t", "yolov9", "yolov9-c-MMQARepNCSPELAN4"}) {
    CAPTURE(name);
    Json root = yv9::io::load_yaml(yv9test::fixtures_dir() + "/configs/" + name + ".yaml");
    REQUIRE(root.is_object());
    REQUIRE(root.find("backbone"));
    REQUIRE(root.find("head"));
    for (const auto* part : {root.find("backbone"), root.find("head")})
      for (const auto& layer : part->as_array()) {
        REQUIRE(layer.is_array());
        CHECK(layer.size() == 4);
      }
  }
}

TEST_CASE("yaml: errors carry file:line:col") {
  auto err = [](const char* text) {
    try {
      parse_yaml(text, "bad.yaml");
    } catch (const yv9::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("a: [1, 2\n").find("bad.yaml:1:4: unterminated") == 0);
  CHECK(err("a: [1, 2\nb: 3\n").find("bad.yaml:2:1: multi-line") == 0);
  CHECK(err("a: 1\na: 2\n").find("bad.yaml:2:1: duplicate key 'a'") == 0);
  CHECK(err("a: &x 1\n").find("anchors") != std::string::npos);
  CHECK(err("a:\n\tb: 1\n").find("tab") != std::string::npos);
  CHECK(err("a: 'abc\n").find("unterminated quoted") != std::string::npos);
  CHECK(err("a: [1 2]]\n").find("bad.yaml:1") == 0);
  CHECK(err("a: 1\n  b: 2\n").find("bad.yaml:2") == 0);
  CHECK(err("a: |\n  text\n").find("block scalars") != std::string::npos);
  std::string deep = "a: " + std::string(200, '[') + std::string(200, ']') + "\n";
  CHECK(err(deep.c_str()).find("nesting deeper") != std::string::npos);
}
