// SPDX-License-Identifier: MIT
// Letterbox: upstream YOLOv9 `utils.augmentations.letterbox` (resize keeping the aspect ratio,
// then pad with gray to the target shape or to a stride multiple), reproduced exactly, plus the
// conversion of the result to the network input tensor.
//
//   r        = min(new_h / h, new_w / w)               (min(r, 1) when scaleup is off)
//   unpadded = (round(w * r), round(h * r))            Python round: half to even
//   dw, dh   = new - unpadded; with auto_pad: dw % stride, dh % stride; then halved (may be .5)
//   left, right = round(dw - 0.1), round(dw + 0.1)     (top, bottom likewise with dh)
//
// The resize is cv2.resize INTER_LINEAR (resize.hpp) and only happens when the size changes.
// Output tensor (1, 3, H, W) float32, RGB, value = u8 / 255.0f (exactly torch's .float() / 255).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "image.hpp"
#include "resize.hpp"

namespace yv9::vision {

// Python's round() on a double: nearest integer, ties to even. Independent of the FPU
// rounding mode (x - floor(x) is exact for every double).
inline double python_round(double x) {
  const double f = std::floor(x);
  const double d = x - f;
  if (d > 0.5) return f + 1.0;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

struct LetterboxOptions {
  int height = 640;          // new_shape[0]
  int width = 640;           // new_shape[1]
  bool auto_pad = false;     // upstream `auto`: pad only up to a multiple of `stride`
  bool scale_fill = false;   // upstream `scaleFill`: stretch, no padding
  bool scaleup = true;       // allow r > 1
  int stride = 32;
  std::uint8_t color = 114;  // padding gray (all three channels)
};

// Everything needed to map boxes back (and to check against upstream's return values).
struct LetterboxGeometry {
  int src_w = 0, src_h = 0;        // original image
  double ratio_w = 1, ratio_h = 1; // upstream `ratio`
  double pad_w = 0, pad_h = 0;     // upstream (dw, dh): half of the padding of each axis
  int unpad_w = 0, unpad_h = 0;    // size after resize, before padding
  int top = 0, bottom = 0, left = 0, right = 0;
  int out_w = 0, out_h = 0;        // final size = unpadded + padding
};

struct Letterboxed {
  Image image;
  LetterboxGeometry geometry;
};

// Computes the geometry only (no pixels): cheap, and shared by letterbox() and its tests.
inline LetterboxGeometry letterbox_geometry(int src_w, int src_h, const LetterboxOptions& o) {
  if (src_w <= 0 || src_h <= 0)
    throw UsageError("letterbox: empty image " + std::to_string(src_w) + "x" + std::to_string(src_h));
  if (o.width <= 0 || o.height <= 0 || o.stride <= 0)
    throw UsageError("letterbox: invalid target " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                     " / stride " + std::to_string(o.stride));
  LetterboxGeometry g;
  g.src_w = src_w, g.src_h = src_h;
  double r = std::min(static_cast<double>(o.height) / src_h, static_cast<double>(o.width) / src_w);
  if (!o.scaleup) r = std::min(r, 1.0);
  g.ratio_w = g.ratio_h = r;
  g.unpad_w = static_cast<int>(python_round(detail::strict_round(src_w * r)));
  g.unpad_h = static_cast<int>(python_round(detail::strict_round(src_h * r)));
  double dw = o.width - g.unpad_w, dh = o.height - g.unpad_h;
  if (o.auto_pad) {
    // np.mod: the result takes the divisor's sign.
    auto pymod = [](int a, int m) { return ((a % m) + m) % m; };
    dw = pymod(o.width - g.unpad_w, o.stride);
    dh = pymod(o.height - g.unpad_h, o.stride);
  } else if (o.scale_fill) {
    dw = dh = 0.0;
    g.unpad_w = o.width, g.unpad_h = o.height;
    g.ratio_w = static_cast<double>(o.width) / src_w;
    g.ratio_h = static_cast<double>(o.height) / src_h;
  }
  if (g.unpad_w <= 0 || g.unpad_h <= 0)
    throw LimitError("letterbox: image " + std::to_string(src_w) + "x" + std::to_string(src_h) +
                     " is too elongated to scale to " + std::to_string(o.width) + "x" + std::to_string(o.height));
  g.pad_w = dw / 2, g.pad_h = dh / 2;
  g.top = static_cast<int>(python_round(g.pad_h - 0.1));
  g.bottom = static_cast<int>(python_round(g.pad_h + 0.1));
  g.left = static_cast<int>(python_round(g.pad_w - 0.1));
  g.right = static_cast<int>(python_round(g.pad_w + 0.1));
  g.out_w = g.unpad_w + g.left + g.right;
  g.out_h = g.unpad_h + g.top + g.bottom;
  return g;
}

inline Letterboxed letterbox(const Image& im, const LetterboxOptions& o = {}) {
  Letterboxed out;
  out.geometry = letterbox_geometry(im.width, im.height, o);
  const LetterboxGeometry& g = out.geometry;
  out.image = Image(g.out_w, g.out_h, o.color);
  const bool same = g.unpad_w == im.width && g.unpad_h == im.height;
  const Image resized = same ? Image() : resize_linear(im, g.unpad_w, g.unpad_h);
  const Image& body = same ? im : resized;
  for (int y = 0; y < g.unpad_h; ++y)
    std::copy(body.row(y), body.row(y) + body.row_bytes(), out.image.px(g.left, y + g.top));
  return out;
}

// HWC BGR u8 -> (1, 3, H, W) RGB float32 in [0, 1]. Division (not a multiply by 1/255) so the
// values are bit-identical to torch's `.float() / 255`.
inline Tensor<float> to_tensor(const Image& im) {
  Tensor<float> t(Shape{1, 3, im.height, im.width});
  const std::size_t plane = static_cast<std::size_t>(im.width) * im.height;
  float* r = t.data();
  float* g = r + plane;
  float* b = g + plane;
  for (std::size_t i = 0; i < plane; ++i) {
    b[i] = static_cast<float>(im.bgr[3 * i + 0]) / 255.0f;
    g[i] = static_cast<float>(im.bgr[3 * i + 1]) / 255.0f;
    r[i] = static_cast<float>(im.bgr[3 * i + 2]) / 255.0f;
  }
  return t;
}

}  // namespace yv9::vision
