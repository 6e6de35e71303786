// The pre-LN transformer encoder shared by CLIP and SigLIP towers (HF CLIPEncoderLayer / SiglipEncoderLayer:
// layer_norm1 -> self_attn(q/k/v/out_proj) -> residual -> layer_norm2 -> mlp(fc1, act, fc2) -> residual),
// and the stride=kernel patch embedding both vision towers use.
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
  PreLnEncoder(const TowerConfig& cfg, const WeightLoader& w);  // w -> "...encoder"
  // Runs every layer; appends the input and each layer output to `hidden_states` when non-null.
  Tensor forward(Tensor x, const AttentionArgs& args, std::vector<Tensor>* hidden_states) const;

 private:
  struct Layer {
    layers::LayerNorm ln1, ln2;
    layers::Linear q, k, v, o, fc1, fc2;
  };
  TowerConfig cfg_;
  std::vector<Layer> layers_;
};

// Conv2d with kernel == stride == patch (no padding) as a matmul over unfolded patches:
// pixels [B, C, H, W] -> [B, (H/p)*(W/p), D]. weight [D, C, p, p], bias optional.
Tensor patch_embed(const Tensor& pixels, const Tensor& weight, const Tensor& bias, int64_t patch);

// Rows of x [B, D] scaled to unit L2 norm.
Tensor l2_normalize(const Tensor& x);

}  // namespace ia::clip
