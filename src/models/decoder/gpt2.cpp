// GPT-2 and GPTBigCode (modeling_gpt2.py, modeling_gpt_bigcode.py): learned positions, pre-LN blocks, fused
// c_attn (GPT-2: Conv1D weights [in, out]; BigCode: Linear, multi-query [q heads | k | v] or per-head [q|k|v]),
// GELU MLP, tied lm_head; GPT-2 with add_cross_attention adds ln_cross_attn + crossattention (q_attn on the
// decoder, c_attn -> [k | v] on the encoder states) to every block (the decoder of a VisionEncoderDecoder).
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  const bool bigcode = c.model_type() == "gpt_bigcode";
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("n_embd");
  s.heads = c.dim("n_head");
  s.head_dim = s.hidden / s.heads;
  const bool mq = bigcode && c.flag_or("multi_query", true);
  s.kv_heads = mq ? 1 : s.heads;
  const int64_t H = s.hidden, D = s.head_dim, L = c.dim("n_layer", 0, 4096);
  const int64_t I = c.dim_or("n_inner", 4 * H, 1);
  const int64_t P = c.dim("n_positions");
  const double eps = c.number_or("layer_norm_epsilon", 1e-5);
  const std::string act = c.str_or("activation_function", "gelu_new");
  ops::activation_op(act);
  const bool cross = c.flag_or("add_cross_attention", false);
  IA_CHECK(!cross || !bigcode, ErrorKind::Unsupported, "{}: unsupported add_cross_attention=true for gpt_bigcode",
           c.source());
  const bool scale_weights = c.flag_or("scale_attn_weights", true);
  const bool inv_layer = !bigcode && c.flag_or("scale_attn_by_inverse_layer_idx", false);
  WeightLoader w = root.base("transformer");
  s.embed = w.pp("wte").get_native("weight", {s.vocab, H});
  s.pos_table = w.pp("wpe").get("weight", {P, H});
  s.max_positions = P;
  if (bigcode) s.positions = Positions::MaskCumsumFill1;  // GPTBigCodeModel derives them from the mask
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("h").pp(i);
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("ln_1"), H, eps);
    layer.ln_mlp = Norm::layer(l.pp("ln_2"), H, eps);
    Attention& at = layer.attn;
    at.layout = mq ? QkvLayout::Concat : (bigcode ? QkvLayout::HeadInterleaved : QkvLayout::Concat);
    const int64_t qkv_out = (s.heads + 2 * s.kv_heads) * D;
    at.qkv = bigcode ? layers::Linear::load(l.pp("attn").pp("c_attn"), H, qkv_out, true) : layers::Linear::load_conv1d(l.pp("attn").pp("c_attn"), H, qkv_out);
    at.o = bigcode ? layers::Linear::load(l.pp("attn").pp("c_proj"), H, H, true) : layers::Linear::load_conv1d(l.pp("attn").pp("c_proj"), H, H);
    at.scale = scale_weights ? 1.0f / std::sqrt(static_cast<float>(D)) : 1.0f;
    if (inv_layer) at.scale /= static_cast<float>(i + 1);
    if (cross) {
      auto x = l.pp("crossattention");
      layer.ln_cross = Norm::layer(l.pp("ln_cross_attn"), H, eps);
      layer.cross.q = layers::Linear::load_conv1d(x.pp("q_attn"), H, H);
      layer.cross.kv = layers::Linear::load_conv1d(x.pp("c_attn"), H, 2 * H);
      layer.cross.o = layers::Linear::load_conv1d(x.pp("c_proj"), H, H);
      layer.cross.width = H;
      layer.cross.scale = at.scale;
    }
    auto m = l.pp("mlp");
    layer.mlp.up = bigcode ? layers::Linear::load(m.pp("c_fc"), H, I, true) : layers::Linear::load_conv1d(m.pp("c_fc"), H, I);
    layer.mlp.down = bigcode ? layers::Linear::load(m.pp("c_proj"), I, H, true) : layers::Linear::load_conv1d(m.pp("c_proj"), I, H);
    layer.mlp.act = act;
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = Norm::layer(w.pp("ln_f"), H, eps);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(gpt2, {"gpt2", "decoder-only", {"GPT2LMHeadModel"}, ia::decoder::make})
IA_REGISTER_MODEL(gpt_bigcode, {"gpt_bigcode", "decoder-only", {"GPTBigCodeForCausalLM"}, ia::decoder::make})
