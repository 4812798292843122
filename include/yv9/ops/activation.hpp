// SPDX-License-Identifier: MIT
// Element-wise activations, applied in conv epilogues and standalone.
#pragma once
#include <cmath>
#include <string>

#include "../core/error.hpp"

namespace yv9::ops {

enum class ActKind { Identity, SiLU, ReLU, ReLU6, LeakyReLU, Sigmoid, Hardswish };

struct Activation {
  ActKind kind = ActKind::Identity;
  double slope = 0.01;  // LeakyReLU negative slope

  template <class T>
  T operator()(T x) const {
    switch (kind) {
      case ActKind::Identity: return x;
      case ActKind::SiLU: return x / (T(1) + std::exp(-x));
      case ActKind::ReLU: return x > T(0) ? x : T(0);
      case ActKind::ReLU6: return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
      case ActKind::LeakyReLU: return x > T(0) ? x : x * T(slope);
      case ActKind::Sigmoid: return T(1) / (T(1) + std::exp(-x));
      case ActKind::Hardswish: {
        T r = x + T(3);
        r = r < T(0) ? T(0) : (r > T(6) ? T(6) : r);
        return x * r / T(6);
      }
    }
    return x;
  }
  template <class T>
  void apply(T* p, std::int64_t n) const {
    if (kind == ActKind::Identity) return;
    for (std::int64_t i = 0; i < n; ++i) p[i] = (*this)(p[i]);
  }
  std::string str() const {
    switch (kind) {
      case ActKind::Identity: return "Identity";
      case ActKind::SiLU: return "SiLU";
      case ActKind::ReLU: return "ReLU";
      case ActKind::ReLU6: return "ReLU6";
      case ActKind::LeakyReLU: return "LeakyReLU(" + std::to_string(slope) + ")";
      case ActKind::Sigmoid: return "Sigmoid";
      case ActKind::Hardswish: return "Hardswish";
    }
    return "?";
  }
};

}  // namespace yv9::ops
