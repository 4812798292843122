// SPDX-License-Identifier: MIT
// The command-line tools on hostile files, as a user meets them: build/bin/detect and
// build/bin/pt2bin are run through std::system on truncated, lying, empty, oversized and
// non-regular inputs. Each run must exit 1 (bad input) or 2 (usage), print exactly one line on
// stderr (core/error.hpp: "tools turn them into one stderr line"), and leave nothing behind in
// its output folder: no output file, no temporary file.
//
// Cross builds run the tools through the emulator named by $YV9_TEST_EMULATOR (.ci/arm64.sh sets
// it to qemu-aarch64 -L <sysroot>); builds without the tools (YV9_BUILD_TOOLS=OFF) skip.
#include <yv9/io/npy.hpp>
#include <yv9/io/weightfile.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

std::string tool(const std::string& name) { return std::string(YV9_BINARY_DIR) + "/bin/" + name; }

bool have_tools() {
  if (yv9test::exists(tool("detect")) && yv9test::exists(tool("pt2bin"))) return true;
  yv9test::skip(tool("detect") + " / pt2bin not built (configure with YV9_BUILD_TOOLS=ON)");
  return false;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Bytes slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
void spit(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}
void spit(const std::string& path, const std::string& s) { spit(path, Bytes(s.begin(), s.end())); }

// A scratch folder for the hostile inputs, and a separate empty one for each run's output.
struct Scratch {
  fs::path root;
  Scratch() {
    root = fs::path(YV9_BINARY_DIR) / ("hostile-cli-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "in");
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string in(const std::string& name) const { return (root / "in" / name).string(); }
};

struct Run {
  int code = -1;
  std::vector<std::string> err;  // stderr lines
  std::vector<std::string> left;  // files left in the output folder
};

// Runs `name args` with the output folder `out` (created empty) as the place for output files.
Run run_tool(const Scratch& s, const std::string& name, const std::string& args, const fs::path& out) {
  fs::remove_all(out);
  fs::create_directories(out);
  const fs::path err = s.root / "stderr.txt", std_out = s.root / "stdout.txt";
  std::string cmd;
  if (const char* emu = std::getenv("YV9_TEST_EMULATOR")) cmd = std::string(emu) + " ";
  cmd += quote(tool(name)) + " " + args + " </dev/null >" + quote(std_out.string()) + " 2>" + quote(err.string());
  const int st = std::system(cmd.c_str());
  Run r;
  r.code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream e(err);
  for (std::string line; std::getline(e, line);) r.err.push_back(line);
  for (const auto& entry : fs::directory_iterator(out)) r.left.push_back(entry.path().filename().string());
  return r;
}

// The contract for one hostile run; `expect` is a fragment the error line must contain.
void check_refused(const Run& r, const std::string& what, const std::string& expect = "") {
  CAPTURE(what);
  std::string err;
  for (const auto& l : r.err) err += l + "\n";
  CAPTURE(err);
  CHECK((r.code == 1 || r.code == 2));
  CHECK(r.err.size() == 1);
  if (!expect.empty() && !r.err.empty()) CHECK(r.err[0].find(expect) != std::string::npos);
  std::string left;
  for (const auto& f : r.left) left += f + " ";
  CAPTURE(left);
  CHECK(r.left.empty());
}

std::string ref(const std::string& rel) { return yv9test::data_dir() + "/ref/" + rel; }

Bytes npy_header_only(const std::string& dict) {
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const std::string h = dict + "\n";
  b.push_back(static_cast<std::uint8_t>(h.size()));
  b.push_back(0);
  b.insert(b.end(), h.begin(), h.end());
  return b;
}

}  // namespace

TEST_CASE("hostile cli: detect refuses bad weights, tensors and configs with one line and no output") {
  if (!have_tools()) return;
  Scratch s;
  const fs::path out = s.root / "out";
  const std::string raw = quote((out / "raw.npy").string());
  const Bytes weights = slurp(ref("mod-conv-k1/model.bin"));  // 8 -> 16 channels, 1x1
  const std::string good_w = quote(ref("mod-conv-k1/model.bin")), good_x = quote(ref("mod-conv-k1/in_16x12.npy"));
  {  // the good run writes its output, so the checks below are not vacuous
    const Run r = run_tool(s, "detect", "--weights " + good_w + " --tensor " + good_x + " --raw " + raw + " --threads 1", out);
    REQUIRE(r.code == 0);
    CHECK(r.left == std::vector<std::string>{"raw.npy"});
  }
  spit(s.in("cut.bin"), Bytes(weights.begin(), weights.begin() + 700));
  spit(s.in("empty.bin"), Bytes{});
  spit(s.in("flip.bin"), [&] {
    Bytes b = weights;
    b[3] ^= 0x40;  // header length ~2^30: past the end of the file
    return b;
  }());
  // A valid file whose embedded config asks for a 16e9-parameter Conv: a named limit, not OOM.
  {
    const yv9::io::WeightFile wf = yv9::io::WeightFile::parse(weights, "base");
    std::vector<yv9::io::WriteTensor> ts;
    for (const auto& e : wf.tensors()) {
      yv9::io::WriteTensor t;
      t.name = e.name;
      t.dtype = e.dtype;
      t.shape = e.shape;
      const yv9::io::TensorData d = wf.data(e);
      t.bytes.assign(d.bytes, d.bytes + (e.end - e.begin));
      ts.push_back(t);
    }
    auto meta = wf.metadata();
    meta["config"] = "nc: 1\nch: 8\nbackbone:\n  - [-1, 1, Conv, [1048576, 31, 1]]\nhead: []\n";
    yv9::io::write_weight_file(s.in("huge-config.bin"), ts, meta);
  }
  fs::create_directories(s.in("dir.bin"));
  for (const char* w : {"cut.bin", "empty.bin", "flip.bin", "huge-config.bin", "dir.bin", "missing.bin"}) {
    const Run r = run_tool(s, "detect", "--weights " + quote(s.in(w)) + " --tensor " + good_x + " --raw " + raw, out);
    check_refused(r, std::string("detect --weights ") + w, w);
  }

  const Bytes x = slurp(ref("mod-conv-k1/in_16x12.npy"));
  spit(s.in("cut.npy"), Bytes(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(x.size() / 2)));
  spit(s.in("huge.npy"), npy_header_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"));
  spit(s.in("lying.npy"), npy_header_only("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 4096, 4096), }"));
  spit(s.in("f64.npy"), npy_header_only("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }"));
  {
    yv9::Tensor<float> three(yv9::Shape{1, 3, 4, 4});  // the model wants 8 channels
    three.fill(0.5f);
    spit(s.in("three-channels.npy"), yv9::io::npy_bytes_f32(three));
  }
  fs::create_directories(s.in("dir.npy"));
  for (const char* t : {"cut.npy", "huge.npy", "lying.npy", "f64.npy", "three-channels.npy", "dir.npy"}) {
    const Run r = run_tool(s, "detect", "--weights " + good_w + " --tensor " + quote(s.in(t)) + " --raw " + raw, out);
    check_refused(r, std::string("detect --tensor ") + t, t);
  }

  // Output paths that cannot be written: nothing may be left half-written.
  for (const std::string& bad_out : {(out / "no-such-dir" / "raw.npy").string(), out.string()}) {
    const Run r = run_tool(s, "detect", "--weights " + good_w + " --tensor " + good_x + " --raw " + quote(bad_out), out);
    check_refused(r, "detect --raw " + bad_out);
  }

  // Configs: deep nesting, binary junk, and sizes that must stop at limits (summary and bench).
  spit(s.in("deep.yaml"), "nc: 1\nbackbone: " + std::string(100000, '[') + "\nhead: []\n");
  spit(s.in("junk.yaml"), Bytes(3000, 0xff));
  spit(s.in("huge-conv.yaml"), "nc: 1\nch: 16\nbackbone:\n  - [-1, 1, Conv, [1048576, 31, 1]]\nhead: []\n");
  {
    std::string up = "nc: 1\nbackbone:\n  - [-1, 1, Conv, [8, 1, 1]]\n";
    for (int i = 0; i < 8; ++i) up += "  - [-1, 1, nn.Upsample, [None, 64, 'nearest']]\n";
    spit(s.in("upsample.yaml"), up + "head: []\n");
  }
  fs::create_directories(s.in("dir.yaml"));
  for (const char* c : {"deep.yaml", "junk.yaml", "huge-conv.yaml", "dir.yaml"}) {
    const Run r = run_tool(s, "detect", "--config " + quote(s.in(c)) + " --summary", out);
    check_refused(r, std::string("detect --summary --config ") + c, c);
  }
  for (const char* c : {"huge-conv.yaml", "upsample.yaml"}) {
    const Run r = run_tool(s, "detect", "--config " + quote(s.in(c)) + " --bench --img 64 --runs 1 --warmup 0", out);
    check_refused(r, std::string("detect --bench --config ") + c);
  }
}

TEST_CASE("hostile cli: pt2bin refuses bad checkpoints with one line and writes nothing") {
  if (!have_tools()) return;
  Scratch s;
  const fs::path out = s.root / "out";
  const std::string bin = quote((out / "model.bin").string());
  spit(s.in("empty.pt"), Bytes{});
  spit(s.in("text.pt"), "this is not a checkpoint\n");
  spit(s.in("zip-head.pt"), Bytes{'P', 'K', 3, 4, 20, 0, 0, 0, 0, 0});
  spit(s.in("pickle.pt"), Bytes{0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e});
  fs::create_directories(s.in("dir.pt"));
  std::vector<std::string> inputs = {"empty.pt", "text.pt", "zip-head.pt", "pickle.pt", "dir.pt", "missing.pt"};
  // gelan-s-tiny.pt: a real (tiny) checkpoint that converts and loads on its own, config and names included
  const std::string real = yv9test::data_dir() + "/pt/gelan-s-tiny.pt";
  {
    const Run r = run_tool(s, "pt2bin", quote(real) + " " + bin, out);
    REQUIRE(r.code == 0);
    CHECK(r.left == std::vector<std::string>{"model.bin"});
  }
  const Bytes pt = slurp(real);
  spit(s.in("cut-head.pt"), Bytes(pt.begin(), pt.begin() + 4096));
  spit(s.in("cut-tail.pt"), Bytes(pt.begin(), pt.end() - 10));
  Bytes flipped = pt;
  flipped[pt.size() - 30] ^= 0xff;  // inside the end-of-central-directory record
  spit(s.in("flip-eocd.pt"), flipped);
  for (const char* n : {"cut-head.pt", "cut-tail.pt", "flip-eocd.pt"}) inputs.push_back(n);
  // a good checkpoint with unreadable side files: still nothing written
  spit(s.in("junk.txt"), Bytes(100, 0xff));
  for (const std::string& side : {"--config " + quote(s.in("dir.pt")), "--names " + quote(s.in("junk.txt")),
                                  "--config " + quote(s.in("missing.yaml"))}) {
    const Run r = run_tool(s, "pt2bin", quote(real) + " " + bin + " " + side, out);
    check_refused(r, "pt2bin " + side);
  }
  for (const auto& in : inputs) {
    const Run r = run_tool(s, "pt2bin", quote(s.in(in)) + " " + bin, out);
    check_refused(r, "pt2bin " + in, in);
  }
}
