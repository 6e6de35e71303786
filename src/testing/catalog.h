// The model catalog (catalog/<family>.jsonl): one entry per real HuggingFace model with its family, model_type,
// HF architecture class, task, parameter count and the config facts that shape its computation; plus the
// template that turns an HF config.json into a new entry (`ipfs-accelerate catalog add`).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ia::suite {

struct CatalogEntry {
  std::string id;            // HF model id ("google-bert/bert-base-uncased")
  std::string family;        // one of all_families()
  std::string model_type;    // HF config model_type (diffusers: the denoiser class, e.g. unet_2d_condition)
  std::string architecture;  // HF class the test builds ("BertForMaskedLM")
  std::string task;          // transformers pipeline name
  int64_t params = 0;
  std::vector<std::string> tags;
  std::string norm, position;  // summary of the normalization and position scheme
  nlohmann::json config;       // HF config.json fields that shape the computation (model_type, architectures too)
  std::string source;          // the catalog file the entry came from

  nlohmann::json to_json() const;
  static CatalogEntry from_json(const nlohmann::json& j, const std::string& source);
};

class Catalog {
 public:
  // Loads every *.jsonl in `dir` (sorted by file name, entries in file order). Throws naming file and line.
  static Catalog load(const std::string& dir);
  const std::vector<CatalogEntry>& entries() const { return entries_; }
  const CatalogEntry* find(const std::string& id) const;  // case-insensitive, as Hub ids are
  std::vector<const CatalogEntry*> family(const std::string& family) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<CatalogEntry> entries_;
};

// $IA_CATALOG_DIR, else ./catalog when it exists, else the source tree's catalog/.
std::string default_catalog_dir();

// The family an HF config belongs to: the registered implementation's family if one exists, else a catalog entry
// with the same model_type, else known model_types, else the architecture class name and config shape.
std::string classify_family(const nlohmann::json& hf_config, const Catalog* catalog = nullptr);

// Fills the family template from an HF config.json: keeps the computation-shaping fields, derives task, norm and
// position scheme, estimates the parameter count. `id` is the HF model id.
CatalogEntry entry_from_hf_config(const std::string& id, const nlohmann::json& hf_config,
                                  const Catalog* catalog = nullptr);

// Appends `e` to <dir>/<family>.jsonl (throws if the id is already in the catalog).
void append_entry(const std::string& dir, const CatalogEntry& e);

// A scaled-down config for --weights tiny: same model_type and every computation-shaping feature (rope type,
// GQA ratio, activation, norms, windowing, tying, special tokens, ...) with small sizes.
nlohmann::json make_tiny_config(const CatalogEntry& e);

}  // namespace ia::suite
