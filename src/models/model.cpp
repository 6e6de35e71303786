#include "models/model.h"

#include <filesystem>

#include "hardware/hardware.h"
#include "hardware/memory_estimate.h"

namespace ia {

const std::vector<std::string>& all_families() {
  static const std::vector<std::string> f = {"encoder-only", "decoder-only", "encoder-decoder", "vision",
                                             "vision-encoder-text-decoder", "speech", "multimodal", "diffusion",
                                             "mixture-of-experts", "state-space", "rag"};
  return f;
}

NamedTensors Model::generate(const TensorMap&, const GenerationRequest&) {
  fail(ErrorKind::Unsupported, "unsupported: generation for {}/{}", model_type_, hf_class_);
}

static std::vector<ModelSpec>& registry() {
  static std::vector<ModelSpec> r;
  return r;
}

void register_model(ModelSpec spec) { registry().push_back(std::move(spec)); }
const std::vector<ModelSpec>& registered_models() { return registry(); }

const ModelSpec* find_model_type(const std::string& model_type) {
  for (const auto& s : registry())
    if (s.model_type == model_type) return &s;
  return nullptr;
}

bool model_supports(const std::string& model_type, const std::string& hf_class) {
  for (const auto& s : registry())
    if (s.model_type == model_type)
      for (const auto& c : s.hf_classes)
        if (c == hf_class) return true;
  return false;
}

std::unique_ptr<Model> build_model(const ModelConfig& config, const WeightLoader& weights, const std::string& cls) {
  const std::string type = config.model_type();
  IA_CHECK(!type.empty(), ErrorKind::Format, "{}: missing required field 'model_type'", config.source());
  std::string hf_class = cls;
  if (hf_class.empty()) {
    auto arch = config.architectures();
    if (!arch.empty()) hf_class = arch[0];
  }
  const ModelSpec* spec = nullptr;
  for (const auto& s : registry()) {
    if (s.model_type != type) continue;
    if (hf_class.empty()) {
      spec = &s;
      hf_class = s.hf_classes.front();
      break;
    }
    for (const auto& c : s.hf_classes)
      if (c == hf_class) spec = &s;
    if (spec) break;
  }
  IA_CHECK(spec != nullptr, ErrorKind::Unsupported, "unsupported: {}/{}", type, hf_class.empty() ? "?" : hf_class);
  auto m = spec->factory(config, weights, hf_class);
  weights.finish();
  m->config_ = config;
  m->model_type_ = type;
  m->hf_class_ = hf_class;
  m->family_ = spec->family;
  m->device_ = weights.device();
  return m;
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& opts) {
  namespace fs = std::filesystem;
  IA_CHECK(fs::is_directory(dir), ErrorKind::NotFound, "{}: not a model directory", dir);
  ModelConfig config = ModelConfig::load((fs::path(dir) / "config.json").string());
  config.set_transformers_compat(opts.transformers_compat);
  const std::string type = config.model_type();
  IA_CHECK(!type.empty(), ErrorKind::Format, "{}: missing required field 'model_type'", config.source());
  IA_CHECK(find_model_type(type) != nullptr, ErrorKind::Unsupported, "unsupported: {}/{}", type,
           opts.hf_class.empty() ? (config.architectures().empty() ? "?" : config.architectures()[0]) : opts.hf_class);
  auto checkpoint = Checkpoint::open(dir);  // mapped, not read: a checkpoint too large for memory costs nothing yet
  if (opts.device.is_cpu()) {
    // Refused before any weight is converted: the estimate against the memory available now (cgroup-aware).
    const MemoryEstimate need = estimate_memory(config, checkpoint_f32_bytes(*checkpoint), WorkloadShape{});
    const hw::BackendReport cpu = hw::detect_cpu(hw::ProbeEnv::from_environment());
    const uint64_t avail = cpu.devices.empty() ? 0 : cpu.devices[0].free_memory;
    IA_CHECK(avail == 0 || need.total() <= avail, ErrorKind::OutOfMemory,
             "{}: the model needs {} bytes ({}) but only {} bytes ({}) of memory are available on cpu", dir,
             need.total(), need.str(), avail, hw::format_bytes(avail));
  }
  WeightLoader weights(checkpoint, opts.device, opts.strict);
  weights.set_weight_format(opts.weight_format);
  auto model = build_model(config, weights, opts.hf_class);
  IA_CHECK(!opts.weight_format || weights.report().matmul_converted > 0, ErrorKind::Unsupported,
           "unsupported: --dtype {} for {}/{} (load-time weight dtypes apply to linear-layer weights; this model "
           "loads none)",
           opts.weight_format->name(), model->model_type(), model->hf_class());
  return model;
}

WeightFormat parse_weight_format(const std::string& name) {
  if (name == "f32" || name == "float32") return {DType::F32};
  if (name == "f16" || name == "float16") return {DType::F16};
  if (name == "bf16" || name == "bfloat16") return {DType::BF16};
  if (name == "int8") return {DType::I8};
  if (name == "w8a8") return {DType::I8, true};
  fail(ErrorKind::InvalidArgument, "--dtype must be f32, f16, bf16, int8 or w8a8, got '{}'", name);
}

}  // namespace ia
