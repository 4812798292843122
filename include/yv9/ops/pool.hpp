// SPDX-License-Identifier: MIT
// Pooling with PyTorch's exact flags (F.max_pool2d / F.avg_pool2d), nearest resizing
// (F.interpolate mode='nearest', the legacy floor rule) and channel copies for torch.cat.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "vexp.hpp"  // vmath::tail_mask16

namespace yv9::ops {

struct PoolGeom {
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg only

  static std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p, bool ceil_mode) {
    std::int64_t num = in + 2 * p - k;
    if (num < 0) return 0;
    std::int64_t out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    // PyTorch: with ceil_mode the last window must start inside the input or the left padding.
    if (ceil_mode && (out - 1) * s >= in + p) --out;
    return out;
  }
  std::int64_t out_h(std::int64_t h) const { return out_size(h, kh, sh, ph, ceil_mode); }
  std::int64_t out_w(std::int64_t w) const { return out_size(w, kw, sw, pw, ceil_mode); }
};

// PyTorch's max: NaN wins (`val > max || isnan(val)`), which is associative, so the separable
// fast path below gives the same bits as the window loop.
template <class T>
inline T nan_max(T m, T v) {
  return (v > m || std::isnan(v)) ? v : m;
}

// f(src plane, dst plane) for every (image, channel) plane of in and out, on up to nt threads.
template <class T, class F>
void for_each_plane(View<const T> in, View<T> out, int nt, F&& f) {
  parallel_for_each(nt, in.n * in.c, [&](std::int64_t pl) { f(in.plane(pl / in.c, pl % in.c), out.plane(pl / in.c, pl % in.c)); });
}

// Square window k, stride s, padding p (with -inf padding): rows then columns.
template <class T>
void max_pool2d_separable(const T* src, T* dst, std::int64_t H, std::int64_t W, std::int64_t Ho, std::int64_t Wo,
                          std::int64_t k, std::int64_t s, std::int64_t p, T* tmp /* Ho*W... H*Wo */) {
  // horizontal: tmp[y][ox] = max over x in window(ox), for every input row y
  // Outputs [lo, hi) have their whole window inside the row: tap-major loops over them vectorise.
  const std::int64_t lo = std::min(Wo, (p + s - 1) / s);
  const std::int64_t hi = std::max(lo, std::min(Wo, W - k + p >= 0 ? (W - k + p) / s + 1 : 0));
  for (std::int64_t y = 0; y < H; ++y) {
    const T* row = src + y * W;
    T* t = tmp + y * Wo;
    const auto edge = [&](std::int64_t ox) {
      const std::int64_t x0 = std::max<std::int64_t>(ox * s - p, 0), x1 = std::min<std::int64_t>(ox * s - p + k, W);
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t x = x0; x < x1; ++x) m = nan_max(m, row[x]);
      t[ox] = m;
    };
    for (std::int64_t ox = 0; ox < lo; ++ox) edge(ox);
    for (std::int64_t ox = lo; ox < hi; ++ox) t[ox] = row[ox * s - p];
    for (std::int64_t j = 1; j < k; ++j)
      for (std::int64_t ox = lo; ox < hi; ++ox) {
        const T v = row[ox * s - p + j], m = t[ox];
        t[ox] = (v > m || v != v) ? v : m;  // nan_max, spelled so that it vectorises
      }
    for (std::int64_t ox = hi; ox < Wo; ++ox) edge(ox);
  }
  // vertical
  for (std::int64_t oy = 0; oy < Ho; ++oy) {
    const std::int64_t y0 = std::max<std::int64_t>(oy * s - p, 0), y1 = std::min<std::int64_t>(oy * s - p + k, H);
    T* d = dst + oy * Wo;
    for (std::int64_t ox = 0; ox < Wo; ++ox) d[ox] = -std::numeric_limits<T>::infinity();
    for (std::int64_t y = y0; y < y1; ++y) {
      const T* t = tmp + y * Wo;
      for (std::int64_t ox = 0; ox < Wo; ++ox) {
        const T v = t[ox], m = d[ox];
        d[ox] = (v > m || v != v) ? v : m;
      }
    }
  }
}

#if defined(__AVX512F__)
// The models' pools on AVX-512: a row at a time in whole vectors (the maps are 10-80 wide, where
// the loops above spend more on row edges and remainders than on the maxima).
namespace pool_detail {

// PyTorch's max, v replacing m where v > m or v is NaN.
inline __m512 nan_max16(__m512 m, __m512 v) {
  const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(m, take, v);
}

// Floats of row scratch max_pool_plane16 needs.
inline std::int64_t max_pool_row_floats(std::int64_t W, std::int64_t Wo, std::int64_t k, std::int64_t p) {
  return W + 2 * p + 2 * Wo + k + 64;
}

// Square window k, stride s (1 or 2), padding p on one plane. The window's rows are reduced first
// into vpad, a row padded with -inf (p on the left; to the end on the right, so ceil_mode's last
// windows need no edge case), then its columns: contiguous loads for s = 1, even lanes of two
// vectors for s = 2. vpad: max_pool_row_floats, -inf outside [p, p + W) (the caller fills it once).
inline void max_pool_plane16(const float* src, float* dst, std::int64_t H, std::int64_t W, std::int64_t Ho,
                             std::int64_t Wo, std::int64_t k, std::int64_t s, std::int64_t p, float* vpad) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (std::int64_t oy = 0; oy < Ho; ++oy) {
    const std::int64_t y0 = std::max<std::int64_t>(oy * s - p, 0), y1 = std::min<std::int64_t>(oy * s - p + k, H);
    for (std::int64_t x0 = 0; x0 < W; x0 += 16) {
      const __mmask16 mk = vmath::tail_mask16(W - x0);
      __m512 m = ninf;
      for (std::int64_t y = y0; y < y1; ++y) m = nan_max16(m, _mm512_maskz_loadu_ps(mk, src + y * W + x0));
      _mm512_mask_storeu_ps(vpad + p + x0, mk, m);
    }
    float* d = dst + oy * Wo;
    for (std::int64_t o0 = 0; o0 < Wo; o0 += 16) {
      __m512 m = ninf;
      for (std::int64_t j = 0; j < k; ++j) {
        __m512 v;
        if (s == 1) {
          v = _mm512_loadu_ps(vpad + o0 + j);
        } else {
          const float* q = vpad + 2 * o0 + j;
          v = _mm512_permutex2var_ps(_mm512_loadu_ps(q), even, _mm512_loadu_ps(q + 16));
        }
        m = nan_max16(m, v);
      }
      _mm512_mask_storeu_ps(d + o0, vmath::tail_mask16(Wo - o0), m);
    }
  }
}

// ((a + b) + c) + d, / 4 (as * 0.25: the same bits), a row of 16 outputs at a time.
inline void avg_pool2x2_plane16(const float* src, float* dst, std::int64_t W, std::int64_t Ho, std::int64_t Wo) {
  const __m512 quarter = _mm512_set1_ps(0.25f);
  for (std::int64_t oy = 0; oy < Ho; ++oy) {
    const float* r0 = src + oy * W;
    const float* r1 = r0 + W;
    for (std::int64_t x0 = 0; x0 < Wo; x0 += 16) {
      const __mmask16 mk = vmath::tail_mask16(Wo - x0);
      const __m512 a = _mm512_maskz_loadu_ps(mk, r0 + x0), b = _mm512_maskz_loadu_ps(mk, r0 + x0 + 1);
      const __m512 c = _mm512_maskz_loadu_ps(mk, r1 + x0), e = _mm512_maskz_loadu_ps(mk, r1 + x0 + 1);
      const __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), c), e);
      _mm512_mask_storeu_ps(dst + oy * Wo + x0, mk, _mm512_mul_ps(sum, quarter));
    }
  }
}

}  // namespace pool_detail
#endif

template <class T>
void max_pool2d(View<const T> in, View<T> out, const PoolGeom& g, const Context& ctx) {
  const std::int64_t planes = in.n * in.c;
  const int nt = ctx.threads_for(in.n * in.c * out.h * out.w * g.kh * g.kw, kGrainElems);
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (g.kh == g.kw && g.sh == g.sw && g.ph == g.pw && (g.sh == 1 || g.sh == 2)) {
      parallel_for(nt, planes, [&](Jobs& q) {
        std::vector<float> vpad(static_cast<std::size_t>(pool_detail::max_pool_row_floats(in.w, out.w, g.kw, g.pw)),
                                -std::numeric_limits<float>::infinity());
        for (std::int64_t pl; q.next(pl);)
          pool_detail::max_pool_plane16(in.plane(pl / in.c, pl % in.c), out.plane(pl / in.c, pl % in.c), in.h, in.w,
                                        out.h, out.w, g.kh, g.sh, g.ph, vpad.data());
      });
      return;
    }
  }
#endif
  if (g.kh == g.kw && g.sh == g.sw && g.ph == g.pw && g.kh > 1) {
    parallel_for(nt, planes, [&](Jobs& q) {
      std::vector<T> tmp(static_cast<std::size_t>(in.h * out.w));
      for (std::int64_t pl; q.next(pl);)
        max_pool2d_separable(in.plane(pl / in.c, pl % in.c), out.plane(pl / in.c, pl % in.c), in.h, in.w, out.h, out.w,
                             g.kh, g.sh, g.ph, tmp.data());
    });
    return;
  }
  for_each_plane(in, out, nt, [&](const T* src, T* dst) {
    for (std::int64_t oy = 0; oy < out.h; ++oy) {
      const std::int64_t y0 = std::max<std::int64_t>(oy * g.sh - g.ph, 0);
      const std::int64_t y1 = std::min<std::int64_t>(oy * g.sh - g.ph + g.kh, in.h);
      for (std::int64_t ox = 0; ox < out.w; ++ox) {
        const std::int64_t x0 = std::max<std::int64_t>(ox * g.sw - g.pw, 0);
        const std::int64_t x1 = std::min<std::int64_t>(ox * g.sw - g.pw + g.kw, in.w);
        T m = -std::numeric_limits<T>::infinity();
        for (std::int64_t y = y0; y < y1; ++y)
          for (std::int64_t x = x0; x < x1; ++x) m = nan_max(m, src[y * in.w + x]);
        dst[oy * out.w + ox] = m;
      }
    }
  });
}

template <class T>
void avg_pool2d(View<const T> in, View<T> out, const PoolGeom& g, const Context& ctx) {
  const int nt = ctx.threads_for(in.n * in.c * out.h * out.w * g.kh * g.kw, kGrainElems);
  if (g.kh == 2 && g.kw == 2 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      for_each_plane(in, out, nt, [&](const T* src, T* dst) { pool_detail::avg_pool2x2_plane16(src, dst, in.w, out.h, out.w); });
      return;
    }
#endif
    // ADown / AConv: ((a + b) + c) + d, then / 4 — PyTorch's summation order, vectorisable
    for_each_plane(in, out, nt, [&](const T* src, T* dst) {
      for (std::int64_t oy = 0; oy < out.h; ++oy) {
        const T* r0 = src + oy * in.w;
        const T* r1 = r0 + in.w;
        T* d = dst + oy * out.w;
        for (std::int64_t ox = 0; ox < out.w; ++ox) d[ox] = (((r0[ox] + r0[ox + 1]) + r1[ox]) + r1[ox + 1]) / T(4);
      }
    });
    return;
  }
  for_each_plane(in, out, nt, [&](const T* src, T* dst) {
    for (std::int64_t oy = 0; oy < out.h; ++oy) {
      std::int64_t y0 = oy * g.sh - g.ph, y1 = std::min(y0 + g.kh, in.h + g.ph);
      const std::int64_t span_y = y1 - y0;
      y0 = std::max<std::int64_t>(y0, 0);
      y1 = std::min(y1, in.h);
      for (std::int64_t ox = 0; ox < out.w; ++ox) {
        std::int64_t x0 = ox * g.sw - g.pw, x1 = std::min(x0 + g.kw, in.w + g.pw);
        const std::int64_t span_x = x1 - x0;
        x0 = std::max<std::int64_t>(x0, 0);
        x1 = std::min(x1, in.w);
        T sum = 0;
        for (std::int64_t y = y0; y < y1; ++y)
          for (std::int64_t x = x0; x < x1; ++x) sum += src[y * in.w + x];
        const std::int64_t div = g.count_include_pad ? span_y * span_x : (y1 - y0) * (x1 - x0);
        dst[oy * out.w + ox] = sum / T(div);
      }
    }
  });
}

// PyTorch's legacy 'nearest' source index: floor(dst * (float)in/out), clamped.
inline std::int64_t nearest_src(std::int64_t dst, std::int64_t in, std::int64_t out) {
  if (in == out) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const auto s = static_cast<std::int64_t>(std::floor(static_cast<float>(dst) * scale));
  return std::min(s, in - 1);
}

// F.interpolate(x, size=(out.h, out.w), mode='nearest'); also nn.Upsample(scale_factor=2).
template <class T>
void resize_nearest(View<const T> in, View<T> out, const Context& ctx) {
  const int nt = ctx.threads_for(in.n * in.c * out.h * out.w, kGrainElems);
  if (out.h == 2 * in.h && out.w == 2 * in.w) {  // nn.Upsample(scale_factor=2): each pixel to a 2x2 block
    for_each_plane(in, out, nt, [&](const T* src, T* dst) {
      for (std::int64_t y = 0; y < in.h; ++y) {
        const T* s = src + y * in.w;
        T* d = dst + 2 * y * out.w;
        for (std::int64_t x = 0; x < in.w; ++x) d[2 * x] = d[2 * x + 1] = s[x];
        std::memcpy(d + out.w, d, static_cast<std::size_t>(out.w) * sizeof(T));
      }
    });
    return;
  }
  std::vector<std::int64_t> xs(out.w);
  for (std::int64_t x = 0; x < out.w; ++x) xs[x] = nearest_src(x, in.w, out.w);
  for_each_plane(in, out, nt, [&](const T* src, T* dst) {
    for (std::int64_t y = 0; y < out.h; ++y) {
      const T* srow = src + nearest_src(y, in.h, out.h) * in.w;
      T* drow = dst + y * out.w;
      for (std::int64_t x = 0; x < out.w; ++x) drow[x] = srow[xs[x]];
    }
  });
}

// torch.cat(dim=1): each input's planes copied into its channel range of out, the concatenated
// element range cut into equal chunks for the threads (a neck concat moves megabytes).
template <class T>
void concat_channels(const std::vector<View<const T>>& in, View<T> out, const Context& ctx) {
  struct Piece {
    const T* src;
    T* dst;
    std::int64_t count;
  };
  std::vector<Piece> pieces;
  for (std::int64_t b = 0; b < out.n; ++b) {
    std::int64_t c0 = 0;
    for (const View<const T>& v : in) {
      if (v.n != out.n || v.h != out.h || v.w != out.w || c0 + v.c > out.c)
        throw Error("concat: an input of " + std::to_string(v.c) + "x" + std::to_string(v.h) + "x" +
                    std::to_string(v.w) + " does not fit the output");
      pieces.push_back(Piece{v.plane(b, 0), out.plane(b, c0), v.c * out.hw()});  // an image's channels are contiguous
      c0 += v.c;
    }
    if (c0 != out.c) throw Error("concat: inputs have " + std::to_string(c0) + " channels, output " + std::to_string(out.c));
  }
  std::int64_t total = 0;
  for (const Piece& p : pieces) total += p.count;
  const int nt = ctx.threads_for(total, kGrainElems * 4);
  // A few chunks per thread, so a thread that lost its core leaves only a small one behind.
  const std::int64_t chunks = nt <= 1 ? 1 : std::min<std::int64_t>(4 * nt, std::max<std::int64_t>(nt, total / kGrainElems));
  parallel_for_each(nt, chunks, [&](std::int64_t k) {
    const std::int64_t lo = total * k / chunks, hi = total * (k + 1) / chunks;  // chunk k of the element range
    std::int64_t at = 0;
    for (const Piece& p : pieces) {
      const std::int64_t a = std::max(lo, at), e = std::min(hi, at + p.count);
      if (a < e) std::memcpy(p.dst + (a - at), p.src + (a - at), static_cast<std::size_t>(e - a) * sizeof(T));
      at += p.count;
    }
  });
}

// dst (+)= src, same shape, plane by plane (views may be channel slices).
template <class T>
void copy_planes(View<const T> src, View<T> dst) {
  if (src.c != dst.c || src.h != dst.h || src.w != dst.w || src.n != dst.n) throw Error("copy_planes: shape mismatch");
  for (std::int64_t i = 0; i < src.n; ++i)
    std::memcpy(dst.item(i), src.item(i), static_cast<std::size_t>(src.c * src.hw()) * sizeof(T));
}

}  // namespace yv9::ops
