// Nemotron (modeling_nemotron.py): LayerNorm1P (weight + 1) pre-norm blocks, partial rotary, squared-ReLU
// MLP without a gate.
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
  s.head_dim = c.has("head_dim") ? c.dim("head_dim") : s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("norm_eps", 1e-5);
  const bool bias = c.flag_or("attention_bias", false), mlp_bias = c.flag_or("mlp_bias", false);
  const std::string act = c.str_or("hidden_act", "relu2");
  if (act != "relu2") ops::activation_op(act);
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * c.number_or("partial_rotary_factor", 0.5)), false,
                             c.number_or("rope_theta", 10000.0));
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer_1p(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::layer_1p(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, bias);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("up_proj"), H, I, mlp_bias);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("down_proj"), I, H, mlp_bias);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer_1p(w.pp("norm"), H, eps);
  load_lm_head(s, c, root, false);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(nemotron, {"nemotron", "decoder-only", {"NemotronForCausalLM"}, ia::decoder::make})
