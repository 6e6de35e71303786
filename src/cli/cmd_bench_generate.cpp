// `ipfs-accelerate bench-generate <model-dir>`: llama-bench-style generation benchmark: prefill and decode
// tokens/s (mean ± stddev over repetitions; tokenization and sampling excluded), peak RSS, and the memory
// bandwidth decode reaches (weight bytes read per token x tokens/s) against this machine's measured read
// bandwidth. Random-weight checkpoints: `ipfs-accelerate make-checkpoint bench/configs/llama-1b.json -o DIR`.
#include <fmt/format.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "cli/command.h"
#include "cli/device_flag.h"
#include "core/bench_stats.h"
#include "core/thread_pool.h"
#include "generation/generate.h"
#include "models/decoder/transformer.h"

namespace {

struct Args {
  std::string model, device = "cpu", dtype;
  int64_t prompt_len = 128, gen = 64, batch = 1;
  int reps = 5, warmup = 1;
  bool skip_bandwidth = false;
};

double peak_rss_mib() { return ia::peak_rss_kib() / 1024.0; }

std::pair<double, double> mean_std(const std::vector<double>& v) {
  const ia::LatencyStats s = ia::latency_stats(v);
  return {s.mean, s.stddev};
}

// Best-of-3 multi-threaded streaming read of a 1 GiB buffer (GB/s): the ceiling decode can approach.
double measure_read_bandwidth() {
  const size_t n = (size_t(1) << 30) / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> partial(ia::num_threads() * 8 + 64, 0.0);
    std::atomic<int> slot{0};
    auto t0 = std::chrono::steady_clock::now();
    ia::parallel_for(0, static_cast<int64_t>(n), 1 << 20, [&](int64_t lo, int64_t hi) {
      float total = 0.0f;
      int64_t i = lo;
#if defined(__AVX2__)
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (; i + 32 <= hi; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(&buf[i]));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(&buf[i + 8]));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(&buf[i + 16]));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(&buf[i + 24]));
      }
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (float v : lanes) total += v;
#endif
      for (; i < hi; ++i) total += buf[i];
      partial[slot++ % partial.size()] += total;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    volatile double sink = std::accumulate(partial.begin(), partial.end(), 0.0);
    (void)sink;
    best = std::max(best, double(n * sizeof(float)) / s / 1e9);
  }
  return best;
}

// Bytes of weights a decode step reads: every projection, norm and the lm_head (embedding rows are negligible
// unless the lm_head is tied to the table, which the lm_head term then covers).
size_t weight_bytes_per_token(const ia::Model& m) {
  const auto* t = dynamic_cast<const ia::decoder::TransformerLM*>(&m);
  if (!t) return 0;
  const auto& s = t->spec();
  size_t n = s.lm_head.nbytes() + (s.lm_head_bias.defined() ? s.lm_head_bias.nbytes() : 0);
  auto lin = [&](const ia::layers::Linear& l) {
    if (l.weight.defined()) n += l.weight.nbytes();
    if (l.bias.defined()) n += l.bias.nbytes();
    if (l.scale.defined()) n += l.scale.nbytes();
  };
  auto norm = [&](const ia::decoder::Norm& x) {
    if (x.weight.defined()) n += x.weight.nbytes();
    if (x.bias.defined()) n += x.bias.nbytes();
  };
  for (const auto& L : s.layers) {
    for (const auto* l : {&L.attn.q, &L.attn.k, &L.attn.v, &L.attn.qkv, &L.attn.o, &L.mlp.up, &L.mlp.gate,
                          &L.mlp.down, &L.mlp.gate_up})
      lin(*l);
    for (const auto* x : {&L.ln_attn, &L.ln_mlp, &L.post_attn, &L.post_mlp, &L.attn.q_norm, &L.attn.k_norm}) norm(*x);
  }
  norm(s.final_norm);
  return n;
}

int run(const Args& a) {
  using namespace ia;
  const bool json = cli::globals().json;
  LoadOptions lo;
  lo.device = cli::resolve_device_flag(a.device).device;
  if (!a.dtype.empty()) lo.weight_format = parse_weight_format(a.dtype);
  auto t0 = std::chrono::steady_clock::now();
  auto base = load_model(a.model, lo);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto* lm = dynamic_cast<CausalLM*>(base.get());
  IA_CHECK(lm != nullptr, ErrorKind::Unsupported, "bench-generate: {} is not a causal LM", base->model_type());
  IA_CHECK(lm->max_positions() == 0 || a.prompt_len + a.gen <= lm->max_positions(), ErrorKind::InvalidArgument,
           "bench-generate: prompt-len + gen = {} exceeds the model's {} positions", a.prompt_len + a.gen,
           lm->max_positions());
  std::mt19937_64 rng(42);
  std::vector<int64_t> ids(a.batch * a.prompt_len);
  for (auto& v : ids) v = static_cast<int64_t>(rng() % static_cast<uint64_t>(lm->vocab_size()));
  Tensor prompt = Tensor::from_vector(ids, {a.batch, a.prompt_len});
  generation::GenerationSettings s;
  s.max_new_tokens = a.gen;
  std::vector<double> prefill, decode;
  for (int r = 0; r < a.warmup + a.reps; ++r) {
    auto out = generation::generate(*lm, prompt, Tensor(), s);
    if (r < a.warmup) continue;
    const double d = std::accumulate(out.decode_step_seconds.begin(), out.decode_step_seconds.end(), 0.0);
    prefill.push_back(a.batch * a.prompt_len / out.prefill_seconds);
    decode.push_back(a.batch * out.decode_step_seconds.size() / d);
  }
  auto [pm, ps] = mean_std(prefill);
  auto [dm, ds] = mean_std(decode);
  const size_t wbytes = weight_bytes_per_token(*base);
  const double achieved = wbytes * dm / a.batch / 1e9;  // GB/s of weight traffic (weights are read once per step)
  const double rss = peak_rss_mib();  // before the bandwidth probe's 1 GiB buffer
  const double machine = a.skip_bandwidth ? 0.0 : measure_read_bandwidth();
  if (json) {
    nlohmann::json j{{"model", a.model},
                     {"model_type", base->model_type()},
                     {"threads", num_threads()},
                     {"dtype", a.dtype.empty() ? "as stored" : a.dtype},
                     {"prompt_len", a.prompt_len},
                     {"gen", a.gen},
                     {"batch", a.batch},
                     {"reps", a.reps},
                     {"prefill_tok_s", pm},
                     {"prefill_tok_s_std", ps},
                     {"decode_tok_s", dm},
                     {"decode_tok_s_std", ds},
                     {"weight_bytes_per_token", wbytes},
                     {"decode_bandwidth_gb_s", achieved},
                     {"machine_read_bandwidth_gb_s", machine},
                     {"bandwidth_fraction", machine > 0 ? achieved / machine : 0.0},
                     {"peak_rss_mib", rss},
                     {"load_ms", load_ms}};
    std::cout << j.dump() << std::endl;
  } else {
    fmt::print("model       {} ({}, weights {}), {} threads, load {:.0f} ms\n", a.model, base->model_type(),
               a.dtype.empty() ? "as stored" : a.dtype, num_threads(), load_ms);
    fmt::print("shape       batch {}  prompt {}  gen {}  ({} warm-up, {} reps)\n", a.batch, a.prompt_len, a.gen,
               a.warmup, a.reps);
    fmt::print("prefill     {:.1f} ± {:.1f} tok/s\n", pm, ps);
    fmt::print("decode      {:.2f} ± {:.2f} tok/s\n", dm, ds);
    fmt::print("bandwidth   {:.2f} GB/s of weights ({:.1f} MiB/token)", achieved, wbytes / 1048576.0);
    if (machine > 0) fmt::print("  = {:.0f}% of measured {:.1f} GB/s", 100 * achieved / machine, machine);
    fmt::print("\nmemory      peak RSS {:.0f} MiB\n", rss);
  }
  return 0;
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("bench-generate", "Benchmark generation: prefill/decode tok/s, bandwidth, peak RSS");
  c->add_option("model", a->model, "Model directory (random weights: make-checkpoint)")->required();
  c->add_option("--prompt-len", a->prompt_len, "prompt tokens")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  c->add_option("--gen", a->gen, "generated tokens")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  c->add_option("--batch", a->batch, "sequences")->capture_default_str()->check(CLI::Range(1, 1024));
  c->add_option("--reps", a->reps, "timed repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  c->add_option("--warmup", a->warmup, "warm-up runs")->capture_default_str()->check(CLI::Range(0, 100));
  c->add_flag("--no-bandwidth", a->skip_bandwidth, "skip measuring the machine's read bandwidth");
  c->add_option("--device", a->device, "cpu | cuda[:N] | auto")->capture_default_str();
  c->add_option("--dtype", a->dtype, "load-time linear weight dtype f32 | f16 | bf16 | int8 | w8a8 (default: as stored)");
  c->add_flag("--json", ia::cli::globals().json, "machine-readable output");
  c->callback([a] { ia::cli::set_exit_code(run(*a)); });
}

}  // namespace

IA_REGISTER_COMMAND(bench_generate, 31, setup)
