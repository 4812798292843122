// SPDX-License-Identifier: MIT
// Tensor<T>: a dense, row-major (C-order) array of rank 0..4 with a runtime shape, owning a
// 64-byte aligned buffer. Images and feature maps are NCHW:
//
//   index(n, c, h, w) = ((n * C + c) * H + h) * W + w
//
// Tensors are move-only (copies are explicit via clone()) so that a stray copy of a 100 MB
// feature map cannot hide in a hot path. T is float in production; double works everywhere and
// serves as the precision reference in tests.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "error.hpp"
#include "memory.hpp"

namespace yv9 {

inline constexpr int kMaxRank = 4;
// No single tensor may exceed this many elements (16 GiB of float). Files that claim more are
// refused before anything is allocated; see io/ readers for tighter, configurable limits.
inline constexpr std::int64_t kMaxTensorElements = std::int64_t(1) << 32;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) {
    if (dims.size() > kMaxRank) throw Error("Shape: rank > 4 is not supported");
    for (std::int64_t d : dims) push(d);
  }
  static Shape from_vector(const std::vector<std::int64_t>& dims) {
    if (dims.size() > kMaxRank) throw Error("Shape: rank " + std::to_string(dims.size()) + " > 4 is not supported");
    Shape s;
    for (std::int64_t d : dims) s.push(d);
    return s;
  }
  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return d_[i]; }
  std::int64_t& operator[](int i) { return d_[i]; }
  // Element count; throws if any dim is negative or the product exceeds kMaxTensorElements.
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) {
      if (d_[i] < 0) throw Error("Shape " + str() + ": negative dimension");
      if (d_[i] != 0 && n > kMaxTensorElements / d_[i]) throw LimitError("Shape " + str() + ": more than 2^32 elements");
      n *= d_[i];
    }
    return n;
  }
  std::vector<std::int64_t> to_vector() const { return std::vector<std::int64_t>(d_.begin(), d_.begin() + rank_); }
  std::string str() const;
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.d_[i] != b.d_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  void push(std::int64_t d) { d_[rank_++] = d; }
  std::array<std::int64_t, kMaxRank> d_{};

  int rank_ = 0;
};

// "[d0,d1,...]": how every message prints a shape (weight shapes may have rank > 4).
inline std::string shape_str(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}
inline std::string Shape::str() const { return shape_str(to_vector()); }

namespace detail {
struct AlignedFree {
  std::size_t bytes = 0;  // as BlockCache::rounded
  void operator()(void* p) const { BlockCache::instance().give(p, bytes); }
};
}  // namespace detail

template <class T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;
  // Uninitialised storage of the given shape (kernels overwrite every element).
  explicit Tensor(const Shape& shape) : shape_(shape), size_(shape.numel()) {
    if (size_ > 0) {  // storage from BlockCache (core/memory.hpp): big blocks are recycled
      const std::size_t bytes = detail::BlockCache::rounded(static_cast<std::size_t>(size_) * sizeof(T));
      data_ = std::unique_ptr<void, detail::AlignedFree>(detail::BlockCache::instance().take(bytes),
                                                         detail::AlignedFree{bytes});
    }
  }
  static Tensor zeros(const Shape& shape) {
    Tensor t(shape);
    t.fill(T(0));
    return t;
  }
  static Tensor from(const Shape& shape, const std::vector<T>& values) {
    Tensor t(shape);
    if (static_cast<std::int64_t>(values.size()) != t.size())
      throw Error("Tensor::from: " + std::to_string(values.size()) + " values for shape " + shape.str());
    if (t.size()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
    return t;
  }

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  Tensor clone() const {
    Tensor t(shape_);
    if (size_) std::memcpy(t.data(), data(), static_cast<std::size_t>(size_) * sizeof(T));
    return t;
  }
  template <class U>
  Tensor<U> cast() const {
    Tensor<U> t(shape_);
    for (std::int64_t i = 0; i < size_; ++i) t.data()[i] = static_cast<U>(data()[i]);
    return t;
  }
  // Same buffer, new shape with the same element count (PyTorch's .view on contiguous memory).
  Tensor reshaped(const Shape& s) && {
    if (s.numel() != size_) throw Error("reshape " + shape_.str() + " -> " + s.str() + ": element count differs");
    shape_ = s;
    return std::move(*this);
  }

  void fill(T v) {
    T* p = data();
    for (std::int64_t i = 0; i < size_; ++i) p[i] = v;
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t bytes() const { return static_cast<std::size_t>(size_) * sizeof(T); }
  T* data() { return static_cast<T*>(data_.get()); }
  const T* data() const { return static_cast<const T*>(data_.get()); }
  T& operator[](std::int64_t i) { return data()[i]; }
  const T& operator[](std::int64_t i) const { return data()[i]; }

  // NCHW accessors (rank 4).
  std::int64_t n() const { return shape_[0]; }
  std::int64_t c() const { return shape_[1]; }
  std::int64_t h() const { return shape_[2]; }
  std::int64_t w() const { return shape_[3]; }
  T* plane(std::int64_t n, std::int64_t c) { return data() + (n * shape_[1] + c) * shape_[2] * shape_[3]; }
  const T* plane(std::int64_t n, std::int64_t c) const {
    return data() + (n * shape_[1] + c) * shape_[2] * shape_[3];
  }
  T& at(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
    return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }
  const T& at(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) const {
    return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }

 private:
  Shape shape_;
  std::int64_t size_ = 0;
  std::unique_ptr<void, detail::AlignedFree> data_;
};

}  // namespace yv9
