// CPU kernels for the state-space recurrences (ops/ssm.h): causal conv1d with carried inputs, the selective
// scan, the RWKV-4 WKV step and the diagonal linear recurrence. Sequential over time, parallel over batch x
// channels.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/ssm.h"

namespace ia::cpu {
namespace {

void causal_conv1d_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& state, Tensor& out) {
  const int64_t B = x.dim(0), S = x.dim(1), C = x.dim(2), K = w.dim(1), H = K - 1;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* sp = state.data<float>();
  float* op = out.data<float>();
  parallel_for(0, B * C, 64, [&](int64_t lo, int64_t hi) {
    std::vector<float> win(H + S);
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      float* st = sp + bc * H;
      for (int64_t i = 0; i < H; ++i) win[i] = st[i];
      for (int64_t t = 0; t < S; ++t) win[H + t] = xp[(b * S + t) * C + c];
      const float* wc = wp + c * K;
      for (int64_t t = 0; t < S; ++t) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; ++k) acc += win[t + k] * wc[k];
        op[(b * S + t) * C + c] = acc + (bp ? bp[c] : 0.0f);
      }
      for (int64_t i = 0; i < H; ++i) st[i] = win[S + i];
    }
  });
}

void selective_scan_cpu(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                        const Tensor& Dskip, Tensor& state, Tensor& out) {
  const int64_t B = x.dim(0), S = x.dim(1), H = x.dim(2), P = x.dim(3), N = A.dim(1), G = Bm.dim(2);
  const int64_t heads_per_group = H / G;
  const float* xp = x.data<float>();
  const float* dtp = dt.data<float>();
  const float* ap = A.data<float>();
  const float* bp = Bm.data<float>();
  const float* cp = Cm.data<float>();
  const float* dp = Dskip.defined() ? Dskip.data<float>() : nullptr;
  float* sp = state.data<float>();
  float* op = out.data<float>();
  parallel_for(0, B * H, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / H, h = bh % H, g = h / heads_per_group;
      float* s = sp + bh * P * N;
      const float* a = ap + h * N;
      for (int64_t t = 0; t < S; ++t) {
        const float d = dtp[(b * S + t) * H + h];
        const float* bt = bp + ((b * S + t) * G + g) * N;
        const float* ct = cp + ((b * S + t) * G + g) * N;
        const float* xt = xp + ((b * S + t) * H + h) * P;
        float* yt = op + ((b * S + t) * H + h) * P;
        for (int64_t p = 0; p < P; ++p) {
          float* sr = s + p * N;
          float acc = 0.0f;
          for (int64_t n = 0; n < N; ++n) {
            sr[n] = std::exp(a[n] * d) * sr[n] + (d * bt[n]) * xt[p];
            acc += sr[n] * ct[n];
          }
          yt[p] = acc + (dp ? xt[p] * dp[h] : 0.0f);
        }
      }
    }
  });
}

void wkv_cpu(const Tensor& k, const Tensor& v, const Tensor& time_decay, const Tensor& time_first, Tensor& state,
             Tensor& out) {
  const int64_t B = k.dim(0), S = k.dim(1), C = k.dim(2);
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  const float* tdp = time_decay.data<float>();
  const float* tfp = time_first.data<float>();
  float* sp = state.data<float>();
  float* op = out.data<float>();
  parallel_for(0, B * C, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      float* num = sp + (b * 3 + 0) * C + c;
      float* den = sp + (b * 3 + 1) * C + c;
      float* mx = sp + (b * 3 + 2) * C + c;
      const float decay = -std::exp(tdp[c]), first = tfp[c];
      for (int64_t t = 0; t < S; ++t) {
        const float kt = kp[(b * S + t) * C + c], vt = vp[(b * S + t) * C + c];
        const float m_out = std::max(*mx, kt + first);
        float e1 = std::exp(*mx - m_out), e2 = std::exp(kt + first - m_out);
        op[(b * S + t) * C + c] = (e1 * *num + e2 * vt) / (e1 * *den + e2);
        const float m_state = std::max(*mx + decay, kt);
        e1 = std::exp(*mx + decay - m_state);
        e2 = std::exp(kt - m_state);
        *num = e1 * *num + e2 * vt;
        *den = e1 * *den + e2;
        *mx = m_state;
      }
    }
  });
}

void linear_recurrence_cpu(const Tensor& a, const Tensor& x, Tensor& state, Tensor& out) {
  const int64_t B = x.dim(0), S = x.dim(1), C = x.dim(2);
  const float* ap = a.data<float>();
  const float* xp = x.data<float>();
  float* sp = state.data<float>();
  float* op = out.data<float>();
  parallel_for(0, B * C, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t bc = lo; bc < hi; ++bc) {
      const int64_t b = bc / C, c = bc % C;
      float h = sp[bc];
      for (int64_t t = 0; t < S; ++t) {
        const int64_t i = (b * S + t) * C + c;
        h = ap[i] * h + xp[i];
        op[i] = h;
      }
      sp[bc] = h;
    }
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(causal_conv1d, ia::DeviceType::CPU, ia::cpu::causal_conv1d_cpu)
IA_REGISTER_KERNEL(selective_scan, ia::DeviceType::CPU, ia::cpu::selective_scan_cpu)
IA_REGISTER_KERNEL(wkv, ia::DeviceType::CPU, ia::cpu::wkv_cpu)
IA_REGISTER_KERNEL(linear_recurrence, ia::DeviceType::CPU, ia::cpu::linear_recurrence_cpu)
