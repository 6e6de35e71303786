// Cohere / Command-R (modeling_cohere.py): one bias-free LayerNorm feeding parallel attention + SwiGLU MLP,
// interleaved rotary, optional per-head q/k LayerNorm, logits multiplied by logit_scale, tied lm_head.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = kv_heads_of(c, s.heads);
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("layer_norm_eps", 1e-5);
  const bool bias = c.flag_or("attention_bias", false);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  s.rope = Rope::from_config(c, D, true, c.number_or("rope_theta", 10000.0));
  s.style = BlockStyle::Parallel;
  s.logit_scale = static_cast<float>(c.number_or("logit_scale", 0.0625));
  const bool qk_norm = c.flag_or("use_qk_norm", false);
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps, false);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, bias);
    if (qk_norm) {
      at.q_norm = Norm::per_head(a.pp("q_norm"), s.heads, D, eps);
      at.k_norm = Norm::per_head(a.pp("k_norm"), s.kv_heads, D, eps);
    }
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    auto m = l.pp("mlp");
    layer.mlp.gate = layers::Linear::load(m.pp("gate_proj"), H, I, false);
    layer.mlp.up = layers::Linear::load(m.pp("up_proj"), H, I, false);
    layer.mlp.down = layers::Linear::load(m.pp("down_proj"), I, H, false);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("norm"), H, eps, false);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(cohere, {"cohere", "decoder-only", {"CohereForCausalLM"}, ia::decoder::make})
