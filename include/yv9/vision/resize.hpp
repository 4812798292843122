// SPDX-License-Identifier: MIT
// Bilinear resize of 8-bit BGR images, bit-exact with OpenCV 4.x cv2.resize(..., INTER_LINEAR)
// (the function upstream's letterbox calls). Written from OpenCV's documented/observable
// semantics; the fixtures in shared/fixtures/preprocess are the oracle.
//
// What OpenCV does for CV_8U, INTER_LINEAR (and therefore what we do):
//  * scale = src / dst (double); source coordinate of output column dx:
//        fx = float((dx + 0.5) * scale_x - 0.5),  sx = floor(fx),  fx -= sx       (half-pixel centres)
//    columns left of the image (sx < 0) use column 0 with weight 1; columns at or beyond the last
//    one use the last column with weight 1. Rows use the same formula but only the row *indices*
//    are clamped, the weights are not (both taps then read the same edge row).
//  * weights are fixed point with 11 fractional bits (INTER_RESIZE_COEF_BITS):
//        a0 = lrint((1 - f) * 2048),  a1 = lrint(f * 2048)      (lrint = round half to even)
//  * horizontal pass into int:   H = S[sx] * a0 + S[sx + 1] * a1            (exact, < 2^20)
//  * vertical pass, with OpenCV's own truncations (they matter for bit-exactness):
//        D = (((b0 * (H0 >> 4)) >> 16) + ((b1 * (H1 >> 4)) >> 16) + 2) >> 2
//  * special case: an exact 2x downscale on both axes is done by INTER_AREA instead:
//        D = (S00 + S01 + S10 + S11 + 2) >> 2
//  * equal sizes: plain copy.
// Threading: none here (rule of thumb 10: the network owns the threads).
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "image.hpp"

namespace yv9::vision {

namespace detail {

inline constexpr int kResizeCoefBits = 11;  // OpenCV INTER_RESIZE_COEF_BITS
inline constexpr int kResizeCoefScale = 1 << kResizeCoefBits;

// OpenCV's saturate_cast<short>(float): cvRound (round half to even in the current rounding
// mode, like SSE cvtss2si) then clamp to the short range.
inline std::int16_t saturate_short(float v) {
  const long r = std::lrint(v);
  if (r < -32768) return -32768;
  if (r > 32767) return 32767;
  return static_cast<std::int16_t>(r);
}

// cvFloor for float.
inline int floor_to_int(float v) { return static_cast<int>(std::floor(v)); }

// One tap pair per output position along an axis: out = in[i0] * w0 + in[i1] * w1.
struct LinearTaps {
  std::vector<int> i0, i1;
  std::vector<std::int16_t> w0, w1;
};

// Columns: index and weight clamped together (OpenCV sets fx = 0 at both borders).
inline LinearTaps column_taps(int src, int dst) {
  const double scale = 1.0 / (static_cast<double>(dst) / src);
  LinearTaps t;
  t.i0.resize(dst), t.i1.resize(dst), t.w0.resize(dst), t.w1.resize(dst);
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>(strict_round((d + 0.5) * scale) - 0.5);
    int s = floor_to_int(f);
    f -= static_cast<float>(s);
    if (s < 0) f = 0.f, s = 0;
    if (s >= src - 1) f = 0.f, s = src - 1;
    t.i0[d] = s;
    t.i1[d] = s + 1 < src ? s + 1 : src - 1;  // weight is 0 whenever this clamps
    t.w0[d] = saturate_short((1.f - f) * kResizeCoefScale);
    t.w1[d] = saturate_short(f * kResizeCoefScale);
  }
  return t;
}

// Rows: OpenCV clamps only the row indices (clip to [0, src)); the weights keep the raw fraction.
inline LinearTaps row_taps(int src, int dst) {
  const double scale = 1.0 / (static_cast<double>(dst) / src);
  auto clip = [src](int v) { return v < 0 ? 0 : (v >= src ? src - 1 : v); };
  LinearTaps t;
  t.i0.resize(dst), t.i1.resize(dst), t.w0.resize(dst), t.w1.resize(dst);
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>(strict_round((d + 0.5) * scale) - 0.5);
    const int s = floor_to_int(f);
    f -= static_cast<float>(s);
    t.i0[d] = clip(s);
    t.i1[d] = clip(s + 1);
    t.w0[d] = saturate_short((1.f - f) * kResizeCoefScale);
    t.w1[d] = saturate_short(f * kResizeCoefScale);
  }
  return t;
}

// Horizontal pass of one source row into `out` (dst_w * 3 ints).
inline void resize_row_h(const std::uint8_t* src, const LinearTaps& cx, int* out) {
  const int n = static_cast<int>(cx.i0.size());
  for (int d = 0; d < n; ++d) {
    const std::uint8_t* p0 = src + 3 * cx.i0[d];
    const std::uint8_t* p1 = src + 3 * cx.i1[d];
    const int a0 = cx.w0[d], a1 = cx.w1[d];
    for (int c = 0; c < 3; ++c) out[3 * d + c] = p0[c] * a0 + p1[c] * a1;
  }
}

// Vertical combination with OpenCV's truncations (see the header comment).
inline std::uint8_t resize_combine_v(int h0, int h1, int b0, int b1) {
  return static_cast<std::uint8_t>((((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2);
}

// OpenCV replaces INTER_LINEAR by INTER_AREA when both scales are exactly the integer 2.
inline bool is_exact_half(int src_w, int src_h, int dst_w, int dst_h) {
  const double sx = 1.0 / (static_cast<double>(dst_w) / src_w);
  const double sy = 1.0 / (static_cast<double>(dst_h) / src_h);
  const double ix = std::nearbyint(sx), iy = std::nearbyint(sy);
  return std::abs(sx - ix) < DBL_EPSILON && std::abs(sy - iy) < DBL_EPSILON && ix == 2.0 && iy == 2.0;
}

inline void resize_area_half(const Image& src, Image& dst) {
  for (int y = 0; y < dst.height; ++y) {
    const std::uint8_t* r0 = src.row(2 * y);
    const std::uint8_t* r1 = src.row(2 * y + 1);
    std::uint8_t* o = dst.row(y);
    for (int x = 0; x < dst.width; ++x)
      for (int c = 0; c < 3; ++c) {
        const int i = 6 * x + c;
        o[3 * x + c] = static_cast<std::uint8_t>((r0[i] + r0[i + 3] + r1[i] + r1[i + 3] + 2) >> 2);
      }
  }
}

}  // namespace detail

// cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR) for 8-bit BGR images.
inline Image resize_linear(const Image& src, int dst_w, int dst_h) {
  if (src.empty()) throw UsageError("resize_linear: empty source image");
  if (dst_w <= 0 || dst_h <= 0)
    throw UsageError("resize_linear: invalid target size " + std::to_string(dst_w) + "x" + std::to_string(dst_h));
  Image dst(dst_w, dst_h);
  if (dst_w == src.width && dst_h == src.height) {
    dst.bgr = src.bgr;
    return dst;
  }
  if (detail::is_exact_half(src.width, src.height, dst_w, dst_h)) {
    detail::resize_area_half(src, dst);
    return dst;
  }
  const detail::LinearTaps cx = detail::column_taps(src.width, dst_w);
  const detail::LinearTaps cy = detail::row_taps(src.height, dst_h);
  // Two horizontally resized rows are kept; consecutive output rows mostly reuse them.
  const std::size_t n = static_cast<std::size_t>(dst_w) * 3;
  std::vector<int> buf[2] = {std::vector<int>(n), std::vector<int>(n)};
  int buf_row[2] = {-1, -1};
  auto h_row = [&](int sy) -> const int* {
    for (int k = 0; k < 2; ++k)
      if (buf_row[k] == sy) return buf[k].data();
    // Evict the older row: needed rows only move downwards, so the row fetched just before
    // (i0 of this output row) is never the older one.
    const int k = buf_row[0] < buf_row[1] ? 0 : 1;
    detail::resize_row_h(src.row(sy), cx, buf[k].data());
    buf_row[k] = sy;
    return buf[k].data();
  };
  for (int y = 0; y < dst_h; ++y) {
    const int* h0 = h_row(cy.i0[y]);
    const int* h1 = h_row(cy.i1[y]);
    const int b0 = cy.w0[y], b1 = cy.w1[y];
    std::uint8_t* o = dst.row(y);
    for (std::size_t i = 0; i < n; ++i) o[i] = detail::resize_combine_v(h0[i], h1[i], b0, b1);
  }
  return dst;
}

// cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_AREA) for shrinking 8-bit BGR images
// (what upstream's dataloader uses when it scales an image down), after OpenCV's scheme:
//  * integer factors on both axes: the mean of each k_x x k_y cell, sum * (1.f / area) rounded to
//    nearest (ties to even); the exact 2x case as (sum + 2) >> 2 like OpenCV's vector path;
//  * otherwise each output pixel is the area-weighted mean of the source pixels its cell covers:
//    per axis, weights (partial first pixel, whole pixels, partial last pixel) / cell width, in
//    float; fractions below 1e-3 of a pixel are dropped; rows are summed as float, then rounded.
// Not checked against OpenCV bit for bit (no fixture): where float rounding differs, a pixel may
// differ by one level.
inline Image resize_area(const Image& src, int dst_w, int dst_h) {
  if (src.empty()) throw UsageError("resize_area: empty source image");
  if (dst_w <= 0 || dst_h <= 0 || dst_w > src.width || dst_h > src.height)
    throw UsageError("resize_area: target " + std::to_string(dst_w) + "x" + std::to_string(dst_h) +
                     " must be positive and not larger than the source");
  Image dst(dst_w, dst_h);
  if (dst_w == src.width && dst_h == src.height) {
    dst.bgr = src.bgr;
    return dst;
  }
  const double scale_x = 1.0 / (static_cast<double>(dst_w) / src.width);
  const double scale_y = 1.0 / (static_cast<double>(dst_h) / src.height);
  const int ix = static_cast<int>(std::nearbyint(scale_x)), iy = static_cast<int>(std::nearbyint(scale_y));
  if (std::abs(scale_x - ix) < DBL_EPSILON && std::abs(scale_y - iy) < DBL_EPSILON) {
    if (ix == 2 && iy == 2) {
      detail::resize_area_half(src, dst);
      return dst;
    }
    const float scale = 1.0f / static_cast<float>(ix * iy);
    for (int y = 0; y < dst_h; ++y)
      for (int x = 0; x < dst_w; ++x)
        for (int c = 0; c < 3; ++c) {
          int sum = 0;
          for (int dy = 0; dy < iy; ++dy)
            for (int dx = 0; dx < ix; ++dx) sum += src.px(x * ix + dx, y * iy + dy)[c];
          const float v = std::nearbyint(static_cast<float>(sum) * scale);
          dst.px(x, y)[c] = static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, v)));
        }
    return dst;
  }
  struct Tap {
    int d, s;
    float alpha;
  };
  auto taps = [](int ssize, int dsize, double scale) {
    std::vector<Tap> t;
    for (int d = 0; d < dsize; ++d) {
      const double f1 = d * scale, f2 = f1 + scale;
      const double cell = std::min(scale, ssize - f1);
      int s2 = std::min(static_cast<int>(std::floor(f2)), ssize - 1);
      int s1 = std::min(static_cast<int>(std::ceil(f1)), s2);
      if (s1 - f1 > 1e-3) t.push_back({d, s1 - 1, static_cast<float>((s1 - f1) / cell)});
      for (int s = s1; s < s2; ++s) t.push_back({d, s, static_cast<float>(1.0 / cell)});
      if (f2 - s2 > 1e-3) t.push_back({d, s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell)});
    }
    return t;
  };
  const std::vector<Tap> xt = taps(src.width, dst_w, scale_x), yt = taps(src.height, dst_h, scale_y);
  const std::size_t n = static_cast<std::size_t>(dst_w) * 3;
  std::vector<float> buf(n), sum(n, 0.0f);
  int prev = -1;
  auto flush = [&](int row) {
    std::uint8_t* o = dst.row(row);
    for (std::size_t i = 0; i < n; ++i) o[i] = static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, std::nearbyint(sum[i]))));
  };
  for (const Tap& ty : yt) {
    const std::uint8_t* S = src.row(ty.s);
    std::fill(buf.begin(), buf.end(), 0.0f);
    for (const Tap& tx : xt)
      for (int c = 0; c < 3; ++c) buf[3 * tx.d + c] += static_cast<float>(S[3 * tx.s + c]) * tx.alpha;
    if (ty.d != prev) {
      if (prev >= 0) flush(prev);
      for (std::size_t i = 0; i < n; ++i) sum[i] = ty.alpha * buf[i];
      prev = ty.d;
    } else {
      for (std::size_t i = 0; i < n; ++i) sum[i] += ty.alpha * buf[i];
    }
  }
  if (prev >= 0) flush(prev);
  return dst;
}

}  // namespace yv9::vision
