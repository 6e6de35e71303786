// CPU kernels for decoding ops: rotary embedding and KV-cache writes.
#include <cstring>

#include "core/thread_pool.h"
#include "ops/decoding.h"

namespace ia::cpu {
namespace {

void rotary_cpu(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved, Tensor& out) {
  const int64_t B = x.dim(0), S = x.dim(1), H = x.dim(2), D = x.dim(3), half = cos.dim(2);
  const auto& xs = x.strides();
  const float* xp = static_cast<const float*>(x.raw_data());
  const float* cp = cos.data<float>();
  const float* sp = sin.data<float>();
  float* op = out.data<float>();
  parallel_for(0, B * S, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t bs = lo; bs < hi; ++bs) {
      const int64_t b = bs / S, s = bs % S;
      const float* c = cp + bs * half;
      const float* sn = sp + bs * half;
      for (int64_t h = 0; h < H; ++h) {
        const float* in = xp + b * xs[0] + s * xs[1] + h * xs[2];
        float* o = op + ((bs * H) + h) * D;
        if (interleaved) {
          for (int64_t i = 0; i < half; ++i) {
            const float x0 = in[2 * i], x1 = in[2 * i + 1];
            o[2 * i] = x0 * c[i] - x1 * sn[i];
            o[2 * i + 1] = x1 * c[i] + x0 * sn[i];
          }
        } else {
          for (int64_t i = 0; i < half; ++i) {
            const float x0 = in[i], x1 = in[i + half];
            o[i] = x0 * c[i] - x1 * sn[i];
            o[i + half] = x1 * c[i] + x0 * sn[i];
          }
        }
        for (int64_t d = 2 * half; d < D; ++d) o[d] = in[d];
      }
    }
  });
}

void kv_write_cpu(Tensor& cache, const Tensor& src, int64_t start) {
  const int64_t B = src.dim(0), S = src.dim(1), H = src.dim(2), D = src.dim(3), L = cache.dim(2);
  const auto& ss = src.strides();
  const float* sp = static_cast<const float*>(src.raw_data());
  float* cp = cache.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        std::memcpy(cp + ((b * H + h) * L + start + s) * D, sp + b * ss[0] + s * ss[1] + h * ss[2], D * sizeof(float));
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(rotary, ia::DeviceType::CPU, ia::cpu::rotary_cpu)
IA_REGISTER_KERNEL(kv_write, ia::DeviceType::CPU, ia::cpu::kv_write_cpu)
