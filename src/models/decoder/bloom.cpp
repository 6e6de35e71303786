// BLOOM (modeling_bloom.py): ALiBi instead of positions, LayerNorm on the word embeddings, per-head fused
// query_key_value, GELU (tanh) MLP, optional residual from the LayerNorm output, tied lm_head.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("n_head");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, L = c.dim("n_layer", 0, 4096);
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  s.alibi_slopes = bloom_alibi_slopes(s.heads);
  s.residual_from_norm = c.flag_or("apply_residual_connection_post_layernorm", false);
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("word_embeddings").get_native("weight", {s.vocab, H});
  s.embed_norm = Norm::layer(w.pp("word_embeddings_layernorm"), H, eps);
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("h").pp(i);
    auto a = l.pp("self_attention");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.layout = QkvLayout::HeadInterleaved;
    at.qkv = layers::Linear::load(a.pp("query_key_value"), H, 3 * H, true);
    at.o = layers::Linear::load(a.pp("dense"), H, H, true);
    at.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("dense_h_to_4h"), H, 4 * H, true);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("dense_4h_to_h"), 4 * H, H, true);
    layer.mlp.act = "gelu_new";  // BloomGelu: the tanh approximation
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("ln_f"), H, eps);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(bloom, {"bloom", "decoder-only", {"BloomForCausalLM"}, ia::decoder::make})
