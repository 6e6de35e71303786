// CUDA kernels over the last dim: layer norm, RMS norm, softmax, sum/mean/max/min, argmax. One block per row
// (one warp for short rows); two-pass mean/variance like the CPU reference.
#include <cfloat>

#include "backends/cuda/kernels.cuh"

namespace ia::cuda {
namespace {

constexpr int kMaxWarps = 8;

__device__ inline float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ inline float warp_min(float v) {
  for (int o = 16; o > 0; o /= 2) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide reduction; every thread gets the result. kind: 0 sum, 1 max, 2 min.
template <int KIND>
__device__ float block_reduce(float v) {
  __shared__ float part[kMaxWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nw = blockDim.x / 32;
  auto op = [](float x) { return KIND == 0 ? warp_sum(x) : KIND == 1 ? warp_max(x) : warp_min(x); };
  v = op(v);
  if (nw == 1) return v;
  __syncthreads();  // `part` may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const float identity = KIND == 0 ? 0.0f : KIND == 1 ? -INFINITY : INFINITY;
  float r = lane < nw ? part[lane] : identity;
  return op(r);
}

__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, float eps, float* y, int64_t D) {
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
  const float mean = block_reduce<0>(s) / static_cast<float>(D);
  float v = 0.0f;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const float d = xr[i] - mean;
    v += d * d;
  }
  const float inv = rsqrtf(block_reduce<0>(v) / static_cast<float>(D) + eps);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    float o = (xr[i] - mean) * inv;
    if (w) o *= w[i];
    if (b) o += b[i];
    yr[i] = o;
  }
}

__global__ void rms_norm_kernel(const float* x, const float* w, float eps, bool unit_offset, float* y, int64_t D) {
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += xr[i] * xr[i];
  const float inv = rsqrtf(block_reduce<0>(s) / static_cast<float>(D) + eps);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    float o = xr[i] * inv;
    if (w) o *= unit_offset ? 1.0f + w[i] : w[i];
    yr[i] = o;
  }
}

__global__ void softmax_kernel(const float* x, float* y, int64_t D) {
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) m = fmaxf(m, xr[i]);
  m = block_reduce<1>(m);
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const float e = expf(xr[i] - m);
    yr[i] = e;
    s += e;
  }
  const float inv = 1.0f / block_reduce<0>(s);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] *= inv;
}

__global__ void reduce_kernel(ReduceCode op, const float* x, float* y, int64_t D) {
  const float* xr = x + blockIdx.x * D;
  float r;
  if (op == ReduceCode::Max) {
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) m = fmaxf(m, xr[i]);
    r = block_reduce<1>(m);
  } else if (op == ReduceCode::Min) {
    float m = INFINITY;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) m = fminf(m, xr[i]);
    r = block_reduce<2>(m);
  } else {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
    r = block_reduce<0>(s);
    if (op == ReduceCode::Mean) r /= static_cast<float>(D);
  }
  if (threadIdx.x == 0) y[blockIdx.x] = r;
}

// First maximum wins (torch.argmax): reduce (value, index) pairs preferring the larger value, then the lower index.
__global__ void argmax_kernel(const float* x, int64_t* y, int64_t D) {
  const float* xr = x + blockIdx.x * D;
  float best = -INFINITY;
  int64_t bi = D;  // D: nothing seen yet
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
    if (bi == D || xr[i] > best) best = xr[i], bi = i;
  __shared__ float pv[kMaxWarps];
  __shared__ int64_t pi[kMaxWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nw = blockDim.x / 32;
  auto better = [](float v, int64_t i, float bv, int64_t bidx) { return v > bv || (v == bv && i < bidx); };
  for (int o = 16; o > 0; o /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (oi < D && (bi == D || better(ov, oi, best, bi))) best = ov, bi = oi;
  }
  if (lane == 0) pv[warp] = best, pi[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int wi = 1; wi < nw; ++wi)
      if (pi[wi] < D && (bi == D || better(pv[wi], pi[wi], best, bi))) best = pv[wi], bi = pi[wi];
    y[blockIdx.x] = bi == D ? 0 : bi;
  }
}

int threads_for(int64_t D) { return D >= 2048 ? 256 : D >= 512 ? 128 : D >= 128 ? 64 : 32; }

unsigned rows_grid(int64_t rows) { return static_cast<unsigned>(rows); }

}  // namespace

cudaError_t launch_layer_norm(const float* x, const float* w, const float* b, float eps, float* y, int64_t rows,
                              int64_t D, cudaStream_t s) {
  if (rows > 0 && D > 0) layer_norm_kernel<<<rows_grid(rows), threads_for(D), 0, s>>>(x, w, b, eps, y, D);
  return cudaGetLastError();
}

cudaError_t launch_rms_norm(const float* x, const float* w, float eps, bool unit_offset, float* y, int64_t rows,
                            int64_t D, cudaStream_t s) {
  if (rows > 0 && D > 0) rms_norm_kernel<<<rows_grid(rows), threads_for(D), 0, s>>>(x, w, eps, unit_offset, y, D);
  return cudaGetLastError();
}

cudaError_t launch_softmax(const float* x, float* y, int64_t rows, int64_t D, cudaStream_t s) {
  if (rows > 0 && D > 0) softmax_kernel<<<rows_grid(rows), threads_for(D), 0, s>>>(x, y, D);
  return cudaGetLastError();
}

cudaError_t launch_reduce(ReduceCode op, const float* x, float* y, int64_t rows, int64_t D, cudaStream_t s) {
  if (rows > 0) reduce_kernel<<<rows_grid(rows), threads_for(D), 0, s>>>(op, x, y, D);
  return cudaGetLastError();
}

cudaError_t launch_argmax(const float* x, int64_t* y, int64_t rows, int64_t D, cudaStream_t s) {
  if (rows > 0) argmax_kernel<<<rows_grid(rows), threads_for(D), 0, s>>>(x, y, D);
  return cudaGetLastError();
}

}  // namespace ia::cuda
