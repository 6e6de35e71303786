// CLIP (HF modeling_clip.py): a causal text transformer pooled at the first EOS token and a ViT vision
// transformer with class token and pre/post layer norms, projected into a shared space; logits are scaled
// cosine similarities.
#include <cmath>

#include "models/multimodal/clip_encoder.h"

namespace ia::clip {
namespace {

using layers::Embedding;
using layers::LayerNorm;
using layers::Linear;

class TextTower {
 public:
  TextTower(const ModelConfig& c, const WeightLoader& w) {
    cfg_ = TowerConfig::from(c, {512, 2048, 8, 12, "quick_gelu", 1e-5});
    vocab_ = c.dim_or("vocab_size", 49408, 1);
    max_pos_ = c.dim_or("max_position_embeddings", 77, 1);
    eos_ = c.dim_or("eos_token_id", 49407, 0, int64_t(1) << 40);
    token_ = Embedding::load(w.pp("embeddings").pp("token_embedding"), vocab_, cfg_.hidden);
    pos_ = Embedding::load(w.pp("embeddings").pp("position_embedding"), max_pos_, cfg_.hidden);
    encoder_ = PreLnEncoder(cfg_, w.pp("encoder"));
    final_ln_ = LayerNorm::load(w.pp("final_layer_norm"), cfg_.hidden, cfg_.eps);
  }
  int64_t hidden() const { return cfg_.hidden; }

  // Returns (last_hidden_state, pooler_output); fills hidden states when asked.
  std::pair<Tensor, Tensor> forward(const TensorMap& in, std::vector<Tensor>* hs) const {
    const Tensor ids = in.at("input_ids").to(DType::I64).contiguous();
    const int64_t B = ids.dim(0), S = ids.dim(1);
    IA_CHECK(S <= max_pos_, ErrorKind::InvalidArgument, "text length {} exceeds max_position_embeddings {}", S, max_pos_);
    const Device dev = token_.weight.device();
    Tensor x = ops::add(token_(ids.to(dev)), pos_(layers::arange(S).view({1, S}).to(dev)));
    AttentionArgs args;
    args.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.hidden / cfg_.heads));
    args.causal = true;
    if (in.count("attention_mask")) args.key_mask = in.at("attention_mask");
    Tensor h = final_ln_(encoder_.forward(x, args, hs));
    // Pool at the first EOS token (legacy configs with eos_token_id == 2 use the largest id, as HF does).
    std::vector<int64_t> rows(B);
    const int64_t* ip = ids.data<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      int64_t best = 0;
      for (int64_t s = 0; s < S; ++s) {
        if (eos_ == 2 ? ip[b * S + s] > ip[b * S + best] : ip[b * S + s] == eos_) {
          best = s;
          if (eos_ != 2) break;
        }
      }
      rows[b] = b * S + best;
    }
    Tensor pooled = ops::index_select(h.reshape({B * S, cfg_.hidden}), Tensor::from_vector(rows, {B}).to(dev));
    return {h, pooled};
  }

 private:
  TowerConfig cfg_;
  int64_t vocab_ = 0, max_pos_ = 0, eos_ = 0;
  Embedding token_, pos_;
  PreLnEncoder encoder_;
  LayerNorm final_ln_;
};

void add_tower_outputs(NamedTensors& out, const std::string& prefix, const std::pair<Tensor, Tensor>& r,
                       const std::vector<Tensor>& hs, bool with_hidden) {
  out.emplace_back(prefix + "last_hidden_state", r.first);
  out.emplace_back(prefix + "pooler_output", r.second);
  if (with_hidden)
    for (size_t i = 0; i < hs.size(); ++i) out.emplace_back(prefix + "hidden_states." + std::to_string(i), hs[i]);
}

class Clip : public Model {
 public:
  Clip(const ModelConfig& c, const WeightLoader& w, const std::string& cls) : cls_(cls) {
    const bool top = cls == "CLIPModel";
    if (top || cls == "CLIPTextModel" || cls == "CLIPTextModelWithProjection") {
      ModelConfig tc = c.has("text_config") ? c.sub("text_config") : c;
      text_ = std::make_unique<TextTower>(tc, w.pp("text_model"));
    }
    if (top || cls == "CLIPVisionModel" || cls == "CLIPVisionModelWithProjection") {
      ModelConfig vc = c.has("vision_config") ? c.sub("vision_config") : c;
      vision_ = std::make_unique<VisionTower>(vc, w.pp("vision_model"));
    }
    const int64_t proj = c.dim_or("projection_dim", 512, 1);
    if (top || cls == "CLIPTextModelWithProjection")
      text_proj_ = w.pp("text_projection").get("weight", {proj, text_->hidden()});
    if (top || cls == "CLIPVisionModelWithProjection")
      vision_proj_ = w.pp("visual_projection").get("weight", {proj, vision_->hidden()});
    if (top) logit_scale_ = w.get("logit_scale", {});
  }

  NamedTensors forward(const TensorMap& in, const ForwardOptions& opts) override {
    NamedTensors out;
    const bool hs_on = opts.output_hidden_states;
    std::vector<Tensor> ths, vhs;
    std::pair<Tensor, Tensor> t, v;
    if (text_) t = text_->forward(in, hs_on ? &ths : nullptr);
    if (vision_) v = vision_->forward(in, hs_on ? &vhs : nullptr);
    if (cls_ == "CLIPModel") {
      Tensor te = l2_normalize(ops::linear(t.second, text_proj_));
      Tensor ie = l2_normalize(ops::linear(v.second, vision_proj_));
      const float scale = std::exp(logit_scale_.item());
      Tensor lpt = ops::matmul(te, ie, false, true, scale);
      out.emplace_back("logits_per_image", lpt.transpose(0, 1).contiguous());
      out.emplace_back("logits_per_text", lpt);
      out.emplace_back("text_embeds", te);
      out.emplace_back("image_embeds", ie);
      add_tower_outputs(out, "text_model_output.", t, ths, hs_on);
      add_tower_outputs(out, "vision_model_output.", v, vhs, hs_on);
    } else if (text_) {
      if (text_proj_.defined()) out.emplace_back("text_embeds", ops::linear(t.second, text_proj_));
      add_tower_outputs(out, "", t, ths, hs_on);
    } else {
      if (vision_proj_.defined()) out.emplace_back("image_embeds", ops::linear(v.second, vision_proj_));
      add_tower_outputs(out, "", v, vhs, hs_on);
    }
    return out;
  }

 private:
  std::string cls_;
  std::unique_ptr<TextTower> text_;
  std::unique_ptr<VisionTower> vision_;
  Tensor text_proj_, vision_proj_, logit_scale_;
};

}  // namespace
}  // namespace ia::clip

IA_REGISTER_MODEL(clip, {"clip", "multimodal",
                         {"CLIPModel", "CLIPTextModel", "CLIPVisionModel", "CLIPTextModelWithProjection",
                          "CLIPVisionModelWithProjection"},
                         [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                           return std::unique_ptr<ia::Model>(new ia::clip::Clip(c, w, cls));
                         }})

// Stand-alone text encoders (Stable Diffusion's text_encoder/config.json) carry model_type clip_text_model.
IA_REGISTER_MODEL(clip_text_model, {"clip_text_model", "multimodal", {"CLIPTextModel", "CLIPTextModelWithProjection"},
                                    [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                                      return std::unique_ptr<ia::Model>(new ia::clip::Clip(c, w, cls));
                                    }})
