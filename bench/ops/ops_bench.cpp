// Op-level benchmarks (Google Benchmark) of the CPU kernels the encoder forward spends its time in: attention at
// BERT's head layout (q/k/v as head views of [B, S, H*D]) and linear at BERT-base shapes. Not part of ctest.
// Usage: [IA_NUM_THREADS=N] build/ia_ops_bench [--benchmark_filter=attention]
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace {

ia::Tensor random_tensor(const ia::Shape& shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(gen);
  return ia::Tensor::from_vector(v, shape);
}

// args: batch, sequence; BERT-base heads (12 x 64).
void BM_attention(benchmark::State& state) {
  const int64_t B = state.range(0), S = state.range(1), H = 12, D = 64;
  auto heads = [&](uint32_t seed) { return random_tensor({B, S, H, D}, seed).permute({0, 2, 1, 3}); };
  const ia::Tensor q = heads(1), k = heads(2), v = heads(3);
  ia::AttentionArgs args;
  args.scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::attention(q, k, v, args));
  const double flops = 4.0 * B * H * S * S * D;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention)->Args({1, 128})->Args({8, 128})->Args({1, 512})->Unit(benchmark::kMillisecond)->UseRealTime();

// args: rows, in, out.
void BM_linear(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const ia::Tensor x = random_tensor({M, K}, 1), w = random_tensor({N, K}, 2), b = random_tensor({N}, 3);
  w.storage()->mark_constant();  // as a model's loaded weights: packed once
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::linear(x, w, b));
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * K * N * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_linear)->Args({128, 768, 768})->Args({128, 768, 2304})->Args({128, 768, 3072})->Args({128, 3072, 768})
    ->Args({1024, 768, 768})->Args({1024, 768, 2304})->Args({1024, 768, 3072})->Args({1024, 3072, 768})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  ia::set_num_threads(ia::num_threads());  // IA_NUM_THREADS (else physical cores) for our pool and oneDNN's alike
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
