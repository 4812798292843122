// SPDX-License-Identifier: MIT
// The config-driven builder: a port of upstream's parse_model (models/yolo.py) semantics.
//
//   yaml  ──parse_config──>  ModelConfig (nc, gains, activation, rows [from, n, module, args])
//         ──build<T>──────>  layers bound to weights by name + the summary table
//
// Channel rule: for Conv-like modules c1 = ch[from], c2 = make_divisible(args[0] * width, 8) unless
// args[0] equals na*(nc+5) (upstream's `c2 != no` quirk); the other arguments are not scaled.
// Repeats n > 1 become max(round(n * depth), 1) copies in sequence (Python's round: half to even).
// The modules themselves — yaml name -> arguments, channels, factory — are the one table in
// registry.hpp.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../io/yaml.hpp"
#include "../nn/module.hpp"
#include "../weights/binder.hpp"
#include "config.hpp"
#include "registry.hpp"

namespace yv9::model {

// Bounds on what a config may ask of the builder, refused with a LimitError naming them before
// anything is built (the weights' own bounds are weights::BinderLimits). Without them a short yaml can
// overflow the channel and shape arithmetic (a Concat chain doubling its channels, x64 upsamples)
// or have the builder create millions of modules (n x depth_multiple repeats).
inline constexpr std::int64_t kMaxChannels = std::int64_t(1) << 20;      // output channels of one layer
inline constexpr std::int64_t kMaxModuleCopies = std::int64_t(1) << 16;  // sum of all rows' n after depth_multiple
// Largest activation (elements) one layer may produce, checked on each layer's output shape by the
// builder's stride probe and Network::shapes (so before forward allocates): it bounds every
// dimension so the next layer's shape arithmetic cannot overflow. 2^32 floats = 16 GiB.
inline constexpr std::int64_t kMaxActivationElements = std::int64_t(1) << 32;

inline void check_activation(const Shape& s) {
  std::int64_t n = 1;
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] > 0 && n > kMaxActivationElements / s[d])
      throw LimitError("output " + s.str() + " has more than " + std::to_string(kMaxActivationElements) +
                       " elements (kMaxActivationElements)");
    n *= s[d] > 0 ? s[d] : 0;
  }
}

// `nn.SiLU()`, `nn.ReLU()`, `nn.LeakyReLU(0.1)`, `torch.nn.ReLU6()`, `nn.Hardswish()`, `nn.Identity()`...
inline ops::Activation parse_activation(const std::string& text, const std::string& where) {
  std::string s;
  for (char c : text)
    if (c != ' ') s += c;
  if (s.rfind("torch.", 0) == 0) s = s.substr(6);
  if (s.rfind("nn.", 0) == 0) s = s.substr(3);
  const auto open = s.find('(');
  if (open == std::string::npos || s.back() != ')') throw ConfigError(where + ": unsupported activation '" + text + "'");
  const std::string name = s.substr(0, open), arg = s.substr(open + 1, s.size() - open - 2);
  ops::Activation a;
  if (name == "LeakyReLU") {
    a.kind = ops::ActKind::LeakyReLU;
    std::string v = arg;
    if (v.rfind("negative_slope=", 0) == 0) v = v.substr(15);
    const auto comma = v.find(',');  // ignore inplace=...
    if (comma != std::string::npos) v = v.substr(0, comma);
    if (v.empty()) {
      a.slope = 0.01;
    } else {
      char* end = nullptr;
      a.slope = std::strtod(v.c_str(), &end);
      if (!end || *end) throw ConfigError(where + ": bad LeakyReLU slope in '" + text + "'");
    }
    return a;
  }
  if (!arg.empty() && arg != "inplace=True" && arg != "inplace=False" && arg != "True" && arg != "False")
    throw ConfigError(where + ": unsupported activation arguments in '" + text + "'");
  if (name == "SiLU") a.kind = ops::ActKind::SiLU;
  else if (name == "ReLU") a.kind = ops::ActKind::ReLU;
  else if (name == "ReLU6") a.kind = ops::ActKind::ReLU6;
  else if (name == "Sigmoid") a.kind = ops::ActKind::Sigmoid;
  else if (name == "Hardswish") a.kind = ops::ActKind::Hardswish;
  else if (name == "Identity") a.kind = ops::ActKind::Identity;
  else throw ConfigError(where + ": unsupported activation '" + text + "'");
  return a;
}

inline ModelConfig parse_config(const io::Json& root, const std::string& label) {
  using io::Json;
  ModelConfig cfg;
  cfg.label = label;
  if (!root.is_object()) throw ConfigError(label + ": a model config must be a mapping with 'backbone' and 'head'");
  auto at = [&](const Json& n) { return label + ":" + std::to_string(n.origin.line) + ":" + std::to_string(n.origin.col); };
  auto number = [&](const char* key, double fallback) {
    const Json* n = root.find(key);
    if (!n || n->is_null()) return fallback;
    if (!n->is_number()) throw ConfigError(at(*n) + ": '" + key + "' must be a number");
    return n->as_double();
  };
  const Json* nc = root.find("nc");
  if (!nc) throw ConfigError(label + ": missing 'nc'");
  if (!nc->is_integer() || nc->as_int() <= 0 || nc->as_int() > 100000)
    throw ConfigError(at(*nc) + ": 'nc' must be a positive integer");
  cfg.nc = nc->as_int();
  cfg.depth = number("depth_multiple", 1.0);
  cfg.width = number("width_multiple", 1.0);
  if (!(cfg.depth > 0 && cfg.depth < 100) || !(cfg.width > 0 && cfg.width < 100))
    throw ConfigError(label + ": depth_multiple and width_multiple must be in (0, 100)");
  const double ch = number("ch", 3);
  if (ch != std::floor(ch) || ch < 1 || ch > 4096) throw ConfigError(label + ": 'ch' must be a positive integer");
  cfg.ch = static_cast<std::int64_t>(ch);
  if (const Json* an = root.find("anchors")) {
    if (an->is_integer()) {
      if (an->as_int() < 0 || an->as_int() > (1 << 20))
        throw ConfigError(at(*an) + ": 'anchors' must be a count in 0..1048576 or a list");
      cfg.na = an->as_int();
    } else if (an->is_array() && an->size() > 0 && an->as_array()[0].is_array()) {
      cfg.na = static_cast<std::int64_t>(an->as_array()[0].size() / 2);
    }
  }
  if (const Json* a = root.find("activation")) {
    if (!a->is_null()) {
      if (!a->is_string()) throw ConfigError(at(*a) + ": 'activation' must be a string like nn.ReLU()");
      cfg.act_text = a->as_string();
      cfg.act = parse_activation(cfg.act_text, at(*a));
    }
  }
  for (const char* part : {"backbone", "head"}) {
    const Json* list = root.find(part);
    if (!list) throw ConfigError(label + ": missing '" + part + "'");
    if (list->is_null()) continue;
    if (!list->is_array()) throw ConfigError(at(*list) + ": '" + part + "' must be a list of [from, number, module, args]");
    for (const Json& row : list->as_array()) {
      if (!row.is_array() || row.size() != 4) throw ConfigError(at(row) + ": a layer must be [from, number, module, args]");
      const Json::Array& item = row.as_array();
      LayerDef d;
      d.line = row.origin.line;
      d.from = item[0];
      if (!item[1].is_integer() || item[1].as_int() < 1 || item[1].as_int() > 1000)
        throw ConfigError(at(item[1]) + ": number must be an integer in 1..1000");
      d.n = item[1].as_int();
      if (!item[2].is_string()) throw ConfigError(at(item[2]) + ": module must be a name");
      d.module = item[2].as_string();
      if (!item[3].is_array()) throw ConfigError(at(item[3]) + ": args must be a list");
      d.args = item[3].as_array();
      cfg.layers.push_back(std::move(d));
    }
  }
  if (cfg.layers.empty()) throw ConfigError(label + ": the model has no layers");
  if (cfg.layers.size() > 10000) throw ConfigError(label + ": more than 10000 layers");
  return cfg;
}

inline ModelConfig parse_config_text(const std::string& text, const std::string& label) {
  return parse_config(io::parse_yaml(text, label), label);
}
inline ModelConfig load_config(const std::string& path) { return parse_config(io::load_yaml(path), path); }

template <class T>
struct BuiltModel {
  std::vector<LayerInfo> info;
  std::vector<std::unique_ptr<nn::Module<T>>> layers;  // one per yaml row
  std::int64_t params = 0;
  std::int64_t in_channels = 3;
  int head = -1;  // index of the detection head, -1 if the config has none
  std::int64_t nc = 0;
  std::vector<double> strides;
};

// upstream's table: '{i:>3}{str(f):>18}{n:>3}{params:10.0f}  {module:<40}{args:<30}'
inline std::string summary_header() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%3s%18s%3s%10s  %-40s%-30s", "", "from", "n", "params", "module", "arguments");
  return buf;
}
inline std::string summary_row(const LayerInfo& l) {
  char head[64];
  std::snprintf(head, sizeof head, "%3d%18s%3lld%10lld  ", l.index, l.from_repr.c_str(), static_cast<long long>(l.n),
                static_cast<long long>(l.params));
  std::string type = l.type, args = l.args_repr;
  if (type.size() < 40) type.append(40 - type.size(), ' ');
  if (args.size() < 30) args.append(30 - args.size(), ' ');
  return head + type + args;
}


// Which layers reach layer `output` (from[i]: layer i's inputs, -1 = the image) through the
// inputs used(i, count) marks (a vector<bool> of count). One walk for feeds_output and Network.
template <class Used>
std::vector<bool> reaching(const std::vector<std::vector<int>>& from, std::size_t output, Used&& used) {
  std::vector<bool> live(from.size(), false);
  live[output] = true;
  for (std::size_t i = from.size(); i-- > 0;) {
    if (!live[i]) continue;
    const std::vector<bool> u = used(i, from[i].size());
    for (std::size_t k = 0; k < from[i].size(); ++k)
      if (u[k] && from[i][k] >= 0) live[static_cast<std::size_t>(from[i][k])] = true;
  }
  return live;
}

// Which layers reach the model's output (its detection head, else its last layer), from the
// config alone, before anything is built; a dual head reads only the second half of its inputs
// (as DetectHead::used_inputs). A row whose 'from' is malformed makes every layer count (the
// build then reports it).
inline std::vector<bool> feeds_output(const ModelConfig& cfg) {
  const std::size_t L = cfg.layers.size();
  const std::vector<bool> all(L, true);
  if (L == 0) return all;
  std::vector<std::vector<int>> from(L);
  std::size_t out = L - 1;
  bool head = false;
  for (std::size_t i = 0; i < L; ++i) {
    const LayerDef& d = cfg.layers[i];
    if (!head && (d.module == "Detect" || d.module == "DDetect" || d.module == "DualDDetect")) {
      out = i;
      head = true;
    }
    std::vector<io::Json> raw;
    if (d.from.is_integer()) raw.push_back(d.from);
    else if (d.from.is_array()) raw = d.from.as_array();
    else return all;
    for (const io::Json& f : raw) {
      if (!f.is_integer()) return all;
      const std::int64_t j = f.as_int() < 0 ? static_cast<std::int64_t>(i) + f.as_int() : f.as_int();
      if (i == 0 && f.as_int() == -1) from[i].push_back(-1);  // the image
      else if (j < 0 || j >= static_cast<std::int64_t>(i)) return all;
      else from[i].push_back(static_cast<int>(j));
    }
  }
  return reaching(from, out, [&](std::size_t i, std::size_t count) {
    std::vector<bool> u(count, true);
    if (cfg.layers[i].module == "DualDDetect") std::fill(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(count / 2), false);
    return u;
  });
}

// Builds (and, with a bound Binder, loads) the model. In spec mode (unbound Binder) the layers are
// constructed with empty weights: use only the table, channels and strides.
template <class T>
BuiltModel<T> build(const ModelConfig& cfg, weights::Binder& b) {
  using detail::bad;
  BuiltModel<T> m;
  m.in_channels = cfg.ch;
  std::vector<std::int64_t> ch;  // output channels per layer
  // Output shapes at the image size the Binder tunes for (empty shape: unknown), so that each
  // module's convolutions can pick their path for the maps they will see (Binder::set_input_maps).
  std::vector<Shape> nominal;
  const std::int64_t side = b.image_size();
  const std::int64_t no = cfg.na * (cfg.nc + 5);
  std::int64_t copies = 0;
  const std::vector<bool> feeds = feeds_output(cfg);
  const bool packing = b.packing();
  for (std::size_t i = 0; i < cfg.layers.size(); ++i) {
    const LayerDef& d = cfg.layers[i];
    b.set_packing(packing && (feeds[i] || !b.pack_only_live()));
    RowCtx r{cfg, d, static_cast<int>(i), cfg.label + ":" + std::to_string(d.line) + ": layer " + std::to_string(i) + " (" + d.module + ")", {}, {}};
    // from: -1 = previous layer (the image for layer 0); other negatives count back from this layer
    std::vector<std::int64_t> raw;
    if (d.from.is_integer()) raw.push_back(d.from.as_int());
    else if (d.from.is_array() && d.from.size() > 0) raw = detail::int_list(r, d.from, "from", -(1 << 20));
    else bad(r, "'from' must be an integer or a non-empty list of integers");
    for (std::int64_t f : raw) {
      std::int64_t j = f < 0 ? static_cast<std::int64_t>(i) + f : f;
      if (i == 0 && f == -1) j = -1;
      else if (j < 0 || j >= static_cast<std::int64_t>(i))
        bad(r, "'from' " + std::to_string(f) + " does not name an earlier layer");
      r.from.push_back(static_cast<int>(j));
      r.ch.push_back(j < 0 ? cfg.ch : ch[static_cast<std::size_t>(j)]);
    }
    const std::int64_t n = d.n > 1 ? std::max<std::int64_t>(static_cast<std::int64_t>(std::nearbyint(d.n * cfg.depth)), 1) : d.n;
    // eval of string arguments: 'nc' -> nc, 'None' -> None; other names stay strings
    Args args = d.args;
    for (auto& a : args) {
      if (a.is_string() && a.as_string() == "nc") a = io::Json(cfg.nc);
      else if (a.is_string() && a.as_string() == "None") a = io::Json();
    }
    const std::int64_t params_before = b.param_count();
    LayerInfo info;
    info.index = static_cast<int>(i);
    info.from_repr = py_repr(d.from);
    info.from = r.from;
    info.n = n;
    std::vector<Shape> nominal_in;
    std::vector<weights::Binder::Map> maps;
    for (int f : r.from) {
      nominal_in.push_back(f < 0 ? Shape{1, cfg.ch, side, side} : nominal[static_cast<std::size_t>(f)]);
      const Shape& in = nominal_in.back();
      maps.push_back(in.rank() == 4 ? weights::Binder::Map{in[2], in[3]} : weights::Binder::Map{});
    }
    b.set_input_maps(side > 0 ? maps : std::vector<weights::Binder::Map>{});
    const RegistryEntry<T>* entry = find_module<T>(d.module);
    if (!entry)
      bad(r, "unknown module '" + d.module + "' (supported: " + supported_modules<T>() + ")");
    if (entry->width_scaled) {  // [c2, ...] -> [c1, make_divisible(c2 * width, 8), ...]
      if (r.from.size() != 1) bad(r, "takes exactly one input");
      const std::int64_t a0 = detail::int_arg(r, args, 0, INT64_MIN, "c2");
      const std::int64_t c2 = a0 != no ? make_divisible(static_cast<double>(a0) * cfg.width, 8) : a0;
      Args full{io::Json(r.ch[0]), io::Json(c2)};
      full.insert(full.end(), args.begin() + 1, args.end());
      args = full;
    }
    Row<T> row = entry->fn(r, args, b, m.info);
    const std::int64_t c2 = row.c2;
    info.type = row.type;
    info.splits = row.splits;
    args = row.args;
    if (c2 > kMaxChannels)
      throw LimitError(r.where + ": " + std::to_string(c2) + " output channels, over the limit of " +
                       std::to_string(kMaxChannels) + " (kMaxChannels)");
    if ((copies += n) > kMaxModuleCopies)
      throw LimitError(r.where + ": more than " + std::to_string(kMaxModuleCopies) +
                       " module copies in the model (repeats n x depth_multiple; kMaxModuleCopies)");
    info.args_repr = py_repr(io::Json(args));
    info.channels = c2;
    const std::string prefix = "model." + std::to_string(i) + ".";
    // BinderLimits errors know the tensor, not the config: add file:line and the layer.
    auto at_row = [&](auto&& make) {
      try {
        return make();
      } catch (const LimitError& e) {
        throw LimitError(r.where + ": " + e.what());
      }
    };
    if (n > 1) {
      if (!entry->repeatable || !row.unary || r.from.size() != 1)
        bad(r, "repeats (n > 1) are only supported for single-input modules");
      if (r.ch[0] != c2) bad(r, "repeats (n > 1) need equal input and output channels (" + std::to_string(r.ch[0]) + " vs " + std::to_string(c2) + ")");
      std::vector<std::unique_ptr<nn::UnaryModule<T>>> parts;
      for (std::int64_t k = 0; k < n; ++k)
        parts.push_back(at_row([&] { return row.unary(prefix + std::to_string(k) + "."); }));
      m.layers.push_back(std::make_unique<nn::Sequential<T>>(std::move(parts)));
    } else if (row.unary) {
      m.layers.push_back(at_row([&] { return row.unary(prefix); }));
    } else {
      m.layers.push_back(at_row([&] { return row.make(prefix); }));
    }
    if (const nn::DetectHead<T>* h = m.layers.back()->head()) {
      if (m.head >= 0) bad(r, "a second detection head (layer " + std::to_string(m.head) + " is one)");
      m.head = static_cast<int>(i);
      m.nc = h->nc();
    }
    info.params = b.param_count() - params_before;
    Shape out{};
    if (side > 0) {
      try {  // a mismatch is reported (with the layer) by the stride probe below
        bool known = true;
        for (const Shape& s : nominal_in) known = known && s.rank() == 4;
        if (known) out = m.layers.back()->out_shape(nominal_in);
      } catch (const Error&) {
      }
    }
    nominal.push_back(out);
    ch.push_back(c2);
    m.info.push_back(std::move(info));
  }
  b.set_packing(packing);
  m.params = b.param_count();
  // Strides as upstream measures them: 256 / feature size for a 256x256 probe.
  if (m.head >= 0) {
    std::vector<Shape> shapes;
    const Shape probe{1, cfg.ch, 256, 256};
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      std::vector<Shape> in;
      for (int f : m.info[i].from) in.push_back(f < 0 ? probe : shapes[static_cast<std::size_t>(f)]);
      try {
        shapes.push_back(m.layers[i]->out_shape(in));
        check_activation(shapes.back());
      } catch (const Error& e) {
        throw ConfigError(cfg.label + ": layer " + std::to_string(i) + " (" + cfg.layers[i].module + "): " + e.what());
      }
    }
    nn::DetectHead<T>* head = m.layers[static_cast<std::size_t>(m.head)]->head();
    const auto& from = m.info[static_cast<std::size_t>(m.head)].from;
    const std::size_t first = head->main_first(from.size());
    for (std::size_t k = first; k < from.size(); ++k) {
      const Shape& s = from[k] < 0 ? probe : shapes[static_cast<std::size_t>(from[k])];
      if (s[2] <= 0) throw ConfigError(cfg.label + ": head input " + std::to_string(k) + " has an empty feature map");
      m.strides.push_back(256.0 / static_cast<double>(s[2]));
    }
    head->set_strides(m.strides);
  }
  return m;
}

}  // namespace yv9::model
