// Builders of tokenizer pipelines: from tokenizer.json content, and from the legacy files transformers
// converts (vocab.txt, vocab.json + merges.txt, sentencepiece .model), mirroring transformers' converters.
#pragma once
#include <filesystem>
#include <string>

#include "text/tokenizer.h"

namespace ia::text {

TokenizerParts parse_tokenizer_json(const std::string& content, const std::string& source);
TokenizerParts load_wordpiece_vocab(const std::filesystem::path& vocab_txt, const TokenizerConfig& cfg);
TokenizerParts load_bpe_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                              const TokenizerConfig& cfg);
TokenizerParts load_sentencepiece(const std::filesystem::path& model_file, const TokenizerConfig& cfg);

}  // namespace ia::text
