// CPU kernels: linear (x @ W^T + b) and batched matmul, on OpenBLAS sgemm/sgemv. f16/bf16 weights are
// widened to f32 (row blocks for GEMM, on the fly for GEMV).
#include <cblas.h>

#include <cstring>
#include <vector>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

void widen_rows(const Tensor& w, int64_t r0, int64_t r1, float* dst) {
  const int64_t K = w.dim(1);
  const uint16_t* h = static_cast<const uint16_t*>(w.raw_data()) + r0 * K;
  const int64_t n = (r1 - r0) * K;
  if (w.dtype() == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
  } else {
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(h[i]);
  }
}

void linear_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (M == 0 || N == 0) return;
  if (w.dtype() == DType::F32) {
    const float* wp = w.data<float>();
    if (M == 1) {
      if (bp) std::memcpy(op, bp, N * sizeof(float));
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, wp, K, xp, 1, bp ? 1.0f : 0.0f, op, 1);
      return;
    }
    if (bp)
      for (int64_t m = 0; m < M; ++m) std::memcpy(op + m * N, bp, N * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, xp, K, wp, K, bp ? 1.0f : 0.0f, op, N);
    return;
  }
  IA_CHECK(w.dtype() == DType::F16 || w.dtype() == DType::BF16, ErrorKind::Unsupported,
           "linear: weight dtype {} not supported on cpu", dtype_name(w.dtype()));
  if (M <= 4) {  // GEMV: widen each weight row on the fly, parallel over output features
    parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
      std::vector<float> row(K);
      for (int64_t n = n0; n < n1; ++n) {
        widen_rows(w, n, n + 1, row.data());
        for (int64_t m = 0; m < M; ++m) op[m * N + n] = dot(xp + m * K, row.data(), K) + (bp ? bp[n] : 0.0f);
      }
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  std::vector<float> wb(static_cast<size_t>(std::min(N, kBlock) * K));
  for (int64_t n0 = 0; n0 < N; n0 += kBlock) {
    const int64_t nb = std::min(kBlock, N - n0);
    widen_rows(w, n0, n0 + nb, wb.data());
    if (bp)
      for (int64_t m = 0; m < M; ++m) std::memcpy(op + m * N + n0, bp + n0, nb * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nb, K, 1.0f, xp, K, wb.data(), K, bp ? 1.0f : 0.0f,
                op + n0, N);
  }
}

void matmul_cpu(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, float alpha) {
  const int64_t B = c.dim(0), M = c.dim(1), N = c.dim(2);
  const int64_t K = ta ? a.dim(1) : a.dim(2);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* cp = c.data<float>();
  const int64_t as = a.dim(1) * a.dim(2), bs = b.dim(0) == 1 ? 0 : b.dim(1) * b.dim(2);
  const int lda = static_cast<int>(a.dim(2)), ldb = static_cast<int>(b.dim(2));
  for (int64_t i = 0; i < B; ++i)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                ap + i * as, lda, bp + i * bs, ldb, 0.0f, cp + i * M * N, N);
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(linear, ia::DeviceType::CPU, ia::cpu::linear_cpu)
IA_REGISTER_KERNEL(matmul, ia::DeviceType::CPU, ia::cpu::matmul_cpu)
