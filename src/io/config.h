// An HF config.json with typed, bounds-checked accessors whose errors name the file and the field.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ia {

class ModelConfig {
 public:
  ModelConfig() = default;
  ModelConfig(nlohmann::json j, std::string source) : j_(std::move(j)), source_(std::move(source)) {}
  static ModelConfig load(const std::string& path);  // a config.json file

  const nlohmann::json& json() const { return j_; }
  const std::string& source() const { return source_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }

  std::string model_type() const;                 // "" when absent
  std::vector<std::string> architectures() const;  // [] when absent

  // A size-like integer field: required, within [min, max] (default 1..2^24).
  int64_t dim(const std::string& key, int64_t min = 1, int64_t max = int64_t(1) << 24) const;
  int64_t dim_or(const std::string& key, int64_t fallback, int64_t min = 0, int64_t max = int64_t(1) << 24) const;
  double number(const std::string& key) const;
  double number_or(const std::string& key, double fallback) const;
  bool flag_or(const std::string& key, bool fallback) const;
  std::string str(const std::string& key) const;
  std::string str_or(const std::string& key, const std::string& fallback) const;
  // A nested config ("text_config", "encoder", ...) as its own ModelConfig (it inherits transformers_compat).
  ModelConfig sub(const std::string& key) const;

  // The semantics policy: the transformers release whose behaviour, known bugs included, the model reproduces
  // (kTransformersCompat, used by `conformance`), or "" (the default) for the mathematically intended model.
  // Where upstream fixed a quirk after that release, "" follows the fix. Set through LoadOptions.
  const std::string& transformers_compat() const { return compat_; }
  bool reproduces_transformers() const { return !compat_.empty(); }
  // Throws Unsupported for a release whose behaviour is not reproduced (only "" and kTransformersCompat are).
  void set_transformers_compat(const std::string& version);

 private:
  const nlohmann::json& field(const std::string& key) const;
  nlohmann::json j_;
  std::string source_;
  std::string compat_;
};

// The transformers release the conformance goldens come from (4.48.0.dev0, upstream 9feae5fb).
inline constexpr const char* kTransformersCompat = "4.48";

}  // namespace ia
