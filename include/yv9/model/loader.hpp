// SPDX-License-Identifier: MIT
// From a weight file to a runnable Network: the config, class names and BatchNorm eps come from
// the file's metadata; every tensor is bound by name (all problems reported at once).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "../io/json.hpp"
#include "../io/weightfile.hpp"
#include "../weights/binder.hpp"
#include "../weights/source.hpp"
#include "builder.hpp"
#include "network.hpp"

namespace yv9::model {

struct ModelMeta {
  std::string name;  // from the file name, for messages and the bench line
  std::string config_text;
  std::vector<std::string> names;  // class names (may be empty)
  double bn_eps = 1e-3;
  std::map<std::string, double> bn_eps_by_module;
  int imgsz = 0;  // the training image size (upstream's opt['imgsz']) when the file records it, else 0
};

inline ModelMeta read_meta(const io::WeightFile& wf, const std::string& label) {
  ModelMeta m;
  m.config_text = wf.meta("config");
  if (m.config_text.empty())
    throw FormatError(label + ": no model config in the metadata (convert with `pt2bin IN.pt OUT.bin --config MODEL.yaml`)");
  const std::string eps = wf.meta("bn_eps", "0.001");
  char* end = nullptr;
  m.bn_eps = std::strtod(eps.c_str(), &end);
  if (!end || *end || !(m.bn_eps > 0 && m.bn_eps < 1)) throw FormatError(label + ": bad bn_eps '" + eps + "' in the metadata");
  const std::string by = wf.meta("bn_eps_by_module");
  if (!by.empty()) {
    io::Json j = io::parse_json(by, label + ": bn_eps_by_module");
    if (!j.is_object()) throw FormatError(label + ": bn_eps_by_module is not a JSON object");
    for (const auto& kv : j.items()) {
      if (!kv.second.is_number() || !(kv.second.as_double() > 0 && kv.second.as_double() < 1))
        throw FormatError(label + ": bn_eps_by_module[" + kv.first + "] is not a valid eps");
      m.bn_eps_by_module[kv.first] = kv.second.as_double();
    }
  }
  const std::string names = wf.meta("names");
  if (!names.empty()) {
    io::Json j = io::parse_json(names, label + ": names");
    if (!j.is_array()) throw FormatError(label + ": class names are not a JSON array");
    for (const auto& n : j.as_array()) {
      if (!n.is_string()) throw FormatError(label + ": a class name is not a string");
      m.names.push_back(n.as_string());
    }
  }
  const std::string imgsz = wf.meta("imgsz");
  if (!imgsz.empty()) {
    char* iend = nullptr;
    const long v = std::strtol(imgsz.c_str(), &iend, 10);
    if (!iend || *iend || v < 1 || v > 8192) throw FormatError(label + ": bad imgsz '" + imgsz + "' in the metadata");
    m.imgsz = static_cast<int>(v);
  }
  std::string base = label.substr(label.find_last_of('/') + 1);
  m.name = base.substr(0, base.rfind('.'));
  return m;
}

template <class T>
struct LoadedModel {
  Network<T> net;
  ModelMeta meta;
};

// The arithmetic of the GEMMs, fixed at load because the weights are packed for it.
//   Fp32  every layer in float32: PyTorch's results within the float32 noise (the default).
//   Bf16  the GEMMs (im2col, Winograd's and the attention's two) on bfloat16 operands with float32
//         accumulation (ops/bf16.hpp); everything between them in float32. Needs AVX512_BF16.
//   Auto  Bf16 where the CPU has it, else Fp32.
enum class Precision { Fp32, Bf16, Auto };

inline bool precision_from_name(const std::string& name, Precision& out) {
  if (name == "fp32") out = Precision::Fp32;
  else if (name == "bf16") out = Precision::Bf16;
  else if (name == "auto") out = Precision::Auto;
  else return false;
  return true;
}
inline const char* precision_name(Precision p) {
  return p == Precision::Bf16 ? "bf16" : p == Precision::Auto ? "auto" : "fp32";
}

// What `p` runs as on this CPU (Fp32 or Bf16); Bf16 on a CPU without it throws one line naming
// the missing feature.
inline Precision resolve_precision(Precision p) {
  const bool has = ops::cpu_has_avx512_bf16();
  if (p == Precision::Auto) return has ? Precision::Bf16 : Precision::Fp32;
  if (p == Precision::Bf16 && !has)
    throw ConfigError("precision bf16 needs AVX512_BF16 (vdpbf16ps), which this CPU (or OS) does not offer; use fp32");
  return p;
}

// How a model is loaded.
struct LoadOptions {
  ops::ConvAlgo conv = ops::default_conv_algo();  // how 3x3 convolutions run (ops/conv.hpp): speed or memory
  // The image side (pixels) the convolution paths are chosen for: under Auto each 3x3 convolution
  // takes the fastest path for the map it sees at this size (any size still runs, on the same
  // paths). 0: the training size the weight file records, else 640.
  int imgsz = 0;
  bool keep_all = false;  // also run the training-only layers (Network::Options)
  Precision precision = Precision::Fp32;  // see Precision
};

// Sets up a Binder as load_model does: the convolution path and the image size it is tuned for
// (trained_imgsz: the size the weights were trained at, 0 if unknown).
inline void configure(weights::Binder& b, const LoadOptions& opt, int trained_imgsz = 0) {
  b.set_conv_algo(opt.conv);
  b.set_image_size(opt.imgsz > 0 ? opt.imgsz : trained_imgsz > 0 ? trained_imgsz : 640);
  b.set_pack_only_live(!opt.keep_all);
  b.set_bf16(resolve_precision(opt.precision) == Precision::Bf16);
}

template <class T>
LoadedModel<T> load_model(const io::WeightFile& wf, const std::string& label, const LoadOptions& opt = {}) {
  LoadedModel<T> r;
  r.meta = read_meta(wf, label);
  ModelConfig cfg = parse_config_text(r.meta.config_text, label + " (embedded config)");
  const weights::WeightFileSource src(wf, weights::BnEps{r.meta.bn_eps, r.meta.bn_eps_by_module});
  weights::Binder b(src);
  configure(b, opt, r.meta.imgsz);
  BuiltModel<T> built = build<T>(cfg, b);
  b.finish(label);
  if (!r.meta.names.empty() && built.head >= 0 && static_cast<std::int64_t>(r.meta.names.size()) != built.nc)
    throw FormatError(label + ": " + std::to_string(r.meta.names.size()) + " class names for a model with nc=" +
                      std::to_string(built.nc));
  typename Network<T>::Options net_opt;
  net_opt.keep_all = opt.keep_all;
  r.net = Network<T>(std::move(built), net_opt);
  return r;
}

template <class T>
LoadedModel<T> load_model(const std::string& path, const LoadOptions& opt = {}) {
  io::WeightFile wf = io::WeightFile::load(path);
  return load_model<T>(wf, path, opt);
}

}  // namespace yv9::model
