// SPDX-License-Identifier: MIT
// Detection metrics as upstream YOLOv9's val.py computes them (`process_batch`, `ap_per_class`,
// `compute_ap` with 101-point interpolation, `smooth`), written from their specification:
//
//   1. Matching, per image (match_predictions): IoU of every (label, prediction) pair in float32
//      (inter / (area_l + area_p - inter + 1e-7)). For each threshold t of 0.50, 0.55, ..., 0.95:
//      the pairs with IoU >= t and the same class, ordered by IoU descending; each prediction keeps
//      its first (best) pair; of those, ordered by prediction index, each label keeps its first,
//      i.e. the pair with the lowest prediction index (the most confident one after NMS), not
//      necessarily its best IoU. Kept predictions are true positives at t.
//   2. Per class present in the labels (ap_per_class), predictions sorted by confidence descending:
//      cumulative TP / FP give recall = TP / n_labels and precision = TP / (TP + FP) at each
//      prediction. AP at each threshold: precision envelope (running max from the right) over
//      recall with sentinels (0, 1) and (1, 0), sampled at recall 0, 0.01, ..., 1 with numpy.interp
//      and integrated with the trapezoid rule.
//   3. P and R curves of threshold 0.5 against confidence, sampled at 1000 confidences 0..1
//      (numpy.interp over -conf; left values 1 for P, 0 for R); F1 = 2PR / (P + R + 1e-16); the
//      class-mean F1 is smoothed by a 101-wide box filter (edges padded with the end values); P and
//      R of each class are read at the first maximum of the smoothed mean F1.
//   4. "all": means over the classes present in the labels of P, R, AP50 and AP50-95 (the mean of
//      the ten APs of a class).
// Classes predicted but absent from the labels do not enter the metrics (as upstream). Ties in
// confidence are ordered stably (numpy's quicksort is not stable; the effect is below 1e-4).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <vector>

#include "nms.hpp"

namespace yv9::vision {

inline constexpr int kIouSteps = 10;

// torch.linspace(0.5, 0.95, 10) in float32: start + i * step for the first half, end - (9 - i) *
// step for the second (torch's CPU kernel computes from both ends).
inline std::array<float, kIouSteps> iou_thresholds() {
  std::array<float, kIouSteps> t{};
  const float start = 0.5f, end = 0.95f, step = (end - start) / static_cast<float>(kIouSteps - 1);
  for (int i = 0; i < kIouSteps; ++i)
    t[i] = i < kIouSteps / 2 ? start + step * static_cast<float>(i) : end - step * static_cast<float>(kIouSteps - 1 - i);
  return t;
}

// A ground-truth box in the same pixel space as the predictions.
struct LabelBox {
  int cls = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// upstream box_iou for one pair, float32 and in its operation order.
inline float box_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2) {
  const float w = std::max(0.0f, std::min(ax2, bx2) - std::max(ax1, bx1));
  const float h = std::max(0.0f, std::min(ay2, by2) - std::max(ay1, by1));
  const float inter = w * h;
  const float area_a = (ax2 - ax1) * (ay2 - ay1);
  const float area_b = (bx2 - bx1) * (by2 - by1);
  const float denom = area_a + area_b - inter + 1e-7f;
  return inter / denom;
}

// Step 1: one row per prediction (in the order given, which must be NMS order), one flag per IoU
// threshold.
using Correct = std::array<bool, kIouSteps>;

inline std::vector<Correct> match_predictions(const std::vector<Detection>& preds, const std::vector<LabelBox>& labels) {
  std::vector<Correct> correct(preds.size(), Correct{});
  if (preds.empty() || labels.empty()) return correct;
  const std::size_t nl = labels.size(), np = preds.size();
  std::vector<float> iou(nl * np);
  for (std::size_t l = 0; l < nl; ++l)
    for (std::size_t d = 0; d < np; ++d) {
      const LabelBox& a = labels[l];
      const Detection& b = preds[d];
      iou[l * np + d] = box_iou(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2);
    }
  const auto thr = iou_thresholds();
  struct Pair {
    std::size_t l, d;
    float iou;
  };
  std::vector<Pair> pairs;
  std::vector<std::size_t> order;
  std::vector<char> det_taken(np), label_taken(nl);
  for (int t = 0; t < kIouSteps; ++t) {
    pairs.clear();
    for (std::size_t l = 0; l < nl; ++l)  // torch.where order: label-major
      for (std::size_t d = 0; d < np; ++d)
        if (iou[l * np + d] >= thr[t] && labels[l].cls == preds[d].cls) pairs.push_back({l, d, iou[l * np + d]});
    if (pairs.empty()) continue;
    // argsort ascending, then reversed: IoU descending, equal IoUs in reverse enumeration order.
    order.resize(pairs.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return pairs[a].iou < pairs[b].iou; });
    std::reverse(order.begin(), order.end());
    // Best pair per prediction, then visited by prediction index: the first per label wins.
    std::vector<std::size_t> best_of_det(np, pairs.size());
    for (std::size_t k : order)
      if (best_of_det[pairs[k].d] == pairs.size()) best_of_det[pairs[k].d] = k;
    std::fill(label_taken.begin(), label_taken.end(), 0);
    for (std::size_t d = 0; d < np; ++d) {
      const std::size_t k = best_of_det[d];
      if (k == pairs.size() || label_taken[pairs[k].l]) continue;
      label_taken[pairs[k].l] = 1;
      correct[d][static_cast<std::size_t>(t)] = true;
    }
  }
  return correct;
}

// numpy.interp(x, xp, fp, left, right) for increasing (not necessarily strictly) xp: the segment
// is the last j with xp[j] <= x; x equal to xp[j] gives fp[j]; x == xp.back() gives fp.back().
inline double np_interp(double x, const std::vector<double>& xp, const std::vector<double>& fp, double left, double right) {
  const std::size_t n = xp.size();
  if (x > xp[n - 1]) return right;
  if (x < xp[0]) return left;
  const std::size_t j = static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j == n - 1 || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

// numpy.linspace(0, 1, n): i * (1 / (n - 1)), the last value exactly 1.
inline std::vector<double> unit_linspace(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  const double step = 1.0 / (n - 1);
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i * step;
  v.back() = 1.0;
  return v;
}

// upstream compute_ap (method 'interp'): area under the precision envelope, 101 recall points.
inline double compute_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  std::vector<double> mrec, mpre;
  mrec.reserve(recall.size() + 2), mpre.reserve(precision.size() + 2);
  mrec.push_back(0.0), mpre.push_back(1.0);
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mrec.push_back(1.0), mpre.push_back(0.0);
  for (std::size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  const std::vector<double> x = unit_linspace(101);
  double ap = 0;
  double prev = np_interp(x[0], mrec, mpre, mpre.front(), mpre.back());
  for (std::size_t i = 1; i < x.size(); ++i) {
    const double y = np_interp(x[i], mrec, mpre, mpre.front(), mpre.back());
    ap += (x[i] - x[i - 1]) * (y + prev) / 2.0;
    prev = y;
  }
  return ap;
}

// upstream smooth(y, f): box filter of round(len * f * 2) // 2 + 1 taps, ends padded with the end
// values, same length as y.
inline std::vector<double> smooth(const std::vector<double>& y, double f = 0.05) {
  const long nf = static_cast<long>(std::nearbyint(static_cast<double>(y.size()) * f * 2)) / 2 + 1;
  const long half = nf / 2;
  std::vector<double> yp;
  yp.reserve(y.size() + 2 * static_cast<std::size_t>(half));
  yp.insert(yp.end(), static_cast<std::size_t>(half), y.front());
  yp.insert(yp.end(), y.begin(), y.end());
  yp.insert(yp.end(), static_cast<std::size_t>(half), y.back());
  const double w = 1.0 / static_cast<double>(nf);
  std::vector<double> out(yp.size() - static_cast<std::size_t>(nf) + 1);
  for (std::size_t k = 0; k < out.size(); ++k) {
    double s = 0;
    for (long m = 0; m < nf; ++m) s += yp[k + static_cast<std::size_t>(m)] * w;
    out[k] = s;
  }
  return out;
}

// What one image contributes: its predictions (flags, confidence, class) and its labels' classes.
struct PredictionRecord {
  Correct tp{};
  float conf = 0;
  int cls = 0;
};

struct ClassMetrics {
  int cls = 0;
  std::int64_t instances = 0;  // labels of this class
  double p = 0, r = 0, ap50 = 0, ap = 0;  // ap: mean over the ten IoU thresholds
  std::array<double, kIouSteps> ap_per_iou{};
};

struct Metrics {
  std::vector<ClassMetrics> classes;  // the classes present in the labels, ascending
  double mp = 0, mr = 0, map50 = 0, map = 0;
};

// Steps 2-4. `target_classes`: one entry per label of every image.
inline Metrics ap_per_class(std::vector<PredictionRecord> preds, const std::vector<int>& target_classes) {
  Metrics m;
  std::stable_sort(preds.begin(), preds.end(), [](const PredictionRecord& a, const PredictionRecord& b) { return a.conf > b.conf; });
  std::map<int, std::int64_t> nt;
  for (int c : target_classes) ++nt[c];
  const int npx = 1000;
  const std::vector<double> px = unit_linspace(npx);
  std::vector<std::vector<double>> P, R;
  for (const auto& [c, n_l] : nt) {
    ClassMetrics cm;
    cm.cls = c, cm.instances = n_l;
    std::vector<double> p(npx, 0.0), r(npx, 0.0);
    std::vector<double> neg_conf;
    std::array<std::vector<double>, kIouSteps> recall, precision;
    std::array<std::int64_t, kIouSteps> tpc{}, fpc{};
    for (const PredictionRecord& pr : preds) {
      if (pr.cls != c) continue;
      neg_conf.push_back(-static_cast<double>(pr.conf));
      for (int j = 0; j < kIouSteps; ++j) {
        (pr.tp[j] ? tpc[j] : fpc[j]) += 1;
        recall[j].push_back(static_cast<double>(tpc[j]) / (static_cast<double>(n_l) + 1e-16));
        precision[j].push_back(static_cast<double>(tpc[j]) / static_cast<double>(tpc[j] + fpc[j]));
      }
    }
    if (!neg_conf.empty()) {
      for (int k = 0; k < npx; ++k) {
        r[k] = np_interp(-px[k], neg_conf, recall[0], 0.0, recall[0].back());
        p[k] = np_interp(-px[k], neg_conf, precision[0], 1.0, precision[0].back());
      }
      double sum = 0;
      for (int j = 0; j < kIouSteps; ++j) {
        cm.ap_per_iou[j] = compute_ap(recall[j], precision[j]);
        sum += cm.ap_per_iou[j];
      }
      cm.ap50 = cm.ap_per_iou[0];
      cm.ap = sum / kIouSteps;
    }
    P.push_back(std::move(p)), R.push_back(std::move(r));
    m.classes.push_back(cm);
  }
  const std::size_t nc = m.classes.size();
  if (nc == 0) return m;
  std::vector<double> f1_mean(npx, 0.0);
  for (int k = 0; k < npx; ++k) {
    double s = 0;
    for (std::size_t ci = 0; ci < nc; ++ci) s += 2 * P[ci][k] * R[ci][k] / (P[ci][k] + R[ci][k] + 1e-16);
    f1_mean[k] = s / static_cast<double>(nc);
  }
  const std::vector<double> sm = smooth(f1_mean, 0.1);
  const std::size_t best = static_cast<std::size_t>(std::max_element(sm.begin(), sm.end()) - sm.begin());  // first max
  for (std::size_t ci = 0; ci < nc; ++ci) {
    ClassMetrics& cm = m.classes[ci];
    cm.p = P[ci][best], cm.r = R[ci][best];
    m.mp += cm.p, m.mr += cm.r, m.map50 += cm.ap50, m.map += cm.ap;
  }
  m.mp /= nc, m.mr /= nc, m.map50 /= nc, m.map /= nc;
  return m;
}

// Collects per-image results and computes the metrics at the end (val.py's `stats`). When no
// prediction is a true positive at IoU 0.5 anywhere, every metric is 0, as upstream reports.
class MetricsAccumulator {
 public:
  // `preds` in NMS order, boxes in the same space as `labels`.
  void add_image(const std::vector<Detection>& preds, const std::vector<LabelBox>& labels) {
    const std::vector<Correct> c = match_predictions(preds, labels);
    for (std::size_t i = 0; i < preds.size(); ++i) {
      any_tp_ = any_tp_ || std::any_of(c[i].begin(), c[i].end(), [](bool b) { return b; });
      preds_.push_back({c[i], preds[i].conf, preds[i].cls});
    }
    for (const LabelBox& l : labels) targets_.push_back(l.cls);
    ++images_;
  }
  std::int64_t images() const { return images_; }
  std::int64_t instances() const { return static_cast<std::int64_t>(targets_.size()); }
  // Labels per class, for classes 0..nc-1 (also those without labels).
  std::vector<std::int64_t> instances_per_class(int nc) const {
    std::vector<std::int64_t> n(static_cast<std::size_t>(std::max(nc, 0)), 0);
    for (int c : targets_)
      if (c >= 0 && c < nc) ++n[static_cast<std::size_t>(c)];
    return n;
  }
  Metrics compute() const {
    if (!any_tp_) {
      Metrics m;  // upstream skips ap_per_class: zeros, and no per-class rows
      return m;
    }
    return ap_per_class(preds_, targets_);
  }

 private:
  std::vector<PredictionRecord> preds_;
  std::vector<int> targets_;
  std::int64_t images_ = 0;
  bool any_tp_ = false;
};

}  // namespace yv9::vision
