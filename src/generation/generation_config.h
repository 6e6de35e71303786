// generation_config.json: transformers' GenerationConfig defaults for a model directory, validated.
// Unknown keys and HF features we do not implement (group/constrained beam search, contrastive search, ...) with
// non-default values are errors naming the key; sampling settings while do_sample is false are ignored (as HF
// does). Models without the file take the generation keys of config.json (GenerationConfig.from_model_config).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "generation/beam_search.h"
#include "generation/generate.h"
#include "io/config.h"

namespace ia::generation {

struct GenerationConfig {
  std::optional<int64_t> max_new_tokens, max_length, min_new_tokens, min_length;
  std::optional<bool> do_sample;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id, bos_token_id;
  std::vector<std::string> stop_strings;
  // Beam search and logits processors.
  std::optional<int64_t> num_beams, num_return_sequences, no_repeat_ngram_size, encoder_no_repeat_ngram_size;
  std::optional<double> length_penalty;
  std::optional<EarlyStopping> early_stopping;
  std::optional<int64_t> forced_bos_token_id, decoder_start_token_id;
  std::vector<int64_t> forced_eos_token_ids, suppress_tokens, begin_suppress_tokens;
  std::vector<std::vector<int64_t>> bad_words_ids;
  // HF forced_decoder_ids ([position, token or null] pairs): only a model that builds its decoder prompt from them
  // (Whisper, through seq2seq::DecoderPromptRules) may generate with them; everything else refuses them.
  bool has_forced_decoder_ids = false;

  // The file in `dir`, or an empty config when the directory has none. Throws Format/Unsupported.
  static GenerationConfig load_dir(const std::string& dir);
  static GenerationConfig parse(const nlohmann::json& j, const std::string& source);
  // What transformers' model.generation_config holds: generation_config.json beside the model's config.json,
  // else the generation keys of config.json itself.
  static GenerationConfig for_model(const ModelConfig& config);
  // The JSON for_model parses (to merge call parameters over it before parsing).
  static nlohmann::json defaults_json(const ModelConfig& config);
  // The logits processors these settings build for a decoder prompt of `prompt_len` tokens (HF
  // _get_logits_processor; min_new_tokens becomes min_length = prompt_len + min_new_tokens).
  LogitsProcessors processors(int64_t prompt_len) const;
  // Fills settings from these defaults (the CLI then overrides what the user gave). prompt_len resolves
  // max_length into max_new_tokens (HF: max_new_tokens wins when both are set).
  void apply(GenerationSettings& s, int64_t prompt_len) const;
};

}  // namespace ia::generation
