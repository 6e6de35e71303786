// generation_config.json: transformers' GenerationConfig defaults for a model directory, validated.
// Unknown keys and HF features we do not implement (beam search, contrastive search, ...) with non-default
// values are errors naming the key; sampling settings while do_sample is false are ignored (as HF does).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "generation/generate.h"

namespace ia::generation {

struct GenerationConfig {
  std::optional<int64_t> max_new_tokens, max_length, min_new_tokens, min_length;
  std::optional<bool> do_sample;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id, bos_token_id;
  std::vector<std::string> stop_strings;

  // The file in `dir`, or an empty config when the directory has none. Throws Format/Unsupported.
  static GenerationConfig load_dir(const std::string& dir);
  static GenerationConfig parse(const nlohmann::json& j, const std::string& source);
  // Fills settings from these defaults (the CLI then overrides what the user gave). prompt_len resolves
  // max_length into max_new_tokens (HF: max_new_tokens wins when both are set).
  void apply(GenerationSettings& s, int64_t prompt_len) const;
};

}  // namespace ia::generation
