// CPU kernel: fused scaled-dot-product attention (masks, causal, sliding window, GQA, bias, softcap).
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

void attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args, Tensor& out) {
  const int64_t B = q.dim(0), Hq = q.dim(1), Sq = q.dim(2), D = q.dim(3);
  const int64_t Hkv = k.dim(1), Sk = k.dim(2), Dv = v.dim(3);
  const int64_t group = Hq / Hkv;
  const float* qp = static_cast<const float*>(q.raw_data());
  const float* kp = static_cast<const float*>(k.raw_data());
  const float* vp = static_cast<const float*>(v.raw_data());
  float* op = out.data<float>();
  const auto& qs = q.strides();
  const auto& ks = k.strides();
  const auto& vs = v.strides();

  std::vector<uint8_t> keymask;  // [B, Sk] 1 = visible
  if (args.key_mask.defined()) {
    auto m = args.key_mask.to_vector<double>();
    keymask.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) keymask[i] = m[i] != 0.0;
  }
  std::vector<uint8_t> querymask;  // [B, Sq] 1 = may attend
  if (args.query_mask.defined()) {
    auto m = args.query_mask.to_vector<double>();
    querymask.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) querymask[i] = m[i] != 0.0;
  }
  const float* bias = args.bias.defined() ? args.bias.data<float>() : nullptr;
  int64_t bsb = 0, bsh = 0, bsq = 0;
  if (bias) {
    const auto& bshape = args.bias.shape();
    bsq = bshape[2] == 1 ? 0 : Sk;
    bsh = bshape[1] == 1 ? 0 : bshape[2] * Sk;
    bsb = bshape[0] == 1 ? 0 : bshape[1] * bshape[2] * Sk;
  }

  const int64_t total = B * Hq * Sq;
  parallel_for(0, total, std::max<int64_t>(1, 4096 / std::max<int64_t>(Sk, 1)), [&](int64_t lo, int64_t hi) {
    std::vector<float> scores(Sk);
    std::vector<uint8_t> visible(Sk);
    for (int64_t idx = lo; idx < hi; ++idx) {
      const int64_t i = idx % Sq;
      const int64_t h = (idx / Sq) % Hq;
      const int64_t b = idx / (Sq * Hq);
      const int64_t kh = h / group;
      const float* qrow = qp + b * qs[0] + h * qs[1] + i * qs[2];
      const float* kbase = kp + b * ks[0] + kh * ks[1];
      const float* vbase = vp + b * vs[0] + kh * vs[1];
      const int64_t pos = i + args.q_offset;
      const bool query_ok = querymask.empty() || querymask[b * Sq + i];
      int64_t nvis = 0;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < Sk; ++j) {
        bool vis = query_ok && (keymask.empty() || keymask[b * Sk + j]);
        if (args.causal && j > pos) vis = false;
        if (args.sliding_window > 0 && pos - j >= args.sliding_window) vis = false;
        visible[j] = vis;
        float s = args.scale * dot(qrow, kbase + j * ks[2], D);
        if (bias) s += bias[b * bsb + h * bsh + i * bsq + j];
        if (args.softcap > 0.0f) s = args.softcap * std::tanh(s / args.softcap);
        scores[j] = s;
        if (vis) {
          ++nvis;
          mx = std::max(mx, s);
        }
      }
      float* orow = op + ((b * Sq + i) * Hq + h) * Dv;
      for (int64_t d = 0; d < Dv; ++d) orow[d] = 0.0f;
      if (nvis == 0) {  // HF eager: every score gets the same huge negative mask -> uniform weights
        const float w = 1.0f / static_cast<float>(Sk);
        for (int64_t j = 0; j < Sk; ++j) axpy(w, vbase + j * vs[2], orow, Dv);
        continue;
      }
      double sum = 0.0;
      for (int64_t j = 0; j < Sk; ++j) {
        const float e = visible[j] ? std::exp(scores[j] - mx) : 0.0f;
        scores[j] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < Sk; ++j)
        if (scores[j] != 0.0f) axpy(scores[j] * inv, vbase + j * vs[2], orow, Dv);
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(attention, ia::DeviceType::CPU, ia::cpu::attention_cpu)
