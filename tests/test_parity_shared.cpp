// SPDX-License-Identifier: MIT
// Parity with the shared fixtures made by upstream PyTorch (../shared/fixtures, override with
// YV9_FIXTURES). Tolerances are the fixtures' own (README: 10x the worst float32 noise floor,
// measured as upstream's fused model and a float64 run against the fp32 reference).
#include <yv9/model/loader.hpp>

#include <map>

#include "model_support.hpp"

using namespace yv9;
using yv9test::fixtures_dir;

namespace {

struct Tol {
  double box, score;
};

Tol fixture_tol(const std::string& dir) {
  io::Json j = yv9test::read_json(dir + "/fixture.json");
  const io::Json* t = j.find("tolerance");
  REQUIRE(t);
  return {t->find("box_px")->as_double(), t->find("score")->as_double()};
}

std::string layer_file(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "layer_%02d", i);
  return b;
}

// Per-layer feature maps: the fp32 noise floor grows with depth and magnitude; 1e-4 relative to
// the layer's largest value (with a floor of 1e-4) is ~100x the float32 rounding of O(1k)-term sums
// yet far below what any semantic slip gives (those move values by O(1)).
double layer_tol(const Tensor<float>& ref) { return 1e-4 * std::max(1.0, yv9test::max_abs(ref)); }

void check_layers(const model::Network<float>& net, const Tensor<float>& x, const std::string& dir,
                  const nn::DetectHead<float>* head_for_levels) {
  std::map<int, Tensor<float>> outs;
  std::map<int, std::vector<const Tensor<float>*>> head_inputs;
  Context ctx;
  ctx.threads = 2;
  Tensor<float> y = net.forward(x, ctx, [&](int i, const Tensor<float>& out, double) { outs[i] = out.clone(); });
  for (const auto& kv : outs) {
    const std::string base = dir + "/" + layer_file(kv.first);
    if (!yv9test::exists(base + ".npy")) continue;
    Tensor<float> ref = io::read_npy_f32(base + ".npy");
    const auto& info = net.info()[static_cast<std::size_t>(kv.first)];
    INFO("layer " << kv.first << " " << info.type << " " << ref.shape().str());
    if (!info.splits.empty()) {
      // CBLinear: layer_XX_k.npy per split
      std::int64_t off = 0;
      for (std::size_t k = 0; k < info.splits.size(); ++k) {
        Tensor<float> part = io::read_npy_f32(base + "_" + std::to_string(k) + ".npy");
        Tensor<float> got(part.shape());
        ops::copy_planes<float>(cview(kv.second).channels(off, info.splits[k]), view(got));
        CHECK(yv9test::max_abs_diff(got, part) <= layer_tol(part));
        off += info.splits[k];
      }
      continue;
    }
    REQUIRE(kv.second.shape() == ref.shape());
    CHECK(yv9test::max_abs_diff(kv.second, ref) <= layer_tol(ref));
  }
  if (head_for_levels) {
    const int h = net.head();
    const auto& from = net.info()[static_cast<std::size_t>(h)].from;
    const std::size_t first = head_for_levels->main_first(from.size());
    for (std::size_t l = 0; l < head_for_levels->levels(); ++l) {
      const std::string f = dir + "/" + layer_file(h) + "_level" + std::to_string(l) + ".npy";
      if (!yv9test::exists(f)) continue;
      Tensor<float> ref = io::read_npy_f32(f);
      Tensor<float> raw = head_for_levels->main_set().raw(l, cview(outs.at(from[first + l])), ctx);
      INFO("head level " << l);
      CHECK(yv9test::max_abs_diff(raw, ref) <= layer_tol(ref));
    }
  }
}

}  // namespace

TEST_CASE("parity: gelan-t-mmqa (MMQA backbone, square and non-square, every layer)" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/gelan-t-mmqa";
  const Tol tol = fixture_tol(dir);
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/model.pt", fixtures_dir() + "/configs/gelan-t-MMQA.yaml");
  auto m = model::load_model<float>(wf, "gelan-t-mmqa");
  CHECK(m.net.params() == 2028847);
  for (std::string size : {"64x64", "64x96"}) {
    CAPTURE(size);
    Tensor<float> x = io::read_npy_f32(dir + "/in_" + size + ".npy");
    Tensor<float> ref = io::read_npy_f32(dir + "/out_" + size + ".npy");
    Context ctx;
    Tensor<float> y = m.net.forward(x, ctx);
    yv9test::PredDiff d = yv9test::pred_diff(y, ref);
    MESSAGE("gelan-t-mmqa " << size << ": max |diff| box " << d.box << " px (tol " << tol.box << "), score " << d.score
                            << " (tol " << tol.score << ")");
    CHECK(d.box <= tol.box);
    CHECK(d.score <= tol.score);
    const nn::DetectHead<float>* head = m.net.detect_head();
    check_layers(m.net, x, dir + "/layers_" + size, head);
  }
}

TEST_CASE("parity: the image size a load is tuned for changes the convolution paths, not the results" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/gelan-t-mmqa";
  const Tol tol = fixture_tol(dir);
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/model.pt", fixtures_dir() + "/configs/gelan-t-MMQA.yaml");
  // Tuned for 64 px every 3x3 map is at most 32x32 wide: the small-map paths; for 2048 px they are
  // 64x64 and up: mostly F(4,3) and F(2,3). Different paths round differently, so the bits must differ;
  // both must match upstream.
  model::LoadOptions small, large;
  small.conv = large.conv = ops::ConvAlgo::Auto;  // whatever YV9_CONV says
  small.imgsz = 64;
  large.imgsz = 2048;
  auto a = model::load_model<float>(wf, "gelan-t-mmqa", small);
  auto b = model::load_model<float>(wf, "gelan-t-mmqa", large);
  Tensor<float> x = io::read_npy_f32(dir + "/in_64x96.npy");
  Tensor<float> ref = io::read_npy_f32(dir + "/out_64x96.npy");
  Tensor<float> ya = a.net.forward(x, Context{}), yb = b.net.forward(x, Context{});
  REQUIRE(ya.shape() == yb.shape());
  CHECK(std::memcmp(ya.data(), yb.data(), ya.bytes()) != 0);
  for (const Tensor<float>* y : {&ya, &yb}) {
    const yv9test::PredDiff d = yv9test::pred_diff(*y, ref);
    CHECK(d.box <= tol.box);
    CHECK(d.score <= tol.score);
  }
}

TEST_CASE("parity: 1 and 2 threads give bit-identical outputs" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/gelan-t-mmqa";
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/model.pt", fixtures_dir() + "/configs/gelan-t-MMQA.yaml");
  auto m = model::load_model<float>(wf, "gelan-t-mmqa");
  Tensor<float> x = io::read_npy_f32(dir + "/in_64x96.npy");
  Context one, two;
  one.threads = 1;
  two.threads = 2;
  Tensor<float> a = m.net.forward(x, one), b = m.net.forward(x, two);
  REQUIRE(a.shape() == b.shape());
  CHECK(std::memcmp(a.data(), b.data(), a.bytes()) == 0);
}

TEST_CASE("parity: float64 run of the same network stays within the fixture's fp64 noise floor" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/gelan-t-mmqa";
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/model.pt", fixtures_dir() + "/configs/gelan-t-MMQA.yaml");
  auto m = model::load_model<double>(wf, "gelan-t-mmqa");
  Tensor<float> xf = io::read_npy_f32(dir + "/in_64x64.npy");
  Tensor<double> x = xf.cast<double>();
  Tensor<double> y = m.net.forward(x, Context{});
  yv9test::PredDiff d = yv9test::pred_diff(y, io::read_npy_f32(dir + "/out_64x64.npy"));
  // fixture.json: fp64 vs fp32 floor 3.0e-4 px / 2.9e-6 for this input; allow 3x.
  MESSAGE("gelan-t-mmqa in float64: box " << d.box << " score " << d.score);
  CHECK(d.box <= 1e-3);
  CHECK(d.score <= 1e-5);
}

TEST_CASE("parity: yolov9-t training checkpoint (DualDDetect main branch, ema) and its stripped copy" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/yolov9-t-train";
  const Tol tol = fixture_tol(dir);
  for (std::string pt : {"train.pt", "stripped.pt"}) {
    CAPTURE(pt);
    io::WeightFile wf = yv9test::weights_from_pt(dir + "/" + pt);
    auto m = model::load_model<float>(wf, pt);
    CHECK(m.net.params() == 3717680);
    CHECK(m.meta.names.size() == 80);
    for (std::string in : {"rand_128x128", "horses_128x128"}) {
      CAPTURE(in);
      Tensor<float> y = m.net.forward(io::read_npy_f32(dir + "/in_" + std::string(in) + ".npy"), Context{});
      yv9test::PredDiff d = yv9test::pred_diff(y, io::read_npy_f32(dir + "/out_" + std::string(in) + ".npy"));
      MESSAGE("yolov9-t " << pt << " " << in << ": box " << d.box << " (tol " << tol.box << "), score " << d.score
                          << " (tol " << tol.score << ")");
      CHECK(d.box <= tol.box);
      CHECK(d.score <= tol.score);
    }
  }
}

TEST_CASE("parity: yolov9-t every layer, the auxiliary branch included" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/yolov9-t-train";
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/stripped.pt");
  model::LoadOptions keep;
  keep.keep_all = true;
  auto m = model::load_model<float>(wf, "stripped.pt", keep);
  Tensor<float> x = io::read_npy_f32(dir + "/in_rand_128x128.npy");
  check_layers(m.net, x, dir + "/layers_rand_128x128", nullptr);
  // aux head output = pred[0][0]
  std::map<int, Tensor<float>> outs;
  m.net.forward(x, Context{}, [&](int i, const Tensor<float>& o, double) { outs[i] = o.clone(); });
  const int h = m.net.head();
  std::vector<const Tensor<float>*> in;
  for (int f : m.net.info()[static_cast<std::size_t>(h)].from) in.push_back(&outs.at(f));
  const nn::DetectHead<float>* head = m.net.layer(h)->head();
  Tensor<float> aux = head->forward_aux(in, Context{});
  yv9test::PredDiff d = yv9test::pred_diff(aux, io::read_npy_f32(dir + "/layers_rand_128x128/layer_29_aux.npy"));
  CHECK(d.box <= 0.005);
  CHECK(d.score <= 5e-5);
  // and the default network drops the auxiliary branch
  auto lean = model::load_model<float>(wf, "stripped.pt");
  CHECK(!lean.net.dropped().empty());
}

TEST_CASE("parity: gelan-t converted checkpoint (fp16 model, BN eps 1e-3)" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = fixtures_dir() + "/gelan-t-converted";
  const Tol tol = fixture_tol(dir);
  io::WeightFile wf = yv9test::weights_from_pt(dir + "/gelan-t-converted.pt");
  auto m = model::load_model<float>(wf, "gelan-t-converted.pt");
  for (std::string in : {"rand_128x128", "horses_128x128"}) {
    CAPTURE(in);
    Tensor<float> y = m.net.forward(io::read_npy_f32(dir + "/in_" + std::string(in) + ".npy"), Context{});
    yv9test::PredDiff d = yv9test::pred_diff(y, io::read_npy_f32(dir + "/out_" + std::string(in) + ".npy"));
    MESSAGE("gelan-t-converted " << in << ": box " << d.box << " (tol " << tol.box << "), score " << d.score);
    CHECK(d.box <= tol.box);
    CHECK(d.score <= tol.score);
  }
}

TEST_CASE("parity: standalone Mobile MQA modules (kv strides, query strides, dw 5x5, non-square)" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  for (std::string name : {"mqa_kv2", "mqa_q2", "mqa_q2x1_kv2_dw5"}) {
    CAPTURE(name);
    const std::string dir = fixtures_dir() + "/gelan-t-mmqa/mqa_module/" + name;
    io::Json mj = yv9test::read_json(dir + "/module.json");
    nn::MqaArgs a;
    a.in = mj.find("in_channels")->as_int();
    a.heads = mj.find("num_heads")->as_int();
    a.key_dim = mj.find("key_dim")->as_int();
    a.value_dim = mj.find("value_dim")->as_int();
    a.qh = mj.find("query_h_strides")->as_int();
    a.qw = mj.find("query_w_strides")->as_int();
    a.kv = mj.find("kv_strides")->as_int();
    a.dw_k = mj.find("dw_kernel_size")->as_int();
    io::WeightFile wf = yv9test::weights_from_pt(dir + "/state_dict.pt");
    const weights::WeightFileSource src(wf, weights::BnEps{mj.find("bn_eps")->as_double(), {}});
    weights::Binder b(src);
    nn::MultiQueryAttentionLayerWithDownSampling<float> mqa(b, "", a);
    b.finish(name);
    for (const auto& c : mj.find("cases")->as_array()) {
      const std::string in = c.find("input")->as_string();
      const std::string hw = in.substr(3, in.size() - 7);  // in_HxW.npy
      CAPTURE(hw);
      Tensor<float> x = io::read_npy_f32(dir + "/" + in);
      Tensor<float> y(mqa.shape_for(x.shape()));
      Context ctx;
      mqa.run(cview(x), view(y), ctx);
      // module.json: fp64 vs fp32 floor <= 1.2e-6 on |y| <= 1.6; suggested tolerance 1e-5 absolute.
      const double d = yv9test::max_abs_diff(y, io::read_npy_f32(dir + "/out_" + hw + ".npy"));
      MESSAGE(name << " " << hw << ": max |diff| " << d);
      CHECK(d <= 1e-5);
      CHECK(yv9test::max_abs_diff(mqa.query(cview(x), ctx), io::read_npy_f32(dir + "/q_" + hw + ".npy")) <= 1e-5);
      CHECK(yv9test::max_abs_diff(mqa.key(cview(x), ctx), io::read_npy_f32(dir + "/k_" + hw + ".npy")) <= 1e-5);
      CHECK(yv9test::max_abs_diff(mqa.value(cview(x), ctx), io::read_npy_f32(dir + "/v_" + hw + ".npy")) <= 1e-5);
      CHECK(yv9test::max_abs_diff(mqa.context(cview(x), ctx), io::read_npy_f32(dir + "/context_" + hw + ".npy")) <= 1e-5);
    }
  }
}
