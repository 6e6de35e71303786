// The pre-LN transformer encoder shared by CLIP and SigLIP towers (HF CLIPEncoderLayer / SiglipEncoderLayer:
// layer_norm1 -> self_attn(q/k/v/out_proj) -> residual -> layer_norm2 -> mlp(fc1, act, fc2) -> residual),
// the stride=kernel patch embedding both vision towers use, and CLIP's vision tower (also LLaVA's).
#pragma once
#include <string>
#include <vector>

#include "models/layers.h"
#include "models/model.h"

namespace ia::clip {

struct TowerConfig {
  int64_t hidden = 0, intermediate = 0, heads = 0, layers = 0;
  std::string act;
  double eps = 1e-5;
  // Fields absent from a nested config take HF's defaults (save_pretrained only writes non-defaults).
  static TowerConfig from(const ModelConfig& c, const TowerConfig& defaults);
};

class PreLnEncoder {
 public:
  PreLnEncoder() = default;
  // w -> "...encoder". fused_qkv: BLIP's self_attn.qkv [3 * D, D] ([q | k | v]) and self_attn.projection.
  PreLnEncoder(const TowerConfig& cfg, const WeightLoader& w, bool fused_qkv = false);
  // Runs every layer; appends the input and each layer output to `hidden_states` when non-null.
  Tensor forward(Tensor x, const AttentionArgs& args, std::vector<Tensor>* hidden_states) const;

 private:
  struct Layer {
    layers::LayerNorm ln1, ln2;
    layers::Linear q, k, v, qkv, o, fc1, fc2;
  };
  TowerConfig cfg_;
  std::vector<Layer> layers_;
};

// Conv2d with kernel == stride == patch (no padding) as a matmul over unfolded patches:
// pixels [B, C, H, W] -> [B, (H/p)*(W/p), D]. weight [D, C, p, p], bias optional.
Tensor patch_embed(const Tensor& pixels, const Tensor& weight, const Tensor& bias, int64_t patch);

// CLIP's vision transformer (HF CLIPVisionTransformer): class token + patch embedding + positions, pre_layrnorm,
// the pre-LN encoder, post_layernorm on the class token.
class VisionTower {
 public:
  VisionTower(const ModelConfig& c, const WeightLoader& w);  // w -> "...vision_model"
  int64_t hidden() const { return cfg_.hidden; }
  // (last_hidden_state, pooler_output) for inputs["pixel_values"]; hidden_states gets HF's tuple
  // (pre_layrnorm output, then each layer) when non-null.
  std::pair<Tensor, Tensor> forward(const TensorMap& in, std::vector<Tensor>* hidden_states) const;

 private:
  TowerConfig cfg_;
  int64_t image_ = 0, patch_ = 0, channels_ = 3;
  Tensor class_, patch_w_;
  layers::Embedding pos_;
  layers::LayerNorm pre_ln_, post_ln_;
  PreLnEncoder encoder_;
};

// Rows of x [B, D] scaled to unit L2 norm.
Tensor l2_normalize(const Tensor& x);

}  // namespace ia::clip
