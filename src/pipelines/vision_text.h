// What the image-to-text and image-text-to-text tasks share: the model with its tokenizer and image processor
// loaded from the model directory, images read from files, the generation request built from the run
// parameters and generation_config.json (greedy or beam search), and generated ids decoded like transformers.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "pipelines/pipeline.h"
#include "text/tokenizer.h"
#include "vision/image_processor.h"

namespace ia::pipelines {

struct VisionTextModel {
  std::unique_ptr<Model> model;
  text::Tokenizer tokenizer;
  vision::ImageProcessor processor;
  // model_dir's config.json, tokenizer files and preprocessor_config.json; NotFound naming the missing file.
  static VisionTextModel load(const RunContext& ctx);
};

// Generates for one input, best sequence first: "generated_ids" [n, L] (n = num_return_sequences), prompt
// included. Settings as transformers' generate merges them: generation_config.json (else config.json), then the
// run's parameters; greedy or beam search (num_beams, num_return_sequences, length_penalty, early_stopping) with
// the logits processors those settings make (no_repeat_ngram_size, min_length, bad_words_ids, ...). New tokens:
// max_new_tokens, else max_length (default 20) - prompt_len, at least 1 (HF always runs one step). Sampling is
// Unsupported.
Tensor generate_text(const RunContext& ctx, Model& model, const TensorMap& inputs, int64_t prompt_len,
                     const std::string& task);
// Row `row` of ids [n, T] from position `from` on, decoded with skip_special_tokens (transformers' tokenizer.decode).
std::string decode_generated(const text::Tokenizer& tok, const Tensor& ids, int64_t from, int64_t row = 0);

}  // namespace ia::pipelines
