#include "io/config.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/diffusers_config.h"
#include "io/safe_path.h"

namespace ia {
namespace {

// Python's json.dumps writes float('inf') / float('nan') as the bare tokens Infinity, -Infinity and NaN
// (e.g. Mamba-2's "time_step_limit": [0.0, Infinity]), which strict JSON rejects. Outside strings they become
// the strings "Infinity", "-Infinity" and "NaN"; models that accept such values read them as strings.
std::string quote_nonfinite(const std::string& text) {
  static const char* const kTokens[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      out += ch;
      if (ch == '\\' && i + 1 < text.size()) out += text[++i];
      else if (ch == '"') in_string = false;
      continue;
    }
    in_string = ch == '"';
    const char* match = nullptr;
    for (const char* tok : kTokens)
      if (text.compare(i, std::char_traits<char>::length(tok), tok) == 0) {
        match = tok;
        break;
      }
    if (!match) {
      out += ch;
      continue;
    }
    out += '"';
    out += match;
    out += '"';
    i += std::char_traits<char>::length(match) - 1;
  }
  return out;
}

}  // namespace

ModelConfig ModelConfig::load(const std::string& path) {
  std::ifstream in(path);
  IA_CHECK(in.good(), ErrorKind::NotFound, "{}: cannot open config", path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  check_json_depth(text, path);
  nlohmann::json j = nlohmann::json::parse(quote_nonfinite(text), nullptr, false);
  IA_CHECK(!j.is_discarded(), ErrorKind::Format, "{}: not valid JSON", path);
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: top level must be a JSON object", path);
  return ModelConfig(std::move(j), path);
}

std::string ModelConfig::model_type() const {
  if (has("model_type") && j_["model_type"].is_string()) return j_["model_type"].get<std::string>();
  if (has("_class_name") && j_["_class_name"].is_string()) return diffusers_model_type(j_["_class_name"].get<std::string>());
  return "";
}

std::vector<std::string> ModelConfig::architectures() const {
  std::vector<std::string> out;
  if (has("architectures") && j_["architectures"].is_array())
    for (const auto& a : j_["architectures"])
      if (a.is_string()) out.push_back(a.get<std::string>());
  if (out.empty() && has("_class_name") && j_["_class_name"].is_string())
    out.push_back(j_["_class_name"].get<std::string>());
  return out;
}

const nlohmann::json& ModelConfig::field(const std::string& key) const {
  IA_CHECK(has(key), ErrorKind::Format, "{}: missing required field '{}'", source_, key);
  return j_[key];
}

int64_t ModelConfig::dim(const std::string& key, int64_t min, int64_t max) const {
  const auto& v = field(key);
  IA_CHECK(v.is_number_integer(), ErrorKind::Format, "{}: field '{}' must be an integer, got {}", source_, key,
           v.dump());
  const int64_t x = v.get<int64_t>();
  IA_CHECK(x >= min && x <= max, ErrorKind::Format, "{}: field '{}' = {} is out of range [{}, {}]", source_, key, x,
           min, max);
  return x;
}

int64_t ModelConfig::dim_or(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
  return has(key) ? dim(key, min, max) : fallback;
}

double ModelConfig::number(const std::string& key) const {
  const auto& v = field(key);
  IA_CHECK(v.is_number(), ErrorKind::Format, "{}: field '{}' must be a number, got {}", source_, key, v.dump());
  return v.get<double>();
}

double ModelConfig::number_or(const std::string& key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool ModelConfig::flag_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j_[key];
  IA_CHECK(v.is_boolean(), ErrorKind::Format, "{}: field '{}' must be true/false, got {}", source_, key, v.dump());
  return v.get<bool>();
}

std::string ModelConfig::str(const std::string& key) const {
  const auto& v = field(key);
  IA_CHECK(v.is_string(), ErrorKind::Format, "{}: field '{}' must be a string, got {}", source_, key, v.dump());
  return v.get<std::string>();
}

std::string ModelConfig::str_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? str(key) : fallback;
}

ModelConfig ModelConfig::sub(const std::string& key) const {
  const auto& v = field(key);
  IA_CHECK(v.is_object(), ErrorKind::Format, "{}: field '{}' must be an object", source_, key);
  ModelConfig c(v, source_ + ":" + key);
  c.compat_ = compat_;
  return c;
}

void ModelConfig::set_transformers_compat(const std::string& version) {
  IA_CHECK(version.empty() || version == kTransformersCompat, ErrorKind::Unsupported,
           "{}: transformers {} semantics are not reproduced (supported: {} or the default, intended semantics)",
           source_, version, kTransformersCompat);
  compat_ = version;
}

}  // namespace ia
