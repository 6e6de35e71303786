// BioGPT (modeling_biogpt.py): scaled embeddings plus learned positions (offset 2) derived from the attention
// mask, pre-LN blocks with biased projections, GELU MLP, tied output_projection.
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
  const int64_t H = s.hidden, L = c.dim("num_hidden_layers", 0, 4096), I = c.dim("intermediate_size");
  const int64_t P = c.dim("max_position_embeddings");
  const double eps = c.number_or("layer_norm_eps", 1e-12);
  const std::string act = c.str_or("hidden_act", "gelu");
  ops::activation_op(act);
  if (c.flag_or("scale_embedding", true)) s.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(H)));
  s.positions = Positions::MaskCumsum;
  WeightLoader w = root.base("biogpt");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  s.pos_table = w.pp("embed_positions").get("weight", {P + 2, H});
  s.pos_offset = 2;
  s.max_positions = P;
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("self_attn_layer_norm"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("final_layer_norm"), H, eps);
    Attention& at = layer.attn;
    at.q = layers::Linear::load(a.pp("q_proj"), H, H, true);
    at.k = layers::Linear::load(a.pp("k_proj"), H, H, true);
    at.v = layers::Linear::load(a.pp("v_proj"), H, H, true);
    at.o = layers::Linear::load(a.pp("out_proj"), H, H, true);
    at.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    layer.mlp.up = layers::Linear::load(l.pp("fc1"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("fc2"), I, H, true);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("layer_norm"), H, eps);
  s.final_norm_in_hidden_states = false;  // HF appends the last hidden state before layer_norm
  load_lm_head(s, c, root, true, "output_projection");
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(biogpt, {"biogpt", "decoder-only", {"BioGptForCausalLM"}, ia::decoder::make})
