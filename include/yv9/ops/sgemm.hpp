// SPDX-License-Identifier: MIT
// sgemm: the fp32 matrix product behind convolution (implicit GEMM) and attention tiles.
//
//   C[m0:m0+mc, j0:j0+nc] = epilogue( A[m0:m0+mc, 0:K] * B[0:K, j0:j0+nc] )
//
// A (weights, M x K) is packed once at load time (pack_a). B is never materialised by sgemm: a
// BPacker writes one K block of the requested columns straight into the caller's scratch, so a
// convolution packs from the image (Im2colB) and a plain matrix from memory (DenseB).
//
// Packed A (PackedA, 64-byte aligned): K split into blocks of kb = A.kb (<= kGemmKC, balanced:
// kb = ceil(K / ceil(K / kGemmKC))); in each block, M split into panels of kGemmMR rows, the
// last zero-padded; a panel stores its kc x MR values k-major, so one k step reads MR
// consecutive floats (the broadcasts):
//
//     block 0 (k 0..kb-1)                                         block 1 (k kb..2kb-1)  ...
//     +--------------------+--------------------+-----+           +------------ ...
//     | panel 0: rows 0..MR-1 | panel 1: rows MR.. | ... |        | panel 0 ...
//     | k0: a00 a10 .. a(MR-1)0 |                    |     |
//     | k1: a01 a11 .. a(MR-1)1 |                    |     |
//     | ...  (kc rows of MR)    |                    |     |
//     +--------------------+--------------------+-----+
//     offset(k0, m0) = k0 * Mp + (m0 / MR) * MR * kc(k0) + m0 % MR    (Mp = M rounded up to MR)
//
// Packed B (scratch, written by a BPacker for one K block [k0, k0+kc) and columns [j0, j0+nc)):
// ceil(nc / NR) panels of kc x NR values, k-major, columns beyond nc zero:
//
//     panel 0: cols j0..j0+NR-1         panel 1: cols j0+NR..          ... last panel: zero-padded
//     +--------------------------+      +--------------------------+
//     | k0:   b b b ... b (NR)   |      | k0:   b b ... b          |      | b b .. b 0 0 0 |
//     | k0+1: b b b ... b        |      | ...                      |      | ...            |
//     | ... kc rows              |      |                          |
//     +--------------------------+      +--------------------------+
//     panel p starts at dst + p * kc * NR
//
// Loops (single thread by contract; callers parallelise over disjoint C tiles):
//   for each K block: B.pack(block) -> scratch (L2)
//     for each MR row panel of [m0, m0+mc): its A panel (kc x MR, 12 KiB) stays in L1
//       for each NR column panel: micro-kernel (R x NR register tile, R = rows left in the panel)
//         last K block: epilogue on the tile while it is in L1
// Partial sums between K blocks live in C itself (loaded back as fp32, so nothing is lost).
//
// Determinism: every C element is one chain of FMAs over k = 0..K-1 in order, starting from 0
// (or from C's old value when epi.accumulate), then + bias, then the activation. No part of that
// depends on m0, mc, j0, nc, the K blocking, or which micro-kernel variant ran, so any tiling of
// the same product gives bit-identical results (tests/test_sgemm.cpp checks it). Results differ
// between targets (AVX-512 / AVX2 / portable) only through the activation's last bits.
//
// m0 and j0 may be any values (not only multiples of MR / NR): a panel pointer may start inside a
// panel, rows keep the panel's stride MR.
//
// Using it (convolution, per group g; Mg = c_out/groups, K = c_in/groups*kh*kw, P = Ho*Wo):
//   load time:  pa[g] = pack_a(weight + g*Mg*K, Mg, K, K)
//   forward:    jobs = (image, group, column tile of ~256 pixels in whole NR panels; all of P
//               when P <= 256), and when there are fewer jobs than threads also row blocks of M:
//               any split gives the same bits (ops/conv.hpp: Conv2d::forward_sgemm).
//               B = Im2colB{src = in.plane(b, g*cin_g), H, W, kh, kw, sh, sw, ph, pw, dh, dw, Wo},
//               or DenseB(in.plane(b, g*cin_g), H*W) for 1x1 / stride 1 / no padding;
//               sgemm(pa[g], 0, Mg, B, j0, nc, out.plane(b, g*Mg), P,
//                     Epilogue{bias + g*Mg, act}, scratch)   scratch: gemm_thread_scratch(
//               gemm_scratch_floats(nc)), the calling thread's reused buffer (256 KiB).
// Attention:    S = Q K: pack_a(pq, Q + r0*d, nr, d, d) into a reused PackedA, DenseB(K + c0, Lk);
//               acc += P V: pack_a the probability block, DenseB(V + c0*d, d), accumulate = true.
#pragma once
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "../core/memory.hpp"
#include "sgemm_kernels.hpp"

namespace yv9::ops {

using yv9::AlignedAllocator;  // core/memory.hpp: aligned, big blocks recycled

struct PackedA {
  std::int64_t M = 0, K = 0;
  std::int64_t kb = 0;  // K block size (the last block may be shorter)
  std::int64_t mp = 0;  // M rounded up to a multiple of kGemmMR
  std::vector<float, AlignedAllocator<float>> data;

  std::int64_t block_kc(std::int64_t k0) const { return std::min(kb, K - k0); }
  // Row m0 of the K block starting at k0 (k0 a multiple of kb); rows advance by 1, k by kGemmMR.
  const float* panel(std::int64_t k0, std::int64_t m0) const {
    assert(k0 % kb == 0 && m0 >= 0 && m0 < M);
    return data.data() + k0 * mp + (m0 / kGemmMR) * kGemmMR * block_kc(k0) + m0 % kGemmMR;
  }
};

inline std::int64_t gemm_k_block(std::int64_t K) {
  if (K <= 0) return 0;
  const std::int64_t blocks = (K + kGemmKC - 1) / kGemmKC;
  return (K + blocks - 1) / blocks;
}

// A[m][k] = src[m * stride_m + k * stride_k]: row-major (stride_k = 1) or a transposed view
// (stride_m = 1, as attention's K^T). Packs into p, reusing its storage when large enough.
inline void pack_a_strided(PackedA& p, const float* src, std::int64_t M, std::int64_t K, std::int64_t stride_m,
                           std::int64_t stride_k) {
  p.M = M;
  p.K = K;
  p.kb = gemm_k_block(K);
  p.mp = (M + kGemmMR - 1) / kGemmMR * kGemmMR;
  p.data.assign(static_cast<std::size_t>(p.mp * K), 0.0f);
  for (std::int64_t k0 = 0; k0 < K; k0 += p.kb) {
    const std::int64_t kc = p.block_kc(k0);
    for (std::int64_t m0 = 0; m0 < M; m0 += kGemmMR) {
      float* dst = p.data.data() + k0 * p.mp + m0 * kc;
      const std::int64_t rows = std::min<std::int64_t>(kGemmMR, M - m0);
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = src + (m0 + r) * stride_m + k0 * stride_k;
        for (std::int64_t k = 0; k < kc; ++k) dst[k * kGemmMR + r] = row[k * stride_k];
      }
    }
  }
}

// A: row-major M x K with leading dimension lda (>= K).
inline void pack_a(PackedA& p, const float* A, std::int64_t M, std::int64_t K, std::int64_t lda) {
  pack_a_strided(p, A, M, K, lda, 1);
}
inline PackedA pack_a(const float* A, std::int64_t M, std::int64_t K, std::int64_t lda) {
  PackedA p;
  pack_a(p, A, M, K, lda);
  return p;
}

// Writes columns [j0, j0+nc) of rows [k0, k0+kc) of the virtual K x N matrix B into dst as
// ceil(nc / kGemmNR) panels of kc x kGemmNR (row-major, columns beyond nc zero). Must be
// thread-safe for concurrent calls on different dst (const, no mutable state).
struct BPacker {
  virtual void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const = 0;
  // B already in that layout in memory: the block's first panel (sgemm reads it there and packs
  // nothing), or null to have it packed.
  virtual const float* packed(std::int64_t /*k0*/, std::int64_t /*kc*/, std::int64_t /*j0*/, std::int64_t /*nc*/) const {
    return nullptr;
  }
  // B already as bf16 pairs in sgemm_bf16's packed layout (ops/bf16.hpp), or null. Only the
  // native bf16 path asks; its scalar twin packs and converts as usual.
  virtual const std::uint32_t* packed16(std::int64_t /*k0*/, std::int64_t /*kc*/, std::int64_t /*j0*/,
                                        std::int64_t /*nc*/) const {
    return nullptr;
  }

 protected:
  ~BPacker() = default;
};

// A plain row-major K x N matrix with leading dimension ldb.
struct DenseB final : BPacker {
  const float* B = nullptr;
  std::int64_t ldb = 0;
  DenseB(const float* b, std::int64_t ld) : B(b), ldb(ld) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const override {
    // Row by row: each source row segment is read sequentially, written to L2-hot scratch.
    const std::int64_t full = nc / kGemmNR, rest = nc - full * kGemmNR;
    for (std::int64_t k = 0; k < kc; ++k) {
      const float* src = B + (k0 + k) * ldb + j0;
      float* d = dst + k * kGemmNR;
      for (std::int64_t p = 0; p < full; ++p) std::memcpy(d + p * kc * kGemmNR, src + p * kGemmNR, sizeof(float) * kGemmNR);
      if (rest) {
        float* dl = d + full * kc * kGemmNR;
        std::memcpy(dl, src + full * kGemmNR, sizeof(float) * static_cast<std::size_t>(rest));
        std::memset(dl + rest, 0, sizeof(float) * static_cast<std::size_t>(kGemmNR - rest));
      }
    }
  }
};

// A K x n matrix stored as sgemm packs it, per K block (rows k0 .. k0+kc of A's blocking kb)
// ceil(n / kGemmNR) panels of kc x kGemmNR: element (k, j) at panel_offset(k, j). Only columns
// [0, n) whole, j0 a multiple of kGemmNR; lanes past n are read only as far as the kernel's
// vectors reach and must be finite (Winograd writes them as zero).
struct PanelB final : BPacker {
  const float* data = nullptr;
  std::int64_t K = 0, kb = 0, n = 0;
  PanelB(const float* d, std::int64_t k, std::int64_t k_block, std::int64_t cols) : data(d), K(k), kb(k_block), n(cols) {}

  static std::int64_t floats(std::int64_t K, std::int64_t n) { return K * ((n + kGemmNR - 1) / kGemmNR) * kGemmNR; }
  static std::int64_t offset(std::int64_t k, std::int64_t j, std::int64_t K, std::int64_t kb, std::int64_t n) {
    const std::int64_t k0 = k / kb * kb, kc = std::min(kb, K - k0), panels = (n + kGemmNR - 1) / kGemmNR;
    return k0 * panels * kGemmNR + (j / kGemmNR) * kc * kGemmNR + (k - k0) * kGemmNR + j % kGemmNR;
  }
  const float* packed(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc) const override {
    assert(k0 % kb == 0 && kc == std::min(kb, K - k0) && j0 % kGemmNR == 0 && j0 + nc <= n);
    (void)kc;
    (void)nc;
    return data + offset(k0, j0, K, kb, n);
  }
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const override {
    const std::int64_t panels = (nc + kGemmNR - 1) / kGemmNR;
    std::memcpy(dst, packed(k0, kc, j0, nc), sizeof(float) * static_cast<std::size_t>(panels * kc * kGemmNR));
  }
};

// Implicit im2col for one image and one group of a 2-D convolution (PyTorch semantics: zero
// padding, floor output size). Virtual B row k = (ci * kh + ky) * kw + kx, column j = output pixel
// oy * Wo + ox; B[k][j] = src[ci][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw], 0 outside the image.
// src holds channel ci at src + ci * H * W (NCHW planes; a channel slice of a View qualifies).
struct Im2colB final : BPacker {
  const float* src = nullptr;
  std::int64_t H = 0, W = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, Wo = 0;

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const override {
    // Chunks = maximal column ranges inside one output row and one panel. Their geometry is
    // listed once (a batch at a time), then filled k row by k row: one k row of every chunk reads
    // one input row left to right and completes each panel's 128-byte row while it is in L1
    // (chunk by chunk, each pass over kc rows wrote part lines all over the block).
    Chunk batch[kBatch];
    for (std::int64_t col = 0; col < nc;) {
      int n = 0;
      for (; n < kBatch && col < nc; ++n) {
        const std::int64_t j = j0 + col, oy = j / Wo, ox = j % Wo, pcol = col % kGemmNR;
        const std::int64_t len = std::min(std::min(Wo - ox, kGemmNR - pcol), nc - col);
        batch[n] = Chunk{oy * sh - ph, ox * sw - pw, len, (col / kGemmNR) * kc * kGemmNR + pcol};
        col += len;
      }
      fill(k0, kc, batch, n, dst);
    }
    if (const std::int64_t w = nc % kGemmNR) {
      float* last = dst + (nc / kGemmNR) * kc * kGemmNR;
      for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t t = w; t < kGemmNR; ++t) last[k * kGemmNR + t] = 0.0f;
    }
  }

 private:
  static constexpr int kBatch = 64;  // chunks whose geometry is listed at a time
  struct Chunk {
    std::int64_t iy0, ix0, len, off;  // input row/column of tap (0,0) for the first pixel; dst offset
  };

  void fill(std::int64_t k0, std::int64_t kc, const Chunk* chunks, int n, float* dst) const {
#if defined(__AVX512F__)
    if (sw <= 2 && kh <= kMaxTap && kw <= kMaxTap) return fill_avx512(k0, kc, chunks, n, dst);
#endif
    std::int64_t ci = k0 / (kh * kw), ky = (k0 / kw) % kh, kx = k0 % kw;
    for (std::int64_t k = 0; k < kc; ++k) {
      const float* plane = src + ci * H * W;
      const std::int64_t dy = ky * dh, dx = kx * dw;
      float* dk = dst + k * kGemmNR;
      for (int c = 0; c < n; ++c) {
        const Chunk& ch = chunks[c];
        const std::int64_t iy = ch.iy0 + dy;
        if (iy < 0 || iy >= H)
          zero(dk + ch.off, ch.len);
        else
          taps(dk + ch.off, plane + iy * W, ch.ix0 + dx, ch.len);
      }
      if (++kx == kw) {
        kx = 0;
        if (++ky == kh) {
          ky = 0;
          ++ci;
        }
      }
    }
  }

  // d[t] = row[ix0 + t*sw] where 0 <= ix0 + t*sw < W, else 0, for t < len <= kGemmNR.
  void taps(float* d, const float* row, std::int64_t ix0, std::int64_t len) const {
    if (ix0 >= 0 && ix0 + (len - 1) * sw < W) {  // all taps inside the row: no zeros, no divisions
      if (sw == 1 && len == kGemmNR)
        std::memcpy(d, row + ix0, sizeof(float) * kGemmNR);  // the common case: fixed size, inlined
      else if (sw == 1)
        for (std::int64_t t = 0; t < len; ++t) d[t] = row[ix0 + t];
      else
        for (std::int64_t t = 0; t < len; ++t) d[t] = row[ix0 + t * sw];
      return;
    }
    // Border: taps t in [lo, hi) read inside the row (0 <= ix0 + t*sw < W), zeros around them.
    const std::int64_t lo = ix0 >= 0 ? 0 : std::min(len, (-ix0 + sw - 1) / sw);
    const std::int64_t hi = std::max(lo, ix0 >= W ? 0 : std::min(len, (W - ix0 + sw - 1) / sw));
    zero(d, lo);
    if (sw == 1)
      for (std::int64_t t = lo; t < hi; ++t) d[t] = row[ix0 + t];
    else
      for (std::int64_t t = lo; t < hi; ++t) d[t] = row[ix0 + t * sw];
    zero(d + hi, len - hi);
  }
  static void zero(float* d, std::int64_t n) {
    for (std::int64_t t = 0; t < n; ++t) d[t] = 0.0f;
  }

#if defined(__AVX512F__)
  static constexpr int kMaxTap = 7;
  // fill() with every chunk's geometry resolved per tap column (kx: the load masks and the column)
  // and per tap row (ky: the row offset, or -1 when the row is padding) before the k loop, which
  // is then two or four masked loads and two masked stores per chunk.
  void fill_avx512(std::int64_t k0, std::int64_t kc, const Chunk* chunks, int n, float* dst) const {
    struct X {
      std::int64_t col;
      std::uint64_t in;
    };
    X xs[kMaxTap][kBatch];
    std::int64_t ys[kMaxTap][kBatch];
    std::uint32_t outs[kBatch];
    for (int c = 0; c < n; ++c) {
      const Chunk& ch = chunks[c];
      outs[c] = static_cast<std::uint32_t>(bits(0, ch.len));
      const std::int64_t span = sw == 1 ? ch.len : 2 * ch.len - 1;
      for (std::int64_t kx = 0; kx < kw; ++kx) {
        const std::int64_t ix0 = ch.ix0 + kx * dw;
        const std::int64_t ulo = std::min(span, std::max<std::int64_t>(0, -ix0));
        const std::int64_t uhi = std::max(ulo, std::min(span, W - ix0));
        xs[kx][c] = X{ix0, bits(ulo, uhi)};
      }
      for (std::int64_t ky = 0; ky < kh; ++ky) {
        const std::int64_t iy = ch.iy0 + ky * dh;
        ys[ky][c] = iy >= 0 && iy < H ? iy * W : -1;
      }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 zero = _mm512_setzero_ps();
    const auto m16 = [](std::uint64_t m, int part) { return static_cast<__mmask16>((m >> (16 * part)) & 0xFFFF); };
    std::int64_t ci = k0 / (kh * kw), ky = (k0 / kw) % kh, kx = k0 % kw;
    for (std::int64_t k = 0; k < kc; ++k) {
      const std::uintptr_t plane = reinterpret_cast<std::uintptr_t>(src + ci * H * W);
      float* dk = dst + k * kGemmNR;
      const X* xr = xs[kx];
      const std::int64_t* yr = ys[ky];
      for (int c = 0; c < n; ++c) {
        float* d = dk + chunks[c].off;
        const std::uint32_t out = outs[c];
        if (yr[c] < 0) {
          _mm512_mask_storeu_ps(d, m16(out, 0), zero);
          _mm512_mask_storeu_ps(d + 16, m16(out, 1), zero);
          continue;
        }
        // integer address: lanes before the row start are masked off, but ix0 may be negative
        const float* p = reinterpret_cast<const float*>(
            plane + static_cast<std::uintptr_t>((yr[c] + xr[c].col) * std::int64_t(sizeof(float))));
        const std::uint64_t in = xr[c].in;
        if (sw == 1) {
          _mm512_mask_storeu_ps(d, m16(out, 0), _mm512_maskz_loadu_ps(m16(in, 0), p));
          _mm512_mask_storeu_ps(d + 16, m16(out, 1), _mm512_maskz_loadu_ps(m16(in, 1), p + 16));
        } else {
          const __m512 a0 = _mm512_maskz_loadu_ps(m16(in, 0), p), a1 = _mm512_maskz_loadu_ps(m16(in, 1), p + 16);
          _mm512_mask_storeu_ps(d, m16(out, 0), _mm512_permutex2var_ps(a0, even, a1));
          if (out >> 16) {
            const __m512 a2 = _mm512_maskz_loadu_ps(m16(in, 2), p + 32), a3 = _mm512_maskz_loadu_ps(m16(in, 3), p + 48);
            _mm512_mask_storeu_ps(d + 16, m16(out, 1), _mm512_permutex2var_ps(a2, even, a3));
          }
        }
      }
      if (++kx == kw) {
        kx = 0;
        if (++ky == kh) {
          ky = 0;
          ++ci;
        }
      }
    }
  }
  static std::uint64_t bits(std::int64_t lo, std::int64_t hi) {  // bits [lo, hi), 0 <= lo <= hi <= 64
    const std::uint64_t h = hi >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << hi) - 1;
    return h & ~((std::uint64_t(1) << lo) - 1);
  }

#endif
};

// C = act(acc + bias[row]); with accumulate the FMA chain starts from C's old value instead of 0
// (C += A*B, then bias and act if given: leave them unset for a plain accumulation).
struct Epilogue {
  const float* bias = nullptr;  // indexed by absolute row m (bias[m0 + i]), may be null
  EpiAct act = EpiAct::None;
  float slope = 0.01f;  // LeakyReLU negative slope
  bool accumulate = false;
};

// Floats of scratch sgemm needs for a column tile of nc (one packed B block).
inline std::size_t gemm_scratch_floats(std::int64_t nc) {
  return static_cast<std::size_t>(kGemmKC * ((nc + kGemmNR - 1) / kGemmNR) * kGemmNR);
}

// This thread's packing scratch of at least `floats` floats, reused by every later call on the
// thread (it only grows, to the largest tile the thread has packed: 256 KiB for convolutions), so
// no convolution pays for allocating, zeroing and page-faulting a fresh block. Contents are
// whatever the last user left: BPackers overwrite all they hand to the kernels. (Global state, and
// deliberately so: a per-thread cache that no result can observe; the thread pool's workers
// (core/threads.hpp) live as long as the process, so theirs is allocated once.)
// Use: a tag type naming who owns the buffer, so that users needing theirs at the same time
// (Winograd's work area around sgemm's packing scratch) get one each.
template <class Use>
float* thread_scratch(std::size_t floats) {
  thread_local std::vector<float, AlignedAllocator<float>> buf;
  if (buf.size() < floats) {
    buf.clear();
    buf.shrink_to_fit();
    buf.resize(floats);
  }
  return buf.data();
}
struct GemmPackingScratch {};
inline float* gemm_thread_scratch(std::size_t floats) { return thread_scratch<GemmPackingScratch>(floats); }

// C is the whole output matrix (row-major, ldc); element (m, j) is C[m * ldc + j], and this call
// writes rows [m0, m0+mc) x columns [j0, j0+nc) only. A.K is the product's K. scratch: at least
// gemm_scratch_floats(nc) floats, any alignment, owned by the calling thread.
inline void sgemm(const PackedA& A, std::int64_t m0, std::int64_t mc, const BPacker& B, std::int64_t j0,
                  std::int64_t nc, float* C, std::int64_t ldc, const Epilogue& epi, float* scratch) {
  assert(m0 >= 0 && mc >= 0 && m0 + mc <= A.M && j0 >= 0 && nc >= 0);
  if (mc <= 0 || nc <= 0) return;
  const std::int64_t K = A.K;
  const bool epi_pass = epi.bias != nullptr || epi.act != EpiAct::None;
  // K == 0 still runs one (empty) block: C = act(bias) or act(C + bias).
  for (std::int64_t k0 = 0; k0 < K || (K == 0 && k0 == 0); k0 += (K == 0 ? 1 : A.kb)) {
    const std::int64_t kc = K == 0 ? 0 : A.block_kc(k0);
    const float* bp = scratch;
    if (kc > 0) {
      if (const float* pre = B.packed(k0, kc, j0, nc))
        bp = pre;
      else
        B.pack(k0, kc, j0, nc, scratch);
    }
    const bool load_c = k0 > 0 || epi.accumulate;
    const bool last = k0 + kc >= K;
    for (std::int64_t i = 0; i < mc;) {
      const std::int64_t m = m0 + i;
      const int rows = static_cast<int>(std::min<std::int64_t>(kGemmMR - m % kGemmMR, mc - i));
      const float* ap = kc > 0 ? A.panel(k0, m) : nullptr;
      float* crow = C + m * ldc + j0;
      for (std::int64_t j = 0; j < nc; j += kGemmNR) {
        const int ncols = static_cast<int>(std::min<std::int64_t>(kGemmNR, nc - j));
        constexpr int W = kGemmNR / gemm_detail::kNV;
        const int nv = (ncols + W - 1) / W;
        if (j + 2 * kGemmNR <= nc)  // the next tile's C rows, with write intent, while this one computes
          for (int r = 0; r < rows; ++r) {
            __builtin_prefetch(crow + r * ldc + j + kGemmNR, 1, 3);
            __builtin_prefetch(crow + r * ldc + j + kGemmNR + 16, 1, 3);
          }
        gemm_detail::kKernels[static_cast<std::size_t>((rows - 1) * gemm_detail::kNV + (nv - 1))](
            kc, ap, bp + j * kc, crow + j, ldc, ncols, load_c);
        if (last && epi_pass)
          gemm_detail::epilogue_tile(crow + j, ldc, rows, ncols, epi.bias ? epi.bias + m : nullptr, epi.act,
                                     epi.slope);
      }
      i += rows;
    }
  }
}

}  // namespace yv9::ops
