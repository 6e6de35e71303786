// transformers' LlavaProcessor (processing_llava.py): the CLIP image processor plus the prompt expansion that
// turns every image token of the prompt into as many image tokens as the vision tower yields features.
#pragma once
#include <string>

#include "io/config.h"

namespace ia::vision {

struct LlavaPromptExpander {
  std::string image_token = "<image>";
  int64_t patch_size = 0;
  std::string vision_feature_select_strategy = "default";
  int64_t num_additional_image_tokens = 1;  // the class token

  // processor_config.json of `model_dir` (image_token, patch_size, vision_feature_select_strategy,
  // num_additional_image_tokens); settings it lacks come from the model config (vision_config.patch_size,
  // vision_feature_select_strategy), as a processor saved alongside the model would hold them.
  static LlavaPromptExpander from_dir(const std::string& model_dir, const ModelConfig& model_config);
  // (height // patch) * (width // patch) + num_additional_image_tokens, minus the class token under "default".
  int64_t num_image_tokens(int64_t height, int64_t width) const;
  // Every occurrence of image_token replaced by num_image_tokens(height, width) copies.
  std::string expand(const std::string& prompt, int64_t height, int64_t width) const;
};

}  // namespace ia::vision
