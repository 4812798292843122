// SPDX-License-Identifier: MIT
// Validation: upstream YOLOv9's val.py pipeline on a data set, giving its metrics (metrics.hpp).
//
//   auto model = yv9::model::load_model<float>("model.bin");
//   yv9::vision::DataConfig data = yv9::vision::load_data_config("data.yaml");
//   yv9::vision::ValOptions o;  o.img = 640;  o.batch = 32;
//   yv9::vision::ValResult r = yv9::vision::validate(model, data.names, yv9::vision::list_images(*data.split("val")), o);
//   r.metrics.map50, r.metrics.map, r.metrics.classes[i].p ...
//
// What happens, as upstream (create_dataloader(rect=True, pad=0.5) + val.py):
//   1. Every image's header is read (size after EXIF orientation) and its label file checked
//      (dataset.hpp); images that cannot be read, smaller than 10 px, or whose label file is
//      corrupt are reported and left out, before anything else.
//   2. rect batches by aspect ratio (dataset.hpp: rect_batches, stride = the model's largest).
//   3. Each image: decoded; resized so its long side is `img` when it is not (ceil of each side;
//      INTER_LINEAR when enlarging, INTER_AREA when shrinking); letterboxed into its batch's shape
//      with auto=False, scaleup=False (so centred, grey 114).
//   4. Network, multi-label NMS (conf, iou, max_det). Predictions go back to the original image
//      with upstream's ratio_pad (gain = loaded / original size, pad = the letterbox's half
//      padding), clipped. Labels take upstream's route in float32: normalised -> letterboxed
//      pixels, clipped to the letterboxed image minus 1e-3, -> xyxy, back through the same ratio_pad.
//   5. match_predictions per image, ap_per_class at the end.
// Differences, all outside what a normal data set meets:
//  * images are sorted by aspect ratio with a stable sort; numpy's argsort is not stable, so among
//    images of equal aspect ratio that straddle two batches of different shapes, upstream may give
//    an image the other batch's shape;
//  * upstream takes the aspect ratio from PIL, which swaps width and height for EXIF orientations
//    6 and 8 only; we use the size cv2 (and so both) loads, which also swaps for 5 and 7;
//  * upstream's NMS gives up on a batch after 2.5 + 0.05 * batch seconds (keeping what it has);
//    we never do;
//  * images upstream accepts but yv9 cannot decode (tif, webp, dng, mpo, pfm) are reported and
//    left out; shrinking (images larger than `img`) uses resize_area, not checked bit for bit
//    against OpenCV.
#pragma once
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "../core/threads.hpp"
#include "../model/loader.hpp"
#include "dataset.hpp"
#include "decode.hpp"
#include "letterbox.hpp"
#include "metrics.hpp"
#include "nms.hpp"
#include "resize.hpp"

namespace yv9::vision {

struct ValOptions {
  int img = 640;       // rounded up to a multiple of the model's largest stride (upstream check_img_size)
  int batch = 32;      // images per rect batch (the batch's shape depends on it)
  NmsOptions nms = default_nms();
  double pad = 0.5;    // rect batch padding, in strides
  int threads = 0;     // 0 = all cores
  std::int64_t max_batch_pixels = std::int64_t(4) * 640 * 640;  // per forward call (bounds memory)
  DatasetLimits limits;

  static NmsOptions default_nms() {
    NmsOptions n;
    n.conf_thres = 0.001, n.iou_thres = 0.7, n.max_det = 300, n.multi_label = true;
    return n;
  }
};

struct ValCounts {
  std::size_t listed = 0;           // images found
  std::size_t labels_found = 0;     // with a label file
  std::size_t labels_missing = 0;   // without one (no objects)
  std::size_t labels_empty = 0;     // empty label file
  std::size_t corrupt_labels = 0;   // images left out for their label file
  std::size_t unreadable_images = 0;// images left out: unreadable, or smaller than 10 px
  std::size_t duplicate_rows = 0;   // label rows dropped as exact duplicates
};

struct ValResult {
  Metrics metrics;
  std::int64_t images = 0, instances = 0;
  std::vector<std::int64_t> instances_per_class;  // 0..nc-1
  ValCounts counts;
  int input_size = 0;            // img after rounding to the stride
  double seconds_total = 0, seconds_inference = 0;
};

// Messages for the caller to show: warnings (one line each) and progress (batch done, batches).
struct ValCallbacks {
  std::function<void(const std::string&)> warn = [](const std::string&) {};
  std::function<void(std::size_t, std::size_t, std::size_t)> progress = [](std::size_t, std::size_t, std::size_t) {};
};

namespace detail {

// Float32 arithmetic that the compiler may not contract into FMAs (numpy and torch round each
// operation of the label and box conversions separately).
inline float f32(float v) {
  volatile float t = v;
  return t;
}

// upstream load_image: long side to `img` when it is not already.
inline Image load_for_val(const std::string& path, int img, const ImageLimits& limits) {
  Image im = load_image(path, limits);
  const double r = static_cast<double>(img) / std::max(im.width, im.height);
  if (r == 1) return im;
  const int w = static_cast<int>(std::floor(strict_round(im.width * r)));
  const int h = static_cast<int>(std::floor(strict_round(im.height * r)));
  return r > 1 ? resize_linear(im, w, h) : resize_area(im, w, h);
}

struct Planned {
  std::string path;
  int w0 = 0, h0 = 0;
  std::vector<LabelRow> labels;
};

}  // namespace detail

inline ValResult validate(const model::LoadedModel<float>& m, const std::vector<std::string>& names,
                          const std::vector<std::string>& images, const ValOptions& o, const ValCallbacks& cb = {}) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const model::Network<float>& net = m.net;
  if (net.head() < 0) throw ConfigError("validate: the model has no detection head");
  if (net.in_channels() != 3) throw ConfigError("validate: the model does not take 3-channel images");
  if (o.img < 1 || o.img > 8192) throw UsageError("validate: img must be in 1..8192");
  if (o.batch < 1 || o.batch > 4096) throw UsageError("validate: batch must be in 1..4096");
  const int nc = static_cast<int>(net.nc());
  if (static_cast<int>(names.size()) != nc)
    throw ConfigError("the model has " + std::to_string(nc) + " classes, the data set " + std::to_string(names.size()) +
                      " (trained on a different data set?)");
  int stride = 32;
  for (double s : net.strides()) stride = std::max(stride, static_cast<int>(s));
  ValResult res;
  res.input_size = (o.img + stride - 1) / stride * stride;
  const int img = res.input_size;
  ImageLimits ilim;

  // 1. headers and labels
  std::vector<detail::Planned> plan;
  res.counts.listed = images.size();
  for (const std::string& path : images) {
    detail::Planned p;
    p.path = path;
    try {
      const ImageSize s = probe_image(path, ilim);
      if (s.width < 10 || s.height < 10)
        throw FormatError(path + ": image size " + std::to_string(s.width) + "x" + std::to_string(s.height) + " < 10 pixels");
      p.w0 = s.width, p.h0 = s.height;
    } catch (const Error& e) {
      ++res.counts.unreadable_images;
      cb.warn(std::string("unreadable image, left out: ") + e.what());
      continue;
    }
    const LabelFile lf = read_label_file(label_path_for(path), nc, o.limits);
    switch (lf.status) {
      case LabelFile::Status::Missing: ++res.counts.labels_missing; break;
      case LabelFile::Status::Empty: ++res.counts.labels_found, ++res.counts.labels_empty; break;
      case LabelFile::Status::Ok: ++res.counts.labels_found; break;
      case LabelFile::Status::Corrupt:
        ++res.counts.labels_found, ++res.counts.corrupt_labels;
        cb.warn("corrupt label, image and labels left out (as upstream): " + lf.problem + " (image " + path + ")");
        continue;
    }
    if (lf.duplicates) {
      res.counts.duplicate_rows += lf.duplicates;
      cb.warn(label_path_for(path) + ": " + std::to_string(lf.duplicates) + " duplicate labels removed");
    }
    p.labels = lf.rows;
    plan.push_back(std::move(p));
  }
  if (plan.empty()) throw IoError("no usable images (" + std::to_string(images.size()) + " listed, all left out)");

  // 2. rect batches
  std::vector<std::pair<int, int>> wh;
  for (const auto& p : plan) wh.emplace_back(p.w0, p.h0);
  const std::vector<RectBatch> batches = rect_batches(wh, img, o.batch, stride, o.pad);

  Context ctx;
  ctx.threads = resolve_threads(o.threads);
  MetricsAccumulator acc;
  std::size_t done = 0;
  for (std::size_t bi = 0; bi < batches.size(); ++bi) {
    const RectBatch& b = batches[bi];
    LetterboxOptions lo;
    lo.height = b.height, lo.width = b.width, lo.auto_pad = false, lo.scaleup = false, lo.stride = stride;
    const std::int64_t per = std::max<std::int64_t>(1, o.max_batch_pixels / (std::int64_t(b.height) * b.width));
    for (std::size_t s = 0; s < b.items.size(); s += static_cast<std::size_t>(per)) {
      const std::size_t e = std::min(b.items.size(), s + static_cast<std::size_t>(per));
      // 3. load + letterbox the chunk
      struct Loaded {
        const detail::Planned* p;
        int w = 0, h = 0;  // after load_for_val
        LetterboxGeometry g;
      };
      std::vector<Loaded> ok;
      std::vector<Image> boxed;
      for (std::size_t k = s; k < e; ++k) {
        const detail::Planned& p = plan[b.items[k]];
        try {
          Image im = detail::load_for_val(p.path, img, ilim);
          Letterboxed lb = letterbox(im, lo);
          ok.push_back({&p, im.width, im.height, lb.geometry});
          boxed.push_back(std::move(lb.image));
        } catch (const Error& err) {
          ++res.counts.unreadable_images;
          cb.warn(std::string("unreadable image, left out: ") + err.what());
        }
      }
      if (ok.empty()) continue;
      Tensor<float> x(Shape{static_cast<std::int64_t>(ok.size()), 3, b.height, b.width});
      for (std::size_t k = 0; k < ok.size(); ++k) {
        const Tensor<float> t = to_tensor(boxed[k]);
        std::copy(t.data(), t.data() + t.size(), x.data() + static_cast<std::int64_t>(k) * t.size());
      }
      boxed.clear();
      const auto t0 = clock::now();
      const Tensor<float> pred = net.forward(x, ctx);
      res.seconds_inference += std::chrono::duration<double>(clock::now() - t0).count();
      // 4. NMS, boxes and labels back to the original image, 5. matching
      const std::vector<std::vector<Detection>> dets = non_max_suppression(pred, o.nms);
      for (std::size_t k = 0; k < ok.size(); ++k) {
        const Loaded& L = ok[k];
        const float gain = static_cast<float>(static_cast<double>(L.h) / L.p->h0);
        const float padw = static_cast<float>(L.g.pad_w), padh = static_cast<float>(L.g.pad_h);
        const float W0 = static_cast<float>(L.p->w0), H0 = static_cast<float>(L.p->h0);
        auto back = [&](float& x1, float& y1, float& x2, float& y2) {
          x1 = std::min(std::max(detail::f32(x1 - padw) / gain, 0.0f), W0);
          x2 = std::min(std::max(detail::f32(x2 - padw) / gain, 0.0f), W0);
          y1 = std::min(std::max(detail::f32(y1 - padh) / gain, 0.0f), H0);
          y2 = std::min(std::max(detail::f32(y2 - padh) / gain, 0.0f), H0);
        };
        std::vector<Detection> d = dets[k];
        for (Detection& q : d) back(q.x1, q.y1, q.x2, q.y2);
        // labels: xywhn2xyxy(w = ratio * loaded w, padw), xyxy2xywhn(clip, eps 1e-3), * (W, H), xywh2xyxy
        const float lw = static_cast<float>(L.g.ratio_w * L.w), lh = static_cast<float>(L.g.ratio_h * L.h);
        const float Wb = static_cast<float>(b.width), Hb = static_cast<float>(b.height);
        const float cw = static_cast<float>(b.width - 1e-3), ch = static_cast<float>(b.height - 1e-3);
        std::vector<LabelBox> labels;
        for (const LabelRow& r : L.p->labels) {
          using detail::f32;
          float x1 = f32(f32(lw * f32(r.cx - r.w / 2)) + padw), y1 = f32(f32(lh * f32(r.cy - r.h / 2)) + padh);
          float x2 = f32(f32(lw * f32(r.cx + r.w / 2)) + padw), y2 = f32(f32(lh * f32(r.cy + r.h / 2)) + padh);
          x1 = std::min(std::max(x1, 0.0f), cw), x2 = std::min(std::max(x2, 0.0f), cw);
          y1 = std::min(std::max(y1, 0.0f), ch), y2 = std::min(std::max(y2, 0.0f), ch);
          const float cx = f32(f32(x1 + x2) / 2) / Wb, cy = f32(f32(y1 + y2) / 2) / Hb;
          const float w = f32(x2 - x1) / Wb, h = f32(y2 - y1) / Hb;
          const float pcx = f32(cx * Wb), pcy = f32(cy * Hb), pw = f32(w * Wb), ph = f32(h * Hb);
          LabelBox lb;
          lb.cls = static_cast<int>(r.cls);
          lb.x1 = f32(pcx - pw / 2), lb.y1 = f32(pcy - ph / 2), lb.x2 = f32(pcx + pw / 2), lb.y2 = f32(pcy + ph / 2);
          back(lb.x1, lb.y1, lb.x2, lb.y2);
          labels.push_back(lb);
        }
        acc.add_image(d, labels);
      }
      done += e - s;
    }
    cb.progress(bi + 1, batches.size(), done);
  }
  res.metrics = acc.compute();
  res.images = acc.images();
  res.instances = acc.instances();
  res.instances_per_class = acc.instances_per_class(nc);
  res.seconds_total = std::chrono::duration<double>(clock::now() - t_start).count();
  return res;
}

}  // namespace yv9::vision
