// SPDX-License-Identifier: MIT
// Thread-count resolution: 0 means "all cores OpenMP reports".
#pragma once
#ifdef _OPENMP
#include <omp.h>
#endif

namespace yv9 {

inline int hardware_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

inline int resolve_threads(int requested) {
#ifdef _OPENMP
  return requested > 0 ? requested : omp_get_num_procs();
#else
  (void)requested;
  return 1;
#endif
}

// Inside a parallel region: this thread's index and the team's size (0 and 1 without OpenMP).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace yv9
