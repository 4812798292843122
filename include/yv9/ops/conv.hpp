// 2-D convolution with groups, stride, padding and dilation, bias and a fused activation:
// PyTorch's nn.Conv2d semantics (zero padding, floor output size) followed by act(y + bias).
//
// Weights keep PyTorch's layout [c_out][c_in/groups][kh][kw]; for group g they are the row-major
// matrix W_g[c_out/g x (c_in/g*kh*kw)], so each group is one GEMM against im2col columns:
//
//   out_g[c_out/g x pixels] = W_g * cols[(c_in/g*kh*kw) x pixels]
//
// Output pixels are processed in fixed-width column tiles (the width depends only on the layer's
// shape), so the scratch memory is bounded and results are identical for any thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../core/view.hpp"
#include "activation.hpp"
#include "gemm.hpp"

namespace yv9::ops {

struct ConvGeom {
  std::int64_t c1 = 0, c2 = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;

  std::int64_t out_h(std::int64_t h) const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  std::int64_t out_w(std::int64_t w) const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  std::int64_t cin_g() const { return c1 / groups; }
  std::int64_t cout_g() const { return c2 / groups; }
  std::int64_t kdim() const { return cin_g() * kh * kw; }  // GEMM K per group
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  std::int64_t weight_numel() const { return c2 * cin_g() * kh * kw; }
  std::int64_t macs(std::int64_t h, std::int64_t w) const { return out_h(h) * out_w(w) * c2 * kdim(); }
  std::string str() const {
    return "conv " + std::to_string(c1) + "->" + std::to_string(c2) + " k" + std::to_string(kh) + "x" +
           std::to_string(kw) + " s" + std::to_string(sh) + " p" + std::to_string(ph) + " d" + std::to_string(dh) +
           " g" + std::to_string(groups);
  }
};

template <class T>
struct Conv2d {
  ConvGeom g;
  std::vector<T> weight;  // [c2][c1/groups][kh][kw]
  std::vector<T> bias;    // [c2] or empty
  Activation act;

  // Column-tile width: about 2 MiB of im2col scratch, a multiple of 16, between 128 and 4096.
  std::int64_t tile_width(std::int64_t pixels) const {
    std::int64_t t = (std::int64_t(512) * 1024) / std::max<std::int64_t>(g.kdim(), 1);
    t = std::max<std::int64_t>(128, std::min<std::int64_t>(t, 4096)) / 16 * 16;
    return std::min(t, pixels);
  }

  void forward(View<const T> in, View<T> out, const Context& ctx) const {
    const std::int64_t Ho = g.out_h(in.h), Wo = g.out_w(in.w), P = Ho * Wo;
    if (in.c != g.c1 || out.c != g.c2 || out.h != Ho || out.w != Wo || in.n != out.n)
      throw Error("Conv2d (" + g.str() + "): bad view shapes");
    if (P <= 0) return;
    const std::int64_t K = g.kdim(), Mg = g.cout_g();
    const std::int64_t tw = tile_width(P), tiles = (P + tw - 1) / tw;
    const std::int64_t jobs = in.n * g.groups * tiles;
    const bool direct = g.pointwise();
#pragma omp parallel num_threads(ctx.threads)
    {
      std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(K * tw));
#pragma omp for schedule(static)
      for (std::int64_t job = 0; job < jobs; ++job) {
        const std::int64_t tile = job % tiles, grp = (job / tiles) % g.groups, b = job / (tiles * g.groups);
        const std::int64_t j0 = tile * tw, nt = std::min(tw, P - j0);
        const T* src = in.plane(b, grp * g.cin_g());
        T* dst = out.plane(b, grp * Mg) + j0;
        const T* B;
        std::int64_t ldb;
        if (direct) {
          B = src + j0;
          ldb = in.hw();
        } else {
          im2col(src, in.h, in.w, Wo, j0, nt, cols.data());
          B = cols.data();
          ldb = nt;
        }
        gemm<T>(Mg, nt, K, weight.data() + grp * Mg * K, K, B, ldb, dst, P);
        epilogue(dst, P, grp * Mg, Mg, nt);
      }
    }
  }

  // cols[(ci*kh + ky)*kw + kx][j] = input value under tap (ky,kx) of output pixel j0+j, or 0 in padding.
  void im2col(const T* src, std::int64_t H, std::int64_t W, std::int64_t Wo, std::int64_t j0, std::int64_t nt,
              T* cols) const {
    const std::int64_t cin = g.cin_g();
    for (std::int64_t ci = 0; ci < cin; ++ci) {
      const T* plane = src + ci * H * W;
      for (std::int64_t ky = 0; ky < g.kh; ++ky)
        for (std::int64_t kx = 0; kx < g.kw; ++kx) {
          T* row = cols + ((ci * g.kh + ky) * g.kw + kx) * nt;
          std::int64_t oy = (j0) / Wo, ox = (j0) % Wo;
          for (std::int64_t j = 0; j < nt; ++j) {
            const std::int64_t iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
            row[j] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : T(0);
            if (++ox == Wo) {
              ox = 0;
              ++oy;
            }
          }
        }
    }
  }

  void epilogue(T* dst, std::int64_t ld, std::int64_t c0, std::int64_t rows, std::int64_t nt) const {
    for (std::int64_t r = 0; r < rows; ++r) {
      T* p = dst + r * ld;
      const T b = bias.empty() ? T(0) : bias[c0 + r];
      if (b != T(0))
        for (std::int64_t j = 0; j < nt; ++j) p[j] += b;
      act.apply(p, nt);
    }
  }
};

}  // namespace yv9::ops
