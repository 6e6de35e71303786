// The pluggable stages of a HF tokenizer pipeline (normalizer, pre-tokenizer, model, post-processor, decoder)
// and their factories from tokenizer.json sections. Unknown component types raise
// "unsupported <stage> <type>"; malformed sections name the offending field.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/encoding.h"
#include "text/normalized.h"

namespace ia::text {

using json = nlohmann::json;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& s) const = 0;
};

// Token strings <-> ids, and tokenization of one pre-tokenized word.
class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `word` (offsets relative to the word) to out.
  virtual void tokenize(std::string_view word, std::vector<Token>& out) const = 0;
  virtual std::optional<uint32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(uint32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
  virtual const char* type() const = 0;  // "BPE", "WordPiece", "WordLevel", "Unigram"
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual size_t added_tokens(bool is_pair) const = 0;
  // Offset-only adjustments (ByteLevel trimming), applied to each input before merging.
  virtual void adjust(Encoding&) const {}
  // Merges a (and b when present) into the final encoding, adding special tokens when asked.
  virtual Encoding process(Encoding a, std::optional<Encoding> b, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

// `where` names the JSON path for error messages ("normalizer", "pre_tokenizer.pretokenizers[1]", ...).
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where);
std::unique_ptr<Model> make_model(const json& j, const std::string& where);
std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where);
std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where);

// Default post-processing when a tokenizer has none: concatenates, the pair gets sequence id 1.
Encoding merge_encodings(Encoding a, std::optional<Encoding> b);

// Model constructors used by the legacy-file loaders.
struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};
std::unique_ptr<Model> make_bpe(std::unordered_map<std::string, uint32_t> vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                const BpeOptions& opt);
std::unique_ptr<Model> make_wordpiece(std::unordered_map<std::string, uint32_t> vocab, std::string unk_token,
                                      std::string prefix, size_t max_input_chars_per_word);
std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<uint32_t> unk_id,
                                    bool byte_fallback);

// Reads a {"String": ...} / {"Regex": ...} "pattern" field: fills either literal or re.
void parse_pattern(const json& j, const std::string& where, std::string& literal, std::unique_ptr<Regex>& re);

// JSON access helpers that name the field on error.
const json& json_field(const json& j, const char* key, const std::string& where);
std::string json_string(const json& j, const char* key, const std::string& where);
std::string json_string_or(const json& j, const char* key, const std::string& fallback, const std::string& where);
bool json_bool_or(const json& j, const char* key, bool fallback, const std::string& where);

// The GPT-2 byte <-> printable-character table used by ByteLevel components.
const std::string& byte_to_unicode(uint8_t b);
int unicode_to_byte(char32_t c);  // -1 when c is not in the table

}  // namespace ia::text
