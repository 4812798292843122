// SPDX-License-Identifier: MIT
// Image: an 8-bit, 3-channel picture in OpenCV's layout, so that every step of upstream's
// pre-processing (which runs on cv2 arrays) can be replayed byte for byte.
//
//   bgr[(y * width + x) * 3 + c],  c = 0 blue, 1 green, 2 red      (HWC, interleaved, BGR)
//
// ImageLimits bounds what a decoder may allocate; untrusted files are checked against it from
// their headers, before any pixel memory exists.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace yv9::vision {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> bgr;  // width * height * 3 bytes

  Image() = default;
  // Filled with one gray level (what letterbox pads with).
  Image(int w, int h, std::uint8_t fill = 0) : width(w), height(h), bgr(checked_size(w, h), fill) {}

  bool empty() const { return width == 0 || height == 0; }
  std::size_t row_bytes() const { return static_cast<std::size_t>(width) * 3; }
  std::uint8_t* row(int y) { return bgr.data() + static_cast<std::size_t>(y) * row_bytes(); }
  const std::uint8_t* row(int y) const { return bgr.data() + static_cast<std::size_t>(y) * row_bytes(); }
  std::uint8_t* px(int x, int y) { return row(y) + static_cast<std::size_t>(x) * 3; }
  const std::uint8_t* px(int x, int y) const { return row(y) + static_cast<std::size_t>(x) * 3; }

  static std::size_t checked_size(int w, int h) {
    if (w < 0 || h < 0) throw UsageError("Image: negative size " + std::to_string(w) + "x" + std::to_string(h));
    return static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3;
  }
};

// Limits applied to decoded images (defaults: 16384 px per side, 2^28 pixels = 768 MiB of BGR).
struct ImageLimits {
  int max_width = 16384;
  int max_height = 16384;
  std::int64_t max_pixels = std::int64_t(1) << 28;
};

namespace detail {
// Forces `v` to be rounded to double right here. Reference code (Python, OpenCV's baseline build)
// computes a * b - c as two roundings; with FMA available a compiler may contract our copy into
// one fused rounding (-ffp-contract=fast is GCC's default), which can move a result across a
// rounding boundary. Used on the few products that feed a floor/round; costs nothing measurable.
inline double strict_round(double v) {
  volatile double t = v;
  return t;
}
}  // namespace detail

// Throws LimitError naming `what` if w x h exceeds the limits, FormatError if it is empty.
inline void check_image_size(const std::string& what, std::int64_t w, std::int64_t h, const ImageLimits& lim) {
  if (w <= 0 || h <= 0)
    throw FormatError(what + ": invalid image size " + std::to_string(w) + "x" + std::to_string(h));
  if (w > lim.max_width || h > lim.max_height || w * h > lim.max_pixels)
    throw LimitError(what + ": image " + std::to_string(w) + "x" + std::to_string(h) + " exceeds the limit of " +
                     std::to_string(lim.max_width) + "x" + std::to_string(lim.max_height) + " and " +
                     std::to_string(lim.max_pixels) + " pixels");
}

}  // namespace yv9::vision
