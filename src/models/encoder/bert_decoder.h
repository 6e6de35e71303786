// The BERT-family causal LM builder shared by BertLMHeadModel / RobertaForCausalLM and BLIP's text decoder.
#pragma once
#include <memory>
#include <string>

#include "models/encoder/bert.h"

namespace ia::bert {

// The BERT-style causal text decoder (HF BertLMHeadModel / RobertaForCausalLM with is_decoder, optionally
// add_cross_attention; BLIP's BlipTextLMHeadModel) on the shared decoder stack (models/decoder/transformer.h):
// word + absolute position (+ token_type 0) embeddings -> LayerNorm, post-LN layers with causal self-attention,
// cross-attention over encoder states and the intermediate/output MLP, then the prediction-head transform and
// the vocabulary projection (tied to the word embeddings unless the checkpoint stores its own).
struct TextDecoderSpec {
  std::string backbone = "bert";  // base-model prefix of the weights ("bert", "roberta")
  bool token_type = true;         // BLIP's text embeddings have no token_type_embeddings
  bool roberta = false;           // RoBERTa: positions from input_ids, lm_head.{dense,layer_norm,decoder,bias}
  int64_t cross_width = 0;        // width of the encoder states the cross-attention reads; 0: none
};
std::unique_ptr<Model> make_text_decoder(const ModelConfig& c, const WeightLoader& root, const BertConfig& cfg,
                                         const TextDecoderSpec& spec);

}  // namespace ia::bert
