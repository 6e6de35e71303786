// CUDA kernels for the vision ops: im2col and the depthwise direct convolution (conv2d's GEMM is cuBLAS), bias
// planes, max/avg and adaptive average pooling, interpolation, per-channel affine and group norm. Each element
// kernel is a grid-stride loop over a body in thread_bodies.h; group norm's statistics are one block per
// (sample, group) accumulating in double like the CPU kernel.
#include "backends/cuda/grid.cuh"
#include "backends/cuda/kernels.cuh"

namespace ia::cuda {
namespace {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t n) { return grid_blocks(n, kThreads); }

__global__ void im2col_kernel(ConvGeom g, const float* src, float* col, int64_t n) {
  IA_GRID_STRIDE(i, n) im2col_at(g, src, i, col);
}

__global__ void conv2d_depthwise_kernel(ConvGeom g, const float* x, const float* w, const float* bias, float* out,
                                        int64_t n) {
  IA_GRID_STRIDE(i, n) conv2d_depthwise_at(g, x, w, bias, i, out);
}

__global__ void bias_planes_kernel(const float* bias, int64_t plane, int64_t channels, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) bias_planes_at(bias, plane, channels, i, out);
}

__global__ void pool2d_kernel(PoolGeom g, const float* x, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) pool2d_at(g, x, i, out);
}

__global__ void adaptive_avg_pool2d_kernel(PoolGeom g, const float* x, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) adaptive_avg_pool2d_at(g, x, i, out);
}

__global__ void interpolate_kernel(InterpGeom g, const float* x, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) interpolate_at(g, x, i, out);
}

__global__ void channel_affine_kernel(const float* x, const float* scale, const float* shift, int64_t C, int64_t S,
                                      float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) channel_affine_at(x, scale, shift, C, S, i, out);
}

__device__ double block_sum(double v) {
  __shared__ double part[kThreads];
  __syncthreads();  // `part` may still be read by a previous call
  part[threadIdx.x] = v;
  __syncthreads();
  for (int o = kThreads / 2; o > 0; o /= 2) {
    if (threadIdx.x < o) part[threadIdx.x] += part[threadIdx.x + o];
    __syncthreads();
  }
  return part[0];
}

// One block per (sample, group): the group's Cg * S elements are contiguous in [N, C, S].
__global__ void group_norm_stats_kernel(const float* x, int64_t count, float eps, float* stats) {
  const float* src = x + blockIdx.x * count;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s += src[i];
  const double mean = count ? block_sum(s) / double(count) : 0.0;
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const double d = src[i] - mean;
    sq += d * d;
  }
  sq = block_sum(sq);
  if (threadIdx.x == 0) group_norm_stats(sq, mean, count, eps, stats + 2 * blockIdx.x);
}

__global__ void group_norm_apply_kernel(const float* x, const float* stats, const float* w, const float* b, int64_t C,
                                        int64_t S, int64_t G, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) group_norm_apply_at(x, stats, w, b, C, S, G, i, out);
}

}  // namespace

cudaError_t launch_im2col(const ConvGeom& g, const float* src, int64_t Cg, float* col, cudaStream_t s) {
  const int64_t n = Cg * g.KH * g.KW * g.Ho * g.Wo;
  if (n > 0) im2col_kernel<<<grid_for(n), kThreads, 0, s>>>(g, src, col, n);
  return cudaGetLastError();
}

cudaError_t launch_conv2d_depthwise(const ConvGeom& g, const float* x, const float* w, const float* bias, float* out,
                                    cudaStream_t s) {
  const int64_t n = g.N * g.O * g.Ho * g.Wo;
  if (n > 0) conv2d_depthwise_kernel<<<grid_for(n), kThreads, 0, s>>>(g, x, w, bias, out, n);
  return cudaGetLastError();
}

cudaError_t launch_bias_planes(const float* bias, int64_t plane, int64_t channels, float* out, int64_t n,
                               cudaStream_t s) {
  if (n > 0) bias_planes_kernel<<<grid_for(n), kThreads, 0, s>>>(bias, plane, channels, out, n);
  return cudaGetLastError();
}

cudaError_t launch_pool2d(const PoolGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s) {
  const int64_t n = planes * g.Ho * g.Wo;
  if (n > 0) pool2d_kernel<<<grid_for(n), kThreads, 0, s>>>(g, x, out, n);
  return cudaGetLastError();
}

cudaError_t launch_adaptive_avg_pool2d(const PoolGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s) {
  const int64_t n = planes * g.Ho * g.Wo;
  if (n > 0) adaptive_avg_pool2d_kernel<<<grid_for(n), kThreads, 0, s>>>(g, x, out, n);
  return cudaGetLastError();
}

cudaError_t launch_interpolate(const InterpGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s) {
  const int64_t n = planes * g.Ho * g.Wo;
  if (n > 0) interpolate_kernel<<<grid_for(n), kThreads, 0, s>>>(g, x, out, n);
  return cudaGetLastError();
}

cudaError_t launch_channel_affine(const float* x, const float* scale, const float* shift, int64_t N, int64_t C,
                                  int64_t S, float* out, cudaStream_t s) {
  const int64_t n = N * C * S;
  if (n > 0) channel_affine_kernel<<<grid_for(n), kThreads, 0, s>>>(x, scale, shift, C, S, out, n);
  return cudaGetLastError();
}

cudaError_t launch_group_norm(const float* x, const float* w, const float* b, int64_t N, int64_t C, int64_t S,
                              int64_t G, float eps, float* stats, float* out, cudaStream_t s) {
  const int64_t n = N * C * S;
  if (n <= 0) return cudaGetLastError();
  group_norm_stats_kernel<<<static_cast<unsigned>(N * G), kThreads, 0, s>>>(x, (C / G) * S, eps, stats);
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  group_norm_apply_kernel<<<grid_for(n), kThreads, 0, s>>>(x, stats, w, b, C, S, G, out, n);
  return cudaGetLastError();
}

}  // namespace ia::cuda
