// Runs one HF conformance case (tests/data/conformance/<case>/): loads the checkpoint through the normal
// loader, feeds inputs.safetensors, compares every output case.json lists against expected.safetensors.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/weights.h"

namespace ia {

struct OutputComparison {
  std::string name;
  std::vector<int64_t> shape, expected_shape;
  double max_abs_err = 0.0, max_rel_err = 0.0, mean_abs_err = 0.0;
  // Float outputs named *logits* (not generated_*): rows (all but the last dim) whose argmax matches the expected.
  int64_t top1_rows = 0, top1_agree = 0;
  bool passed = false;
  std::string note;  // why it failed when it is not a numeric miss (missing output, shape mismatch, ...)
};

struct ConformanceResult {
  std::string case_name, case_dir, model_type, hf_class, family;
  std::string status;  // "passed", "failed", "unsupported", "error"
  std::string message; // unsupported/error detail
  std::string device;
  std::string weight_dtype;  // "" = as stored
  double load_ms = 0.0, run_ms = 0.0;
  std::vector<OutputComparison> outputs;
  bool passed() const { return status == "passed"; }
  nlohmann::json to_json() const;
};

struct ConformanceOptions {
  Device device = Device::cpu();
  double atol = 1e-4;
  double rtol = 1e-4;  // an element passes if |got - want| <= max(atol, rtol * |want|)
  std::string dump_path;  // when set, the produced outputs are written there (safetensors) for debugging
  std::optional<WeightFormat> weight_format;  // `--dtype`: load-time linear weights (LoadOptions::weight_format)
};

ConformanceResult run_conformance_case(const std::string& case_dir, const ConformanceOptions& opts);

}  // namespace ia
