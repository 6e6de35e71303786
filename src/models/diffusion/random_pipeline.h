// Writes a random-weight diffusers pipeline directory (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
// scheduler/) for a UNet config: the fixture of the text-to-image tests, the suite's DiffusionModelTest and
// benchmarks. Weights follow WeightLoader::synthetic's deterministic init.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace ia::diffusion {

struct RandomPipelineSpec {
  nlohmann::json unet_config;       // a UNet2DConditionModel config.json
  nlohmann::json vae_config;        // null: a 2-block AutoencoderKL with the UNet's latent channels
  nlohmann::json scheduler_config;  // null: Stable Diffusion 1.5's PNDMScheduler settings
  nlohmann::json text_config;       // null: a 2-layer CLIPTextModel with hidden_size = cross_attention_dim
  std::string tokenizer_dir;        // a CLIP tokenizer directory, copied into tokenizer/
  uint64_t seed = 0;
};

// The defaults above, exposed for tests that want to alter one component.
nlohmann::json default_vae_config(const nlohmann::json& unet_config);
nlohmann::json default_scheduler_config();
nlohmann::json default_text_config(const nlohmann::json& unet_config);

void write_random_pipeline(const std::string& dir, const RandomPipelineSpec& spec);

}  // namespace ia::diffusion
