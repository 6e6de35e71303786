// BERT-style encoder (HF modeling_bert.py) shared by bert, roberta, camembert, xlm-roberta, electra, ernie
// and the BERT inside DPR: embeddings, post-LN transformer layers, pooler.
#pragma once
#include <vector>

#include "models/layers.h"
#include "models/model.h"

namespace ia::bert {

struct BertConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, intermediate_size = 0;
  int64_t max_position_embeddings = 0, type_vocab_size = 0, embedding_size = 0;  // embedding_size: electra
  int64_t pad_token_id = 0, task_type_vocab_size = 0;
  bool use_task_id = false;
  std::string hidden_act = "gelu";
  std::string position_embedding_type = "absolute";  // absolute | relative_key | relative_key_query
  double layer_norm_eps = 1e-12;
  bool roberta_positions = false;  // position ids from input_ids (RoBERTa family)
  static BertConfig from(const ModelConfig& c, bool roberta_positions);
};

struct BertLayer {
  layers::Linear query, key, value, attn_out, intermediate, output;
  layers::LayerNorm attn_norm, out_norm;
  layers::Embedding distance_embedding;  // relative_key(_query)
};

class BertEncoder {
 public:
  // `w` points at the backbone ("" or "bert."/"roberta."/...). with_pooler: load pooler.dense.
  BertEncoder(const BertConfig& cfg, const WeightLoader& w, bool with_pooler);
  // Returns last_hidden_state; appends embeddings + per-layer outputs to `hidden_states` when non-null.
  Tensor forward(const TensorMap& inputs, std::vector<Tensor>* hidden_states) const;
  Tensor pool(const Tensor& last_hidden_state) const;  // tanh(dense(h[:, 0]))
  bool has_pooler() const { return pooler_.defined(); }
  const BertConfig& config() const { return cfg_; }
  const Tensor& word_embeddings() const { return word_.weight; }

 private:
  Tensor embed(const TensorMap& inputs) const;
  Tensor layer(const BertLayer& L, const Tensor& h, const Tensor& mask) const;
  BertConfig cfg_;
  layers::Embedding word_, position_, token_type_, task_type_;
  layers::LayerNorm emb_norm_;
  layers::Linear emb_project_;  // electra: embedding_size -> hidden_size
  std::vector<BertLayer> layers_;
  layers::Linear pooler_;
};

// Attention mask input or all ones.
Tensor mask_or_ones(const TensorMap& inputs, const Tensor& input_ids);
// RoBERTa-style position ids from i64 input_ids [B, S]: padding_idx + running count of non-pad tokens, and
// padding_idx itself at pad positions (HF create_position_ids_from_input_ids).
Tensor padding_position_ids(const Tensor& input_ids, int64_t padding_idx);
// Classification width from a config: len(id2label), else num_labels (default 2).
int64_t num_labels(const ModelConfig& c);
// QuestionAnswering head output [B, S, 2] as HF's "start_logits" and "end_logits".
void append_span_logits(NamedTensors& out, const Tensor& logits);
// Collects "hidden_states.i" outputs.
void append_hidden_states(NamedTensors& out, const std::vector<Tensor>& hs, const std::string& prefix = "");

}  // namespace ia::bert
