// diffusers' StableDiffusionPipeline over a diffusers-layout directory (model_index.json with unet/, vae/,
// text_encoder/, tokenizer/, scheduler/): CLIP prompt encoding, classifier-free guidance, the scheduler loop and
// VAE decoding to 8-bit RGB. Initial latents come from a reproduction of torch's CPU generator, so a seed gives
// the latents diffusers draws with torch.Generator("cpu").manual_seed(seed).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "models/diffusion/autoencoder_kl.h"
#include "models/diffusion/schedulers/scheduler.h"
#include "models/diffusion/unet_2d_condition.h"
#include "text/tokenizer.h"
#include "vision/image_processor.h"

namespace ia::diffusion {

struct TextToImageRequest {
  std::string prompt, negative_prompt;
  int64_t num_inference_steps = 50;
  double guidance_scale = 7.5;
  uint64_t seed = 0;
  int64_t height = 0, width = 0;  // 0: unet sample_size * vae scale factor
};

struct TextToImageResult {
  vision::ImageU8 image;
  Tensor latents;  // the final latents [1, C, h, w] (before VAE scaling)
  int64_t height = 0, width = 0;
};

class StableDiffusionPipeline {
 public:
  // Loads every component; errors name the missing subfolder or the mismatched config field.
  static std::unique_ptr<StableDiffusionPipeline> load(const std::string& dir, Device device = Device::cpu());
  // `progress(step, total)` is called after each denoising step (may be empty).
  TextToImageResult generate(const TextToImageRequest& req,
                             const std::function<void(int64_t, int64_t)>& progress = {}) const;

  const UNet2DConditionModel& unet() const { return *unet_; }
  const AutoencoderKL& vae() const { return *vae_; }
  Scheduler& scheduler() const { return *scheduler_; }
  int64_t default_height() const { return sample_size_ * vae_->scale_factor(); }
  // The text encoder's last_hidden_state for one prompt, padded/truncated to the tokenizer's model_max_length.
  Tensor encode_prompt(const std::string& prompt) const;

 private:
  std::string dir_;
  std::unique_ptr<Model> text_encoder_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::unique_ptr<UNet2DConditionModel> unet_;
  std::unique_ptr<AutoencoderKL> vae_;
  std::unique_ptr<Scheduler> scheduler_;
  int64_t max_length_ = 77, sample_size_ = 64;
  uint32_t pad_id_ = 0;
};

}  // namespace ia::diffusion
