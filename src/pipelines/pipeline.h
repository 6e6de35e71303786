// Task front-ends behind `ipfs-accelerate run <task>`: transformers' pipeline task names, inputs as JSON values
// (a string, or an object such as {"question": ..., "context": ...}), outputs shaped like transformers'
// pipeline output (one JSON value per input). Each task lives in its own src/pipelines/<task>.cpp and
// registers itself with IA_REGISTER_TASK.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/config.h"

namespace ia::pipelines {

// What a task sees of one `run` call.
struct RunContext {
  std::string model_dir;  // a local directory (already resolved from an HF id / ipfs:// CID)
  Device device = Device::cpu();
  // Task parameters by transformers' names: top_k, aggregation_strategy, max_answer_len, doc_stride,
  // candidate_labels, hypothesis_template, multi_label, max_new_tokens, num_beams, ... (absent: the task's
  // default). CLI flags and `--param key=value` land here.
  nlohmann::json params = nlohmann::json::object();
  // Text-generating tasks call this with each new piece of text when streaming to a terminal (may be empty).
  std::function<void(const std::string&)> stream;
  int64_t batch_size = 1;  // inputs per forward pass (rows padded like HF's pipeline batching)

  // Typed parameter access with a default; InvalidArgument naming the parameter when the type is wrong.
  int64_t param_int(const std::string& name, int64_t fallback) const;
  double param_double(const std::string& name, double fallback) const;
  bool param_bool(const std::string& name, bool fallback) const;
  std::string param_string(const std::string& name, const std::string& fallback) const;
  bool has_param(const std::string& name) const { return params.contains(name) && !params[name].is_null(); }
};

struct TaskSpec {
  std::string task;                  // transformers' pipeline name, e.g. "fill-mask"
  std::vector<std::string> aliases;  // other names transformers accepts ("sentiment-analysis", "ner")
  std::string summary;               // one line for `run --help`
  // Whether the model in `config` (with its architectures[0] class) can serve this task.
  std::function<bool(const ModelConfig& config, const std::string& hf_class)> accepts;
  // Runs the task on every input; returns a JSON array with one element per input.
  std::function<nlohmann::json(const RunContext& ctx, const std::vector<nlohmann::json>& inputs)> run;
};

void register_task(TaskSpec spec);
const std::vector<TaskSpec>& registered_tasks();
// The task registered under `name` or one of its aliases; nullptr when none.
const TaskSpec* find_task(const std::string& name);
// Tasks whose accepts() holds for the model in `model_dir`, sorted by name.
std::vector<std::string> tasks_for_model(const std::string& model_dir);
// The HF class the task should load: config.architectures[0] when present, else "".
std::string config_architecture(const ModelConfig& config);

// Whether `hf_class` is implemented for the config's model_type and its name ends with one of `suffixes`
// (the head a task needs: "ForMaskedLM", "ForSequenceClassification", ...).
bool implemented_head(const ModelConfig& config, const std::string& hf_class,
                      const std::vector<std::string>& suffixes);

// Runs `task` on `inputs` after checking that the model serves it (Unsupported naming the task, the model's
// type/class and the tasks it does support) and that there is at least one input.
nlohmann::json run_task(const std::string& task, const RunContext& ctx, const std::vector<nlohmann::json>& inputs);

}  // namespace ia::pipelines

#define IA_REGISTER_TASK(ID, ...) \
  namespace {                     \
  const bool ia_task_registered_##ID = (::ia::pipelines::register_task(__VA_ARGS__), true); \
  }
