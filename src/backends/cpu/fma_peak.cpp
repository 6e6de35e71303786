#include "backends/cpu/fma_peak.h"

#include <chrono>
#include <vector>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

constexpr int kChains = 12;  // enough independent accumulators to cover the FMA latency on two pipes
constexpr long kIters = 4000000;

#ifdef IA_HAVE_AVX2
__attribute__((target("avx512f"))) float fma_loop_512(float seed) {
  __m512 a[kChains];
  const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(seed + i);
  for (long it = 0; it < kIters; ++it)
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  float lanes[16], s = 0.0f;  // summed by hand: GCC 12's _mm512_reduce_add_ps warns of uninitialized operands
  for (int i = 0; i < kChains; ++i) {
    _mm512_storeu_ps(lanes, a[i]);
    for (float x : lanes) s += x;
  }
  return s;
}

float fma_loop_256(float seed) {
  __m256 a[kChains];
  const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(seed + i);
  for (long it = 0; it < kIters; ++it)
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  float s = 0.0f;
  for (int i = 0; i < kChains; ++i) s += hsum256(a[i]);
  return s;
}
#endif

}  // namespace

double measure_fp32_fma_peak_gflops() {
#ifdef IA_HAVE_AVX2
  const bool wide = have_avx512();
  const int threads = num_threads();
  std::vector<float> sums(static_cast<size_t>(threads));  // kept, so the loops are not optimized away
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) sums[t] = wide ? fma_loop_512(float(t)) : fma_loop_256(float(t));
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float keep = 0.0f;
  for (float v : sums) keep = keep + v;
  const double flops = 2.0 * (wide ? 16 : 8) * kChains * static_cast<double>(kIters) * threads;
  return flops / s / 1e9;
#else
  return 0.0;
#endif
}

}  // namespace ia::cpu
