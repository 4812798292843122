// SPDX-License-Identifier: MIT
// The one matrix product every heavy kernel funnels into (conv as GEMM, attention tiles):
//
//   C[M x N] (+)= A[M x K] * B[K x N]      all row-major, leading dimensions lda/ldb/ldc
//
// Single-threaded by contract: callers parallelise over independent tiles, so results never
// depend on the thread count.
#pragma once
#include <cstdint>

// One owner of threads: yv9 parallelises over tiles itself, so Eigen's own OpenMP GEMM must stay
// off (it would split products by the thread count and change rounding between 1 and N threads).
// The CMake target defines this; the fallback covers builds that include us first without it.
#if !defined(EIGEN_DONT_PARALLELIZE) && !defined(EIGEN_CORE_H)
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>
#if defined(EIGEN_HAS_OPENMP)
#pragma message("yv9: Eigen was included with OpenMP parallel products enabled; define EIGEN_DONT_PARALLELIZE so results do not depend on the thread count")
#endif

namespace yv9::ops {

template <class T>
void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda, const T* B,
          std::int64_t ldb, T* C, std::int64_t ldc, bool accumulate = false) {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  Eigen::Map<const RowMat, Eigen::Unaligned, Stride> a(A, M, K, Stride(lda));
  Eigen::Map<const RowMat, Eigen::Unaligned, Stride> b(B, K, N, Stride(ldb));
  Eigen::Map<RowMat, Eigen::Unaligned, Stride> c(C, M, N, Stride(ldc));
  if (accumulate)
    c.noalias() += a * b;
  else
    c.noalias() = a * b;
}

}  // namespace yv9::ops
