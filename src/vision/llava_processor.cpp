#include "vision/llava_processor.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace ia::vision {

LlavaPromptExpander LlavaPromptExpander::from_dir(const std::string& model_dir, const ModelConfig& c) {
  LlavaPromptExpander p;
  if (c.has("vision_config") && c.json()["vision_config"].is_object())
    p.patch_size = c.sub("vision_config").dim_or("patch_size", 14, 1);
  p.vision_feature_select_strategy = c.str_or("vision_feature_select_strategy", p.vision_feature_select_strategy);
  const auto path = std::filesystem::path(model_dir) / "processor_config.json";
  std::ifstream in(path);
  if (in.good()) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    IA_CHECK(j.is_object(), ErrorKind::Format, "{}: not a JSON object", path.string());
    if (j.contains("image_token") && j["image_token"].is_string()) p.image_token = j["image_token"];
    if (j.contains("patch_size") && j["patch_size"].is_number_integer()) p.patch_size = j["patch_size"];
    if (j.contains("vision_feature_select_strategy") && j["vision_feature_select_strategy"].is_string())
      p.vision_feature_select_strategy = j["vision_feature_select_strategy"];
    if (j.contains("num_additional_image_tokens") && j["num_additional_image_tokens"].is_number_integer())
      p.num_additional_image_tokens = j["num_additional_image_tokens"];
  }
  IA_CHECK(p.patch_size > 0, ErrorKind::Format, "{}: no patch_size for the LLaVA prompt expansion", model_dir);
  return p;
}

int64_t LlavaPromptExpander::num_image_tokens(int64_t height, int64_t width) const {
  int64_t n = (height / patch_size) * (width / patch_size) + num_additional_image_tokens;
  if (vision_feature_select_strategy == "default") n -= 1;
  return n;
}

std::string LlavaPromptExpander::expand(const std::string& prompt, int64_t height, int64_t width) const {
  IA_CHECK(!image_token.empty(), ErrorKind::Format, "LLaVA processor: empty image_token");
  std::string repeated;
  for (int64_t i = 0, n = num_image_tokens(height, width); i < n; ++i) repeated += image_token;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = prompt.find(image_token, pos)) != std::string::npos; pos = hit + image_token.size())
    out += prompt.substr(pos, hit - pos) + repeated;
  return out + prompt.substr(pos);
}

}  // namespace ia::vision
