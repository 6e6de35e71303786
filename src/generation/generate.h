// The text-generation engine over CausalLM::step: prefill, then incremental decode with a preallocated state;
// greedy or seeded sampling (temperature, top-k, top-p, min-p, repetition penalty), EOS and stop strings,
// left-padded batches with per-row finishing, token streaming. Mirrors transformers' GenerationMixin.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "generation/beam_search.h"
#include "generation/logits_process.h"
#include "generation/sampling.h"
#include "models/causal_lm.h"

namespace ia::generation {

struct GenerationSettings {
  int64_t max_new_tokens = 20;
  SamplingParams sampling;
  std::vector<int64_t> eos_token_ids;  // empty: never stop early on a token
  int64_t pad_token_id = 0;            // fills finished rows (HF)
  int64_t min_new_tokens = 0;          // EOS is suppressed before this many new tokens (MinNewTokensLength)
  // HF logits processors applied to the raw logits before the sampler (its repetition penalty is
  // sampling.repetition_penalty, so processors.repetition_penalty must stay 1).
  LogitsProcessors processors;
  // Stop strings: a row finishes once its decoded new text contains one (needs `decode`).
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int64_t>&)> decode;
  bool hf_cache_compat = false;  // StepInput::hf_cache_compat (transformers' cache quirks)
  bool return_logits = false;  // raw (unprocessed) logits of every new token, like HF output_logits
  // Optional f32 [B, P, E]: the prefill consumes these instead of embedding input_ids (HF generate with
  // inputs_embeds; LLaVA's prompt with merged image features). input_ids still form the returned sequences.
  Tensor prompt_embeds;
  // Optional: makes the decoding state instead of model.new_state (a cross-attention decoder's state over its
  // encoder output: VisionEncoderDecoder, BLIP).
  std::function<std::unique_ptr<DecoderState>(int64_t batch, int64_t capacity)> new_state;
  // Called after every decode step with the token chosen for each row (pad for finished rows).
  std::function<void(int64_t step, const std::vector<int64_t>& tokens)> on_tokens;
};

struct GenerationOutput {
  Tensor ids;     // i64 [B, P + n]: prompt + new tokens (HF generated sequences)
  Tensor logits;  // f32 [B, n, V] when return_logits
  int64_t new_tokens = 0;
  std::vector<std::string> finish_reason;  // per row: "eos", "stop_string", "length"
  double prefill_seconds = 0.0;  // time in model steps only (no sampling, no tokenization)
  std::vector<double> decode_step_seconds;
  // What Model::generate returns: "generated_ids", and "generated_logits" when asked for.
  NamedTensors named(bool with_logits) const;
};

// input_ids i64 [B, P] (left-padded when rows differ), attention_mask [B, P] (optional: all ones).
// Positions follow HF generate: cumsum(attention_mask) - 1, padding positions set to 1.
// Errors (InvalidArgument): empty prompt, ids outside [0, vocab), P + max_new_tokens beyond the model's
// maximum positions, negative max_new_tokens.
GenerationOutput generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                          const GenerationSettings& settings);

// What a decoder conditioned on something else (an image) adds to beam search: VisionEncoderDecoder and BLIP
// bring a cross-attention state, LLaVA its merged prompt embeddings.
struct BeamConditioning {
  bool hf_cache_compat = false;  // StepInput::hf_cache_compat
  // Optional f32 [B, P, E]: the prefill consumes these instead of embedding input_ids (GenerationSettings::
  // prompt_embeds); row b is used for every beam of batch row b.
  Tensor prompt_embeds;
  // Optional: makes the state for `rows` = B * num_beams decoder rows instead of model.new_state; row r belongs to
  // batch row r / num_beams (repeat_rows), as HF _expand_inputs_for_generation expands encoder outputs.
  std::function<std::unique_ptr<DecoderState>(int64_t rows, int64_t capacity)> new_state;
};

// Beam search (generation/beam_search.h) over CausalLM::step: input_ids [B, P] (left-padded), attention_mask
// [B, P] (undefined: all ones), each row repeated num_beams times with positions cumsum(mask) - 1 like HF; the
// KV cache (or recurrent state) is reordered in place after every step. settings.max_length = P + new tokens.
// num_beams = 1: greedy search with the same processors (HF _greedy_search).
BeamSearchOutput generate_beams(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                                const BeamSearchSettings& settings, const BeamConditioning& conditioning = {});

// Row r of the result is row r / times of t (dim 0): torch.repeat_interleave(t, times, dim=0).
Tensor repeat_rows(const Tensor& t, int64_t times);

}  // namespace ia::generation
