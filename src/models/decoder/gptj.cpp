// GPT-J and CodeGen (modeling_gptj.py, modeling_codegen.py): one LayerNorm feeding parallel attention + MLP,
// interleaved (rotate_every_two) partial rotary over rotary_dim, lm_head with bias. CodeGen fuses qkv_proj in
// mp_num = 4 blocks of [q | v | k].
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const bool codegen = c.model_type() == "codegen";
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("n_embd");
  s.heads = c.dim("n_head");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, D = s.head_dim, L = c.dim("n_layer", 0, 4096);
  const int64_t I = c.dim_or("n_inner", 4 * H, 1);
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  const std::string act = c.str_or("activation_function", "gelu_new");
  ops::activation_op(act);
  if (codegen)
    IA_CHECK(s.heads % 4 == 0, ErrorKind::Unsupported, "{}: CodeGen's mp_num=4 qkv layout needs n_head % 4 == 0, got {}",
             c.source(), s.heads);
  s.rope = Rope::from_config(c, c.dim_or("rotary_dim", D, 1), true, 10000.0);
  s.max_positions = c.dim("n_positions");
  s.style = BlockStyle::Parallel;
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("wte").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("h").pp(i);
    auto a = l.pp("attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("ln_1"), H, eps);
    Attention& at = layer.attn;
    if (codegen) {
      at.layout = QkvLayout::CodeGen;
      at.qkv = layers::Linear::load(a.pp("qkv_proj"), H, 3 * H, false);
    } else {
      at.q = layers::Linear::load(a.pp("q_proj"), H, H, false);
      at.k = layers::Linear::load(a.pp("k_proj"), H, H, false);
      at.v = layers::Linear::load(a.pp("v_proj"), H, H, false);
    }
    at.o = layers::Linear::load(a.pp("out_proj"), H, H, false);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D));
    layer.mlp.up = layers::Linear::load(l.pp("mlp").pp("fc_in"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("mlp").pp("fc_out"), I, H, true);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("ln_f"), H, eps);
  load_lm_head(s, c, root, false, "lm_head", true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(gptj, {"gptj", "decoder-only", {"GPTJForCausalLM"}, ia::decoder::make})
IA_REGISTER_MODEL(codegen, {"codegen", "decoder-only", {"CodeGenForCausalLM"}, ia::decoder::make})
