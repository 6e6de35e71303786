// MPT (modeling_mpt.py): ALiBi (alibi_bias_max), LayerNorm pre-norm blocks (optionally bias-free), fused
// Wqkv [q | k | v], GELU MLP, tied lm_head. attn_config options HF does not implement are rejected.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

// build_mpt_alibi_tensor's slopes.
std::vector<float> mpt_slopes(int64_t heads, double bias_max) {
  const int64_t p2 = int64_t(1) << static_cast<int64_t>(std::ceil(std::log2(double(heads))));
  std::vector<float> all;
  for (int64_t i = 1; i <= p2; ++i) {
    const float b = static_cast<float>(i) * static_cast<float>(bias_max / p2);
    all.push_back(1.0f / std::pow(2.0f, b));
  }
  if (p2 == heads) return all;
  std::vector<float> r;
  for (int64_t i = 1; i < p2; i += 2) r.push_back(all[i]);
  for (int64_t i = 0; i < p2; i += 2) r.push_back(all[i]);
  r.resize(heads);
  return r;
}

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("d_model");
  s.heads = c.dim("n_heads");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, L = c.dim("n_layers", 0, 4096), I = 4 * H;  // HF MptMLP hard-codes 4 * hidden_size (expansion_ratio is ignored)
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  const bool bias = !c.flag_or("no_bias", true);
  nlohmann::json ac = c.has("attn_config") ? c.json()["attn_config"] : nlohmann::json::object();
  IA_CHECK(ac.value("alibi", true), ErrorKind::Unsupported, "{}: unsupported attn_config.alibi=false", c.source());
  IA_CHECK(!ac.value("qk_ln", false), ErrorKind::Unsupported, "{}: unsupported attn_config.qk_ln=true", c.source());
  s.alibi_slopes = mpt_slopes(s.heads, ac.contains("alibi_bias_max") ? ac["alibi_bias_max"].get<double>() : 8.0);
  float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  if (ac.contains("softmax_scale") && ac["softmax_scale"].is_number()) scale = ac["softmax_scale"].get<float>();
  float clip = 0.0f;
  if (ac.contains("clip_qkv") && ac["clip_qkv"].is_number()) clip = ac["clip_qkv"].get<float>();
  s.max_positions = c.dim("max_seq_len");
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("wte").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("blocks").pp(i);
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("norm_1"), H, eps, bias);
    layer.ln_mlp = Norm::layer(l.pp("norm_2"), H, eps, bias);
    Attention& at = layer.attn;
    at.layout = QkvLayout::Concat;
    at.qkv = layers::Linear::load(l.pp("attn").pp("Wqkv"), H, 3 * H, bias);
    at.o = layers::Linear::load(l.pp("attn").pp("out_proj"), H, H, bias);
    at.scale = scale;
    at.clip_qkv = clip;
    layer.mlp.up = layers::Linear::load(l.pp("ffn").pp("up_proj"), H, I, bias);
    layer.mlp.down = layers::Linear::load(l.pp("ffn").pp("down_proj"), I, H, bias);
    layer.mlp.act = "gelu";
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("norm_f"), H, eps, bias);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(mpt, {"mpt", "decoder-only", {"MptForCausalLM"}, ia::decoder::make})
