// SPDX-License-Identifier: MIT
// Where big buffers come from: tensors and packed weights (AlignedAllocator) are 64-byte aligned;
// from 256 KiB up they are mapped straight from the system and recycled by BlockCache.
//
// Why: a forward pass frees and allocates the same buffers every time, and memory handed back to
// the system comes back as page faults, each page zeroed by the kernel: gelan-c at 320 took
// ~1,270 faults per forward through malloc, ~4% of its time on this project's (virtual)
// machines. Mapping big blocks ourselves keeps the cache's memory bound exact: what it evicts goes
// back to the system at once instead of into malloc's free lists.
//
// Only on Linux (mremap) and not under AddressSanitizer: there every buffer is a plain heap block,
// so that overflows and uses after free stay visible.
#pragma once
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
#define YV9_BLOCK_CACHE 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#undef YV9_BLOCK_CACHE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#undef YV9_BLOCK_CACHE
#endif
#endif

namespace yv9 {

inline constexpr std::size_t kTensorAlign = 64;

namespace detail {

// Freed blocks of kMinBytes and more wait here, their pages still mapped, for the next request:
//   - the smallest cached block at least as big serves it, its surplus tail staying cached;
//   - else the biggest smaller block grows to the size (mremap: only the new pages fault);
//   - else a new mapping.
// One bound keeps the peak: live + cached bytes never exceed the highest live total seen so far,
// so the cache never lifts a process's peak above what it had without it (a request that raises
// live evicts the oldest blocks until that holds again). Thread-safe and process-wide on purpose,
// like malloc's own arenas: no result can observe it.
class BlockCache {
 public:
  static constexpr std::size_t kMinBytes = 256 * 1024;
#ifdef YV9_BLOCK_CACHE
  static constexpr bool kEnabled = true;
#else
  static constexpr bool kEnabled = false;
#endif
  static BlockCache& instance() {
    static BlockCache* c = new BlockCache;  // never destroyed: buffers in static storage may outlive it
    return *c;
  }
  // The size a request of `bytes` occupies (whole pages when cached); take and give use it.
  static std::size_t rounded(std::size_t bytes) {
    if (bytes < kMinBytes || !kEnabled) return bytes;
    const std::size_t page = page_size();
    return (bytes + page - 1) / page * page;
  }

  // Storage for bytes (as rounded() returns them), aligned to kTensorAlign.
  void* take(std::size_t bytes) {
    if (!cached(bytes)) return ::operator new[](bytes, std::align_val_t(kTensorAlign));
#ifdef YV9_BLOCK_CACHE
    std::vector<Block> evicted;
    Block reuse{nullptr, 0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::size_t fit = free_.size(), below = free_.size();
      for (std::size_t i = 0; i < free_.size(); ++i) {
        const std::size_t b = free_[i].bytes;
        if (b >= bytes && (fit == free_.size() || b < free_[fit].bytes)) fit = i;
        if (b < bytes && (below == free_.size() || b > free_[below].bytes)) below = i;
      }
      const std::size_t pick = fit < free_.size() ? fit : below;
      if (pick < free_.size()) {
        reuse = free_[pick];
        cached_ -= reuse.bytes;
        if (reuse.bytes > bytes) {  // the surplus tail stays cached as a block of its own
          free_[pick] = {static_cast<char*>(reuse.p) + bytes, reuse.bytes - bytes};
          cached_ += reuse.bytes - bytes;
          reuse.bytes = bytes;
        } else {
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(pick));
        }
      }
      live_ += bytes;
      if (live_ > high_) high_ = live_;
      if (live_ > peak_) peak_ = live_;
      std::size_t n = 0;  // oldest first
      while (n < free_.size() && live_ + cached_ > high_) {
        cached_ -= free_[n].bytes;
        evicted.push_back(free_[n++]);
      }
      free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (const Block& b : evicted) ::munmap(b.p, b.bytes);
    void* p = MAP_FAILED;
    if (reuse.p && reuse.bytes == bytes) {
      p = reuse.p;
    } else if (reuse.p) {
      p = ::mremap(reuse.p, reuse.bytes, bytes, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) ::munmap(reuse.p, reuse.bytes);
    }
    if (p == MAP_FAILED) p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= bytes;
      throw std::bad_alloc();
    }
    return p;  // page-aligned, so kTensorAlign-aligned
#else
    return nullptr;  // not reached: cached() is false
#endif
  }

  void give(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (!cached(bytes)) return ::operator delete[](p, std::align_val_t(kTensorAlign));
#ifdef YV9_BLOCK_CACHE
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= bytes;  // live + cached stays what it was: under the mark
      cached_ += bytes;
      Block b{p, bytes};
      for (std::size_t i = 0; i < free_.size();) {  // merge with cached neighbours (splits of one mapping)
        char* const q = static_cast<char*>(free_[i].p);
        if (q + free_[i].bytes == b.p || static_cast<char*>(b.p) + b.bytes == q) {
          b = {std::min(static_cast<void*>(q), b.p), b.bytes + free_[i].bytes};
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          ++i;
        }
      }
      try {
        free_.push_back(b);
        return;
      } catch (...) {  // no room to remember it: unmap it instead
        cached_ -= b.bytes;
        p = b.p;
        bytes = b.bytes;
      }
    }
    ::munmap(p, bytes);
#endif
  }

  // Unmaps every cached block; the bound starts over from what is live.
  void trim() noexcept {
#ifdef YV9_BLOCK_CACHE
    std::vector<Block> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cached_ = 0;
      high_ = live_;
    }
    for (const Block& b : blocks) ::munmap(b.p, b.bytes);
#endif
  }

  // For measurements (tests, benchmarks): bytes of big blocks in use, cached, and the most in use
  // at once since reset_peak() (the bound's own mark is not touched).
  std::size_t live_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return live_;
  }
  std::size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  std::size_t peak_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mu_);
    peak_ = live_;
  }

 private:
  // Splits and merges happen at page boundaries: the system's page (4 KiB on x86, up to 64 KiB on
  // arm64 kernels), read once.
  static std::size_t page_size() {
#ifdef YV9_BLOCK_CACHE
    static const std::size_t page = [] {
      const long p = ::sysconf(_SC_PAGESIZE);
      return p >= 4096 && p <= (1l << 24) && (p & (p - 1)) == 0 ? static_cast<std::size_t>(p) : std::size_t(4096);
    }();
    return page;
#else
    return 4096;
#endif
  }
  static bool cached(std::size_t bytes) { return kEnabled && bytes >= kMinBytes; }
  struct Block {
    void* p;
    std::size_t bytes;
  };

  std::mutex mu_;
  std::vector<Block> free_;  // oldest first
  std::size_t live_ = 0, cached_ = 0, peak_ = 0;
  [[maybe_unused]] std::size_t high_ = 0;  // the bound's mark (unused where caching is off)
};

}  // namespace detail

// Hands the cached blocks back to the system (an embedder done with a model, say). Blocks in use
// are not touched; later requests map afresh.
inline void release_cached_memory() { detail::BlockCache::instance().trim(); }

// 64-byte aligned storage through BlockCache, for std::vector (packed weights and scratch).
template <class T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = kTensorAlign;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(detail::BlockCache::instance().take(detail::BlockCache::rounded(n * sizeof(T))));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    detail::BlockCache::instance().give(p, detail::BlockCache::rounded(n * sizeof(T)));
  }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace yv9
