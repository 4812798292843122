// SPDX-License-Identifier: MIT
// Checkpoint -> weight file (yv9::to_weight_file, what pt2bin runs): F16/BF16 storage, fp16
// checkpoints converted without loss, and weights that do not fit their config refused with the
// loader's listing. tests/data/pt/gelan-s-tiny.pt is gelan-s at 1/8 width, saved as upstream's
// stripped best.pt (fp16 EMA module with its yaml and names); see tests/data/pt/README.md.
#include <doctest/doctest.h>

#include <yv9/convert.hpp>

#include <cstring>
#include <random>

#include "model_support.hpp"

using namespace yv9;

namespace {

std::string pt_dir() { return yv9test::data_dir() + "/pt/"; }

Tensor<float> random_image(std::int64_t h, std::int64_t w, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(3 * h * w));
  for (float& x : v) x = u(rng);
  return Tensor<float>::from({1, 3, h, w}, v);
}

bool bitwise_equal(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0;
}

std::uint64_t floating_bytes(const io::WeightFile& wf) {
  std::uint64_t n = 0;
  for (const auto& e : wf.tensors())
    if (io::is_floating(e.dtype)) n += e.end - e.begin;
  return n;
}

// The error to_weight_file raises for `pt` converted with the config text `config`.
std::string refusal(const std::string& pt, const std::string& config) {
  io::Checkpoint ck = io::read_checkpoint(pt);
  ck.metadata["config"] = config;
  try {
    to_weight_file(ck, io::DType::F16, "gelan-s-tiny.pt", "out.bin");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("convert: an fp16 EMA checkpoint stored as F16 is lossless: the same bytes, the same outputs bit for bit") {
  const std::string pt = pt_dir() + "gelan-s-tiny.pt";
  const io::Checkpoint ck = io::read_checkpoint(pt);
  const io::WeightFile f32 = yv9test::weights_from_pt(pt, "", io::DType::F32);
  const io::WeightFile f16 = yv9test::weights_from_pt(pt, "", io::DType::F16);
  // the F16 file holds the checkpoint's own bytes; the F32 file their exact widening
  for (const io::WriteTensor& t : ck.tensors) {
    const io::TensorEntry& e = f16.at(t.name);
    REQUIRE(e.dtype == t.dtype);
    CHECK(std::memcmp(f16.data(e).bytes, t.bytes.data(), t.bytes.size()) == 0);
    if (t.dtype == io::DType::F16) CHECK(f32.at(t.name).dtype == io::DType::F32);
  }
  CHECK(floating_bytes(f16) * 2 == floating_bytes(f32));

  auto a = model::load_model<float>(f32, "f32.bin");
  auto b = model::load_model<float>(f16, "f16.bin");
  for (auto hw : {std::pair<int, int>{64, 64}, std::pair<int, int>{96, 64}}) {
    const Tensor<float> x = random_image(hw.first, hw.second, 7);
    CHECK(bitwise_equal(a.net.forward(x, Context{}), b.net.forward(x, Context{})));
  }
}

TEST_CASE("convert: BF16 storage rounds each weight once, to nearest even, and the model still loads") {
  const std::string pt = pt_dir() + "gelan-s-tiny.pt";
  const io::Checkpoint ck = io::read_checkpoint(pt);
  const io::WeightFile bf = yv9test::weights_from_pt(pt, "", io::DType::BF16);
  std::size_t checked = 0;
  for (const io::WriteTensor& t : ck.tensors) {
    const io::TensorEntry& e = bf.at(t.name);
    if (t.dtype != io::DType::F16) {
      CHECK(e.dtype == t.dtype);
      continue;
    }
    REQUIRE(e.dtype == io::DType::BF16);
    const std::vector<double> got = bf.values<double>(e);
    std::vector<double> src(got.size());
    REQUIRE(t.bytes.size() == 2 * src.size());
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = io::half_to_float(static_cast<std::uint16_t>(t.bytes[2 * i] | t.bytes[2 * i + 1] << 8));
    for (std::size_t i = 0; i < src.size(); ++i) {
      // nearest: no BF16 value is closer (neighbours are one ulp = 2^(exponent-7) away)
      const double err = std::abs(got[i] - src[i]);
      const double ulp = src[i] == 0 ? 0 : std::ldexp(1.0, std::ilogb(src[i]) - 7);
      if (!(err <= ulp / 2)) FAIL_CHECK(t.name << "[" << i << "]: " << src[i] << " -> " << got[i]);
      ++checked;
    }
  }
  CHECK(checked > 100000);
  auto m = model::load_model<float>(bf, "bf16.bin");
  const Tensor<float> y = m.net.forward(random_image(64, 64, 3), Context{});
  CHECK(y.size() > 0);
}

TEST_CASE("convert: weights that do not fit the config are refused with the loader's one-line listing") {
  const std::string pt = pt_dir() + "gelan-s-tiny.pt";
  const std::string own = io::read_text_file(pt_dir() + "gelan-s-tiny.yaml", 1 << 20);
  REQUIRE(own.find("\nnc: 2 ") != std::string::npos);
  REQUIRE(own.find("\nwidth_multiple: 1.0 ") != std::string::npos);

  // its own yaml converts, and so does the pickled one
  CHECK(refusal(pt, own).empty());
  // a gelan-t-shaped config (half the channels)
  const std::string t = refusal(pt, io::read_text_file(pt_dir() + "gelan-t-tiny.yaml", 1 << 20));
  CHECK(t.rfind("gelan-s-tiny.pt: weights do not match the model: 1067 mis-shaped (", 0) == 0);
  // nc: 3 instead of 2: exactly the three class convolutions of the head
  CHECK(refusal(pt, replace_all(own, "\nnc: 2 ", "\nnc: 3 ")) ==
        "gelan-s-tiny.pt: weights do not match the model: 6 mis-shaped (model.22.cv3.0.2.weight: expected [3,16,1,1], "
        "got [2,16,1,1]; model.22.cv3.0.2.bias: expected [3], got [2]; model.22.cv3.1.2.weight: expected [3,16,1,1], "
        "got [2,16,1,1]; model.22.cv3.1.2.bias: expected [3], got [2]; model.22.cv3.2.2.weight: expected [3,16,1,1], "
        "got [2,16,1,1]; model.22.cv3.2.2.bias: expected [3], got [2])");
  // width_multiple 0.75
  const std::string w = refusal(pt, replace_all(own, "\nwidth_multiple: 1.0 ", "\nwidth_multiple: 0.75 "));
  CHECK(w.rfind("gelan-s-tiny.pt: weights do not match the model: 26 mis-shaped (model.7.cv1.conv.weight: expected "
                "[24,24,3,3], got [32,24,3,3];", 0) == 0);
  // the backbone's RepNCSPELAN4 turned into MMQARepNCSPELAN4: attention weights missing, the plain ones unused
  const std::size_t head = own.find("\nhead:");
  const std::string mmqa = replace_all(own.substr(0, head), ", RepNCSPELAN4,", ", MMQARepNCSPELAN4,") + own.substr(head);
  const std::string q = refusal(pt, mmqa);
  CHECK(q.rfind("gelan-s-tiny.pt: weights do not match the model: 24 missing (model.4.cv2.1._query_proj.0.weight "
                "[384,8,1,1];", 0) == 0);
  CHECK(q.find(" 36 unused (model.4.cv2.1.conv.weight;") != std::string::npos);
  for (const std::string* m : {&t, &w, &q}) CHECK(m->find('\n') == std::string::npos);
}

TEST_CASE("convert: the demo model in F16 and BF16: at most 0.55x the F32 file, F16 outputs identical" *
          doctest::test_suite("shared_weights")) {
  if (!yv9test::have_shared_weights()) return;
  const std::string pt = yv9test::shared_weights_dir() + "/gelan-t-mmqa-shapes.pt";
  const io::WeightFile f32 = yv9test::weights_from_pt(pt, "", io::DType::F32);
  const io::WeightFile f16 = yv9test::weights_from_pt(pt, "", io::DType::F16);
  const io::WeightFile bf16 = yv9test::weights_from_pt(pt, "", io::DType::BF16);
  MESSAGE("demo model: F32 " << f32.bytes().size() << " bytes, F16 " << f16.bytes().size() << ", BF16 "
                             << bf16.bytes().size());
  CHECK(f16.bytes().size() * 100 <= f32.bytes().size() * 55);
  CHECK(bf16.bytes().size() * 100 <= f32.bytes().size() * 55);
  auto a = model::load_model<float>(f32, "f32.bin");
  auto b = model::load_model<float>(f16, "f16.bin");
  const Tensor<float> x = random_image(160, 160, 11);
  CHECK(bitwise_equal(a.net.forward(x, Context{}), b.net.forward(x, Context{})));
}

TEST_CASE("convert: upstream's own training checkpoint (fp16 EMA) converts to F16 without loss" *
          doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string pt = yv9test::fixtures_dir() + "/yolov9-t-train/train.pt";
  auto a = model::load_model<float>(yv9test::weights_from_pt(pt, "", io::DType::F32), "f32.bin");
  auto b = model::load_model<float>(yv9test::weights_from_pt(pt, "", io::DType::F16), "f16.bin");
  const Tensor<float> x = io::read_npy_f32(yv9test::fixtures_dir() + "/yolov9-t-train/in_rand_128x128.npy");
  CHECK(bitwise_equal(a.net.forward(x, Context{}), b.net.forward(x, Context{})));
}
