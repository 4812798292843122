// SPDX-License-Identifier: MIT
// What pt2bin takes from a torch.save checkpoint: the state dict (tensors by PyTorch name, in
// state_dict() order, dtypes preserved) and, from a pickled model, its config and class names.
//
// Layouts recognised (first match wins):
//   1. a pickled nn.Module                                   -> layout "module"
//   2. a dict whose "ema" is a module (upstream training checkpoint), else whose "model" is one
//      (stripped / converted checkpoints, ema None) — upstream's `ckpt.get('ema') or ckpt['model']`
//                                                            -> layout "ema" / "model"
//   3. a dict whose "ema", "model" or "state_dict" is a state dict -> layout "state_dict"
//   4. a state dict itself (dict/OrderedDict of str -> tensor)    -> layout "state_dict"
//
// From a module the state dict is rebuilt like nn.Module.state_dict(): for each module, its
// _parameters (None skipped), then its _buffers (None and _non_persistent_buffers_set skipped), then
// each child of _modules recursively with "<child>." appended to the prefix.
//
// Metadata (docs/weight-format.md): "config" = the model's `yaml` dict written back as yaml text
// (see yaml_from_pickle), "names" = JSON array, "stride" = JSON array, "bn_eps" (the most common
// BatchNorm eps, "0.001" when there is no BatchNorm or no model) and "bn_eps_by_module" for the
// BatchNorms that differ, "imgsz" = the training image size from a training checkpoint's `opt`.
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "json.hpp"
#include "pt.hpp"

namespace yv9::io {

struct Checkpoint {
  std::string layout;                           // "module", "ema", "model" or "state_dict"
  std::vector<WriteTensor> tensors;             // state_dict() order
  std::map<std::string, std::string> metadata;  // config, names, stride, bn_eps, bn_eps_by_module
  std::string config_error;                     // why the pickled yaml could not be written (if it could not)
  std::vector<std::string> warnings;            // things skipped on the way (e.g. unusable class names)
  bool from_model() const { return layout != "state_dict"; }
};

namespace detail {

// The model's yaml dict as yaml text shaped like upstream's files:
//   nc: 80
//   depth_multiple: 1.0
//   activation: nn.ReLU()
//   backbone:
//     - [-1, 1, Conv, [64, 3, 2]]
//     - [-1, 1, nn.Upsample, [None, 2, 'nearest']]
// Strings that name things (None, nc, anchors, Capitalised or dotted names, calls) stay bare as in
// upstream's files; other strings are single-quoted. Floats always carry a '.' so that any YAML 1.1
// reader (PyYAML) reads them back as floats; a Python None becomes `None` as upstream writes it.
class YamlEmitter {
 public:
  YamlEmitter(const std::string& label, int max_depth) : label_(label), max_depth_(max_depth) {}

  std::string document(const PyObject* d) {
    if (d->kind != PyKind::Dict) fail("the model's yaml is a " + d->describe() + ", not a dict");
    std::string out;
    for (const auto& kv : d->entries) {
      if (kv.first->kind != PyKind::Str) fail("the model's yaml has a non-string key (" + kv.first->describe() + ")");
      const std::string key = plain_safe(kv.first->text, false) ? kv.first->text : scalar(kv.first->text, false);
      if (is_layer_list(kv.second)) {
        out += key + ":\n";
        for (const PyObject* item : kv.second->items) out += "  - " + flow(item, 1) + "\n";
      } else {
        out += key + ": " + flow(kv.second, 0, false) + "\n";
      }
      if (out.size() > kMaxBytes) fail("the model's yaml is over " + std::to_string(kMaxBytes) + " bytes");
    }
    return out;
  }

  // Python repr of a float, always with a '.', as YAML 1.1 needs ("1.0", "0.25", "1.0e-05").
  static std::string py_float(double x) {
    if (std::isnan(x)) return ".nan";
    if (std::isinf(x)) return x > 0 ? ".inf" : "-.inf";
    std::string s = json_number(x);
    if (s.find('.') == std::string::npos) {
      const std::size_t e = s.find('e');
      s.insert(e == std::string::npos ? s.size() : e, ".0");
    }
    return s;
  }

 private:
  static constexpr std::size_t kMaxBytes = std::size_t(1) << 20;

  [[noreturn]] void fail(const std::string& what) const { throw FormatError(label_ + ": " + what); }

  static bool is_layer_list(const PyObject* v) {
    if ((v->kind != PyKind::List && v->kind != PyKind::Tuple) || v->items.empty()) return false;
    for (const PyObject* x : v->items)
      if (x->kind != PyKind::List && x->kind != PyKind::Tuple) return false;
    return true;
  }

  std::string flow(const PyObject* v, int depth, bool in_flow = true) {
    if (depth > max_depth_) fail("the model's yaml is nested deeper than " + std::to_string(max_depth_));
    if (++values_ > kMaxBytes) fail("the model's yaml has too many values");
    switch (v->kind) {
      case PyKind::None: return "None";
      case PyKind::Bool: return v->boolean ? "True" : "False";
      case PyKind::Int: return std::to_string(v->integer);
      case PyKind::Float: return py_float(v->real);
      case PyKind::Str: return scalar(v->text, in_flow);
      case PyKind::List: case PyKind::Tuple: return sequence(v, depth);
      case PyKind::Dict: return mapping(v, depth);
      default: fail("the model's yaml holds a " + v->describe() + ", which cannot be written as yaml");
    }
  }

  std::string sequence(const PyObject* v, int depth) {
    std::string s = "[";
    for (std::size_t i = 0; i < v->items.size(); ++i) {
      s += (i ? ", " : "") + flow(v->items[i], depth + 1);
      if (s.size() > kMaxBytes) fail("the model's yaml is over " + std::to_string(kMaxBytes) + " bytes");
    }
    return s + "]";
  }

  std::string mapping(const PyObject* v, int depth) {
    std::string s = "{";
    for (std::size_t i = 0; i < v->entries.size(); ++i) {
      s += (i ? ", " : "") + flow(v->entries[i].first, depth + 1) + ": " + flow(v->entries[i].second, depth + 1);
      if (s.size() > kMaxBytes) fail("the model's yaml is over " + std::to_string(kMaxBytes) + " bytes");
    }
    return s + "}";
  }

  // Names upstream's parse_model evaluates, which its yaml files write without quotes.
  static bool is_symbol(const std::string& s) {
    if (s == "None" || s == "nc" || s == "anchors") return true;
    const unsigned char c0 = static_cast<unsigned char>(s[0]);
    return (c0 >= 'A' && c0 <= 'Z') || s.find('.') != std::string::npos || s.find('(') != std::string::npos;
  }
  static bool is_yaml_reserved(const std::string& s) {
    std::string l;
    for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const char* words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"};
    for (const char* w : words)
      if (l == w) return true;
    return false;
  }
  static bool plain_safe(const std::string& s, bool in_flow) {
    if (s.empty() || is_yaml_reserved(s)) return false;
    const unsigned char c0 = static_cast<unsigned char>(s[0]);
    if (std::strchr("-?:,[]{}#&*!|>'\"%@` .+0123456789", c0)) return false;  // indicators, numbers
    if (s.back() == ' ' || s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
    for (unsigned char c : s) {
      if (c < 0x20 || c == 0x7F || c >= 0x80) return false;
      if (in_flow && std::strchr(",[]{}", c)) return false;
    }
    return s.back() != ':';
  }
  static std::string scalar(const std::string& s, bool in_flow) {
    if (!s.empty() && is_symbol(s) && plain_safe(s, in_flow)) return s;
    for (unsigned char c : s)
      if (c < 0x20 || c == 0x7F) return json_quote(s);  // YAML double quotes accept JSON escapes
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
  }

  const std::string& label_;
  int max_depth_;
  std::size_t values_ = 0;
};

class CheckpointReader {
 public:
  explicit CheckpointReader(const TorchArchive& a) : a_(a), lim_(a.limits()) {}

  Checkpoint run() {
    const PyObject* root = a_.root();
    if (is_module(root)) {
      take_model(root, "module");
    } else if (root->kind == PyKind::Dict) {
      take_dict(root);
    } else {
      fail("the checkpoint holds a " + root->describe() + ", not a state dict, a checkpoint dict or a model");
    }
    finish_bn_eps();
    return std::move(ck_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(a_.label() + ": " + what); }

  static bool is_module(const PyObject* v) {
    if (!v || v->kind != PyKind::Object) return false;
    const PyObject* mods = v->get("_modules");
    const PyObject* params = v->get("_parameters");
    return mods && params && mods->kind == PyKind::Dict && params->kind == PyKind::Dict;
  }

  static bool is_state_dict(const PyObject* d) {
    if (!d || d->kind != PyKind::Dict || d->entries.empty()) return false;
    for (const auto& kv : d->entries)
      if (kv.first->kind != PyKind::Str || !TorchArchive::is_tensor(kv.second)) return false;
    return true;
  }

  void take_dict(const PyObject* d) {
    take_imgsz(d);
    for (const char* key : {"ema", "model"})
      if (is_module(d->get(key))) return take_model(d->get(key), key);
    for (const char* key : {"ema", "model", "state_dict"})
      if (is_state_dict(d->get(key))) return take_state_dict(d->get(key));
    if (is_state_dict(d)) return take_state_dict(d);
    fail("no model ('ema'/'model') and no state dict found; top-level keys: " + describe_keys(d));
  }

  static std::string describe_keys(const PyObject* d) {
    std::string s;
    std::size_t shown = 0;
    for (const auto& kv : d->entries) {
      if (shown++ == 12) return s + ", ...";
      s += (s.empty() ? "" : ", ") + (kv.first->kind == PyKind::Str ? kv.first->text : kv.first->describe()) + " (" +
           kv.second->describe() + ")";
    }
    return s.empty() ? "(empty dict)" : s;
  }

  void add_tensor(const std::string& name, const PyObject* v) {
    if (name.empty() || name == "__metadata__") fail("invalid tensor name \"" + name + "\"");
    if (!names_.insert(name).second) fail("tensor name \"" + name + "\" occurs twice");
    if (ck_.tensors.size() >= lim_.max_tensors)
      throw LimitError(a_.label() + ": more than " + std::to_string(lim_.max_tensors) + " tensors");
    WriteTensor t = a_.read_tensor(v, name, a_.total_bytes_limit() - total_bytes_);
    total_bytes_ += t.bytes.size();
    ck_.tensors.push_back(std::move(t));
  }

  void take_state_dict(const PyObject* d) {
    ck_.layout = "state_dict";
    for (const auto& kv : d->entries) add_tensor(kv.first->text, kv.second);
  }

  void take_model(const PyObject* m, const char* layout) {
    ck_.layout = layout;
    walk_module(m, "", 0);
    take_config(m);
    take_names(m);
    take_stride(m);
  }

  // Entries of a module's _parameters/_buffers/_modules dict, checked to be str-keyed.
  const PyObject* module_dict(const PyObject* m, const char* attr, const std::string& where) const {
    const PyObject* d = m->get(attr);
    if (!d || d->kind != PyKind::Dict) fail("module \"" + where + "\" (" + m->class_name() + ") has no " + attr + " dict");
    for (const auto& kv : d->entries)
      if (kv.first->kind != PyKind::Str) fail("module \"" + where + "\": " + attr + " has a non-string key");
    return d;
  }

  // Membership in a module's _non_persistent_buffers_set, hashed once per set object (a hostile
  // file may share one huge set between many modules).
  bool in_set(const PyObject* set, const std::string& name) {
    if (!set || (set->kind != PyKind::Set && set->kind != PyKind::List && set->kind != PyKind::Tuple)) return false;
    auto it = name_sets_.find(set);
    if (it == name_sets_.end()) {
      it = name_sets_.emplace(set, std::unordered_set<std::string>()).first;
      for (const PyObject* x : set->items)
        if (x->kind == PyKind::Str) it->second.insert(x->text);
    }
    return it->second.count(name) > 0;
  }

  void walk_module(const PyObject* m, const std::string& prefix, int depth) {
    const std::string where = prefix.empty() ? "(root)" : prefix.substr(0, prefix.size() - 1);
    if (depth > lim_.max_depth) fail("modules nested deeper than " + std::to_string(lim_.max_depth) + " at " + where);
    if (++modules_ > lim_.max_modules)
      throw LimitError(a_.label() + ": more than " + std::to_string(lim_.max_modules) + " module visits");
    for (const auto& kv : module_dict(m, "_parameters", where)->entries)
      if (kv.second->kind != PyKind::None) add_tensor(prefix + kv.first->text, kv.second);
    const PyObject* non_persistent = m->get("_non_persistent_buffers_set");
    for (const auto& kv : module_dict(m, "_buffers", where)->entries)
      if (kv.second->kind != PyKind::None && !in_set(non_persistent, kv.first->text))
        add_tensor(prefix + kv.first->text, kv.second);
    note_batchnorm(m, where);
    for (const auto& kv : module_dict(m, "_modules", where)->entries) {
      if (kv.second->kind == PyKind::None) continue;
      if (!is_module(kv.second))
        fail("module \"" + where + "\": child \"" + kv.first->text + "\" is a " + kv.second->describe() + ", not a module");
      walk_module(kv.second, prefix + kv.first->text + ".", depth + 1);
    }
  }

  void note_batchnorm(const PyObject* m, const std::string& where) {
    if (m->class_name().find("BatchNorm") == std::string::npos) return;
    const PyObject* eps = m->get("eps");
    if (eps && eps->kind == PyKind::Float) bn_eps_.emplace_back(where, eps->real);
  }

  void finish_bn_eps() {
    if (bn_eps_.empty()) {
      ck_.metadata["bn_eps"] = "0.001";  // upstream's value; a state dict does not carry it
      return;
    }
    std::map<double, std::size_t> count;
    for (const auto& e : bn_eps_) ++count[e.second];
    double common = bn_eps_.front().second;
    for (const auto& e : bn_eps_)  // most frequent; ties -> first seen
      if (count[e.second] > count[common]) common = e.second;
    ck_.metadata["bn_eps"] = json_number(common);
    Json others = Json::object();
    for (const auto& e : bn_eps_)
      if (e.second != common) others.items().emplace_back(e.first, Json(e.second));
    if (others.size() > 0) ck_.metadata["bn_eps_by_module"] = others.dump();
  }

  void take_config(const PyObject* m) {
    const PyObject* y = m->get("yaml");
    if (!y || y->kind == PyKind::None) return;
    if (y->kind == PyKind::Str) {
      ck_.metadata["config"] = y->text;
      return;
    }
    try {
      ck_.metadata["config"] = YamlEmitter(a_.label(), lim_.max_depth).document(y);
    } catch (const FormatError& e) {
      ck_.config_error = e.what();
    }
  }

  void take_names(const PyObject* m) {
    const PyObject* n = m->get("names");
    if (!n || n->kind == PyKind::None) return;
    Json arr = Json::array();
    if (n->kind == PyKind::List || n->kind == PyKind::Tuple) {
      for (const PyObject* x : n->items) {
        if (x->kind != PyKind::Str) return warn("class names: skipped, an element is a " + x->describe());
        arr.push_back(x->text);
      }
    } else if (n->kind == PyKind::Dict) {  // {0: 'person', ...}, as upstream's check_dataset makes it
      std::vector<const PyObject*> by_id(n->entries.size(), nullptr);
      for (const auto& kv : n->entries) {
        const bool ok = kv.first->kind == PyKind::Int && kv.first->integer >= 0 &&
                        static_cast<std::uint64_t>(kv.first->integer) < by_id.size() && kv.second->kind == PyKind::Str;
        if (!ok) return warn("class names: skipped, the dict is not {0..n-1: str}");
        by_id[static_cast<std::size_t>(kv.first->integer)] = kv.second;
      }
      for (const PyObject* x : by_id) arr.push_back(x->text);
    } else {
      return warn("class names: skipped, names is a " + n->describe());
    }
    ck_.metadata["names"] = arr.dump();
  }

  void take_stride(const PyObject* m) {
    const PyObject* s = m->get("stride");
    if (!s || !TorchArchive::is_tensor(s)) return;
    const WriteTensor t = a_.read_tensor(s, "stride");
    const std::size_t es = dtype_size(t.dtype);
    Json arr = Json::array();
    for (std::size_t i = 0; i < t.bytes.size(); i += es) arr.push_back(convert_element<double>(t.dtype, t.bytes.data() + i));
    ck_.metadata["stride"] = arr.dump();
  }

  // Upstream's training checkpoints keep the training options (`opt`, a dict of argparse's
  // values); `imgsz` is an int, or [train, test] in older runs (the first is taken).
  void take_imgsz(const PyObject* d) {
    const PyObject* opt = d->get("opt");
    if (!opt || (opt->kind != PyKind::Dict && opt->kind != PyKind::Object)) return;
    const PyObject* s = opt->get("imgsz");
    if (s && (s->kind == PyKind::List || s->kind == PyKind::Tuple) && !s->items.empty()) s = s->items.front();
    if (!s || s->kind != PyKind::Int) return;
    if (s->integer < 1 || s->integer > 8192) return warn("opt.imgsz " + std::to_string(s->integer) + " ignored (not in 1..8192)");
    ck_.metadata["imgsz"] = std::to_string(s->integer);
  }

  void warn(const std::string& w) { ck_.warnings.push_back(a_.label() + ": " + w); }

  const TorchArchive& a_;
  const PtLimits& lim_;
  Checkpoint ck_;
  std::unordered_set<std::string> names_;
  std::unordered_map<const PyObject*, std::unordered_set<std::string>> name_sets_;
  std::vector<std::pair<std::string, double>> bn_eps_;
  std::uint64_t total_bytes_ = 0;
  std::size_t modules_ = 0;
};

}  // namespace detail

inline Checkpoint read_checkpoint(const TorchArchive& archive) { return detail::CheckpointReader(archive).run(); }

inline Checkpoint read_checkpoint(const std::string& path, const PtLimits& limits = {}) {
  const TorchArchive archive = TorchArchive::open(path, limits);
  return read_checkpoint(archive);
}

}  // namespace yv9::io
