// detect — the example binary (SPEC §3).
//
//   detect --config MODEL.yaml --summary                 upstream's per-layer table, last line "<N> parameters"
//   detect --weights M.bin --tensor IN.npy --raw OUT.npy parity mode: the tensor upstream feeds into NMS
//
// Every error is one line on stderr; exit 2 for usage errors, 1 for everything else.
#include <yv9/core/threads.hpp>
#include <yv9/io/atomic_file.hpp>
#include <yv9/io/npy.hpp>
#include <yv9/model/loader.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

struct Args {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  bool has(const std::string& k) const { return values.count(k) || flags.count(k); }
  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

const char* kUsage =
    "usage: detect --config MODEL.yaml --summary\n"
    "       detect --weights M.bin --tensor IN.npy --raw OUT.npy [--threads N]\n";

Args parse_args(int argc, char** argv) {
  static const std::vector<std::string> with_value = {"--config", "--weights", "--tensor", "--raw", "--threads"};
  static const std::vector<std::string> flags = {"--summary", "--help"};
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i], v;
    const auto eq = k.find('=');
    bool inline_value = false;
    if (k.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = k.substr(eq + 1);
      k = k.substr(0, eq);
      inline_value = true;
    }
    if (std::find(flags.begin(), flags.end(), k) != flags.end()) {
      if (inline_value) throw yv9::UsageError("option " + k + " takes no value");
      a.flags[k] = true;
    } else if (std::find(with_value.begin(), with_value.end(), k) != with_value.end()) {
      if (!inline_value) {
        if (i + 1 >= argc) throw yv9::UsageError("option " + k + " needs a value");
        v = argv[++i];
      }
      if (a.values.count(k)) throw yv9::UsageError("option " + k + " given twice");
      a.values[k] = v;
    } else {
      throw yv9::UsageError("unknown option '" + k + "'");
    }
  }
  return a;
}

int parse_int(const std::string& s, const char* what, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || !end || *end || v < lo || v > hi)
    throw yv9::UsageError(std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'");
  return static_cast<int>(v);
}

int run_summary(const Args& a) {
  yv9::model::ModelConfig cfg = yv9::model::load_config(a.get("--config"));
  yv9::model::Binder spec;
  auto m = yv9::model::build<float>(cfg, spec);
  std::string out = yv9::model::summary_header() + "\n";
  for (const auto& l : m.info) out += yv9::model::summary_row(l) + "\n";
  out += std::to_string(m.params) + " parameters\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int run_raw(const Args& a) {
  yv9::Context ctx;
  ctx.threads = yv9::resolve_threads(a.has("--threads") ? parse_int(a.get("--threads"), "--threads", 0, 1024) : 0);
  auto model = yv9::model::load_model<float>(a.get("--weights"));
  yv9::Tensor<float> x = yv9::io::read_npy_f32(a.get("--tensor"));
  if (x.rank() != 4) throw yv9::FormatError(a.get("--tensor") + ": expected a 4-D NCHW tensor, got shape " + x.shape().str());
  yv9::Tensor<float> y = model.net.forward(x, ctx);
  const std::vector<std::uint8_t> bytes = yv9::io::npy_bytes_f32(y);
  yv9::io::write_file_atomic(a.get("--raw"), bytes.data(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args a = parse_args(argc, argv);
    if (a.has("--help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.has("--summary")) {
      if (!a.has("--config")) throw yv9::UsageError("--summary needs --config MODEL.yaml");
      return run_summary(a);
    }
    if (a.has("--tensor") || a.has("--raw")) {
      if (!a.has("--weights") || !a.has("--tensor") || !a.has("--raw"))
        throw yv9::UsageError("parity mode needs --weights M.bin --tensor IN.npy --raw OUT.npy");
      return run_raw(a);
    }
    throw yv9::UsageError("nothing to do");
  } catch (const yv9::UsageError& e) {
    std::cerr << "detect: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const yv9::Error& e) {
    std::cerr << "detect: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "detect: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "detect: " << e.what() << "\n";
    return 1;
  }
}
