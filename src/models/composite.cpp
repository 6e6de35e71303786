#include "models/composite.h"

#include "models/model.h"

namespace ia {

namespace {

std::string find_class(const ModelConfig& c, const std::string& user, const std::string& role, bool causal) {
  for (const auto& s : registered_models())
    if (s.model_type == c.model_type())
      for (const auto& cls : s.hf_classes) {
        const bool lm = cls.find("ForCausalLM") != std::string::npos || cls.find("LMHeadModel") != std::string::npos;
        if (causal ? lm : cls.find("For") == std::string::npos) return cls;
      }
  fail(ErrorKind::Unsupported, "unsupported: {} {} model_type '{}' (no registered {} class)", user, role,
       c.model_type().empty() ? "?" : c.model_type(), causal ? "causal LM" : "base model");
}

}  // namespace

std::string auto_model_class(const ModelConfig& c, const std::string& user) {
  return find_class(c, user, "encoder", false);
}

std::string auto_causal_lm_class(const ModelConfig& c, const std::string& user) {
  return find_class(c, user, "text decoder", true);
}

}  // namespace ia
