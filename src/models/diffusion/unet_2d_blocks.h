// diffusers unet_2d_blocks.py: the down / mid / up blocks of UNet2DConditionModel (DownBlock2D,
// CrossAttnDownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D, CrossAttnUpBlock2D) and of AutoencoderKL's encoder and
// decoder (DownEncoderBlock2D, UNetMidBlock2D, UpDecoderBlock2D). One struct per family of blocks; the block type
// decides whether attentions are present.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/diffusion/diffusion_layers.h"

namespace ia::diffusion {

// Settings one block takes from the model config (get_down_block / get_up_block arguments).
struct BlockOptions {
  int64_t num_layers = 1, transformer_layers = 1;
  int64_t in = 0, out = 0, prev_out = 0, temb_channels = 0;
  double eps = 1e-5;
  std::string act = "silu";
  int64_t groups = 32;
  int64_t cross_attention_dim = 0, heads = 1;
  int64_t downsample_padding = 1;
  bool use_linear_projection = false, only_cross_attention = false;
  std::string time_scale_shift = "default";
  bool skip_time_act = false;
  double output_scale_factor = 1.0;
  bool add_sample = false;  // add_downsample / add_upsample
};

// DownBlock2D / CrossAttnDownBlock2D / DownEncoderBlock2D.
struct DownBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;  // empty: no cross-attention
  std::optional<Downsample2D> downsampler;
  static DownBlock load(const WeightLoader& w, const std::string& type, const BlockOptions& o);
  // Appends every output state (after each resnet/attention pair and after the downsampler) to `states`.
  Tensor operator()(Tensor x, const Tensor& temb, const Tensor& context, std::vector<Tensor>* states) const;
};

// UNetMidBlock2DCrossAttn / UNetMidBlock2D (the latter with the VAE's spatial self-attention).
struct MidBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> cross_attentions;
  std::vector<Attention> spatial_attentions;
  static MidBlock load(const WeightLoader& w, const std::string& type, const BlockOptions& o, bool add_attention = true,
                       int64_t attention_head_dim = 0);
  Tensor operator()(Tensor x, const Tensor& temb, const Tensor& context) const;
};

// UpBlock2D / CrossAttnUpBlock2D (consume skip states) / UpDecoderBlock2D (no skips).
struct UpBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;
  std::optional<Upsample2D> upsampler;
  bool uses_skips = true;
  static UpBlock load(const WeightLoader& w, const std::string& type, const BlockOptions& o);
  // Pops one skip state per resnet from the back of `skips` (UNet blocks).
  Tensor operator()(Tensor x, const Tensor& temb, const Tensor& context, std::vector<Tensor>* skips,
                    std::optional<std::pair<int64_t, int64_t>> upsample_size) const;
};

}  // namespace ia::diffusion
