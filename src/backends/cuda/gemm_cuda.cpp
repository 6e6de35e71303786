// CUDA kernels (host side): linear (x @ W^T + b), weight-only int8 linear and batched matmul. Small M (decode)
// runs our GEMV reading f32/f16/bf16/int8 weights directly; larger M goes to cuBLAS. f16/bf16 weights are widened to f32 in bounded row
// chunks under the default fp32 math (bit-for-bit the CPU reference's arithmetic model); IA_CUDA_MATH=bf16/fp16
// instead casts the activations to the weight dtype and runs a tensor-core GEMM with f32 accumulation.
#include <climits>

#include "backends/cuda/cuda_device.h"
#include "ops/ops.h"

namespace ia::cuda {
namespace {

constexpr size_t kWidenChunkBytes = size_t(64) << 20;

cudaDataType cuda_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

// out[:, n0:n0+nb] (ldc N) = x[M, K] @ w_rows[nb, K]^T, accumulating onto out when beta = 1.
void gemm_rows(const DeviceContext& ctx, const void* w, cudaDataType wt, const void* x, cudaDataType xt, float* out,
               int M, int nb, int K, int N, float beta, cublasComputeType_t compute) {
  const float alpha = 1.0f;
  check_blas(blas().gemm_ex(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, nb, M, K, &alpha, w, wt, K, x, xt, K, &beta, out,
                            CUDA_R_32F, N, compute, CUBLAS_GEMM_DEFAULT),
             ctx.index, "linear (cublasGemmEx)");
}

void linear_cuda(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  IA_CHECK(w.dtype() == DType::F32 || w.dtype() == DType::F16 || w.dtype() == DType::BF16, ErrorKind::Unsupported,
           "linear: weight dtype {} not supported on cuda", dtype_name(w.dtype()));
  if (M == 0 || N == 0) return;
  DeviceContext& ctx = context(out.device().index);
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (M <= kGemvMaxRows || K == 0) {
    check_launch(launch_gemv(x.data<float>(), w.raw_data(), w.dtype(), bp, out.data<float>(), M, N, K, ctx.stream),
                 out, "linear (gemv)");
    return;
  }
  const int m = as_int(M, "rows", x), n = as_int(N, "out features", w), k = as_int(K, "in features", w);
  float beta = 0.0f;
  if (bp) {
    check_launch(launch_bias_rows(out.data<float>(), bp, M, N, ctx.stream), out, "linear (bias)");
    beta = 1.0f;
  }
  const MathMode mode = math_mode();
  if (w.dtype() == DType::F32) {
    gemm_rows(ctx, w.raw_data(), CUDA_R_32F, x.raw_data(), CUDA_R_32F, out.data<float>(), m, n, k, n, beta,
              f32_compute());
    return;
  }
  if (mode == MathMode::BF16 || mode == MathMode::F16) {
    Tensor xw = x.to(w.dtype());
    gemm_rows(ctx, w.raw_data(), cuda_type(w.dtype()), xw.raw_data(), cuda_type(w.dtype()), out.data<float>(), m, n, k,
              n, beta, CUBLAS_COMPUTE_32F);
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kWidenChunkBytes / (sizeof(float) * K)));
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nb = std::min(chunk, N - n0);
    Tensor wf = w.slice(0, n0, n0 + nb).to(DType::F32);
    gemm_rows(ctx, wf.raw_data(), CUDA_R_32F, x.raw_data(), CUDA_R_32F, out.data<float>() + n0, m,
              static_cast<int>(nb), k, n, beta, f32_compute());
  }
}

// Weight-only int8: the GEMV reads int8 rows directly (decode); larger M widens bounded row chunks to f32 with
// their scales and runs cuBLAS, like the CPU kernel's dequantize-then-sgemm blocks.
void linear_int8_cuda(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M == 0 || N == 0) return;
  DeviceContext& ctx = context(out.device().index);
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (M <= kGemvMaxRows || K == 0) {
    check_launch(launch_gemv_int8(x.data<float>(), w.data<int8_t>(), scale.data<float>(), bp, out.data<float>(), M, N,
                                  K, ctx.stream),
                 out, "linear_int8 (gemv)");
    return;
  }
  const int m = as_int(M, "rows", x), n = as_int(N, "out features", w), k = as_int(K, "in features", w);
  float beta = 0.0f;
  if (bp) {
    check_launch(launch_bias_rows(out.data<float>(), bp, M, N, ctx.stream), out, "linear_int8 (bias)");
    beta = 1.0f;
  }
  const int64_t chunk = std::min<int64_t>(N, std::max<int64_t>(1, static_cast<int64_t>(kWidenChunkBytes / (sizeof(float) * K))));
  Tensor wf = Tensor::empty({chunk, K}, DType::F32, out.device());
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nb = std::min(chunk, N - n0);
    check_launch(launch_dequant_int8(w.data<int8_t>() + n0 * K, scale.data<float>() + n0, nb, K, wf.data<float>(),
                                     ctx.stream),
                 out, "linear_int8 (dequantize)");
    gemm_rows(ctx, wf.raw_data(), CUDA_R_32F, x.raw_data(), CUDA_R_32F, out.data<float>() + n0, m,
              static_cast<int>(nb), k, n, beta, f32_compute());
  }
}

// W8A8: the rows of x rounded to their int8 steps, then the weight-only int8 product (f32 accumulation of the
// integer products, equal to the CPU kernel's int32 sums within f32 rounding).
void linear_w8a8_cuda(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1);
  if (M == 0 || w.dim(0) == 0) return;
  DeviceContext& ctx = context(out.device().index);
  Tensor xq = Tensor::empty({M, K}, DType::F32, out.device());
  check_launch(launch_quantize_rows(x.data<float>(), M, K, xq.data<float>(), ctx.stream), out,
               "linear_w8a8 (quantize rows)");
  linear_int8_cuda(xq, w, scale, bias, out);
}

// Row-major C = alpha op(A) op(B) is column-major C^T = alpha op(B)^T op(A)^T: B is cuBLAS's first operand.
void matmul_cuda(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, float alpha) {
  const int64_t B = c.dim(0), M = c.dim(1), N = c.dim(2);
  const int64_t K = ta ? a.dim(1) : a.dim(2);
  if (B == 0 || M == 0 || N == 0) return;
  DeviceContext& ctx = context(c.device().index);
  if (K == 0) {
    check_launch(launch_fill(c.raw_data(), DType::F32, c.numel(), 0.0, ctx.stream), c, "matmul");
    return;
  }
  const long long stride_b = b.dim(0) == 1 ? 0 : b.dim(1) * b.dim(2);
  const long long stride_a = a.dim(1) * a.dim(2);
  const float beta = 0.0f;
  check_blas(blas().gemm_strided_batched_ex(
                 ctx.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N, "N", c),
                 as_int(M, "M", c), as_int(K, "K", a), &alpha, b.raw_data(), CUDA_R_32F, as_int(b.dim(2), "ldb", b),
                 stride_b, a.raw_data(), CUDA_R_32F, as_int(a.dim(2), "lda", a), stride_a, &beta, c.raw_data(),
                 CUDA_R_32F, as_int(N, "N", c), M * N, as_int(B, "batch", c), f32_compute(), CUBLAS_GEMM_DEFAULT),
             ctx.index, "matmul (cublasGemmStridedBatchedEx)");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(linear, ia::DeviceType::CUDA, ia::cuda::linear_cuda)
IA_REGISTER_KERNEL(linear_int8, ia::DeviceType::CUDA, ia::cuda::linear_int8_cuda)
IA_REGISTER_KERNEL(linear_w8a8, ia::DeviceType::CUDA, ia::cuda::linear_w8a8_cuda)
IA_REGISTER_KERNEL(matmul, ia::DeviceType::CUDA, ia::cuda::matmul_cuda)
