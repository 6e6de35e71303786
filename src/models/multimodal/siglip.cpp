// SigLIP (HF modeling_siglip.py): a bidirectional text transformer pooled at the last token through a
// linear head, and a ViT without class token pooled by multi-head attention over a learned probe (MAP head);
// logits are scaled cosine similarities plus a learned bias.
#include <cmath>

#include "models/multimodal/clip_encoder.h"

namespace ia::siglip {
namespace {

using clip::PreLnEncoder;
using clip::TowerConfig;
using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

class TextTower {
 public:
  TextTower(const ModelConfig& c, const WeightLoader& w) {
    cfg_ = TowerConfig::from(c, {768, 3072, 12, 12, "gelu_pytorch_tanh", 1e-6});
    vocab_ = c.dim_or("vocab_size", 32000, 1);
    max_pos_ = c.dim_or("max_position_embeddings", 64, 1);
    const int64_t proj = c.dim_or("projection_size", cfg_.hidden, 1);
    token_ = Embedding::load(w.pp("embeddings").pp("token_embedding"), vocab_, cfg_.hidden);
    pos_ = Embedding::load(w.pp("embeddings").pp("position_embedding"), max_pos_, cfg_.hidden);
    encoder_ = PreLnEncoder(cfg_, w.pp("encoder"));
    final_ln_ = LayerNorm::load(w.pp("final_layer_norm"), cfg_.hidden, cfg_.eps);
    head_ = Linear::load(w.pp("head"), cfg_.hidden, proj);
  }

  std::pair<Tensor, Tensor> forward(const TensorMap& in, std::vector<Tensor>* hs) const {
    const Tensor ids = in.at("input_ids").to(DType::I64).contiguous();
    const int64_t S = ids.dim(1);
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "text length {} exceeds max_position_embeddings {}", S, max_pos_);
    const Device dev = token_.weight.device();
    Tensor x = ops::add(token_(ids.to(dev)), pos_(layers::arange(S).view({1, S}).to(dev)));
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.hidden / cfg_.heads));
    if (in.count("attention_mask")) args.key_mask = in.at("attention_mask");
    Tensor h = final_ln_(encoder_.forward(x, args, hs));
    return {h, head_(h.select(1, S - 1))};
  }

 private:
  TowerConfig cfg_;
  int64_t vocab_ = 0, max_pos_ = 0;
  Embedding token_, pos_;
  PreLnEncoder encoder_;
  LayerNorm final_ln_;
  Linear head_;
};

class VisionTower {
 public:
  VisionTower(const ModelConfig& c, const WeightLoader& w) {
    cfg_ = TowerConfig::from(c, {768, 3072, 12, 12, "gelu_pytorch_tanh", 1e-6});
    image_ = c.dim_or("image_size", 224, 1);
    patch_ = c.dim_or("patch_size", 16, 1);
    channels_ = c.dim_or("num_channels", 3, 1);
    use_head_ = c.flag_or("vision_use_head", true);
    const int64_t D = cfg_.hidden, n = (image_ / patch_) * (image_ / patch_);
    auto e = w.pp("embeddings");
    patch_w_ = e.pp("patch_embedding").get("weight", {D, channels_, patch_, patch_});
    patch_b_ = e.pp("patch_embedding").get("bias", {D});
    pos_ = Embedding::load(e.pp("position_embedding"), n, D);
    encoder_ = PreLnEncoder(cfg_, w.pp("encoder"));
    post_ln_ = LayerNorm::load(w.pp("post_layernorm"), D, cfg_.eps);
    if (use_head_) {
      auto h = w.pp("head");
      probe_ = h.get("probe", {1, 1, D});
      in_proj_w_ = h.pp("attention").get("in_proj_weight", {3 * D, D});
      in_proj_b_ = h.pp("attention").get("in_proj_bias", {3 * D});
      out_proj_ = Linear::load(h.pp("attention").pp("out_proj"), D, D);
      head_ln_ = LayerNorm::load(h.pp("layernorm"), D, cfg_.eps);
      fc1_ = Linear::load(h.pp("mlp").pp("fc1"), D, cfg_.intermediate);
      fc2_ = Linear::load(h.pp("mlp").pp("fc2"), cfg_.intermediate, D);
    }
  }

  std::pair<Tensor, Tensor> forward(const TensorMap& in, std::vector<Tensor>* hs) const {
    const Tensor px = in.at("pixel_values").to(patch_w_.device());
    IA_CHECK(px.ndim() == 4 && px.dim(1) == channels_ && px.dim(2) == image_ && px.dim(3) == image_,
             ErrorKind::InvalidArgument, "pixel_values {} does not match image_size {} with {} channels",
             px.describe(), image_, channels_);
    const int64_t B = px.dim(0), D = cfg_.hidden;
    Tensor x = clip::patch_embed(px, patch_w_, patch_b_, patch_);
    x = ops::add(x, pos_(layers::arange(x.dim(1)).view({1, -1}).to(px.device())));
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(D / cfg_.heads));
    Tensor h = post_ln_(encoder_.forward(x, args, hs));
    if (!use_head_) return {h, Tensor()};
    // Multi-head attention pooling: the probe attends over all patches (torch nn.MultiheadAttention).
    Tensor wq = in_proj_w_.slice(0, 0, D), wk = in_proj_w_.slice(0, D, 2 * D), wv = in_proj_w_.slice(0, 2 * D, 3 * D);
    Tensor bq = in_proj_b_.slice(0, 0, D), bk = in_proj_b_.slice(0, D, 2 * D), bv = in_proj_b_.slice(0, 2 * D, 3 * D);
    Tensor probe = probe_.expand({B, 1, D}).contiguous();
    Tensor q = layers::split_heads(ops::linear(probe, wq, bq), cfg_.heads);
    Tensor k = layers::split_heads(ops::linear(h, wk, bk), cfg_.heads);
    Tensor v = layers::split_heads(ops::linear(h, wv, bv), cfg_.heads);
    Tensor pooled = out_proj_(layers::merge_heads(ops::attention(q, k, v, args)));
    pooled = ops::add(pooled, fc2_(ops::activation(fc1_(head_ln_(pooled)), cfg_.act)));
    return {h, pooled.select(1, 0).contiguous()};
  }

 private:
  TowerConfig cfg_;
  int64_t image_ = 0, patch_ = 0, channels_ = 3;
  bool use_head_ = true;
  Tensor patch_w_, patch_b_, probe_, in_proj_w_, in_proj_b_;
  Embedding pos_;
  PreLnEncoder encoder_;
  LayerNorm post_ln_, head_ln_;
  Linear out_proj_, fc1_, fc2_;
};

void add_tower_outputs(NamedTensors& out, const std::string& prefix, const std::pair<Tensor, Tensor>& r,
                       const std::vector<Tensor>& hs, bool with_hidden) {
  out.emplace_back(prefix + "last_hidden_state", r.first);
  if (r.second.defined()) out.emplace_back(prefix + "pooler_output", r.second);
  if (with_hidden)
    for (size_t i = 0; i < hs.size(); ++i) out.emplace_back(prefix + "hidden_states." + std::to_string(i), hs[i]);
}

class Siglip : public Model {
 public:
  Siglip(const ModelConfig& c, const WeightLoader& w, const std::string& cls) : cls_(cls) {
    const bool top = cls == "SiglipModel";
    if (top || cls == "SiglipTextModel")
      text_ = std::make_unique<TextTower>(c.has("text_config") ? c.sub("text_config") : c, w.pp("text_model"));
    if (top || cls == "SiglipVisionModel")
      vision_ = std::make_unique<VisionTower>(c.has("vision_config") ? c.sub("vision_config") : c, w.pp("vision_model"));
    if (top) {
      logit_scale_ = w.get("logit_scale", {1});
      logit_bias_ = w.get("logit_bias", {1});
    }
  }

  NamedTensors forward(const TensorMap& in, const ForwardOptions& opts) override {
    NamedTensors out;
    const bool hs_on = opts.output_hidden_states;
    std::vector<Tensor> ths, vhs;
    std::pair<Tensor, Tensor> t, v;
    if (text_) t = text_->forward(in, hs_on ? &ths : nullptr);
    if (vision_) v = vision_->forward(in, hs_on ? &vhs : nullptr);
    if (cls_ == "SiglipModel") {
      Tensor te = clip::l2_normalize(t.second), ie = clip::l2_normalize(v.second);
      Tensor lpt = ops::scale(ops::matmul(te, ie, false, true), std::exp(logit_scale_.item()), logit_bias_.item());
      out.emplace_back("logits_per_image", lpt.transpose(0, 1).contiguous());
      out.emplace_back("logits_per_text", lpt);
      out.emplace_back("text_embeds", te);
      out.emplace_back("image_embeds", ie);
      add_tower_outputs(out, "text_model_output.", t, ths, hs_on);
      add_tower_outputs(out, "vision_model_output.", v, vhs, hs_on);
    } else {
      add_tower_outputs(out, "", text_ ? t : v, text_ ? ths : vhs, hs_on);
    }
    return out;
  }

 private:
  std::string cls_;
  std::unique_ptr<TextTower> text_;
  std::unique_ptr<VisionTower> vision_;
  Tensor logit_scale_, logit_bias_;
};

}  // namespace
}  // namespace ia::siglip

IA_REGISTER_MODEL(siglip, {"siglip", "multimodal", {"SiglipModel", "SiglipTextModel", "SiglipVisionModel"},
                           [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                             return std::unique_ptr<ia::Model>(new ia::siglip::Siglip(c, w, cls));
                           }})
