#include "text/tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <unordered_set>

#include "core/error.h"
#include "core/thread_pool.h"
#include "text/components.h"
#include "text/loaders.h"
#include "text/unicode.h"
#include "io/safe_path.h"

namespace ia::text {

namespace fs = std::filesystem;

// Finds added tokens in text, leftmost-longest, with the lstrip/rstrip/single_word rules of HF.
class AddedVocabulary {
 public:
  AddedVocabulary(const std::vector<AddedToken>& tokens, const Normalizer* normalizer) : tokens_(tokens) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& t = tokens_[i];
      by_content_[t.content] = t.id;
      by_id_[t.id] = i;
      if (t.special) special_contents_.insert(t.content);
      if (t.content.empty()) continue;
      if (t.normalized) {
        NormalizedString ns(t.content, 0);
        if (normalizer) normalizer->normalize(ns);
        normalized_.insert(ns.str(), i);
      } else {
        raw_.insert(t.content, i);
      }
    }
  }

  std::optional<uint32_t> token_to_id(std::string_view s) const {
    auto it = by_content_.find(std::string(s));
    if (it == by_content_.end()) return std::nullopt;
    return it->second;
  }
  const AddedToken* by_id(uint32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &tokens_[it->second];
  }
  bool is_special_content(const std::string& s) const { return special_contents_.count(s) > 0; }

  // Splits the input into added-token splits and normalized text splits.
  PreTokenizedString extract_and_normalize(const std::string& text, const Normalizer* normalizer) const {
    PreTokenizedString pts;
    std::vector<std::pair<NormalizedString, int64_t>> first;
    split_matches(NormalizedString(text, 0), raw_, first);
    for (auto& [ns, tok] : first) {
      if (tok >= 0) {
        pts.splits.push_back(make_token_split(std::move(ns), tok));
        continue;
      }
      if (normalizer) normalizer->normalize(ns);
      std::vector<std::pair<NormalizedString, int64_t>> second;
      split_matches(std::move(ns), normalized_, second);
      for (auto& [ns2, tok2] : second) {
        if (ns2.empty()) continue;
        if (tok2 >= 0) pts.splits.push_back(make_token_split(std::move(ns2), tok2));
        else pts.splits.push_back(Split{std::move(ns2), {}, false});
      }
    }
    return pts;
  }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> next;
      int64_t token = -1;
    };
    std::vector<Node> nodes{Node{}};
    std::array<bool, 256> first{};
    bool empty = true;
    void insert(const std::string& s, size_t token) {
      if (s.empty()) return;
      empty = false;
      first[static_cast<unsigned char>(s[0])] = true;
      int32_t n = 0;
      for (unsigned char c : s) {
        int32_t nx = child(n, c);
        if (nx < 0) {
          nx = static_cast<int32_t>(nodes.size());
          nodes[n].next.emplace_back(c, nx);
          nodes.push_back(Node{});
        }
        n = nx;
      }
      if (nodes[n].token < 0) nodes[n].token = static_cast<int64_t>(token);
    }
    int32_t child(int32_t n, unsigned char c) const {
      for (auto& [k, v] : nodes[n].next)
        if (k == c) return v;
      return -1;
    }
    // Longest token starting at i: returns (token index, length) or (-1, 0).
    std::pair<int64_t, size_t> longest(std::string_view s, size_t i) const {
      int64_t best = -1;
      size_t len = 0;
      int32_t n = 0;
      for (size_t k = i; k < s.size(); ++k) {
        n = child(n, static_cast<unsigned char>(s[k]));
        if (n < 0) break;
        if (nodes[n].token >= 0) {
          best = nodes[n].token;
          len = k + 1 - i;
        }
      }
      return {best, len};
    }
  };

  static bool ends_with_word(std::string_view s) {
    if (s.empty()) return false;
    size_t i = s.size() - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    return is_word_char(utf8_next(s, j));
  }
  static bool starts_with_word(std::string_view s) {
    if (s.empty()) return false;
    size_t j = 0;
    return is_word_char(utf8_next(s, j));
  }

  void split_matches(NormalizedString ns, const Trie& trie, std::vector<std::pair<NormalizedString, int64_t>>& out) const {
    const std::string& s = ns.str();
    if (trie.empty || s.empty()) {
      out.emplace_back(std::move(ns), -1);
      return;
    }
    size_t start_offset = 0;
    size_t i = 0;
    std::vector<std::tuple<size_t, size_t, int64_t>> parts;
    while (i < s.size()) {
      if (!trie.first[static_cast<unsigned char>(s[i])]) {
        ++i;
        continue;
      }
      auto [tok, len] = trie.longest(s, i);
      if (tok < 0) {
        ++i;
        continue;
      }
      size_t start = i, stop = i + len;
      i = stop;
      const AddedToken& t = tokens_[static_cast<size_t>(tok)];
      if (t.single_word) {
        bool start_space = start == 0 || !ends_with_word(std::string_view(s).substr(0, start));
        bool stop_space = stop == s.size() || !starts_with_word(std::string_view(s).substr(stop));
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) {
        size_t ns_start = start;
        while (ns_start > 0) {
          size_t k = ns_start - 1;
          while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
          size_t j = k;
          if (!is_whitespace(utf8_next(s, j))) break;
          ns_start = k;
        }
        start = std::max(ns_start, start_offset);
      }
      if (t.rstrip) {
        while (stop < s.size()) {
          size_t j = stop;
          if (!is_whitespace(utf8_next(s, j))) break;
          stop = j;
        }
        i = stop;
      }
      if (start_offset < start) parts.emplace_back(start_offset, start, -1);
      parts.emplace_back(start, stop, tok);
      start_offset = stop;
    }
    if (parts.empty()) {
      out.emplace_back(std::move(ns), -1);
      return;
    }
    if (start_offset < s.size()) parts.emplace_back(start_offset, s.size(), -1);
    for (auto& [b, e, tok] : parts) out.emplace_back(ns.slice(b, e), tok);
  }

  Split make_token_split(NormalizedString ns, int64_t tok) const {
    const AddedToken& t = tokens_[static_cast<size_t>(tok)];
    Split sp;
    sp.has_tokens = true;
    sp.tokens.push_back(Token{t.id, ns.str(), 0, static_cast<uint32_t>(ns.size())});
    sp.normalized = std::move(ns);
    return sp;
  }

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, uint32_t> by_content_;
  std::unordered_map<uint32_t, size_t> by_id_;
  std::unordered_set<std::string> special_contents_;
  Trie raw_, normalized_;
};

// ------------------------------------------------------------------------------------------------ loading

std::string read_text_file(const fs::path& file) {
  std::string name = file.filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(file.string().c_str(), "rb");
    IA_CHECK(f != nullptr, ErrorKind::Io, "cannot open {}", file.string());
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    int err = 0;
    const char* msg = n < 0 ? gzerror(f, &err) : nullptr;
    gzclose(f);
    IA_CHECK(n == 0, ErrorKind::Format, "{}: corrupt gzip data ({})", file.string(), msg ? msg : "?");
    return out;
  }
  std::ifstream in(file, std::ios::binary);
  IA_CHECK(in.good(), ErrorKind::Io, "cannot open {}", file.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

namespace {

json parse_json(const std::string& content, const std::string& source) {
  check_json_depth(content, source);
  try {
    return json::parse(content);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::Format, "{}: invalid JSON: {}", source, e.what());
  }
}

std::optional<fs::path> find_file(const fs::path& dir, const std::string& name) {
  if (fs::exists(dir / name)) return dir / name;
  if (fs::exists(dir / (name + ".gz"))) return dir / (name + ".gz");
  return std::nullopt;
}

// A special token in tokenizer_config.json: a string or an {"content": ...} AddedToken object.
std::optional<std::string> token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

std::vector<AddedToken> parse_added_tokens(const json& arr, const std::string& where) {
  std::vector<AddedToken> out;
  if (arr.is_null()) return out;
  IA_CHECK(arr.is_array(), ErrorKind::Format, "{}: expected an array, got {}", where, arr.type_name());
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string w = fmt::format("{}[{}]", where, i);
    const json& t = arr[i];
    AddedToken a;
    const json& id = json_field(t, "id", w);
    IA_CHECK(id.is_number_integer(), ErrorKind::Format, "{}.id: expected an integer, got {}", w, id.type_name());
    a.id = id.get<uint32_t>();
    a.content = json_string(t, "content", w);
    a.special = json_bool_or(t, "special", false, w);
    a.normalized = json_bool_or(t, "normalized", !a.special, w);
    a.lstrip = json_bool_or(t, "lstrip", false, w);
    a.rstrip = json_bool_or(t, "rstrip", false, w);
    a.single_word = json_bool_or(t, "single_word", false, w);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

TokenizerConfig load_tokenizer_config(const fs::path& dir) {
  TokenizerConfig cfg;
  json merged = json::object();
  if (auto p = find_file(dir, "special_tokens_map.json")) {
    json j = parse_json(read_text_file(*p), p->string());
    if (j.is_object()) merged.update(j);
  }
  if (auto p = find_file(dir, "tokenizer_config.json")) {
    json j = parse_json(read_text_file(*p), p->string());
    IA_CHECK(j.is_object(), ErrorKind::Format, "{}: expected a JSON object", p->string());
    merged.update(j);
  }
  cfg.raw = merged;
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = merged.find(k);
    return it == merged.end() ? std::nullopt : token_content(*it);
  };
  auto boolean = [&](const char* k) -> std::optional<bool> {
    auto it = merged.find(k);
    if (it == merged.end() || !it->is_boolean()) return std::nullopt;
    return it->get<bool>();
  };
  cfg.tokenizer_class = str("tokenizer_class").value_or("");
  cfg.bos_token = str("bos_token");
  cfg.eos_token = str("eos_token");
  cfg.unk_token = str("unk_token");
  cfg.pad_token = str("pad_token");
  cfg.sep_token = str("sep_token");
  cfg.cls_token = str("cls_token");
  cfg.mask_token = str("mask_token");
  cfg.add_bos_token = boolean("add_bos_token");
  cfg.add_eos_token = boolean("add_eos_token");
  cfg.clean_up_tokenization_spaces = boolean("clean_up_tokenization_spaces");
  cfg.do_lower_case = boolean("do_lower_case");
  if (merged.contains("chat_template")) cfg.chat_template = merged["chat_template"];
  return cfg;
}

TokenizerParts parse_tokenizer_json(const std::string& content, const std::string& source) {
  json j = parse_json(content, source);
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: expected a JSON object at the top level", source);
  TokenizerParts parts;
  try {
    auto section = [&](const char* k) -> const json* {
      auto it = j.find(k);
      return it == j.end() || it->is_null() ? nullptr : &*it;
    };
    if (auto s = section("normalizer")) parts.normalizer = make_normalizer(*s, "normalizer");
    if (auto s = section("pre_tokenizer")) parts.pre_tokenizer = make_pre_tokenizer(*s, "pre_tokenizer");
    parts.model = make_model(json_field(j, "model", "tokenizer"), "model");
    if (auto s = section("post_processor")) parts.post_processor = make_post_processor(*s, "post_processor");
    if (auto s = section("decoder")) parts.decoder = make_decoder(*s, "decoder");
    if (auto s = section("added_tokens")) parts.added_tokens = parse_added_tokens(*s, "added_tokens");
    if (auto s = section("truncation")) {
      TruncationParams t;
      const json& m = json_field(*s, "max_length", "truncation");
      IA_CHECK(m.is_number_integer(), ErrorKind::Format, "truncation.max_length: expected an integer");
      t.max_length = m.get<size_t>();
      t.stride = s->value("stride", 0u);
      std::string strat = json_string_or(*s, "strategy", "LongestFirst", "truncation");
      if (strat == "LongestFirst") t.strategy = TruncationParams::Strategy::LongestFirst;
      else if (strat == "OnlyFirst") t.strategy = TruncationParams::Strategy::OnlyFirst;
      else if (strat == "OnlySecond") t.strategy = TruncationParams::Strategy::OnlySecond;
      else fail(ErrorKind::Format, "truncation.strategy: unsupported value '{}'", strat);
      t.left = json_string_or(*s, "direction", "Right", "truncation") == "Left";
      parts.truncation = t;
    }
    if (auto s = section("padding")) {
      PaddingParams p;
      const json& st = json_field(*s, "strategy", "padding");
      if (st.is_object() && st.contains("Fixed")) p.fixed_length = st["Fixed"].get<size_t>();
      else IA_CHECK(st == "BatchLongest", ErrorKind::Format, "padding.strategy: expected \"BatchLongest\" or {{\"Fixed\": n}}");
      p.left = json_string_or(*s, "direction", "Right", "padding") == "Left";
      if (s->contains("pad_to_multiple_of") && !(*s)["pad_to_multiple_of"].is_null())
        p.pad_to_multiple_of = (*s)["pad_to_multiple_of"].get<size_t>();
      p.pad_id = s->value("pad_id", 0u);
      p.pad_type_id = s->value("pad_type_id", 0u);
      p.pad_token = json_string_or(*s, "pad_token", "[PAD]", "padding");
      parts.padding = p;
    }
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", source, e.what()));
  } catch (const json::exception& e) {
    fail(ErrorKind::Format, "{}: {}", source, e.what());
  }
  return parts;
}

Tokenizer Tokenizer::from_json_string(const std::string& content, const std::string& source, TokenizerConfig config) {
  return Tokenizer(parse_tokenizer_json(content, source), std::move(config));
}

Tokenizer Tokenizer::from_file(const fs::path& file, TokenizerConfig config) {
  return from_json_string(read_text_file(file), file.string(), std::move(config));
}

Tokenizer::Tokenizer(TokenizerParts parts, TokenizerConfig config)
    : parts_(std::move(parts)), config_(std::move(config)) {
  IA_CHECK(parts_.model != nullptr, ErrorKind::InvalidArgument, "tokenizer has no model");
  // tokenizer_config.json may declare more added tokens than tokenizer.json (transformers adds them).
  auto atd = config_.raw.find("added_tokens_decoder");
  if (atd != config_.raw.end() && atd->is_object()) {
    for (auto it = atd->begin(); it != atd->end(); ++it) {
      auto content = token_content(it.value());
      if (!content) continue;
      bool known = std::any_of(parts_.added_tokens.begin(), parts_.added_tokens.end(),
                               [&](const AddedToken& a) { return a.content == *content; });
      if (known) continue;
      AddedToken a;
      a.content = *content;
      const std::string& key = it.key();
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), a.id);
      IA_CHECK(ec == std::errc() && end == key.data() + key.size(), ErrorKind::Format,
               "tokenizer_config.json: added_tokens_decoder key '{}' is not a token id", key);
      a.special = it.value().value("special", false);
      a.normalized = it.value().value("normalized", !a.special);
      a.lstrip = it.value().value("lstrip", false);
      a.rstrip = it.value().value("rstrip", false);
      a.single_word = it.value().value("single_word", false);
      parts_.added_tokens.push_back(a);
    }
  }
  added_ = std::make_unique<AddedVocabulary>(parts_.added_tokens, parts_.normalizer.get());
  truncation_ = parts_.truncation;
  padding_ = parts_.padding;
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// ----------------------------------------------------------------------------------------------- encoding

Encoding Tokenizer::encode_one(std::string_view input) const {
  std::string text = utf8_valid(input) ? std::string(input) : utf8_lossy(input);
  PreTokenizedString pts = added_->extract_and_normalize(text, parts_.normalizer.get());
  if (parts_.pre_tokenizer) parts_.pre_tokenizer->pre_tokenize(pts);
  Encoding e;
  std::vector<Token> toks;
  for (size_t word = 0; word < pts.splits.size(); ++word) {
    auto& sp = pts.splits[word];
    const std::vector<Token>* src = &sp.tokens;
    if (!sp.has_tokens) {
      toks.clear();
      parts_.model->tokenize(sp.normalized.str(), toks);
      src = &toks;
    }
    for (auto& t : *src) {
      e.ids.push_back(t.id);
      e.tokens.push_back(t.value);
      e.offsets.push_back(sp.normalized.original_range(t.start, t.end));
      e.word_ids.push_back(static_cast<int32_t>(word));
    }
  }
  size_t n = e.ids.size();
  e.type_ids.assign(n, 0);
  e.special_tokens_mask.assign(n, 0);
  e.attention_mask.assign(n, 1);
  e.sequence_ids.assign(n, 0);
  return e;
}

Encoding Tokenizer::post_process(Encoding a, std::optional<Encoding> b, bool add_special_tokens) const {
  if (truncation_) {
    TruncationParams t = *truncation_;
    size_t added = add_special_tokens && parts_.post_processor ? parts_.post_processor->added_tokens(b.has_value()) : 0;
    IA_CHECK(t.max_length >= added, ErrorKind::InvalidArgument,
             "truncation max_length {} is smaller than the {} special tokens added", t.max_length, added);
    size_t max_len = t.max_length - added;
    if (!b) {
      a.truncate(max_len, t.stride, t.left);
    } else {
      size_t n1 = a.size(), n2 = b->size();
      if (n1 + n2 > max_len) {
        switch (t.strategy) {
          case TruncationParams::Strategy::LongestFirst: {
            bool swap = n1 > n2;
            if (swap) std::swap(n1, n2);
            if (n1 > max_len) n2 = n1;
            else n2 = std::max(n1, max_len - n1);
            if (n1 + n2 > max_len) {
              n1 = max_len / 2;
              n2 = n1 + max_len % 2;
            }
            if (swap) std::swap(n1, n2);
            a.truncate(n1, t.stride, t.left);
            b->truncate(n2, t.stride, t.left);
            break;
          }
          case TruncationParams::Strategy::OnlyFirst:
            IA_CHECK(n2 < max_len, ErrorKind::InvalidArgument, "truncation OnlyFirst: the second sequence alone is too long");
            a.truncate(max_len - n2, t.stride, t.left);
            break;
          case TruncationParams::Strategy::OnlySecond:
            IA_CHECK(n1 < max_len, ErrorKind::InvalidArgument, "truncation OnlySecond: the first sequence alone is too long");
            b->truncate(max_len - n1, t.stride, t.left);
            break;
        }
      }
    }
  }
  Encoding out = parts_.post_processor ? parts_.post_processor->process(std::move(a), std::move(b), add_special_tokens)
                                       : merge_encodings(std::move(a), std::move(b));
  return out;
}

void Tokenizer::pad_batch(std::vector<Encoding>& encs) const {
  if (!padding_ || encs.empty()) return;
  size_t target = 0;
  if (padding_->fixed_length) target = *padding_->fixed_length;
  else
    for (auto& e : encs) target = std::max(target, e.size());
  size_t m = padding_->pad_to_multiple_of;
  if (m > 0 && target % m != 0) target += m - target % m;
  for (auto& e : encs) e.pad(target, padding_->pad_id, padding_->pad_type_id, padding_->pad_token, padding_->left);
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<Encoding> v;
  v.push_back(post_process(encode_one(text), std::nullopt, add_special_tokens));
  pad_batch(v);
  return std::move(v[0]);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, bool add_special_tokens) const {
  std::vector<Encoding> v;
  v.push_back(post_process(encode_one(a), encode_one(b), add_special_tokens));
  pad_batch(v);
  return std::move(v[0]);
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, bool add_special_tokens) const {
  std::vector<Encoding> out(texts.size());
  parallel_for(0, static_cast<int64_t>(texts.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      out[static_cast<size_t>(i)] = post_process(encode_one(texts[static_cast<size_t>(i)]), std::nullopt, add_special_tokens);
  });
  pad_batch(out);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                                    bool add_special_tokens) const {
  std::vector<Encoding> out(pairs.size());
  parallel_for(0, static_cast<int64_t>(pairs.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      auto& p = pairs[static_cast<size_t>(i)];
      out[static_cast<size_t>(i)] = post_process(encode_one(p.first), encode_one(p.second), add_special_tokens);
    }
  });
  pad_batch(out);
  return out;
}

// ----------------------------------------------------------------------------------------------- decoding

std::string clean_up_tokenization(std::string s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto& [from, to] : kRules) {
    std::string out;
    size_t prev = 0, pos;
    while ((pos = s.find(from, prev)) != std::string::npos) {
      out.append(s, prev, pos - prev);
      out.append(to);
      prev = pos + from.size();
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }
  return s;
}

std::string Tokenizer::decode_raw(const std::vector<uint32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (uint32_t id : ids) {
    std::string tok;
    if (const AddedToken* a = added_->by_id(id)) tok = a->content;
    else if (const std::string* s = parts_.model->id_to_token(id)) tok = *s;
    else continue;
    if (skip_special_tokens && added_->is_special_content(tok)) continue;
    tokens.push_back(std::move(tok));
  }
  if (parts_.decoder) return parts_.decoder->decode(std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

std::string Tokenizer::convert_tokens_to_string(const std::vector<std::string>& tokens) const {
  if (parts_.decoder) return parts_.decoder->decode(tokens);
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
  return out;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special_tokens,
                              std::optional<bool> clean_up) const {
  std::string text = decode_raw(ids, skip_special_tokens);
  if (config_.tokenizer_class == "CLIPTokenizer" || config_.tokenizer_class == "CLIPTokenizerFast") {
    // transformers' CLIPTokenizerFast turns the "</w>" word suffix into spaces and strips the ends.
    std::string out;
    size_t prev = 0, pos;
    while ((pos = text.find("</w>", prev)) != std::string::npos) {
      out.append(text, prev, pos - prev);
      out.push_back(' ');
      prev = pos + 4;
    }
    out.append(text, prev, std::string::npos);
    size_t b = out.find_first_not_of(" \t\n\r\f\v"), e = out.find_last_not_of(" \t\n\r\f\v");
    text = b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
  }
  if (clean_up.value_or(config_.clean_up_tokenization_spaces.value_or(default_clean_up()))) {
    text = clean_up_tokenization(std::move(text));
  }
  return text;
}

bool Tokenizer::default_clean_up() const {
  // transformers: False unless the tokenizer class defaults to True (the BERT family and CLIP, WordPiece vocabularies).
  const std::string& cls = config_.tokenizer_class;
  if (cls.empty()) return std::string_view(parts_.model->type()) == "WordPiece";
  for (const char* p : {"Bert", "DistilBert", "Electra", "MobileBert", "Funnel", "Lxmert", "Layout", "SqueezeBert", "CLIP"})
    if (cls.rfind(p, 0) == 0) return true;
  return false;
}

std::optional<uint32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_->token_to_id(token)) return id;
  return parts_.model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(uint32_t id) const {
  if (const AddedToken* a = added_->by_id(id)) return a->content;
  if (const std::string* s = parts_.model->id_to_token(id)) return *s;
  return std::nullopt;
}

size_t Tokenizer::vocab_size(bool with_added_tokens) const {
  size_t n = parts_.model->vocab_size();
  if (!with_added_tokens) return n;
  for (auto& a : parts_.added_tokens)
    if (!parts_.model->token_to_id(a.content)) ++n;
  return n;
}

bool Tokenizer::is_special(uint32_t id) const {
  const AddedToken* a = added_->by_id(id);
  return a && a->special;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return parts_.added_tokens; }

}  // namespace ia::text
