// diffusers AutoencoderKL (the Stable Diffusion VAE): Encoder -> quant_conv -> diagonal Gaussian over latents
// (mean / logvar, mode or a seeded sample), and post_quant_conv -> Decoder back to pixels; scaling_factor and
// shift_factor map between VAE latents and the UNet's latent space.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/diffusion/torch_randn.h"
#include "models/diffusion/unet_2d_blocks.h"
#include "models/model.h"

namespace ia::diffusion {

class AutoencoderKL : public Model {
 public:
  AutoencoderKL(const ModelConfig& c, const WeightLoader& w);
  // inputs: sample [B, in_channels, H, W] and/or latents [B, latent_channels, h, w]. Outputs latent_mean,
  // latent_logvar (clamped to [-30, 20] as DiagonalGaussianDistribution does), sample = decode(mode(encode(sample))),
  // decoded = decode(latents).
  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override;

  struct Posterior {
    Tensor mean, logvar;
    Tensor mode() const { return mean; }
    // mean + exp(0.5 * logvar) * randn(mean.shape, generator), as diffusers' DiagonalGaussianDistribution.sample.
    Tensor sample(TorchGenerator& gen) const;
  };
  Posterior encode(const Tensor& x) const;
  Tensor decode(const Tensor& z) const;

  int64_t latent_channels() const { return latent_channels_; }
  double scaling_factor() const { return scaling_factor_; }
  double shift_factor() const { return shift_factor_; }
  // 2^(number of down blocks - 1): pixels per latent along each side.
  int64_t scale_factor() const { return int64_t(1) << (num_blocks_ - 1); }

 private:
  struct Coder {
    Conv2d conv_in, conv_out;
    std::vector<DownBlock> down_blocks;
    std::vector<UpBlock> up_blocks;
    std::optional<MidBlock> mid_block;
    GroupNorm conv_norm_out;
  };
  Tensor run_encoder(const Tensor& x) const;
  Tensor run_decoder(const Tensor& z) const;

  int64_t in_channels_ = 3, out_channels_ = 3, latent_channels_ = 4, num_blocks_ = 1;
  double scaling_factor_ = 0.18215, shift_factor_ = 0.0;
  std::string act_;
  Coder encoder_, decoder_;
  std::optional<Conv2d> quant_conv_, post_quant_conv_;
};

}  // namespace ia::diffusion
