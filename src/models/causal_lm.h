// The causal-LM base every decoder-only model (dense, mixture-of-experts, state-space) builds on: a per-batch
// decoding state (a preallocated KV cache for attention models; SSMs bring their own), a `step()` that
// consumes new tokens and returns logits, and HF-compatible forward() / generate() written once on top of it.
// See docs/decoder.md.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace ia {

// What a model keeps between steps for one batch of sequences. `length()` tokens have been consumed; the
// state can hold up to `capacity()`. Attention models use KVCache; a state-space model derives its own
// (conv + SSM state) and ignores capacity. Nothing here reallocates per token.
class DecoderState {
 public:
  DecoderState(int64_t batch, int64_t capacity) : batch_(batch), capacity_(capacity) {}
  virtual ~DecoderState() = default;
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  // Called by the model at the end of step() with the number of tokens consumed.
  void advance(int64_t n) { length_ += n; }

 private:
  int64_t batch_, capacity_, length_ = 0;
};

// Per-layer key/value tensors [B, Hkv, capacity, D] allocated once. A step writes its new keys/values at
// [length, length + S) in place (ops::kv_write_) and attends over the views keys(l, n) / values(l, n).
class KVCache : public DecoderState {
 public:
  KVCache(int64_t layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim, int64_t v_head_dim,
          Device device);
  Tensor& keys(int64_t layer) { return k_[layer]; }
  Tensor& values(int64_t layer) { return v_[layer]; }
  // Views over the first n positions: [B, Hkv, n, D].
  Tensor keys(int64_t layer, int64_t n) const { return k_[layer].slice(2, 0, n); }
  Tensor values(int64_t layer, int64_t n) const { return v_[layer].slice(2, 0, n); }
  int64_t layers() const { return static_cast<int64_t>(k_.size()); }
  size_t nbytes() const;

 private:
  std::vector<Tensor> k_, v_;
};

// One call of CausalLM::step.
struct StepInput {
  Tensor input_ids;       // i64 [B, S]: the new tokens
  // Optional f32 [B, S, E]: used instead of embedding input_ids (HF inputs_embeds; LLaVA's merged image
  // features). Only models whose accepts_inputs_embeds() is true honour it.
  Tensor inputs_embeds;
  Tensor attention_mask;  // i64 [B, state.length() + S]: the whole sequence so far, 0 = padding
  Tensor position_ids;    // i64 [B, S]: positions of the new tokens
  bool last_logits_only = false;              // true: logits for the last position only -> [B, 1, V]
  std::vector<Tensor>* hidden_states = nullptr;  // if set: HF's hidden_states tuple for these tokens
  // Reproduce transformers.generate()'s cache quirks (e.g. Gemma-2's HybridCache sliding-window masking during
  // decode) instead of the exact semantics. Set by generate() only for a model loaded with
  // ModelConfig::transformers_compat (conformance); never on the default path.
  bool hf_cache_compat = false;
};

class CausalLM : public Model {
 public:
  // A fresh state for `batch` sequences of at most `capacity` tokens.
  virtual std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t capacity) const = 0;
  // Consumes in.input_ids, updates the state (advance), returns f32 logits [B, S (or 1), V].
  virtual Tensor step(DecoderState& state, const StepInput& in) = 0;
  virtual int64_t vocab_size() const = 0;
  // Longest sequence the model accepts (learned position tables); 0 = unbounded.
  virtual int64_t max_positions() const { return 0; }
  // HF forward's default position_ids for a right-padded batch (most models: 0..S-1; OPT/BioGPT derive them
  // from the attention mask).
  virtual Tensor default_position_ids(const Tensor& attention_mask) const;
  // Width of the hidden states (the embedding width fed to the first layer).
  virtual int64_t hidden_size() const { return 0; }
  // Whether step() honours StepInput::inputs_embeds, and the embedding lookup HF's get_input_embeddings() does
  // (before any model-internal scaling): ids i64 [B, S] -> [B, S, E].
  virtual bool accepts_inputs_embeds() const { return false; }
  virtual Tensor embed_tokens(const Tensor& input_ids) const;

  // Decoders with cross-attention (HF add_cross_attention, TrOCR, BLIP's text decoder): the width of the
  // encoder states their cross-attention reads (0: no cross-attention), and a state whose cross-attention
  // keys/values are computed once from encoder_states [B, S_enc, width] (encoder_mask [B, S_enc], 0 = padding,
  // undefined: none). A plain new_state() runs such a decoder without cross-attention, as HF does without
  // encoder_hidden_states.
  virtual int64_t cross_attention_width() const { return 0; }
  virtual std::unique_ptr<DecoderState> new_cross_state(const Tensor& encoder_states, const Tensor& encoder_mask,
                                                        int64_t capacity) const;

  // HF forward: "logits" [B, S, V] and, with output_hidden_states, "hidden_states.i" exactly as HF returns them.
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;
  // transformers.generate, greedy: "generated_ids" [B, P + new] and "generated_logits" [B, new, V]. Unset
  // settings (eos_token_id) come from generation_config.json like HF; HF cache quirks are reproduced
  // only under ModelConfig::transformers_compat.
  // Sampling, stop strings and streaming: generation/generate.h.
  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override;
  bool can_generate() const override { return true; }
};

// transformers' generate fallback for an unset eos_token_id: generation_config.json next to `config`, else the
// config's own eos_token_id (empty when neither has one).
std::vector<int64_t> default_eos_token_ids(const ModelConfig& config);

}  // namespace ia
