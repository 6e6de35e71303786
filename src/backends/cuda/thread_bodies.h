// Per-thread bodies of the CUDA kernels for the vision, state-space and int8 ops: one call computes what one GPU
// thread computes (one output element, or one channel's whole recurrence). They are __host__ __device__ so the
// host tests run them over the whole grid on the CPU and compare with the CPU backend (no GPU in CI); the .cu
// files wrap each in a grid-stride kernel. No CUDA or engine headers: plain arithmetic mirroring src/backends/cpu/.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define IA_HD __host__ __device__ inline
#else
#define IA_HD inline
#endif

namespace ia::cuda {

IA_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
IA_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- conv2d (NCHW): im2col for the general case, a direct loop for one-input-channel groups (depthwise).
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, Ho = 0, Wo = 0, G = 1;
  int64_t stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, dilation_h = 1, dilation_w = 1;
};

// col[r, p] (r over Cg*KH*KW rows, p over Ho*Wo) of the Cg channels at src; i = r * Ho*Wo + p.
IA_HD void im2col_at(const ConvGeom& g, const float* src, int64_t i, float* col) {
  const int64_t P = g.Ho * g.Wo, r = i / P, p = i % P;
  const int64_t c = r / (g.KH * g.KW), kh = (r / g.KW) % g.KH, kw = r % g.KW;
  const int64_t ih = (p / g.Wo) * g.stride_h - g.pad_top + kh * g.dilation_h;
  const int64_t iw = (p % g.Wo) * g.stride_w - g.pad_left + kw * g.dilation_w;
  col[i] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? src[(c * g.H + ih) * g.W + iw] : 0.0f;
}

// out[n, o, oh, ow] for groups with one input channel each (O / C outputs per channel); i indexes out.
IA_HD void conv2d_depthwise_at(const ConvGeom& g, const float* x, const float* w, const float* bias, int64_t i,
                               float* out) {
  const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, o = (i / (g.Wo * g.Ho)) % g.O, n = i / (g.Wo * g.Ho * g.O);
  const int64_t c = o / (g.O / g.C);
  const float* xc = x + (n * g.C + c) * g.H * g.W;
  const float* wk = w + o * g.KH * g.KW;
  const int64_t ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
  float acc = 0.0f;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = ih0 + kh * g.dilation_h;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = iw0 + kw * g.dilation_w;
      if (iw >= 0 && iw < g.W) acc += wk[kh * g.KW + kw] * xc[ih * g.W + iw];
    }
  }
  out[i] = acc + (bias ? bias[o] : 0.0f);
}

// out[i] = bias[(i / plane) % channels]: the bias planes a GEMM then accumulates onto.
IA_HD void bias_planes_at(const float* bias, int64_t plane, int64_t channels, int64_t i, float* out) {
  out[i] = bias[(i / plane) % channels];
}

// ---- pooling (torch's max/avg pooling and adaptive average pooling); i indexes out [planes, Ho, Wo].
struct PoolGeom {
  int64_t H = 0, W = 0, Ho = 0, Wo = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool max = true, count_include_pad = true;
};

IA_HD void pool2d_at(const PoolGeom& g, const float* x, int64_t i, float* out) {
  const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, p = i / (g.Wo * g.Ho);
  const float* src = x + p * g.H * g.W;
  int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  if (g.max) {
    const int64_t h1 = imin(h0 + g.kernel_h, g.H), w1 = imin(w0 + g.kernel_w, g.W);
    h0 = imax(h0, 0);
    w0 = imax(w0, 0);
    float m = -INFINITY;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) {
        const float v = src[ih * g.W + iw];
        if (v > m || v != v) m = v;
      }
    out[i] = m;
    return;
  }
  int64_t h1 = imin(h0 + g.kernel_h, g.H + g.pad_h), w1 = imin(w0 + g.kernel_w, g.W + g.pad_w);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = imax(h0, 0);
  w0 = imax(w0, 0);
  h1 = imin(h1, g.H);
  w1 = imin(w1, g.W);
  if (h0 >= h1 || w0 >= w1) {
    out[i] = 0.0f;
    return;
  }
  const int64_t divisor = g.count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  float s = 0.0f;
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) s += src[ih * g.W + iw];
  out[i] = s / static_cast<float>(divisor);
}

IA_HD void adaptive_avg_pool2d_at(const PoolGeom& g, const float* x, int64_t i, float* out) {
  const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, p = i / (g.Wo * g.Ho);
  const float* src = x + p * g.H * g.W;
  const int64_t h0 = oh * g.H / g.Ho, h1 = ((oh + 1) * g.H + g.Ho - 1) / g.Ho;
  const int64_t w0 = ow * g.W / g.Wo, w1 = ((ow + 1) * g.W + g.Wo - 1) / g.Wo;
  float s = 0.0f;
  for (int64_t ih = h0; ih < h1; ++ih)
    for (int64_t iw = w0; iw < w1; ++iw) s += src[ih * g.W + iw];
  out[i] = s / static_cast<float>((h1 - h0) * (w1 - w0));
}

// ---- interpolate: torch's source index and weights (nearest, bilinear, bicubic with A = -0.75).
enum InterpCode : int { kNearest = 0, kBilinear = 1, kBicubic = 2 };
struct InterpGeom {
  int64_t H = 0, W = 0, Ho = 0, Wo = 0;
  int mode = kBilinear;
  bool align_corners = false;
  float scale_h = 0.0f, scale_w = 0.0f;  // source step per output step (compute_scale of the CPU kernel)
};

// Source indexes and weights of output coordinate dst along one dim of size `in`; returns the tap count.
IA_HD int interp_taps(int mode, int64_t in, float s, bool align_corners, int64_t dst, int64_t* index, float* weight) {
  if (mode == kNearest) {
    index[0] = imin(static_cast<int64_t>(floorf(static_cast<float>(dst) * s)), in - 1);
    weight[0] = 1.0f;
    return 1;
  }
  const bool cubic = mode == kBicubic;
  float real = align_corners ? s * static_cast<float>(dst) : s * (static_cast<float>(dst) + 0.5f) - 0.5f;
  if (!align_corners && !cubic && real < 0.0f) real = 0.0f;
  const int64_t idx = imin(static_cast<int64_t>(floorf(real)), in - 1);
  const float lambda = fminf(fmaxf(real - static_cast<float>(idx), 0.0f), 1.0f);
  if (!cubic) {
    index[0] = idx;
    index[1] = idx < in - 1 ? idx + 1 : idx;
    weight[0] = 1.0f - lambda;
    weight[1] = lambda;
    return 2;
  }
  const float A = -0.75f;
  const float x1 = lambda + 1.0f, x2 = 1.0f - lambda, x3 = x2 + 1.0f;
  weight[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
  weight[1] = ((A + 2) * lambda - (A + 3)) * lambda * lambda + 1;
  weight[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  weight[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
  for (int j = 0; j < 4; ++j) index[j] = imax(imin(idx + j - 1, in - 1), 0);
  return 4;
}

IA_HD void interpolate_at(const InterpGeom& g, const float* x, int64_t i, float* out) {
  const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, p = i / (g.Wo * g.Ho);
  const float* src = x + p * g.H * g.W;
  int64_t ih[4], iw[4];
  float wh[4], ww[4];
  const int th = interp_taps(g.mode, g.H, g.scale_h, g.align_corners, oh, ih, wh);
  const int tw = interp_taps(g.mode, g.W, g.scale_w, g.align_corners, ow, iw, ww);
  float acc = 0.0f;
  for (int a = 0; a < th; ++a) {
    const float* row = src + ih[a] * g.W;
    float r = 0.0f;
    for (int b = 0; b < tw; ++b) r += row[iw[b]] * ww[b];
    acc += r * wh[a];
  }
  out[i] = acc;
}

// ---- per-channel affine (inference batch norm) and group norm's apply step over x viewed as [N, C, S].
IA_HD void channel_affine_at(const float* x, const float* scale, const float* shift, int64_t C, int64_t S, int64_t i,
                             float* out) {
  const int64_t c = (i / S) % C;
  out[i] = x[i] * scale[c] + shift[c];
}

// stats[2 * (n * G + g)] = (mean, rstd) of each (sample, group).
IA_HD void group_norm_apply_at(const float* x, const float* stats, const float* w, const float* b, int64_t C,
                               int64_t S, int64_t G, int64_t i, float* out) {
  const int64_t nc = i / S, n = nc / C, ch = nc % C, grp = ch / (C / G);
  const float mean = stats[2 * (n * G + grp)], rstd = stats[2 * (n * G + grp) + 1];
  const float a = w ? w[ch] * rstd : rstd;
  const float shift = (b ? b[ch] : 0.0f) - mean * a;
  out[i] = x[i] * a + shift;
}

// (mean, rstd) from the double sums of one group of n elements (sum of x, then sum of squared deviations).
IA_HD void group_norm_stats(double sum_sq_dev, double mean, int64_t n, float eps, float* stats) {
  stats[0] = static_cast<float>(mean);
  stats[1] = static_cast<float>(1.0 / sqrt((n ? sum_sq_dev / double(n) : 0.0) + double(eps)));
}

// ---- state-space recurrences (ops/ssm.h), one thread per independent channel, sequential over time.

// Depthwise causal conv1d of channel bc = b * C + c over x [B, S, C]; state [B, C, K-1] updated in place.
IA_HD void causal_conv1d_at(const float* x, const float* w, const float* bias, float* state, float* out, int64_t S,
                            int64_t C, int64_t K, int64_t bc) {
  const int64_t b = bc / C, c = bc % C, Hs = K - 1;
  float* st = state + bc * Hs;
  const float* wc = w + c * K;
  // window position j < Hs is the carried state, j >= Hs is x at time j - Hs
  for (int64_t t = 0; t < S; ++t) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t j = t + k;
      acc += (j < Hs ? st[j] : x[(b * S + j - Hs) * C + c]) * wc[k];
    }
    out[(b * S + t) * C + c] = acc + (bias ? bias[c] : 0.0f);
  }
  for (int64_t i = 0; i < Hs; ++i) {  // new state = window[S + i]; S + i > i, so the in-place read is still old
    const int64_t j = S + i;
    st[i] = j < Hs ? st[j] : x[(b * S + j - Hs) * C + c];
  }
}

struct ScanGeom {
  int64_t B = 0, S = 0, H = 0, P = 0, N = 0, G = 1;
};

// Selective scan of (b, h, p) = index bhp over time; state [B, H, P, N] updated in place.
IA_HD void selective_scan_at(const ScanGeom& g, const float* x, const float* dt, const float* A, const float* Bm,
                             const float* Cm, const float* Dskip, float* state, float* out, int64_t bhp) {
  const int64_t p = bhp % g.P, bh = bhp / g.P, b = bh / g.H, h = bh % g.H, grp = h / (g.H / g.G);
  float* sr = state + bhp * g.N;
  const float* a = A + h * g.N;
  for (int64_t t = 0; t < g.S; ++t) {
    const float d = dt[(b * g.S + t) * g.H + h];
    const float* bt = Bm + ((b * g.S + t) * g.G + grp) * g.N;
    const float* ct = Cm + ((b * g.S + t) * g.G + grp) * g.N;
    const float xt = x[((b * g.S + t) * g.H + h) * g.P + p];
    float acc = 0.0f;
    for (int64_t n = 0; n < g.N; ++n) {
      sr[n] = expf(a[n] * d) * sr[n] + (d * bt[n]) * xt;
      acc += sr[n] * ct[n];
    }
    out[((b * g.S + t) * g.H + h) * g.P + p] = acc + (Dskip ? xt * Dskip[h] : 0.0f);
  }
}

// RWKV-4 WKV of channel bc = b * C + c; state [B, 3, C] = (numerator, denominator, running max).
IA_HD void wkv_at(const float* k, const float* v, const float* time_decay, const float* time_first, float* state,
                  float* out, int64_t S, int64_t C, int64_t bc) {
  const int64_t b = bc / C, c = bc % C;
  float* num = state + (b * 3 + 0) * C + c;
  float* den = state + (b * 3 + 1) * C + c;
  float* mx = state + (b * 3 + 2) * C + c;
  const float decay = -expf(time_decay[c]), first = time_first[c];
  for (int64_t t = 0; t < S; ++t) {
    const float kt = k[(b * S + t) * C + c], vt = v[(b * S + t) * C + c];
    const float m_out = fmaxf(*mx, kt + first);
    float e1 = expf(*mx - m_out), e2 = expf(kt + first - m_out);
    out[(b * S + t) * C + c] = (e1 * *num + e2 * vt) / (e1 * *den + e2);
    const float m_state = fmaxf(*mx + decay, kt);
    e1 = expf(*mx + decay - m_state);
    e2 = expf(kt - m_state);
    *num = e1 * *num + e2 * vt;
    *den = e1 * *den + e2;
    *mx = m_state;
  }
}

// h = a * h + x along time for channel bc = b * C + c; state [B, C].
IA_HD void linear_recurrence_at(const float* a, const float* x, float* state, float* out, int64_t S, int64_t C,
                                int64_t bc) {
  const int64_t b = bc / C, c = bc % C;
  float h = state[bc];
  for (int64_t t = 0; t < S; ++t) {
    const int64_t i = (b * S + t) * C + c;
    h = a[i] * h + x[i];
    out[i] = h;
  }
  state[bc] = h;
}

// ---- weight-only int8: rows [n0, n0 + rows) of W_q [N, K] widened to f32 with their per-row scales.
IA_HD void dequant_int8_at(const int8_t* q, const float* scale, int64_t K, int64_t i, float* out) {
  out[i] = static_cast<float>(q[i]) * scale[i / K];
}

// ---- W8A8 activations: row `row` of x [rows, K] rounded to int8 steps of its absmax / 127 (round half to even,
// as the CPU kernel), kept as f32 so the weight-only int8 GEMV / GEMM then computes the W8A8 product.
IA_HD void quantize_row_at(const float* x, int64_t K, int64_t row, float* out) {
  const float* r = x + row * K;
  float amax = 0.0f;
  for (int64_t k = 0; k < K; ++k) amax = fmaxf(amax, fabsf(r[k]));
  const float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
  for (int64_t k = 0; k < K; ++k) out[row * K + k] = rintf(r[k] * inv) * s;
}

}  // namespace ia::cuda
