// SPDX-License-Identifier: MIT
#include <yv9/io/yaml.hpp>

#include "support.hpp"

using yv9::io::parse_yaml;
using yv9::io::YamlNode;

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
  YamlNode root = parse_yaml(text, "t.yaml");
  REQUIRE(root.is_map());
  CHECK(root.find("nc")->scalar == "80");
  CHECK(root.find("activation")->scalar == "nn.LeakyReLU(0.1)");
  const YamlNode* bb = root.find("backbone");
  REQUIRE(bb->is_seq());
  REQUIRE(bb->items.size() == 4);
  CHECK(bb->items[0].items[3].is_seq());
  CHECK(bb->items[0].items[3].items.empty());
  CHECK(bb->items[1].items[2].scalar == "Conv");
  CHECK(bb->items[2].items[0].items[1].scalar == "6");
  CHECK(bb->items[3].items[3].items[2].scalar == "nearest");
  CHECK(bb->items[3].items[3].items[2].quoted);
  CHECK(bb->items[1].line == 9);
  const YamlNode* head = root.find("head");
  REQUIRE(head->is_seq());
  CHECK(head->items[0].items[3].items[0].scalar == "nc");
}

TEST_CASE("yaml: every shared config parses" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  for (const char* name : {"gelan-c", "gelan-e", "gelan-m", "gelan-s", "gelan-t", "gelan", "gelan-t-MMQA", "yolov9-c",
                           "yolov9-e", "yolov9-m", "yolov9-s", "yolov9-t", "yolov9", "yolov9-c-MMQARepNCSPELAN4"}) {
    CAPTURE(name);
    YamlNode root = yv9::io::load_yaml(yv9test::fixtures_dir() + "/configs/" + name + ".yaml");
    REQUIRE(root.is_map());
    REQUIRE(root.find("backbone"));
    REQUIRE(root.find("head"));
    for (const auto* part : {root.find("backbone"), root.find("head")})
      for (const auto& layer : part->items) {
        REQUIRE(layer.is_seq());
        CHECK(layer.items.size() == 4);
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
