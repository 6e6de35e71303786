// Falcon (modeling_falcon.py): fused query_key_value in three layouts (multi-query [q heads | k | v],
// per-head [q|k|v], new_decoder_architecture per KV group), parallel attention + MLP (one or two LayerNorms)
// or sequential blocks, rotary or ALiBi (scaled with the scores).
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.head_dim = s.hidden / s.heads;
  const bool new_arch = c.flag_or("new_decoder_architecture", false);
  const bool mq = c.flag_or("multi_query", true);
  const bool parallel = c.flag_or("parallel_attn", true);
  const bool bias = c.flag_or("bias", false);
  const bool alibi = c.flag_or("alibi", false);
  s.kv_heads = new_arch ? kv_heads_of(c, s.heads, "num_kv_heads") : (mq ? 1 : s.heads);
  const int64_t num_ln = c.dim_or("num_ln_in_parallel_attn", new_arch ? 2 : 1, 1, 2);
  const int64_t H = s.hidden, D = s.head_dim, L = c.dim("num_hidden_layers", 0, 4096);
  const int64_t I = c.dim_or("ffn_hidden_size", 4 * H, 1);
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  const std::string act = c.str_or("activation", "gelu");
  ops::activation_op(act);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (alibi) {
    s.alibi_slopes = bloom_alibi_slopes(s.heads);
    for (float& v : s.alibi_slopes) v *= scale;  // HF: (q.k + alibi) * inv_norm_factor
  } else {
    s.rope = Rope::from_config(c, D, false, c.number_or("rope_theta", 10000.0));
  }
  s.style = new_arch || parallel ? BlockStyle::Parallel : BlockStyle::PreNorm;
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("word_embeddings").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("h").pp(i);
    auto a = l.pp("self_attention");
    Layer layer;
    if (new_arch && num_ln == 2) {
      layer.ln_attn = Norm::layer(l.pp("ln_attn"), H, eps);
      layer.ln_mlp = Norm::layer(l.pp("ln_mlp"), H, eps);
    } else {
      layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
      if (!new_arch && !parallel) layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    }
    Attention& at = layer.attn;
    at.layout = new_arch ? QkvLayout::Grouped : (mq ? QkvLayout::Concat : QkvLayout::HeadInterleaved);
    at.qkv = layers::Linear::load(a.pp("query_key_value"), H, (s.heads + 2 * s.kv_heads) * D, bias);
    at.o = layers::Linear::load(a.pp("dense"), H, H, bias);
    at.scale = scale;
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("dense_h_to_4h"), H, I, bias);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("dense_4h_to_h"), I, H, bias);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("ln_f"), H, eps);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(falcon, {"falcon", "decoder-only", {"FalconForCausalLM"}, ia::decoder::make})
