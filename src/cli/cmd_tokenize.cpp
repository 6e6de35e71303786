// `ipfs-accelerate tokenize` / `detokenize`: encode text with a model's tokenizer (transformers semantics:
// special tokens added by default, tokenizer.json padding/truncation off unless asked) and decode ids back.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "io/model_source.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace {

using nlohmann::json;

struct TokenizeArgs {
  std::string path;
  std::string text, pair, input_file;
  bool has_text = false, has_pair = false;
  bool no_special = false;
  bool keep_file_settings = false;
  size_t max_length = 0;
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

ia::text::Tokenizer open_tokenizer(const std::string& path, bool keep_file_settings) {
  ia::text::Tokenizer tok = ia::text::Tokenizer::from_dir(ia::resolve_model(path));
  if (!keep_file_settings) {
    tok.set_padding(std::nullopt);
    tok.set_truncation(std::nullopt);
  }
  return tok;
}

void run_tokenize(const TokenizeArgs& a) {
  IA_CHECK(a.has_text || !a.input_file.empty(), ia::ErrorKind::InvalidArgument, "tokenize: give --text or --input-file");
  IA_CHECK(!(a.has_text && !a.input_file.empty()), ia::ErrorKind::InvalidArgument,
           "tokenize: --text and --input-file are exclusive");
  ia::text::Tokenizer tok = open_tokenizer(a.path, a.keep_file_settings);
  if (a.max_length > 0) {
    ia::text::TruncationParams t;
    t.max_length = a.max_length;
    tok.set_truncation(t);
  }
  bool special = !a.no_special;
  bool as_json = ia::cli::globals().json;
  if (!a.input_file.empty()) {
    json in;
    try {
      in = json::parse(ia::text::read_text_file(a.input_file));
    } catch (const json::parse_error& e) {
      ia::fail(ia::ErrorKind::Format, "{}: invalid JSON: {}", a.input_file, e.what());
    }
    IA_CHECK(in.is_array(), ia::ErrorKind::Format, "{}: expected a JSON array of strings", a.input_file);
    std::vector<std::string> texts;
    for (size_t i = 0; i < in.size(); ++i) {
      IA_CHECK(in[i].is_string(), ia::ErrorKind::Format, "{}: element {} is not a string", a.input_file, i);
      texts.push_back(in[i].get<std::string>());
    }
    auto encs = tok.encode_batch(texts, special);
    json out = json::array();
    for (auto& e : encs) out.push_back({{"ids", e.ids}, {"tokens", e.tokens}});
    if (as_json) {
      fmt::print("{}\n", dump(out));
    } else {
      for (size_t i = 0; i < encs.size(); ++i) fmt::print("{}: {}\n", i, fmt::join(encs[i].ids, " "));
    }
    return;
  }
  ia::text::Encoding e = a.has_pair ? tok.encode_pair(a.text, a.pair, special) : tok.encode(a.text, special);
  if (as_json) {
    json offsets = json::array();
    for (auto& [b, en] : e.offsets) offsets.push_back({b, en});
    fmt::print("{}\n", dump({{"ids", e.ids},
                             {"tokens", e.tokens},
                             {"type_ids", e.type_ids},
                             {"attention_mask", e.attention_mask},
                             {"special_tokens_mask", e.special_tokens_mask},
                             {"offsets", offsets}}));
    return;
  }
  fmt::print("ids:    {}\n", fmt::join(e.ids, " "));
  fmt::print("tokens: {}\n", dump(e.tokens));
  if (a.has_pair) fmt::print("types:  {}\n", fmt::join(e.type_ids, " "));
  fmt::print("count:  {}\n", e.ids.size());
}

void setup_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Encode text with a tokenizer (tokenizer.json, vocab files or sentencepiece)");
  cmd->add_option("path", a->path, "Model or tokenizer directory, tokenizer.json / .model file, HF id or ipfs://<cid>")->required();
  cmd->add_option("--text", a->text, "Text to encode");
  cmd->add_option("--pair", a->pair, "Second sequence (pair encoding)");
  cmd->add_option("--input-file", a->input_file, "JSON array of strings; prints one {ids, tokens} object per input");
  cmd->add_flag("--no-special-tokens", a->no_special, "Do not add the post-processor's special tokens");
  cmd->add_option("--max-length", a->max_length, "Truncate to this many tokens (longest-first)");
  cmd->add_flag("--file-padding", a->keep_file_settings,
                "Apply the padding/truncation stored in tokenizer.json (as the HF Rust library does)");
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([a, cmd] {
    a->has_text = cmd->count("--text") > 0;
    a->has_pair = cmd->count("--pair") > 0;
    run_tokenize(*a);
  });
}

struct DetokenizeArgs {
  std::string path;
  std::string ids;
  bool skip_special = false;
  bool raw = false;
};

void setup_detokenize(CLI::App& app) {
  auto a = std::make_shared<DetokenizeArgs>();
  auto* cmd = app.add_subcommand("detokenize", "Decode token ids back to text");
  cmd->add_option("path", a->path, "Model or tokenizer directory, tokenizer.json / .model file, HF id or ipfs://<cid>")->required();
  cmd->add_option("--ids", a->ids, "Comma- or space-separated token ids")->required();
  cmd->add_flag("--skip-special-tokens", a->skip_special, "Drop special tokens");
  cmd->add_flag("--raw", a->raw, "HF tokenizers decode only (no transformers clean-up)");
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([a] {
    std::vector<uint32_t> ids;
    std::string cur;
    auto flush = [&] {
      if (cur.empty()) return;
      size_t used = 0;
      unsigned long v = 0;
      try {
        v = std::stoul(cur, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      IA_CHECK(used == cur.size() && v <= 0xFFFFFFFFul, ia::ErrorKind::InvalidArgument, "--ids: '{}' is not a token id", cur);
      ids.push_back(static_cast<uint32_t>(v));
      cur.clear();
    };
    for (char c : a->ids) {
      if (c == ',' || c == ' ' || c == '[' || c == ']') flush();
      else cur.push_back(c);
    }
    flush();
    ia::text::Tokenizer tok = ia::text::Tokenizer::from_dir(ia::resolve_model(a->path));
    std::string text = a->raw ? tok.decode_raw(ids, a->skip_special) : tok.decode(ids, a->skip_special);
    if (ia::cli::globals().json) fmt::print("{}\n", dump({{"text", text}, {"ids", ids}}));
    else fmt::print("{}\n", text);
  });
}

}  // namespace

IA_REGISTER_COMMAND(tokenize, 40, setup_tokenize)
IA_REGISTER_COMMAND(detokenize, 41, setup_detokenize)
