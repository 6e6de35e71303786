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

PreLnEncoder::PreLnEncoder(const TowerConfig& cfg, const WeightLoader& w, bool fused_qkv) : cfg_(cfg) {
  const int64_t H = cfg.hidden;
  for (int64_t i = 0; i < cfg.layers; ++i) {
    auto l = w.pp("layers").pp(i);
    Layer L;
    L.ln1 = layers::LayerNorm::load(l.pp("layer_norm1"), H, cfg.eps);
    L.ln2 = layers::LayerNorm::load(l.pp("layer_norm2"), H, cfg.eps);
    auto a = l.pp("self_attn");
    if (fused_qkv) {
      L.qkv = layers::Linear::load(a.pp("qkv"), H, 3 * H);
      L.o = layers::Linear::load(a.pp("projection"), H, H);
    } else {
      L.q = layers::Linear::load(a.pp("q_proj"), H, H);
      L.k = layers::Linear::load(a.pp("k_proj"), H, H);
      L.v = layers::Linear::load(a.pp("v_proj"), H, H);
      L.o = layers::Linear::load(a.pp("out_proj"), H, H);
    }
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
    Tensor q, k, v;
    if (L.qkv.defined()) {
      const Tensor y = L.qkv(h).view({h.dim(0), h.dim(1), 3, heads, cfg_.hidden / heads});
      q = y.select(2, 0).transpose(1, 2);
      k = y.select(2, 1).transpose(1, 2);
      v = y.select(2, 2).transpose(1, 2);
    } else {
      q = layers::split_heads(L.q(h), heads);
      k = layers::split_heads(L.k(h), heads);
      v = layers::split_heads(L.v(h), heads);
    }
    Tensor ctx = layers::merge_heads(ops::attention(q, k, v, args));
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

VisionTower::VisionTower(const ModelConfig& c, const WeightLoader& w) {
  cfg_ = TowerConfig::from(c, {768, 3072, 12, 12, "quick_gelu", 1e-5});
  image_ = c.dim_or("image_size", 224, 1);
  patch_ = c.dim_or("patch_size", 32, 1);
  channels_ = c.dim_or("num_channels", 3, 1);
  const int64_t n = (image_ / patch_) * (image_ / patch_) + 1;
  auto e = w.pp("embeddings");
  class_ = e.get("class_embedding", {cfg_.hidden});
  patch_w_ = e.pp("patch_embedding").get("weight", {cfg_.hidden, channels_, patch_, patch_});
  pos_ = layers::Embedding::load(e.pp("position_embedding"), n, cfg_.hidden);
  pre_ln_ = layers::LayerNorm::load(w.pp("pre_layrnorm"), cfg_.hidden, cfg_.eps);
  encoder_ = PreLnEncoder(cfg_, w.pp("encoder"));
  post_ln_ = layers::LayerNorm::load(w.pp("post_layernorm"), cfg_.hidden, cfg_.eps);
}

std::pair<Tensor, Tensor> VisionTower::forward(const TensorMap& in, std::vector<Tensor>* hs) const {
  auto it = in.find("pixel_values");
  IA_CHECK(it != in.end() && it->second.defined(), ErrorKind::InvalidArgument, "missing input 'pixel_values'");
  const Tensor px = it->second.to(patch_w_.device());
  IA_CHECK(px.ndim() == 4 && px.dim(1) == channels_ && px.dim(2) == image_ && px.dim(3) == image_,
           ErrorKind::InvalidArgument, "pixel_values {} does not match image_size {} with {} channels",
           px.describe(), image_, channels_);
  const int64_t B = px.dim(0), D = cfg_.hidden;
  Tensor patches = patch_embed(px, patch_w_, Tensor(), patch_);
  Tensor cls = class_.view({1, 1, D}).expand({B, 1, D});
  Tensor x = ops::concat({cls.contiguous(), patches}, 1);
  x = ops::add(x, pos_(layers::arange(x.dim(1)).view({1, -1}).to(px.device())));
  x = pre_ln_(x);
  AttentionArgs args;
  args.scale = 1.0f / std::sqrt(static_cast<float>(D / cfg_.heads));
  Tensor h = encoder_.forward(x, args, hs);
  return {h, post_ln_(h.select(1, 0))};
}

Tensor l2_normalize(const Tensor& x) {
  Tensor norm = ops::unary(UnaryOp::Sqrt, ops::reduce(ReduceOp::Sum, ops::unary(UnaryOp::Square, x)));
  return ops::div(x, norm.unsqueeze(-1));
}

}  // namespace ia::clip
