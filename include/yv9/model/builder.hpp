// The config-driven builder: a port of upstream's parse_model semantics (SPEC §1.4).
//
//   yaml  ──parse_config──>  ModelConfig (nc, gains, activation, rows [from, n, module, args])
//         ──build<T>──────>  layers bound to weights by name + the summary table
//
// Channel rule: for Conv-like modules c1 = ch[from], c2 = make_divisible(args[0] * width, 8) unless
// args[0] equals na*(nc+5) (upstream's `c2 != no` quirk); the other arguments are not scaled.
// Repeats n > 1 become max(round(n * depth), 1) copies in sequence (Python's round: half to even).
// The module registry is the one table `modules()` below: yaml name -> how to size and build it.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../io/yaml.hpp"
#include "binder.hpp"
#include "layers.hpp"
#include "value.hpp"

namespace yv9::model {

struct LayerDef {
  Value from;  // int or list of ints, as written
  std::int64_t n = 1;
  std::string module;
  std::vector<Value> args;
  int line = 0;
};

struct ModelConfig {
  std::string label;  // file name for messages
  std::int64_t nc = 80;
  double depth = 1.0, width = 1.0;
  std::int64_t na = 3;  // anchors per level (only for upstream's `c2 != no` quirk)
  std::int64_t ch = 3;  // input channels
  ops::Activation act{ops::ActKind::SiLU};
  std::string act_text;  // as written, empty if absent
  std::vector<LayerDef> layers;
};

// Bounds on what a config may ask of the builder, refused with a LimitError naming them before
// anything is built (the weights' own bounds are BinderLimits). Without them a short yaml can
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

inline ModelConfig parse_config(const io::YamlNode& root, const std::string& label) {
  ModelConfig cfg;
  cfg.label = label;
  if (!root.is_map()) throw ConfigError(label + ": a model config must be a mapping with 'backbone' and 'head'");
  auto at = [&](const io::YamlNode& n) { return label + ":" + std::to_string(n.line) + ":" + std::to_string(n.col); };
  auto number = [&](const char* key, double fallback) {
    const io::YamlNode* n = root.find(key);
    if (!n || n->is_null()) return fallback;
    Value v = scalar_value(*n);
    if (!v.is_number()) throw ConfigError(at(*n) + ": '" + key + "' must be a number");
    return v.as_double();
  };
  const io::YamlNode* nc = root.find("nc");
  if (!nc) throw ConfigError(label + ": missing 'nc'");
  Value ncv = scalar_value(*nc);
  if (!ncv.is_int() || ncv.i <= 0 || ncv.i > 100000) throw ConfigError(at(*nc) + ": 'nc' must be a positive integer");
  cfg.nc = ncv.i;
  cfg.depth = number("depth_multiple", 1.0);
  cfg.width = number("width_multiple", 1.0);
  if (!(cfg.depth > 0 && cfg.depth < 100) || !(cfg.width > 0 && cfg.width < 100))
    throw ConfigError(label + ": depth_multiple and width_multiple must be in (0, 100)");
  const double ch = number("ch", 3);
  if (ch != std::floor(ch) || ch < 1 || ch > 4096) throw ConfigError(label + ": 'ch' must be a positive integer");
  cfg.ch = static_cast<std::int64_t>(ch);
  if (const io::YamlNode* an = root.find("anchors")) {
    Value v = scalar_value(*an);
    if (v.is_int()) {
      if (v.i < 0 || v.i > (1 << 20)) throw ConfigError(at(*an) + ": 'anchors' must be a count in 0..1048576 or a list");
      cfg.na = v.i;
    }
    else if (v.is_list() && !v.list.empty() && v.list[0].is_list()) cfg.na = static_cast<std::int64_t>(v.list[0].list.size() / 2);
  }
  if (const io::YamlNode* a = root.find("activation")) {
    if (!a->is_null()) {
      if (!a->is_scalar()) throw ConfigError(at(*a) + ": 'activation' must be a string like nn.ReLU()");
      cfg.act_text = a->scalar;
      cfg.act = parse_activation(a->scalar, at(*a));
    }
  }
  for (const char* part : {"backbone", "head"}) {
    const io::YamlNode* list = root.find(part);
    if (!list) throw ConfigError(label + ": missing '" + part + "'");
    if (list->is_null()) continue;
    if (!list->is_seq()) throw ConfigError(at(*list) + ": '" + part + "' must be a list of [from, number, module, args]");
    for (const auto& row : list->items) {
      if (!row.is_seq() || row.items.size() != 4)
        throw ConfigError(at(row) + ": a layer must be [from, number, module, args]");
      LayerDef d;
      d.line = row.line;
      d.from = scalar_value(row.items[0]);
      Value n = scalar_value(row.items[1]);
      if (!n.is_int() || n.i < 1 || n.i > 1000) throw ConfigError(at(row.items[1]) + ": number must be an integer in 1..1000");
      d.n = n.i;
      if (!row.items[2].is_scalar()) throw ConfigError(at(row.items[2]) + ": module must be a name");
      d.module = row.items[2].scalar;
      Value args = scalar_value(row.items[3]);
      if (!args.is_list()) throw ConfigError(at(row.items[3]) + ": args must be a list");
      d.args = args.list;
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

// One row of upstream's parse_model table.
struct LayerInfo {
  int index = 0;
  std::string from_repr;
  std::vector<int> from;  // resolved; -1 = the network input
  std::int64_t n = 1;
  std::int64_t params = 0;
  std::string type;  // e.g. models.common.Conv
  std::string args_repr;
  std::int64_t channels = 0;
  std::vector<std::int64_t> splits;  // CBLinear
};

template <class T>
struct BuiltModel {
  std::vector<LayerInfo> info;
  std::vector<std::unique_ptr<Layer<T>>> layers;
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

namespace detail {

inline std::int64_t make_divisible(double x, std::int64_t d) {
  return static_cast<std::int64_t>(std::ceil(x / static_cast<double>(d))) * d;
}

struct RowCtx {
  const ModelConfig& cfg;
  const LayerDef& def;
  int index;
  std::string where;  // file:line, module
  std::vector<std::int64_t> ch;  // channels of each input
  std::vector<int> from;
};

[[noreturn]] inline void bad(const RowCtx& r, const std::string& msg) {
  throw ConfigError(r.where + ": " + msg);
}

inline std::int64_t int_arg(const RowCtx& r, const std::vector<Value>& a, std::size_t i, std::int64_t fallback,
                            const char* name, std::int64_t lo = 1, std::int64_t hi = 1 << 20) {
  if (i >= a.size() || a[i].is_none()) {
    if (fallback == INT64_MIN) bad(r, std::string("missing argument '") + name + "'");
    return fallback;
  }
  if (!a[i].is_int()) bad(r, std::string("argument '") + name + "' must be an integer, got " + a[i].repr());
  if (a[i].i < lo || a[i].i > hi)
    bad(r, std::string("argument '") + name + "' = " + std::to_string(a[i].i) + " is out of range [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return a[i].i;
}

inline std::vector<std::int64_t> int_list(const RowCtx& r, const Value& v, const char* name, std::int64_t lo = 0) {
  if (!v.is_list()) bad(r, std::string("argument '") + name + "' must be a list of integers");
  std::vector<std::int64_t> out;
  for (const auto& x : v.list) {
    if (!x.is_int() || x.i < lo || x.i > (1 << 20)) bad(r, std::string("argument '") + name + "' must be a list of integers");
    out.push_back(x.i);
  }
  return out;
}

}  // namespace detail

// Builds (and, with a bound Binder, loads) the model. In spec mode (unbound Binder) the layers are
// constructed with empty weights: use only the table, channels and strides.
template <class T>
BuiltModel<T> build(const ModelConfig& cfg, Binder& b) {
  using namespace detail;
  using Kind = typename nn::Elan<T>::Kind;
  BuiltModel<T> m;
  m.in_channels = cfg.ch;
  std::vector<std::int64_t> ch;  // output channels per layer
  const std::int64_t no = cfg.na * (cfg.nc + 5);
  std::int64_t copies = 0;
  for (std::size_t i = 0; i < cfg.layers.size(); ++i) {
    const LayerDef& d = cfg.layers[i];
    RowCtx r{cfg, d, static_cast<int>(i), cfg.label + ":" + std::to_string(d.line) + ": layer " + std::to_string(i) + " (" + d.module + ")", {}, {}};
    // from: -1 = previous layer (the image for layer 0); other negatives count back from this layer
    std::vector<std::int64_t> raw;
    if (d.from.is_int()) raw.push_back(d.from.i);
    else if (d.from.is_list() && !d.from.list.empty()) raw = int_list(r, d.from, "from", -(1 << 20));
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
    std::vector<Value> args = d.args;
    for (auto& a : args) {
      if (a.is_str() && a.s == "nc") a = Value::integer(cfg.nc);
      else if (a.is_str() && a.s == "None") a = Value::none();
    }
    const std::int64_t params_before = b.param_count();
    LayerInfo info;
    info.index = static_cast<int>(i);
    info.from_repr = d.from.repr();
    info.from = r.from;
    info.n = n;
    std::function<std::unique_ptr<Layer<T>>(const std::string&)> make;
    std::int64_t c2 = 0;
    const std::string& mod = d.module;
    const auto act = cfg.act;
    auto single = [&]() {
      if (r.from.size() != 1) bad(r, "takes exactly one input");
      return r.ch[0];
    };
    static const char* const conv_like[] = {"Conv", "AConv", "ADown", "ELAN1", "RepNCSPELAN4", "SPPELAN", "MMQARepNCSPELAN4"};
    bool is_conv_like = false;
    for (const char* c : conv_like) is_conv_like |= mod == c;
    if (is_conv_like) {
      const std::int64_t c1 = single();
      std::int64_t a0 = int_arg(r, args, 0, INT64_MIN, "c2");
      c2 = a0 != no ? make_divisible(static_cast<double>(a0) * cfg.width, 8) : a0;
      std::vector<Value> full{Value::integer(c1), Value::integer(c2)};
      full.insert(full.end(), args.begin() + 1, args.end());
      args = full;
      info.type = "models.common." + mod;
      if (mod == "Conv") {
        const std::int64_t k = int_arg(r, args, 2, 1, "k", 1, 31), s = int_arg(r, args, 3, 1, "s", 1, 64);
        const std::int64_t p = int_arg(r, args, 4, -1, "p", 0, 64), g = int_arg(r, args, 5, 1, "g", 1, 1 << 20);
        const std::int64_t dil = int_arg(r, args, 6, 1, "d", 1, 64);
        ops::Activation a = act;
        if (args.size() > 7) {
          if (args[7].kind != Value::Kind::Bool) bad(r, "argument 'act' must be True or False");
          if (!args[7].b) a = ops::Activation{};
        }
        if (args.size() > 8) bad(r, "too many arguments");
        const ops::ConvGeom geo = nn::conv_geom(c1, c2, k, s, p, g, dil);
        nn::check_geom(geo, r.where);
        make = [&b, geo, a](const std::string& p) {
          return std::make_unique<UnaryLayer<T, nn::ConvLayer<T>>>(nn::ConvLayer<T>(b, p, geo, a));
        };
      } else if (mod == "AConv" || mod == "ADown") {
        if (args.size() != 2) bad(r, "takes one argument [c2]");
        if (mod == "AConv")
          make = [&b, c1, c2, act](const std::string& p) {
            return std::make_unique<UnaryLayer<T, nn::AConv<T>>>(nn::AConv<T>(b, p, c1, c2, act));
          };
        else {
          if (c1 % 2) bad(r, "ADown needs an even number of input channels, got " + std::to_string(c1));
          make = [&b, c1, c2, act](const std::string& p) {
            return std::make_unique<UnaryLayer<T, nn::ADown<T>>>(nn::ADown<T>(b, p, c1, c2, act));
          };
        }
      } else if (mod == "SPPELAN") {
        if (args.size() != 3) bad(r, "takes arguments [c2, c3]");
        const std::int64_t c3 = int_arg(r, args, 2, INT64_MIN, "c3");
        make = [&b, c1, c2, c3, act](const std::string& p) {
          return std::make_unique<UnaryLayer<T, nn::SPPELAN<T>>>(nn::SPPELAN<T>(b, p, c1, c2, c3, act));
        };
      } else {
        const bool elan1 = mod == "ELAN1";
        if (elan1 ? args.size() != 4 : (args.size() < 4 || args.size() > 5))
          bad(r, elan1 ? "takes arguments [c2, c3, c4]" : "takes arguments [c2, c3, c4(, c5)]");
        const std::int64_t c3 = int_arg(r, args, 2, INT64_MIN, "c3", 2), c4 = int_arg(r, args, 3, INT64_MIN, "c4");
        const std::int64_t c5 = elan1 ? 1 : int_arg(r, args, 4, 1, "c5", 0, 1000);
        const Kind kind = elan1 ? Kind::Conv : (mod == "RepNCSPELAN4" ? Kind::CspConv : Kind::CspMqa);
        make = [&b, kind, c1, c2, c3, c4, c5, act](const std::string& p) {
          return std::make_unique<UnaryLayer<T, nn::Elan<T>>>(nn::Elan<T>(b, p, kind, c1, c2, c3, c4, c5, act));
        };
      }
    } else if (mod == "Concat") {
      const std::int64_t dim = int_arg(r, args, 0, 1, "dimension", -4, 3);
      if (dim != 1 && dim != -3) bad(r, "only channel concatenation (dimension 1) is supported");
      c2 = 0;
      for (auto c : r.ch) c2 += c;
      info.type = "models.common.Concat";
      make = [](const std::string&) { return std::make_unique<ConcatLayer<T>>(); };
    } else if (mod == "nn.Upsample" || mod == "Upsample" || mod == "torch.nn.Upsample") {
      c2 = single();
      if (args.size() < 2 || !args[0].is_none()) bad(r, "expects [None, scale_factor, 'nearest']");
      const std::int64_t s = int_arg(r, args, 1, INT64_MIN, "scale_factor", 1, 64);
      if (args.size() > 2 && !(args[2].is_str() && args[2].s == "nearest")) bad(r, "only mode 'nearest' is supported");
      if (args.size() > 3) bad(r, "too many arguments");
      info.type = "torch.nn.modules.upsampling.Upsample";
      make = [s](const std::string&) { return std::make_unique<UpsampleLayer<T>>(s); };
    } else if (mod == "Silence") {
      c2 = single();
      if (!args.empty()) bad(r, "takes no arguments");
      info.type = "models.common.Silence";
      make = [](const std::string&) { return std::make_unique<IdentityLayer<T>>(); };
    } else if (mod == "CBLinear") {
      const std::int64_t c1 = single();
      if (args.empty()) bad(r, "expects [[c2, ...](, k, s, p, g)]");
      const std::vector<std::int64_t> c2s = int_list(r, args[0], "c2s");
      if (c2s.empty()) bad(r, "needs at least one output split");
      c2 = 0;
      for (auto c : c2s) c2 += c;
      info.splits = c2s;
      std::vector<Value> full{Value::integer(c1)};
      full.insert(full.end(), args.begin(), args.end());
      args = full;
      const std::int64_t k = int_arg(r, args, 2, 1, "k", 1, 31), s = int_arg(r, args, 3, 1, "s", 1, 64);
      const std::int64_t p = int_arg(r, args, 4, -1, "p", 0, 64), g = int_arg(r, args, 5, 1, "g", 1, 1 << 20);
      const ops::ConvGeom geo = nn::conv_geom(c1, c2, k, s, p, g);
      nn::check_geom(geo, r.where);
      info.type = "models.common.CBLinear";
      make = [&b, geo, c2s](const std::string& p) {
        return std::make_unique<CBLinearLayer<T>>(nn::load_conv2d<T>(b, p + "conv.", geo, true), c2s);
      };
    } else if (mod == "CBFuse") {
      if (r.from.size() < 2) bad(r, "needs at least two inputs");
      if (args.size() != 1) bad(r, "expects [[idx, ...]]");
      const std::vector<std::int64_t> idx = int_list(r, args[0], "idx");
      if (idx.size() != r.from.size() - 1) bad(r, "needs one split index per CBLinear input");
      std::vector<typename CBFuseLayer<T>::Slice> slices;
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const int src = r.from[k];
        if (src < 0 || m.info[static_cast<std::size_t>(src)].splits.empty())
          bad(r, "input " + std::to_string(k) + " (layer " + std::to_string(src) + ") is not a CBLinear");
        const auto& sp = m.info[static_cast<std::size_t>(src)].splits;
        if (idx[k] >= static_cast<std::int64_t>(sp.size()))
          bad(r, "split index " + std::to_string(idx[k]) + " out of range for layer " + std::to_string(src));
        std::int64_t off = 0;
        for (std::int64_t q = 0; q < idx[k]; ++q) off += sp[static_cast<std::size_t>(q)];
        if (sp[static_cast<std::size_t>(idx[k])] != r.ch.back())
          bad(r, "split " + std::to_string(idx[k]) + " of layer " + std::to_string(src) + " has " +
                     std::to_string(sp[static_cast<std::size_t>(idx[k])]) + " channels, the fused input has " +
                     std::to_string(r.ch.back()));
        slices.push_back({off, sp[static_cast<std::size_t>(idx[k])]});
      }
      c2 = r.ch.back();
      info.type = "models.common.CBFuse";
      make = [slices](const std::string&) { return std::make_unique<CBFuseLayer<T>>(slices); };
    } else if (mod == "DDetect" || mod == "DualDDetect" || mod == "Detect") {
      if (args.empty()) bad(r, "expects [nc]");
      const std::int64_t nc = int_arg(r, args, 0, INT64_MIN, "nc", 1, 100000);
      if (args.size() > 1) bad(r, "takes one argument [nc]");
      const bool dual = mod == "DualDDetect";
      if (dual && (r.ch.size() % 2 || r.ch.empty())) bad(r, "needs an even number of inputs");
      std::vector<Value> chv;
      for (auto c : r.ch) chv.push_back(Value::integer(c));
      args.push_back(Value::of_list(chv));
      info.type = "models.yolo." + mod;
      c2 = 4 + nc;
      const std::vector<std::int64_t> chs = r.ch;
      const auto kind = dual ? HeadLayer<T>::Kind::DualDDetect
                             : (mod == "DDetect" ? HeadLayer<T>::Kind::DDetect : HeadLayer<T>::Kind::Detect);
      make = [&b, chs, nc, dual, kind, act](const std::string& p) -> std::unique_ptr<Layer<T>> {
        std::vector<nn::DetectSet<T>> sets;
        const bool dd = kind != HeadLayer<T>::Kind::Detect;
        if (dual) {
          const std::size_t half = chs.size() / 2;
          sets.emplace_back(b, p, std::vector<std::int64_t>(chs.begin(), chs.begin() + half), nc, true, "cv2", "cv3", "dfl", act);
          sets.emplace_back(b, p, std::vector<std::int64_t>(chs.begin() + half, chs.end()), nc, true, "cv4", "cv5", "dfl2", act);
        } else {
          sets.emplace_back(b, p, chs, nc, dd, "cv2", "cv3", "dfl", act);
        }
        return std::make_unique<HeadLayer<T>>(kind, std::move(sets), std::vector<double>{});
      };
      if (m.head >= 0) bad(r, "a second detection head (layer " + std::to_string(m.head) + " is one)");
      m.head = static_cast<int>(i);
      m.nc = nc;
    } else if (mod == "MultiQueryAttentionLayerWithDownSampling") {
      const std::int64_t c1 = single();
      if (args.size() < 6 || args.size() > 7) bad(r, "expects [num_heads, key_dim, value_dim, query_h_strides, query_w_strides, kv_strides(, dw_kernel_size)]");
      nn::MqaArgs a;
      a.in = c1;
      a.heads = int_arg(r, args, 0, INT64_MIN, "num_heads", 1, 4096);
      a.key_dim = int_arg(r, args, 1, INT64_MIN, "key_dim", 1, 1 << 16);
      a.value_dim = int_arg(r, args, 2, INT64_MIN, "value_dim", 0, 1 << 16);
      a.qh = int_arg(r, args, 3, INT64_MIN, "query_h_strides", 1, 64);
      a.qw = int_arg(r, args, 4, INT64_MIN, "query_w_strides", 1, 64);
      a.kv = int_arg(r, args, 5, INT64_MIN, "kv_strides", 1, 64);
      a.dw_k = int_arg(r, args, 6, 3, "dw_kernel_size", 1, 31);
      if (a.key_dim / a.heads == 0) bad(r, "key_dim < num_heads gives head_dim 0");
      c2 = c1;
      std::vector<Value> full{Value::integer(c1)};
      full.insert(full.end(), args.begin(), args.end());
      args = full;
      info.type = "models.common.MultiQueryAttentionLayerWithDownSampling";
      make = [&b, a](const std::string& p) {
        return std::make_unique<UnaryLayer<T, nn::MQA<T>>>(nn::MQA<T>(b, p, a));
      };
    } else {
      bad(r, "unknown module '" + mod +
                 "' (supported: Conv, AConv, ADown, ELAN1, RepNCSPELAN4, MMQARepNCSPELAN4, SPPELAN, Concat, "
                 "nn.Upsample, Silence, CBLinear, CBFuse, MultiQueryAttentionLayerWithDownSampling, Detect, DDetect, "
                 "DualDDetect)");
    }
    if (c2 > kMaxChannels)
      throw LimitError(r.where + ": " + std::to_string(c2) + " output channels, over the limit of " +
                       std::to_string(kMaxChannels) + " (kMaxChannels)");
    if ((copies += n) > kMaxModuleCopies)
      throw LimitError(r.where + ": more than " + std::to_string(kMaxModuleCopies) +
                       " module copies in the model (repeats n x depth_multiple; kMaxModuleCopies)");
    info.args_repr = Value::of_list(args).repr();
    info.channels = c2;
    const std::string prefix = "model." + std::to_string(i) + ".";
    // BinderLimits errors know the tensor, not the config: add file:line and the layer.
    auto make_at = [&](const std::string& p) {
      try {
        return make(p);
      } catch (const LimitError& e) {
        throw LimitError(r.where + ": " + e.what());
      }
    };
    if (n > 1) {
      const bool chained = r.from.size() == 1 && (mod == "Conv" || is_conv_like || mod == "Silence" || mod == "MultiQueryAttentionLayerWithDownSampling");
      if (!chained) bad(r, "repeats (n > 1) are only supported for single-input modules");
      if (r.ch[0] != c2) bad(r, "repeats (n > 1) need equal input and output channels (" + std::to_string(r.ch[0]) + " vs " + std::to_string(c2) + ")");
      std::vector<std::unique_ptr<Layer<T>>> parts;
      for (std::int64_t k = 0; k < n; ++k) parts.push_back(make_at(prefix + std::to_string(k) + "."));
      m.layers.push_back(std::make_unique<RepeatLayer<T>>(std::move(parts)));
    } else {
      m.layers.push_back(make_at(prefix));
    }
    info.params = b.param_count() - params_before;
    ch.push_back(c2);
    m.info.push_back(std::move(info));
  }
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
    auto* head = static_cast<HeadLayer<T>*>(m.layers[static_cast<std::size_t>(m.head)].get());
    const auto& from = m.info[static_cast<std::size_t>(m.head)].from;
    const std::size_t first = head->kind() == HeadLayer<T>::Kind::DualDDetect ? from.size() / 2 : 0;
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
