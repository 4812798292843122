// SPDX-License-Identifier: MIT
// Detector: load once, detect many times — upstream detect.py's pipeline in one object.
//
//   yv9::vision::Detector det("model.bin");               // options: img, square, conf, iou, ...
//   yv9::vision::Image im = yv9::vision::load_image("photo.jpg");
//   for (const auto& d : det.detect(im).detections)        // boxes in photo pixels (unrounded)
//     std::printf("%s %.2f\n", det.names()[d.cls].c_str(), d.conf);
//
// detect() is const and keeps no state: one Detector may serve several threads at once. The pieces
// (preprocess, forward, postprocess) are public for users who need to change one of them.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "../core/threads.hpp"
#include "../model/loader.hpp"
#include "letterbox.hpp"
#include "nms.hpp"

namespace yv9::vision {

struct DetectorOptions {
  int img = 640;          // inference size (rounded up to a multiple of the model's largest stride)
  bool square = false;    // pad to img x img (upstream auto=False); default: the minimal rectangle
  NmsOptions nms = default_nms();
  int threads = 0;        // 0 = all cores

  static NmsOptions default_nms() {
    NmsOptions n;
    n.max_det = 1000;  // detect.py's --max-det default
    return n;
  }
};

struct Timings {
  double preprocess_ms = 0, inference_ms = 0, nms_ms = 0;
};

struct DetectionResult {
  std::vector<Detection> detections;  // original-image pixels, clipped, NMS order (best first)
  LetterboxGeometry geometry;         // how the image was fitted into the network input
  Timings timings;
};

class Detector {
 public:
  explicit Detector(const std::string& weights, DetectorOptions opt = {})
      : Detector(model::load_model<float>(weights), opt) {}
  Detector(model::LoadedModel<float> m, DetectorOptions opt) : m_(std::move(m)), opt_(std::move(opt)) {
    if (m_.net.head() < 0) throw UsageError("Detector: the model has no detection head");
    if (m_.net.in_channels() != 3) throw UsageError("Detector: the model does not take 3-channel images");
    if (opt_.img < 1 || opt_.img > 8192) throw UsageError("Detector: img must be in 1..8192");
    stride_ = 32;
    for (double s : m_.net.strides()) stride_ = std::max(stride_, static_cast<int>(s));
    size_ = (opt_.img + stride_ - 1) / stride_ * stride_;  // upstream check_img_size
    names_ = m_.meta.names;
    for (std::int64_t c = static_cast<std::int64_t>(names_.size()); c < m_.net.nc(); ++c) names_.push_back(std::to_string(c));
  }

  const std::vector<std::string>& names() const { return names_; }
  const model::Network<float>& network() const { return m_.net; }
  const model::ModelMeta& meta() const { return m_.meta; }
  int input_size() const { return size_; }
  int stride() const { return stride_; }
  const DetectorOptions& options() const { return opt_; }

  Letterboxed preprocess(const Image& im) const {
    LetterboxOptions lo;
    lo.height = lo.width = size_;
    lo.auto_pad = !opt_.square;
    lo.stride = stride_;
    return letterbox(im, lo);
  }

  Tensor<float> forward(const Tensor<float>& x) const {
    Context ctx;
    ctx.threads = resolve_threads(opt_.threads);
    return m_.net.forward(x, ctx);
  }

  // NMS on the raw prediction, boxes mapped back to the original image (unrounded).
  std::vector<Detection> postprocess(const Tensor<float>& pred, const LetterboxGeometry& g) const {
    std::vector<Detection> det = non_max_suppression(pred, opt_.nms).at(0);
    scale_boxes(g.out_h, g.out_w, g.src_h, g.src_w, det);
    return det;
  }

  DetectionResult detect(const Image& im) const {
    using clock = std::chrono::steady_clock;
    auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    DetectionResult r;
    const auto t0 = clock::now();
    Letterboxed lb = preprocess(im);
    Tensor<float> x = to_tensor(lb.image);
    const auto t1 = clock::now();
    Tensor<float> pred = forward(x);
    const auto t2 = clock::now();
    r.detections = postprocess(pred, lb.geometry);
    const auto t3 = clock::now();
    r.geometry = lb.geometry;
    r.timings = {ms(t0, t1), ms(t1, t2), ms(t2, t3)};
    return r;
  }

 private:
  model::LoadedModel<float> m_;
  DetectorOptions opt_;
  std::vector<std::string> names_;
  int stride_ = 32, size_ = 640;
};

}  // namespace yv9::vision
