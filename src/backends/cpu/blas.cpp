// See blas.h. Blocks are multiples of 64 columns / rows, a few per thread, so OpenBLAS' packing stays efficient.
#include "backends/cpu/blas.h"

#include <cblas.h>

#include <algorithm>

#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

constexpr int64_t kBlock = 64;
constexpr double kSerialFlops = 1 << 18;  // below this a split costs more than it saves

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  auto call = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const float* a = ta ? A + m0 : A + m0 * lda;
    const float* b = tb ? B + n0 * ldb : B + n0;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<int>(m1 - m0), static_cast<int>(n1 - n0), static_cast<int>(K), alpha, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), beta, C + m0 * ldc + n0, static_cast<int>(ldc));
  };
  const bool small = 2.0 * double(M) * double(N) * double(K) < kSerialFlops || num_threads() == 1;
  if (small || (N < 2 * kBlock && M < 2 * kBlock)) return call(0, M, 0, N);
  if (N >= M || N >= 4 * kBlock) {
    const int64_t blocks = (N + kBlock - 1) / kBlock;
    parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) { call(0, M, b0 * kBlock, std::min(N, b1 * kBlock)); });
  } else {
    const int64_t blocks = (M + kBlock - 1) / kBlock;
    parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) { call(b0 * kBlock, std::min(M, b1 * kBlock), 0, N); });
  }
}

void sgemv(int64_t N, int64_t K, const float* W, const float* x, float beta, float* y) {
  if (N == 0) return;
  const int64_t grain = std::max<int64_t>(kBlock, 65536 / std::max<int64_t>(K, 1));
  parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n1 - n0), static_cast<int>(K), 1.0f, W + n0 * K,
                static_cast<int>(K), x, 1, beta, y + n0, 1);
  });
}

}  // namespace ia::cpu
