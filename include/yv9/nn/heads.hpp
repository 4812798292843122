// Detection heads: Detect, DDetect, DualDDetect (SPEC §1.1) and their decoding.
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
#include <vector>

#include "conv.hpp"

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
  DetectSet(Binder& b, const std::string& p, const std::vector<std::int64_t>& ch, std::int64_t nc, bool ddetect,
            const std::string& box_name, const std::string& cls_name, const std::string& dfl_name, Activation act)
      : nc_(nc) {
    const std::int64_t ch0 = ch.at(0);
    std::int64_t c2 = std::max<std::int64_t>({ch0 / 4, kRegMax * 4, 16});
    if (ddetect) c2 = (c2 + 3) / 4 * 4;  // make_divisible(., 4)
    const std::int64_t c3 = std::max<std::int64_t>(ch0, std::min<std::int64_t>(nc * 2, 128));
    const std::int64_t g = ddetect ? 4 : 1;
    for (std::size_t l = 0; l < ch.size(); ++l) {
      const std::string bp = p + box_name + "." + std::to_string(l) + ".", cp = p + cls_name + "." + std::to_string(l) + ".";
      DetectLevel<T> lv;
      lv.box[0].g = conv_geom(ch[l], c2, 3);
      lv.cls[0].g = conv_geom(ch[l], c3, 3);
      lv.stem = load_conv_bn_stacked<T>(b, {{bp + "0.", lv.box[0].g}, {cp + "0.", lv.cls[0].g}}, act);
      lv.box[1] = load_conv_bn<T>(b, bp + "1.", conv_geom(c2, c2, 3, 1, -1, g), act);
      lv.box[2] = load_conv2d<T>(b, bp + "2.", conv_geom(c2, 4 * kRegMax, 1, 1, 0, g), true);
      lv.cls[1] = load_conv_bn<T>(b, cp + "1.", conv_geom(c3, c3, 3), act);
      lv.cls[2] = load_conv2d<T>(b, cp + "2.", conv_geom(c3, nc, 1, 1, 0), true);
      levels_.push_back(std::move(lv));
    }
    auto w = b.param(p + dfl_name + ".conv.weight", {1, kRegMax, 1, 1});
    dfl_.assign(w.begin(), w.end());
  }

  std::size_t levels() const { return levels_.size(); }
  std::int64_t nc() const { return nc_; }

  // cat(box logits (64), class logits (nc)) of one level: [n, 64+nc, h, w], before DFL and sigmoid.
  Tensor<T> raw(std::size_t l, View<const T> x, const Context& ctx) const {
    const DetectLevel<T>& lv = levels_.at(l);
    Tensor<T> out(Shape{x.n, 4 * kRegMax + nc_, x.h, x.w});
    View<T> v = view(out);
    Tensor<T> stem = run_conv(lv.stem, x, ctx);
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
      decode(r, static_cast<T>(strides.at(l)), out, a0);
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
    Tensor<T> b = run_conv(c[1], a, ctx);
    c[2].forward(cview(b), out, ctx);
  }

  // DFL: softmax over 16 bins per side, expectation with the stored weights (0..15); dist2bbox (xywh) * stride.
  void decode(const Tensor<T>& r, T stride, Tensor<T>& out, std::int64_t a0) const {
    const std::int64_t n = r.dim(0), h = r.dim(2), w = r.dim(3), hw = h * w, A = out.dim(2);
    for (std::int64_t b = 0; b < n; ++b) {
      const T* src = r.data() + b * r.dim(1) * hw;
      T* dst = out.data() + b * out.dim(1) * A;
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const std::int64_t pix = y * w + x, a = a0 + pix;
          T d[4];
          for (int side = 0; side < 4; ++side) {
            const T* z = src + side * kRegMax * hw + pix;
            T m = z[0];
            for (std::int64_t j = 1; j < kRegMax; ++j) m = std::max(m, z[j * hw]);
            T e[kRegMax], sum = 0;
            for (std::int64_t j = 0; j < kRegMax; ++j) {
              e[j] = std::exp(z[j * hw] - m);
              sum += e[j];
            }
            T acc = 0;
            for (std::int64_t j = 0; j < kRegMax; ++j) acc += (e[j] / sum) * dfl_[j];
            d[side] = acc;
          }
          const T ax = static_cast<T>(x) + T(0.5), ay = static_cast<T>(y) + T(0.5);
          const T x1 = ax - d[0], y1 = ay - d[1], x2 = ax + d[2], y2 = ay + d[3];
          dst[0 * A + a] = (x1 + x2) / T(2) * stride;
          dst[1 * A + a] = (y1 + y2) / T(2) * stride;
          dst[2 * A + a] = (x2 - x1) * stride;
          dst[3 * A + a] = (y2 - y1) * stride;
          for (std::int64_t c = 0; c < nc_; ++c) {
            const T v = src[(4 * kRegMax + c) * hw + pix];
            dst[(4 + c) * A + a] = T(1) / (T(1) + std::exp(-v));
          }
        }
    }
  }

  std::int64_t nc_ = 0;
  std::vector<DetectLevel<T>> levels_;
  std::vector<T> dfl_;
};

}  // namespace yv9::nn
