// CUDA kernels for the state-space recurrences (ops/ssm.h): one thread per independent channel (per (b, h, p) for
// the selective scan) running its recurrence over time, as the bodies in thread_bodies.h. Prefill and decode are
// the same launch; the state is updated in place.
#include "backends/cuda/grid.cuh"
#include "backends/cuda/kernels.cuh"

namespace ia::cuda {
namespace {

constexpr int kThreads = 128;

inline unsigned grid_for(int64_t n) { return grid_blocks(n, kThreads); }

__global__ void causal_conv1d_kernel(const float* x, const float* w, const float* bias, float* state, float* out,
                                     int64_t S, int64_t C, int64_t K, int64_t n) {
  IA_GRID_STRIDE(bc, n) causal_conv1d_at(x, w, bias, state, out, S, C, K, bc);
}

__global__ void selective_scan_kernel(ScanGeom g, const float* x, const float* dt, const float* A, const float* Bm,
                                      const float* Cm, const float* Dskip, float* state, float* out, int64_t n) {
  IA_GRID_STRIDE(bhp, n) selective_scan_at(g, x, dt, A, Bm, Cm, Dskip, state, out, bhp);
}

__global__ void wkv_kernel(const float* k, const float* v, const float* time_decay, const float* time_first,
                           float* state, float* out, int64_t S, int64_t C, int64_t n) {
  IA_GRID_STRIDE(bc, n) wkv_at(k, v, time_decay, time_first, state, out, S, C, bc);
}

__global__ void linear_recurrence_kernel(const float* a, const float* x, float* state, float* out, int64_t S,
                                         int64_t C, int64_t n) {
  IA_GRID_STRIDE(bc, n) linear_recurrence_at(a, x, state, out, S, C, bc);
}

}  // namespace

cudaError_t launch_causal_conv1d(const float* x, const float* w, const float* bias, float* state, float* out,
                                 int64_t B, int64_t S, int64_t C, int64_t K, cudaStream_t s) {
  const int64_t n = B * C;
  if (n > 0) causal_conv1d_kernel<<<grid_for(n), kThreads, 0, s>>>(x, w, bias, state, out, S, C, K, n);
  return cudaGetLastError();
}

cudaError_t launch_selective_scan(const ScanGeom& g, const float* x, const float* dt, const float* A, const float* Bm,
                                  const float* Cm, const float* Dskip, float* state, float* out, cudaStream_t s) {
  const int64_t n = g.B * g.H * g.P;
  if (n > 0) selective_scan_kernel<<<grid_for(n), kThreads, 0, s>>>(g, x, dt, A, Bm, Cm, Dskip, state, out, n);
  return cudaGetLastError();
}

cudaError_t launch_wkv(const float* k, const float* v, const float* time_decay, const float* time_first,
                       float* state, float* out, int64_t B, int64_t S, int64_t C, cudaStream_t s) {
  const int64_t n = B * C;
  if (n > 0) wkv_kernel<<<grid_for(n), kThreads, 0, s>>>(k, v, time_decay, time_first, state, out, S, C, n);
  return cudaGetLastError();
}

cudaError_t launch_linear_recurrence(const float* a, const float* x, float* state, float* out, int64_t B, int64_t S,
                                     int64_t C, cudaStream_t s) {
  const int64_t n = B * C;
  if (n > 0) linear_recurrence_kernel<<<grid_for(n), kThreads, 0, s>>>(a, x, state, out, S, C, n);
  return cudaGetLastError();
}

}  // namespace ia::cuda
