// CPU kernel: 2-D convolution. Depthwise-style groups (one input channel per group) run a direct loop
// parallel over output planes; everything else is im2col (parallel over rows) + OpenBLAS sgemm per group.

#include <cstring>
#include <vector>

#include "backends/cpu/blas.h"
#include "core/thread_pool.h"
#include "ops/conv.h"

namespace ia::cpu {
namespace {

void conv2d_direct_single_channel(const float* xp, const float* wp, const float* bp, const Conv2dArgs& a,
                                  int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
                                  int64_t Ho, int64_t Wo, float* op) {
  const int64_t per_group = O / C;  // output channels per input channel (depth multiplier)
  parallel_for(0, N * O, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / O, o = p % O, c = o / per_group;
      const float* xc = xp + (n * C + c) * H * W;
      const float* wk = wp + o * KH * KW;
      float* dst = op + p * Ho * Wo;
      const float b = bp ? bp[o] : 0.0f;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const int64_t ih0 = oh * a.stride_h - a.pad_top;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t iw0 = ow * a.stride_w - a.pad_left;
          float acc = 0.0f;
          for (int64_t kh = 0; kh < KH; ++kh) {
            const int64_t ih = ih0 + kh * a.dilation_h;
            if (ih < 0 || ih >= H) continue;
            const float* xr = xc + ih * W;
            const float* wr = wk + kh * KW;
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t iw = iw0 + kw * a.dilation_w;
              if (iw >= 0 && iw < W) acc += wr[kw] * xr[iw];
            }
          }
          dst[oh * Wo + ow] = acc + b;
        }
      }
    }
  });
}

// col [Cg*KH*KW, Ho*Wo] from the Cg channels at src.
void im2col(const float* src, int64_t Cg, int64_t H, int64_t W, int64_t KH, int64_t KW, const Conv2dArgs& a,
            int64_t Ho, int64_t Wo, float* col) {
  const int64_t rows = Cg * KH * KW, P = Ho * Wo;
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(P, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
      const float* xc = src + c * H * W;
      float* dst = col + r * P;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const int64_t ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
        float* d = dst + oh * Wo;
        if (ih < 0 || ih >= H) {
          std::memset(d, 0, Wo * sizeof(float));
          continue;
        }
        const float* xr = xc + ih * W;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t iw = ow * a.stride_w - a.pad_left + kw * a.dilation_w;
          d[ow] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
        }
      }
    }
  });
}

void conv2d_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dArgs& a, Tensor& out) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), KH = w.dim(2), KW = w.dim(3), Ho = out.dim(2), Wo = out.dim(3);
  const int64_t G = a.groups, Cg = C / G, Og = O / G, K = Cg * KH * KW, P = Ho * Wo;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* op = out.data<float>();
  if (N == 0 || O == 0) return;
  if (Cg == 1 && G > 1) {
    conv2d_direct_single_channel(xp, wp, bp, a, N, C, H, W, O, KH, KW, Ho, Wo, op);
    return;
  }
  const bool pointwise = KH == 1 && KW == 1 && a.stride_h == 1 && a.stride_w == 1 && a.pad_top == 0 &&
                         a.pad_bottom == 0 && a.pad_left == 0 && a.pad_right == 0;
  std::vector<float> col(pointwise ? 0 : static_cast<size_t>(K * P));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float* src = xp + (n * C + g * Cg) * H * W;
      const float* colp = src;
      if (!pointwise) {
        im2col(src, Cg, H, W, KH, KW, a, Ho, Wo, col.data());
        colp = col.data();
      }
      float* dst = op + (n * O + g * Og) * P;
      if (bp)
        for (int64_t o = 0; o < Og; ++o) std::fill(dst + o * P, dst + (o + 1) * P, bp[g * Og + o]);
      sgemm(false, false, Og, P, K, 1.0f, wp + g * Og * K, K, colp, P, bp ? 1.0f : 0.0f, dst, P);
    }
  }
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(conv2d, ia::DeviceType::CPU, ia::cpu::conv2d_cpu)
