// SPDX-License-Identifier: MIT
// torch.save reader: ZIP, unpickler, tensors, checkpoint layouts, refusals and hostile input.
// Expected values come from tests/data/pt/*.expected.bin, written by tests/make_pt_fixtures.py
// with torch (so this test needs no Python); small archives are also assembled here by hand.
#include <doctest/doctest.h>

#include <yv9/io/checkpoint.hpp>
#include <yv9/io/yaml.hpp>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

using namespace yv9::io;
using namespace std::string_literals;

namespace {

std::string pt_dir() { return yv9test::data_dir() + "/pt/"; }

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing test file " << path);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

Checkpoint checkpoint_of(const std::vector<std::uint8_t>& bytes, const PtLimits& lim = {}) {
  const TorchArchive a(bytes, "t.pt", lim);
  return read_checkpoint(a);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const yv9::Error& e) {
    return e.what();
  }
  return "";
}

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int k = 0; k < n; ++k) s += static_cast<char>((v >> (8 * k)) & 0xFF);
  return s;
}

// A pickle assembler: each call appends opcodes (protocol 2 framing).
struct Pk {
  std::string b = "\x80\x02";
  Pk& op(const std::string& s) { b += s; return *this; }
  Pk& str(const std::string& s) { b += 'X' + le(s.size(), 4) + s; return *this; }
  Pk& glob(const std::string& m, const std::string& n) { b += "c" + m + "\n" + n + "\n"; return *this; }
  Pk& i64(std::int64_t v) { b += "\x8a\x08"s + le(static_cast<std::uint64_t>(v), 8); return *this; }
  Pk& ints(const std::vector<std::int64_t>& v) {
    op("(");
    for (std::int64_t x : v) i64(x);
    return op("t");
  }
  Pk& od() { return glob("collections", "OrderedDict").op(")R"); }
  Pk& pid(const std::string& type, const std::string& key, std::int64_t numel) {
    op("(").str("storage").glob("torch", type).str(key).str("cpu").i64(numel);
    return op("tQ");
  }
  Pk& tensor(const std::string& type, const std::string& key, std::int64_t numel, std::int64_t offset,
             const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& stride) {
    glob("torch._utils", "_rebuild_tensor_v2").op("(").pid(type, key, numel).i64(offset).ints(shape).ints(stride);
    return op("\x89").od().op("tR");
  }
  Pk& stop() { return op("."); }
};

std::uint32_t crc32_of(const std::string& s) {
  return yv9::io::detail::crc32_update(0, reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

struct Rec {
  std::string name, data;
  std::uint16_t method = 0;
  bool zip64 = false;  // central entry with 0xFFFFFFFF fields + ZIP64 extra
};

std::vector<std::uint8_t> make_zip(const std::vector<Rec>& recs, bool zip64_eocd = false) {
  std::string out, cd;
  for (const Rec& r : recs) {
    const auto crc = crc32_of(r.data);
    const std::uint64_t off = out.size(), n = r.data.size();
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(r.method, 2) + le(0, 4) + le(crc, 4) + le(n, 4) + le(n, 4) +
           le(r.name.size(), 2) + le(0, 2) + r.name + r.data;
    std::string extra;
    std::uint64_t sz = n, lo = off;
    if (r.zip64) {
      extra = le(1, 2) + le(24, 2) + le(n, 8) + le(n, 8) + le(off, 8);
      sz = lo = 0xFFFFFFFF;
    }
    cd += le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(r.method, 2) + le(0, 4) + le(crc, 4) + le(sz, 4) +
          le(sz, 4) + le(r.name.size(), 2) + le(extra.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(lo, 4) +
          r.name + extra;
  }
  const std::uint64_t cd_off = out.size(), count = recs.size();
  out += cd;
  if (zip64_eocd) {
    const std::uint64_t z = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(count, 8) + le(count, 8) +
           le(cd.size(), 8) + le(cd_off, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(z, 8) + le(1, 4);
  }
  out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(zip64_eocd ? 0xFFFF : count, 2) + le(zip64_eocd ? 0xFFFF : count, 2) +
         le(cd.size(), 4) + le(zip64_eocd ? 0xFFFFFFFF : cd_off, 4) + le(0, 2);
  return bytes_of(out);
}

// A torch-like archive: <prefix>/data.pkl, <prefix>/data/<key>..., <prefix>/version.
std::vector<std::uint8_t> archive(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                                  const std::string& prefix = "archive", bool zip64 = false) {
  std::vector<Rec> recs{{prefix + "/data.pkl", pickle, 0, zip64}};
  for (const auto& s : storages) recs.push_back({prefix + "/data/" + s.first, s.second, 0, zip64});
  recs.push_back({prefix + "/version", "3\n", 0, zip64});
  return make_zip(recs, zip64);
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// One F32 tensor "w" = [1, 2, 3, 4] viewed as shape/stride/offset.
std::vector<std::uint8_t> one_tensor(std::int64_t offset, const std::vector<std::int64_t>& shape,
                                     const std::vector<std::int64_t>& stride, std::int64_t numel = 4,
                                     const std::string& type = "FloatStorage") {
  Pk p;
  p.op("}(").str("w").tensor(type, "0", numel, offset, shape, stride).op("u").stop();
  return archive(p.b, {{"0", floats({1, 2, 3, 4})}});
}

void check_against_expected(const std::string& name) {
  CAPTURE(name);
  const Checkpoint ck = read_checkpoint(pt_dir() + name + ".pt");
  const WeightFile exp = WeightFile::load(pt_dir() + name + ".expected.bin");
  CHECK(ck.layout == exp.meta("layout"));
  REQUIRE(ck.tensors.size() == exp.tensors().size());
  for (std::size_t i = 0; i < ck.tensors.size(); ++i) {
    const WriteTensor& got = ck.tensors[i];
    const TensorEntry& want = exp.tensors()[i];  // sorted by offset = the order torch's state_dict() had
    CAPTURE(want.name);
    CHECK(got.name == want.name);
    CHECK(got.dtype == want.dtype);
    CHECK(got.shape == want.shape);
    REQUIRE(got.bytes.size() == want.end - want.begin);
    CHECK(std::equal(got.bytes.begin(), got.bytes.end(), exp.data(want).bytes));
  }
  std::map<std::string, std::string> want_meta = exp.metadata();
  for (const char* k : {"layout", "format", "format_version"}) want_meta.erase(k);
  CHECK(ck.metadata == want_meta);
  CHECK(ck.warnings.empty());
  CHECK(ck.config_error.empty());
}

}  // namespace

TEST_CASE("pt: fixtures written by torch give exactly torch's tensors and metadata") {
  for (const char* name : {"sd_dtypes", "sd_proto4", "sd_proto5", "sd_views", "module", "train_ckpt", "stripped",
                           "converted", "torch2_style", "proto4_hand"})
    check_against_expected(name);
}

TEST_CASE("pt: the tiny model's config is upstream-shaped yaml") {
  const Checkpoint ck = read_checkpoint(pt_dir() + "stripped.pt");
  const std::string& y = ck.metadata.at("config");
  CHECK(y.find("  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n") != std::string::npos);
  CHECK(y.find("  - [[3], 1, DDetect, [nc]]\n") != std::string::npos);
  CHECK(y.find("activation: nn.LeakyReLU(0.1)\n") != std::string::npos);
  // The engine's yaml reader takes it back.
  const yv9::io::Json doc = parse_yaml(y, "config");
  REQUIRE(doc.find("head"));
  REQUIRE(doc.find("head")->size() == 3);
  const yv9::io::Json::Array& row0 = doc.find("head")->as_array()[0].as_array();
  CHECK(row0[2].as_string() == "nn.Upsample");
  CHECK(row0[3].as_array()[2].as_string() == "nearest");
  CHECK(doc.find("note")->as_string() == "it's: odd");
  CHECK(detail::YamlEmitter::py_float(1.0) == "1.0");
  CHECK(detail::YamlEmitter::py_float(0.33) == "0.33");
  CHECK(detail::YamlEmitter::py_float(1e-5) == "1.0e-05");
  CHECK(detail::YamlEmitter::py_float(1e16) == "1.0e+16");
  CHECK(detail::YamlEmitter::py_float(-0.5) == "-0.5");
}

TEST_CASE("pt: refusals say what the file is and what to do") {
  CHECK(error_of([] { read_checkpoint(pt_dir() + "legacy.pt"); }).find("legacy (pre-1.6) PyTorch serialization is not supported; re-save it with torch>=1.6") != std::string::npos);
  CHECK(error_of([] { read_checkpoint(pt_dir() + "torchscript.pt"); }).find("is a TorchScript archive") != std::string::npos);
  CHECK(error_of([] { checkpoint_of(bytes_of("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")); })
            .find("git-lfs pointer") != std::string::npos);
  CHECK(error_of([] { checkpoint_of(bytes_of("\n  <!DOCTYPE html><html><body>404</body></html>")); }).find("HTML") != std::string::npos);
  CHECK(error_of([] { checkpoint_of({}); }) == "t.pt: the file is empty");
  CHECK(error_of([] { checkpoint_of(bytes_of("\x80\x02}q\x00."s)); }).find("a raw pickle") != std::string::npos);
  CHECK(error_of([] { checkpoint_of(bytes_of("GIF89a....")); }) ==
        "t.pt: not a PyTorch checkpoint (starts with bytes 47 49 46 38, expected a ZIP archive \"PK\")");
  CHECK(error_of([] { checkpoint_of(make_zip({})); }).find("empty ZIP archive") != std::string::npos);
  CHECK(error_of([] { checkpoint_of(make_zip({{"a/b.txt", "x"}})); }).find("without <name>/data.pkl") != std::string::npos);
  CHECK(error_of([] { read_checkpoint("/nonexistent/x.pt"); }).find("/nonexistent/x.pt: cannot open") != std::string::npos);
  CHECK_THROWS_AS(read_checkpoint("/nonexistent/x.pt"), yv9::IoError);
  PtLimits lim;
  lim.max_file_bytes = 100;
  CHECK_THROWS_AS(read_checkpoint(pt_dir() + "module.pt", lim), yv9::LimitError);
}

TEST_CASE("zip: ZIP64 records, prefixes, compression, duplicates and CRC") {
  Pk p;
  p.op("}(").str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op("u").stop();
  // ZIP64 EOCD + per-entry ZIP64 extra fields, and a prefix with a space (torch uses the file's basename).
  const Checkpoint ck = checkpoint_of(archive(p.b, {{"0", floats({1, 2, 3, 4})}}, "my model", true));
  REQUIRE(ck.tensors.size() == 1);
  CHECK(ck.tensors[0].bytes == bytes_of(floats({1, 2, 3, 4})));

  std::vector<Rec> recs{{"archive/data.pkl", p.b, 8}, {"archive/data/0", floats({1, 2, 3, 4})}};
  CHECK(error_of([&] { checkpoint_of(make_zip(recs)); }).find("entry \"archive/data.pkl\" is compressed (method 8)") != std::string::npos);
  recs[0].method = 0;
  recs.push_back(recs[1]);
  CHECK(error_of([&] { checkpoint_of(make_zip(recs)); }) == "t.pt: duplicate entry \"archive/data/0\"");

  std::vector<std::uint8_t> bad = archive(p.b, {{"0", floats({1, 2, 3, 4})}});
  bad[30 + std::string("archive/data.pkl").size() + 5] ^= 0x40;  // a byte inside data.pkl
  CHECK(error_of([&] { checkpoint_of(bad); }).find("entry \"archive/data.pkl\": CRC mismatch") != std::string::npos);
  std::vector<std::uint8_t> eocd_gone = archive(p.b, {{"0", floats({1, 2, 3, 4})}});
  eocd_gone.resize(eocd_gone.size() - 22);
  CHECK(error_of([&] { checkpoint_of(eocd_gone); }).find("no ZIP end-of-central-directory record") != std::string::npos);
}

TEST_CASE("pickle: opcodes, memo and marks build the right values") {
  // {'a': [1, -2, 3.5, None, True, 'x'], 'b': (memo 'a' list, b'\x00\xff'), 'c': set}, protocol 2 + 4 opcodes.
  Pk p;
  p.op("}q\x01(").str("a").op("](K\x01J\xfe\xff\xff\xff" "G\x40\x0c\x00\x00\x00\x00\x00\x00" "N\x88\x8c\x01x" "eq\x02"s);
  p.str("b").op("h\x02" "C\x02\x00\xff"s + "\x86");
  p.str("c").op("\x8f(K\x01K\x02\x90");
  p.op("u.");
  const auto pk = unpickle(reinterpret_cast<const std::uint8_t*>(p.b.data()), p.b.size(), "t");
  const PyObject* root = pk->root;
  REQUIRE(root->kind == PyKind::Dict);
  const PyObject* a = root->get("a");
  REQUIRE(a->kind == PyKind::List);
  REQUIRE(a->items.size() == 6);
  CHECK(a->items[0]->integer == 1);
  CHECK(a->items[1]->integer == -2);
  CHECK(a->items[2]->real == 3.5);
  CHECK(a->items[3]->kind == PyKind::None);
  CHECK(a->items[4]->boolean);
  CHECK(a->items[5]->text == "x");
  const PyObject* b = root->get("b");
  REQUIRE(b->kind == PyKind::Tuple);
  CHECK(b->items[0] == a);  // memo gives back the same object
  CHECK(b->items[1]->kind == PyKind::Bytes);
  CHECK(b->items[1]->text == "\x00\xff"s);
  CHECK(root->get("c")->items.size() == 2);

  // A repeated dict key replaces the value in place (Python semantics); LONG1 sign extension.
  Pk q;
  q.op("}(").str("k").op("K\x01").str("k").op("\x8a\x01\xff").op("u.");
  const auto qk = unpickle(reinterpret_cast<const std::uint8_t*>(q.b.data()), q.b.size(), "t");
  REQUIRE(qk->root->entries.size() == 1);
  CHECK(qk->root->get("k")->integer == -1);

  // REDUCE/NEWOBJ/BUILD stay inert: objects remember class, args and state.
  Pk r;
  r.glob("models.yolo", "Thing").op(")\x81}").str("x").op("K\x07sb.");
  const auto rk = unpickle(reinterpret_cast<const std::uint8_t*>(r.b.data()), r.b.size(), "t");
  CHECK(rk->root->kind == PyKind::Object);
  CHECK(rk->root->class_name() == "models.yolo.Thing");
  CHECK(rk->root->get("x")->integer == 7);
}

TEST_CASE("pickle: malformed and hostile input is refused with the byte offset") {
  auto err = [](const std::string& bytes, const PickleLimits& lim = {}) {
    return error_of([&] { unpickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "p", lim); });
  };
  CHECK(err("\x80\x02") == "p: pickle ends at byte 2 without a STOP opcode (truncated?)");
  CHECK(err("\x80\x02.") == "p: pickle byte 2 (STOP): stack underflow");
  CHECK(err("\x80\x02h\x05.") == "p: pickle byte 2 (BINGET): memo key 5 was never stored");
  CHECK(err("\x80\x02X\xff\x00\x00\x00" "ab"s) == "p: pickle byte 2 (BINUNICODE): truncated: needs 255 bytes, 2 left");
  CHECK(err("\x80\x02\xff.") == "p: pickle byte 2 (0xff): unknown opcode (corrupt data?)");
  CHECK(err("\x80\x02\x82\x01.") == "p: pickle byte 2 (EXT1): opcode not supported by this reader");
  CHECK(err("\x80\x02K\x01t.") == "p: pickle byte 4 (TUPLE): no MARK on the stack");
  CHECK(err("\x80\x02(K\x01" "0" "0.") == "p: pickle byte 6 (POP): stack underflow");  // POP may not cross a MARK
  CHECK(err("\x80\x02K\x01K\x02s.") == "p: pickle byte 6 (SETITEM): stack underflow");
  CHECK(err("\x80\x02K\x01K\x02K\x03s.") == "p: pickle byte 8 (SETITEM): cannot set an item on a int");
  CHECK(err("\x80\x02X\x02\x00\x00\x00\xc3\x28."s) == "p: pickle byte 2 (BINUNICODE): string is not valid UTF-8");
  CHECK(err("\x80\x02" "S'abc'\n.") .find("protocol-0 text strings are not supported") != std::string::npos);
  PickleLimits lim;
  lim.max_objects = 3;
  CHECK(err("\x80\x02NNNN.", lim) == "p: pickle byte 5 (NONE): more than 3 values");
  lim = {};
  lim.max_marks = 2;
  CHECK(err("\x80\x02(((", lim) == "p: pickle byte 4 (MARK): MARK nesting deeper than 2");
  lim = {};
  lim.max_stack = 2;
  CHECK_THROWS_AS(unpickle(reinterpret_cast<const std::uint8_t*>("\x80\x02NNN."), 6, "p", lim), yv9::LimitError);
  lim = {};
  lim.max_items = 3;
  CHECK(err("\x80\x02](NNNNe.", lim).find("containers hold more than 3 items") != std::string::npos);
  // A list that contains itself is fine for the arena (no leak, no recursion here).
  CHECK(err("\x80\x02]q\x00h\x00" "a."s).empty());
}

TEST_CASE("pt: tensor views are checked against their storage") {
  auto w = [](const std::vector<std::uint8_t>& a) { return checkpoint_of(a).tensors.at(0); };
  CHECK(w(one_tensor(1, {2}, {2})).bytes == bytes_of(floats({2, 4})));
  CHECK(w(one_tensor(0, {2, 2}, {1, 2})).bytes == bytes_of(floats({1, 3, 2, 4})));
  CHECK(w(one_tensor(3, {3}, {0})).bytes == bytes_of(floats({4, 4, 4})));
  CHECK(w(one_tensor(0, {0, 5}, {5, 1})).bytes.empty());
  CHECK(error_of([&] { w(one_tensor(1, {2}, {3})); }) ==
        "t.pt: tensor \"w\": view (offset 1, shape [2], stride [3]) reaches element 4 of a 4-element storage");
  CHECK(error_of([&] { w(one_tensor(0, {2}, {-1})); }).find("negative size or stride") != std::string::npos);
  CHECK(error_of([&] { w(one_tensor(0, {4}, {1}, 5)); }) ==
        "t.pt: tensor \"w\": storage record \"archive/data/0\" has 16 bytes, the pickle says 20");
  CHECK(error_of([&] { w(one_tensor(0, {4}, {1}, 4, "ComplexFloatStorage")); })
            .find("storage type global torch.ComplexFloatStorage is not supported") != std::string::npos);
  CHECK(error_of([&] { w(one_tensor(0, {INT64_MAX, 2}, {0, 0})); }).find("overflows") != std::string::npos);
  PtLimits lim;
  lim.max_tensor_bytes = 1024;
  CHECK_THROWS_AS(checkpoint_of(one_tensor(0, {1000, 1000}, {0, 0}), lim), yv9::LimitError);
  // A stride-0 view of one element claiming 400 MB: refused by the whole-file budget before allocating.
  CHECK(error_of([&] { w(one_tensor(0, {100000, 1000}, {0, 0})); })
            .find("bytes would take the tensors over the total of") != std::string::npos);
  Pk p;
  p.op("}(").str("w").tensor("FloatStorage", "7", 4, 0, {4}, {1}).op("u").stop();
  CHECK(error_of([&] { checkpoint_of(archive(p.b, {{"0", floats({1, 2, 3, 4})}})); })
            .find("storage record \"archive/data/7\" is missing") != std::string::npos);
  Pk q;
  q.op("}(").str("w").glob("torch._utils", "_rebuild_qtensor").op(")R").op("u").stop();
  CHECK(error_of([&] { checkpoint_of(archive(q.b, {})); }).find("_rebuild_qtensor is not supported") != std::string::npos);
}

TEST_CASE("pt: checkpoint layouts that are not understood are named") {
  Pk p;
  p.op("}(").str("epoch").op("K\x01").str("opt").op("}").op("u").stop();
  CHECK(error_of([&] { checkpoint_of(archive(p.b, {})); }) ==
        "t.pt: no model ('ema'/'model') and no state dict found; top-level keys: epoch (int 1), opt (dict of 0)");
  Pk l;
  l.op("]").stop();
  CHECK(error_of([&] { checkpoint_of(archive(l.b, {})); }).find("holds a list of 0, not a state dict") != std::string::npos);
  // A module whose child is not a module.
  Pk m;
  m.glob("models.yolo", "DetectionModel").op(")\x81}(").str("_parameters").op("}").str("_buffers").op("}");
  m.str("_modules").op("}").str("x").op("K\x01s").op("ub.");
  CHECK(error_of([&] { checkpoint_of(archive(m.b, {})); }) ==
        "t.pt: module \"(root)\": child \"x\" is a int 1, not a module");
}

TEST_CASE("pt: truncated or corrupted archives fail cleanly, never crash or hang") {
  const std::vector<std::uint8_t> good = read_file(pt_dir() + "train_ckpt.pt");
  CHECK(checkpoint_of(good).tensors.size() == 36);
  for (std::size_t cut = 0; cut < good.size(); cut += 97) {
    std::vector<std::uint8_t> t(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CAPTURE(cut);
    CHECK_THROWS_AS(checkpoint_of(t), yv9::Error);
  }
  // Flip bytes everywhere (CRC checks off so that damage reaches the pickle and tensor code).
  PtLimits nocrc;
  nocrc.zip.verify_crc = false;
  std::mt19937 rng(7);
  int failed = 0, passed = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<std::uint8_t> t = good;
    const int flips = 1 + trial % 4;
    for (int k = 0; k < flips; ++k) t[rng() % t.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    try {
      checkpoint_of(t, nocrc);
      ++passed;
    } catch (const yv9::Error&) {
      ++failed;
    }
  }
  MESSAGE("corrupted archives: " << failed << " refused, " << passed << " still readable (damage in tensor data)");
  CHECK(failed + passed == 400);
}

namespace {

struct SharedPt {
  std::string path, layout;
  std::size_t tensors, i64;
  bool config, names;
};

// Reads each checkpoint and checks its layout, tensor counts and metadata.
void check_shared_pts(const std::vector<SharedPt>& cases) {
  for (const SharedPt& c : cases) {
    CAPTURE(c.path);
    const Checkpoint ck = read_checkpoint(c.path);
    CHECK(ck.layout == c.layout);
    CHECK(ck.tensors.size() == c.tensors);
    CHECK(std::count_if(ck.tensors.begin(), ck.tensors.end(), [](const WriteTensor& t) { return t.dtype == DType::I64; }) ==
          static_cast<std::ptrdiff_t>(c.i64));
    CHECK(ck.metadata.count("config") == (c.config ? 1u : 0u));
    CHECK(ck.metadata.count("names") == (c.names ? 1u : 0u));
    CHECK(ck.metadata.at("bn_eps") == "0.001");
    CHECK(ck.tensors.front().name == (c.layout == "state_dict" ? ck.tensors.front().name : "model.0.conv.weight"));
    if (c.config) {
      CHECK(ck.metadata.at("stride") == "[8,16,32]");
      CHECK(ck.metadata.at("config").find("nc: ") == 0);
    }
  }
}

}  // namespace

TEST_CASE("pt: every shared .pt fixture converts" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string f = yv9test::fixtures_dir();
  check_shared_pts({
      {f + "/gelan-t-mmqa/model.pt", "state_dict", 1327, 215, false, false},
      {f + "/gelan-t-mmqa/mqa_module/mqa_kv2/state_dict.pt", "state_dict", 16, 2, false, false},
      {f + "/gelan-t-mmqa/mqa_module/mqa_q2/state_dict.pt", "state_dict", 9, 1, false, false},
      {f + "/gelan-t-mmqa/mqa_module/mqa_q2x1_kv2_dw5/state_dict.pt", "state_dict", 21, 3, false, false},
      {f + "/yolov9-t-train/train.pt", "ema", 1772, 291, true, true},
      {f + "/yolov9-t-train/stripped.pt", "model", 1772, 291, true, true},
      {f + "/gelan-t-converted/gelan-t-converted.pt", "model", 1339, 221, true, true},
  });
}

TEST_CASE("pt: the shared demo checkpoint converts" * doctest::test_suite("shared_weights")) {
  if (!yv9test::have_shared_weights()) return;
  check_shared_pts({{yv9test::shared_weights_dir() + "/gelan-t-mmqa-shapes.pt", "model", 1327, 215, true, true}});
}
