// The ViT encoder (HF modeling_vit.py), shared by ViT and DeiT: conv patch embedding + [CLS] (+ DeiT's
// distillation token) + learned positions (bicubic-interpolated on request), pre-LN layers, final LayerNorm,
// optional dense+tanh pooler.
#pragma once
#include "models/vision/common.h"

namespace ia::vit {

struct Config {
  int64_t hidden = 0, layers = 0, heads = 0, intermediate = 0, channels = 3;
  int64_t image_h = 0, image_w = 0, patch_h = 0, patch_w = 0;
  int64_t pooler_size = 0;
  bool qkv_bias = true;
  std::string act = "gelu", pooler_act = "tanh";
  double eps = 1e-12;
  static Config from(const ModelConfig& c);
};

struct Layer {
  layers::Linear query, key, value, attn_out, intermediate, output;
  layers::LayerNorm before, after;
};

class Encoder {
 public:
  // `w` points at the ViTModel/DeiTModel. extra_tokens: 1 ([CLS]) or 2 ([CLS] + distillation).
  Encoder(const Config& cfg, const WeightLoader& w, int64_t extra_tokens, bool with_pooler);
  // Returns the final-LayerNorm output; hidden_states gets embeddings + one entry per layer when given.
  Tensor forward(const Tensor& pixel_values, bool interpolate_pos_encoding, std::vector<Tensor>* hidden_states) const;
  Tensor pool(const Tensor& h) const;
  bool has_pooler() const { return pooler_.defined(); }
  const Config& config() const { return cfg_; }

 private:
  Tensor embed(const Tensor& pixel_values, bool interpolate_pos_encoding) const;
  Tensor layer(const Layer& L, const Tensor& h) const;
  Config cfg_;
  int64_t extra_tokens_;
  vision::Conv2d patch_;
  Tensor cls_token_, dist_token_, positions_;
  std::vector<Layer> layers_;
  layers::LayerNorm norm_;
  layers::Linear pooler_;
};

// HF interpolate_pos_encoding: `positions` [1, extra + n*n, D] -> [1, extra + gh*gw, D], bicubic, size-based.
Tensor interpolate_positions(const Tensor& positions, int64_t extra_tokens, int64_t grid_h, int64_t grid_w);

// The optional `interpolate_pos_encoding` input (a bool/int scalar tensor), default false.
bool interpolate_flag(const TensorMap& inputs);

}  // namespace ia::vit
