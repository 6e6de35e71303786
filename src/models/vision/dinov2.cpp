// DINOv2 (HF modeling_dinov2.py): ViT-style patch embedding with always-on bicubic position interpolation,
// pre-LN layers with LayerScale and an MLP or SwiGLU FFN; Dinov2Model (pooler = [CLS]) and
// Dinov2ForImageClassification (classifier on concat([CLS], mean of patch tokens)).
#include <cmath>

#include "models/vision/vit.h"

namespace ia::dinov2 {
namespace {

using layers::LayerNorm;
using layers::Linear;

struct Config {
  int64_t hidden = 0, layers = 0, heads = 0, mlp_hidden = 0, channels = 3;
  int64_t image_h = 0, image_w = 0, patch_h = 0, patch_w = 0;
  bool qkv_bias = true, swiglu = false;
  std::string act = "gelu";
  double eps = 1e-6;
};

Config parse(const ModelConfig& c) {
  Config k;
  k.hidden = c.dim("hidden_size");
  k.layers = c.dim("num_hidden_layers", 0, 1024);
  k.heads = c.dim("num_attention_heads");
  k.mlp_hidden = static_cast<int64_t>(static_cast<double>(k.hidden) * c.number_or("mlp_ratio", 4.0));
  k.channels = c.dim_or("num_channels", 3, 1);
  std::tie(k.image_h, k.image_w) = vision::hw_pair(c, "image_size");
  std::tie(k.patch_h, k.patch_w) = vision::hw_pair(c, "patch_size");
  k.qkv_bias = c.flag_or("qkv_bias", true);
  k.swiglu = c.flag_or("use_swiglu_ffn", false);
  if (k.swiglu) k.mlp_hidden = (static_cast<int64_t>(static_cast<double>(k.mlp_hidden) * 2 / 3) + 7) / 8 * 8;
  k.act = c.str_or("hidden_act", "gelu");
  ops::activation_op(k.act);
  k.eps = c.number_or("layer_norm_eps", 1e-6);
  IA_CHECK(k.hidden % k.heads == 0, ErrorKind::Format, "{}: hidden_size {} is not a multiple of num_attention_heads {}",
           c.source(), k.hidden, k.heads);
  return k;
}

struct Layer {
  LayerNorm norm1, norm2;
  Linear query, key, value, attn_out, fc1, fc2;  // fc1/fc2: MLP, or SwiGLU weights_in/weights_out
  Tensor scale1, scale2;
};

class Dinov2 : public Model {
 public:
  Dinov2(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    cfg_ = parse(c);
    classify_ = cls == "Dinov2ForImageClassification";
    if (!classify_) IA_CHECK(cls == "Dinov2Model", ErrorKind::Unsupported, "unsupported: dinov2/{}", cls);
    const int64_t H = cfg_.hidden;
    auto w = weights.base("dinov2");
    auto emb = w.pp("embeddings");
    auto proj = emb.pp("patch_embeddings").pp("projection");
    patch_.weight = proj.get("weight", {H, cfg_.channels, cfg_.patch_h, cfg_.patch_w});
    patch_.bias = proj.get("bias", {H});
    patch_.args.stride_h = cfg_.patch_h;
    patch_.args.stride_w = cfg_.patch_w;
    cls_token_ = emb.get("cls_token", {1, 1, H});
    const int64_t patches = (cfg_.image_h / cfg_.patch_h) * (cfg_.image_w / cfg_.patch_w);
    positions_ = emb.get("position_embeddings", {1, patches + 1, H});
    for (int64_t i = 0; i < cfg_.layers; ++i) {
      auto l = w.pp("encoder").pp("layer").pp(i);
      auto att = l.pp("attention");
      Layer L;
      L.norm1 = LayerNorm::load(l.pp("norm1"), H, cfg_.eps);
      L.norm2 = LayerNorm::load(l.pp("norm2"), H, cfg_.eps);
      L.query = Linear::load(att.pp("attention").pp("query"), H, H, cfg_.qkv_bias);
      L.key = Linear::load(att.pp("attention").pp("key"), H, H, cfg_.qkv_bias);
      L.value = Linear::load(att.pp("attention").pp("value"), H, H, cfg_.qkv_bias);
      L.attn_out = Linear::load(att.pp("output").pp("dense"), H, H);
      L.scale1 = l.pp("layer_scale1").get("lambda1", {H});
      L.scale2 = l.pp("layer_scale2").get("lambda1", {H});
      if (cfg_.swiglu) {
        L.fc1 = Linear::load(l.pp("mlp").pp("weights_in"), H, 2 * cfg_.mlp_hidden);
        L.fc2 = Linear::load(l.pp("mlp").pp("weights_out"), cfg_.mlp_hidden, H);
      } else {
        L.fc1 = Linear::load(l.pp("mlp").pp("fc1"), H, cfg_.mlp_hidden);
        L.fc2 = Linear::load(l.pp("mlp").pp("fc2"), cfg_.mlp_hidden, H);
      }
      layers_.push_back(std::move(L));
    }
    norm_ = LayerNorm::load(w.pp("layernorm"), H, cfg_.eps);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), 2 * H, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, cfg_.channels, device());
    std::vector<Tensor> hs;
    Tensor h = embed(pixels);
    if (opts.output_hidden_states) hs.push_back(h);
    for (const auto& L : layers_) {
      h = layer(L, h);
      if (opts.output_hidden_states) hs.push_back(h);
    }
    h = norm_(h);
    Tensor pooled = h.select(1, 0).contiguous();
    NamedTensors out;
    if (classify_) {
      Tensor patch_mean = ops::reduce(ReduceOp::Mean, h.slice(1, 1, h.dim(1)).transpose(1, 2));
      Tensor input = ops::concat({pooled, patch_mean}, 1);
      out.emplace_back("logits", classifier_.defined() ? classifier_(input) : input);
      out.emplace_back("base.last_hidden_state", h);
      out.emplace_back("base.pooler_output", pooled);
    } else {
      out.emplace_back("last_hidden_state", h);
      out.emplace_back("pooler_output", pooled);
    }
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  Tensor embed(const Tensor& pixels) const {
    const int64_t B = pixels.dim(0), height = pixels.dim(2), width = pixels.dim(3);
    Tensor x = vision::to_tokens(patch_(pixels));
    x = ops::concat({cls_token_.expand({B, 1, cfg_.hidden}), x}, 1);
    const int64_t n = x.dim(1) - 1, npos = positions_.dim(1) - 1;
    Tensor pos = positions_;
    if (!(n == npos && height == width))
      pos = vit::interpolate_positions(positions_, 1, height / cfg_.patch_h, width / cfg_.patch_w);
    return ops::add(x, pos);
  }

  Tensor layer(const Layer& L, const Tensor& h) const {
    Tensor x = L.norm1(h);
    Tensor q = layers::split_heads(L.query(x), cfg_.heads);
    Tensor k = layers::split_heads(L.key(x), cfg_.heads);
    Tensor v = layers::split_heads(L.value(x), cfg_.heads);
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.hidden / cfg_.heads));
    Tensor a = L.attn_out(layers::merge_heads(ops::attention(q, k, v, args)));
    Tensor h1 = ops::add(ops::mul(a, L.scale1), h);
    Tensor m = L.fc1(L.norm2(h1));
    if (cfg_.swiglu) {
      const int64_t hid = cfg_.mlp_hidden;
      m = ops::mul(ops::unary(UnaryOp::Silu, m.slice(-1, 0, hid)), m.slice(-1, hid, 2 * hid));
    } else {
      m = ops::activation(m, cfg_.act);
    }
    return ops::add(ops::mul(L.fc2(m), L.scale2), h1);
  }

  Config cfg_;
  bool classify_ = false;
  vision::Conv2d patch_;
  Tensor cls_token_, positions_;
  std::vector<Layer> layers_;
  LayerNorm norm_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<Dinov2>(c, w, cls);
}

}  // namespace
}  // namespace ia::dinov2

IA_REGISTER_MODEL(dinov2, {"dinov2", "vision", {"Dinov2Model", "Dinov2ForImageClassification"}, ia::dinov2::make})
