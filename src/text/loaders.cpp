#include "text/loaders.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"
#include "io/safe_path.h"

namespace ia::text {

namespace fs = std::filesystem;

namespace {

bool is_llama_like(const std::string& cls) {
  for (const char* c : {"LlamaTokenizer", "LlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast",
                        "CodeLlamaTokenizer", "CodeLlamaTokenizerFast"})
    if (cls == c) return true;
  return false;
}

// transformers' update_post_processor: "<bos> $A <eos>" / "<bos> $A <eos> <bos> $B:1 <eos>:1".
std::unique_ptr<PostProcessor> bos_eos_template(const std::optional<std::string>& bos, std::optional<uint32_t> bos_id,
                                                bool add_bos, const std::optional<std::string>& eos,
                                                std::optional<uint32_t> eos_id, bool add_eos) {
  json single = json::array(), pair = json::array(), specials = json::object();
  auto special = [&](const std::string& t, uint32_t id, int type) {
    specials[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
    return json{{"SpecialToken", {{"id", t}, {"type_id", type}}}};
  };
  auto seq = [](const char* id, int type) { return json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  for (int k = 0; k < 2; ++k) {
    json& t = k == 0 ? single : pair;
    for (int s = 0; s <= k; ++s) {
      if (add_bos && bos && bos_id) t.push_back(special(*bos, *bos_id, s));
      t.push_back(seq(s == 0 ? "A" : "B", s));
      if (add_eos && eos && eos_id) t.push_back(special(*eos, *eos_id, s));
    }
  }
  json j = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
  return make_post_processor(j, "post_processor");
}

std::optional<uint32_t> lookup(const TokenizerParts& p, const std::optional<std::string>& tok) {
  if (!tok) return std::nullopt;
  for (auto& a : p.added_tokens)
    if (a.content == *tok) return a.id;
  return p.model->token_to_id(*tok);
}

void add_special_if_present(TokenizerParts& p, const std::optional<std::string>& tok) {
  if (!tok) return;
  for (auto& a : p.added_tokens)
    if (a.content == *tok) return;
  if (auto id = p.model->token_to_id(*tok)) {
    AddedToken a;
    a.content = *tok;
    a.id = *id;
    a.special = true;
    a.normalized = false;
    p.added_tokens.push_back(a);
  }
}

void add_config_specials(TokenizerParts& p, const TokenizerConfig& cfg) {
  for (auto* t : {&cfg.unk_token, &cfg.bos_token, &cfg.eos_token, &cfg.pad_token, &cfg.sep_token, &cfg.cls_token,
                  &cfg.mask_token})
    add_special_if_present(p, *t);
  auto extra = cfg.raw.find("additional_special_tokens");
  if (extra != cfg.raw.end() && extra->is_array())
    for (auto& t : *extra)
      if (t.is_string()) add_special_if_present(p, t.get<std::string>());
}

std::unordered_map<std::string, uint32_t> read_json_vocab(const fs::path& file) {
  json j;
  const std::string text = read_text_file(file);
  check_json_depth(text, file.string());
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::Format, "{}: invalid JSON: {}", file.string(), e.what());
  }
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: expected an object of token -> id", file.string());
  std::unordered_map<std::string, uint32_t> v;
  for (auto it = j.begin(); it != j.end(); ++it) {
    IA_CHECK(it.value().is_number_integer(), ErrorKind::Format, "{}: id of '{}' is not an integer", file.string(), it.key());
    v.emplace(it.key(), it.value().get<uint32_t>());
  }
  return v;
}

// --------------------------------------------------------------------------- sentencepiece protobuf reader

struct PbReader {
  const uint8_t* p;
  const uint8_t* end;
  std::string where;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      IA_CHECK(p < end, ErrorKind::Format, "{}: truncated varint", where);
      uint8_t b = *p++;
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(ErrorKind::Format, "{}: varint too long", where);
  }
  std::string_view bytes() {
    uint64_t n = varint();
    IA_CHECK(n <= static_cast<uint64_t>(end - p), ErrorKind::Format, "{}: field length {} exceeds the data", where, n);
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1: IA_CHECK(end - p >= 8, ErrorKind::Format, "{}: truncated", where); p += 8; break;
      case 2: bytes(); break;
      case 5: IA_CHECK(end - p >= 4, ErrorKind::Format, "{}: truncated", where); p += 4; break;
      default: fail(ErrorKind::Format, "{}: unsupported protobuf wire type {}", where, wire);
    }
  }
};

struct SpModel {
  struct Piece {
    std::string piece;
    float score = 0;
    int type = 1;  // NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6
  };
  std::vector<Piece> pieces;
  int model_type = 1;  // UNIGRAM=1 BPE=2
  bool byte_fallback = false;
  int unk_id = 0;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
};

SpModel parse_sp_model(const std::string& data, const std::string& where) {
  SpModel m;
  PbReader r{reinterpret_cast<const uint8_t*>(data.data()), reinterpret_cast<const uint8_t*>(data.data()) + data.size(),
             where};
  while (r.p < r.end) {
    uint64_t key = r.varint();
    int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {
      std::string_view sub = r.bytes();
      PbReader s{reinterpret_cast<const uint8_t*>(sub.data()), reinterpret_cast<const uint8_t*>(sub.data()) + sub.size(),
                 where + " (piece)"};
      SpModel::Piece pc;
      while (s.p < s.end) {
        uint64_t k = s.varint();
        int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (f == 1 && w == 2) pc.piece = std::string(s.bytes());
        else if (f == 2 && w == 5) {
          std::memcpy(&pc.score, s.p, 4);
          s.p += 4;
        } else if (f == 3 && w == 0) pc.type = static_cast<int>(s.varint());
        else s.skip(w);
      }
      m.pieces.push_back(std::move(pc));
    } else if ((field == 2 || field == 3) && wire == 2) {
      std::string_view sub = r.bytes();
      PbReader s{reinterpret_cast<const uint8_t*>(sub.data()), reinterpret_cast<const uint8_t*>(sub.data()) + sub.size(),
                 where + (field == 2 ? " (trainer_spec)" : " (normalizer_spec)")};
      while (s.p < s.end) {
        uint64_t k = s.varint();
        int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (field == 2 && f == 3 && w == 0) m.model_type = static_cast<int>(s.varint());
        else if (field == 2 && f == 35 && w == 0) m.byte_fallback = s.varint() != 0;
        else if (field == 2 && f == 40 && w == 0) m.unk_id = static_cast<int>(s.varint());
        else if (field == 3 && f == 2 && w == 2) m.precompiled_charsmap = std::string(s.bytes());
        else if (field == 3 && f == 3 && w == 0) m.add_dummy_prefix = s.varint() != 0;
        else s.skip(w);
      }
    } else {
      r.skip(wire);
    }
  }
  IA_CHECK(!m.pieces.empty(), ErrorKind::Format, "{}: no pieces (not a sentencepiece model?)", where);
  return m;
}

std::string base64_encode(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(t[(v >> (6 * k)) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(t[(v >> 18) & 63]);
    out.push_back(t[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? t[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

TokenizerParts load_wordpiece_vocab(const fs::path& vocab_txt, const TokenizerConfig& cfg) {
  std::string content = read_text_file(vocab_txt);
  std::unordered_map<std::string, uint32_t> vocab;
  uint32_t id = 0;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t e = content.find('\n', pos);
    if (e == std::string::npos) e = content.size();
    std::string line = content.substr(pos, e - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.emplace(line, id++);
    pos = e + 1;
  }
  TokenizerParts p;
  bool lower = cfg.do_lower_case.value_or(true);
  p.normalizer = make_normalizer({{"type", "BertNormalizer"}, {"lowercase", lower}}, "normalizer");
  p.pre_tokenizer = make_pre_tokenizer({{"type", "BertPreTokenizer"}}, "pre_tokenizer");
  std::string unk = cfg.unk_token.value_or("[UNK]");
  p.model = make_wordpiece(std::move(vocab), unk, "##", 100);
  p.decoder = make_decoder({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}, "decoder");
  TokenizerConfig c = cfg;
  c.unk_token = unk;
  c.cls_token = cfg.cls_token.value_or("[CLS]");
  c.sep_token = cfg.sep_token.value_or("[SEP]");
  c.pad_token = cfg.pad_token.value_or("[PAD]");
  c.mask_token = cfg.mask_token.value_or("[MASK]");
  add_config_specials(p, c);
  auto cls = lookup(p, c.cls_token), sep = lookup(p, c.sep_token);
  IA_CHECK(cls && sep, ErrorKind::Format, "{}: the vocab lacks the '{}' / '{}' tokens", vocab_txt.string(), *c.cls_token,
           *c.sep_token);
  p.post_processor = make_post_processor(
      {{"type", "BertProcessing"}, {"cls", {*c.cls_token, *cls}}, {"sep", {*c.sep_token, *sep}}}, "post_processor");
  return p;
}

TokenizerParts load_bpe_files(const fs::path& vocab_json, const fs::path& merges_txt, const TokenizerConfig& cfg) {
  auto vocab = read_json_vocab(vocab_json);
  std::string content = read_text_file(merges_txt);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < content.size()) {
    size_t e = content.find('\n', pos);
    if (e == std::string::npos) e = content.size();
    std::string line = content.substr(pos, e - pos);
    pos = e + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    IA_CHECK(sp != std::string::npos, ErrorKind::Format, "{}:{}: expected 'a b', got '{}'", merges_txt.string(), line_no,
             line);
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  TokenizerParts p;
  bool prefix_space = cfg.raw.value("add_prefix_space", false);
  p.pre_tokenizer = make_pre_tokenizer({{"type", "ByteLevel"}, {"add_prefix_space", prefix_space}}, "pre_tokenizer");
  p.model = make_bpe(std::move(vocab), merges, BpeOptions{});
  p.decoder = make_decoder({{"type", "ByteLevel"}}, "decoder");
  auto added_json = vocab_json.parent_path() / "added_tokens.json";
  if (fs::exists(added_json)) {
    for (auto& [tok, id] : read_json_vocab(added_json)) {
      AddedToken a;
      a.content = tok;
      a.id = id;
      a.normalized = false;
      p.added_tokens.push_back(a);
    }
  }
  add_config_specials(p, cfg);
  const std::string& cls = cfg.tokenizer_class;
  bool roberta_like = cls.find("Roberta") != std::string::npos || cls.find("Bart") != std::string::npos ||
                      (cls.empty() && p.model->token_to_id("<s>") && p.model->token_to_id("</s>"));
  if (roberta_like) {
    std::string bos = cfg.cls_token.value_or(cfg.bos_token.value_or("<s>"));
    std::string eos = cfg.sep_token.value_or(cfg.eos_token.value_or("</s>"));
    TokenizerConfig c;
    c.bos_token = bos;
    c.eos_token = eos;
    c.unk_token = "<unk>";
    c.pad_token = "<pad>";
    c.mask_token = "<mask>";
    add_config_specials(p, c);
    for (auto& a : p.added_tokens)
      if (a.content == "<mask>") a.lstrip = true;
    auto b = lookup(p, bos), e = lookup(p, eos);
    IA_CHECK(b && e, ErrorKind::Format, "{}: vocab lacks '{}' / '{}'", vocab_json.string(), bos, eos);
    p.post_processor = make_post_processor(
        {{"type", "RobertaProcessing"}, {"cls", {bos, *b}}, {"sep", {eos, *e}}, {"add_prefix_space", prefix_space}},
        "post_processor");
  } else {
    p.post_processor = make_post_processor({{"type", "ByteLevel"}, {"trim_offsets", false}}, "post_processor");
  }
  std::sort(p.added_tokens.begin(), p.added_tokens.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  return p;
}

TokenizerParts load_sentencepiece(const fs::path& model_file, const TokenizerConfig& cfg) {
  SpModel m = parse_sp_model(read_text_file(model_file), model_file.string());
  TokenizerParts p;
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    auto& pc = m.pieces[i];
    if (pc.type == 2 || pc.type == 3 || pc.type == 4) {
      AddedToken a;
      a.content = pc.piece;
      a.id = static_cast<uint32_t>(i);
      a.special = pc.type != 4;
      a.normalized = false;
      p.added_tokens.push_back(a);
    }
  }
  std::string unk = m.unk_id >= 0 && static_cast<size_t>(m.unk_id) < m.pieces.size() ? m.pieces[m.unk_id].piece : "<unk>";
  const char* kSpace = "\xE2\x96\x81";
  if (m.model_type == 2) {
    std::unordered_map<std::string, uint32_t> vocab;
    for (size_t i = 0; i < m.pieces.size(); ++i) vocab.emplace(m.pieces[i].piece, static_cast<uint32_t>(i));
    // transformers' SentencePieceExtractor: every split of a piece into two vocab pieces is a merge, ranked by
    // the piece's score (stable: piece id order, then the ids of the two halves).
    struct M {
      uint32_t l, r;
      float score;
      std::string a, b;
    };
    std::vector<M> merges;
    for (size_t i = 0; i < m.pieces.size(); ++i) {
      const std::string& s = m.pieces[i].piece;
      std::vector<M> local;
      for (size_t k = 1; k < s.size(); ++k) {
        if ((static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) continue;
        auto il = vocab.find(s.substr(0, k)), ir = vocab.find(s.substr(k));
        if (il != vocab.end() && ir != vocab.end()) local.push_back({il->second, ir->second, m.pieces[i].score, il->first, ir->first});
      }
      std::stable_sort(local.begin(), local.end(), [](const M& x, const M& y) { return std::tie(x.l, x.r) < std::tie(y.l, y.r); });
      merges.insert(merges.end(), local.begin(), local.end());
    }
    std::stable_sort(merges.begin(), merges.end(), [](const M& x, const M& y) { return x.score > y.score; });
    std::vector<std::pair<std::string, std::string>> mp;
    mp.reserve(merges.size());
    for (auto& x : merges) mp.emplace_back(x.a, x.b);
    BpeOptions opt;
    opt.unk_token = unk;
    opt.fuse_unk = true;
    opt.byte_fallback = m.byte_fallback;
    p.model = make_bpe(std::move(vocab), mp, opt);
    bool legacy = cfg.raw.value("legacy", true);
    bool prefix = cfg.raw.value("add_prefix_space", true) && m.add_dummy_prefix;
    if (legacy) {
      json seq = json::array();
      if (prefix) seq.push_back({{"type", "Prepend"}, {"prepend", kSpace}});
      seq.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}});
      p.normalizer = make_normalizer({{"type", "Sequence"}, {"normalizers", seq}}, "normalizer");
    } else {
      p.pre_tokenizer = make_pre_tokenizer(
          {{"type", "Metaspace"}, {"replacement", kSpace}, {"prepend_scheme", prefix ? "first" : "never"}, {"split", false}},
          "pre_tokenizer");
    }
    json dec = json::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                            {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
    if (prefix) dec.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    p.decoder = make_decoder({{"type", "Sequence"}, {"decoders", dec}}, "decoder");
    auto bos = cfg.bos_token.value_or("<s>"), eos = cfg.eos_token.value_or("</s>");
    p.post_processor = bos_eos_template(bos, lookup(p, bos), cfg.add_bos_token.value_or(true), eos, lookup(p, eos),
                                        cfg.add_eos_token.value_or(false));
  } else if (m.model_type == 1) {
    std::vector<std::pair<std::string, double>> pieces;
    for (auto& pc : m.pieces) pieces.emplace_back(pc.piece, pc.score);
    p.model = make_unigram(std::move(pieces), static_cast<uint32_t>(m.unk_id), m.byte_fallback);
    if (!m.precompiled_charsmap.empty())
      p.normalizer = make_normalizer({{"type", "Precompiled"}, {"precompiled_charsmap", base64_encode(m.precompiled_charsmap)}},
                                     "normalizer");
    json pre = json::array({{{"type", "WhitespaceSplit"}},
                            {{"type", "Metaspace"}, {"replacement", kSpace}, {"add_prefix_space", m.add_dummy_prefix}}});
    p.pre_tokenizer = make_pre_tokenizer({{"type", "Sequence"}, {"pretokenizers", pre}}, "pre_tokenizer");
    p.decoder = make_decoder({{"type", "Metaspace"}, {"replacement", kSpace}, {"add_prefix_space", m.add_dummy_prefix}},
                             "decoder");
    bool t5 = cfg.tokenizer_class.rfind("T5", 0) == 0;
    auto eos = cfg.eos_token.value_or("</s>");
    if (cfg.add_eos_token.value_or(t5) || cfg.add_bos_token.value_or(false)) {
      auto bos = cfg.bos_token.value_or("<s>");
      p.post_processor = bos_eos_template(bos, lookup(p, bos), cfg.add_bos_token.value_or(false), eos, lookup(p, eos),
                                          cfg.add_eos_token.value_or(t5));
    }
  } else {
    fail(ErrorKind::Unsupported, "{}: sentencepiece model type {} is not supported (only UNIGRAM=1 and BPE=2)",
         model_file.string(), m.model_type);
  }
  add_config_specials(p, cfg);
  return p;
}

Tokenizer Tokenizer::from_dir(const fs::path& path) {
  IA_CHECK(fs::exists(path), ErrorKind::NotFound, "tokenizer path {} does not exist", path.string());
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  TokenizerConfig cfg = load_tokenizer_config(dir);
  TokenizerParts parts;
  auto name_of = [](const fs::path& p) { return p.filename().string(); };
  std::optional<fs::path> json_file, sp_file;
  if (!fs::is_directory(path)) {
    std::string n = name_of(path);
    if (n.find(".json") != std::string::npos) json_file = path;
    else if (n.find(".model") != std::string::npos) sp_file = path;
    else fail(ErrorKind::InvalidArgument, "{}: expected a directory, a tokenizer.json(.gz) or a sentencepiece .model", path.string());
  } else if (fs::exists(dir / "tokenizer.json")) {
    json_file = dir / "tokenizer.json";
  } else if (fs::exists(dir / "tokenizer.json.gz")) {
    json_file = dir / "tokenizer.json.gz";
  }
  if (json_file) {
    parts = parse_tokenizer_json(read_text_file(*json_file), json_file->string());
    // transformers' Llama/Gemma tokenizers rebuild the post-processor from add_bos_token / add_eos_token.
    if (is_llama_like(cfg.tokenizer_class) && (cfg.add_bos_token || cfg.add_eos_token)) {
      auto bos = cfg.bos_token, eos = cfg.eos_token;
      parts.post_processor = bos_eos_template(bos, lookup(parts, bos), cfg.add_bos_token.value_or(true), eos,
                                              lookup(parts, eos), cfg.add_eos_token.value_or(false));
    }
  } else if (!sp_file && fs::exists(dir / "vocab.txt")) {
    parts = load_wordpiece_vocab(dir / "vocab.txt", cfg);
  } else if (!sp_file && fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) {
    parts = load_bpe_files(dir / "vocab.json", dir / "merges.txt", cfg);
  } else {
    if (!sp_file) {
      for (const char* n : {"tokenizer.model", "spiece.model", "sentencepiece.bpe.model"})
        if (fs::exists(dir / n)) {
          sp_file = dir / n;
          break;
        }
    }
    if (!sp_file) {
      for (auto& e : fs::directory_iterator(dir))
        if (name_of(e.path()).find(".model") != std::string::npos && name_of(e.path()).rfind("original_", 0) != 0) {
          sp_file = e.path();
          break;
        }
    }
    IA_CHECK(sp_file.has_value(), ErrorKind::NotFound,
             "{}: no tokenizer.json(.gz), vocab.txt, vocab.json + merges.txt or sentencepiece .model found", dir.string());
    parts = load_sentencepiece(*sp_file, cfg);
  }
  return Tokenizer(std::move(parts), std::move(cfg));
}

}  // namespace ia::text
