// diffusers UNet2DConditionModel (config.json + diffusion_pytorch_model.safetensors): the text-conditioned
// denoiser of Stable Diffusion 1.x/2.x and SDXL (addition_embed_type "text_time"), in diffusers 0.32 semantics.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/diffusion/unet_2d_blocks.h"
#include "models/model.h"

namespace ia::diffusion {

class UNet2DConditionModel : public Model {
 public:
  UNet2DConditionModel(const ModelConfig& c, const WeightLoader& w);
  // HF names: sample [B, C, H, W], timestep (scalar or [B]), encoder_hidden_states [B, S, cross_attention_dim];
  // SDXL also text_embeds [B, D] and time_ids [B, 6]. Returns {"sample"}.
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;
  Tensor denoise(const Tensor& sample, const Tensor& timestep, const Tensor& encoder_hidden_states,
                 const Tensor& text_embeds = Tensor(), const Tensor& time_ids = Tensor()) const;

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t cross_attention_dim() const { return cross_attention_dim_; }
  const std::string& addition_embed_type() const { return addition_embed_type_; }

 private:
  struct TimestepEmbedding {
    layers::Linear linear_1, linear_2;
    std::string act, post_act;
    Tensor operator()(const Tensor& x) const;
  };
  static TimestepEmbedding load_timestep_embedding(const WeightLoader& w, int64_t in, int64_t dim,
                                                   const std::string& act, const std::string& post_act);

  int64_t in_channels_ = 4, out_channels_ = 4, cross_attention_dim_ = 0, time_proj_dim_ = 0;
  int64_t addition_time_embed_dim_ = 0;
  bool flip_sin_to_cos_ = true, center_input_sample_ = false;
  double freq_shift_ = 0.0;
  std::string addition_embed_type_, time_embed_act_, act_;
  Conv2d conv_in_, conv_out_;
  TimestepEmbedding time_embedding_, add_embedding_;
  std::vector<DownBlock> down_blocks_;
  std::optional<MidBlock> mid_block_;
  std::vector<UpBlock> up_blocks_;
  std::optional<GroupNorm> conv_norm_out_;
  int64_t num_upsamplers_ = 0;
};

}  // namespace ia::diffusion
