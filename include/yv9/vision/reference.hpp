// SPDX-License-Identifier: MIT
// Naive twins of the vision kernels (rule of thumb 6): slow, written straight from the
// definitions, sharing no code with the fast versions, kept forever so tests can compare them on
// random shapes. They are NOT an independent oracle for OpenCV (the fixtures are); they guard the
// row cache, the tap tables and the special cases of the fast path against regressions.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "image.hpp"

namespace yv9::vision::reference {

// cv2.resize INTER_LINEAR on 8-bit BGR, one output pixel at a time (see resize.hpp for the maths).
inline Image resize_linear_naive(const Image& src, int dst_w, int dst_h) {
  Image dst(dst_w, dst_h);
  const double inv_x = static_cast<double>(dst_w) / src.width, inv_y = static_cast<double>(dst_h) / src.height;
  const double scale_x = 1.0 / inv_x, scale_y = 1.0 / inv_y;
  const bool same = dst_w == src.width && dst_h == src.height;
  const bool half = std::fabs(scale_x - 2.0) < DBL_EPSILON && std::fabs(scale_y - 2.0) < DBL_EPSILON;
  auto coef = [](float f) { return static_cast<int>(std::lrint(f * 2048.0f)); };
  // (d + 0.5) * scale rounded to double before the - 0.5, never fused into one FMA, as OpenCV's
  // baseline build computes it
  auto unfused = [](double v) {
    volatile double t = v;
    return static_cast<double>(t);
  };
  for (int y = 0; y < dst_h; ++y)
    for (int x = 0; x < dst_w; ++x)
      for (int c = 0; c < 3; ++c) {
        std::uint8_t v;
        if (same) {
          v = src.px(x, y)[c];
        } else if (half) {
          v = static_cast<std::uint8_t>((src.px(2 * x, 2 * y)[c] + src.px(2 * x + 1, 2 * y)[c] +
                                         src.px(2 * x, 2 * y + 1)[c] + src.px(2 * x + 1, 2 * y + 1)[c] + 2) >> 2);
        } else {
          float fx = static_cast<float>(unfused((x + 0.5) * scale_x) - 0.5);
          int sx = static_cast<int>(std::floor(fx));
          fx -= static_cast<float>(sx);
          if (sx < 0) fx = 0, sx = 0;
          if (sx > src.width - 1) fx = 0, sx = src.width - 1;
          if (sx == src.width - 1) fx = 0;
          const int sx1 = sx + 1 < src.width ? sx + 1 : sx;
          float fy = static_cast<float>(unfused((y + 0.5) * scale_y) - 0.5);
          const int sy = static_cast<int>(std::floor(fy));
          fy -= static_cast<float>(sy);
          const int sy0 = sy < 0 ? 0 : (sy > src.height - 1 ? src.height - 1 : sy);
          const int sy1 = sy + 1 < 0 ? 0 : (sy + 1 > src.height - 1 ? src.height - 1 : sy + 1);
          const int a0 = coef(1.f - fx), a1 = coef(fx), b0 = coef(1.f - fy), b1 = coef(fy);
          const int h0 = src.px(sx, sy0)[c] * a0 + src.px(sx1, sy0)[c] * a1;
          const int h1 = src.px(sx, sy1)[c] * a0 + src.px(sx1, sy1)[c] * a1;
          v = static_cast<std::uint8_t>((((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2);
        }
        dst.px(x, y)[c] = v;
      }
  return dst;
}

}  // namespace yv9::vision::reference
