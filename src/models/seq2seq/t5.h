// T5 family building blocks (HF modeling_t5.py, shared by mt5, umt5 and switch_transformers): RMS-style
// T5LayerNorm, unscaled attention with bucketed relative position bias, the T5 stacks and the LM head.
#pragma once
#include <string>
#include <vector>

#include "models/seq2seq/seq2seq.h"

namespace ia::t5 {

struct T5Config {
  int64_t vocab_size = 0, d_model = 0, d_kv = 0, d_ff = 0, num_heads = 0;
  int64_t num_layers = 0, num_decoder_layers = 0;
  int64_t num_buckets = 32, max_distance = 128;
  double eps = 1e-6;
  std::string act = "relu";  // dense_act_fn
  bool gated = false;        // is_gated_act
  bool tied = true;          // tie_word_embeddings: lm_head = shared, decoder output scaled by d_model**-0.5
  bool bias_every_layer = false;  // umt5: every self-attention layer owns a relative_attention_bias
  int64_t pad_token_id = 0, decoder_start_token_id = 0;
  // switch_transformers: the feed-forward module is "mlp", and layers i with i % step == 1 (or step == 1) are
  // sparse mixture-of-experts layers (loaded and run by the subclass). 0 = no sparse layers.
  std::string ff_module = "DenseReluDense";
  int64_t encoder_sparse_step = 0, decoder_sparse_step = 0;
  bool is_sparse(bool decoder, int64_t layer) const {
    const int64_t step = decoder ? decoder_sparse_step : encoder_sparse_step;
    return step > 0 && (layer % step == 1 || step == 1);
  }
  static T5Config from(const ModelConfig& c);
};

// HF T5Attention._relative_position_bucket (torch float32 log, truncation toward zero).
int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance);

struct T5Attention {
  layers::Linear q, k, v, o;
  layers::Embedding relative_attention_bias;  // only where HF has one
  static T5Attention load(const T5Config& c, const WeightLoader& w, bool with_bias);
  // Bias [1, H, Tq, Tk] for queries at positions [q0, q0 + Tq) over keys [0, Tk).
  Tensor position_bias(const T5Config& c, int64_t q0, int64_t Tq, int64_t Tk, bool bidirectional) const;
};

// DenseReluDense (T5DenseActDense / T5DenseGatedActDense).
struct T5DenseActDense {
  layers::Linear wi, wi_0, wi_1, wo;
  std::string act;
  static T5DenseActDense load(const T5Config& c, const WeightLoader& w);
  Tensor operator()(const Tensor& x) const;
};

// One T5 stack block: layer.0 self-attention, (decoder) layer.1 cross-attention, last layer feed-forward.
struct T5Block {
  T5Attention self_attn, cross_attn;
  layers::RMSNorm self_norm, cross_norm, ff_norm;
  T5DenseActDense ff;
};

class T5Model : public seq2seq::Seq2SeqLM {
 public:
  T5Model(const ModelConfig& c, const WeightLoader& w, const std::string& hf_class);

  Tensor encode(const Tensor& input_ids, const Tensor& attention_mask, std::vector<Tensor>* hidden_states) override;
  std::unique_ptr<seq2seq::DecoderState> new_state(const Tensor& encoder_out, const Tensor& encoder_mask,
                                                   int64_t capacity) override;
  Tensor decode(seq2seq::DecoderState& state, const seq2seq::DecodeInput& in) override;
  Tensor lm_logits(const Tensor& decoder_hidden) const override;
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  bool has_lm_head() const override { return with_head_; }

 protected:
  // The feed-forward sub-layer of a block (switch_transformers overrides it for its sparse layers); `x` is the
  // residual stream, the result is the new residual stream.
  virtual Tensor feed_forward(bool decoder, int64_t layer, const Tensor& x);

  T5Config cfg_;
  bool with_head_ = true;
  layers::Embedding shared_;
  Tensor lm_head_;  // untied head
  std::vector<T5Block> encoder_, decoder_;
  layers::RMSNorm encoder_final_norm_, decoder_final_norm_;
};

}  // namespace ia::t5
