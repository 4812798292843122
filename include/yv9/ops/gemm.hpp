// SPDX-License-Identifier: MIT
// The one matrix product every heavy kernel funnels into (conv as GEMM, attention tiles):
//
//   C[M x N] (+)= A[M x K] * B[K x N]      all row-major, leading dimensions lda/ldb/ldc
//
// Single-threaded by contract: callers parallelise over independent tiles, so results never
// depend on the thread count.
#pragma once
#include <cstdint>

// One owner of threads: yv9 parallelises over tiles itself. Eigen's GEMM parallelises on its own
// only in programs compiled with OpenMP, and then results would depend on the thread count; such a
// program should define EIGEN_DONT_PARALLELIZE in all of its translation units (we cannot define
// it here: Eigen compiled two ways in one program breaks the one-definition rule).
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
