// SPDX-License-Identifier: MIT
// Weight file (docs/weight-format.md): round trip, the byte layout safetensors readers expect, and
// one test per validation rule with the exact message a user would see.
#include <doctest/doctest.h>

#include <yv9/io/weightfile.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace yv9::io;

namespace {

std::vector<std::uint8_t> to_bytes(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

// length field + header (not padded) + data, as a third-party writer might produce it.
std::vector<std::uint8_t> make_file(const std::string& header, std::size_t data_bytes, std::uint64_t claimed_len = ~0ull) {
  const std::uint64_t n = claimed_len == ~0ull ? header.size() : claimed_len;
  std::string out(8, '\0');  // built as a string: GCC 12 warns falsely (-Warray-bounds) on vector::insert here
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(n >> (8 * k));
  out += header;
  for (std::size_t i = 0; i < data_bytes; ++i) out += static_cast<char>(i);
  return to_bytes(out);
}

std::string error_of(const std::vector<std::uint8_t>& file) {
  try {
    WeightFile::parse(file, "m.bin");
  } catch (const yv9::Error& e) {
    return e.what();
  }
  return "";
}

std::string tmp_path(const char* name) {
  return std::string("/tmp/yv9_test_weightfile_") + std::to_string(::getpid()) + "_" + name;
}

template <class T>
std::vector<std::uint8_t> le_bytes(const std::vector<T>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());  // the test machine is little-endian (x86-64)
  return b;
}

}  // namespace

TEST_CASE("weightfile: round trip through write_weight_file and load") {
  const std::string path = tmp_path("rt.bin");
  std::vector<WriteTensor> ts;
  ts.push_back({"model.0.conv.weight", DType::F32, {2, 1, 1, 3}, le_bytes(std::vector<float>{1, -2, 3.5f, 0, 1e-30f, -0.f})});
  ts.push_back({"model.0.bn.num_batches_tracked", DType::I64, {}, le_bytes(std::vector<std::int64_t>{-7})});
  // fp16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +inf, NaN, 0x03FF (largest subnormal)
  ts.push_back({"h", DType::F16, {7}, le_bytes(std::vector<std::uint16_t>{0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x7E00, 0x03FF})});
  ts.push_back({"b", DType::BF16, {2}, le_bytes(std::vector<std::uint16_t>{0x3F80, 0xC049})});
  ts.push_back({"d", DType::F64, {1}, le_bytes(std::vector<double>{0.1})});
  ts.push_back({"empty", DType::F32, {0, 3}, {}});
  ts.push_back({"i8", DType::I8, {2}, {0xFF, 0x7F}});
  ts.push_back({"flag", DType::BOOL, {2}, {0, 2}});
  write_weight_file(path, ts, {{"config", "nc: 4\n"}, {"names", "[\"a\",\"\\u00e9\"]"}});

  const WeightFile w = WeightFile::load(path);
  std::remove(path.c_str());
  CHECK(w.meta("format") == "yv9");
  CHECK(w.meta("format_version") == "1");
  CHECK(w.meta("config") == "nc: 4\n");
  CHECK(w.meta("names") == "[\"a\",\"\\u00e9\"]");
  CHECK(w.meta("absent", "dflt") == "dflt");
  REQUIRE(w.tensors().size() == ts.size());
  for (const WriteTensor& t : ts) {
    const TensorEntry* e = w.find(t.name);
    REQUIRE(e);
    CHECK(e->dtype == t.dtype);
    CHECK(e->shape == t.shape);
    CHECK(e->end - e->begin == t.bytes.size());
    if (!t.bytes.empty()) CHECK(std::memcmp(w.data(*e).bytes, t.bytes.data(), t.bytes.size()) == 0);
  }
  for (std::size_t i = 1; i < w.tensors().size(); ++i) CHECK(w.tensors()[i - 1].end == w.tensors()[i].begin);
  CHECK(w.find("nope") == nullptr);
  CHECK_THROWS_WITH_AS(w.at("nope"), doctest::Contains("no tensor \"nope\""), yv9::WeightError);

  CHECK(w.values<float>(w.at("model.0.conv.weight")) == std::vector<float>{1, -2, 3.5f, 0, 1e-30f, -0.f});
  CHECK(w.values<double>(w.at("model.0.bn.num_batches_tracked")) == std::vector<double>{-7});
  CHECK(w.at("model.0.bn.num_batches_tracked").numel() == 1);
  const std::vector<float> h = w.values<float>(w.at("h"));
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(h[4]));
  CHECK(std::isnan(h[5]));
  CHECK(h[6] == std::ldexp(1023.0f, -24));
  CHECK(w.values<float>(w.at("b")) == std::vector<float>{1.0f, -3.140625f});
  CHECK(w.values<double>(w.at("d"))[0] == 0.1);
  CHECK(w.values<float>(w.at("empty")).empty());
  CHECK(w.values<float>(w.at("i8")) == std::vector<float>{-1, 127});
  CHECK(w.values<float>(w.at("flag")) == std::vector<float>{0, 1});
}

TEST_CASE("weightfile: every fp16 bit pattern widens exactly") {
  // Reference: a float built from the definition value = (-1)^s * 2^(e-15) * (1 + m/1024).
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const std::uint32_t s = bits >> 15, e = (bits >> 10) & 31, m = bits & 1023;
    const float f = half_to_float(static_cast<std::uint16_t>(bits));
    if (e == 31) {
      CHECK((m == 0 ? std::isinf(f) : std::isnan(f)));
      continue;
    }
    const double mag = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1.0 + m / 1024.0, int(e) - 15);
    const double want = s ? -mag : mag;
    if (f != want || std::signbit(f) != bool(s)) {
      FAIL("half 0x" << std::hex << bits << " -> " << f << ", want " << want);
    }
  }
}

TEST_CASE("weightfile: byte layout matches safetensors (hand-built bytes)") {
  // What Python writes with struct.pack('<Q', len(h)) + h + data for one F32 tensor [2].
  const std::string hdr = R"({"__metadata__":{"format":"yv9","format_version":"1"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<std::uint8_t> file = make_file(hdr, 0);
  const float v[2] = {1.5f, -0.25f};
  const std::uint8_t raw[8] = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x80, 0xBE};  // little-endian IEEE
  CHECK(std::memcmp(v, raw, 8) == 0);
  file.insert(file.end(), raw, raw + 8);
  const WeightFile w = WeightFile::parse(file, "hand.bin");
  CHECK(w.values<float>(w.at("x")) == std::vector<float>{1.5f, -0.25f});
  CHECK(w.data_size() == 8);

  // And our writer produces exactly that layout, with the header padded to 8.
  const std::string path = tmp_path("layout.bin");
  write_weight_file(path, {{"x", DType::F32, {2}, std::vector<std::uint8_t>(raw, raw + 8)}}, {});
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  const std::size_t padded = (hdr.size() + 7) / 8 * 8;
  REQUIRE(got.size() == 8 + padded + 8);
  CHECK(got[0] == padded);
  for (int k = 1; k < 8; ++k) CHECK(got[k] == 0);
  CHECK(std::string(got.begin() + 8, got.begin() + 8 + hdr.size()) == hdr);
  for (std::size_t i = 8 + hdr.size(); i < 8 + padded; ++i) CHECK(got[i] == ' ');
  CHECK(std::memcmp(got.data() + 8 + padded, raw, 8) == 0);
}

TEST_CASE("weightfile: validation errors name the file and the item") {
  const std::string t16 = R"("t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  CHECK(error_of(make_file("{" + t16 + "}", 16)).empty());

  // Truncated / lying header length.
  CHECK(error_of(to_bytes("abc")) == "m.bin: file is 3 bytes, too short for the 8-byte header length");
  CHECK(error_of(make_file("{}", 0, 1)) == "m.bin: header length 1 is too small (at least 2 bytes: \"{}\")");
  CHECK(error_of(make_file("{}", 0, 3)) == "m.bin: header length 3 exceeds the 2 bytes after the length field (truncated file?)");
  CHECK(error_of(make_file("{}", 0, 1ull << 40)).find("header length 1099511627776 is over the limit") != std::string::npos);
  CHECK_THROWS_AS(WeightFile::parse(make_file("{}", 0, 1ull << 40), "m.bin"), yv9::LimitError);
  CHECK(error_of(make_file("{" + t16 + "}", 15)) ==
        "m.bin: tensor \"t\": data_offsets [0, 16] run past the end of the 15-byte data buffer (truncated file?)");

  // JSON-level problems.
  CHECK(error_of(make_file("{\"t\":", 0)) == "m.bin: header: invalid JSON at byte 5: unexpected end of input, expected a value");
  CHECK(error_of(make_file("[1, 2]", 0)) == "m.bin: header is an array, expected a JSON object");
  CHECK(error_of(make_file("{\"__metadata__\":{\"a\":1}}", 0)) ==
        "m.bin: __metadata__ \"a\": value is a number, expected a string");
  CHECK(error_of(make_file("{\"__metadata__\":[]}", 0)) == "m.bin: __metadata__ is an array, expected an object");
  CHECK(error_of(make_file("{" + t16 + "," + t16 + "}", 32)).find("duplicate key \"t\"") != std::string::npos);
  CHECK(error_of(make_file(std::string(200, '[') + std::string(200, ']'), 0)).find("nesting deeper than 64") != std::string::npos);

  // Tensor entries.
  CHECK(error_of(make_file(R"({"t":{"dtype":"F8","shape":[4],"data_offsets":[0,4]}})", 4)) ==
        "m.bin: tensor \"t\": unknown dtype \"F8\" (expected F16 BF16 F32 F64 I8 U8 I16 I32 I64 BOOL)");
  CHECK(error_of(make_file(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,4]}})", 4)) ==
        "m.bin: tensor \"t\": data_offsets [0, 4] do not match shape [4] F32 (16 bytes)");
  CHECK(error_of(make_file(R"({"model.0.conv.weight":{"dtype":"F32","shape":[16,3,3,3],"data_offsets":[0,100]}})", 100)) ==
        "m.bin: tensor \"model.0.conv.weight\": data_offsets [0, 100] do not match shape [16,3,3,3] F32 (1728 bytes)");
  CHECK(error_of(make_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0)) ==
        "m.bin: tensor \"t\": shape [4294967296,4294967296] F32 overflows 64-bit byte size");
  CHECK(error_of(make_file(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)) ==
        "m.bin: tensor \"t\": shape [-1] is not a list of non-negative integers");
  CHECK(error_of(make_file(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8)).find("non-negative integers") !=
        std::string::npos);
  CHECK(error_of(make_file(R"({"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1)) ==
        "m.bin: tensor \"t\": rank 9 is over the maximum of 8");
  CHECK(error_of(make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}})", 1)) ==
        "m.bin: tensor \"t\": data_offsets [1, 0] have begin > end");
  CHECK(error_of(make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1)) ==
        "m.bin: tensor \"t\": data_offsets [0] is not [begin, end]");
  CHECK(error_of(make_file(R"({"t":{"dtype":"U8","shape":[1]}})", 1)) == "m.bin: tensor \"t\": missing \"data_offsets\"");
  CHECK(error_of(make_file(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1)) ==
        "m.bin: tensor \"t\": unknown field \"x\"");
  CHECK(error_of(make_file(R"({"t":3})", 0)) == "m.bin: tensor \"t\": entry is a number, expected an object");

  // Tiling of the data buffer.
  const std::string a = R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]})";
  CHECK(error_of(make_file("{" + a + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6)) ==
        "m.bin: tensor \"b\": data [2, 6) overlaps tensor \"a\" which ends at 4");
  CHECK(error_of(make_file("{" + a + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[5,9]}})", 9)) ==
        "m.bin: tensor \"b\": data starts at 5 but the previous data ends at 4 (a hole of 1 bytes)");
  CHECK(error_of(make_file(R"({"b":{"dtype":"U8","shape":[4],"data_offsets":[1,5]}})", 5)) ==
        "m.bin: tensor \"b\": data starts at 1 but the previous data ends at 0 (a hole of 1 bytes)");
  CHECK(error_of(make_file("{" + a + "}", 7)) ==
        "m.bin: 3 bytes after the last tensor's data (data buffer is 7 bytes, tensors cover 4)");
  CHECK(error_of(make_file("{}", 1)) == "m.bin: 1 bytes after the last tensor's data (data buffer is 1 bytes, tensors cover 0)");
  // Order in the header does not matter; zero-size tensors may sit anywhere on the tiling.
  CHECK(error_of(make_file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)" +
                           a + "}", 6)).empty());
  // Unsupported version of our own format.
  CHECK(error_of(make_file(R"({"__metadata__":{"format":"yv9","format_version":"2"}})", 0)) ==
        "m.bin: format_version \"2\" is not supported by this reader (version 1)");
}

TEST_CASE("weightfile: load names the path; writer refuses bad tensors and leaves no file") {
  CHECK_THROWS_WITH_AS(WeightFile::load("/nonexistent/x.bin"), doctest::Contains("/nonexistent/x.bin: cannot open"), yv9::IoError);
  const std::string path = tmp_path("bad.bin");
  CHECK_THROWS_WITH_AS(write_weight_file(path, {{"x", DType::F32, {3}, {1, 2, 3}}}, {}),
                       doctest::Contains("tensor \"x\": 3 bytes do not match shape [3] F32"), yv9::UsageError);
  CHECK_THROWS_AS(write_weight_file(path, {{"x", DType::U8, {1}, {1}}, {"x", DType::U8, {1}, {1}}}, {}), yv9::UsageError);
  CHECK_THROWS_AS(write_weight_file(path, {{"__metadata__", DType::U8, {1}, {1}}}, {}), yv9::UsageError);
  CHECK(!std::ifstream(path).good());
  CHECK(!std::ifstream(path + ".tmp." + std::to_string(::getpid())).good());
  CHECK_THROWS_AS(write_weight_file("/nonexistent/dir/x.bin", {}, {}), yv9::IoError);

  WeightFileLimits lim;
  lim.max_file_bytes = 10;
  CHECK_THROWS_AS(WeightFile::parse(make_file("{}", 10), "m.bin", lim), yv9::LimitError);
}

TEST_CASE("atomic_file: abandoned writer removes its temp file and keeps the old content") {
  const std::string path = tmp_path("atomic.txt");
  write_file_atomic(path, "old");
  {
    AtomicFileWriter w(path);
    w.write("new and partial");
    CHECK(std::ifstream(w.temp_path()).good());
  }  // destroyed without commit
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(s == "old");
  CHECK(!std::ifstream(path + ".tmp." + std::to_string(::getpid())).good());
  std::remove(path.c_str());
}

TEST_CASE("weightfile: load reads tensors on demand, and a file cut short meanwhile is an error, not a fault") {
  std::vector<yv9::io::WriteTensor> ts(2);
  ts[0].name = "a";
  ts[0].shape = {4};
  ts[0].bytes.resize(16, 0x3f);
  ts[1].name = "b";
  ts[1].shape = {1024};
  ts[1].bytes.resize(4096, 0x40);
  const std::string path = tmp_path("ondemand.bin");
  yv9::io::write_weight_file(path, ts, {});
  const WeightFile w = WeightFile::load(path);
  CHECK(w.values<float>(w.at("a")).size() == 4);
  const yv9::io::TensorData d = w.data(w.at("b"));
  REQUIRE(d.owned);  // its own buffer: nothing of the file stays in memory with the WeightFile
  CHECK(d.owned->size() == 4096);
  CHECK(std::memcmp(d.bytes, ts[1].bytes.data(), 4096) == 0);
  // Another process truncates the file after it was opened and checked.
  REQUIRE(::truncate(path.c_str(), 100) == 0);
  try {
    (void)w.data(w.at("b"));
    FAIL("no error");
  } catch (const yv9::IoError& e) {
    CHECK(std::string(e.what()).find("changed while in use") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("weightfile: F16 and BF16 tensors whose byte length does not fit are refused") {
  // odd lengths, a float32-sized buffer under a 16-bit dtype, and one byte short
  CHECK(error_of(make_file(R"({"t":{"dtype":"F16","shape":[3],"data_offsets":[0,5]}})", 5)) ==
        "m.bin: tensor \"t\": data_offsets [0, 5] do not match shape [3] F16 (6 bytes)");
  CHECK(error_of(make_file(R"({"t":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,7]}})", 7)) ==
        "m.bin: tensor \"t\": data_offsets [0, 7] do not match shape [2,2] BF16 (8 bytes)");
  CHECK(error_of(make_file(R"({"model.0.conv.weight":{"dtype":"F16","shape":[16,3,3,3],"data_offsets":[0,1728]}})", 1728)) ==
        "m.bin: tensor \"model.0.conv.weight\": data_offsets [0, 1728] do not match shape [16,3,3,3] F16 (864 bytes)");
  CHECK(error_of(make_file(R"({"t":{"dtype":"BF16","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0)) ==
        "m.bin: tensor \"t\": shape [4611686018427387904] BF16 overflows 64-bit byte size");
  // a right-sized 16-bit tensor followed by a lying one: the second is named
  CHECK(error_of(make_file(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,6]}})", 6)) ==
        "m.bin: tensor \"b\": data_offsets [4, 6] do not match shape [2] BF16 (4 bytes)");
  // a real file whose F32 tensor is relabelled F16 (same header length): its bytes no longer fit
  std::vector<WriteTensor> ts;
  ts.push_back({"w", DType::F32, {4}, le_bytes(std::vector<float>{1, 2, 3, 4})});
  const std::string path = tmp_path("relabel.bin");
  write_weight_file(path, ts, {});
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  std::string s(bytes.begin(), bytes.end());
  const std::size_t at = s.find("\"F32\"");
  REQUIRE(at != std::string::npos);
  s.replace(at, 5, "\"F16\"");
  CHECK(error_of(to_bytes(s)) == "m.bin: tensor \"w\": data_offsets [0, 16] do not match shape [4] F16 (8 bytes)");
  // and the writer refuses to produce such a file in the first place
  ts[0].dtype = DType::F16;
  CHECK_THROWS_AS(weight_file_bytes(path, ts, {}), yv9::UsageError);
}
