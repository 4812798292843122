// SPDX-License-Identifier: MIT
// pt2bin: convert a PyTorch checkpoint (torch.save zip archive) into a yv9 weight file, natively,
// without Python or libtorch. See include/yv9/io/checkpoint.hpp for the layouts understood and
// docs/weight-format.md for the output.
//
//   pt2bin IN.pt OUT.bin [--config MODEL.yaml] [--names names.txt] [--dtype f32|f16|bf16] [--no-config]
//   pt2bin --list IN.pt
//
// A file with a config is loaded as `detect` would load it before anything is written: weights
// that do not fit the config (missing, mis-shaped or left-over tensors, a class-name count that is
// not nc) are refused with the loader's one-line listing, and no file is written.
//
// Exit status: 0 ok, 1 bad or unsupported input (one line on stderr naming the file), 2 usage.
#include <yv9/convert.hpp>
#include <yv9/io/file.hpp>

#include "cli.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: pt2bin IN.pt OUT.bin [--config MODEL.yaml] [--names names.txt] [--dtype f32|f16|bf16] [--no-config]\n"
    "       pt2bin --list IN.pt\n"
    "  --config F    store the text of F as the model config (wins over the yaml pickled in IN.pt)\n"
    "  --names F     class names, one per line (win over the names pickled in IN.pt)\n"
    "  --dtype D     store floating-point tensors as f32 (default), f16 or bf16 (nearest even; a value\n"
    "                beyond the range of D is refused); integer tensors keep their type\n"
    "  --no-config   allow a bare state dict without a config (for non-model tensors)\n"
    "  --list        print the tensors (name, dtype, shape) and metadata found in IN.pt, write nothing\n"
    "With a config (given or pickled) the file is loaded as detect loads it before it is written:\n"
    "weights that do not fit the config are refused and nothing is written.\n";

struct Options {
  std::string in, out, config, names;
  bool list = false, no_config = false;
  yv9::io::DType dtype = yv9::io::DType::F32;
};

yv9::io::DType parse_dtype(const std::string& s) {
  if (s == "f32") return yv9::io::DType::F32;
  if (s == "f16") return yv9::io::DType::F16;
  if (s == "bf16") return yv9::io::DType::BF16;
  throw yv9::UsageError("--dtype " + s + ": expected f32, f16 or bf16");
}

const yv9tool::ArgSpec kArgs = {
    /*values=*/{"--config", "--names", "--dtype"},
    /*flags=*/{"--list", "--no-config"},
    /*lists=*/{},
    /*aliases=*/{},
    /*max_positional=*/2};

Options parse_options(const yv9tool::Args& a) {
  Options o;
  o.config = a.get("--config");
  o.names = a.get("--names");
  if (a.has("--dtype")) o.dtype = parse_dtype(a.get("--dtype"));
  o.list = a.has("--list");
  o.no_config = a.has("--no-config");
  const std::vector<std::string>& pos = a.positional();
  if (o.list) {
    if (pos.size() != 1 || a.has("--config") || a.has("--names") || a.has("--dtype"))
      throw yv9::UsageError("--list takes exactly one input file and no other option");
    o.in = pos[0];
  } else {
    if (pos.size() != 2) throw yv9::UsageError("expected IN.pt and OUT.bin");
    o.in = pos[0];
    o.out = pos[1];
  }
  return o;
}

std::string read_text_file(const std::string& path) {
  const std::string s = yv9::io::read_text_file(path, std::size_t(16) << 20, "a config or names file");
  if (!yv9::io::is_valid_utf8(s)) throw yv9::FormatError(path + ": not UTF-8 text");
  return s;
}

// One class name per line; surrounding whitespace trimmed, blank lines ignored.
std::string names_json(const std::string& path) {
  std::istringstream in(read_text_file(path));
  yv9::io::Json arr = yv9::io::Json::array();
  for (std::string line; std::getline(in, line);) {
    const std::size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const std::size_t e = line.find_last_not_of(" \t\r");
    arr.push_back(line.substr(b, e - b + 1));
  }
  if (arr.size() == 0) throw yv9::FormatError(path + ": no class names in the file");
  return arr.dump();
}

std::string base_name(const std::string& path) {
  const std::size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

// Decides the config: --config file > pickled yaml > error (unless --no-config).
void apply_config(const Options& o, yv9::io::Checkpoint& ck) {
  if (!o.config.empty()) {
    ck.metadata["config"] = read_text_file(o.config);
    return;
  }
  if (ck.metadata.count("config")) return;
  if (!ck.config_error.empty()) throw yv9::FormatError(ck.config_error + " (pass --config MODEL.yaml)");
  if (o.no_config) return;
  if (ck.from_model())
    throw yv9::UsageError(o.in + ": the pickled model carries no yaml config; pass --config MODEL.yaml");
  throw yv9::UsageError(o.in + ": a bare state dict carries no model config; pass --config MODEL.yaml "
                        "(or --no-config for tensors that are not a yv9 model)");
}

std::string shape_of(const yv9::io::WriteTensor& t) { return yv9::shape_str(t.shape); }

// "F16 1100, I64 227"
template <class Tensors>
std::string dtype_counts(const Tensors& ts) {
  std::map<std::string, int> n;
  for (const auto& t : ts) ++n[yv9::io::dtype_name(t.dtype)];
  std::string s;
  for (const auto& kv : n) s += (s.empty() ? "" : ", ") + kv.first + " " + std::to_string(kv.second);
  return s;
}

void list(const Options& o, const yv9::io::Checkpoint& ck) {
  std::uint64_t bytes = 0;
  for (const auto& t : ck.tensors) bytes += t.bytes.size();
  std::cout << o.in << ": " << ck.tensors.size() << " tensors (" << dtype_counts(ck.tensors) << "; " << bytes
            << " bytes) from " << ck.layout << "\n";
  for (const auto& t : ck.tensors) std::cout << t.name << "\t" << yv9::io::dtype_name(t.dtype) << "\t" << shape_of(t) << "\n";
  for (const auto& kv : ck.metadata) {
    if (kv.first == "config") {
      std::cout << "metadata config:\n";
      std::istringstream lines(kv.second);
      for (std::string line; std::getline(lines, line);) std::cout << "  | " << line << "\n";
    } else {
      std::cout << "metadata " << kv.first << ": " << kv.second << "\n";
    }
  }
  if (!ck.config_error.empty()) std::cout << "config not available: " << ck.config_error << "\n";
}

void convert(const Options& o, yv9::io::Checkpoint& ck) {
  apply_config(o, ck);
  if (!o.names.empty()) ck.metadata["names"] = names_json(o.names);
  ck.metadata["source"] = base_name(o.in) + (ck.layout == "state_dict" ? "" : " (" + ck.layout + ")");
  ck.metadata["producer"] = "yv9 pt2bin 0.1.0";
  const bool has_config = ck.metadata.count("config") > 0;
  const std::string config_from = !has_config ? "none" : o.config.empty() ? "from the checkpoint" : "from " + o.config;
  const bool has_names = ck.metadata.count("names") > 0;
  const std::string layout = ck.layout;
  const std::string label = o.in + (o.config.empty() ? "" : " with config " + o.config);
  const yv9::io::WeightFile wf = yv9::to_weight_file(ck, o.dtype, label, o.out);
  yv9::io::write_file_atomic(o.out, wf.bytes().data(), wf.bytes().size());
  std::cout << "wrote " << o.out << " (" << wf.bytes().size() << " bytes): " << wf.tensors().size() << " tensors ("
            << dtype_counts(wf.tensors()) << ") from "
            << layout << ", config " << config_from << (has_config ? " (loads: every tensor bound)" : "") << ", "
            << (has_names ? "with" : "without") << " class names\n";
}

int run(const Options& o) {
  yv9::io::Checkpoint ck = yv9::io::read_checkpoint(o.in);
  for (const auto& w : ck.warnings) std::cerr << "pt2bin: warning: " << w << "\n";
  if (o.list) list(o, ck);
  else convert(o, ck);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return yv9tool::run_tool("pt2bin", [&] {
    const yv9tool::Args a = yv9tool::parse_args(kArgs, argc, argv);
    if (a.has("--help")) {
      std::cout << kUsage;
      return 0;
    }
    return run(parse_options(a));
  });
}
