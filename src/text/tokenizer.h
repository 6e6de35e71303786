// A HuggingFace-compatible tokenizer: loads tokenizer.json (optionally gzipped), or the legacy files
// (vocab.txt, vocab.json + merges.txt, sentencepiece .model) plus tokenizer_config.json, and encodes/decodes
// id-for-id like the HF `tokenizers` library (decode's cleanup and chat templates follow `transformers`).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/encoding.h"

namespace ia::text {

class Normalizer;
class PreTokenizer;
class Model;
class PostProcessor;
class Decoder;
class AddedVocabulary;

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

struct TruncationParams {
  enum class Strategy { LongestFirst, OnlyFirst, OnlySecond };
  size_t max_length = 512;
  size_t stride = 0;
  Strategy strategy = Strategy::LongestFirst;
  bool left = false;  // direction: cut tokens from the left end
};

struct PaddingParams {
  std::optional<size_t> fixed_length;  // unset: pad to the longest in the batch
  bool left = false;
  size_t pad_to_multiple_of = 0;
  uint32_t pad_id = 0;
  uint32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

// The transformers-side settings of tokenizer_config.json / special_tokens_map.json.
struct TokenizerConfig {
  std::string tokenizer_class;
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token, sep_token, cls_token, mask_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::optional<bool> clean_up_tokenization_spaces;
  std::optional<bool> do_lower_case;
  nlohmann::json chat_template;  // string, or list of {name, template}; null when absent
  nlohmann::json raw;            // the whole merged config
};

struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added_tokens;
  std::optional<TruncationParams> truncation;
  std::optional<PaddingParams> padding;
};

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerParts parts, TokenizerConfig config = {});
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // A model or tokenizer directory: tokenizer.json(.gz) when present, else the legacy files. Reads
  // tokenizer_config.json(.gz) and special_tokens_map.json when present.
  static Tokenizer from_dir(const std::filesystem::path& dir);
  // A tokenizer.json or tokenizer.json.gz file.
  static Tokenizer from_file(const std::filesystem::path& file, TokenizerConfig config = {});
  // tokenizer.json content; `source` names it in error messages.
  static Tokenizer from_json_string(const std::string& content, const std::string& source, TokenizerConfig config = {});

  // Invalid UTF-8 in `text` is replaced by U+FFFD (one per maximal ill-formed subsequence) before encoding.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_pair(std::string_view a, std::string_view b, bool add_special_tokens = true) const;
  // Encodes in parallel on the engine's thread pool, then applies batch padding.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                           bool add_special_tokens = true) const;

  // HF tokenizers' decode (the decoder chain only).
  std::string decode_raw(const std::vector<uint32_t>& ids, bool skip_special_tokens = false) const;
  // transformers' decode: decode_raw plus model-specific fix-ups and clean_up_tokenization_spaces (default from
  // tokenizer_config.json, else transformers' per-class default: true for the BERT family, false otherwise).
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special_tokens = false,
                     std::optional<bool> clean_up_tokenization_spaces = std::nullopt) const;

  // transformers' convert_tokens_to_string for a fast tokenizer: the decoder chain over token strings.
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  size_t vocab_size(bool with_added_tokens = true) const;
  bool is_special(uint32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  void set_truncation(std::optional<TruncationParams> t) { truncation_ = std::move(t); }
  void set_padding(std::optional<PaddingParams> p) { padding_ = std::move(p); }
  const std::optional<TruncationParams>& truncation() const { return truncation_; }
  const std::optional<PaddingParams>& padding() const { return padding_; }
  const TokenizerConfig& config() const { return config_; }

 private:
  Encoding encode_one(std::string_view text) const;
  Encoding post_process(Encoding a, std::optional<Encoding> b, bool add_special_tokens) const;
  void pad_batch(std::vector<Encoding>& encs) const;
  bool default_clean_up() const;

  TokenizerParts parts_;
  std::unique_ptr<AddedVocabulary> added_;
  std::optional<TruncationParams> truncation_;
  std::optional<PaddingParams> padding_;
  TokenizerConfig config_;
};

// Reads tokenizer_config.json(.gz) and special_tokens_map.json from dir (missing files are fine).
TokenizerConfig load_tokenizer_config(const std::filesystem::path& dir);
// Reads a whole file, gunzipping it when its name ends in .gz.
std::string read_text_file(const std::filesystem::path& file);

// The transformers clean_up_tokenization text fix-up.
std::string clean_up_tokenization(std::string s);

}  // namespace ia::text
