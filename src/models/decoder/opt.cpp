// OPT (modeling_opt.py): learned positions with offset 2 derived from the attention mask, optional
// project_in/project_out (word_embed_proj_dim), pre-LN or post-LN blocks (do_layer_norm_before), ReLU MLP,
// tied lm_head.
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
  const int64_t H = s.hidden, L = c.dim("num_hidden_layers", 0, 4096), I = c.dim("ffn_dim");
  const int64_t E = c.dim_or("word_embed_proj_dim", H, 1), P = c.dim("max_position_embeddings");
  const bool before = c.flag_or("do_layer_norm_before", true);
  const bool affine = c.flag_or("layer_norm_elementwise_affine", true);
  const bool bias = c.flag_or("enable_bias", true);
  const std::string act = c.str_or("activation_function", "relu");
  ops::activation_op(act);
  auto ln = [&](const WeightLoader& w) { return affine ? Norm::layer(w, H, 1e-5) : Norm::layer_plain(1e-5); };
  s.style = before ? BlockStyle::PreNorm : BlockStyle::PostNorm;
  s.positions = Positions::MaskCumsum;
  WeightLoader w = root.base("model").pp("decoder");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, E});
  s.pos_table = w.pp("embed_positions").get("weight", {P + 2, H});
  s.pos_offset = 2;
  s.max_positions = P;
  if (E != H) {
    s.project_in = layers::Linear::load(w.pp("project_in"), E, H, false);
    s.project_out = layers::Linear::load(w.pp("project_out"), H, E, false);
  }
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = ln(l.pp("self_attn_layer_norm"));
    layer.ln_mlp = ln(l.pp("final_layer_norm"));
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, H, bias);
    at.k = layers::Linear::load(a.pp("k_proj"), H, H, bias);
    at.v = layers::Linear::load(a.pp("v_proj"), H, H, bias);
    at.o = layers::Linear::load(a.pp("out_proj"), H, H, bias);
    at.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    layer.mlp.up = layers::Linear::load(l.pp("fc1"), H, I, bias);
    layer.mlp.down = layers::Linear::load(l.pp("fc2"), I, H, bias);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  if (before && !c.flag_or("_remove_final_layer_norm", false)) s.final_norm = ln(w.pp("final_layer_norm"));
  s.lm_head = c.flag_or("tie_word_embeddings", true) ? s.embed : root.pp("lm_head").get_native("weight", {s.vocab, E});
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(opt, {"opt", "decoder-only", {"OPTForCausalLM"}, ia::decoder::make})
