// SPDX-License-Identifier: MIT
// Detection heads: Detect, DDetect, DualDDetect (upstream models/yolo.py) and their decoding.
//
// Per level l, on a feature map [C_l, h, w]:
//   box: Conv(C_l, c2, 3) -> Conv(c2, c2, 3, g) -> Conv2d(c2, 64, 1, g, bias)     (g = 4 for DDetect, 1 for Detect)
//   cls: Conv(C_l, c3, 3) -> Conv(c3, c3, 3)    -> Conv2d(c3, nc, 1, bias)
// Output [4+nc, A] with anchors level by level, row-major: rows 0..3 = xywh (centre, size) in input
// pixels from DFL(box) around the cell centre (x+0.5, y+0.5) times the level stride; rows 4.. = sigmoid.
// DualDDetect holds two sets: cv2/cv3 on the first half of its inputs (auxiliary branch, training only)
// and cv4/cv5 on the second half (main branch, what upstream's detect_dual.py uses).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "../ops/conv.hpp"
#include "../ops/vexp.hpp"
#include "../weights/fold.hpp"
#include "module.hpp"

namespace yv9::nn {

inline constexpr std::int64_t kRegMax = 16;

template <class T>
struct DetectLevel {
  // box[0] and cls[0] read the same map with the same 3x3 geometry: they run as one convolution,
  // `stem`, with their output channels stacked (box first), so the map is packed once and the
  // GEMM gets c2 + c3 rows; box[0] / cls[0] keep only their geometry.
  ops::Conv2d<T> stem;
  ops::Conv2d<T> box[3], cls[3];
};

// One set of per-level branches plus its DFL.
template <class T>
class DetectSet {
 public:
  DetectSet() = default;
  // box_name/cls_name: "cv2"/"cv3" or "cv4"/"cv5"; dfl_name: "dfl" or "dfl2"
  DetectSet(weights::Binder& b, const std::string& p, const std::vector<std::int64_t>& ch, std::int64_t nc,
            bool ddetect, const std::string& box_name, const std::string& cls_name, const std::string& dfl_name,
            ops::Activation act, std::size_t first_input = 0)
      : nc_(nc) {
    const std::int64_t ch0 = ch.at(0);
    std::int64_t c2 = std::max<std::int64_t>({ch0 / 4, kRegMax * 4, 16});
    if (ddetect) c2 = (c2 + 3) / 4 * 4;  // make_divisible(., 4)
    const std::int64_t c3 = std::max<std::int64_t>(ch0, std::min<std::int64_t>(nc * 2, 128));
    const std::int64_t g = ddetect ? 4 : 1;
    for (std::size_t l = 0; l < ch.size(); ++l) {
      b.use_input(first_input + l);  // this level's map
      const std::string bp = p + box_name + "." + std::to_string(l) + ".", cp = p + cls_name + "." + std::to_string(l) + ".";
      DetectLevel<T> lv;
      lv.box[0].g = ops::conv_geom(ch[l], c2, 3);
      lv.cls[0].g = ops::conv_geom(ch[l], c3, 3);
      lv.stem = weights::load_conv_bn_stacked<T>(b, {{bp + "0.", lv.box[0].g}, {cp + "0.", lv.cls[0].g}}, act);
      lv.box[1] = weights::load_conv_bn<T>(b, bp + "1.", ops::conv_geom(c2, c2, 3, 1, -1, g), act);
      lv.box[2] = weights::load_conv2d<T>(b, bp + "2.", ops::conv_geom(c2, 4 * kRegMax, 1, 1, 0, g), true);
      lv.cls[1] = weights::load_conv_bn<T>(b, cp + "1.", ops::conv_geom(c3, c3, 3), act);
      lv.cls[2] = weights::load_conv2d<T>(b, cp + "2.", ops::conv_geom(c3, nc, 1, 1, 0), true);
      levels_.push_back(std::move(lv));
    }
    dfl_ = b.param(p + dfl_name + ".conv.weight", {1, kRegMax, 1, 1}).to<T>();
  }

  std::size_t levels() const { return levels_.size(); }
  std::int64_t nc() const { return nc_; }

  // cat(box logits (64), class logits (nc)) of one level: [n, 64+nc, h, w], before DFL and sigmoid.
  Tensor<T> raw(std::size_t l, View<const T> x, const Context& ctx) const {
    const DetectLevel<T>& lv = levels_.at(l);
    Tensor<T> out(Shape{x.n, 4 * kRegMax + nc_, x.h, x.w});
    View<T> v = view(out);
    Tensor<T> stem = ops::run_conv(lv.stem, x, ctx);
    const View<const T> sv = cview(stem);
    const std::int64_t c2 = lv.box[0].g.c2, c3 = lv.cls[0].g.c2;
    branch(lv.box, sv.channels(0, c2), v.channels(0, 4 * kRegMax), ctx);
    branch(lv.cls, sv.channels(c2, c3), v.channels(4 * kRegMax, nc_), ctx);
    return out;
  }

  // The decoded prediction [n, 4+nc, A] from the per-level inputs.
  Tensor<T> forward(const std::vector<View<const T>>& xs, const std::vector<double>& strides, const Context& ctx) const {
    std::int64_t A = 0;
    for (const auto& x : xs) A += x.h * x.w;
    const std::int64_t n = xs.at(0).n;
    Tensor<T> out(Shape{n, 4 + nc_, A});
    std::int64_t a0 = 0;
    for (std::size_t l = 0; l < xs.size(); ++l) {
      Tensor<T> r = raw(l, xs[l], ctx);
      decode(r, static_cast<T>(strides.at(l)), out, a0, ctx);
      a0 += xs[l].h * xs[l].w;
    }
    return out;
  }

  std::int64_t macs(const std::vector<Shape>& in) const {
    std::int64_t m = 0;
    for (std::size_t l = 0; l < levels_.size() && l < in.size(); ++l)
      for (int k = 0; k < 3; ++k)
        m += in[l][0] * (levels_[l].box[k].g.macs(in[l][2], in[l][3]) + levels_[l].cls[k].g.macs(in[l][2], in[l][3]));
    return m;
  }

 private:
  // c[1] and c[2] on the branch's slice of the stem output
  static void branch(const ops::Conv2d<T> (&c)[3], View<const T> a, View<T> out, const Context& ctx) {
    Tensor<T> b = ops::run_conv(c[1], a, ctx);
    c[2].forward(cview(b), out, ctx);
  }

  // DFL: softmax over 16 bins per side, expectation with the stored weights (0..15); dist2bbox
  // (xywh) * stride; sigmoid of the class logits. Each job is a chunk of pixels, computed
  // bin by bin across the chunk so the loops vectorise (float: ops::vexp and vsigmoid); every
  // value keeps one fixed chain of operations whatever the threads.
  void decode(const Tensor<T>& r, T stride, Tensor<T>& out, std::int64_t a0, const Context& ctx) const {
    constexpr std::int64_t kChunk = 256;
    const std::int64_t n = r.dim(0), rows = r.dim(1), w = r.dim(3), hw = r.dim(2) * w, A = out.dim(2);
    const std::int64_t chunks = (hw + kChunk - 1) / kChunk;
    const int nt = ctx.threads_for(n * hw * rows * 8, kGrainMacs);  // an exp: about 8 multiply-adds
    parallel_for(nt, n * chunks, [&](Jobs& q) {
      std::vector<T> e(static_cast<std::size_t>(kRegMax * kChunk)), m(kChunk), sum(kChunk), d(4 * kChunk);
      for (std::int64_t job; q.next(job);) {
        const std::int64_t b = job / chunks, p0 = job % chunks * kChunk, cnt = std::min(kChunk, hw - p0);
        const T* src = r.data() + b * rows * hw + p0;
        T* dst = out.data() + b * out.dim(1) * A + a0 + p0;
        for (std::int64_t side = 0; side < 4; ++side) {
          const T* z = src + side * kRegMax * hw;
          T* acc = d.data() + side * kChunk;
          std::copy(z, z + cnt, m.begin());
          for (std::int64_t j = 1; j < kRegMax; ++j)
            for (std::int64_t i = 0; i < cnt; ++i) m[i] = std::max(m[i], z[j * hw + i]);
          std::fill(sum.begin(), sum.end(), T(0));
          for (std::int64_t j = 0; j < kRegMax; ++j) {
            T* ej = e.data() + j * kChunk;
            for (std::int64_t i = 0; i < cnt; ++i) ej[i] = z[j * hw + i] - m[i];
            exp_inplace(ej, cnt);
            for (std::int64_t i = 0; i < cnt; ++i) sum[i] += ej[i];
          }
          std::fill(acc, acc + cnt, T(0));
          for (std::int64_t j = 0; j < kRegMax; ++j) {
            const T* ej = e.data() + j * kChunk;
            for (std::int64_t i = 0; i < cnt; ++i) acc[i] += (ej[i] / sum[i]) * dfl_[j];
          }
        }
        for (std::int64_t i = 0; i < cnt; ++i) {
          const std::int64_t pix = p0 + i;
          const T ax = static_cast<T>(pix % w) + T(0.5), ay = static_cast<T>(pix / w) + T(0.5);
          const T x1 = ax - d[i], y1 = ay - d[kChunk + i], x2 = ax + d[2 * kChunk + i], y2 = ay + d[3 * kChunk + i];
          dst[0 * A + i] = (x1 + x2) / T(2) * stride;
          dst[1 * A + i] = (y1 + y2) / T(2) * stride;
          dst[2 * A + i] = (x2 - x1) * stride;
          dst[3 * A + i] = (y2 - y1) * stride;
        }
        for (std::int64_t c = 0; c < nc_; ++c) sigmoid_row(src + (4 * kRegMax + c) * hw, dst + (4 + c) * A, cnt);
      }
    });
  }

  static void exp_inplace(T* x, std::int64_t cnt) {
    if constexpr (std::is_same_v<T, float>)
      ops::vexp(x, x, cnt);
    else
      for (std::int64_t i = 0; i < cnt; ++i) x[i] = std::exp(x[i]);
  }
  static void sigmoid_row(const T* x, T* y, std::int64_t cnt) {
    if constexpr (std::is_same_v<T, float>)
      ops::vsigmoid(x, y, cnt);
    else
      for (std::int64_t i = 0; i < cnt; ++i) y[i] = T(1) / (T(1) + std::exp(-x[i]));
  }

  std::int64_t nc_ = 0;
  std::vector<DetectLevel<T>> levels_;
  std::vector<T> dfl_;
};

// The module behind Detect, DDetect and DualDDetect: one DetectSet per branch. Its inputs are the
// feature maps of every level (DualDDetect: the auxiliary half first, then the main half); its
// output is the main branch's decoded prediction [n, 4+nc, A], what upstream feeds into NMS.
template <class T>
class DetectHead : public Module<T> {
 public:
  static constexpr bool kPairedInputs = false;  // DualDDetect: an auxiliary and a main half
  std::int64_t nc() const { return sets_.back().nc(); }
  std::size_t levels() const { return sets_.back().levels(); }
  // The level strides, measured by the builder (256 / feature size of a 256x256 probe).
  const std::vector<double>& strides() const { return strides_; }
  void set_strides(std::vector<double> s) { strides_ = std::move(s); }
  // Index of the first input the main branch reads, for `count` inputs.
  std::size_t main_first(std::size_t count) const { return dual_ ? count / 2 : 0; }
  const DetectSet<T>& main_set() const { return sets_.back(); }
  bool has_aux() const { return sets_.size() == 2; }
  const DetectSet<T>& aux_set() const { return sets_.front(); }
  // Frees the auxiliary branch (training only); forward() never reads it.
  void drop_aux() {
    if (has_aux()) sets_.erase(sets_.begin());
  }

  Shape out_shape(const std::vector<Shape>& in) const override {
    std::int64_t A = 0;
    const std::size_t first = main_first(in.size());
    for (std::size_t i = first; i < in.size(); ++i) A += in[i][2] * in[i][3];
    return Shape{in.at(first)[0], 4 + nc(), A};
  }
  void forward(const typename Module<T>::Inputs& in, Tensor<T>& out, const Context& ctx) const override {
    std::vector<View<const T>> xs;
    for (std::size_t i = main_first(in.size()); i < in.size(); ++i) xs.push_back(cview(*in[i]));
    out = sets_.back().forward(xs, strides_, ctx);
  }
  // The auxiliary branch's prediction (DualDDetect loaded with the auxiliary branch kept).
  Tensor<T> forward_aux(const typename Module<T>::Inputs& in, const Context& ctx) const {
    if (!has_aux()) throw Error("forward_aux: no auxiliary branch");
    std::vector<View<const T>> xs;
    for (std::size_t i = 0; i < levels(); ++i) xs.push_back(cview(*in.at(i)));
    return sets_.front().forward(xs, strides_, ctx);
  }
  std::int64_t macs(const std::vector<Shape>& in) const override {
    const std::size_t first = main_first(in.size());
    return sets_.back().macs(std::vector<Shape>(in.begin() + static_cast<std::ptrdiff_t>(first), in.end()));
  }
  std::vector<bool> used_inputs(std::size_t count) const override {
    std::vector<bool> u(count, true);
    for (std::size_t i = 0; i < main_first(count); ++i) u[i] = false;
    return u;
  }
  const DetectHead<T>* head() const override { return this; }

 protected:
  explicit DetectHead(DetectSet<T> main) : dual_(false) { sets_.push_back(std::move(main)); }
  explicit DetectHead(std::vector<DetectSet<T>> aux_main) : sets_(std::move(aux_main)), dual_(true) {}

 private:
  std::vector<DetectSet<T>> sets_;  // DualDDetect: {auxiliary, main} until drop_aux(); else {main}
  bool dual_;
  std::vector<double> strides_;
};

// Detect(nc, ch): box branch without groups.
template <class T>
class Detect : public DetectHead<T> {
 public:
  Detect(weights::Binder& b, const std::string& p, const std::vector<std::int64_t>& ch, std::int64_t nc,
         ops::Activation act)
      : DetectHead<T>(DetectSet<T>(b, p, ch, nc, false, "cv2", "cv3", "dfl", act)) {}
};

// DDetect(nc, ch): box branch with groups=4.
template <class T>
class DDetect : public DetectHead<T> {
 public:
  DDetect(weights::Binder& b, const std::string& p, const std::vector<std::int64_t>& ch, std::int64_t nc,
          ops::Activation act)
      : DetectHead<T>(DetectSet<T>(b, p, ch, nc, true, "cv2", "cv3", "dfl", act)) {}
};

// DualDDetect(nc, ch): cv2/cv3/dfl on the first half of the inputs (auxiliary branch, training
// only), cv4/cv5/dfl2 on the second half (main branch, what upstream's detect_dual.py uses).
template <class T>
class DualDDetect : public DetectHead<T> {
 public:
  static constexpr bool kPairedInputs = true;
  DualDDetect(weights::Binder& b, const std::string& p, const std::vector<std::int64_t>& ch, std::int64_t nc,
              ops::Activation act)
      : DetectHead<T>(aux_then_main(b, p, ch, nc, act)) {}

 private:
  // In this order: the Binder sees (and reports) the tensors as the state dict lists them.
  static std::vector<DetectSet<T>> aux_then_main(weights::Binder& b, const std::string& p,
                                                 const std::vector<std::int64_t>& ch, std::int64_t nc,
                                                 ops::Activation act) {
    if (ch.empty() || ch.size() % 2) throw ConfigError(p + ": DualDDetect needs an even number of inputs");
    const auto mid = ch.begin() + static_cast<std::ptrdiff_t>(ch.size() / 2);
    std::vector<DetectSet<T>> v;
    const bool packing = b.packing();
    b.set_packing(packing && !b.pack_only_live());  // the auxiliary set is dropped after the load
    v.emplace_back(b, p, std::vector<std::int64_t>(ch.begin(), mid), nc, true, "cv2", "cv3", "dfl", act);
    b.set_packing(packing);
    v.emplace_back(b, p, std::vector<std::int64_t>(mid, ch.end()), nc, true, "cv4", "cv5", "dfl2", act, ch.size() / 2);
    return v;
  }
};

}  // namespace yv9::nn
