// SPDX-License-Identifier: MIT
// Annotating an image with detections, laid out like upstream's Annotator (cv2 branch):
//   line width lw = max(round((h + w + 3) / 2 * 0.003), 2)   (sum of im.shape, Python round)
//   box: rectangle of thickness lw through the corners (int(x1), int(y1)) - (int(x2), int(y2))
//   label "name 0.87": white text on a box-coloured tab, above the box when it fits (top - h >= 3),
//   inside otherwise; boxes drawn lowest score first so the best ends on top (reversed(det)).
//   colour per class: upstream's 20-colour palette (Ultralytics), indexed by class % 20.
// Differences on purpose: no anti-aliasing and our 5x7 bitmap font (font.hpp) scaled by lw
// instead of cv2's Hershey font at lw / 3 (same height within a pixel or two).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "font.hpp"
#include "image.hpp"
#include "letterbox.hpp"
#include "nms.hpp"

namespace yv9::vision {

struct Bgr {
  std::uint8_t b, g, r;
};

// Upstream Colors(): hex RGB palette, returned as BGR like colors(c, bgr=True).
inline Bgr class_color(int cls) {
  static constexpr std::uint32_t kPalette[20] = {
      0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231, 0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
      0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC, 0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};
  const std::uint32_t rgb = kPalette[((cls % 20) + 20) % 20];
  return {std::uint8_t(rgb & 0xFF), std::uint8_t(rgb >> 8 & 0xFF), std::uint8_t(rgb >> 16)};
}

// Upstream Annotator line width for an image of this size.
inline int annotation_line_width(int width, int height) {
  return std::max(static_cast<int>(python_round((height + width + 3) / 2.0 * 0.003)), 2);
}

// Filled axis-aligned rectangle, inclusive corners, clipped to the image.
inline void fill_rect(Image& im, int x0, int y0, int x1, int y1, Bgr c) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, im.width - 1), y1 = std::min(y1, im.height - 1);
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      std::uint8_t* p = im.px(x, y);
      p[0] = c.b, p[1] = c.g, p[2] = c.r;
    }
}

// Rectangle outline of thickness t centred on the corner coordinates (like cv2.rectangle).
inline void draw_rect(Image& im, int x0, int y0, int x1, int y1, int t, Bgr c) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  const int lo = t / 2, hi = t - 1 - lo;
  fill_rect(im, x0 - lo, y0 - lo, x1 + hi, y0 + hi, c);  // top
  fill_rect(im, x0 - lo, y1 - lo, x1 + hi, y1 + hi, c);  // bottom
  fill_rect(im, x0 - lo, y0 - lo, x0 + hi, y1 + hi, c);  // left
  fill_rect(im, x1 - lo, y0 - lo, x1 + hi, y1 + hi, c);  // right
}

// Size in pixels of `text` at integer scale s (ink only, no trailing spacing).
inline int text_width(const std::string& text, int s) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * font::kCellW - 1) * s;
}
inline int text_height(int s) { return font::kGlyphH * s; }

// Draws `text` with its top-left ink pixel at (x, y), each font pixel an s x s block.
inline void draw_text(Image& im, const std::string& text, int x, int y, int s, Bgr c) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const int gx = x + static_cast<int>(i) * font::kCellW * s;
    for (int r = 0; r < font::kGlyphH; ++r)
      for (int q = 0; q < font::kGlyphW; ++q)
        if (font::ink(text[i], q, r)) fill_rect(im, gx + q * s, y + r * s, gx + q * s + s - 1, y + r * s + s - 1, c);
  }
}

// "name 0.87" as upstream formats it (f'{names[c]} {conf:.2f}'); the class index if unnamed.
inline std::string detection_label(const Detection& d, const std::vector<std::string>& names) {
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.2f", static_cast<double>(d.conf));
  const bool named = d.cls >= 0 && static_cast<std::size_t>(d.cls) < names.size();
  return (named ? names[static_cast<std::size_t>(d.cls)] : std::to_string(d.cls)) + " " + conf;
}

// One box with its label (box in `im` pixels, normally scaled and rounded).
inline void draw_detection(Image& im, const Detection& d, const std::string& label, int lw) {
  const Bgr color = class_color(d.cls);
  auto to_int = [](float v) {  // Python int(): truncation; clamp keeps absurd values harmless
    if (!(v == v)) return 0;
    return static_cast<int>(std::max(-1.0e6f, std::min(1.0e6f, v)));
  };
  const int x1 = to_int(d.x1), y1 = to_int(d.y1), x2 = to_int(d.x2), y2 = to_int(d.y2);
  draw_rect(im, x1, y1, x2, y2, lw, color);
  if (label.empty()) return;
  const int s = lw;  // 7 * lw px tall: about cv2's Hershey text at fontScale lw / 3
  const int w = text_width(label, s), h = text_height(s);
  const bool outside = y1 - h >= 3;
  const int tab_y = outside ? y1 - h - 3 : y1 + h + 3;
  fill_rect(im, x1, y1, x1 + w, tab_y, color);
  const int text_top = outside ? y1 - 2 - h : y1 + 2;
  draw_text(im, label, x1 + 1, text_top, s, Bgr{255, 255, 255});
}

// Annotates `im` (the original image) with detections in upstream's drawing order.
inline void draw_detections(Image& im, const std::vector<Detection>& dets, const std::vector<std::string>& names,
                            bool labels = true) {
  if (im.empty()) return;
  const int lw = annotation_line_width(im.width, im.height);
  for (auto it = dets.rbegin(); it != dets.rend(); ++it)
    draw_detection(im, *it, labels ? detection_label(*it, names) : std::string(), lw);
}

}  // namespace yv9::vision
