// Gemma and Gemma-2 (modeling_gemma.py, modeling_gemma2.py): Llama-like blocks with (1 + w) RMSNorm,
// embeddings scaled by sqrt(hidden_size), GeGLU MLP, tied lm_head. Gemma-2 adds post-attention and
// pre/post-feedforward norms, attention and final logit soft-capping, query_pre_attn_scalar, and sliding-window
// attention on even layers.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const bool g2 = c.model_type() == "gemma2";
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = kv_heads_of(c, s.heads);
  s.head_dim = c.has("head_dim") ? c.dim("head_dim") : s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("rms_norm_eps", 1e-6);
  const bool bias = c.flag_or("attention_bias", false);
  const std::string act = c.str_or("hidden_activation", c.str_or("hidden_act", "gelu_pytorch_tanh"));
  ops::activation_op(act);
  s.rope = Rope::from_config(c, D, false, c.number_or("rope_theta", 10000.0));
  s.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(H)));
  float scale = 1.0f / std::sqrt(static_cast<float>(D));
  int64_t window = 0;
  if (g2) {
    scale = static_cast<float>(std::pow(c.number_or("query_pre_attn_scalar", double(D)), -0.5));
    s.attn_softcap = static_cast<float>(c.number_or("attn_logit_softcapping", 0.0));
    s.final_softcap = static_cast<float>(c.number_or("final_logit_softcapping", 0.0));
    window = c.dim_or("sliding_window", 0, 0);
    s.hybrid_cache_sliding_mask = true;
  }
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::rms(l.pp("input_layernorm"), H, eps, true);
    if (g2) {
      layer.post_attn = Norm::rms(l.pp("post_attention_layernorm"), H, eps, true);
      layer.ln_mlp = Norm::rms(l.pp("pre_feedforward_layernorm"), H, eps, true);
      layer.post_mlp = Norm::rms(l.pp("post_feedforward_layernorm"), H, eps, true);
    } else {
      layer.ln_mlp = Norm::rms(l.pp("post_attention_layernorm"), H, eps, true);
    }
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, bias);
    at.scale = scale;
    if (g2 && i % 2 == 0) at.sliding_window = window;
    auto m = l.pp("mlp");
    layer.mlp.gate = layers::Linear::load(m.pp("gate_proj"), H, I, false);
    layer.mlp.up = layers::Linear::load(m.pp("up_proj"), H, I, false);
    layer.mlp.down = layers::Linear::load(m.pp("down_proj"), I, H, false);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::rms(w.pp("norm"), H, eps, true);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(gemma, {"gemma", "decoder-only", {"GemmaForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(gemma2, {"gemma2", "decoder-only", {"Gemma2ForCausalLM"}, ia::decoder::make})
