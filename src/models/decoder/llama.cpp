// Llama and the models HF copies from it (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py,
// modeling_granite.py, modeling_olmo.py, modeling_olmo2.py): RMSNorm (OLMo: parameter-free LayerNorm) pre-norm
// blocks, rotary attention with GQA, SwiGLU MLP. Per-type switches: Qwen2 q/k/v bias and per-layer sliding
// window, Mistral sliding window, Granite multipliers, OLMo clip_qkv, OLMo-2 q/k norms and post-norms.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const std::string type = c.model_type();
  const bool olmo = type == "olmo", olmo2 = type == "olmo2", qwen2 = type == "qwen2", granite = type == "granite";
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("hidden_size");
  s.heads = c.dim("num_attention_heads");
  s.kv_heads = kv_heads_of(c, s.heads);
  s.head_dim = c.has("head_dim") ? c.dim("head_dim") : s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, I = c.dim("intermediate_size"), L = c.dim("num_hidden_layers", 0, 4096);
  const double eps = c.number_or("rms_norm_eps", 1e-6);
  const bool qkv_bias = qwen2 || c.flag_or("attention_bias", false);
  const bool o_bias = !qwen2 && c.flag_or("attention_bias", false);
  const bool mlp_bias = c.flag_or("mlp_bias", false);
  const std::string act = c.str_or("hidden_act", "silu");
  ops::activation_op(act);
  s.rope = Rope::from_config(c, static_cast<int64_t>(D * c.number_or("partial_rotary_factor", 1.0)), false,
                             c.number_or("rope_theta", 10000.0));
  float scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (granite) {
    scale = static_cast<float>(c.number_or("attention_multiplier", 1.0));
    s.embed_scale = static_cast<float>(c.number_or("embedding_multiplier", 1.0));
    s.residual_multiplier = static_cast<float>(c.number_or("residual_multiplier", 1.0));
    s.logit_scale = static_cast<float>(1.0 / c.number_or("logits_scaling", 1.0));
  }
  int64_t window = 0;
  if ((type == "mistral" || type == "qwen2") && c.has("sliding_window")) window = c.dim("sliding_window");
  const bool qwen_sliding = qwen2 && c.flag_or("use_sliding_window", false);
  const int64_t max_window_layers = c.dim_or("max_window_layers", L, 0);
  float clip = 0.0f;
  if (olmo && c.has("clip_qkv")) clip = static_cast<float>(c.number("clip_qkv"));

  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    if (olmo) {
      layer.ln_attn = Norm::layer_plain(1e-5);
      layer.ln_mlp = Norm::layer_plain(1e-5);
    } else if (olmo2) {
      layer.post_attn = Norm::rms(l.pp("post_attention_layernorm"), H, eps);
      layer.post_mlp = Norm::rms(l.pp("post_feedforward_layernorm"), H, eps);
    } else {
      layer.ln_attn = Norm::rms(l.pp("input_layernorm"), H, eps);
      layer.ln_mlp = Norm::rms(l.pp("post_attention_layernorm"), H, eps);
    }
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, s.heads * D, qkv_bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, s.kv_heads * D, qkv_bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, s.kv_heads * D, qkv_bias);
    at.o = layers::Linear::load(a.pp("o_proj"), s.heads * D, H, o_bias);
    if (olmo2) {
      at.full_qk_norm = true;
      at.q_norm = Norm::rms(a.pp("q_norm"), s.heads * D, eps);
      at.k_norm = Norm::rms(a.pp("k_norm"), s.kv_heads * D, eps);
    }
    at.clip_qkv = clip;
    at.scale = scale;
    if (type == "mistral" || (qwen_sliding && i >= max_window_layers)) at.sliding_window = window;
    auto m = l.pp("mlp");
    layer.mlp.gate = layers::Linear::load(m.pp("gate_proj"), H, I, mlp_bias);
    layer.mlp.up = layers::Linear::load(m.pp("up_proj"), H, I, mlp_bias);
    layer.mlp.down = layers::Linear::load(m.pp("down_proj"), I, H, mlp_bias);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = olmo ? Norm::layer_plain(1e-5) : Norm::rms(w.pp("norm"), H, eps);
  load_lm_head(s, c, root, false);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(llama, {"llama", "decoder-only", {"LlamaForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(mistral, {"mistral", "decoder-only", {"MistralForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(qwen2, {"qwen2", "decoder-only", {"Qwen2ForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(granite, {"granite", "decoder-only", {"GraniteForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(olmo, {"olmo", "decoder-only", {"OlmoForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(olmo2, {"olmo2", "decoder-only", {"Olmo2ForCausalLM"}, ia::decoder::make})
