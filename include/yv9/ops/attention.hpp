// SPDX-License-Identifier: MIT
// Multi-query attention in tiles with an online softmax: the [rows x Lk] score matrix is never
// materialised (at 640x640 the seed model's first MQA would need 8 x 25,600^2 floats = 21 GB).
//
//   Q [rows x d]   row-major (all heads stacked: rows = heads * Lq; MQA shares K and V)
//   K [d x Lk]     row-major (k's NCHW buffer as is)
//   V [Lk x d]     row-major (v's NCHW buffer *reinterpreted*, as the seed's view does)
//   O [rows x d] = softmax(scale * Q K) V
//
// Each block of kRowBlock query rows is owned by one thread and walks the keys in kColBlock
// chunks in a fixed order, so results do not depend on the thread count. Scratch per thread:
// kRowBlock x (kColBlock + d + 2) values.
//
// O may be Q itself: a row block reads its rows of Q before it writes the same rows of O, and no
// other block reads them (the seed model at 640 saves a 39 MB buffer this way).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/threads.hpp"
#include "../core/view.hpp"
#include "bf16.hpp"
#include "gemm.hpp"
#include "sgemm.hpp"
#include "vexp.hpp"

namespace yv9::ops {

inline constexpr std::int64_t kAttnRowBlock = 64;
inline constexpr std::int64_t kAttnColBlock = 256;

// ---- float: transposed formulation on sgemm -------------------------------------------------
//
// Per block of Br query rows (Br = a multiple of the GEMM's NR) and per block of <= 256 keys:
//
//   S^T [keys x Br] = K^T_blk [keys x d] * (c * Q_blk)^T [d x Br]     written panel by panel:
//        each NR-query panel of S^T is exactly sgemm's packed-B layout [keys][NR]
//   online softmax down the keys, one query per SIMD lane (no transposes, no horizontal sums),
//        in base 2: c = scale * log2(e), so exp(scale * q.k - m) = 2^(S - m'), and 2^x costs
//        11 vector instructions where exp costs 15 (ops/vexp.hpp); m is a lazy reference, not the
//        running maximum (softmax_update), so most key blocks take one pass over their scores
//   O^T [d x Br] (+)= V^T_blk [d x keys] * P^T [keys x Br]               P^T written as packed B
//
// K^T and V^T blocks are packed once per call (O(Lk * d)); O = O^T / l transposed at the end.

namespace attn_detail {

inline constexpr std::int64_t kRows = std::int64_t(kGemmNR) * (96 / kGemmNR > 0 ? 96 / kGemmNR : 1);  // 96
inline constexpr std::int64_t kKeys = kGemmKC;  // one K block per P^T GEMM

// B packer over an already packed buffer (the scaled Q^T panels of a row block).
struct PrepackedB final : BPacker {
  const float* panels = nullptr;  // [ceil(Br/NR)][d][NR]
  std::int64_t d = 0;
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, float* dst) const override {
    for (std::int64_t p = 0; p * kGemmNR < nc; ++p)
      std::memcpy(dst + p * kc * kGemmNR, panels + ((j0 / kGemmNR + p) * d + k0) * kGemmNR,
                  sizeof(float) * static_cast<std::size_t>(kc * kGemmNR));
  }
};

// sgemm's B is already in its scratch (P^T written there by the softmax): nothing to pack.
struct InPlaceB final : BPacker {
  void pack(std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*) const override {}
};

// The online softmax over one NR-lane panel of S^T [keys][NR] (scores in base 2, one query per
// lane), as FlashAttention's but with a lazy reference m per lane instead of the running maximum:
//
//   m   the first key block's maximum: P = 2^(S - m) <= 1 there, so l >= 1 from then on
//   later key blocks reuse m without looking for their maximum: P = 2^(S - m) and its sum in
//       one pass. Only where a lane's sum exceeds kSumLimit (a key block far above the first)
//       is the maximum taken, m raised to it and the panel's exps redone; corr = 2^(m_old - m_new)
//       there, exactly 1 everywhere else (and the caller skips rescaling O for a row block whose
//       corr is all 1)
//
// The result is the softmax's: every term keeps fp32's relative precision whatever the common
// factor 2^-m, and P <= kSumLimit bounds l and O^T at 2^16 times their size with the running
// maximum. It saves the maximum's pass over the scores on most key blocks (a fifth of the
// softmax's time, which is ~13% of the attention's in fp32 and more in bf16).
//
// softmax_update does the bookkeeping; the pass that writes P (fp32 panel, or bf16 pairs) is the
// caller's, and must sum each lane in key order, so the fp32 and the bf16 paths agree bit for bit.
inline constexpr float kSumLimit = 65536.0f;

// mx[j] = max over the keys of s[k][j] (NaN scores ignored), starting from -inf.
inline void panel_max(const float* s, std::int64_t keys, float* mx) {
  for (int j = 0; j < kGemmNR; ++j) mx[j] = -std::numeric_limits<float>::infinity();
  for (std::int64_t k = 0; k < keys; ++k)
    for (int j = 0; j < kGemmNR; ++j) mx[j] = s[k * kGemmNR + j] > mx[j] ? s[k * kGemmNR + j] : mx[j];
}

// exp_pass(mref, sum): P = 2^(S - mref) written where the caller keeps it, sum[j] per lane.
template <class ExpPass>
void softmax_update(const float* s, std::int64_t keys, float* m, float* l, float* corr, ExpPass&& exp_pass) {
  float mn[kGemmNR], sum[kGemmNR], mx[kGemmNR];
  bool flagged[kGemmNR];
  // flags the lanes where pred(j) holds; whether there are any
  const auto flag = [&](auto pred) {
    bool any = false;
    for (int j = 0; j < kGemmNR; ++j) any |= (flagged[j] = pred(j));
    return any;
  };
  // flagged lanes raised to the maximum of mn and this block's scores
  const auto raise = [&] {
    panel_max(s, keys, mx);
    for (int j = 0; j < kGemmNR; ++j)
      if (flagged[j] && mx[j] > mn[j]) mn[j] = mx[j];
  };
  std::copy(m, m + kGemmNR, mn);
  // the first key block (or no finite score yet): the reference is this block's maximum
  const bool first = flag([&](int j) { return !(m[j] > -std::numeric_limits<float>::infinity()); });
  if (first) raise();
  exp_pass(mn, sum);
  if (!first && flag([&](int j) { return !(sum[j] <= kSumLimit); })) {  // far above m, or not finite
    raise();
    exp_pass(mn, sum);  // unflagged lanes get the same values again
  }
  for (int j = 0; j < kGemmNR; ++j) {
    corr[j] = mn[j] == m[j] ? 1.0f : vmath::exp2_scalar(m[j] - mn[j]);  // 2^-inf = 0 on the first block
    l[j] = l[j] * corr[j] + sum[j];
    m[j] = mn[j];
  }
}

// The fp32 pass: p (same layout as s) = 2^(s - mref), sum per lane in key order.
inline void exp_panel(const float* s, std::int64_t keys, const float* mref, float* p, float* sum) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#if defined(__AVX512F__)
  constexpr int W = 16;
  using V = __m512;
  auto load = [](const float* q) { return _mm512_loadu_ps(q); };
  auto store = [](float* q, V v) { _mm512_storeu_ps(q, v); };
  auto sub = [](V a, V b) { return _mm512_sub_ps(a, b); };
  auto add = [](V a, V b) { return _mm512_add_ps(a, b); };
  auto ex = [](V v) { return vmath::exp2_16(v); };
  auto zero = [] { return _mm512_setzero_ps(); };
#else
  constexpr int W = 8;
  using V = __m256;
  auto load = [](const float* q) { return _mm256_loadu_ps(q); };
  auto store = [](float* q, V v) { _mm256_storeu_ps(q, v); };
  auto sub = [](V a, V b) { return _mm256_sub_ps(a, b); };
  auto add = [](V a, V b) { return _mm256_add_ps(a, b); };
  auto ex = [](V v) { return vmath::exp2_8(v); };
  auto zero = [] { return _mm256_setzero_ps(); };
#endif
  constexpr int NV = kGemmNR / W;
  V vm[NV], acc[NV];
  for (int v = 0; v < NV; ++v) {
    vm[v] = load(mref + v * W);
    acc[v] = zero();
  }
  for (std::int64_t k = 0; k < keys; ++k)
    for (int v = 0; v < NV; ++v) {
      const V e = ex(sub(load(s + k * kGemmNR + v * W), vm[v]));
      store(p + k * kGemmNR + v * W, e);
      acc[v] = add(acc[v], e);
    }
  for (int v = 0; v < NV; ++v) store(sum + v * W, acc[v]);
#else
  for (int j = 0; j < kGemmNR; ++j) sum[j] = 0.0f;
  for (std::int64_t k = 0; k < keys; ++k)
    for (int j = 0; j < kGemmNR; ++j) {
      const float e = vmath::exp2_scalar(s[k * kGemmNR + j] - mref[j]);
      p[k * kGemmNR + j] = e;
      sum[j] += e;
    }
#endif
}

// One panel's softmax update with P^T in fp32 at p (sgemm's packed-B layout, as s).
inline void softmax_panel(const float* s, std::int64_t keys, float* m, float* l, float* corr, float* p) {
  softmax_update(s, keys, m, l, corr, [&](const float* mref, float* sum) { exp_panel(s, keys, mref, p, sum); });
}

#if defined(__AVX512F__) && YV9_BF16_NATIVE
static_assert(kGemmNR == kBfNR, "an S^T panel is one bf16 panel");
// softmax_panel for the native bf16 path: P goes straight into bf16 pairs (sgemm_bf16's packed-B
// panel: ceil(keys / 2) rows of 32 words, an odd last key paired with 0) instead of fp32.
// The same exps, the same sum order and the same rounding as softmax_panel followed by convert_b,
// so the scalar twin (which takes that way) stays bit-identical.
YV9_BF16_TARGET inline void exp_panel_bf16(const float* s, std::int64_t keys, const float* mref, std::uint32_t* p16,
                                           float* sum) {
  for (int j0 = 0; j0 < kGemmNR; j0 += 16) {
    const __m512 vm = _mm512_loadu_ps(mref + j0);
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < keys; k += 2) {
      const __m512 e0 = vmath::exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s + k * kGemmNR + j0), vm));
      acc = _mm512_add_ps(acc, e0);
      __m512 e1 = _mm512_setzero_ps();
      if (k + 1 < keys) {
        e1 = vmath::exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s + (k + 1) * kGemmNR + j0), vm));
        acc = _mm512_add_ps(acc, e1);
      }
      _mm512_storeu_si512(p16 + (k / 2) * kBfNR + j0, bf16_detail::pair_rows16(e0, e1));
    }
    _mm512_storeu_ps(sum + j0, acc);
  }
}
YV9_BF16_TARGET inline void softmax_panel_bf16(const float* s, std::int64_t keys, float* m, float* l, float* corr,
                                               std::uint32_t* p16) {
  softmax_update(s, keys, m, l, corr, [&](const float* mref, float* sum) { exp_panel_bf16(s, keys, mref, p16, sum); });
}

// P^T already in bf16 panels (softmax_panel_bf16): sgemm_bf16 reads it where it lies.
struct Bf16PanelB final : BPacker {
  const std::uint32_t* p16 = nullptr;
  void pack(std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*) const override {}
  const std::uint32_t* packed16(std::int64_t, std::int64_t, std::int64_t j0, std::int64_t) const override {
    assert(j0 == 0);
    (void)j0;
    return p16;
  }
};
inline constexpr bool kFusedBf16Softmax = true;
#else
inline constexpr bool kFusedBf16Softmax = false;
#endif

}  // namespace attn_detail

// K^T and V^T packed per block of keys: what every query row block streams. Made before the
// queries exist, so that K and V can be freed first (the seed model at 640: Q alone is 39 MB).
//
// bf16 (AttnPrecision::Bf16, the model's Precision::Bf16): both products run on sgemm_bf16, with K^T
// and V^T rounded once here, the scaled Q^T and P^T rounded as each GEMM packs its B. Scores, the
// online softmax and O stay fp32. Emulated runs the scalar twin (tests).
enum class AttnPrecision { Fp32, Bf16, Bf16Emulated };

struct PackedKV {
  std::int64_t Lk = 0, d = 0;
  AttnPrecision precision = AttnPrecision::Fp32;
  std::vector<PackedA> kt, vt;        // fp32
  std::vector<PackedA16> kt16, vt16;  // bf16
};

inline PackedKV pack_kv(const float* K, const float* V, std::int64_t Lk, std::int64_t d, const Context& ctx,
                        AttnPrecision precision = AttnPrecision::Fp32) {
  using namespace attn_detail;
  PackedKV kv;
  kv.Lk = Lk;
  kv.d = d;
  kv.precision = precision;
  const bool b16 = precision != AttnPrecision::Fp32;
  const std::int64_t kblocks = (Lk + kKeys - 1) / kKeys;
  if (b16) {
    kv.kt16.resize(static_cast<std::size_t>(kblocks));
    kv.vt16.resize(static_cast<std::size_t>(kblocks));
  } else {
    kv.kt.resize(static_cast<std::size_t>(kblocks));
    kv.vt.resize(static_cast<std::size_t>(kblocks));
  }
  parallel_for_each(ctx.threads, kblocks, [&](std::int64_t b) {
    const std::int64_t c0 = b * kKeys, nk = std::min(kKeys, Lk - c0);
    const std::size_t i = static_cast<std::size_t>(b);
    // K^T: A[key][dim] = K[dim][key]; V^T: A[dim][key] = V[key][dim]
    if (b16) {
      pack_a16_strided(kv.kt16[i], K + c0, nk, d, 1, Lk);
      pack_a16_strided(kv.vt16[i], V + c0 * d, d, nk, 1, d);
    } else {
      pack_a_strided(kv.kt[i], K + c0, nk, d, 1, Lk);
      pack_a_strided(kv.vt[i], V + c0 * d, d, nk, 1, d);
    }
  });
  return kv;
}

inline void attention_packed(const float* Q, std::int64_t rows, const PackedKV& kv, float scale, float* O,
                             const Context& ctx) {
  using namespace attn_detail;
  const std::int64_t Lk = kv.Lk, d = kv.d;
  const std::int64_t kblocks = (Lk + kKeys - 1) / kKeys, rblocks = (rows + kRows - 1) / kRows;
  const std::vector<PackedA>& kt = kv.kt;
  const std::vector<PackedA>& vt = kv.vt;
  const std::int64_t npanels = kRows / kGemmNR;
  const bool b16 = kv.precision != AttnPrecision::Fp32, emulate = kv.precision == AttnPrecision::Bf16Emulated;
  const bool fused = kFusedBf16Softmax && kv.precision == AttnPrecision::Bf16;  // P^T written in bf16 directly
  const float c = scale * vmath::kLog2e;
  parallel_for(ctx.threads, rblocks, [&](Jobs& q) {
    std::vector<float> qpanels(static_cast<std::size_t>(npanels * d * kGemmNR));
    std::vector<float> st(static_cast<std::size_t>(npanels * kKeys * kGemmNR));  // S^T panels
    std::vector<float> pt(fused ? 0 : st.size());                               // P^T panels (fp32)
    std::vector<float> scratch(gemm_scratch_floats(kGemmNR));
    std::vector<float> ot(static_cast<std::size_t>(d * kRows)), m(kRows), l(kRows), corr(kRows);
    std::vector<std::uint32_t> p16(fused ? static_cast<std::size_t>(npanels * PackedA16::pairs(kKeys) * kBfNR) : 0);
    for (std::int64_t rb; q.next(rb);) {
      const std::int64_t r0 = rb * kRows, nr = std::min(kRows, rows - r0);
      // (c * Q_blk)^T as packed-B panels [panel][d][NR], zero beyond the last row (c: scores in base 2)
      for (std::int64_t p = 0; p < npanels; ++p)
        for (std::int64_t k = 0; k < d; ++k)
          for (std::int64_t j = 0; j < kGemmNR; ++j) {
            const std::int64_t r = p * kGemmNR + j;
            qpanels[static_cast<std::size_t>((p * d + k) * kGemmNR + j)] = r < nr ? c * Q[(r0 + r) * d + k] : 0.0f;
          }
      PrepackedB qb;
      qb.panels = qpanels.data();
      qb.d = d;
      std::fill(ot.begin(), ot.end(), 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      const std::int64_t used_panels = (nr + kGemmNR - 1) / kGemmNR;
      for (std::int64_t b = 0; b < kblocks; ++b) {
        const std::int64_t nk = std::min(kKeys, Lk - b * kKeys);
        for (std::int64_t p = 0; p < used_panels; ++p) {
          float* sp = st.data() + p * nk * kGemmNR;
          if (b16)
            sgemm_bf16(kv.kt16[static_cast<std::size_t>(b)], 0, nk, qb, p * kGemmNR, kGemmNR, sp - p * kGemmNR,
                       kGemmNR, Epilogue{}, scratch.data(), emulate);
          else
            sgemm(kt[static_cast<std::size_t>(b)], 0, nk, qb, p * kGemmNR, kGemmNR, sp - p * kGemmNR, kGemmNR,
                  Epilogue{}, scratch.data());
#if defined(__AVX512F__) && YV9_BF16_NATIVE
          if (fused)
            softmax_panel_bf16(sp, nk, m.data() + p * kGemmNR, l.data() + p * kGemmNR, corr.data() + p * kGemmNR,
                               p16.data() + p * PackedA16::pairs(nk) * kBfNR);
          else
#endif
            softmax_panel(sp, nk, m.data() + p * kGemmNR, l.data() + p * kGemmNR, corr.data() + p * kGemmNR,
                          pt.data() + p * nk * kGemmNR);
        }
        // O^T *= corr, unless every corr is 1 (the reference m stayed) or O^T is still 0
        const std::int64_t used = used_panels * kGemmNR;
        if (b > 0 && std::any_of(corr.begin(), corr.begin() + used, [](float x) { return x != 1.0f; }))
          for (std::int64_t k = 0; k < d; ++k) {
            float* row = ot.data() + k * kRows;
            for (std::int64_t j = 0; j < used; ++j) row[j] *= corr[static_cast<std::size_t>(j)];
          }
        Epilogue acc;
        acc.accumulate = true;
        if (b16) {
          // fused: P^T is in p16 already; otherwise InPlaceB packs nothing and sgemm_bf16 converts
          // P^T from pt, where it lies in packed layout
#if defined(__AVX512F__) && YV9_BF16_NATIVE
          Bf16PanelB pb;
          pb.p16 = p16.data();
          if (fused)
            sgemm_bf16(kv.vt16[static_cast<std::size_t>(b)], 0, d, pb, 0, nr, ot.data(), kRows, acc, st.data());
          else
#endif
            sgemm_bf16(kv.vt16[static_cast<std::size_t>(b)], 0, d, InPlaceB{}, 0, nr, ot.data(), kRows, acc,
                       pt.data(), emulate);
        } else {
          sgemm(vt[static_cast<std::size_t>(b)], 0, d, InPlaceB{}, 0, nr, ot.data(), kRows, acc, pt.data());
        }
      }
      for (std::int64_t j = 0; j < nr; ++j) {
        const float inv = 1.0f / l[static_cast<std::size_t>(j)];
        for (std::int64_t k = 0; k < d; ++k) O[(r0 + j) * d + k] = ot[static_cast<std::size_t>(k * kRows + j)] * inv;
      }
    }
  });
}

inline void attention_sgemm(const float* Q, std::int64_t rows, const float* K, const float* V, std::int64_t Lk,
                            std::int64_t d, float scale, float* O, const Context& ctx,
                            AttnPrecision precision = AttnPrecision::Fp32) {
  attention_packed(Q, rows, pack_kv(K, V, Lk, d, ctx, precision), scale, O, ctx);
}

// Heap bytes attention_tiled<T> holds at most for one call (an upper bound; tested).
template <class T>
std::size_t attention_scratch_bytes(std::int64_t d, std::int64_t Lk, int threads) {
  if constexpr (std::is_same_v<T, float>) {
    using namespace attn_detail;
    const std::int64_t kblocks = (Lk + kKeys - 1) / kKeys;
    const std::int64_t dpad = (d + kGemmMR - 1) / kGemmMR * kGemmMR, lkpad = Lk + kblocks * kGemmMR;
    const std::int64_t shared = lkpad * d + dpad * Lk;  // K^T, V^T packed
    const std::int64_t per_thread = kRows * d + 2 * kRows * kKeys + static_cast<std::int64_t>(gemm_scratch_floats(kGemmNR)) +
                                    d * kRows + 3 * kRows;
    return static_cast<std::size_t>(shared + threads * per_thread) * sizeof(float);
  } else {
    (void)Lk;
    return static_cast<std::size_t>(threads) * kAttnRowBlock * (kAttnColBlock + d + 2) * sizeof(T);
  }
}

template <class T>
void attention_tiled(const T* Q, std::int64_t rows, const T* K, const T* V, std::int64_t Lk, std::int64_t d, T scale,
                     T* O, const Context& ctx) {
  if constexpr (std::is_same_v<T, float>) return attention_sgemm(Q, rows, K, V, Lk, d, scale, O, ctx);
  const std::int64_t blocks = (rows + kAttnRowBlock - 1) / kAttnRowBlock;
  parallel_for(ctx.threads, blocks, [&](Jobs& q) {
    std::vector<T> S(static_cast<std::size_t>(kAttnRowBlock * kAttnColBlock));
    std::vector<T> acc(static_cast<std::size_t>(kAttnRowBlock * d));
    std::vector<T> m(kAttnRowBlock), l(kAttnRowBlock);
    for (std::int64_t blk; q.next(blk);) {
      const std::int64_t r0 = blk * kAttnRowBlock, nr = std::min(kAttnRowBlock, rows - r0);
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
      std::fill(l.begin(), l.end(), T(0));
      for (std::int64_t c0 = 0; c0 < Lk; c0 += kAttnColBlock) {
        const std::int64_t nc = std::min(kAttnColBlock, Lk - c0);
        gemm<T>(nr, nc, d, Q + r0 * d, d, K + c0, Lk, S.data(), nc);
        for (std::int64_t r = 0; r < nr; ++r) {
          T* s = S.data() + r * nc;
          T mx = m[r];
          for (std::int64_t j = 0; j < nc; ++j) {
            s[j] *= scale;
            mx = std::max(mx, s[j]);
          }
          const T corr = std::exp(m[r] - mx);  // exp(-inf) = 0 on the first block
          T sum = 0;
          for (std::int64_t j = 0; j < nc; ++j) {
            s[j] = std::exp(s[j] - mx);
            sum += s[j];
          }
          l[r] = l[r] * corr + sum;
          m[r] = mx;
          T* a = acc.data() + r * d;
          for (std::int64_t k = 0; k < d; ++k) a[k] *= corr;
        }
        gemm<T>(nr, d, nc, S.data(), nc, V + c0 * d, d, acc.data(), d, /*accumulate=*/true);
      }
      for (std::int64_t r = 0; r < nr; ++r) {
        const T inv = T(1) / l[r];
        for (std::int64_t k = 0; k < d; ++k) O[(r0 + r) * d + k] = acc[r * d + k] * inv;
      }
    }
  });
}

}  // namespace yv9::ops
