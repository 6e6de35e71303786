// Beam-search generation for every generating model, the num_beams > 1 counterpart of Model::generate:
// decoder-only models (CausalLM, through generate_beams in generation/generate.h), encoder-decoders
// (Seq2SeqLM: encoder once, its output repeated per beam, self-attention cache reordered per step) and models
// whose causal decoder is conditioned on an image (BeamGenerating: VisionEncoderDecoder, BLIP, LLaVA).
#pragma once
#include <optional>

#include "generation/beam_search.h"
#include "models/model.h"

namespace ia::generation {

struct BeamRequest {
  GenerationRequest base;  // max_new_tokens, eos_token_ids (empty: the model's), pad, decoder start, return_logits
  int64_t num_beams = 2;
  int64_t num_return_sequences = 1;
  double length_penalty = 1.0;
  EarlyStopping early_stopping = EarlyStopping::False;
  // Logits processors; unset: the model's generation config (generation_config.json, else config.json).
  std::optional<LogitsProcessors> processors;
};

// A model that is neither a CausalLM nor a Seq2SeqLM but generates through one (a text decoder conditioned on
// image features) implements its beam search here, with generate_beams(CausalLM&, ..., BeamConditioning).
class BeamGenerating {
 public:
  virtual ~BeamGenerating() = default;
  // Same contract as generate_beams below; `inputs` are the model's generate() inputs (pixel_values, ...).
  virtual NamedTensors generate_beams(const TensorMap& inputs, const BeamRequest& req) = 0;
};

// The beam settings of `req` for a decoder prompt of prompt_len tokens, unset fields from `config`'s generation
// config (max_length = prompt_len + max_new_tokens).
BeamSearchSettings beam_settings(const BeamRequest& req, const ModelConfig& config, int64_t prompt_len);
// generate_beams' outputs from a search over rows = batch * num_beams decoder rows of vocabulary V.
NamedTensors beam_outputs(const BeamSearchOutput& r, int64_t rows, int64_t V, bool with_logits);

// inputs: input_ids [B, S] and attention_mask (decoder-only: left-padded prompts). Returns "generated_ids"
// [B * num_return_sequences, L] (HF sequences: prompt included for decoder-only, from the decoder start token for
// encoder-decoders), "generated_sequences_scores" [B * num_return_sequences], "generated_beam_indices" (HF
// beam_indices, -1 padded) and with return_logits "generated_logits" [B * num_beams, steps, V] (raw, per beam
// row, HF output_logits). num_beams = 1: greedy search with these processors.
// Unsupported for models that cannot generate.
NamedTensors generate_beams(Model& model, const TensorMap& inputs, const BeamRequest& req);

}  // namespace ia::generation
