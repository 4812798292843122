// SPDX-License-Identifier: MIT
// Binding weights by PyTorch name. Module constructors ask the Binder for each tensor they own
// ("model.3.cv1.conv.weight", expected shape); the Binder counts parameters for the summary,
// records every missing or mis-shaped tensor instead of stopping at the first, and at the end
// reports those plus every tensor of the source that nobody asked for — all in one WeightError.
//
// Without a source (spec mode) it only counts: the builder then yields the layer table of
// `detect --summary` without any weights.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../ops/conv.hpp"
#include "source.hpp"

namespace yv9::weights {

// What a model may ask the Binder for, checked as each tensor is requested — before anything is
// allocated, and in spec mode too, so `detect --summary` refuses what loading would refuse. The
// config decides the shapes, so without these a few characters of yaml (Conv c2=1048576, k=31)
// would have the loader materialise gigabytes of missing or synthetic weights. Defaults: 2.3x and
// ~60x the largest upstream model (yolov9-e: 58M parameters, ~4k tensors).
struct BinderLimits {
  std::int64_t max_elements = std::int64_t(1) << 27;  // parameters + buffers of the whole model
  std::int64_t max_tensors = std::int64_t(1) << 18;   // tensors requested (bounds the modules built)
};

class Binder {
 public:
  Binder() = default;  // spec mode: count only
  explicit Binder(const WeightSource& src) : src_(&src) {}

  bool bound() const { return src_ != nullptr; }
  std::int64_t param_count() const { return params_; }

  // How the convolutions bound here will run (packed for im2col GEMM or transformed for Winograd).
  ops::ConvAlgo conv_algo() const { return conv_algo_; }
  void set_conv_algo(ops::ConvAlgo a) { conv_algo_ = a; }
  // Whether the GEMMs (convolutions, attention) run in bf16 (ops/bf16.hpp; model::Precision).
  bool bf16() const { return bf16_; }
  void set_bf16(bool on) { bf16_ = on; }

  // Whether the convolutions bound now are packed / transformed for speed. The builder turns it
  // off for layers that will be dropped (the auxiliary branch of dual heads: bound and checked,
  // then freed) when pack_only_live is set, so that they never hold Winograd's larger weights.
  // Unpacked, a convolution still runs (plain GEMM on its PyTorch-layout weights).
  bool packing() const { return packing_; }
  void set_packing(bool on) { packing_ = on; }
  bool pack_only_live() const { return pack_only_live_; }
  void set_pack_only_live(bool on) { pack_only_live_ = on; }

  // Memory spent for speed, bounded per load. Winograd's weights are larger than im2col's (F(2,3)
  // 16/9, F(4,3) 36/9 of them). Under Auto the layers bound first (the large maps, where Winograd
  // gains most) take the fastest path until the extra bytes of the whole load reach a budget;
  // later layers take the next smaller path (F(4,3) -> F(2,3) -> im2col). Attention layers
  // reserve their scratch from the same budget when bound (reserve_scratch): a model whose time
  // goes to attention (the seed model: 97% at 320) keeps its memory rather than spending it on
  // convolutions that hardly count. The activations shrink with the image, so the budget grows as
  // they do: 160 MiB for 640x640 (and larger images), 4x that (at most 256 MiB) for 320x320.
  // Measured at 640 against the 64 MiB before: gelan-c 382 -> ~325 ms (peak 269 -> 360 MB; ORT
  // 623); the seed model 222 MiB (its attention takes the whole budget; 338 MiB without the
  // reservation, above its 320 MB bound).
  std::int64_t winograd_extra_budget() const {
    const std::int64_t side = image_size_ > 0 ? image_size_ : 640;
    const std::int64_t mib = std::min<std::int64_t>(256, 160 * 640 * 640 / std::max<std::int64_t>(side * side, 1));
    return std::max<std::int64_t>(mib, 160) << 20;
  }
  // Claims `bytes` of the budget if they fit (mutable: a const Binder still packs).
  bool claim_winograd_extra(std::int64_t bytes) const {
    if (winograd_extra_ + bytes > winograd_extra_budget()) return false;
    winograd_extra_ += bytes;
    return true;
  }
  // Takes `bytes` (as much as is left) out of the budget for scratch a layer will need.
  void reserve_scratch(std::int64_t bytes) const {
    winograd_extra_ = std::min(winograd_extra_budget(), winograd_extra_ + std::max<std::int64_t>(bytes, 0));
  }

  // The map sizes the module being bound will see at the image size the load is tuned for
  // (model::LoadOptions::imgsz), one per input, set by the builder (empty: unknown). Convolutions
  // choose their path by the map of the current input: modules with inputs at different sizes
  // (the heads' levels) select theirs with use_input.
  struct Map {
    std::int64_t h = 0, w = 0;
  };
  void set_input_maps(std::vector<Map> maps) {
    maps_ = std::move(maps);
    input_ = 0;
  }
  void use_input(std::size_t i) { input_ = i; }
  // The image side the maps are computed for (0: none, the builder then sets no maps).
  void set_image_size(std::int64_t s) { image_size_ = s; }
  std::int64_t image_size() const { return image_size_; }
  Map map() const { return input_ < maps_.size() ? maps_[input_] : Map{}; }

  const BinderLimits& limits() const { return lim_; }
  void set_limits(const BinderLimits& lim) { lim_ = lim; }

  // A parameter (counted in the summary) or a buffer (running stats: not counted). An empty
  // Weight in spec mode.
  Weight param(const std::string& name, const std::vector<std::int64_t>& shape) {
    params_ += admit(name, shape);
    return fetch(name, shape);
  }
  Weight buffer(const std::string& name, const std::vector<std::int64_t>& shape) {
    admit(name, shape);
    return fetch(name, shape);
  }
  // Tensors PyTorch keeps that inference ignores (BatchNorm's num_batches_tracked): accepted if present.
  void optional(const std::string& name) {
    if (src_ && src_->has(name)) used_.insert(name);
  }

  double bn_eps(const std::string& bn) const { return src_ ? src_->bn_eps(bn) : 1e-3; }

  // Throws one WeightError describing every problem, or returns.
  void finish(const std::string& label) const {
    if (!src_) return;
    std::vector<std::string> unused;
    for (const auto& n : src_->names())
      if (!used_.count(n)) unused.push_back(n);
    if (missing_.empty() && mismatched_.empty() && unused.empty()) return;
    std::string msg = label + ": weights do not match the model:";
    auto list = [&msg](const char* what, const std::vector<std::string>& items) {
      if (items.empty()) return;
      msg += " " + std::to_string(items.size()) + " " + what + " (";
      for (std::size_t i = 0; i < items.size() && i < 8; ++i) msg += (i ? "; " : "") + items[i];
      if (items.size() > 8) msg += "; ... " + std::to_string(items.size() - 8) + " more";
      msg += ")";
    };
    list("missing", missing_);
    list("mis-shaped", mismatched_);
    list("unused", unused);
    throw WeightError(msg);
  }

 private:
  // Counts the tensor against the limits (overflow-safe: shapes come from the config) and returns
  // its element count.
  std::int64_t admit(const std::string& name, const std::vector<std::int64_t>& shape) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) {
      if (d < 0) throw ConfigError(name + ": negative dimension in " + shape_str(shape));
      if (d > 0 && n > INT64_MAX / d) {
        n = INT64_MAX;
        break;
      }
      n *= d;
    }
    if (++tensors_ > lim_.max_tensors)
      throw LimitError(name + ": the model needs more than " + std::to_string(lim_.max_tensors) +
                       " tensors (BinderLimits::max_tensors)");
    if (n > lim_.max_elements - elements_)
      throw LimitError(name + " " + shape_str(shape) + ": the model needs more than " + std::to_string(lim_.max_elements) +
                       " weight values (BinderLimits::max_elements)");
    elements_ += n;
    return n;
  }
  Weight fetch(const std::string& name, const std::vector<std::int64_t>& shape) {
    if (!src_) return {};
    if (!src_->has(name)) {
      missing_.push_back(name + " " + shape_str(shape));
      return Weight::zeros(shape);
    }
    used_.insert(name);
    Weight w = src_->get(name, shape);
    if (w.shape != shape) {
      mismatched_.push_back(name + ": expected " + shape_str(shape) + ", got " + shape_str(w.shape));
      return Weight::zeros(shape);
    }
    if (w.bytes && !io::is_floating(w.dtype)) {  // an integer "weight" would convert by value, silently
      mismatched_.push_back(name + ": expected a floating-point dtype, got " + io::dtype_name(w.dtype));
      return Weight::zeros(shape);
    }
    return w;
  }

  const WeightSource* src_ = nullptr;
  std::int64_t params_ = 0;
  BinderLimits lim_;
  ops::ConvAlgo conv_algo_ = ops::default_conv_algo();
  bool bf16_ = false;
  bool packing_ = true, pack_only_live_ = false;
  mutable std::int64_t winograd_extra_ = 0;
  std::vector<Map> maps_;
  std::size_t input_ = 0;
  std::int64_t image_size_ = 0;
  std::int64_t tensors_ = 0, elements_ = 0;
  std::set<std::string> used_;
  std::vector<std::string> missing_, mismatched_;
};

}  // namespace yv9::weights
