// CPU kernel: group normalization, one (sample, group) block per task; statistics accumulated in double.
#include <cmath>

#include "core/thread_pool.h"
#include "ops/group_norm.h"

namespace ia::cpu {
namespace {

void group_norm_cpu(const Tensor& x, int64_t G, const Tensor& w, const Tensor& b, float eps, Tensor& out) {
  const int64_t N = x.dim(0), C = x.dim(1), S = (N && C) ? x.numel() / (N * C) : 0, Cg = C / G;
  const float* xp = x.data<float>();
  const float* wp = w.defined() ? w.data<float>() : nullptr;
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  float* op = out.data<float>();
  parallel_for(0, N * G, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t g = p % G;
      const float* src = xp + p * Cg * S;
      float* dst = op + p * Cg * S;
      const int64_t n = Cg * S;
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += src[i];
      const double mean = n ? sum / double(n) : 0.0;
      double sq = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = src[i] - mean;
        sq += d * d;
      }
      const float rstd = static_cast<float>(1.0 / std::sqrt((n ? sq / double(n) : 0.0) + double(eps)));
      const float m = static_cast<float>(mean);
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t ch = g * Cg + c;
        const float a = wp ? wp[ch] * rstd : rstd;
        const float shift = (bp ? bp[ch] : 0.0f) - m * a;
        const float* s = src + c * S;
        float* d = dst + c * S;
        for (int64_t i = 0; i < S; ++i) d[i] = s[i] * a + shift;
      }
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(group_norm, ia::DeviceType::CPU, ia::cpu::group_norm_cpu)
