#include "pipelines/generation_task.h"

#include <algorithm>

namespace ia::pipelines {

namespace {

// The call parameters that are generation settings (transformers' generate kwargs).
const std::vector<std::string>& generation_params() {
  static const std::vector<std::string> k = {
      "max_new_tokens", "max_length", "min_length", "min_new_tokens", "num_beams", "num_return_sequences",
      "do_sample", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size", "length_penalty", "early_stopping", "bad_words_ids", "eos_token_id",
      "pad_token_id", "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens"};
  return k;
}

}  // namespace

GenerationPlan plan_generation(const RunContext& ctx, const ModelConfig& model_config, const std::string& task) {
  GenerationPlan plan;
  nlohmann::json merged = generation::GenerationConfig::defaults_json(model_config);
  const auto& cj = model_config.json();
  if (!task.empty() && cj.is_object() && cj.contains("task_specific_params") &&
      cj["task_specific_params"].is_object() && cj["task_specific_params"].contains(task) &&
      cj["task_specific_params"][task].is_object()) {
    plan.task_params = cj["task_specific_params"][task];
    for (auto it = plan.task_params.begin(); it != plan.task_params.end(); ++it)
      if (it.key() != "prefix") merged[it.key()] = it.value();
  }
  for (const auto& k : generation_params())
    if (ctx.has_param(k)) merged[k] = ctx.params[k];
  if (ctx.has_param("max_new_tokens")) merged.erase("max_length");
  plan.user_max_length = ctx.has_param("max_length");
  plan.config = generation::GenerationConfig::parse(merged, ctx.model_dir + " (generation settings)");
  return plan;
}

generation::BeamRequest beam_request(const GenerationPlan& plan, const std::string& task) {
  const auto& g = plan.config;
  generation::BeamRequest req;
  req.num_beams = g.num_beams.value_or(1);
  req.num_return_sequences = g.num_return_sequences.value_or(1);
  IA_CHECK(req.num_return_sequences <= req.num_beams, ErrorKind::InvalidArgument,
           "{}: num_return_sequences {} needs num_beams >= it", task, req.num_return_sequences);
  req.length_penalty = g.length_penalty.value_or(1.0);
  req.early_stopping = g.early_stopping.value_or(generation::EarlyStopping::False);
  req.base.eos_token_ids = g.eos_token_ids;
  if (g.decoder_start_token_id) req.base.decoder_start_token_id = *g.decoder_start_token_id;
  return req;
}

int64_t new_token_budget(const GenerationPlan& plan, int64_t prompt_len, int64_t max_positions) {
  const auto& g = plan.config;
  int64_t n = 0;
  if (g.max_new_tokens) {
    n = *g.max_new_tokens;
  } else {
    const int64_t max_length = g.max_length.value_or(20);
    if (!plan.user_max_length && max_length == 20) {
      n = 20;
      if (max_positions > 0) n = std::min<int64_t>(n, max_positions - prompt_len);
    } else {
      n = max_length - prompt_len;
    }
  }
  return std::max<int64_t>(n, 1);
}

}  // namespace ia::pipelines
