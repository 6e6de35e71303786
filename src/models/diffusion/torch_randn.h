// torch's CPU random number generator reproduced: mt19937 seeded like torch.manual_seed / torch.Generator, and
// torch.randn / torch.rand on float32 tensors (the Box-Muller layouts of ATen's normal_fill and its scalar path), so
// a diffusers pipeline's initial latents can be reproduced from the same seed.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace ia::diffusion {

class TorchGenerator {
 public:
  explicit TorchGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}
  uint32_t random() { return engine_(); }
  uint64_t random64() {
    const uint64_t hi = engine_(), lo = engine_();
    return (hi << 32) | lo;
  }
  // at::uniform_real_distribution<float>(0, 1): 24 random bits.
  float uniform_float() { return static_cast<float>((random() & ((1u << 24) - 1)) * 0x1.0p-24); }
  // at::uniform_real_distribution<double>(0, 1): 53 random bits.
  double uniform_double() { return static_cast<double>(random64() & ((uint64_t(1) << 53) - 1)) * 0x1.0p-53; }
  // at::normal_distribution<double>(0, 1), with torch's cached second Box-Muller value.
  double normal_double();

  // torch.randn(shape, generator=g, dtype=float32) on CPU.
  Tensor randn(const Shape& shape);
  // torch.rand(shape, generator=g, dtype=float32) on CPU.
  Tensor rand(const Shape& shape);

 private:
  std::mt19937 engine_;
  bool has_next_normal_ = false;
  double next_normal_ = 0.0;
};

}  // namespace ia::diffusion
