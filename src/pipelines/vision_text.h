// What the image-to-text and image-text-to-text tasks share: the model with its tokenizer and image processor
// loaded from the model directory, images read from files, the generation request built from the run
// parameters and generation_config.json, and generated ids decoded like transformers.
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

// Greedy settings for one generate call: max_new_tokens from the run (else generation_config.json's
// max_new_tokens, else its max_length, default 20, minus prompt_len). Beam search and sampling are rejected
// with Unsupported until the shared implementations serve these models.
GenerationRequest generation_request(const RunContext& ctx, int64_t prompt_len);
// ids [1, T] from position `from` on, decoded with skip_special_tokens (transformers' tokenizer.decode).
std::string decode_generated(const text::Tokenizer& tok, const Tensor& ids, int64_t from);

}  // namespace ia::pipelines
