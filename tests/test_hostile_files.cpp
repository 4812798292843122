// SPDX-License-Identifier: MIT
// Hostile files for every reader: truncation at every byte offset of a small real file, bit flips,
// lying headers, huge shapes and sizes, empty files, directories and devices given as files, deep
// nesting. The contract (STYLE rule 4, core/error.hpp): the reader raises a yv9::Error naming the
// file — it never crashes, hangs, throws anything else, or allocates what a header merely claims.
// Run under ASan/UBSan by .ci/sanitize.sh; libFuzzer keeps exploring the same readers (tests/fuzz/).
//
// Where a damaged file can still be valid (a bit flip inside tensor data, a yaml cut at a line
// end) the check is "yv9::Error or success", and the success is then pushed further through the
// pipeline (weights -> model, yaml -> config -> builder) so that it meets the next reader.
#include <yv9/io/checkpoint.hpp>
#include <yv9/io/json.hpp>
#include <yv9/io/npy.hpp>
#include <yv9/io/weightfile.hpp>
#include <yv9/io/yaml.hpp>
#include <yv9/model/loader.hpp>
#include <yv9/weights/synthetic.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace yv9;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string tmp_path(const std::string& name) {
  return std::string(YV9_BINARY_DIR) + "/hostile-" + std::to_string(::getpid()) + "-" + name;
}

void spit(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

// What happened when a reader met a hostile input.
enum class Outcome { Ok, Yv9Error, OtherException };

Outcome run(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
    return Outcome::Ok;
  } catch (const Error& e) {
    if (message) *message = e.what();
    return Outcome::Yv9Error;
  } catch (const std::exception& e) {
    if (message) *message = std::string("non-yv9 exception: ") + e.what();
    return Outcome::OtherException;
  }
}

// The message of the yv9::Error f must raise ("" and a failed check if it does not).
std::string error_of(const std::function<void()>& f) {
  std::string msg;
  const Outcome o = run(f, &msg);
  CHECK_MESSAGE(o == Outcome::Yv9Error, (o == Outcome::Ok ? std::string("no error") : msg));
  return o == Outcome::Yv9Error ? msg : std::string();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string ref(const std::string& rel) { return yv9test::data_dir() + "/ref/" + rel; }

Bytes prefix(const Bytes& b, std::size_t n) { return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)); }

// A weight file with the tensors of `base` and `config` as its embedded model config.
Bytes with_config(const io::WeightFile& base, const std::string& config) {
  std::vector<io::WriteTensor> ts;
  for (const auto& e : base.tensors()) {
    io::WriteTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    const io::TensorData d = base.data(e);
    const std::uint8_t* p = d.bytes;
    t.bytes.assign(p, p + (e.end - e.begin));
    ts.push_back(std::move(t));
  }
  std::map<std::string, std::string> meta = base.metadata();
  meta["config"] = config;
  const std::string path = tmp_path("with-config.bin");
  io::write_weight_file(path, ts, meta);
  Bytes b = slurp(path);
  std::remove(path.c_str());
  return b;
}

// Everything detect does with a weight file before the first forward.
void load_weights(const Bytes& bytes) {
  const io::WeightFile wf = io::WeightFile::parse(bytes, "hostile.bin");
  const auto m = model::load_model<float>(wf, "hostile.bin");
  (void)m.net.shapes(Shape{1, m.net.in_channels(), 16, 16});
}

// Everything `detect --config X --summary` does with a config.
void build_config(const std::string& text) {
  const model::ModelConfig cfg = model::parse_config(io::parse_yaml(text, "hostile.yaml"), "hostile.yaml");
  weights::Binder spec;
  const model::Network<float> net(model::build<float>(cfg, spec));
  (void)net.shapes(Shape{1, net.in_channels(), 64, 64});
}

std::string deep(const char* open, const char* close, int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Weight files

TEST_CASE("hostile weight file: every truncation and every appended byte is an error") {
  const Bytes good = slurp(ref("mod-conv-k1/model.bin"));
  REQUIRE_NOTHROW(load_weights(good));
  int not_error = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    std::string msg;
    if (run([&] { io::WeightFile::parse(prefix(good, n), "cut.bin"); }, &msg) != Outcome::Yv9Error) ++not_error;
    else if (!contains(msg, "cut.bin")) ++not_error;  // the message names the file
  }
  CHECK(not_error == 0);
  Bytes longer = good;
  longer.push_back(0);
  CHECK(contains(error_of([&] { io::WeightFile::parse(longer, "long.bin"); }), "long.bin"));
}

TEST_CASE("hostile weight file: bit flips anywhere fail cleanly or load cleanly") {
  const Bytes good = slurp(ref("mod-conv-k1/model.bin"));
  int other = 0, loaded = 0, refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    // one bit per byte, cycling through the 8 positions: every header character and every data
    // byte is hit once; flips in tensor data give a valid file with another value.
    Bytes b = good;
    b[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
    std::string msg;
    switch (run([&] { load_weights(b); }, &msg)) {
      case Outcome::Ok: ++loaded; break;
      case Outcome::Yv9Error: ++refused; break;
      case Outcome::OtherException:
        ++other;
        MESSAGE("byte " << i << ": " << msg);
        break;
    }
  }
  CHECK(other == 0);
  CHECK(refused > 0);
  CHECK(loaded > 0);
}

// The tensors of a weight file with the floating ones stored as `dtype` (what pt2bin --dtype writes).
Bytes narrowed(const Bytes& file, io::DType dtype) {
  const io::WeightFile wf = io::WeightFile::parse(file, "base.bin");
  std::vector<io::WriteTensor> ts;
  for (const auto& e : wf.tensors()) {
    const io::TensorData d = wf.data(e);
    io::WriteTensor t{e.name, e.dtype, e.shape, Bytes(d.bytes, d.bytes + (e.end - e.begin))};
    io::narrow_tensor(t, dtype, "base.bin");
    ts.push_back(std::move(t));
  }
  return io::weight_file_bytes("narrow.bin", ts, wf.metadata());
}

TEST_CASE("hostile weight file: F16 and BF16 files cut, flipped and relabelled fail cleanly or load cleanly") {
  const Bytes f32 = slurp(ref("mod-conv-k1/model.bin"));
  for (io::DType dt : {io::DType::F16, io::DType::BF16}) {
    CAPTURE(io::dtype_name(dt));
    const Bytes good = narrowed(f32, dt);
    REQUIRE_NOTHROW(load_weights(good));
    int other = 0, refused = 0;
    for (std::size_t n = 0; n < good.size(); ++n)  // every truncation: an error naming the file
      if (run([&] { io::WeightFile::parse(prefix(good, n), "cut.bin"); }) != Outcome::Yv9Error) ++other;
    CHECK(other == 0);
    for (std::size_t i = 0; i < good.size(); ++i) {  // a bit flip at every byte
      Bytes b = good;
      b[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      std::string msg;
      const Outcome o = run([&] { load_weights(b); }, &msg);
      if (o == Outcome::Yv9Error) ++refused;
      if (o == Outcome::OtherException) {
        ++other;
        MESSAGE("byte " << i << ": " << msg);
      }
    }
    CHECK(other == 0);
    CHECK(refused > 0);
    // the dtype relabelled: to a 4-byte float the byte counts no longer match; to a 2-byte integer
    // they do, and the loader refuses an integer weight rather than reading its bits as numbers
    const std::string quoted = "\"" + std::string(io::dtype_name(dt)) + "\"";
    std::string text(good.begin(), good.end());
    const std::size_t at = text.find(quoted);
    REQUIRE(at != std::string::npos);
    auto relabel = [&](const std::string& to) {  // same header length: JSON whitespace pads "F32" to "BF16"'s size
      std::string t = text;
      t.replace(at, quoted.size(), (to + "    ").substr(0, quoted.size()));
      return Bytes(t.begin(), t.end());
    };
    CHECK(contains(error_of([&] { load_weights(relabel("\"F32\"")); }), "do not match shape"));
    CHECK(contains(error_of([&] { load_weights(relabel("\"I16\"")); }), "expected a floating-point dtype, got I16"));
  }
}

TEST_CASE("hostile weight file: lying header lengths and entries") {
  auto file = [](std::uint64_t n, const std::string& header, std::size_t data) {
    Bytes b(8);
    for (int k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(n >> (8 * k));
    b.insert(b.end(), header.begin(), header.end());
    b.resize(b.size() + data, 0);
    return b;
  };
  auto parse = [](const Bytes& b) { io::WeightFile::parse(b, "lie.bin"); };
  const std::string h = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE_NOTHROW(parse(file(h.size(), h, 8)));
  // header length: absurd, past the end, zero, one short
  for (std::uint64_t n : {~std::uint64_t(0), std::uint64_t(1) << 62, std::uint64_t(h.size() + 9), std::uint64_t(0),
                          std::uint64_t(h.size() - 1)})
    error_of([&] { parse(file(n, h, 8)); });
  // entries claiming more than the file has, overflowing byte sizes, bad ranks and dims
  const char* lies[] = {
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,9]}})",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})",
      R"({"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})",
      R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})",
      R"({"t":{"dtype":"F32","shape":[2]}})",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})",
      R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"u":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})",
      R"({"__metadata__":{"config":7},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      R"({"__metadata__":{"format":"yv9","format_version":"99"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      R"([1,2,3])",
      R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})",
  };
  for (const char* lie : lies) {
    CAPTURE(lie);
    const std::string s(lie);
    CHECK(contains(error_of([&] { parse(file(s.size(), s, 8)); }), "lie.bin"));
  }
}

TEST_CASE("hostile weight file: a deeply nested header is refused without recursing into it") {
  for (int depth : {65, 1000, 200000}) {
    CAPTURE(depth);
    const std::string s = "{\"t\":" + deep("[", "]", depth) + "}";
    Bytes b(8);
    for (int k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(s.size() >> (8 * k));
    b.insert(b.end(), s.begin(), s.end());
    error_of([&] { io::WeightFile::parse(b, "deep.bin"); });
  }
}

TEST_CASE("hostile weight file: embedded configs that would make the loader allocate absurdly") {
  const io::WeightFile base = io::WeightFile::parse(slurp(ref("mod-conv-k1/model.bin")), "base.bin");
  // Each config is valid yaml; binding it to the file's (few, small) tensors must stop at a named
  // limit before the missing weights are materialised (16e9 doubles for the first one).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nc: 1\nch: 16\nbackbone:\n  - [-1, 1, Conv, [1048576, 31, 1]]\nhead: []\n", "max_elements"},
      {"nc: 1\nch: 8\nwidth_multiple: 99\nbackbone:\n  - [-1, 1, Conv, [1048576, 1, 1]]\nhead: []\n", "kMaxChannels"},
      {"nc: 1\nch: 8\ndepth_multiple: 99\nbackbone:\n  - [-1, 1, Conv, [8, 1, 1]]\n  - [-1, 1000, Conv, [8, 3, 1]]\nhead: []\n",
       "kMaxModuleCopies"},
  };
  for (const auto& [cfg, limit] : cases) {
    CAPTURE(cfg);
    const Bytes b = with_config(base, cfg);
    CHECK(contains(error_of([&] { load_weights(b); }), limit));
    // synthetic weights (detect --config X --bench) meet the same limits
    CHECK(contains(error_of([&] {
                     const weights::SyntheticSource src;
                     weights::Binder syn(src);
                     model::build<float>(model::parse_config_text(cfg, "syn.yaml"), syn);
                   }),
                   limit));
  }
}

// ---------------------------------------------------------------------------------------------
// .npy

TEST_CASE("hostile npy: every truncation and every appended byte is an error") {
  const Bytes good = slurp(ref("mod-conv-k1/in_16x12.npy"));
  REQUIRE_NOTHROW(io::parse_npy(good.data(), good.size(), "good.npy"));
  int not_error = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    const Bytes b = prefix(good, n);
    std::string msg;
    if (run([&] { io::parse_npy(b.data(), b.size(), "cut.npy"); }, &msg) != Outcome::Yv9Error || !contains(msg, "cut.npy"))
      ++not_error;
  }
  CHECK(not_error == 0);
  Bytes longer = good;
  longer.push_back(0);
  error_of([&] { io::parse_npy(longer.data(), longer.size(), "long.npy"); });
}

TEST_CASE("hostile npy: bit flips in the header fail cleanly or parse to the claimed size") {
  const Bytes good = slurp(ref("mod-conv-k1/in_16x12.npy"));
  const std::size_t header_end = 10 + (good[8] | (std::size_t(good[9]) << 8));
  int other = 0;
  for (std::size_t i = 0; i < header_end; ++i)
    for (int bit = 0; bit < 8; ++bit) {
      Bytes b = good;
      b[i] ^= static_cast<std::uint8_t>(1u << bit);
      std::string msg;
      const Outcome o = run(
          [&] {
            const io::NpyArray a = io::parse_npy(b.data(), b.size(), "flip.npy");
            if (a.descr == "<f4" && a.shape.size() <= 4) (void)io::npy_to_tensor_f32(a, "flip.npy");
          },
          &msg);
      if (o == Outcome::OtherException) {
        ++other;
        MESSAGE("byte " << i << " bit " << bit << ": " << msg);
      }
    }
  CHECK(other == 0);
}

TEST_CASE("hostile npy: lying headers") {
  auto npy = [](const std::string& dict, std::size_t data, int major = 1) {
    Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
    std::string h = dict;
    h += '\n';
    if (major == 1) {
      b.push_back(static_cast<std::uint8_t>(h.size() & 0xff));
      b.push_back(static_cast<std::uint8_t>(h.size() >> 8));
    } else {
      for (int k = 0; k < 4; ++k) b.push_back(static_cast<std::uint8_t>(h.size() >> (8 * k)));
    }
    b.insert(b.end(), h.begin(), h.end());
    b.resize(b.size() + data, 0);
    return b;
  };
  auto parse = [](const Bytes& b) { return io::parse_npy(b.data(), b.size(), "lie.npy"); };
  REQUIRE(parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24)).numel() == 6);
  REQUIRE(parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 2)).numel() == 6);
  const char* lies[] = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",  // 2^80 bytes
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, ), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, ), }",  // 4 GiB claimed, 24 bytes present
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-6, ), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 6), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }",
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
      "{'descr': '<f4', 'fortran_order': maybe, 'shape': (2, 3), }",
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
      "{'descr': 'O', 'fortran_order': False, 'shape': (2, 3), }",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }",
      "{'fortran_order': False, 'shape': (2, 3), }",
      "{'descr': '<f4', 'shape': (2, 3), }",
      "{'descr': '<f4', 'fortran_order': False, }",
      "",
  };
  for (const char* lie : lies) {
    CAPTURE(lie);
    CHECK(contains(error_of([&] { parse(npy(lie, 24)); }), "lie.npy"));
  }
  // header length past the end of the file (v1 and v2), unknown version, bad magic
  Bytes b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  b[8] = 0xff;
  b[9] = 0xff;
  error_of([&] { parse(b); });
  b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 2);
  b[11] = 0xff;
  error_of([&] { parse(b); });
  b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 4);
  error_of([&] { parse(b); });
  b[1] = 'X';
  error_of([&] { parse(b); });
  // rank 5 float32 parses as an array but is not an engine tensor
  const io::NpyArray five = parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 1, 3), }", 24));
  error_of([&] { io::npy_to_tensor_f32(five, "five.npy"); });
  error_of([&] { io::npy_to_tensor_f32(parse(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24)), "f8.npy"); });
}

// ---------------------------------------------------------------------------------------------
// yaml configs

TEST_CASE("hostile yaml: every truncation and a bit flip at every byte of a real config") {
  const Bytes file = slurp(ref("v9c-small/model.yaml"));
  const std::string good(file.begin(), file.end());
  REQUIRE_NOTHROW(build_config(good));
  // A config cut at a line end can be a smaller valid model, so success is allowed; anything but
  // success or a yv9::Error is not.
  int other = 0, refused = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::string msg;
    const Outcome o = run([&] { build_config(good.substr(0, n)); }, &msg);
    refused += o == Outcome::Yv9Error;
    if (o == Outcome::OtherException) {
      ++other;
      MESSAGE("cut at " << n << ": " << msg);
    }
  }
  CHECK(other == 0);
  CHECK(refused > static_cast<int>(good.size()) / 2);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string s = good;
    s[i] = static_cast<char>(s[i] ^ (1 << (i % 8)));
    std::string msg;
    if (run([&] { build_config(s); }, &msg) == Outcome::OtherException) {
      ++other;
      MESSAGE("flip at " << i << ": " << msg);
    }
  }
  CHECK(other == 0);
}

TEST_CASE("hostile yaml: deep nesting is refused by the depth limit, not the stack") {
  for (int depth : {65, 10000, 200000}) {
    CAPTURE(depth);
    error_of([&] { io::parse_yaml("a: " + deep("[", "]", depth) + "\n", "deep.yaml"); });
    error_of([&] { io::parse_yaml("a: " + deep("{b: ", "}", depth) + "\n", "deep.yaml"); });
  }
  std::string block;
  for (int i = 0; i < 200; ++i) block += std::string(static_cast<std::size_t>(i), ' ') + "k" + std::to_string(i) + ":\n";
  error_of([&] { io::parse_yaml(block, "deep.yaml"); });
  std::string seq;
  for (int i = 0; i < 200; ++i) seq += std::string(static_cast<std::size_t>(2 * i), ' ') + "-\n";
  error_of([&] { io::parse_yaml(seq, "deep.yaml"); });
}

TEST_CASE("hostile yaml: configs that would exhaust memory or overflow are refused by named limits") {
  const std::string head = "nc: 1\nch: 8\nbackbone:\n";
  // A chain doubling the channels every layer (Concat of the previous layer with itself).
  std::string doubling = head + "  - [-1, 1, Conv, [8, 1, 1]]\n";
  for (int i = 0; i < 80; ++i) doubling += "  - [[-1, -1], 1, Concat, [1]]\n";
  // A chain of x64 upsamples: the activation outgrows any memory after a few layers.
  std::string upsample = head + "  - [-1, 1, Conv, [8, 1, 1]]\n";
  for (int i = 0; i < 16; ++i) upsample += "  - [-1, 1, nn.Upsample, [None, 64, 'nearest']]\n";
  // 20 rows of 1000 x 99 (depth_multiple) copies of a module without weights.
  std::string copies = "nc: 1\nch: 8\ndepth_multiple: 99\nbackbone:\n  - [-1, 1, Conv, [8, 1, 1]]\n";
  for (int i = 0; i < 20; ++i) copies += "  - [-1, 1000, Silence, []]\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {head + "  - [-1, 1, Conv, [1048576, 31, 1]]\nhead: []\n", "max_elements"},
      {head + "  - [-1, 1, Conv, [1048576, 1, 1]]\n  - [-1, 1, Conv, [1048576, 1, 1]]\nhead: []\n", "max_elements"},
      {"width_multiple: 99\n" + head + "  - [-1, 1, Conv, [1048576, 1, 1]]\nhead: []\n", "kMaxChannels"},
      {doubling + "head: []\n", "kMaxChannels"},
      {upsample + "head: []\n", "kMaxActivationElements"},
      {copies + "head: []\n", "kMaxModuleCopies"},
      {"anchors: 999999999999999999\n" + head + "  - [-1, 1, Conv, [8, 1, 1]]\nhead: []\n", "anchors"},
      {"nc: 99999999999999999\nbackbone:\n  - [-1, 1, Conv, [8, 1, 1]]\nhead: []\n", "nc"},
  };
  for (const auto& [cfg, what] : cases) {
    CAPTURE(cfg.substr(0, 200));
    CHECK(contains(error_of([&] { build_config(cfg); }), what));
  }
}

TEST_CASE("hostile yaml: oversized, binary and unsupported input") {
  error_of([&] { io::parse_yaml(std::string((4u << 20) + 1, '#'), "big.yaml"); });
  error_of([&] { io::parse_yaml(std::string("nc: 1\0\n", 7), "nul.yaml"); });
  error_of([&] { build_config(std::string(4096, '\xff')); });
  error_of([&] { build_config(""); });
  error_of([&] { build_config("nc: &a 1\nbackbone: *a\nhead: []\n"); });
  error_of([&] { build_config("nc: 1\nbackbone:\n\t- [-1, 1, Conv, [8]]\nhead: []\n"); });
  error_of([&] { build_config("nc: 1\nbackbone: |\n  text\nhead: []\n"); });
  error_of([&] { build_config("nc: 1\nbackbone:\n  - [5, 1, Conv, [8]]\nhead: []\n"); });
  error_of([&] { build_config("nc: 1\nbackbone:\n  - [-2, 1, Conv, [8]]\nhead: []\n"); });
  error_of([&] { build_config("nc: 1\nbackbone:\n  - [-1, 1, Conv, [8, 1, 1, 0, 3]]\nhead: []\n"); });
}

// ---------------------------------------------------------------------------------------------
// JSON (weight file headers, metadata strings, case files)

TEST_CASE("hostile json: truncations, nesting, numbers, encodings, value counts") {
  const Bytes file = slurp(ref("mod-conv-k1/case.json"));
  const std::string good(file.begin(), file.end());
  REQUIRE_NOTHROW(io::parse_json(good, "good.json"));
  const std::size_t last = good.find_last_of('}');
  int not_error = 0;
  for (std::size_t n = 0; n <= last; ++n)
    if (run([&] { io::parse_json(std::string_view(good).substr(0, n), "cut.json"); }) != Outcome::Yv9Error) ++not_error;
  CHECK(not_error == 0);
  for (int depth : {65, 200000}) {
    error_of([&] { io::parse_json(deep("[", "]", depth), "deep.json"); });
    error_of([&] { io::parse_json(deep("{\"a\":", "}", depth), "deep.json"); });
  }
  for (const char* bad : {"1e999", "-1e999", "NaN", "Infinity", "01", "1.", ".5", "\"\\ud800\"", "\"\xc0\xaf\"",
                          "\"\xff\"", "\"a\x01\"", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "\"\\u12\"", "tru",
                          "[1] [2]", "\xef\xbb\xbf{}"}) {
    CAPTURE(bad);
    const Outcome o = run([&] { io::parse_json(bad, "bad.json"); });
    CHECK(o != Outcome::OtherException);
    if (o == Outcome::Ok) {
      // accepted (e.g. huge numbers clamp): must then write valid JSON again
      CHECK(run([&] { io::parse_json(io::parse_json(bad, "bad.json").dump(), "again"); }) == Outcome::Ok);
    }
  }
  // fuzz_json: "-0e0" was written back as "-0", which reads as the integer 0 (sign lost, and the
  // writer's output was no longer a fixed point).
  const io::Json negzero = io::parse_json("-0e0", "negzero.json");
  CHECK(io::parse_json(negzero.dump(), "again").dump() == negzero.dump());
  CHECK(std::signbit(io::parse_json(negzero.dump(), "again").as_double()));
  io::JsonLimits lim;
  lim.max_values = 1000;
  std::string many = "[";
  for (int i = 0; i < 2000; ++i) many += "0,";
  many += "0]";
  error_of([&] { io::parse_json(many, "many.json", lim); });
}

// ---------------------------------------------------------------------------------------------
// .pt archives (the converter's input)

TEST_CASE("hostile pt: every truncation and a bit flip at every byte of small real checkpoints") {
  // test_pt.cpp cuts train_ckpt.pt every 97 bytes and flips random bits; here every offset of the
  // small archives (two pickle protocols, a hand-assembled torch 2.x layout).
  io::PtLimits no_crc;  // CRCs off so that flips which keep the archive readable reach the pickle
  no_crc.zip.verify_crc = false;
  for (const char* name : {"sd_proto4.pt", "torch2_style.pt", "proto4_hand.pt"}) {
    CAPTURE(name);
    const Bytes good = slurp(yv9test::data_dir() + "/pt/" + name);
    REQUIRE_NOTHROW(io::read_checkpoint(io::TorchArchive(good, "good.pt")));
    int not_error = 0, other = 0;
    for (std::size_t n = 0; n < good.size(); ++n) {
      std::string msg;
      if (run([&] { io::read_checkpoint(io::TorchArchive(prefix(good, n), "cut.pt")); }, &msg) != Outcome::Yv9Error ||
          !contains(msg, "cut.pt")) {
        ++not_error;
        MESSAGE("cut at " << n << ": " << (msg.empty() ? "no error" : msg));
      }
    }
    for (std::size_t i = 0; i < good.size(); ++i) {
      Bytes b = good;
      b[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      std::string msg;
      if (run([&] { io::read_checkpoint(io::TorchArchive(b, "flip.pt", no_crc)); }, &msg) == Outcome::OtherException) {
        ++other;
        MESSAGE("flip at " << i << ": " << msg);
      }
    }
    CHECK(not_error == 0);
    CHECK(other == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Files that are not regular files, or are empty

TEST_CASE("hostile paths: directories, devices, empty and missing files") {
  const std::string dir = tmp_path("dir");
  ::mkdir(dir.c_str(), 0755);
  const std::string empty = tmp_path("empty");
  spit(empty, {});
  const std::vector<std::pair<const char*, std::function<void(const std::string&)>>> readers = {
      {"weights", [](const std::string& p) { io::WeightFile::load(p); }},
      {"model", [](const std::string& p) { model::load_model<float>(p); }},
      {"npy", [](const std::string& p) { io::read_npy_f32(p); }},
      {"config", [](const std::string& p) { model::load_config(p); }},
      {"pt", [](const std::string& p) { io::read_checkpoint(p); }},
  };
  for (const auto& [name, read] : readers) {
    CAPTURE(name);
    for (const std::string& p : {dir, empty, std::string("/dev/null"), dir + "/missing", std::string("")}) {
      CAPTURE(p);
      const std::string msg = error_of([&] { read(p); });
      if (!p.empty()) CHECK(contains(msg, p));
      if (p == dir) CHECK(contains(msg, "is a directory"));  // not "file of 9223372036854775807 bytes"
    }
  }
  std::remove(empty.c_str());
  ::rmdir(dir.c_str());
}
