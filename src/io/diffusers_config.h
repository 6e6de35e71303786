// diffusers configs (config.json with _class_name, no model_type): how their class names map to model_type ids.
#pragma once
#include <string>

namespace ia {

// A diffusers class name as a model_type: "Model" suffix dropped, CamelCase split into snake case
// (UNet2DConditionModel -> unet_2d_condition, AutoencoderKL -> autoencoder_kl). ModelConfig::model_type() and
// architectures() fall back to the _class_name this way when a config has no model_type / architectures.
std::string diffusers_model_type(const std::string& class_name);

}  // namespace ia
