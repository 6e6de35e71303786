// Phi-3 (modeling_phi3.py): Llama-like RMSNorm blocks with a fused qkv_proj [q | k | v] and a fused
// gate_up_proj, LongRoPE (`longrope`/`su`) scaling, optional sliding window.
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
  const double eps = c.number_or("rms_norm_eps", 1e-5);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * c.number_or("partial_rotary_factor", 1.0)), false,
                             c.number_or("rope_theta", 10000.0));
  const int64_t window = c.dim_or("sliding_window", 0, 0);
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::rms(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::rms(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.layout = QkvLayout::Concat;
    at.qkv = layers::Linear::load(a.pp("qkv_proj"), H, (s.heads + 2 * s.kv_heads) * D, false);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, false);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    at.sliding_window = window;
    layer.mlp.gate_up = layers::Linear::load(l.pp("mlp").pp("gate_up_proj"), H, 2 * I, false);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("down_proj"), I, H, false);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::rms(w.pp("norm"), H, eps);
  load_lm_head(s, c, root, false);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(phi3, {"phi3", "decoder-only", {"Phi3ForCausalLM"}, ia::decoder::make})
