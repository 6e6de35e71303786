// What the text-generating tasks (text-generation, text2text-generation, summarization, translation) share:
// the generation settings a transformers pipeline ends up with (the model's generation config, then the
// task_specific_params of config.json for the task, then the call's parameters) and the length rule of
// GenerationMixin._prepare_generated_length.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "generation/beam_generate.h"
#include "generation/generation_config.h"
#include "pipelines/pipeline.h"

namespace ia::pipelines {

struct GenerationPlan {
  generation::GenerationConfig config;  // merged settings
  nlohmann::json task_params = nlohmann::json::object();  // config.json task_specific_params[task] (prefix, ...)
  bool user_max_length = false;  // max_length came from the call
};

// The model's generation defaults, then config.json task_specific_params[task] (when `task` names an entry),
// then the generation parameters of the call (max_new_tokens, max_length, num_beams, do_sample, temperature,
// top_k, top_p, repetition_penalty, no_repeat_ngram_size, length_penalty, early_stopping, ...).
GenerationPlan plan_generation(const RunContext& ctx, const ModelConfig& model_config, const std::string& task);

// The search settings of a plan that every greedy/beam task takes alike: num_beams, num_return_sequences (more
// than num_beams: InvalidArgument naming `task`), length_penalty, early_stopping, eos_token_ids and
// decoder_start_token_id. Lengths, pad_token_id and processors depend on the task and are left to the caller.
generation::BeamRequest beam_request(const GenerationPlan& plan, const std::string& task);

// New tokens to generate for a decoder prompt of `prompt_len` tokens: max_new_tokens when set; else max_length -
// prompt_len, where an untouched default max_length (20) means 20 new tokens capped by `max_positions` (0: no
// cap). Never below 1 (transformers always runs one step).
int64_t new_token_budget(const GenerationPlan& plan, int64_t prompt_len, int64_t max_positions);

}  // namespace ia::pipelines

namespace ia::pipelines {

// Text2TextGenerationPipeline and its subclasses for encoder-decoder models: `task` picks config.json
// task_specific_params (its "prefix" is put before each input), results are {"<return_name>_text": ...} per
// returned sequence. Translation tasks ("translation", "translation_xx_to_yy") encode source/target languages
// as transformers' tokenizers do for mBART, mBART-50, M2M100 and NLLB (language-code tokens, forced_bos_token_id).
nlohmann::json run_seq2seq_task(const RunContext& ctx, const std::vector<nlohmann::json>& inputs,
                                const std::string& task, const std::string& return_name);
// Whether the model is an encoder-decoder with an LM head (the models those tasks load).
bool accepts_seq2seq(const ModelConfig& c, const std::string& cls);

}  // namespace ia::pipelines
