// Persimmon (modeling_persimmon.py): LayerNorm pre-norm blocks, per-head fused query_key_value, per-head q/k
// LayerNorm, partial rotary, squared-ReLU MLP.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("layer_norm_eps", 1e-5);
  const std::string act = c.str_or("hidden_act", "relu2");
  if (act != "relu2") ops::activation_op(act);
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * c.number_or("partial_rotary_factor", 0.5)), false,
                             c.number_or("rope_theta", 25000.0));
  const bool qk_ln = c.flag_or("qk_layernorm", true);
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.layout = QkvLayout::HeadInterleaved;
    at.qkv = layers::Linear::load(a.pp("query_key_value"), H, 3 * H, true);
    at.o = layers::Linear::load(a.pp("dense"), H, H, true);
    if (qk_ln) {
      at.q_norm = Norm::layer(a.pp("q_layernorm"), D, eps);
      at.k_norm = Norm::layer(a.pp("k_layernorm"), D, eps);
    }
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("dense_h_to_4h"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("dense_4h_to_h"), I, H, true);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("final_layernorm"), H, eps);
  load_lm_head(s, c, root, false);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(persimmon, {"persimmon", "decoder-only", {"PersimmonForCausalLM"}, ia::decoder::make})
