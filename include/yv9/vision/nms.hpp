// SPDX-License-Identifier: MIT
// Post-processing: upstream YOLOv9 `utils.general.non_max_suppression` (detection heads; both
// multi_label=False, detect.py's choice, and multi_label=True, val.py's) and `scale_boxes`, reproduced in float32 exactly as torch/torchvision
// compute them on the CPU, so kept sets, order, boxes and scores are identical.
//
// Input: the raw head output of ONE image, (4 + nc, A) row-major float32:
//
//   row 0..3   : cx, cy, w, h   (input pixels)          anchors along the row, A columns
//   row 4..3+nc: class scores (sigmoid)
//
// Steps (upstream): best class per anchor (first maximum); keep score > conf_thres, compared in
// float32 because torch casts the Python threshold to the tensor's dtype — or, multi-label (when
// nc > 1), one candidate per (anchor, class) with score > conf_thres among the anchors whose best
// score passes, in anchor-major, class-minor order (torch's nonzero); optional class filter;
// xywh -> xyxy (x - w / 2, x + w / 2 in float32); sort by score descending, keep <= max_nms;
// torchvision.ops.nms on boxes offset by class * 7680 (unless agnostic) — greedy, IoU in float32
// as its CPU kernel does, suppress when IoU > iou_thres (a double); keep <= max_det.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "image.hpp"

namespace yv9::vision {

struct Detection {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // box corners (pixels of whichever image it refers to)
  float conf = 0;                        // best class score
  int cls = 0;                           // class index
};

struct NmsOptions {
  double conf_thres = 0.25;  // keep score > conf_thres (strict)
  double iou_thres = 0.45;   // suppress IoU > iou_thres (strict)
  std::vector<int> classes;  // keep only these classes; empty = all
  bool agnostic = false;     // one NMS over all classes instead of per class
  int max_det = 300;         // upstream's default; detect.py passes --max-det (1000)
  int max_nms = 30000;       // boxes entering NMS at most (upstream constant)
  bool multi_label = false;  // one candidate per class above conf_thres (val.py), not only the best
};

// Upstream's per-class offset (max_wh): boxes of different classes never overlap.
inline constexpr float kClassOffset = 7680.0f;

namespace detail {

// torchvision.ops.nms CPU kernel (nms_kernel.cpp): indices of kept boxes, in decreasing score.
// Areas, intersections and IoU are float32 like the kernel's scalar_t; the stable sort gives ties
// a deterministic order (lower index first).
inline std::vector<int> torchvision_nms(const std::vector<float>& x1, const std::vector<float>& y1,
                                        const std::vector<float>& x2, const std::vector<float>& y2,
                                        const std::vector<float>& scores, double iou_thres) {
  const int n = static_cast<int>(scores.size());
  std::vector<float> areas(n);
  for (int i = 0; i < n; ++i) areas[i] = (x2[i] - x1[i]) * (y2[i] - y1[i]);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  std::vector<std::uint8_t> suppressed(n, 0);
  std::vector<int> keep;
  for (int oi = 0; oi < n; ++oi) {
    const int i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = areas[i];
    for (int oj = oi + 1; oj < n; ++oj) {
      const int j = order[oj];
      if (suppressed[j]) continue;
      const float w = std::max(0.0f, std::min(ix2, x2[j]) - std::max(ix1, x1[j]));
      const float h = std::max(0.0f, std::min(iy2, y2[j]) - std::max(iy1, y1[j]));
      // `inter` has two uses, so compilers do not fuse w * h into the subtraction (an FMA
      // would round differently from torchvision's separate float operations).
      const float inter = w * h;
      const float ovr = inter / (iarea + areas[j] - inter);
      if (static_cast<double>(ovr) > iou_thres) suppressed[j] = 1;
    }
  }
  return keep;
}

}  // namespace detail

// NMS for one image. `pred` points at a (channels = 4 + nc, anchors) row-major block.
inline std::vector<Detection> non_max_suppression(const float* pred, int channels, int anchors,
                                                  const NmsOptions& o = {}) {
  if (channels < 5 || anchors < 0)
    throw UsageError("non_max_suppression: prediction must be (4 + nc, A) with nc >= 1, got (" +
                     std::to_string(channels) + ", " + std::to_string(anchors) + ")");
  if (!(o.conf_thres >= 0 && o.conf_thres <= 1) || !(o.iou_thres >= 0 && o.iou_thres <= 1))
    throw UsageError("non_max_suppression: conf_thres and iou_thres must lie in [0, 1]");
  if (o.max_det < 0 || o.max_nms < 0) throw UsageError("non_max_suppression: max_det and max_nms must be >= 0");
  const int nc = channels - 4;
  const float conf_thres = static_cast<float>(o.conf_thres);  // torch compares in the tensor's dtype
  const std::size_t A = static_cast<std::size_t>(anchors);

  // Candidates: best class (first maximum, NaN-propagating like torch.amax) above the threshold;
  // multi-label adds every other class above it too (an anchor whose amax is NaN gives nothing).
  const bool multi = o.multi_label && nc > 1;
  auto wanted = [&](int c) { return o.classes.empty() || std::find(o.classes.begin(), o.classes.end(), c) != o.classes.end(); };
  std::vector<Detection> cand;
  for (std::size_t a = 0; a < A; ++a) {
    float best = pred[4 * A + a];
    int best_c = 0;
    bool nan = std::isnan(best);
    for (int c = 1; c < nc && !nan; ++c) {
      const float s = pred[(4 + c) * A + a];
      if (std::isnan(s)) nan = true;
      if (s > best) best = s, best_c = c;
    }
    if (nan || !(best > conf_thres)) continue;
    const float cx = pred[a], cy = pred[A + a], w = pred[2 * A + a], h = pred[3 * A + a];
    Detection d;
    d.x1 = cx - w / 2.0f, d.y1 = cy - h / 2.0f, d.x2 = cx + w / 2.0f, d.y2 = cy + h / 2.0f;
    if (!multi) {
      if (!wanted(best_c)) continue;
      d.conf = best, d.cls = best_c;
      cand.push_back(d);
      continue;
    }
    for (int c = 0; c < nc; ++c) {
      const float s = pred[(4 + c) * A + a];
      if (!(s > conf_thres) || !wanted(c)) continue;
      d.conf = s, d.cls = c;
      cand.push_back(d);
    }
  }
  std::stable_sort(cand.begin(), cand.end(), [](const Detection& a, const Detection& b) { return a.conf > b.conf; });
  if (cand.size() > static_cast<std::size_t>(o.max_nms)) cand.resize(static_cast<std::size_t>(o.max_nms));

  const std::size_t n = cand.size();
  std::vector<float> x1(n), y1(n), x2(n), y2(n), sc(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float off = static_cast<float>(cand[i].cls) * (o.agnostic ? 0.0f : kClassOffset);
    x1[i] = cand[i].x1 + off, y1[i] = cand[i].y1 + off, x2[i] = cand[i].x2 + off, y2[i] = cand[i].y2 + off;
    sc[i] = cand[i].conf;
  }
  std::vector<int> keep = detail::torchvision_nms(x1, y1, x2, y2, sc, o.iou_thres);
  if (keep.size() > static_cast<std::size_t>(o.max_det)) keep.resize(static_cast<std::size_t>(o.max_det));
  std::vector<Detection> out;
  out.reserve(keep.size());
  for (int i : keep) out.push_back(cand[static_cast<std::size_t>(i)]);
  return out;
}

// NMS for a batch (B, 4 + nc, A) tensor: one detection list per image.
inline std::vector<std::vector<Detection>> non_max_suppression(const Tensor<float>& pred, const NmsOptions& o = {}) {
  if (pred.rank() != 3)
    throw UsageError("non_max_suppression: expected a (B, 4 + nc, A) tensor, got " + pred.shape().str());
  const std::int64_t per = pred.dim(1) * pred.dim(2);
  std::vector<std::vector<Detection>> out;
  for (std::int64_t b = 0; b < pred.dim(0); ++b)
    out.push_back(non_max_suppression(pred.data() + b * per, static_cast<int>(pred.dim(1)),
                                      static_cast<int>(pred.dim(2)), o));
  return out;
}

// Upstream `scale_boxes(img1_shape, boxes, img0_shape)` (ratio_pad=None): maps boxes from the
// network input (img1, h x w) back to the original image (img0), then clips to it. Gain and pad
// are recomputed from the shapes in double — pad = (w1 - w0 * gain) / 2, unrounded — and applied
// to the float32 boxes as torch does: the Python scalars become float32, then x - pad and x / gain.
inline void scale_boxes(int img1_h, int img1_w, int img0_h, int img0_w, std::vector<Detection>& dets) {
  if (img1_h <= 0 || img1_w <= 0 || img0_h <= 0 || img0_w <= 0)
    throw UsageError("scale_boxes: image sizes must be positive");
  const double gain = std::min(static_cast<double>(img1_h) / img0_h, static_cast<double>(img1_w) / img0_w);
  const float pad_x = static_cast<float>((img1_w - detail::strict_round(img0_w * gain)) / 2);
  const float pad_y = static_cast<float>((img1_h - detail::strict_round(img0_h * gain)) / 2);
  const float g = static_cast<float>(gain);
  const float max_x = static_cast<float>(img0_w), max_y = static_cast<float>(img0_h);
  auto clampf = [](float v, float hi) { return std::min(std::max(v, 0.0f), hi); };  // torch.clamp_(0, hi)
  for (Detection& d : dets) {
    d.x1 = clampf((d.x1 - pad_x) / g, max_x);
    d.y1 = clampf((d.y1 - pad_y) / g, max_y);
    d.x2 = clampf((d.x2 - pad_x) / g, max_x);
    d.y2 = clampf((d.y2 - pad_y) / g, max_y);
  }
}

// torch.round on float32: nearest, ties to even (independent of the FPU rounding mode).
inline float round_half_even(float x) {
  if (!std::isfinite(x)) return x;
  const float f = std::floor(x);
  const float d = x - f;  // exact
  if (d > 0.5f) return f + 1.0f;
  if (d < 0.5f) return f;
  return std::fmod(f, 2.0f) == 0.0f ? f : f + 1.0f;
}

// detect.py rounds the scaled boxes (`.round()`) before drawing and writing labels.
inline void round_boxes(std::vector<Detection>& dets) {
  for (Detection& d : dets) {
    d.x1 = round_half_even(d.x1), d.y1 = round_half_even(d.y1);
    d.x2 = round_half_even(d.x2), d.y2 = round_half_even(d.y2);
  }
}

}  // namespace yv9::vision
