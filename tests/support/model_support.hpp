// SPDX-License-Identifier: MIT
// Helpers for tests that run whole models: .pt -> weight file through the library itself (no
// Python), prediction comparisons split into box rows (px) and score rows.
#pragma once
#include <yv9/convert.hpp>
#include <yv9/io/checkpoint.hpp>
#include <yv9/io/json.hpp>
#include <yv9/io/npy.hpp>
#include <yv9/io/weightfile.hpp>
#include <yv9/io/yaml.hpp>
#include <yv9/model/loader.hpp>

#include "support.hpp"

namespace yv9test {

// Converts a checkpoint exactly as pt2bin does (config from `config_path` if given; floating
// tensors stored as `dtype`; loaded once as a model when there is a config) and returns the file.
inline yv9::io::WeightFile weights_from_pt(const std::string& pt, const std::string& config_path = "",
                                           yv9::io::DType dtype = yv9::io::DType::F32) {
  yv9::io::Checkpoint ck = yv9::io::read_checkpoint(pt);
  if (!config_path.empty()) ck.metadata["config"] = yv9::io::read_text_file(config_path, 4u << 20);
  return yv9::to_weight_file(ck, dtype, pt, pt + ".bin");
}

inline yv9::io::Json read_json(const std::string& path) {
  return yv9::io::parse_json(yv9::io::read_text_file(path, 16u << 20), path);
}

struct PredDiff {
  double box = 0, score = 0;
};

// Max |diff| of rows 0..3 (xywh, px) and rows 4.. (scores) of (N, 4+nc, A) predictions.
template <class T>
PredDiff pred_diff(const yv9::Tensor<T>& got, const yv9::Tensor<float>& ref) {
  REQUIRE(got.shape() == ref.shape());
  PredDiff d;
  const std::int64_t rows = ref.dim(1), A = ref.dim(2);
  for (std::int64_t n = 0; n < ref.dim(0); ++n)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t a = 0; a < A; ++a) {
        const std::int64_t i = (n * rows + r) * A + a;
        const double e = std::abs(static_cast<double>(got[i]) - static_cast<double>(ref[i]));
        (r < 4 ? d.box : d.score) = std::max(r < 4 ? d.box : d.score, e);
      }
  return d;
}

template <class T>
double max_abs_diff(const yv9::Tensor<T>& got, const yv9::Tensor<float>& ref) {
  REQUIRE(got.size() == ref.size());
  double m = 0;
  for (std::int64_t i = 0; i < ref.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(got[i]) - static_cast<double>(ref[i])));
  return m;
}

inline double max_abs(const yv9::Tensor<float>& t) {
  double m = 0;
  for (std::int64_t i = 0; i < t.size(); ++i) m = std::max(m, std::abs(static_cast<double>(t[i])));
  return m;
}

}  // namespace yv9test
