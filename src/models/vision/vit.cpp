// ViT (HF modeling_vit.py): ViTModel and ViTForImageClassification, on the encoder shared with DeiT.
#include "models/vision/vit.h"

#include <cmath>

#include "ops/interpolate.h"

namespace ia::vit {

using layers::LayerNorm;
using layers::Linear;

Config Config::from(const ModelConfig& c) {
  Config k;
  k.hidden = c.dim("hidden_size");
  k.layers = c.dim("num_hidden_layers", 0, 1024);
  k.heads = c.dim("num_attention_heads");
  k.intermediate = c.dim("intermediate_size");
  k.channels = c.dim_or("num_channels", 3, 1);
  std::tie(k.image_h, k.image_w) = vision::hw_pair(c, "image_size");
  std::tie(k.patch_h, k.patch_w) = vision::hw_pair(c, "patch_size");
  k.qkv_bias = c.flag_or("qkv_bias", true);
  k.act = c.str_or("hidden_act", "gelu");
  ops::activation_op(k.act);
  k.eps = c.number_or("layer_norm_eps", 1e-12);
  k.pooler_size = c.dim_or("pooler_output_size", k.hidden, 1);
  k.pooler_act = c.str_or("pooler_act", "tanh");
  ops::activation_op(k.pooler_act);
  IA_CHECK(k.hidden % k.heads == 0, ErrorKind::Format, "{}: hidden_size {} is not a multiple of num_attention_heads {}",
           c.source(), k.hidden, k.heads);
  return k;
}

Encoder::Encoder(const Config& cfg, const WeightLoader& w, int64_t extra_tokens, bool with_pooler)
    : cfg_(cfg), extra_tokens_(extra_tokens) {
  const int64_t H = cfg.hidden;
  auto emb = w.pp("embeddings");
  auto proj = emb.pp("patch_embeddings").pp("projection");
  patch_.weight = proj.get("weight", {H, cfg.channels, cfg.patch_h, cfg.patch_w});
  patch_.bias = proj.get("bias", {H});
  patch_.args.stride_h = cfg.patch_h;
  patch_.args.stride_w = cfg.patch_w;
  cls_token_ = emb.get("cls_token", {1, 1, H});
  if (extra_tokens == 2) dist_token_ = emb.get("distillation_token", {1, 1, H});
  const int64_t patches = (cfg.image_h / cfg.patch_h) * (cfg.image_w / cfg.patch_w);
  positions_ = emb.get("position_embeddings", {1, patches + extra_tokens, H});
  for (int64_t i = 0; i < cfg.layers; ++i) {
    auto l = w.pp("encoder").pp("layer").pp(i);
    auto att = l.pp("attention");
    Layer L;
    L.query = Linear::load(att.pp("attention").pp("query"), H, H, cfg.qkv_bias);
    L.key = Linear::load(att.pp("attention").pp("key"), H, H, cfg.qkv_bias);
    L.value = Linear::load(att.pp("attention").pp("value"), H, H, cfg.qkv_bias);
    L.attn_out = Linear::load(att.pp("output").pp("dense"), H, H);
    L.intermediate = Linear::load(l.pp("intermediate").pp("dense"), H, cfg.intermediate);
    L.output = Linear::load(l.pp("output").pp("dense"), cfg.intermediate, H);
    L.before = LayerNorm::load(l.pp("layernorm_before"), H, cfg.eps);
    L.after = LayerNorm::load(l.pp("layernorm_after"), H, cfg.eps);
    layers_.push_back(std::move(L));
  }
  norm_ = LayerNorm::load(w.pp("layernorm"), H, cfg.eps);
  if (with_pooler) pooler_ = Linear::load(w.pp("pooler").pp("dense"), H, cfg.pooler_size);
}

Tensor interpolate_positions(const Tensor& positions, int64_t extra_tokens, int64_t grid_h, int64_t grid_w) {
  const int64_t D = positions.dim(2), n = positions.dim(1) - extra_tokens;
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  IA_CHECK(side * side == n, ErrorKind::Unsupported,
           "interpolate_pos_encoding: {} position embeddings do not form a square grid", n);
  Tensor grid = positions.slice(1, extra_tokens, extra_tokens + n).reshape({1, side, side, D}).permute({0, 3, 1, 2});
  InterpolateArgs args;
  args.mode = InterpMode::Bicubic;
  Tensor resized = ops::interpolate(grid, grid_h, grid_w, args);  // [1, D, gh, gw]
  Tensor tokens = resized.permute({0, 2, 3, 1}).contiguous().view({1, grid_h * grid_w, D});
  return ops::concat({positions.slice(1, 0, extra_tokens), tokens}, 1);
}

bool interpolate_flag(const TensorMap& inputs) {
  auto it = inputs.find("interpolate_pos_encoding");
  return it != inputs.end() && it->second.defined() && it->second.item() != 0.0f;
}

Tensor Encoder::embed(const Tensor& pixels, bool interpolate) const {
  const int64_t B = pixels.dim(0), height = pixels.dim(2), width = pixels.dim(3);
  if (!interpolate)
    IA_CHECK(height == cfg_.image_h && width == cfg_.image_w, ErrorKind::InvalidArgument,
             "Input image size ({}*{}) doesn't match model ({}*{})", height, width, cfg_.image_h, cfg_.image_w);
  Tensor x = vision::to_tokens(patch_(pixels));  // [B, N, H]
  std::vector<Tensor> parts{cls_token_.expand({B, 1, cfg_.hidden})};
  if (dist_token_.defined()) parts.push_back(dist_token_.expand({B, 1, cfg_.hidden}));
  parts.push_back(x);
  x = ops::concat(parts, 1);
  const int64_t n = x.dim(1) - extra_tokens_, npos = positions_.dim(1) - extra_tokens_;
  Tensor pos = positions_;
  if (interpolate && !(n == npos && height == width))
    pos = interpolate_positions(positions_, extra_tokens_, height / cfg_.patch_h, width / cfg_.patch_w);
  return ops::add(x, pos);
}

Tensor Encoder::layer(const Layer& L, const Tensor& h) const {
  Tensor x = L.before(h);
  Tensor q = layers::split_heads(L.query(x), cfg_.heads);
  Tensor k = layers::split_heads(L.key(x), cfg_.heads);
  Tensor v = layers::split_heads(L.value(x), cfg_.heads);
  AttentionArgs args;
  args.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.hidden / cfg_.heads));
  Tensor a = ops::add(L.attn_out(layers::merge_heads(ops::attention(q, k, v, args))), h);
  Tensor inter = ops::activation(L.intermediate(L.after(a)), cfg_.act);
  return ops::add(L.output(inter), a);
}

Tensor Encoder::forward(const Tensor& pixels, bool interpolate, std::vector<Tensor>* hs) const {
  Tensor h = embed(pixels, interpolate);
  if (hs) hs->push_back(h);
  for (const auto& L : layers_) {
    h = layer(L, h);
    if (hs) hs->push_back(h);
  }
  return norm_(h);
}

Tensor Encoder::pool(const Tensor& h) const { return ops::activation(pooler_(h.select(1, 0)), cfg_.pooler_act); }

namespace {

class ViTModel : public Model {
 public:
  ViTModel(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
    cfg_ = Config::from(c);
    classify_ = cls == "ViTForImageClassification";
    if (!classify_) IA_CHECK(cls == "ViTModel", ErrorKind::Unsupported, "unsupported: vit/{}", cls);
    // HF builds ViTModel(add_pooling_layer=False) under the classification head.
    encoder_ = std::make_unique<Encoder>(cfg_, w.base("vit"), 1, !classify_);
    if (classify_) {
      labels_ = vision::num_labels(c);
      if (labels_ > 0) classifier_ = Linear::load(w.pp("classifier"), cfg_.hidden, labels_);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, cfg_.channels, device());
    std::vector<Tensor> hs;
    Tensor h = encoder_->forward(pixels, interpolate_flag(inputs), opts.output_hidden_states ? &hs : nullptr);
    NamedTensors out;
    if (classify_) {
      Tensor cls = h.select(1, 0);
      out.emplace_back("logits", classifier_.defined() ? classifier_(cls) : cls.contiguous());
      out.emplace_back("base.last_hidden_state", h);
    } else {
      out.emplace_back("last_hidden_state", h);
      out.emplace_back("pooler_output", encoder_->pool(h));
    }
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  Config cfg_;
  bool classify_ = false;
  int64_t labels_ = 0;
  std::unique_ptr<Encoder> encoder_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<ViTModel>(c, w, cls);
}

}  // namespace
}  // namespace ia::vit

IA_REGISTER_MODEL(vit, {"vit", "vision", {"ViTModel", "ViTForImageClassification"}, ia::vit::make})
