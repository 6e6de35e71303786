// XGLM (modeling_xglm.py): scaled embeddings plus sinusoidal positions (offset 2, padding row zeroed),
// pre-LN blocks with biased projections, GELU MLP, tied lm_head.
#include <cmath>

#include "models/decoder/transformer.h"

namespace ia::decoder {
namespace {

// XGLMSinusoidalPositionalEmbedding.get_embedding, in float32 like torch.
Tensor sinusoidal_table(int64_t rows, int64_t dim, int64_t padding_idx) {
  const int64_t half = dim / 2;
  const float step = static_cast<float>(std::log(10000.0) / (half - 1));
  Tensor t = Tensor::zeros({rows, dim}, DType::F32);
  float* p = t.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < half; ++j) {
      const float f = std::exp(static_cast<float>(j) * -step);
      const float a = static_cast<float>(r) * f;
      p[r * dim + j] = std::sin(a);
      p[r * dim + half + j] = std::cos(a);
    }
  }
  if (padding_idx >= 0 && padding_idx < rows)
    for (int64_t j = 0; j < dim; ++j) p[padding_idx * dim + j] = 0.0f;
  return t;
}

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  Spec s;
  s.vocab = c.dim("vocab_size");
  s.hidden = c.dim("d_model");
  s.heads = c.dim("attention_heads");
  s.kv_heads = s.heads;
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, L = c.dim("num_layers", 0, 4096), I = c.dim("ffn_dim");
  const int64_t P = c.dim("max_position_embeddings");
  const std::string act = c.str_or("activation_function", "gelu");
  ops::activation_op(act);
  if (c.flag_or("scale_embedding", true)) s.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(H)));
  s.pos_offset = 2;
  s.pos_table = sinusoidal_table(P + 2, H, c.dim_or("pad_token_id", 1, 0));
  s.max_positions = P;
  WeightLoader w = root.base("model");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    auto a = l.pp("self_attn");
    Layer layer;
    layer.ln_attn = Norm::layer(l.pp("self_attn_layer_norm"), H, 1e-5);
    layer.ln_mlp = Norm::layer(l.pp("final_layer_norm"), H, 1e-5);
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
  s.final_norm = Norm::layer(w.pp("layer_norm"), H, 1e-5);
  load_lm_head(s, c, root, true);
  return std::make_unique<TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::decoder

IA_REGISTER_MODEL(xglm, {"xglm", "decoder-only", {"XGLMForCausalLM"}, ia::decoder::make})
