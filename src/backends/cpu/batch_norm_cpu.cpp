// CPU kernel: per-channel affine y = x * scale[c] + shift[c] over [N, C, S] (inference batch norm).
#include "core/thread_pool.h"
#include "ops/batch_norm.h"

namespace ia::cpu {
namespace {

void channel_affine_cpu(const Tensor& x, const Tensor& scale, const Tensor& shift, Tensor& out) {
  const int64_t N = x.dim(0), C = x.dim(1), S = C ? x.numel() / (N * C) : 0;
  const float* xp = x.data<float>();
  const float* sp = scale.data<float>();
  const float* bp = shift.data<float>();
  float* op = out.data<float>();
  parallel_for(0, N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float a = sp[p % C], b = bp[p % C];
      const float* src = xp + p * S;
      float* dst = op + p * S;
      for (int64_t i = 0; i < S; ++i) dst[i] = src[i] * a + b;
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(channel_affine, ia::DeviceType::CPU, ia::cpu::channel_affine_cpu)
