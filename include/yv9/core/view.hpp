// SPDX-License-Identifier: MIT
// Non-owning NCHW views. Kernels read and write through views so that modules can place results
// straight into a channel slice of a larger buffer (zero-copy torch.cat / chunk):
//
//   batch item i, channel ch, row y, column x  ->  p[i*ns + (ch*h + y)*w + x]
//
// ns (the batch stride) is >= c*h*w; it is larger when the view is a channel slice of a wider tensor.
#pragma once
#include <cstdint>
#include <type_traits>

#include "tensor.hpp"
#include "threads.hpp"

namespace yv9 {

template <class T>
struct View {
  T* p = nullptr;
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  std::int64_t ns = 0;  // elements between consecutive batch items

  std::int64_t hw() const { return h * w; }
  T* item(std::int64_t i) const { return p + i * ns; }
  T* plane(std::int64_t i, std::int64_t ch) const { return p + i * ns + ch * h * w; }
  View channels(std::int64_t c0, std::int64_t cn) const { return View{p + c0 * h * w, n, cn, h, w, ns}; }
  operator View<const T>() const { return View<const T>{p, n, c, h, w, ns}; }
};

template <class T>
View<T> view(Tensor<T>& t) {
  return View<T>{t.data(), t.dim(0), t.dim(1), t.dim(2), t.dim(3), t.dim(1) * t.dim(2) * t.dim(3)};
}
template <class T>
View<const T> view(const Tensor<T>& t) {
  return View<const T>{t.data(), t.dim(0), t.dim(1), t.dim(2), t.dim(3), t.dim(1) * t.dim(2) * t.dim(3)};
}
template <class T>
View<const T> cview(const Tensor<T>& t) {
  return view(t);
}

// Minimum work per thread: multiply-accumulates for GEMM-shaped kernels (~5 us of one core),
// elements touched otherwise; times kStressedGrain while the pool is stressed.
inline constexpr std::int64_t kGrainMacs = std::int64_t(1) << 17;
inline constexpr std::int64_t kGrainElems = std::int64_t(1) << 17;
inline constexpr std::int64_t kStressedGrain = 16;

// Run-time knobs passed down every forward call. The network is the one owner of threads:
// kernels parallelise with parallel_for (core/threads.hpp) on up to ctx.threads threads and never nest.
struct Context {
  int threads = 1;

  // Threads worth waking for `work` units when one thread should get at least `grain` of them:
  // small layers run on one thread, since a fork/join costs more than they do. On a busy machine,
  // where a woken thread may wait milliseconds for a core, it costs much more: while the pool is
  // stressed (a recent region stalled on a descheduled partner) the grain is kStressedGrain
  // times larger.
  int threads_for(std::int64_t work, std::int64_t grain) const {
    if (threads > 1 && pool_stressed()) grain *= kStressedGrain;
    const std::int64_t t = grain > 0 ? work / grain : threads;
    return static_cast<int>(t < 1 ? 1 : (t > threads ? threads : t));
  }
};


}  // namespace yv9
