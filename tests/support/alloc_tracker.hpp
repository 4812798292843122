// SPDX-License-Identifier: MIT
// Counts live and peak heap bytes by replacing the global allocation functions. Include in exactly
// one translation unit of a test executable (replacement functions are program-wide).
// Big tensors and packed buffers do not come from the heap but from yv9's BlockCache (mapped
// blocks, core/memory.hpp): live_total() and peak_total() count both.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include <yv9/core/memory.hpp>

namespace yv9test {

inline std::atomic<long long>& live_bytes() {
  static std::atomic<long long> v{0};
  return v;
}
inline std::atomic<long long>& peak_bytes() {
  static std::atomic<long long> v{0};
  return v;
}
inline void reset_peak() {
  peak_bytes() = live_bytes().load();
  yv9::detail::BlockCache::instance().reset_peak();
}
// Heap and BlockCache together; the peak is the sum of the two peaks since reset_peak() (an upper
// bound of their joint peak).
inline long long live_total() {
  return live_bytes().load() + static_cast<long long>(yv9::detail::BlockCache::instance().live_bytes());
}
inline long long peak_total() {
  return peak_bytes().load() + static_cast<long long>(yv9::detail::BlockCache::instance().peak_bytes());
}

// Each block is preceded by a header at p - 64 holding its size and the pointer to free.
inline void* tracked_alloc(std::size_t n, std::size_t align) {
  if (align < 64) align = 64;
  char* raw = static_cast<char*>(std::aligned_alloc(align, (n + 2 * align - 1) / align * align));
  if (!raw) throw std::bad_alloc();
  char* p = raw + align;
  reinterpret_cast<std::size_t*>(p - 64)[0] = n;
  reinterpret_cast<char**>(p - 64)[1] = raw;
  const long long now = live_bytes() += static_cast<long long>(n);
  long long pk = peak_bytes().load();
  while (now > pk && !peak_bytes().compare_exchange_weak(pk, now)) {
  }
  return p;
}
inline void tracked_free(void* ptr) {
  if (!ptr) return;
  char* p = static_cast<char*>(ptr);
  live_bytes() -= static_cast<long long>(reinterpret_cast<std::size_t*>(p - 64)[0]);
  std::free(reinterpret_cast<char**>(p - 64)[1]);
}

}  // namespace yv9test

void* operator new(std::size_t n) { return yv9test::tracked_alloc(n, 64); }
void* operator new[](std::size_t n) { return yv9test::tracked_alloc(n, 64); }
void* operator new(std::size_t n, std::align_val_t a) { return yv9test::tracked_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return yv9test::tracked_alloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { yv9test::tracked_free(p); }
void operator delete[](void* p) noexcept { yv9test::tracked_free(p); }
void operator delete(void* p, std::size_t) noexcept { yv9test::tracked_free(p); }
void operator delete[](void* p, std::size_t) noexcept { yv9test::tracked_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { yv9test::tracked_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { yv9test::tracked_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { yv9test::tracked_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { yv9test::tracked_free(p); }
