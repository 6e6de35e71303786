// Helpers for models composed of other registered models (VisionEncoderDecoder, LLaVA): which registered HF
// class transformers' Auto* factories would build for a nested config's model_type.
#pragma once
#include <string>

#include "io/config.h"

namespace ia {

// AutoModel: the registered class of c.model_type() without a task head ("ViTModel", "SwinModel").
std::string auto_model_class(const ModelConfig& c, const std::string& user);
// AutoModelForCausalLM: the registered *ForCausalLM / *LMHeadModel class of c.model_type().
std::string auto_causal_lm_class(const ModelConfig& c, const std::string& user);

}  // namespace ia
