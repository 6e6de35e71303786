// CPU kernel: nearest / bilinear / bicubic resampling with torch's index and weight computation
// (area_pixel_compute_source_index, guard_index_and_lambda, cubic convolution with A = -0.75).
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/interpolate.h"

namespace ia::cpu {
namespace {

float compute_scale(int64_t in, int64_t out, bool align_corners, double scale) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return scale > 0.0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
}

float source_index(float scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<float>(dst);
  const float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  return (!cubic && src < 0.0f) ? 0.0f : src;
}

// Per output coordinate: `taps` source indexes (clamped) and weights.
struct Taps {
  std::vector<int64_t> index;
  std::vector<float> weight;
  int taps = 1;
};

Taps make_taps(InterpMode mode, int64_t in, int64_t out, bool align_corners, double scale) {
  Taps t;
  const float s = compute_scale(in, out, align_corners, scale);
  if (mode == InterpMode::Nearest) {
    t.taps = 1;
    for (int64_t i = 0; i < out; ++i) {
      t.index.push_back(std::min(static_cast<int64_t>(std::floor(static_cast<float>(i) * s)), in - 1));
      t.weight.push_back(1.0f);
    }
    return t;
  }
  const bool cubic = mode == InterpMode::Bicubic;
  t.taps = cubic ? 4 : 2;
  for (int64_t i = 0; i < out; ++i) {
    const float real = source_index(s, i, align_corners, cubic);
    const int64_t idx = std::min(static_cast<int64_t>(std::floor(real)), in - 1);
    const float lambda = std::min(std::max(real - static_cast<float>(idx), 0.0f), 1.0f);
    if (!cubic) {
      const int64_t next = idx < in - 1 ? idx + 1 : idx;
      t.index.insert(t.index.end(), {idx, next});
      t.weight.insert(t.weight.end(), {1.0f - lambda, lambda});
    } else {
      constexpr float A = -0.75f;
      auto cc1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
      auto cc2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
      const float x2 = 1.0f - lambda;
      t.weight.insert(t.weight.end(), {cc2(lambda + 1.0f), cc1(lambda), cc1(x2), cc2(x2 + 1.0f)});
      for (int64_t j = 0; j < 4; ++j) t.index.push_back(std::max<int64_t>(std::min(idx + j - 1, in - 1), 0));
    }
  }
  return t;
}

void interpolate_cpu(const Tensor& x, const InterpolateArgs& a, Tensor& out) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), Ho = out.dim(2), Wo = out.dim(3);
  const Taps th = make_taps(a.mode, H, Ho, a.align_corners, a.scale_h);
  const Taps tw = make_taps(a.mode, W, Wo, a.align_corners, a.scale_w);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(0, planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* src = xp + p * H * W;
      float* dst = op + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        for (int64_t ow = 0; ow < Wo; ++ow) {
          float acc = 0.0f;
          for (int i = 0; i < th.taps; ++i) {
            const float* row = src + th.index[oh * th.taps + i] * W;
            float r = 0.0f;
            for (int j = 0; j < tw.taps; ++j) r += row[tw.index[ow * tw.taps + j]] * tw.weight[ow * tw.taps + j];
            acc += r * th.weight[oh * th.taps + i];
          }
          dst[oh * Wo + ow] = acc;
        }
      }
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(interpolate, ia::DeviceType::CPU, ia::cpu::interpolate_cpu)
