// GPT-NeoX (modeling_gpt_neox.py): per-head fused query_key_value, partial rotary (rotary_pct), parallel
// residual x + attn(ln1(x)) + mlp(ln2(x)) (or sequential), separate embed_out head.
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
  const bool bias = c.flag_or("attention_bias", true);
  const std::string act = c.str_or("hidden_act", "gelu");
  ops::activation_op(act);
  const double pct = c.number_or("rotary_pct", c.number_or("partial_rotary_factor", 1.0));
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * pct), false,
                             c.number_or("rope_theta", c.number_or("rotary_emb_base", 10000.0)));
  s.style = c.flag_or("use_parallel_residual", true) ? BlockStyle::Parallel : BlockStyle::PreNorm;
  WeightLoader w = root.base("gpt_neox");
  s.embed = w.pp("embed_in").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("attention");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("input_layernorm"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("post_attention_layernorm"), H, eps);
    Attention& at = layer.attn;
    at.layout = QkvLayout::HeadInterleaved;
    at.qkv = layers::Linear::load(a.pp("query_key_value"), H, 3 * H, bias);
    at.o = layers::Linear::load(a.pp("dense"), H, H, bias);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("dense_h_to_4h"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("dense_4h_to_h"), I, H, true);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("final_layer_norm"), H, eps);
  load_lm_head(s, c, root, false, "embed_out");
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(gpt_neox, {"gpt_neox", "decoder-only", {"GPTNeoXForCausalLM"}, ia::decoder::make})
