// CPU kernels: max/avg 2-D pooling and adaptive average pooling (torch's CPU loops), parallel over planes.
#include <cmath>
#include <limits>

#include "core/thread_pool.h"
#include "ops/pool.h"

namespace ia::cpu {
namespace {

void pool2d_cpu(const Tensor& x, const Pool2dArgs& a, Tensor& out) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), Ho = out.dim(2), Wo = out.dim(3);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* src = xp + p * H * W;
      float* dst = op + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        for (int64_t ow = 0; ow < Wo; ++ow) {
          int64_t h0 = oh * a.stride_h - a.pad_h, w0 = ow * a.stride_w - a.pad_w;
          if (a.kind == PoolKind::Max) {
            const int64_t h1 = std::min(h0 + a.kernel_h, H), w1 = std::min(w0 + a.kernel_w, W);
            h0 = std::max<int64_t>(h0, 0);
            w0 = std::max<int64_t>(w0, 0);
            float m = -std::numeric_limits<float>::infinity();
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) {
                const float v = src[ih * W + iw];
                if (v > m || std::isnan(v)) m = v;
              }
            dst[oh * Wo + ow] = m;
          } else {
            int64_t h1 = std::min(h0 + a.kernel_h, H + a.pad_h), w1 = std::min(w0 + a.kernel_w, W + a.pad_w);
            const int64_t pool_size = (h1 - h0) * (w1 - w0);
            h0 = std::max<int64_t>(h0, 0);
            w0 = std::max<int64_t>(w0, 0);
            h1 = std::min(h1, H);
            w1 = std::min(w1, W);
            if (h0 >= h1 || w0 >= w1) {
              dst[oh * Wo + ow] = 0.0f;
              continue;
            }
            const int64_t divisor = a.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
            float s = 0.0f;
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) s += src[ih * W + iw];
            dst[oh * Wo + ow] = s / static_cast<float>(divisor);
          }
        }
      }
    }
  });
}

void adaptive_avg_pool2d_cpu(const Tensor& x, Tensor& out) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), Ho = out.dim(2), Wo = out.dim(3);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* src = xp + p * H * W;
      float* dst = op + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const int64_t h0 = oh * H / Ho, h1 = ((oh + 1) * H + Ho - 1) / Ho;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t w0 = ow * W / Wo, w1 = ((ow + 1) * W + Wo - 1) / Wo;
          float s = 0.0f;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) s += src[ih * W + iw];
          dst[oh * Wo + ow] = s / static_cast<float>((h1 - h0) * (w1 - w0));
        }
      }
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(pool2d, ia::DeviceType::CPU, ia::cpu::pool2d_cpu)
IA_REGISTER_KERNEL(adaptive_avg_pool2d, ia::DeviceType::CPU, ia::cpu::adaptive_avg_pool2d_cpu)
