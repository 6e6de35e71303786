// The model interface every architecture implements, and the registry that maps HF model_type/class names
// to implementations (each architecture file registers itself).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"

namespace ia {

using TensorMap = std::map<std::string, Tensor>;

// The 11 families, spelled as in conformance case.json files.
const std::vector<std::string>& all_families();

struct ForwardOptions {
  bool output_hidden_states = false;
};

// Greedy/sampled generation settings shared by causal and seq2seq models (see generation/ for the engine).
struct GenerationRequest {
  int64_t max_new_tokens = 20;
  std::vector<int64_t> eos_token_ids;  // empty: no EOS stop
  int64_t pad_token_id = 0;
  int64_t decoder_start_token_id = -1;  // seq2seq
  bool return_logits = false;
};

class Model {
 public:
  virtual ~Model() = default;
  // HF forward. Inputs by HF name (input_ids, attention_mask, token_type_ids, pixel_values, ...). Outputs named
  // like HF ModelOutput fields, nested ones flattened with dots ("hidden_states.0"); models with a head also
  // return their backbone's outputs as "base.<name>" when that differs from a head output.
  virtual NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) = 0;
  // Greedy generation: returns "generated_ids" (and "generated_logits" when asked). Unsupported by default.
  virtual NamedTensors generate(const TensorMap& inputs, const GenerationRequest& req);
  virtual bool can_generate() const { return false; }

  const ModelConfig& config() const { return config_; }
  const std::string& model_type() const { return model_type_; }
  const std::string& hf_class() const { return hf_class_; }
  const std::string& family() const { return family_; }
  Device device() const { return device_; }

 protected:
  friend std::unique_ptr<Model> load_model(const std::string&, const struct LoadOptions&);
  friend std::unique_ptr<Model> build_model(const ModelConfig&, const WeightLoader&, const std::string&);
  ModelConfig config_;
  std::string model_type_, hf_class_, family_;
  Device device_;
};

using ModelFactory = std::function<std::unique_ptr<Model>(const ModelConfig&, const WeightLoader&,
                                                          const std::string& hf_class)>;

struct ModelSpec {
  std::string model_type;
  std::string family;
  std::vector<std::string> hf_classes;  // the HF classes this implementation provides
  ModelFactory factory;
};

void register_model(ModelSpec spec);
const std::vector<ModelSpec>& registered_models();
const ModelSpec* find_model_type(const std::string& model_type);
bool model_supports(const std::string& model_type, const std::string& hf_class);

struct LoadOptions {
  std::string hf_class;  // default: config.architectures[0], else the first class the implementation lists
  Device device = Device::cpu();
  bool strict = true;
  // ModelConfig::transformers_compat: "" = the intended model; kTransformersCompat = transformers 4.48's behaviour.
  std::string transformers_compat;
  // `--dtype`: linear-layer weights (layers::Linear, embeddings used as LM heads) kept as F32, F16, BF16 or int8
  // (I8, per-row scales; W8A8 also quantizes activations) instead of as stored; nullopt: as stored. A model with
  // none: Unsupported.
  std::optional<WeightFormat> weight_format;
};

// `--dtype` values: "f32" | "f16" | "bf16" | "int8" (weight-only) | "w8a8" (InvalidArgument otherwise).
WeightFormat parse_weight_format(const std::string& name);

// Builds a model from an already-open checkpoint (throws Unsupported "unsupported: <type>/<class>").
std::unique_ptr<Model> build_model(const ModelConfig& config, const WeightLoader& weights, const std::string& hf_class);
// Loads config.json + weights from a model directory.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& opts = {});

#define IA_REGISTER_MODEL(ID, ...) \
  namespace {                      \
  const bool ia_model_registered_##ID = (::ia::register_model(__VA_ARGS__), true); \
  }

}  // namespace ia
