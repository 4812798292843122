// SPDX-License-Identifier: MIT
// The builder against upstream's parse_model table (fixtures/configs/params.txt): every row and the
// total, for every config, in spec mode (no weights).
#include <yv9/model/builder.hpp>
#include <yv9/model/network.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "support.hpp"

using namespace yv9;

namespace {

struct Expected {
  std::vector<std::string> rows;
  long long total = 0;
};

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Sections of params.txt: "===== <file> (nc as in file)" ... "TOTAL parameters N ..."
std::map<std::string, Expected> read_params_txt(const std::string& path) {
  std::ifstream f(path);
  std::map<std::string, Expected> out;
  std::string line, current;
  while (std::getline(f, line)) {
    if (line.rfind("===== ", 0) == 0) {
      current = line.find("(nc as in file)") != std::string::npos ? line.substr(6, line.find(' ', 6) - 6) : "";
      continue;
    }
    if (current.empty()) continue;
    if (line.rfind("TOTAL parameters ", 0) == 0) {
      out[current].total = std::stoll(line.substr(17));
      continue;
    }
    if (line.size() > 3 && line[2] >= '0' && line[2] <= '9' && line.find("models.") != std::string::npos)
      out[current].rows.push_back(rstrip(line));
    else if (line.find("torch.nn.modules") != std::string::npos)
      out[current].rows.push_back(rstrip(line));
  }
  return out;
}

}  // namespace

TEST_CASE("builder: summary table equals upstream parse_model for every shared config" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = yv9test::fixtures_dir() + "/configs/";
  auto expected = read_params_txt(dir + "params.txt");
  REQUIRE(expected.size() >= 14);
  for (const auto& kv : expected) {
    CAPTURE(kv.first);
    model::ModelConfig cfg = model::load_config(dir + kv.first);
    weights::Binder spec;
    auto m = model::build<float>(cfg, spec);
    REQUIRE(m.info.size() == kv.second.rows.size());
    for (std::size_t i = 0; i < m.info.size(); ++i) CHECK(rstrip(model::summary_row(m.info[i])) == kv.second.rows[i]);
    CHECK(m.params == kv.second.total);
  }
}

TEST_CASE("builder: the seed model has 49,485,350 parameters and strides 8/16/32" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  model::ModelConfig cfg = model::load_config(yv9test::fixtures_dir() + "/configs/yolov9-c-MMQARepNCSPELAN4.yaml");
  weights::Binder spec;
  auto m = model::build<float>(cfg, spec);
  CHECK(m.params == 49485350);
  CHECK(m.nc == 1);
  REQUIRE(m.strides.size() == 3);
  CHECK(m.strides[0] == 8.0);
  CHECK(m.strides[1] == 16.0);
  CHECK(m.strides[2] == 32.0);
}

TEST_CASE("builder: clear errors for bad configs") {
  auto err = [](const std::string& body) {
    try {
      weights::Binder spec;
      model::build<float>(model::parse_config_text("nc: 2\n" + body, "bad.yaml"), spec);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("backbone: [[-1, 1, Foo, [16]]]\nhead: []\n").find("bad.yaml:2: layer 0 (Foo): unknown module 'Foo'") == 0);
  CHECK(err("backbone: [[-1, 1, Conv, [16, 3, 2]], [5, 1, Conv, [8]]]\nhead: []\n").find("does not name an earlier layer") != std::string::npos);
  CHECK(err("backbone: [[-1, 1, Conv, [x]]]\nhead: []\n").find("argument 'c2' must be an integer") != std::string::npos);
  CHECK(err("backbone: [[-1, 1, Conv]]\nhead: []\n").find("[from, number, module, args]") != std::string::npos);
  CHECK(err("backbone: [[-1, 1, Conv, [16]], [[-1, 0], 1, CBFuse, [[0]]]]\nhead: []\n").find("is not a CBLinear") != std::string::npos);
  CHECK(err("activation: nn.Mish()\nbackbone: [[-1, 1, Conv, [16]]]\nhead: []\n").find("unsupported activation") != std::string::npos);
  CHECK(err("backbone: [[-1, 1, MultiQueryAttentionLayerWithDownSampling, [8, 4, 4, 1, 1, 1]]]\nhead: []\n").find("head_dim 0") != std::string::npos);
}

TEST_CASE("builder: depth gain, width gain and repeats") {
  const char* text =
      "nc: 3\ndepth_multiple: 0.5\nwidth_multiple: 0.25\n"
      "backbone:\n  [[-1, 1, Conv, [64, 3, 2]],\n   [-1, 3, Conv, [64, 3, 1]],\n   [-1, 1, MultiQueryAttentionLayerWithDownSampling, [2, 8, 8, 2, 1, 2, 5]]]\n"
      "head: []\n";
  weights::Binder spec;
  auto m = model::build<float>(model::parse_config_text(text, "t.yaml"), spec);
  CHECK(m.info[0].channels == 16);
  CHECK(m.info[1].n == 2);  // round(3 * 0.5) = round(1.5) = 2 (half to even)
  CHECK(m.info[1].params == 2 * (16 * 16 * 9 + 32));
  CHECK(m.info[2].args_repr == "[16, 2, 8, 8, 2, 1, 2, 5]");
  CHECK(m.info[2].channels == 16);
  CHECK(m.head == -1);
}

TEST_CASE("builder: arguments print as Python's repr prints them") {
  using io::Json;
  CHECK(model::py_repr(Json()) == "None");
  CHECK(model::py_repr(Json(true)) == "True");
  CHECK(model::py_repr(Json(-3)) == "-3");
  CHECK(model::py_repr(Json::number(1.0, false, 0)) == "1.0");
  CHECK(model::py_repr(Json::number(0.1, false, 0)) == "0.1");
  CHECK(model::py_repr(Json::number(1e-5, false, 0)) == "1e-05");
  CHECK(model::py_repr(Json::number(1e16, false, 0)) == "1e+16");
  CHECK(model::py_repr(Json::number(123456789012.5, false, 0)) == "123456789012.5");
  CHECK(model::py_repr(Json("nearest")) == "'nearest'");
  CHECK(model::py_repr(Json("it's")) == "\"it's\"");
  CHECK(model::py_repr(Json("a'b\"c")) == "'a\\'b\"c'");
  CHECK(model::py_repr(Json(Json::Array{Json(1), Json(Json::Array{Json(), Json("x")})})) == "[1, [None, 'x']]");
  CHECK(model::py_repr(Json::object().set("k", 1)) == "{'k': 1}");
  // Through the yaml reader: what a config row's arguments print as.
  const Json row = io::parse_yaml("[None, 2, 'nearest', 0.50, 1.5e+3, true]", "t.yaml");
  CHECK(model::py_repr(row) == "['None', 2, 'nearest', 0.5, 1500.0, True]");
}

TEST_CASE("builder: the layers it packs are the layers the network keeps" * doctest::test_suite("fixtures")) {
  // feeds_output decides from the config alone which layers a load packs (the auxiliary branch of
  // dual heads is bound but not packed); the Network decides from the built layers which it keeps.
  if (!yv9test::have_fixtures()) return;
  const std::string dir = yv9test::fixtures_dir() + "/configs/";
  int dual = 0;
  for (const char* name : {"yolov9-c.yaml", "yolov9-e.yaml", "yolov9-c-MMQARepNCSPELAN4.yaml", "gelan-c.yaml", "gelan-t.yaml"}) {
    CAPTURE(name);
    model::ModelConfig cfg = model::load_config(dir + name);
    const std::vector<bool> feeds = model::feeds_output(cfg);
    weights::Binder spec;
    model::Network<float> net(model::build<float>(cfg, spec));
    REQUIRE(feeds.size() == net.info().size());
    for (std::size_t i = 0; i < feeds.size(); ++i) CHECK(feeds[i] == net.live(static_cast<int>(i)));
    dual += net.dropped().empty() ? 0 : 1;
  }
  CHECK(dual == 3);  // the yolov9-* configs drop their auxiliary branch
}
