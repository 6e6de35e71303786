// The encoder-decoder base every seq2seq model (T5 and BART families) builds on: encode once, then decode with a
// per-batch state (a preallocated self-attention KV cache plus cross-attention keys/values computed once from the
// encoder output); HF-compatible forward() and greedy generate() are written once on top of it. See
// docs/seq2seq.md.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "generation/logits_process.h"
#include "models/layers.h"
#include "models/model.h"

namespace ia::seq2seq {

// What the decoder keeps between steps for one batch: per decoder layer, self-attention keys/values
// [B, capacity, H, D] allocated once (written in place at [length, length + T)), and the cross-attention
// keys/values [B, H, S_enc, D] of the encoder output. Nothing here reallocates per token.
class DecoderState {
 public:
  DecoderState(int64_t layers, int64_t batch, int64_t capacity, int64_t heads, int64_t head_dim, Device device);
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }  // decoder tokens consumed so far
  int64_t heads() const { return heads_; }
  // Writes keys/values [B, T, H*D] of `layer` at [length, length + T) and returns views [B, H, length + T, D]
  // over everything cached so far (this step included).
  std::pair<Tensor, Tensor> append(int64_t layer, const Tensor& k, const Tensor& v);
  void advance(int64_t n) { length_ += n; }  // called once per step, after every layer appended
  // Beam search: row r continues old row beam_idx[r]. Reorders the self-attention cache in place; the
  // cross-attention keys/values are equal for every beam of a batch row (the encoder output is repeated per beam)
  // and beam_idx never leaves a row's group, so they stay as they are.
  void reorder(const std::vector<int64_t>& beam_idx);

  std::vector<Tensor> cross_k, cross_v;  // per decoder layer, [B, H, S_enc, D]
  Tensor encoder_mask;                   // [B, S_enc] 0 = padding (undefined: none)

 private:
  int64_t batch_, capacity_, heads_, length_ = 0;
  std::vector<Tensor> k_, v_;
  Tensor k_scratch_, v_scratch_;
};

// One decoder call.
struct DecodeInput {
  Tensor input_ids;       // i64 [B, T] on the host: the new decoder tokens
  Tensor attention_mask;  // optional [B, length + T] decoder padding mask (HF decoder_attention_mask)
  std::vector<Tensor>* hidden_states = nullptr;  // if set: HF's decoder_hidden_states tuple for these tokens
};

// Decoder-side generation settings beyond GenerationRequest (transformers' Whisper generate rules).
struct DecoderPromptRules {
  // The decoder's first tokens (empty: {decoder_start_token_id}), e.g. Whisper's
  // <|startoftranscript|><|en|><|transcribe|><|notimestamps|> (HF forced_decoder_ids / init tokens).
  std::vector<int64_t> decoder_prompt;
  std::vector<int64_t> suppress_tokens;        // never chosen (HF SuppressTokensLogitsProcessor)
  std::vector<int64_t> begin_suppress_tokens;  // not chosen as the first new token (SuppressTokensAtBegin...)
};

// What the encoder made of a model's encoder inputs.
struct EncoderOutput {
  Tensor hidden;             // last_hidden_state [B, S, D]
  Tensor mask;               // [B, S] 0 = padding (undefined: none); what cross-attention masks
  std::vector<int64_t> ids;  // text encoders: input_ids [B * S] (what encoder_no_repeat_ngram_size reads); else empty
};

class Seq2SeqLM : public Model {
 public:
  // Runs the encoder on the HF encoder inputs of the model: input_ids/attention_mask through encode() by default;
  // speech models override it (input_features). Appends HF's encoder_hidden_states when `hidden_states` is set.
  virtual EncoderOutput encode_inputs(const TensorMap& inputs, std::vector<Tensor>* hidden_states);
  // Runs the encoder: input_ids i64 [B, S] (host), attention_mask [B, S] (undefined: all ones). Returns the
  // encoder's last_hidden_state; appends HF's encoder_hidden_states tuple when `hidden_states` is set.
  virtual Tensor encode(const Tensor& input_ids, const Tensor& attention_mask, std::vector<Tensor>* hidden_states) = 0;
  // A fresh decoder state for at most `capacity` decoder tokens, cross-attention keys/values computed from
  // `encoder_out` [B, S, D].
  virtual std::unique_ptr<DecoderState> new_state(const Tensor& encoder_out, const Tensor& encoder_mask,
                                                  int64_t capacity) = 0;
  // Consumes in.input_ids at positions [state.length(), +T), advances the state, returns the decoder's final
  // hidden state [B, T, D] (what the LM head reads).
  virtual Tensor decode(DecoderState& state, const DecodeInput& in) = 0;
  // LM head over decoder hidden states -> logits [B, T, V]. Undefined tensor for a headless model.
  virtual Tensor lm_logits(const Tensor& decoder_hidden) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t input_vocab_size() const { return vocab_size(); }  // encoder vocabulary (Marian may differ)
  virtual bool has_lm_head() const { return true; }
  // Longest decoder sequence (learned position tables); 0 = unbounded.
  virtual int64_t max_decoder_positions() const { return 0; }

  // HF forward (encoder inputs, decoder_input_ids[, decoder_attention_mask]): "logits" (or
  // "last_hidden_state" without a head), "encoder_last_hidden_state", and with output_hidden_states
  // "decoder_hidden_states.i" / "encoder_hidden_states.i".
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;
  // Greedy generation like HF: encoder once, decoder from decoder_start_token_id with the KV cache; rows that
  // emit an EOS id are finished and padded with pad_token_id; stops when every row finished. The token choice
  // honours the logits processors of the model's generation config (generation_config.json, else config.json).
  // "generated_ids" [B, 1 + new] and "generated_logits" [B, new, V] (raw logits, before the processors).
  // Beam search: generation/beam_generate.h.
  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override;
  // The same from rules.decoder_prompt (prompt tokens kept in "generated_ids": [B, prompt + new]), also
  // masking rules.suppress_tokens at every step and rules.begin_suppress_tokens at the first new token.
  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req, const DecoderPromptRules& rules);
  bool can_generate() const override { return has_lm_head(); }

 protected:
  int64_t default_decoder_start_ = 0;  // config.decoder_start_token_id
};

// Multi-head attention of projected queries [B, T, H*D] over keys/values [B, H, S, D] -> [B, T, H*Dv].
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const AttentionArgs& args);
// input_ids (or the named input) as contiguous i64 on the host, checked to be [B, S>0] with ids in [0, vocab).
Tensor host_ids(const TensorMap& inputs, const std::string& name, int64_t vocab);
// The optional mask input as contiguous i64 on the host, checked against `shape`; undefined if absent.
Tensor host_mask(const TensorMap& inputs, const std::string& name, const Shape& shape);
// Collects "<prefix>.i" outputs.
void append_indexed(NamedTensors& out, const std::string& prefix, const std::vector<Tensor>& xs);

}  // namespace ia::seq2seq
