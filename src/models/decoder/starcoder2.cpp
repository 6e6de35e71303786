// StarCoder2 (modeling_starcoder2.py): LayerNorm (with bias) pre-norm blocks, GQA rotary attention with biased
// projections, GELU MLP (c_fc, c_proj), optional sliding window.
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
  const double eps = c.number_or("norm_epsilon", 1e-5);
  const bool bias = c.flag_or("use_bias", true);
  const std::string act = c.str_or("hidden_act", "gelu_pytorch_tanh");
  ops::activation_op(act);
  s.rope = Rope::from_config(c, D, false, c.number_or("rope_theta", 10000.0));
  const int64_t window = c.dim_or("sliding_window", 0, 0);
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, bias);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    at.sliding_window = window;
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("c_fc"), H, I, bias);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("c_proj"), I, H, bias);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("norm"), H, eps);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(starcoder2, {"starcoder2", "decoder-only", {"Starcoder2ForCausalLM"}, ia::decoder::make})
