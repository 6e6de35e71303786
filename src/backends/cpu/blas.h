// OpenBLAS sgemm/sgemv split over the engine's thread pool. OpenBLAS itself runs single-threaded (thread_pool.cpp),
// so every CPU kernel shares one set of threads (OpenMP's team) instead of OpenBLAS' own threads spinning beside it.
#pragma once
#include <cstdint>

namespace ia::cpu {

// Row-major C[M, N] = alpha * op(A)[M, K] @ op(B)[K, N] + beta * C (op = transpose when ta / tb), as
// cblas_sgemm(CblasRowMajor, ...); blocks of N (else of M) run in parallel.
void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// y[N] = W[N, K] @ x[K] + beta * y (W row-major, leading dimension K); blocks of rows run in parallel.
void sgemv(int64_t N, int64_t K, const float* W, const float* x, float beta, float* y);

}  // namespace ia::cpu
