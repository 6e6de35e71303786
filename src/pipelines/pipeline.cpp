// Task registry and the checks every `run` goes through.
#include "pipelines/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "models/model.h"

namespace ia::pipelines {
namespace fs = std::filesystem;

namespace {

std::vector<TaskSpec>& registry() {
  static std::vector<TaskSpec> r;
  return r;
}

const nlohmann::json* param(const RunContext& ctx, const std::string& name) {
  if (!ctx.params.is_object() || !ctx.params.contains(name) || ctx.params[name].is_null()) return nullptr;
  return &ctx.params[name];
}

// config.json, or for a diffusers pipeline directory its model_index.json.
ModelConfig load_model_config(const std::string& dir) {
  const fs::path p(dir);
  if (fs::exists(p / "config.json")) return ModelConfig::load((p / "config.json").string());
  if (fs::exists(p / "model_index.json")) return ModelConfig::load((p / "model_index.json").string());
  fail(ErrorKind::NotFound, "{}: no config.json (or model_index.json for a diffusers pipeline)", dir);
}

}  // namespace

int64_t RunContext::param_int(const std::string& name, int64_t fallback) const {
  const auto* v = param(*this, name);
  if (!v) return fallback;
  IA_CHECK(v->is_number_integer(), ErrorKind::InvalidArgument, "parameter {}: expected an integer, got {}", name,
           v->dump());
  return v->get<int64_t>();
}

double RunContext::param_double(const std::string& name, double fallback) const {
  const auto* v = param(*this, name);
  if (!v) return fallback;
  IA_CHECK(v->is_number(), ErrorKind::InvalidArgument, "parameter {}: expected a number, got {}", name, v->dump());
  return v->get<double>();
}

bool RunContext::param_bool(const std::string& name, bool fallback) const {
  const auto* v = param(*this, name);
  if (!v) return fallback;
  IA_CHECK(v->is_boolean(), ErrorKind::InvalidArgument, "parameter {}: expected true or false, got {}", name,
           v->dump());
  return v->get<bool>();
}

std::string RunContext::param_string(const std::string& name, const std::string& fallback) const {
  const auto* v = param(*this, name);
  if (!v) return fallback;
  IA_CHECK(v->is_string(), ErrorKind::InvalidArgument, "parameter {}: expected a string, got {}", name, v->dump());
  return v->get<std::string>();
}

void register_task(TaskSpec spec) {
  IA_CHECK(!find_task(spec.task), ErrorKind::InvalidArgument, "task {} registered twice", spec.task);
  registry().push_back(std::move(spec));
}

const std::vector<TaskSpec>& registered_tasks() { return registry(); }

const TaskSpec* find_task(const std::string& name) {
  for (const auto& t : registry()) {
    if (t.task == name) return &t;
    if (std::find(t.aliases.begin(), t.aliases.end(), name) != t.aliases.end()) return &t;
  }
  // transformers' parametrised task names: translation_<src>_to_<tgt>.
  if (name.rfind("translation_", 0) == 0 && name.find("_to_") != std::string::npos) return find_task("translation");
  return nullptr;
}

std::string config_architecture(const ModelConfig& config) {
  auto a = config.architectures();
  if (!a.empty()) return a[0];
  if (config.json().is_object() && config.json().contains("_class_name") && config.json()["_class_name"].is_string())
    return config.json()["_class_name"].get<std::string>();
  return "";
}

bool implemented_head(const ModelConfig& config, const std::string& hf_class,
                      const std::vector<std::string>& suffixes) {
  if (hf_class.empty() || !model_supports(config.model_type(), hf_class)) return false;
  for (const auto& s : suffixes)
    if (hf_class.size() >= s.size() && hf_class.compare(hf_class.size() - s.size(), s.size(), s) == 0) return true;
  return false;
}

std::vector<std::string> tasks_for_model(const std::string& model_dir) {
  const ModelConfig c = load_model_config(model_dir);
  const std::string cls = config_architecture(c);
  std::vector<std::string> out;
  for (const auto& t : registry())
    if (t.accepts && t.accepts(c, cls)) out.push_back(t.task);
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json run_task(const std::string& task, const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const TaskSpec* spec = find_task(task);
  if (!spec) {
    std::vector<std::string> names;
    for (const auto& t : registry()) names.push_back(t.task);
    std::sort(names.begin(), names.end());
    fail(ErrorKind::Unsupported, "unknown task '{}' (tasks: {})", task, fmt::join(names, ", "));
  }
  const ModelConfig c = load_model_config(ctx.model_dir);
  const std::string cls = config_architecture(c);
  if (!spec->accepts || !spec->accepts(c, cls)) {
    auto supported = tasks_for_model(ctx.model_dir);
    fail(ErrorKind::Unsupported, "{}: task {} is not supported by {} ({}); this model supports: {}", ctx.model_dir,
         spec->task, c.model_type().empty() ? "this model" : c.model_type(), cls.empty() ? "no architecture" : cls,
         supported.empty() ? std::string("no task") : fmt::format("{}", fmt::join(supported, ", ")));
  }
  IA_CHECK(!inputs.empty(), ErrorKind::InvalidArgument, "run {}: no input given (arguments, --input-file or stdin)",
           spec->task);
  RunContext run_ctx = ctx;
  if (task != spec->task && task.rfind("translation_", 0) == 0) run_ctx.params["task"] = task;  // languages
  nlohmann::json out = spec->run(run_ctx, inputs);
  IA_CHECK(out.is_array() && out.size() == inputs.size(), ErrorKind::Backend,
           "task {} returned {} results for {} inputs", spec->task, out.is_array() ? out.size() : 0, inputs.size());
  return out;
}

}  // namespace ia::pipelines
