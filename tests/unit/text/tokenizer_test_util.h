// Shared helpers for the tokenizer tests: where the test tokenizers and vectors live, and a cache of loaded
// tokenizers (loading the large vocabularies once keeps the suite fast).
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "text/tokenizer.h"

namespace ia::text::testing {

inline std::filesystem::path data_dir() { return std::filesystem::path(IA_TEST_DATA_DIR) / "tokenizers"; }
inline std::filesystem::path vectors_dir() { return data_dir() / "vectors"; }
// The three large gzipped tokenizers stay in ../shared (not copied into the repository).
inline std::filesystem::path shared_dir() {
  return std::filesystem::path(IA_SOURCE_DIR).parent_path() / "shared" / "assets" / "tokenizers";
}

// Directory holding the tokenizer `name`, or empty when it is not available.
inline std::filesystem::path tokenizer_dir(const std::string& name) {
  if (std::filesystem::exists(data_dir() / name)) return data_dir() / name;
  if (std::filesystem::exists(shared_dir() / name)) return shared_dir() / name;
  return {};
}

// Loads (once) the tokenizer `name`; nullptr when its files are absent.
inline const Tokenizer* load(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  auto dir = tokenizer_dir(name);
  std::unique_ptr<Tokenizer> t;
  if (!dir.empty()) t = std::make_unique<Tokenizer>(Tokenizer::from_dir(dir));
  return (cache[name] = std::move(t)).get();
}

#define IA_LOAD_OR_SKIP(var, name)                                                                        \
  const ::ia::text::Tokenizer* var = ::ia::text::testing::load(name);                                     \
  if (!var) GTEST_SKIP() << "tokenizer " << name << " not found in tests/data/tokenizers or ../shared/assets"

inline nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(read_text_file(p)); }

}  // namespace ia::text::testing
