// SPDX-License-Identifier: MIT
// Weights bound by name: every missing, unused or mis-shaped tensor is reported in one error; the
// BatchNorm eps comes from the metadata.
#include <yv9/model/loader.hpp>

#include <unistd.h>

#include "support.hpp"

using namespace yv9;

namespace {

const std::string kModel = yv9test::data_dir() + "/ref/gelan-leaky-nc3/model.bin";

std::vector<io::WriteTensor> tensors_of(const io::WeightFile& wf) {
  std::vector<io::WriteTensor> out;
  for (const auto& e : wf.tensors()) {
    io::WriteTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    const yv9::io::TensorData d = wf.data(e);
    t.bytes.assign(d.bytes, d.bytes + (e.end - e.begin));
    out.push_back(std::move(t));
  }
  return out;
}

std::string load_error(const std::vector<io::WriteTensor>& ts, std::map<std::string, std::string> meta) {
  const std::string path = std::string(YV9_BINARY_DIR) + "/loader-" + std::to_string(::getpid()) + ".bin";
  io::write_weight_file(path, ts, meta);
  try {
    model::load_model<float>(path);
  } catch (const Error& e) {
    std::remove(path.c_str());
    return e.what();
  }
  std::remove(path.c_str());
  return "no error";
}

}  // namespace

TEST_CASE("loader: missing, unused and mis-shaped tensors are all listed in one WeightError") {
  io::WeightFile wf = io::WeightFile::load(kModel);
  std::vector<io::WriteTensor> ts = tensors_of(wf);
  std::map<std::string, std::string> meta = wf.metadata();
  // drop one, add one, and change nc 3 -> 4 (the class convs' shapes no longer fit)
  ts.erase(std::remove_if(ts.begin(), ts.end(), [](const io::WriteTensor& t) { return t.name == "model.0.conv.weight"; }), ts.end());
  io::WriteTensor extra;
  extra.name = "model.99.bogus";
  extra.shape = {1};
  extra.bytes.assign(4, 0);
  ts.push_back(extra);
  std::string cfg = meta.at("config");
  cfg.replace(cfg.find("nc: 3"), 5, "nc: 4");
  meta["config"] = cfg;
  const std::string err = load_error(ts, meta);
  CAPTURE(err);
  CHECK(err.find("weights do not match the model") != std::string::npos);
  CHECK(err.find("1 missing (model.0.conv.weight [8,3,3,3])") != std::string::npos);
  CHECK(err.find("mis-shaped (model.22.cv3.0.2.weight: expected [4,") != std::string::npos);
  CHECK(err.find("1 unused (model.99.bogus)") != std::string::npos);
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("loader: BatchNorm eps from the metadata changes the result; absent means 1e-3") {
  io::WeightFile wf = io::WeightFile::load(kModel);
  auto base = model::load_model<float>(wf, "a");
  CHECK(base.meta.bn_eps == 1e-3);
  std::vector<io::WriteTensor> ts = tensors_of(wf);
  std::map<std::string, std::string> meta = wf.metadata();
  meta["bn_eps"] = "1e-5";
  const std::string path = std::string(YV9_BINARY_DIR) + "/loader-eps-" + std::to_string(::getpid()) + ".bin";
  io::write_weight_file(path, ts, meta);
  auto other = model::load_model<float>(path);
  std::remove(path.c_str());
  CHECK(other.meta.bn_eps == 1e-5);
  Tensor<float> x = Tensor<float>::zeros(Shape{1, 3, 32, 32});
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) / 7.0f;
  Tensor<float> a = base.net.forward(x, Context{}), b = other.net.forward(x, Context{});
  double diff = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
  CHECK(diff > 1e-3);
}

TEST_CASE("loader: a weight file without a config explains how to make one") {
  io::WeightFile wf = io::WeightFile::load(kModel);
  std::map<std::string, std::string> meta = wf.metadata();
  meta.erase("config");
  const std::string err = load_error(tensors_of(wf), meta);
  CHECK(err.find("no model config in the metadata") != std::string::npos);
  CHECK(err.find("pt2bin") != std::string::npos);
}
