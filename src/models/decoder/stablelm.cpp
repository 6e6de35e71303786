// StableLM (modeling_stablelm.py): LayerNorm blocks (sequential or parallel residual), partial rotary,
// optional q/k/v bias and per-head q/k LayerNorms, SwiGLU MLP.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

// StableLmLayerNormPerHead: one bias-free LayerNorm per head, stacked into a [heads, D] weight.
Norm per_head_norms(const WeightLoader& w, int64_t heads, int64_t D, double eps) {
  std::vector<Tensor> ws;
  for (int64_t h = 0; h < heads; ++h) ws.push_back(w.pp("norms").pp(h).get("weight", {D}).view({1, D}));
  Norm n;
  n.kind = Norm::Kind::LayerNormPerHead;
  n.weight = ops::concat(ws, 0);
  n.eps = static_cast<float>(eps);
  return n;
}

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = kv_heads_of(c, s.heads);
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("layer_norm_eps", 1e-5);
  const bool qkv_bias = c.flag_or("use_qkv_bias", false);
  const bool parallel = c.flag_or("use_parallel_residual", false);
  const bool qk_ln = c.flag_or("qk_layernorm", false);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * c.number_or("partial_rotary_factor", 0.25)), false,
                             c.number_or("rope_theta", 10000.0));
  s.style = parallel ? BlockStyle::Parallel : BlockStyle::PreNorm;
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
    if (!parallel) layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, qkv_bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, qkv_bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, qkv_bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, false);
    if (qk_ln) {
      at.q_norm = per_head_norms(a.pp("q_layernorm"), s.heads, D, eps);
      at.k_norm = per_head_norms(a.pp("k_layernorm"), s.kv_heads, D, eps);
    }
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    auto m = l.pp("mlp");
    layer.mlp.gate = layers::Linear::load(m.pp("gate_proj"), H, I, false);
    layer.mlp.up = layers::Linear::load(m.pp("up_proj"), H, I, false);
    layer.mlp.down = layers::Linear::load(m.pp("down_proj"), I, H, false);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("norm"), H, eps);
  load_lm_head(s, c, root, false);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(stablelm, {"stablelm", "decoder-only", {"StableLmForCausalLM"}, ia::decoder::make})
