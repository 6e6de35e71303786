// Launchers of the CUDA kernels (defined in the .cu files next to this header). They take raw device pointers
// and plain layouts so the .cu files stay free of the engine's headers (fast nvcc builds); the host side
// (*_cuda.cpp) checks tensors and calls them on the device's stream. Each returns cudaGetLastError().
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/thread_bodies.h"
#include "core/dtype.h"

namespace ia::cuda {

constexpr int kMaxDims = 8;

// Shape of the (collapsed) output and the element strides of up to two inputs over it.
struct Layout {
  int nd = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
};

// Bit flags a kernel sets in the device's error word (read at the next synchronisation).
enum KernelError : int { kEmbeddingIndex = 1, kGatherIndex = 2 };

// Same order as ia::UnaryOp / ia::BinaryOp / ia::ReduceOp (checked by static_assert on the host side).
enum class UnaryCode : int {
  Identity, Relu, Gelu, GeluTanh, GeluFast, QuickGelu, Silu, Sigmoid, Tanh, Exp, Log, Neg, Sqrt, Rsqrt, Abs,
  Softplus, Square, Relu6, Mish, HardSigmoid, HardSwish, Sin, Cos, Erf, Recip
};
enum class BinaryCode : int { Add, Sub, Mul, Div, Max, Min, Pow };
enum class ReduceCode : int { Sum, Mean, Max, Min };

// elementwise.cu
cudaError_t launch_fill(void* out, DType dt, int64_t n, double value, cudaStream_t s);
// dst contiguous (dt), src strided over `layout` (stride_a, elements).
cudaError_t launch_copy(void* dst, DType dt, const void* src, DType st, const Layout& layout, int64_t n,
                        cudaStream_t s);
cudaError_t launch_binary(BinaryCode op, const float* a, const float* b, float* out, const Layout& layout, int64_t n,
                          cudaStream_t s);
cudaError_t launch_unary(UnaryCode op, const float* x, float* y, int64_t n, cudaStream_t s);
cudaError_t launch_scale(const float* x, float mul, float add, float* y, int64_t n, cudaStream_t s);
cudaError_t launch_embedding(const void* table, DType table_dt, const void* ids, bool ids64, float* out, int64_t rows,
                             int64_t D, int64_t V, int* err, cudaStream_t s);
cudaError_t launch_gather_last(const float* x, const int64_t* index, float* out, int64_t outer, int64_t Sq, int64_t R,
                               int64_t Sk, int* err, cudaStream_t s);
// x [B, S, H, D] with strides xs (last dim contiguous); cos/sin [B, S, half]; out contiguous.
cudaError_t launch_rotary(const float* x, const int64_t* xs, const float* cos, const float* sin, bool interleaved,
                          float* out, int64_t B, int64_t S, int64_t H, int64_t D, int64_t half, cudaStream_t s);
// src [B, S, H, D] with strides ss (last dim contiguous) into cache [B, H, L, D] at positions start...
cudaError_t launch_kv_write(float* cache, const float* src, const int64_t* ss, int64_t B, int64_t S, int64_t H,
                            int64_t D, int64_t L, int64_t start, cudaStream_t s);
// out[m, n] = bias[n] for every row (before a GEMM that accumulates with beta = 1).
cudaError_t launch_bias_rows(float* out, const float* bias, int64_t M, int64_t N, cudaStream_t s);
// Small-M linear: out[M, N] = x[M, K] @ w[N, K]^T (+ bias), w f32/f16/bf16; M <= kGemvMaxRows.
constexpr int64_t kGemvMaxRows = 8;
cudaError_t launch_gemv(const float* x, const void* w, DType wdt, const float* bias, float* out, int64_t M, int64_t N,
                        int64_t K, cudaStream_t s);
// The same GEMV over weight-only int8 rows w_q [N, K] with per-row scales [N].
cudaError_t launch_gemv_int8(const float* x, const int8_t* w_q, const float* scale, const float* bias, float* out,
                             int64_t M, int64_t N, int64_t K, cudaStream_t s);
// out[rows, K] = x rows rounded to int8 steps of their absmax / 127 (f32), for linear_w8a8.
cudaError_t launch_quantize_rows(const float* x, int64_t rows, int64_t K, float* out, cudaStream_t s);
// out[rows, K] = w_q[rows, K] * scale[rows] (f32), for the cuBLAS path of linear_int8.
cudaError_t launch_dequant_int8(const int8_t* w_q, const float* scale, int64_t rows, int64_t K, float* out,
                                cudaStream_t s);

// rows.cu: row-wise ops over the last dim D of `rows` contiguous rows.
cudaError_t launch_layer_norm(const float* x, const float* w, const float* b, float eps, float* y, int64_t rows,
                              int64_t D, cudaStream_t s);
cudaError_t launch_rms_norm(const float* x, const float* w, float eps, bool unit_offset, float* y, int64_t rows,
                            int64_t D, cudaStream_t s);
cudaError_t launch_softmax(const float* x, float* y, int64_t rows, int64_t D, cudaStream_t s);
cudaError_t launch_reduce(ReduceCode op, const float* x, float* y, int64_t rows, int64_t D, cudaStream_t s);
cudaError_t launch_argmax(const float* x, int64_t* y, int64_t rows, int64_t D, cudaStream_t s);

// attention.cu
struct AttentionParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;  // [B, Sq, Hq, Dv] contiguous
  int64_t qs[3] = {}, ks[3] = {}, vs[3] = {};  // strides of dims 0..2 (last dim contiguous)
  int64_t B = 0, Hq = 0, Hkv = 0, Sq = 0, Sk = 0, D = 0, Dv = 0;
  float scale = 1.0f, softcap = 0.0f;
  const float* key_mask = nullptr;    // [B, Sk], 0 = masked
  const float* query_mask = nullptr;  // [B, Sq], 0 = row fully masked
  const float* bias = nullptr;        // [Bb, Hb, Sqb, Sk] contiguous
  int64_t bias_sb = 0, bias_sh = 0, bias_sq = 0;
  bool causal = false;
  int64_t q_offset = 0, window = 0;
};
constexpr int64_t kAttentionMaxHeadDim = 256;
cudaError_t launch_attention(const AttentionParams& p, cudaStream_t s);

// vision.cu (geometries in thread_bodies.h). im2col of the Cg channels at src into col [Cg*KH*KW, Ho*Wo].
cudaError_t launch_im2col(const ConvGeom& g, const float* src, int64_t Cg, float* col, cudaStream_t s);
cudaError_t launch_conv2d_depthwise(const ConvGeom& g, const float* x, const float* w, const float* bias, float* out,
                                    cudaStream_t s);
// out[i] = bias[(i / plane) % channels] for i < n.
cudaError_t launch_bias_planes(const float* bias, int64_t plane, int64_t channels, float* out, int64_t n,
                               cudaStream_t s);
cudaError_t launch_pool2d(const PoolGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s);
cudaError_t launch_adaptive_avg_pool2d(const PoolGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s);
cudaError_t launch_interpolate(const InterpGeom& g, const float* x, float* out, int64_t planes, cudaStream_t s);
cudaError_t launch_channel_affine(const float* x, const float* scale, const float* shift, int64_t N, int64_t C,
                                  int64_t S, float* out, cudaStream_t s);
// stats: device scratch of 2 * N * G floats (mean, rstd per (sample, group)).
cudaError_t launch_group_norm(const float* x, const float* w, const float* b, int64_t N, int64_t C, int64_t S,
                              int64_t G, float eps, float* stats, float* out, cudaStream_t s);

// ssm.cu
cudaError_t launch_causal_conv1d(const float* x, const float* w, const float* bias, float* state, float* out,
                                 int64_t B, int64_t S, int64_t C, int64_t K, cudaStream_t s);
cudaError_t launch_selective_scan(const ScanGeom& g, const float* x, const float* dt, const float* A, const float* Bm,
                                  const float* Cm, const float* Dskip, float* state, float* out, cudaStream_t s);
cudaError_t launch_wkv(const float* k, const float* v, const float* time_decay, const float* time_first,
                       float* state, float* out, int64_t B, int64_t S, int64_t C, cudaStream_t s);
cudaError_t launch_linear_recurrence(const float* a, const float* x, float* state, float* out, int64_t B, int64_t S,
                                     int64_t C, cudaStream_t s);

}  // namespace ia::cuda
