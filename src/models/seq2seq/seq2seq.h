// The encoder-decoder base every seq2seq model (T5 and BART families) builds on: encode once, then decode with a
// per-batch state (a preallocated self-attention KV cache plus cross-attention keys/values computed once from the
// encoder output); HF-compatible forward() and greedy generate() are written once on top of it. See
// docs/seq2seq.md.
#pragma once
#include <memory>
#include <string>
#include <vector>

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

  std::vector<Tensor> cross_k, cross_v;  // per decoder layer, [B, H, S_enc, D]
  Tensor encoder_mask;                   // [B, S_enc] 0 = padding (undefined: none)

 private:
  int64_t batch_, capacity_, heads_, length_ = 0;
  std::vector<Tensor> k_, v_;
};

// One decoder call.
struct DecodeInput {
  Tensor input_ids;       // i64 [B, T] on the host: the new decoder tokens
  Tensor attention_mask;  // optional [B, length + T] decoder padding mask (HF decoder_attention_mask)
  std::vector<Tensor>* hidden_states = nullptr;  // if set: HF's decoder_hidden_states tuple for these tokens
};

class Seq2SeqLM : public Model {
 public:
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

  // HF forward (input_ids, attention_mask, decoder_input_ids[, decoder_attention_mask]): "logits" (or
  // "last_hidden_state" without a head), "encoder_last_hidden_state", and with output_hidden_states
  // "decoder_hidden_states.i" / "encoder_hidden_states.i".
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;
  // Greedy generation like HF: encoder once, decoder from decoder_start_token_id with the KV cache; rows that
  // emit an EOS id are finished and padded with pad_token_id; stops when every row finished. The token choice
  // honours the generation rules of the model config that HF's generation_config inherits (LogitsRules).
  // "generated_ids" [B, 1 + new] and "generated_logits" [B, new, V] (raw logits, before the rules).
  NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req) override;
  bool can_generate() const override { return has_lm_head(); }

 protected:
  int64_t default_decoder_start_ = 0;  // config.decoder_start_token_id
};

// The logits processors HF's generate builds from the model's generation config (config.json fields):
// no_repeat_ngram_size, encoder_no_repeat_ngram_size, bad_words_ids, min_length, forced_bos_token_id,
// forced_eos_token_id. They only change which token greedy search picks.
struct LogitsRules {
  int64_t no_repeat_ngram_size = 0, encoder_no_repeat_ngram_size = 0, min_length = 0;
  int64_t forced_bos_token_id = -1;
  std::vector<int64_t> forced_eos_token_ids;
  std::vector<std::vector<int64_t>> bad_words_ids;
  static LogitsRules from(const ModelConfig& c);
  // Masks `scores` (one row, V entries) to -inf where a rule bans a token. `decoder` is the row's decoder
  // sequence so far (start token included), `encoder` its encoder input_ids, `max_length` = 1 + max_new_tokens.
  void apply(std::vector<float>& scores, const std::vector<int64_t>& decoder, const std::vector<int64_t>& encoder,
             const std::vector<int64_t>& eos_token_ids, int64_t max_length) const;
};
// Tokens that would complete an n-gram of `source` whose first n - 1 tokens equal the end of `prefix`
// (HF _get_ngrams/_get_generated_ngrams); none while prefix is shorter than n - 1.
std::vector<int64_t> ngram_banned_tokens(const std::vector<int64_t>& source, const std::vector<int64_t>& prefix,
                                         int64_t n);

// Multi-head attention of projected queries [B, T, H*D] over keys/values [B, H, S, D] -> [B, T, H*Dv].
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const AttentionArgs& args);
// input_ids (or the named input) as contiguous i64 on the host, checked to be [B, S>0] with ids in [0, vocab).
Tensor host_ids(const TensorMap& inputs, const std::string& name, int64_t vocab);
// The optional mask input as contiguous i64 on the host, checked against `shape`; undefined if absent.
Tensor host_mask(const TensorMap& inputs, const std::string& name, const Shape& shape);
// Collects "<prefix>.i" outputs.
void append_indexed(NamedTensors& out, const std::string& prefix, const std::vector<Tensor>& xs);

}  // namespace ia::seq2seq
