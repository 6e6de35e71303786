#include "models/diffusion/torch_randn.h"

#include <cmath>

namespace ia::diffusion {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// ATen's normal_fill_16: the first 8 uniforms give radii, the next 8 angles (in float, as the vectorized path).
void normal_fill_16(float* data) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    const float theta = static_cast<float>(kTwoPi) * u2;
    data[j] = radius * std::cos(theta);
    data[j + 8] = radius * std::sin(theta);
  }
}

}  // namespace

double TorchGenerator::normal_double() {
  if (has_next_normal_) {
    has_next_normal_ = false;
    return next_normal_;
  }
  const double u1 = uniform_double(), u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = kTwoPi * u1;
  next_normal_ = r * std::sin(theta);
  has_next_normal_ = true;
  return r * std::cos(theta);
}

Tensor TorchGenerator::randn(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* data = t.data<float>();
  const int64_t n = t.numel();
  if (n < 16) {  // ATen's scalar path: one double normal per element
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(normal_double());
    return t;
  }
  for (int64_t i = 0; i < n; ++i) data[i] = uniform_float();
  for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(data + i);
  if (n % 16 != 0) {  // torch redraws the last 16 values
    float* tail = data + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
    normal_fill_16(tail);
  }
  return t;
}

Tensor TorchGenerator::rand(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = uniform_float();
  return t;
}

}  // namespace ia::diffusion
