// SPDX-License-Identifier: MIT
// 2-D convolution with groups, stride, padding and dilation, bias and a fused activation:
// PyTorch's nn.Conv2d semantics (zero padding, floor output size) followed by act(y + bias).
//
// Weights keep PyTorch's layout [c_out][c_in/groups][kh][kw]; for group g they are the row-major
// matrix W_g[c_out/g x (c_in/g*kh*kw)], so each group is one GEMM against im2col columns:
//
//   out_g[c_out/g x pixels] = W_g * cols[(c_in/g*kh*kw) x pixels]
//
// float runs on ops/sgemm (weights packed once by finalize(), im2col fused into B packing, bias
// and activation in the GEMM epilogue), except 3x3 stride-1 'same' convolutions, which finalize()
// hands to Winograd F(4,3) or F(2,3) (ops/winograd.hpp) or, when small, to the direct kernel
// (ops/direct.hpp); `winograd` and `direct` say which. Finalized for bf16 (model::Precision), the
// im2col and Winograd GEMMs run on bf16 operands instead (ops/bf16.hpp: packed16, u16). Other types
// (double, the precision reference) run on Eigen over explicit im2col tiles. Either way each
// output element is one fixed chain of operations, so results are identical for any thread count
// and any work split.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "activation.hpp"
#include "bf16.hpp"
#include "direct.hpp"
#include "gemm.hpp"
#include "sgemm.hpp"
#include "winograd.hpp"

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
  std::vector<std::int64_t> weight_shape() const { return {c2, cin_g(), kh, kw}; }  // PyTorch's layout
  std::string str() const {
    return "conv " + std::to_string(c1) + "->" + std::to_string(c2) + " k" + std::to_string(kh) + "x" +
           std::to_string(kw) + " s" + std::to_string(sh) + " p" + std::to_string(ph) + " d" + std::to_string(dh) +
           " g" + std::to_string(groups);
  }
};

// A square-kernel geometry as upstream's Conv builds it: p < 0 means autopad ('same' padding for
// odd kernels, dilation taken into account).
inline ConvGeom conv_geom(std::int64_t c1, std::int64_t c2, std::int64_t k, std::int64_t s = 1, std::int64_t p = -1,
                          std::int64_t g = 1, std::int64_t d = 1) {
  ConvGeom geo;
  geo.c1 = c1;
  geo.c2 = c2;
  geo.kh = geo.kw = k;
  geo.sh = geo.sw = s;
  const std::int64_t keff = d > 1 ? d * (k - 1) + 1 : k;
  geo.ph = geo.pw = p < 0 ? keff / 2 : p;
  geo.dh = geo.dw = d;
  geo.groups = g;
  return geo;
}

// Refuses (ConfigError naming `where`) a geometry no convolution can have.
inline void check_geom(const ConvGeom& g, const std::string& where) {
  if (g.c1 <= 0 || g.c2 <= 0 || g.kh <= 0 || g.sh <= 0 || g.dh <= 0 || g.ph < 0 || g.groups <= 0)
    throw ConfigError(where + ": invalid convolution (" + g.str() + ")");
  if (g.c1 % g.groups || g.c2 % g.groups)
    throw ConfigError(where + ": channels " + std::to_string(g.c1) + "->" + std::to_string(g.c2) +
                      " are not divisible by groups=" + std::to_string(g.groups));
}

// How float convolutions run. Auto: for 3x3 stride-1 'same' convolutions the path measured
// fastest for their channels and map (auto_conv_path), im2col GEMM for the
// rest. The others force one path (direct or Winograd where it applies, im2col elsewhere) for
// comparisons and for the smallest memory (im2col).
enum class ConvAlgo { Auto, Im2col, F2, F4, Direct };

inline bool conv_algo_from_name(const std::string& name, ConvAlgo& out) {
  if (name == "auto") out = ConvAlgo::Auto;
  else if (name == "im2col") out = ConvAlgo::Im2col;
  else if (name == "f2") out = ConvAlgo::F2;
  else if (name == "f4") out = ConvAlgo::F4;
  else if (name == "direct") out = ConvAlgo::Direct;
  else return false;
  return true;
}

// The path a load takes unless told otherwise (model::LoadOptions::conv): the environment variable
// YV9_CONV (auto, im2col, f2, f4, direct; read once), else Auto. It lets a test suite or a deployment run
// every model on one path without code changes. im2col keeps the smallest weights (Winograd F(4,3)
// stores 36 values per 3x3 kernel instead of 9, F(2,3) 16).
inline ConvAlgo default_conv_algo() {
  static const ConvAlgo algo = [] {
    ConvAlgo a = ConvAlgo::Auto;
    if (const char* e = std::getenv("YV9_CONV")) conv_algo_from_name(e, a);
    return a;
  }();
  return algo;
}

// The path Auto takes for a 3x3 stride-1 'same' convolution with c_in x c_out = cc on a map of
// `area` pixels (0: unknown): Im2col, Direct, F2 or F4. Measured per (channels, map), 3x3 c -> c,
// one and two threads, every path against the others (the GEMM kernels differ by target, and so
// does the table):
//   AVX-512 (Sapphire Rapids, 2026-12-06, tools/bench_conv at 1 and 2 threads; the transforms
//   run across 16 tiles per vector and write sgemm's packed B, and a map that is one block is
//   transformed by all threads together, so small maps keep most of Winograd's saving): direct
//   for 16 x 16 channels from 32x32 (1.1-1.2x); 10x10 maps: F(2,3) from 128 x 128 channels
//   (1.15-1.5x), else im2col; 20x20: F(4,3) from 128 x 128 (1.25-1.9x), F(2,3) from 64 x 64
//   (1.1x on one thread, even on two), else im2col; 40x40: im2col up to 32 x 32, F(4,3) from
//   64 x 64 (1.1-2.4x), F(2,3) between; larger maps: F(4,3) from 32 x 32 channels (1.2-1.5x
//   faster than F(2,3) at 64 and up, 1.3-1.9x than im2col).
//   Otherwise (Zen 3, AVX2; the portable build follows it): direct while cc x area stays below
//   ~1 M (c = 16 up to 80x80, 24 up to 40x40, 32-48 up to 20x20, 64-96 at 10x10; 1.2-1.9x faster
//   than the best other), else im2col up to 14x14 (F(2,3) 1.3-2x slower: too few tiles to amortise
//   its transforms), F(2,3) up to 56x56 (1.2-1.6x faster than im2col), F(4,3) beyond (1.1-1.3x
//   faster than F(2,3)).
// F(4,3) stores 36 values per 3x3 kernel: above 256 x 256 channels (~9 MB of weights) F(2,3) is
// taken instead. Unknown maps: F(4,3) up to 128 x 128 channels, else F(2,3).
inline ConvAlgo auto_conv_path(std::int64_t cc, std::int64_t area) {
  const ConvAlgo f4_or_f2 = cc <= 256 * 256 ? ConvAlgo::F4 : ConvAlgo::F2;
  if (area <= 0) return cc <= 128 * 128 ? ConvAlgo::F4 : ConvAlgo::F2;
#if defined(__AVX512F__)
  if (cc <= 16 * 16 && area >= 32 * 32) return ConvAlgo::Direct;
  if (area <= 14 * 14) return cc >= 128 * 128 ? ConvAlgo::F2 : ConvAlgo::Im2col;
  if (area <= 28 * 28) return cc >= 128 * 128 ? f4_or_f2 : cc >= 64 * 64 ? ConvAlgo::F2 : ConvAlgo::Im2col;
  if (area <= 56 * 56) return cc <= 32 * 32 ? ConvAlgo::Im2col : cc < 64 * 64 ? ConvAlgo::F2 : f4_or_f2;
  return cc < 32 * 32 ? ConvAlgo::Im2col : f4_or_f2;
#else
  if (cc * area <= (std::int64_t(1) << 20) || (cc <= 16 * 16 && area <= 80 * 80)) return ConvAlgo::Direct;
  if (area <= 14 * 14) return ConvAlgo::Im2col;
  if (area <= 56 * 56) return ConvAlgo::F2;
  return f4_or_f2;
#endif
}

// auto_conv_path for bf16 loads (model::Precision::Bf16), whose GEMMs run twice as many
// multiply-adds per instruction while the Winograd transforms and F(2,3)'s extra tiles stay fp32
// work, and where F(4,3) is not used (too inaccurate on bf16 operands, see Conv2d::finalize).
// Measured on Zen 5 (AVX512_BF16, 2026-12-07, bench_conv --bf16 at 1 and 2 threads, c -> c): im2col
// up to 32 x 32 channels at every map (1.1-1.4x faster than F(2,3)) and up to 64 x 64 below 80x80
// (1.2-1.6x); F(2,3) from 256 x 256 everywhere (1.2-1.4x), and for 128 x 128 except at 20x20,
// where im2col is as fast or faster (0.27 vs 0.34 ms on two threads). Against fp32's best path on
// the same layer, two threads: 1.1-1.6x faster everywhere (one thread: fp32 F(4,3) stays ahead
// by up to 1.2x at 128 channels and more from 20x20).
inline ConvAlgo auto_conv_path_bf16(std::int64_t cc, std::int64_t area) {
  if (cc <= 16 * 16 && area >= 32 * 32) return ConvAlgo::Direct;  // fp32 direct, as auto_conv_path
  if (area <= 0) return cc <= 64 * 64 ? ConvAlgo::Im2col : ConvAlgo::F2;
  if (cc <= 32 * 32) return ConvAlgo::Im2col;
  if (cc <= 64 * 64) return area >= 80 * 80 ? ConvAlgo::F2 : ConvAlgo::Im2col;
  if (cc < 256 * 256) return area > 14 * 14 && area < 40 * 40 ? ConvAlgo::Im2col : ConvAlgo::F2;
  return ConvAlgo::F2;
}

template <class T>
struct Conv2d {
  ConvGeom g;
  std::vector<T> weight;  // [c2][c1/groups][kh][kw]; released after packing unless kept
  std::vector<T> bias;    // [c2] or empty
  Activation act;
  std::vector<PackedA> packed;  // float, im2col path: one packed weight matrix per group
  std::vector<PackedA16> packed16;  // the same in bf16 when finalized for bf16 (then packed is empty)
  int winograd = 0;             // float: 2 or 4 when Winograd F(winograd, 3) runs this layer
  bool direct = false;          // float: the direct 3x3 kernel runs this layer
  Winograd3x3<2> f2;
  Winograd3x3<4> f4;
  Direct3x3 d3;

  // Whether finalize() gives this layer to the direct kernel under `algo` (map as in
  // winograd_for; Auto: auto_conv_path).
  bool direct_for(ConvAlgo algo, std::int64_t map_h = 0, std::int64_t map_w = 0, bool bf16 = false) const {
    if (!winograd_applies(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups)) return false;
    if (algo == ConvAlgo::Direct) return true;
    if (algo != ConvAlgo::Auto) return false;
    const std::int64_t cc = g.c1 * g.c2, area = map_h * map_w;
    return (bf16 ? auto_conv_path_bf16(cc, area) : auto_conv_path(cc, area)) == ConvAlgo::Direct;
  }

  // The Winograd variant finalize() takes for this layer under `algo` when direct_for says no: 0
  // (im2col GEMM), 2 or 4. map_h x map_w: the input map the layer is expected to run on (0 x 0:
  // unknown); Auto: auto_conv_path.
  int winograd_for(ConvAlgo algo, std::int64_t map_h = 0, std::int64_t map_w = 0, bool bf16 = false) const {
    if (!winograd_applies(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups)) return 0;
    switch (algo) {
      case ConvAlgo::Im2col:
      case ConvAlgo::Direct: return 0;
      case ConvAlgo::F2: return 2;
      case ConvAlgo::F4: return 4;
      case ConvAlgo::Auto: break;
    }
    const std::int64_t cc = g.c1 * g.c2, area = map_h * map_w;
    const ConvAlgo a = bf16 ? auto_conv_path_bf16(cc, area) : auto_conv_path(cc, area);
    return a == ConvAlgo::F4 ? 4 : a == ConvAlgo::F2 ? 2 : 0;
  }

  // Packs the weights for sgemm or transforms them for Winograd (float only). Without keep_plain
  // the PyTorch-layout copy is freed. map_h x map_w: as in winograd_for. bf16: the GEMMs (im2col
  // and Winograd's) run on bf16 operands (ops/bf16.hpp; the caller checked the CPU); the direct
  // kernel, which serves only the smallest channel counts, stays fp32.
  void finalize(ConvAlgo algo, bool keep_plain = false, std::int64_t map_h = 0, std::int64_t map_w = 0,
                bool bf16 = false) {
    if constexpr (std::is_same_v<T, float>) {
      packed.clear();
      packed16.clear();
      f2 = {};
      f4 = {};
      d3 = {};
      direct = direct_for(algo, map_h, map_w, bf16);
      winograd = direct ? 0 : winograd_for(algo, map_h, map_w, bf16);
      // F(4,3)'s transform domain spreads values over a wide range (constants up to 8 and 1/24):
      // operands rounded to bf16 there gave errors ~20x the bf16 im2col path's (tests/test_bf16.cpp),
      // F(2,3)'s ~1.1x. bf16 runs F(2,3) instead.
      if (bf16 && winograd == 4) winograd = 2;
      if (direct) {
        d3 = Direct3x3(weight.data(), g.c1, g.c2);
      } else if (winograd == 2) {
        f2 = Winograd3x3<2>(weight.data(), g.c1, g.c2, bf16);
      } else if (winograd == 4) {
        f4 = Winograd3x3<4>(weight.data(), g.c1, g.c2, bf16);
      } else {
        const std::int64_t Mg = g.cout_g(), K = g.kdim();
        // A short K (the stem: 3 x 3 x 3 = 27) leaves the kernel too little to amortise B's
        // conversion: measured 1.0 ms fp32 vs 1.2 ms bf16 on gelan-c's stem at 320. fp32 there.
        const bool use16 = bf16 && K >= 64;
        for (std::int64_t grp = 0; grp < g.groups; ++grp) {
          if (use16)
            packed16.push_back(pack_a16(weight.data() + grp * Mg * K, Mg, K, K));
          else
            packed.push_back(pack_a(weight.data() + grp * Mg * K, Mg, K, K));
        }
      }
      if (!keep_plain) std::vector<T>().swap(weight);
    }
    (void)keep_plain;
    (void)bf16;
    (void)algo;
    (void)map_h;
    (void)map_w;
  }

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
    if constexpr (std::is_same_v<T, float>) {
      const float* b = bias.empty() ? nullptr : bias.data();
      if (direct) return forward_direct(in, out, b, ctx);
      if (winograd == 2) return f2.forward(in, out, b, act, ctx);
      if (winograd == 4) return f4.forward(in, out, b, act, ctx);
      if (!packed.empty() || !packed16.empty()) return forward_sgemm(in, out, ctx);
    }
    const std::int64_t K = g.kdim(), Mg = g.cout_g();
    const std::int64_t tw = tile_width(P), tiles = (P + tw - 1) / tw;
    const std::int64_t jobs = in.n * g.groups * tiles;
    const bool direct = g.pointwise();
    const int nt = ctx.threads_for(in.n * g.macs(in.h, in.w), kGrainMacs);
    parallel_for(nt, jobs, [&](Jobs& q) {
      std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(K * tw));
      for (std::int64_t job; q.next(job);) {
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
    });
  }

  static EpiAct epi_act(const Activation& a, bool& separate) {
    separate = false;
    switch (a.kind) {
      case ActKind::Identity: return EpiAct::None;
      case ActKind::SiLU: return EpiAct::SiLU;
      case ActKind::ReLU: return EpiAct::ReLU;
      case ActKind::ReLU6: return EpiAct::ReLU6;
      case ActKind::LeakyReLU: return EpiAct::LeakyReLU;
      default: separate = true; return EpiAct::None;
    }
  }

  // Jobs = (image, group, row block, column tile), sized so the threads get equal shares: column
  // tiles (whole NR panels, ~256 wide) whenever the map has more than 256 pixels; below that one
  // tile per map and the output channels split into one block per thread (each block packs its
  // B once, so splitting rows further would only repeat the im2col work). Any split gives the
  // same bits (sgemm's contract), so neither the thread count nor this heuristic changes results.
  void forward_sgemm(View<const T> in, View<T> out, const Context& ctx) const {
    const std::int64_t Wo = g.out_w(in.w), P = g.out_h(in.h) * Wo, Mg = g.cout_g();
    const int nt = ctx.threads_for(in.n * g.macs(in.h, in.w), kGrainMacs);
    const std::int64_t outer = in.n * g.groups;
    // Column tiles hold whole NR panels (the last one the partial panel); tile t covers panels
    // [t * panels / tiles, (t + 1) * panels / tiles), so tiles differ by at most one panel and a
    // thread's contiguous share of a multiple-of-nt tile count is balanced to within a panel.
    const std::int64_t panels = (P + kGemmNR - 1) / kGemmNR;
    constexpr std::int64_t kTilePanels = 256 / kGemmNR;  // ~256 columns: a packed B block stays in L2
    // Small maps too are split by columns rather than by output channels: splitting channels
    // makes every thread pack all of B (measured on gelan-c at 320, where 20x20 and 10x10 maps
    // are ~45% of the time: 2-4% faster end to end; sharing one packed B instead was slower).
    std::int64_t tiles = (panels + kTilePanels - 1) / kTilePanels;
    if (tiles > 1 && outer < nt) tiles = (tiles + nt - 1) / nt * nt;
    tiles = std::min(tiles, panels);
    const std::int64_t nc = (panels + tiles - 1) / tiles * kGemmNR;  // widest tile
    std::int64_t mblocks = 1;
    if (outer * tiles < nt) mblocks = std::min<std::int64_t>((nt + outer * tiles - 1) / (outer * tiles), (Mg + kGemmMR - 1) / kGemmMR);
    const std::int64_t mb = ((Mg + mblocks - 1) / mblocks + kGemmMR - 1) / kGemmMR * kGemmMR;
    mblocks = (Mg + mb - 1) / mb;
    const std::int64_t jobs = outer * tiles * mblocks;
    bool separate = false;
    Epilogue epi;
    epi.act = epi_act(act, separate);
    epi.slope = static_cast<float>(act.slope);
    const bool direct = g.pointwise();
    parallel_for(nt, jobs, [&](Jobs& q) {
      float* const scratch = gemm_thread_scratch(gemm_scratch_floats(nc));
      for (std::int64_t job; q.next(job);) {
        std::int64_t r = job;
        const std::int64_t tile = r % tiles;
        r /= tiles;
        const std::int64_t mblk = r % mblocks;
        r /= mblocks;
        const std::int64_t grp = r % g.groups, b = r / g.groups;
        const std::int64_t j0 = tile * panels / tiles * kGemmNR;
        const std::int64_t ncols = std::min(P, (tile + 1) * panels / tiles * kGemmNR) - j0;
        const std::int64_t m0 = mblk * mb, mc = std::min(mb, Mg - m0);
        const float* src = in.plane(b, grp * g.cin_g());
        float* C = out.plane(b, grp * Mg);
        Epilogue e = epi;
        e.bias = bias.empty() ? nullptr : bias.data() + grp * Mg;
        const auto gemm = [&](const BPacker& B) {
          if (!packed16.empty())
            sgemm_bf16(packed16[static_cast<std::size_t>(grp)], m0, mc, B, j0, ncols, C, P, e, scratch);
          else
            sgemm(packed[static_cast<std::size_t>(grp)], m0, mc, B, j0, ncols, C, P, e, scratch);
        };
        if (direct) {
          gemm(DenseB(src, in.hw()));
        } else {
          Im2colB B;
          B.src = src;
          B.H = in.h;
          B.W = in.w;
          B.kh = g.kh;
          B.kw = g.kw;
          B.sh = g.sh;
          B.sw = g.sw;
          B.ph = g.ph;
          B.pw = g.pw;
          B.dh = g.dh;
          B.dw = g.dw;
          B.Wo = Wo;
          gemm(B);
        }
        if (separate)
          for (std::int64_t i = 0; i < mc; ++i) act.apply(C + (m0 + i) * P + j0, ncols);
      }
    });
  }

  void forward_direct(View<const T> in, View<T> out, const float* b, const Context& ctx) const {
    bool separate = false;
    const EpiAct ea = epi_act(act, separate);
    d3.forward(in, out, b, ea, static_cast<float>(act.slope), ctx);
    if (separate)
      for (std::int64_t i = 0; i < out.n; ++i)
        for (std::int64_t ch = 0; ch < out.c; ++ch) act.apply(out.plane(i, ch), out.hw());
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

// The convolution into a new tensor.
template <class T>
Tensor<T> run_conv(const Conv2d<T>& c, View<const T> in, const Context& ctx) {
  Tensor<T> out(Shape{in.n, c.g.c2, c.g.out_h(in.h), c.g.out_w(in.w)});
  c.forward(in, view(out), ctx);
  return out;
}

}  // namespace yv9::ops
