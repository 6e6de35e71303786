#include "models/multimodal/clip_encoder.h"

#include <cmath>

namespace ia::clip {

TowerConfig TowerConfig::from(const ModelConfig& c, const TowerConfig& d) {
  TowerConfig t;
  t.hidden = c.dim_or("hidden_size", d.hidden, 1);
  t.intermediate = c.dim_or("intermediate_size", d.intermediate, 1);
  t.heads = c.dim_or("num_attention_heads", d.heads, 1);
  t.layers = c.dim_or("num_hidden_layers", d.layers, 0, 1024);
  t.act = c.str_or("hidden_act", d.act);
  ops::activation_op(t.act);
  t.eps = c.number_or("layer_norm_eps", d.eps);
  IA_CHECK(t.hidden % t.heads == 0, ErrorKind::Format, "{}: hidden_size {} not divisible by num_attention_heads {}",
           c.source(), t.hidden, t.heads);
  return t;
}

PreLnEncoder::PreLnEncoder(const TowerConfig& cfg, const WeightLoader& w) : cfg_(cfg) {
  const int64_t H = cfg.hidden;
  for (int64_t i = 0; i < cfg.layers; ++i) {
    auto l = w.pp("layers").pp(i);
    Layer L;
    L.ln1 = layers::LayerNorm::load(l.pp("layer_norm1"), H, cfg.eps);
    L.ln2 = layers::LayerNorm::load(l.pp("layer_norm2"), H, cfg.eps);
    L.q = layers::Linear::load(l.pp("self_attn").pp("q_proj"), H, H);
    L.k = layers::Linear::load(l.pp("self_attn").pp("k_proj"), H, H);
    L.v = layers::Linear::load(l.pp("self_attn").pp("v_proj"), H, H);
    L.o = layers::Linear::load(l.pp("self_attn").pp("out_proj"), H, H);
    L.fc1 = layers::Linear::load(l.pp("mlp").pp("fc1"), H, cfg.intermediate);
    L.fc2 = layers::Linear::load(l.pp("mlp").pp("fc2"), cfg.intermediate, H);
    layers_.push_back(std::move(L));
  }
}

Tensor PreLnEncoder::forward(Tensor x, const AttentionArgs& args, std::vector<Tensor>* hs) const {
  const int64_t heads = cfg_.heads;
  for (const auto& L : layers_) {
    if (hs) hs->push_back(x);
    Tensor h = L.ln1(x);
    Tensor ctx = layers::merge_heads(ops::attention(layers::split_heads(L.q(h), heads), layers::split_heads(L.k(h), heads),
                                                    layers::split_heads(L.v(h), heads), args));
    x = ops::add(x, L.o(ctx));
    x = ops::add(x, L.fc2(ops::activation(L.fc1(L.ln2(x)), cfg_.act)));
  }
  if (hs) hs->push_back(x);
  return x;
}

Tensor patch_embed(const Tensor& pixels, const Tensor& weight, const Tensor& bias, int64_t p) {
  IA_CHECK(pixels.ndim() == 4, ErrorKind::InvalidArgument, "pixel_values must be [B, C, H, W], got {}",
           pixels.describe());
  const int64_t B = pixels.dim(0), C = pixels.dim(1), Hp = pixels.dim(2) / p, Wp = pixels.dim(3) / p;
  const int64_t D = weight.dim(0);
  IA_CHECK(weight.ndim() == 4 && weight.dim(1) == C && weight.dim(2) == p && weight.dim(3) == p,
           ErrorKind::InvalidArgument, "patch embedding weight {} for {} channels, patch {}", weight.describe(), C, p);
  IA_CHECK(Hp > 0 && Wp > 0, ErrorKind::InvalidArgument, "image {}x{} smaller than patch {}", pixels.dim(2),
           pixels.dim(3), p);
  Tensor x = pixels.dtype() == DType::F32 ? pixels : pixels.to(DType::F32);
  x = x.slice(2, 0, Hp * p).slice(3, 0, Wp * p).contiguous().view({B, C, Hp, p, Wp, p});
  x = x.permute({0, 2, 4, 1, 3, 5}).contiguous().view({B, Hp * Wp, C * p * p});
  return ops::linear(x, weight.contiguous().view({D, C * p * p}), bias);
}

Tensor l2_normalize(const Tensor& x) {
  Tensor norm = ops::unary(UnaryOp::Sqrt, ops::reduce(ReduceOp::Sum, ops::unary(UnaryOp::Square, x)));
  return ops::div(x, norm.unsqueeze(-1));
}

}  // namespace ia::clip
