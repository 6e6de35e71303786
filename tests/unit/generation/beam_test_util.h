// What the beam-search tests share: a double-precision log-softmax (the reference for sequence scores) and
// id rows as an i64 tensor.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/tensor.h"

namespace ia::beam_test {

inline std::vector<double> log_softmax_d(const std::vector<float>& l) {
  double mx = -INFINITY, sum = 0.0;
  for (float v : l) mx = std::max(mx, double(v));
  for (float v : l) sum += std::exp(double(v) - mx);
  std::vector<double> out;
  for (float v : l) out.push_back(double(v) - mx - std::log(sum));
  return out;
}

// rows (all of one length) -> i64 [rows, length].
inline Tensor flat(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> f;
  for (const auto& r : rows) f.insert(f.end(), r.begin(), r.end());
  return Tensor::from_vector(f, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

}  // namespace ia::beam_test
