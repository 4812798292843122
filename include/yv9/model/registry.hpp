// SPDX-License-Identifier: MIT
// The module registry: the one table from a yaml module name to how a row of that module is sized,
// printed and built (upstream's parse_model branches, one function per module).
//
// Width-scaled modules (Conv, AConv, ADown, ELAN1, RepNCSPELAN4, MMQARepNCSPELAN4, SPPELAN) receive
// their arguments already rewritten by the builder to [c1, c2, ...]; the others receive the yaml's.
// A row function validates its arguments (errors name file:line and the layer), computes the output
// channels and the arguments upstream prints, and returns a factory that binds the weights under a
// state-dict prefix (called n times for n > 1 repeats, prefixes model.i.0., model.i.1., ...).
// The modules themselves live in nn/; a row only reads arguments and calls a constructor.
#pragma once
#include <climits>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../nn/blocks.hpp"
#include "../nn/heads.hpp"
#include "../nn/module.hpp"
#include "../nn/mqa.hpp"
#include "../nn/routing.hpp"
#include "../weights/binder.hpp"
#include "config.hpp"

namespace yv9::model {

inline std::int64_t make_divisible(double x, std::int64_t d) {
  return static_cast<std::int64_t>(std::ceil(x / static_cast<double>(d))) * d;
}

// What a row function knows about its row.
struct RowCtx {
  const ModelConfig& cfg;
  const LayerDef& def;
  int index;
  std::string where;  // file:line, module
  std::vector<std::int64_t> ch;  // channels of each input
  std::vector<int> from;
  std::int64_t single() const;  // the one input's channels (or a ConfigError)
};

namespace detail {

[[noreturn]] inline void bad(const RowCtx& r, const std::string& msg) {
  throw ConfigError(r.where + ": " + msg);
}

inline std::int64_t int_arg(const RowCtx& r, const Args& a, std::size_t i, std::int64_t fallback,
                            const char* name, std::int64_t lo = 1, std::int64_t hi = 1 << 20) {
  if (i >= a.size() || a[i].is_null()) {
    if (fallback == INT64_MIN) bad(r, std::string("missing argument '") + name + "'");
    return fallback;
  }
  if (!a[i].is_integer()) bad(r, std::string("argument '") + name + "' must be an integer, got " + py_repr(a[i]));
  if (a[i].as_int() < lo || a[i].as_int() > hi)
    bad(r, std::string("argument '") + name + "' = " + std::to_string(a[i].as_int()) + " is out of range [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return a[i].as_int();
}

inline std::vector<std::int64_t> int_list(const RowCtx& r, const io::Json& v, const char* name, std::int64_t lo = 0) {
  if (!v.is_array()) bad(r, std::string("argument '") + name + "' must be a list of integers");
  std::vector<std::int64_t> out;
  for (const auto& x : v.as_array()) {
    if (!x.is_integer() || x.as_int() < lo || x.as_int() > (1 << 20)) bad(r, std::string("argument '") + name + "' must be a list of integers");
    out.push_back(x.as_int());
  }
  return out;
}

}  // namespace detail

inline std::int64_t RowCtx::single() const {
  if (from.size() != 1) detail::bad(*this, "takes exactly one input");
  return ch[0];
}

template <class T>
struct Row {
  Row(std::int64_t c2_, std::string type_, Args args_, std::vector<std::int64_t> splits_ = {})
      : c2(c2_), type(std::move(type_)), args(std::move(args_)), splits(std::move(splits_)) {}
  std::int64_t c2 = 0;                  // output channels
  std::string type;                     // the summary's module column
  Args args;              // the summary's arguments column
  std::vector<std::int64_t> splits;     // CBLinear output splits
  // The module bound under a weight prefix: `unary` for single-input modules (repeatable), else `make`.
  std::function<std::unique_ptr<nn::UnaryModule<T>>(const std::string& prefix)> unary;
  std::function<std::unique_ptr<nn::Module<T>>(const std::string& prefix)> make;
};

template <class T>
using RowFn = Row<T> (*)(const RowCtx&, const Args& args, weights::Binder&,
                         const std::vector<LayerInfo>& earlier);

template <class T>
struct RegistryEntry {
  const char* name;
  bool width_scaled;  // args rewritten to [c1, make_divisible(c2 * width, 8), ...]
  bool repeatable;    // n > 1 allowed (single input, chains into itself)
  RowFn<T> fn;
};

namespace rows {

// row.unary for a single-input module M constructed as M(binder, weight prefix, ctor_args...).
template <class T, class M, class... A>
void make_unary(Row<T>& row, weights::Binder& b, A... ctor_args) {
  row.unary = [&b, ctor_args...](const std::string& prefix) -> std::unique_ptr<nn::UnaryModule<T>> {
    return std::make_unique<M>(b, prefix, ctor_args...);
  };
}

template <class T>
Row<T> conv(const RowCtx& r, const Args& args, weights::Binder& b, const std::vector<LayerInfo>&) {
  Row<T> row{args[1].as_int(), "models.common.Conv", args};
  const std::int64_t k = detail::int_arg(r, args, 2, 1, "k", 1, 31), s = detail::int_arg(r, args, 3, 1, "s", 1, 64);
  const std::int64_t p = detail::int_arg(r, args, 4, -1, "p", 0, 64), g = detail::int_arg(r, args, 5, 1, "g", 1, 1 << 20);
  const std::int64_t dil = detail::int_arg(r, args, 6, 1, "d", 1, 64);
  ops::Activation a = r.cfg.act;
  if (args.size() > 7) {
    if (!args[7].is_bool()) detail::bad(r, "argument 'act' must be True or False");
    if (!args[7].as_bool()) a = ops::Activation{};
  }
  if (args.size() > 8) detail::bad(r, "too many arguments");
  const ops::ConvGeom geo = ops::conv_geom(args[0].as_int(), args[1].as_int(), k, s, p, g, dil);
  ops::check_geom(geo, r.where);
  make_unary<T, nn::Conv<T>>(row, b, geo, a);
  return row;
}

template <class T>
Row<T> aconv(const RowCtx& r, const Args& args, weights::Binder& b, const std::vector<LayerInfo>&) {
  if (args.size() != 2) detail::bad(r, "takes one argument [c2]");
  Row<T> row{args[1].as_int(), "models.common.AConv", args};
  const std::int64_t c1 = args[0].as_int(), c2 = args[1].as_int();
  make_unary<T, nn::AConv<T>>(row, b, c1, c2, r.cfg.act);
  return row;
}

template <class T>
Row<T> adown(const RowCtx& r, const Args& args, weights::Binder& b, const std::vector<LayerInfo>&) {
  if (args.size() != 2) detail::bad(r, "takes one argument [c2]");
  const std::int64_t c1 = args[0].as_int(), c2 = args[1].as_int();
  if (c1 % 2) detail::bad(r, "ADown needs an even number of input channels, got " + std::to_string(c1));
  Row<T> row{c2, "models.common.ADown", args};
  make_unary<T, nn::ADown<T>>(row, b, c1, c2, r.cfg.act);
  return row;
}

template <class T>
Row<T> sppelan(const RowCtx& r, const Args& args, weights::Binder& b, const std::vector<LayerInfo>&) {
  if (args.size() != 3) detail::bad(r, "takes arguments [c2, c3]");
  const std::int64_t c1 = args[0].as_int(), c2 = args[1].as_int(), c3 = detail::int_arg(r, args, 2, INT64_MIN, "c3");
  Row<T> row{c2, "models.common.SPPELAN", args};
  make_unary<T, nn::SPPELAN<T>>(row, b, c1, c2, c3, r.cfg.act);
  return row;
}

// ELAN1(c1,c2,c3,c4), RepNCSPELAN4 / MMQARepNCSPELAN4(c1,c2,c3,c4,c5=1)
template <class T>
Row<T> elan(const RowCtx& r, const Args& args, weights::Binder& b, const std::vector<LayerInfo>&) {
  const std::string& mod = r.def.module;
  const bool elan1 = mod == "ELAN1";
  if (elan1 ? args.size() != 4 : (args.size() < 4 || args.size() > 5))
    detail::bad(r, elan1 ? "takes arguments [c2, c3, c4]" : "takes arguments [c2, c3, c4(, c5)]");
  const std::int64_t c1 = args[0].as_int(), c2 = args[1].as_int();
  const std::int64_t c3 = detail::int_arg(r, args, 2, INT64_MIN, "c3", 2), c4 = detail::int_arg(r, args, 3, INT64_MIN, "c4");
  const std::int64_t c5 = elan1 ? 1 : detail::int_arg(r, args, 4, 1, "c5", 0, 1000);
  Row<T> row{c2, "models.common." + mod, args};
  if (elan1)
    make_unary<T, nn::ELAN1<T>>(row, b, c1, c2, c3, c4, r.cfg.act);
  else if (mod == "RepNCSPELAN4")
    make_unary<T, nn::RepNCSPELAN4<T>>(row, b, c1, c2, c3, c4, c5, r.cfg.act);
  else
    make_unary<T, nn::MMQARepNCSPELAN4<T>>(row, b, c1, c2, c3, c4, c5, r.cfg.act);
  return row;
}

template <class T>
Row<T> concat(const RowCtx& r, const Args& args, weights::Binder&, const std::vector<LayerInfo>&) {
  const std::int64_t dim = detail::int_arg(r, args, 0, 1, "dimension", -4, 3);
  if (dim != 1 && dim != -3) detail::bad(r, "only channel concatenation (dimension 1) is supported");
  std::int64_t c2 = 0;
  for (auto c : r.ch) c2 += c;
  Row<T> row{c2, "models.common.Concat", args};
  row.make = [](const std::string&) { return std::make_unique<nn::Concat<T>>(); };
  return row;
}

// nn.Upsample(None, scale_factor, 'nearest')
template <class T>
Row<T> upsample(const RowCtx& r, const Args& args, weights::Binder&, const std::vector<LayerInfo>&) {
  Row<T> row{r.single(), "torch.nn.modules.upsampling.Upsample", args};
  if (args.size() < 2 || !args[0].is_null()) detail::bad(r, "expects [None, scale_factor, 'nearest']");
  const std::int64_t s = detail::int_arg(r, args, 1, INT64_MIN, "scale_factor", 1, 64);
  if (args.size() > 2 && !(args[2].is_string() && args[2].as_string() == "nearest")) detail::bad(r, "only mode 'nearest' is supported");
  if (args.size() > 3) detail::bad(r, "too many arguments");
  row.unary = [s](const std::string&) { return std::make_unique<nn::Upsample<T>>(s); };
  return row;
}

template <class T>
Row<T> silence(const RowCtx& r, const Args& args, weights::Binder&, const std::vector<LayerInfo>&) {
  Row<T> row{r.single(), "models.common.Silence", args};
  if (!args.empty()) detail::bad(r, "takes no arguments");
  row.unary = [](const std::string&) { return std::make_unique<nn::Silence<T>>(); };
  return row;
}

// CBLinear([c2s], k, s, p, g): printed as [c1, [c2s], ...]
template <class T>
Row<T> cblinear(const RowCtx& r, const Args& yaml_args, weights::Binder& b, const std::vector<LayerInfo>&) {
  const std::int64_t c1 = r.single();
  if (yaml_args.empty()) detail::bad(r, "expects [[c2, ...](, k, s, p, g)]");
  const std::vector<std::int64_t> c2s = detail::int_list(r, yaml_args[0], "c2s");
  if (c2s.empty()) detail::bad(r, "needs at least one output split");
  std::int64_t c2 = 0;
  for (auto c : c2s) c2 += c;
  Args args{io::Json(c1)};
  args.insert(args.end(), yaml_args.begin(), yaml_args.end());
  Row<T> row{c2, "models.common.CBLinear", args, c2s};
  const std::int64_t k = detail::int_arg(r, args, 2, 1, "k", 1, 31), s = detail::int_arg(r, args, 3, 1, "s", 1, 64);
  const std::int64_t p = detail::int_arg(r, args, 4, -1, "p", 0, 64), g = detail::int_arg(r, args, 5, 1, "g", 1, 1 << 20);
  const ops::ConvGeom geo = ops::conv_geom(c1, c2, k, s, p, g);
  ops::check_geom(geo, r.where);
  make_unary<T, nn::CBLinear<T>>(row, b, geo);
  return row;
}

// CBFuse([idx]): inputs = CBLinear layers, then the tensor they are added to
template <class T>
Row<T> cbfuse(const RowCtx& r, const Args& args, weights::Binder&, const std::vector<LayerInfo>& earlier) {
  if (r.from.size() < 2) detail::bad(r, "needs at least two inputs");
  if (args.size() != 1) detail::bad(r, "expects [[idx, ...]]");
  const std::vector<std::int64_t> idx = detail::int_list(r, args[0], "idx");
  if (idx.size() != r.from.size() - 1) detail::bad(r, "needs one split index per CBLinear input");
  std::vector<typename nn::CBFuse<T>::Slice> slices;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const int src = r.from[k];
    if (src < 0 || earlier[static_cast<std::size_t>(src)].splits.empty())
      detail::bad(r, "input " + std::to_string(k) + " (layer " + std::to_string(src) + ") is not a CBLinear");
    const auto& sp = earlier[static_cast<std::size_t>(src)].splits;
    if (idx[k] >= static_cast<std::int64_t>(sp.size()))
      detail::bad(r, "split index " + std::to_string(idx[k]) + " out of range for layer " + std::to_string(src));
    std::int64_t off = 0;
    for (std::int64_t q = 0; q < idx[k]; ++q) off += sp[static_cast<std::size_t>(q)];
    const std::int64_t width = sp[static_cast<std::size_t>(idx[k])];
    if (width != r.ch.back())
      detail::bad(r, "split " + std::to_string(idx[k]) + " of layer " + std::to_string(src) + " has " + std::to_string(width) +
                 " channels, the fused input has " + std::to_string(r.ch.back()));
    slices.push_back({off, width});
  }
  Row<T> row{r.ch.back(), "models.common.CBFuse", args};
  row.make = [slices](const std::string&) { return std::make_unique<nn::CBFuse<T>>(slices); };
  return row;
}

// Detect / DDetect / DualDDetect([nc]): printed as [nc, [channels of the inputs]]
template <class T, class Head>
Row<T> head(const RowCtx& r, const Args& yaml_args, weights::Binder& b, const std::vector<LayerInfo>&) {
  if (yaml_args.empty()) detail::bad(r, "expects [nc]");
  const std::int64_t nc = detail::int_arg(r, yaml_args, 0, INT64_MIN, "nc", 1, 100000);
  if (yaml_args.size() > 1) detail::bad(r, "takes one argument [nc]");
  if (Head::kPairedInputs && (r.ch.size() % 2 || r.ch.empty())) detail::bad(r, "needs an even number of inputs");
  Args chv;
  for (auto c : r.ch) chv.push_back(io::Json(c));
  Args args = yaml_args;
  args.push_back(io::Json(std::move(chv)));
  Row<T> row{4 + nc, "models.yolo." + r.def.module, args};
  const std::vector<std::int64_t> chs = r.ch;
  const ops::Activation act = r.cfg.act;
  row.make = [&b, chs, nc, act](const std::string& p) { return std::make_unique<Head>(b, p, chs, nc, act); };
  return row;
}

// MultiQueryAttentionLayerWithDownSampling([num_heads, key_dim, value_dim, qh, qw, kv(, dw_k)]):
// keeps its input's channels; printed as [c1, ...]
template <class T>
Row<T> mqa(const RowCtx& r, const Args& yaml_args, weights::Binder& b, const std::vector<LayerInfo>&) {
  const std::int64_t c1 = r.single();
  const Args& a = yaml_args;
  if (a.size() < 6 || a.size() > 7)
    detail::bad(r, "expects [num_heads, key_dim, value_dim, query_h_strides, query_w_strides, kv_strides(, dw_kernel_size)]");
  nn::MqaArgs m;
  m.in = c1;
  m.heads = detail::int_arg(r, a, 0, INT64_MIN, "num_heads", 1, 4096);
  m.key_dim = detail::int_arg(r, a, 1, INT64_MIN, "key_dim", 1, 1 << 16);
  m.value_dim = detail::int_arg(r, a, 2, INT64_MIN, "value_dim", 0, 1 << 16);
  m.qh = detail::int_arg(r, a, 3, INT64_MIN, "query_h_strides", 1, 64);
  m.qw = detail::int_arg(r, a, 4, INT64_MIN, "query_w_strides", 1, 64);
  m.kv = detail::int_arg(r, a, 5, INT64_MIN, "kv_strides", 1, 64);
  m.dw_k = detail::int_arg(r, a, 6, 3, "dw_kernel_size", 1, 31);
  if (m.key_dim / m.heads == 0) detail::bad(r, "key_dim < num_heads gives head_dim 0");
  Args args{io::Json(c1)};
  args.insert(args.end(), a.begin(), a.end());
  Row<T> row{c1, "models.common.MultiQueryAttentionLayerWithDownSampling", args};
  make_unary<T, nn::MultiQueryAttentionLayerWithDownSampling<T>>(row, b, m);
  return row;
}

}  // namespace rows

template <class T>
const std::vector<RegistryEntry<T>>& registry() {
  static const std::vector<RegistryEntry<T>> table = {
      // name                                        width  repeat  row
      {"Conv", true, true, rows::conv<T>},
      {"AConv", true, true, rows::aconv<T>},
      {"ADown", true, true, rows::adown<T>},
      {"ELAN1", true, true, rows::elan<T>},
      {"RepNCSPELAN4", true, true, rows::elan<T>},
      {"MMQARepNCSPELAN4", true, true, rows::elan<T>},
      {"SPPELAN", true, true, rows::sppelan<T>},
      {"Concat", false, false, rows::concat<T>},
      {"nn.Upsample", false, false, rows::upsample<T>},
      {"torch.nn.Upsample", false, false, rows::upsample<T>},
      {"Upsample", false, false, rows::upsample<T>},
      {"Silence", false, true, rows::silence<T>},
      {"CBLinear", false, false, rows::cblinear<T>},
      {"CBFuse", false, false, rows::cbfuse<T>},
      {"MultiQueryAttentionLayerWithDownSampling", false, true, rows::mqa<T>},
      {"Detect", false, false, rows::head<T, nn::Detect<T>>},
      {"DDetect", false, false, rows::head<T, nn::DDetect<T>>},
      {"DualDDetect", false, false, rows::head<T, nn::DualDDetect<T>>},
  };
  return table;
}

template <class T>
const RegistryEntry<T>* find_module(const std::string& name) {
  for (const auto& e : registry<T>())
    if (name == e.name) return &e;
  return nullptr;
}

template <class T>
std::string supported_modules() {
  std::string s;
  for (const auto& e : registry<T>()) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

}  // namespace yv9::model
