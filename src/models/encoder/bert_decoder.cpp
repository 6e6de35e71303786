// BERT-family causal LMs with optional cross-attention (HF BertLMHeadModel, RobertaForCausalLM; the text decoder
// of BLIP and of a VisionEncoderDecoder), expressed on the shared decoder stack.
#include <cmath>

#include "models/decoder/transformer.h"
#include "models/encoder/bert_decoder.h"

namespace ia::bert {

using decoder::Norm;

std::unique_ptr<Model> make_text_decoder(const ModelConfig& c, const WeightLoader& root, const BertConfig& cfg,
                                         const TextDecoderSpec& spec) {
  IA_CHECK(cfg.position_embedding_type == "absolute", ErrorKind::Unsupported,
           "{}: unsupported position_embedding_type '{}' in a causal text decoder", c.source(),
           cfg.position_embedding_type);
  IA_CHECK(cfg.embedding_size == cfg.hidden_size, ErrorKind::Unsupported,
           "{}: unsupported embedding_size {} != hidden_size {} in a causal text decoder", c.source(),
           cfg.embedding_size, cfg.hidden_size);
  decoder::Spec s;
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, eps_pos = cfg.max_position_embeddings;
  const double eps = cfg.layer_norm_eps;
  s.vocab = cfg.vocab_size;
  s.hidden = H;
  s.heads = s.kv_heads = cfg.num_heads;
  s.head_dim = H / cfg.num_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));

  const WeightLoader w = root.pp(spec.backbone);
  auto emb = w.pp("embeddings");
  s.embed = emb.pp("word_embeddings").get_native("weight", {s.vocab, H});
  s.pos_table = emb.pp("position_embeddings").get("weight", {eps_pos, H});
  s.max_positions = eps_pos;
  if (spec.roberta) {
    s.positions_from_ids_padding = cfg.pad_token_id;
    s.max_positions = eps_pos - cfg.pad_token_id - 1;
  } else {
    s.positions_from_cache = true;
  }
  if (spec.token_type && cfg.type_vocab_size > 0)
    s.embed_add = emb.pp("token_type_embeddings").get("weight", {cfg.type_vocab_size, H}).select(0, 0).contiguous();
  s.embed_norm = Norm::layer(emb.pp("LayerNorm"), H, eps);
  s.style = decoder::BlockStyle::PostNorm;
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    auto l = w.pp("encoder").pp("layer").pp(i);
    decoder::Layer layer;
    auto a = l.pp("attention");
    layer.attn.q = layers::Linear::load(a.pp("self").pp("query"), H, H, true);
    layer.attn.k = layers::Linear::load(a.pp("self").pp("key"), H, H, true);
    layer.attn.v = layers::Linear::load(a.pp("self").pp("value"), H, H, true);
    layer.attn.o = layers::Linear::load(a.pp("output").pp("dense"), H, H, true);
    layer.attn.scale = scale;
    layer.ln_attn = Norm::layer(a.pp("output").pp("LayerNorm"), H, eps);
    if (spec.cross_width > 0) {
      auto x = l.pp("crossattention");
      layer.cross.q = layers::Linear::load(x.pp("self").pp("query"), H, H, true);
      layer.cross.k = layers::Linear::load(x.pp("self").pp("key"), spec.cross_width, H, true);
      layer.cross.v = layers::Linear::load(x.pp("self").pp("value"), spec.cross_width, H, true);
      layer.cross.o = layers::Linear::load(x.pp("output").pp("dense"), H, H, true);
      layer.cross.width = spec.cross_width;
      layer.cross.scale = scale;
      layer.ln_cross = Norm::layer(x.pp("output").pp("LayerNorm"), H, eps);
    }
    layer.mlp.up = layers::Linear::load(l.pp("intermediate").pp("dense"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("output").pp("dense"), I, H, true);
    layer.mlp.act = cfg.hidden_act;
    layer.ln_mlp = Norm::layer(l.pp("output").pp("LayerNorm"), H, eps);
    s.layers.push_back(std::move(layer));
  }
  const WeightLoader head = spec.roberta ? root.pp("lm_head") : root.pp("cls").pp("predictions");
  const WeightLoader transform = spec.roberta ? head : head.pp("transform");
  s.head_dense = layers::Linear::load(transform.pp("dense"), H, H, true);
  s.head_act = spec.roberta ? "gelu" : cfg.hidden_act;
  s.head_norm = Norm::layer(transform.pp(spec.roberta ? "layer_norm" : "LayerNorm"), H, eps);
  const bool tie = c.flag_or("tie_word_embeddings", true);
  s.lm_head = tie && !head.pp("decoder").has("weight") ? s.embed
                                                        : head.pp("decoder").get_native("weight", {s.vocab, H});
  s.lm_head_bias = head.get("bias", {s.vocab});
  return std::make_unique<decoder::TransformerLM>(std::move(s));
}

namespace {

std::unique_ptr<Model> make_causal_lm(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
  const bool roberta = cls != "BertLMHeadModel";
  IA_CHECK(c.flag_or("is_decoder", false), ErrorKind::Unsupported,
           "{}: unsupported {} with is_decoder=false (HF runs it bidirectionally)", c.source(), cls);
  BertConfig cfg = BertConfig::from(c, roberta);
  TextDecoderSpec spec;
  spec.backbone = roberta ? "roberta" : "bert";
  spec.roberta = roberta;
  if (c.flag_or("add_cross_attention", false)) spec.cross_width = cfg.hidden_size;
  return make_text_decoder(c, root, cfg, spec);
}

}  // namespace
}  // namespace ia::bert

IA_REGISTER_MODEL(bert_lm_head, {"bert", "encoder-only", {"BertLMHeadModel"}, ia::bert::make_causal_lm})
IA_REGISTER_MODEL(roberta_causal_lm, {"roberta", "encoder-only", {"RobertaForCausalLM"}, ia::bert::make_causal_lm})
