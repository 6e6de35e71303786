// Recurrent ops for state-space models (Mamba, Mamba-2, Jamba, RWKV, RecurrentGemma): a depthwise causal
// conv1d that carries its last inputs between calls, the selective scan (S6 / SSD as a recurrence), the RWKV-4
// WKV recurrence in its numerically stable (running max) form and a diagonal linear recurrence, each with an
// in/out state. A prefill is one call over S tokens; a decode step is the same call with S = 1, so cached and
// full-sequence paths share one kernel.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia::ops {

// Depthwise causal conv1d over channels-last x [B, S, C] f32 with weight [C, K] and optional bias [C]
// (torch Conv1d(groups=C, padding=K-1) truncated to the first S outputs). `state` [B, C, K-1] f32 holds the
// K-1 inputs preceding x (zeros for a fresh sequence) and is updated in place to the last K-1 inputs.
// Returns y [B, S, C] (no activation).
Tensor causal_conv1d_(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& state);

// Selective scan, as the sequential recurrence of HF's reference paths. Per batch b, head h, channel p,
// state n, for t = 0..S-1 with g = h / (H / G):
//   s[b,h,p,n] = exp(dt[b,t,h] * A[h,n]) * s[b,h,p,n] + dt[b,t,h] * Bm[b,t,g,n] * x[b,t,h,p]
//   y[b,t,h,p] = sum_n s[b,h,p,n] * Cm[b,t,g,n] + Dskip[h] * x[b,t,h,p]
// x [B, S, H, P], dt [B, S, H] (already softplus-ed), A [H, N], Bm/Cm [B, S, G, N] (H % G == 0), Dskip [H]
// (optional), state [B, H, P, N] f32 updated in place. Mamba-1: H = channels, P = 1, G = 1. Mamba-2: A[h, :]
// constant. Returns y [B, S, H, P].
Tensor selective_scan_(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                       const Tensor& Dskip, Tensor& state);

// RWKV-4 WKV (transformers' rwkv_linear_attention_cpu): k, v [B, S, C], time_decay / time_first [C] (the raw
// parameters; decay is -exp(time_decay)), state [B, 3, C] f32 = (numerator, denominator, running max),
// updated in place (a fresh state is (0, 0, -1e38)). Returns wkv [B, S, C].
Tensor wkv_(const Tensor& k, const Tensor& v, const Tensor& time_decay, const Tensor& time_first, Tensor& state);

// Diagonal linear recurrence (RecurrentGemma's RG-LRU scan): h = a[b,t,c] * h + x[b,t,c], y[b,t,c] = h.
// a, x [B, S, C]; state [B, C] f32 updated in place. Returns y [B, S, C].
Tensor linear_recurrence_(const Tensor& a, const Tensor& x, Tensor& state);

}  // namespace ia::ops

// Kernels: all tensors contiguous f32, shapes checked by the front-ends.
IA_DECLARE_OP(causal_conv1d, void (*)(const ia::Tensor& x, const ia::Tensor& w, const ia::Tensor& bias,
                                      ia::Tensor& state, ia::Tensor& out))
IA_DECLARE_OP(selective_scan, void (*)(const ia::Tensor& x, const ia::Tensor& dt, const ia::Tensor& A,
                                       const ia::Tensor& Bm, const ia::Tensor& Cm, const ia::Tensor& Dskip,
                                       ia::Tensor& state, ia::Tensor& out))
IA_DECLARE_OP(linear_recurrence, void (*)(const ia::Tensor& a, const ia::Tensor& x, ia::Tensor& state, ia::Tensor& out))
IA_DECLARE_OP(wkv, void (*)(const ia::Tensor& k, const ia::Tensor& v, const ia::Tensor& time_decay,
                            const ia::Tensor& time_first, ia::Tensor& state, ia::Tensor& out))
