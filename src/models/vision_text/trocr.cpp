// TrOCR's text decoder (HF modeling_trocr.py, TrOCRForCausalLM): scaled token embeddings plus learned (offset 2)
// or fairseq sinusoidal positions, optional layernorm_embedding, post-LN layers with self-attention,
// cross-attention over the image encoder (k/v read cross_attention_hidden_size) and an fc1/fc2 MLP, and the
// output_projection LM head. Built on the shared decoder (models/decoder/transformer.h).
#include <cmath>

#include "models/decoder/transformer.h"
#include "models/seq2seq/sinusoid.h"

namespace ia::trocr {
namespace {

using decoder::Norm;

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  decoder::Spec s;
  s.vocab = c.dim_or("vocab_size", 50265, 1);
  s.hidden = c.dim_or("d_model", 1024, 1);
  s.heads = c.dim_or("decoder_attention_heads", 16, 1);
  s.kv_heads = s.heads;
  IA_CHECK(s.hidden % s.heads == 0, ErrorKind::Format, "{}: d_model {} is not a multiple of decoder_attention_heads {}",
           c.source(), s.hidden, s.heads);
  s.head_dim = s.hidden / s.heads;
  const int64_t H = s.hidden, L = c.dim_or("decoder_layers", 12, 0, 1024), I = c.dim_or("decoder_ffn_dim", 4096, 1);
  const int64_t max_pos = c.dim_or("max_position_embeddings", 512, 1);
  const int64_t pad = c.dim_or("pad_token_id", 1, 0);
  const int64_t cross_width = c.dim_or("cross_attention_hidden_size", H, 1);
  const std::string act = c.str_or("activation_function", "gelu");
  ops::activation_op(act);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));

  const WeightLoader w = root.pp("model").pp("decoder");
  s.embed = w.pp("embed_tokens").get_native("weight", {s.vocab, H});
  if (c.flag_or("scale_embedding", false)) s.embed_scale = std::sqrt(static_cast<float>(H));
  s.max_positions = max_pos;
  if (c.flag_or("use_learned_position_embeddings", true)) {
    s.pos_offset = 2;  // TrOCRLearnedPositionalEmbedding
    s.pos_table = w.pp("embed_positions").get("weight", {max_pos + 2, H});
    s.positions_from_cache = true;
  } else {
    const int64_t rows = max_pos + pad + 1;
    s.pos_table = Tensor::empty({rows, H}, DType::F32);
    for (int64_t r = 0; r < rows; ++r) seq2seq::fairseq_sinusoid_row(r, H, pad, s.pos_table.data<float>() + r * H);
    s.pos_table = s.pos_table.to(root.device());
    s.positions_from_ids_padding = pad;
  }
  if (c.flag_or("layernorm_embedding", true)) s.embed_norm = Norm::layer(w.pp("layernorm_embedding"), H, 1e-5);
  s.style = decoder::BlockStyle::PostNorm;
  for (int64_t i = 0; i < L; ++i) {
    auto l = w.pp("layers").pp(i);
    decoder::Layer layer;
    auto a = l.pp("self_attn");
    layer.attn.q = layers::Linear::load(a.pp("q_proj"), H, H, true);
    layer.attn.k = layers::Linear::load(a.pp("k_proj"), H, H, true);
    layer.attn.v = layers::Linear::load(a.pp("v_proj"), H, H, true);
    layer.attn.o = layers::Linear::load(a.pp("out_proj"), H, H, true);
    layer.attn.scale = scale;
    layer.ln_attn = Norm::layer(l.pp("self_attn_layer_norm"), H, 1e-5);
    auto x = l.pp("encoder_attn");
    layer.cross.q = layers::Linear::load(x.pp("q_proj"), H, H, true);
    layer.cross.k = layers::Linear::load(x.pp("k_proj"), cross_width, H, true);
    layer.cross.v = layers::Linear::load(x.pp("v_proj"), cross_width, H, true);
    layer.cross.o = layers::Linear::load(x.pp("out_proj"), H, H, true);
    layer.cross.width = cross_width;
    layer.cross.scale = scale;
    layer.ln_cross = Norm::layer(l.pp("encoder_attn_layer_norm"), H, 1e-5);
    layer.mlp.up = layers::Linear::load(l.pp("fc1"), H, I, true);
    layer.mlp.down = layers::Linear::load(l.pp("fc2"), I, H, true);
    layer.mlp.act = act;
    layer.ln_mlp = Norm::layer(l.pp("final_layer_norm"), H, 1e-5);
    s.layers.push_back(std::move(layer));
  }
  decoder::load_lm_head(s, c, root, true, "output_projection");
  return std::make_unique<decoder::TransformerLM>(std::move(s));
}

}  // namespace
}  // namespace ia::trocr

IA_REGISTER_MODEL(trocr, {"trocr", "vision-encoder-text-decoder", {"TrOCRForCausalLM"}, ia::trocr::make})
