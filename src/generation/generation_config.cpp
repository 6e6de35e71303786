#include "generation/generation_config.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "io/safe_path.h"

namespace ia::generation {

namespace {

// transformers 4.48 GenerationConfig attributes that are irrelevant to (or harmless for) our engine.
const std::set<std::string>& ignored_keys() {
  static const std::set<std::string> k = {
      "transformers_version", "use_cache", "cache_implementation", "cache_config", "return_legacy_cache",
      "output_attentions", "output_hidden_states", "output_scores", "output_logits", "return_dict_in_generate",
      "remove_invalid_values", "max_time", "low_memory", "compile_config",
      "disable_compile", "trust_remote_code", "is_assistant", "num_assistant_tokens",
      "num_assistant_tokens_schedule", "assistant_confidence_threshold", "prompt_lookup_num_tokens",
      "max_matching_ngram_size", "assistant_early_exit", "assistant_lookbehind", "target_lookbehind",
      "generation_kwargs", "token_healing", "watermarking_config", "dola_layers",
      // WhisperGenerationMixin's own settings: read by the speech-recognition front-end (decoder prompt,
      // language / task tokens), not by the shared generation loop.
      "is_multilingual", "lang_to_id", "task_to_id", "no_timestamps_token_id", "alignment_heads",
      "max_initial_timestamp_index", "prev_sot_token_id", "return_timestamps", "task", "language",
      "condition_on_prev_tokens"};
  return k;
}

// Keys of features we do not implement, with the value that means "off".
bool feature_off(const std::string& key, const nlohmann::json& v) {
  if (v.is_null()) return true;
  if (key == "num_beam_groups") return v == 1;
  if (key == "renormalize_logits") return v == false;
  if (key == "typical_p") return v == 1.0;
  if (key == "epsilon_cutoff" || key == "eta_cutoff" || key == "diversity_penalty" || key == "penalty_alpha")
    return v == 0 || v == 0.0;
  if (key == "encoder_repetition_penalty") return v == 1.0;
  if (key == "guidance_scale") return v == 1.0;
  if (key == "force_words_ids" || key == "sequence_bias" || key == "constraints" ||
      key == "exponential_decay_length_penalty")
    return v.is_array() ? v.empty() : false;
  return false;
}

const std::set<std::string>& unimplemented_keys() {
  static const std::set<std::string> k = {
      "num_beam_groups", "renormalize_logits", "typical_p", "epsilon_cutoff", "eta_cutoff", "diversity_penalty",
      "penalty_alpha", "encoder_repetition_penalty", "guidance_scale", "force_words_ids",
      "sequence_bias", "constraints", "exponential_decay_length_penalty"};
  return k;
}

}  // namespace

GenerationConfig GenerationConfig::load_dir(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  if (!std::filesystem::exists(path)) return {};
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check_json_depth(text, path.string());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  IA_CHECK(!j.is_discarded() && j.is_object(), ErrorKind::Format, "{}: not a JSON object", path.string());
  return parse(j, path.string());
}

GenerationConfig GenerationConfig::parse(const nlohmann::json& j, const std::string& src) {
  GenerationConfig g;
  auto int_of = [&](const std::string& k, int64_t lo) -> std::optional<int64_t> {
    const auto& v = j[k];
    if (v.is_null()) return std::nullopt;
    IA_CHECK(v.is_number_integer() && v.get<int64_t>() >= lo, ErrorKind::Format,
             "{}: '{}' must be an integer >= {}, got {}", src, k, lo, v.dump());
    return v.get<int64_t>();
  };
  auto float_of = [&](const std::string& k) -> std::optional<float> {
    const auto& v = j[k];
    if (v.is_null()) return std::nullopt;
    IA_CHECK(v.is_number(), ErrorKind::Format, "{}: '{}' must be a number, got {}", src, k, v.dump());
    return v.get<float>();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    if (k.rfind("_", 0) == 0 || ignored_keys().count(k)) continue;
    if (k == "forced_decoder_ids") {
      IA_CHECK(v.is_null() || v.is_array(), ErrorKind::Format, "{}: 'forced_decoder_ids' must be a list, got {}", src,
               v.dump());
      g.has_forced_decoder_ids = v.is_array() && !v.empty();
      continue;
    }
    if (unimplemented_keys().count(k)) {
      IA_CHECK(feature_off(k, v), ErrorKind::Unsupported, "{}: unsupported generation setting {}={}", src, k, v.dump());
      continue;
    }
    auto ids_of = [&](const std::string& what) {
      std::vector<int64_t> out;
      if (v.is_number_integer()) out.push_back(v.get<int64_t>());
      else if (v.is_array())
        for (const auto& e : v) {
          IA_CHECK(e.is_number_integer(), ErrorKind::Format, "{}: '{}' entries must be integers, got {}", src, what,
                   e.dump());
          out.push_back(e.get<int64_t>());
        }
      else IA_CHECK(v.is_null(), ErrorKind::Format, "{}: '{}' must be an integer or a list, got {}", src, what, v.dump());
      return out;
    };
    if (k == "num_beams") g.num_beams = int_of(k, 1);
    else if (k == "num_return_sequences") g.num_return_sequences = int_of(k, 1);
    else if (k == "no_repeat_ngram_size") g.no_repeat_ngram_size = int_of(k, 0);
    else if (k == "encoder_no_repeat_ngram_size") g.encoder_no_repeat_ngram_size = int_of(k, 0);
    else if (k == "forced_bos_token_id") g.forced_bos_token_id = int_of(k, 0);
    else if (k == "decoder_start_token_id") {
      if (v.is_array()) fail(ErrorKind::Unsupported, "{}: per-language decoder_start_token_id lists", src);
      g.decoder_start_token_id = int_of(k, 0);
    } else if (k == "forced_eos_token_id") g.forced_eos_token_ids = ids_of(k);
    else if (k == "suppress_tokens") g.suppress_tokens = ids_of(k);
    else if (k == "begin_suppress_tokens") g.begin_suppress_tokens = ids_of(k);
    else if (k == "length_penalty") {
      IA_CHECK(v.is_number() || v.is_null(), ErrorKind::Format, "{}: 'length_penalty' must be a number, got {}", src,
               v.dump());
      if (v.is_number()) g.length_penalty = v.get<double>();
    } else if (k == "early_stopping") {
      if (v.is_boolean()) g.early_stopping = v.get<bool>() ? EarlyStopping::True : EarlyStopping::False;
      else if (v.is_string() && v.get<std::string>() == "never") g.early_stopping = EarlyStopping::Never;
      else IA_CHECK(v.is_null(), ErrorKind::Format, "{}: 'early_stopping' must be true, false or \"never\", got {}", src,
                    v.dump());
    } else if (k == "bad_words_ids") {
      if (v.is_array())
        for (const auto& seq : v) {
          IA_CHECK(seq.is_array() && !seq.empty(), ErrorKind::Format,
                   "{}: 'bad_words_ids' must be a list of non-empty token lists", src);
          std::vector<int64_t> ids;
          for (const auto& e : seq) {
            IA_CHECK(e.is_number_integer() && e.get<int64_t>() >= 0, ErrorKind::Format,
                     "{}: 'bad_words_ids' entries must be token ids, got {}", src, e.dump());
            ids.push_back(e.get<int64_t>());
          }
          g.bad_words_ids.push_back(std::move(ids));
        }
      else IA_CHECK(v.is_null(), ErrorKind::Format, "{}: 'bad_words_ids' must be a list of token lists", src);
    } else if (k == "max_new_tokens") g.max_new_tokens = int_of(k, 0);
    else if (k == "max_length") g.max_length = int_of(k, 1);
    else if (k == "min_new_tokens") g.min_new_tokens = int_of(k, 0);
    else if (k == "min_length") g.min_length = int_of(k, 0);
    else if (k == "top_k") g.top_k = int_of(k, 0);
    else if (k == "pad_token_id") g.pad_token_id = int_of(k, 0);
    else if (k == "bos_token_id") g.bos_token_id = int_of(k, 0);
    else if (k == "temperature") g.temperature = float_of(k);
    else if (k == "top_p") g.top_p = float_of(k);
    else if (k == "min_p") g.min_p = float_of(k);
    else if (k == "repetition_penalty") g.repetition_penalty = float_of(k);
    else if (k == "do_sample") {
      IA_CHECK(v.is_boolean(), ErrorKind::Format, "{}: 'do_sample' must be true/false, got {}", src, v.dump());
      g.do_sample = v.get<bool>();
    } else if (k == "eos_token_id") {
      if (v.is_number_integer()) g.eos_token_ids.push_back(v.get<int64_t>());
      else if (v.is_array())
        for (const auto& e : v) {
          IA_CHECK(e.is_number_integer(), ErrorKind::Format, "{}: 'eos_token_id' entries must be integers, got {}", src,
                   e.dump());
          g.eos_token_ids.push_back(e.get<int64_t>());
        }
      else IA_CHECK(v.is_null(), ErrorKind::Format, "{}: 'eos_token_id' must be an integer or a list, got {}", src, v.dump());
    } else if (k == "stop_strings") {
      if (v.is_string()) g.stop_strings.push_back(v.get<std::string>());
      else if (v.is_array())
        for (const auto& e : v) {
          IA_CHECK(e.is_string(), ErrorKind::Format, "{}: 'stop_strings' entries must be strings", src);
          g.stop_strings.push_back(e.get<std::string>());
        }
      else IA_CHECK(v.is_null(), ErrorKind::Format, "{}: 'stop_strings' must be a string or a list", src);
    } else {
      fail(ErrorKind::Format, "{}: unknown generation setting '{}'", src, k);
    }
  }
  IA_CHECK(!g.num_return_sequences || *g.num_return_sequences <= g.num_beams.value_or(1) || g.do_sample.value_or(false),
           ErrorKind::Format, "{}: num_return_sequences ({}) exceeds num_beams ({})", src, *g.num_return_sequences,
           g.num_beams.value_or(1));
  IA_CHECK(!(g.num_beams.value_or(1) > 1 && g.do_sample.value_or(false)), ErrorKind::Unsupported,
           "{}: beam sampling (num_beams > 1 with do_sample) is not implemented", src);
  // Contradictions HF would reject when sampling.
  if (g.do_sample.value_or(false)) {
    SamplingParams p;
    p.temperature = g.temperature.value_or(1.0f);
    p.top_p = g.top_p.value_or(1.0f);
    p.top_k = g.top_k.value_or(0);
    p.min_p = g.min_p.value_or(0.0f);
    p.repetition_penalty = g.repetition_penalty.value_or(1.0f);
    try {
      p.validate();
    } catch (const Error& e) {
      fail(ErrorKind::Format, "{}: {}", src, e.what());
    }
  }
  return g;
}

void GenerationConfig::apply(GenerationSettings& s, int64_t prompt_len) const {
  IA_CHECK(!has_forced_decoder_ids, ErrorKind::Unsupported,
           "unsupported generation setting forced_decoder_ids (only Whisper's decoder prompt uses it)");
  if (max_new_tokens) s.max_new_tokens = *max_new_tokens;
  else if (max_length) s.max_new_tokens = std::max<int64_t>(0, *max_length - prompt_len);
  s.sampling.do_sample = do_sample.value_or(false);
  if (temperature) s.sampling.temperature = *temperature;
  if (top_k) s.sampling.top_k = *top_k;
  if (top_p) s.sampling.top_p = *top_p;
  if (min_p) s.sampling.min_p = *min_p;
  if (repetition_penalty) s.sampling.repetition_penalty = *repetition_penalty;
  if (!eos_token_ids.empty()) s.eos_token_ids = eos_token_ids;
  if (pad_token_id) s.pad_token_id = *pad_token_id;
  else if (!eos_token_ids.empty()) s.pad_token_id = eos_token_ids.front();  // HF: pad falls back to eos
  if (!stop_strings.empty()) s.stop_strings = stop_strings;
  if (min_new_tokens) s.min_new_tokens = *min_new_tokens;
  else if (min_length) s.min_new_tokens = std::max<int64_t>(0, *min_length - prompt_len);
  s.processors = processors(prompt_len);
  s.processors.repetition_penalty = 1.0f;  // the sampler applies it
}

nlohmann::json GenerationConfig::defaults_json(const ModelConfig& config) {
  const auto dir = std::filesystem::path(config.source()).parent_path();
  if (!dir.empty() && std::filesystem::exists(dir / "generation_config.json")) {
    std::ifstream in(dir / "generation_config.json");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    IA_CHECK(!j.is_discarded() && j.is_object(), ErrorKind::Format, "{}: not a JSON object",
             (dir / "generation_config.json").string());
    return j;
  }
  // PretrainedConfig's generation defaults that GenerationConfig.from_model_config copies.
  static const std::set<std::string> keys = {
      "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
      "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "forced_bos_token_id",
      "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
      "begin_suppress_tokens", "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"};
  nlohmann::json j = nlohmann::json::object();
  if (config.json().is_object())
    for (auto it = config.json().begin(); it != config.json().end(); ++it)
      if (keys.count(it.key()) && !(it.value().is_number_integer() && it.value().get<int64_t>() < 0))
        j[it.key()] = it.value();  // some configs spell "no token" as -1
  return j;
}

GenerationConfig GenerationConfig::for_model(const ModelConfig& config) {
  const auto dir = std::filesystem::path(config.source()).parent_path();
  const bool file = !dir.empty() && std::filesystem::exists(dir / "generation_config.json");
  return parse(defaults_json(config), file ? (dir / "generation_config.json").string() : config.source());
}

LogitsProcessors GenerationConfig::processors(int64_t prompt_len) const {
  LogitsProcessors p;
  p.repetition_penalty = repetition_penalty.value_or(1.0f);
  p.no_repeat_ngram_size = no_repeat_ngram_size.value_or(0);
  p.encoder_no_repeat_ngram_size = encoder_no_repeat_ngram_size.value_or(0);
  p.bad_words_ids = bad_words_ids;
  p.min_length = min_length.value_or(0);
  if (min_new_tokens) p.min_length = std::max(p.min_length, prompt_len + *min_new_tokens);
  p.forced_bos_token_id = forced_bos_token_id.value_or(-1);
  p.forced_eos_token_ids = forced_eos_token_ids;
  p.suppress_tokens = suppress_tokens;
  p.begin_suppress_tokens = begin_suppress_tokens;
  if (!begin_suppress_tokens.empty())
    p.begin_index = prompt_len > 1 || !forced_bos_token_id ? prompt_len : prompt_len + 1;
  return p;
}

}  // namespace ia::generation
