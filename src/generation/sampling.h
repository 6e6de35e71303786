// Next-token selection: HF's logits processors (repetition penalty, temperature, top-k, top-p, min-p, in
// transformers' order) and greedy/seeded sampling. The RNG is ours (mt19937_64), so a seed reproduces the
// same ids run to run and machine to machine, but not torch.multinomial's.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace ia::generation {

struct SamplingParams {
  bool do_sample = false;
  float temperature = 1.0f;        // > 0
  int64_t top_k = 0;               // 0: off
  float top_p = 1.0f;              // (0, 1]; 1: off
  float min_p = 0.0f;              // [0, 1]; 0: off
  float repetition_penalty = 1.0f; // > 0; 1: off
  uint64_t seed = 0;
  void validate() const;  // throws InvalidArgument naming the bad setting
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Picks the next token from one row's raw logits (modified in place by the processors); `history` is the
  // row's full sequence so far (prompt including padding, then generated ids), as HF passes input_ids.
  int64_t next(std::vector<float>& logits, const std::vector<int64_t>& history);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

}  // namespace ia::generation
