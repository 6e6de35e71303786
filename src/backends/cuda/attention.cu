// CUDA fused attention, flash-attention style in f32: a block holds 32 queries of one (batch, head), streams
// 32-key tiles of K/V through shared memory and keeps an online softmax per query, so scores never reach global
// memory. Masking semantics are those of attention_cpu.cpp: key_mask, query_mask, causal with q_offset, sliding
// window, additive bias, softcap, GQA, and the uniform row (mean of V) when a query sees no key.
#include "backends/cuda/kernels.cuh"

namespace ia::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kQueriesPerWarp = 4;
constexpr int kBr = kWarps * kQueriesPerWarp;  // queries per block
constexpr int kBc = 32;                        // keys per tile (one per lane)

__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ inline float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline int64_t round4(int64_t d) { return (d + 3) / 4 * 4; }

size_t smem_bytes(int64_t D, int64_t Dv) {
  const int64_t Dq = round4(D);
  return sizeof(float) * (kBr * Dq + kBc * (Dq + 4) + kBc * Dv + kWarps * kQueriesPerWarp * kBc);
}

// DVC: output features per lane (Dv <= 32 * DVC).
template <int DVC>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttentionParams p) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int Dq = static_cast<int>((p.D + 3) / 4 * 4), Dk = Dq + 4, Dv = static_cast<int>(p.Dv);
  const int D = static_cast<int>(p.D);
  float* Qs = smem;
  float* Ks = Qs + kBr * Dq;
  float* Vs = Ks + kBc * Dk;
  float* Ps = Vs + kBc * Dv;

  const int64_t b = blockIdx.x / p.Hq, h = blockIdx.x % p.Hq, kh = h / (p.Hq / p.Hkv);
  const int64_t q0 = int64_t(blockIdx.y) * kBr;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
  const float* qb = p.q + b * p.qs[0] + h * p.qs[1];
  const float* kb = p.k + b * p.ks[0] + kh * p.ks[1];
  const float* vb = p.v + b * p.vs[0] + kh * p.vs[1];

  for (int idx = tid; idx < kBr * Dq; idx += blockDim.x) {
    const int r = idx / Dq, d = idx % Dq;
    const int64_t i = q0 + r;
    Qs[idx] = (i < p.Sq && d < D) ? qb[i * p.qs[2] + d] : 0.0f;
  }

  // Key tiles any query of this block can see.
  const int64_t qlast = imin(q0 + kBr, p.Sq) - 1;
  int64_t kbeg = 0, kend = p.Sk;
  if (p.causal) kend = imax(0, imin(p.Sk, qlast + p.q_offset + 1));
  if (p.window > 0) kbeg = imax(0, q0 + p.q_offset - p.window + 1) / kBc * kBc;

  float m[kQueriesPerWarp], lsum[kQueriesPerWarp], acc[kQueriesPerWarp][DVC];
  bool qok[kQueriesPerWarp], any[kQueriesPerWarp], had[kQueriesPerWarp];
#pragma unroll
  for (int t = 0; t < kQueriesPerWarp; ++t) {
    m[t] = -INFINITY;
    lsum[t] = 0.0f;
    any[t] = false;
#pragma unroll
    for (int c = 0; c < DVC; ++c) acc[t][c] = 0.0f;
    const int64_t i = q0 + warp * kQueriesPerWarp + t;
    qok[t] = i < p.Sq && (!p.query_mask || p.query_mask[b * p.Sq + i] != 0.0f);
  }

  for (int64_t j0 = kbeg; j0 < kend; j0 += kBc) {
    __syncthreads();
    for (int idx = tid; idx < kBc * Dq; idx += blockDim.x) {
      const int r = idx / Dq, d = idx % Dq;
      const int64_t j = j0 + r;
      Ks[r * Dk + d] = (j < p.Sk && d < D) ? kb[j * p.ks[2] + d] : 0.0f;
    }
    for (int idx = tid; idx < kBc * Dv; idx += blockDim.x) {
      const int r = idx / Dv, d = idx % Dv;
      const int64_t j = j0 + r;
      Vs[idx] = j < p.Sk ? vb[j * p.vs[2] + d] : 0.0f;
    }
    __syncthreads();

    const int64_t j = j0 + lane;
    const bool key_ok = j < p.Sk && (!p.key_mask || p.key_mask[b * p.Sk + j] != 0.0f);
    float s[kQueriesPerWarp];
#pragma unroll
    for (int t = 0; t < kQueriesPerWarp; ++t) s[t] = 0.0f;
    const float* krow = Ks + lane * Dk;
    const float* qrow = Qs + warp * kQueriesPerWarp * Dq;
    for (int d = 0; d < Dq; d += 4) {
      const float4 kv = *reinterpret_cast<const float4*>(krow + d);
#pragma unroll
      for (int t = 0; t < kQueriesPerWarp; ++t) {
        const float4 qv = *reinterpret_cast<const float4*>(qrow + t * Dq + d);
        s[t] += qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w;
      }
    }
#pragma unroll
    for (int t = 0; t < kQueriesPerWarp; ++t) {
      had[t] = false;
      const int64_t i = q0 + warp * kQueriesPerWarp + t;
      if (i >= p.Sq) continue;  // warp-uniform
      const int64_t pos = i + p.q_offset;
      bool vis = key_ok && qok[t];
      if (p.causal && j > pos) vis = false;
      if (p.window > 0 && pos - j >= p.window) vis = false;
      float sc = p.scale * s[t];
      if (p.bias && j < p.Sk) sc += p.bias[b * p.bias_sb + h * p.bias_sh + i * p.bias_sq + j];
      if (p.softcap > 0.0f) sc = p.softcap * tanhf(sc / p.softcap);
      const float mx = warp_max(vis ? sc : -INFINITY);
      float* prow = Ps + (warp * kQueriesPerWarp + t) * kBc;
      if (mx == -INFINITY) continue;  // nothing visible for this query in this tile
      had[t] = any[t] = true;
      const float mnew = fmaxf(m[t], mx);
      const float corr = expf(m[t] - mnew);
      const float pj = vis ? expf(sc - mnew) : 0.0f;
      lsum[t] = lsum[t] * corr + pj;
#pragma unroll
      for (int c = 0; c < DVC; ++c) acc[t][c] *= corr;
      m[t] = mnew;
      prow[lane] = pj;
    }
    __syncwarp();
    const int64_t nk = imin(kBc, p.Sk - j0);
#pragma unroll
    for (int t = 0; t < kQueriesPerWarp; ++t) {
      if (!had[t]) continue;
      const float* prow = Ps + (warp * kQueriesPerWarp + t) * kBc;
      for (int jj = 0; jj < nk; ++jj) {
        const float pj = prow[jj];
#pragma unroll
        for (int c = 0; c < DVC; ++c) {
          const int d = lane + 32 * c;
          if (d < Dv) acc[t][c] += pj * Vs[jj * Dv + d];
        }
      }
    }
  }

#pragma unroll
  for (int t = 0; t < kQueriesPerWarp; ++t) {
    const int64_t i = q0 + warp * kQueriesPerWarp + t;
    if (i >= p.Sq) continue;
    const float l = warp_sum(lsum[t]);
    float* orow = p.out + ((b * p.Sq + i) * p.Hq + h) * Dv;
    if (any[t]) {
      const float inv = 1.0f / l;
#pragma unroll
      for (int c = 0; c < DVC; ++c) {
        const int d = lane + 32 * c;
        if (d < Dv) orow[d] = acc[t][c] * inv;
      }
    } else {  // HF eager: all scores equally masked -> uniform weights over every key
      const float w = p.Sk > 0 ? 1.0f / static_cast<float>(p.Sk) : 0.0f;
#pragma unroll
      for (int c = 0; c < DVC; ++c) {
        const int d = lane + 32 * c;
        if (d >= Dv) continue;
        float sum = 0.0f;
        for (int64_t jj = 0; jj < p.Sk; ++jj) sum += w * vb[jj * p.vs[2] + d];
        orow[d] = sum;
      }
    }
  }
}

template <int DVC>
cudaError_t launch_typed(const AttentionParams& p, cudaStream_t s) {
  const size_t bytes = smem_bytes(p.D, p.Dv);
  constexpr int kMaxDevices = 64;
  static size_t opted_in[kMaxDevices] = {};  // per device: the attribute belongs to the device's context
  int dev = 0;
  if (cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  if (bytes > 48 * 1024 && (dev >= kMaxDevices || bytes > opted_in[dev])) {
    cudaError_t e = cudaFuncSetAttribute(attention_kernel<DVC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
    if (dev < kMaxDevices) opted_in[dev] = bytes;
  }
  const dim3 grid(static_cast<unsigned>(p.B * p.Hq), static_cast<unsigned>((p.Sq + kBr - 1) / kBr));
  attention_kernel<DVC><<<grid, kWarps * 32, bytes, s>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_attention(const AttentionParams& p, cudaStream_t s) {
  if (p.B * p.Hq * p.Sq == 0 || p.Dv == 0) return cudaGetLastError();
  if (p.Dv <= 32) return launch_typed<1>(p, s);
  if (p.Dv <= 64) return launch_typed<2>(p, s);
  if (p.Dv <= 128) return launch_typed<4>(p, s);
  return launch_typed<8>(p, s);
}

}  // namespace ia::cuda
