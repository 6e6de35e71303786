// tokenizer.json decoders: ByteLevel, WordPiece, Metaspace, ByteFallback, Fuse, Strip, Replace, BPEDecoder,
// CTC and Sequence, each a transformation of the token-string list as in HF's decode_chain.
#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  std::string out;
  size_t pos = 0, prev = 0;
  while ((pos = s.find(from, prev)) != std::string::npos) {
    out.append(s, prev, pos - prev);
    out.append(to);
    prev = pos + from.size();
  }
  out.append(s, prev, std::string::npos);
  return out;
}

// transformers / HF `cleanup`: removes spaces before punctuation and inside common English contractions.
std::string wordpiece_cleanup(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto& [a, b] : kRules) s = replace_all(std::move(s), a, b);
  return s;
}

class ByteLevelDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (auto& t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        int b = unicode_to_byte(utf8_next(t, i));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class WordPieceDec : public Decoder {
 public:
  WordPieceDec(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t.insert(0, " ");
      }
      if (cleanup_) t = wordpiece_cleanup(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDec : public Decoder {
 public:
  MetaspaceDec(std::string rep, bool prepend) : rep_(std::move(rep)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = replace_all(std::move(tokens[i]), rep_, i == 0 && prepend_ ? "" : " ");
    }
  }

 private:
  std::string rep_;
  bool prepend_;
};

class ByteFallbackDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8_valid(pending)) out.push_back(pending);
      else
        for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
        if (hex(t[3]) && hex(t[4])) byte = std::stoi(t.substr(3, 2), nullptr, 16);
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string s;
    for (auto& t : tokens) s += t;
    tokens.assign(1, s);
  }
};

class StripDec : public Decoder {
 public:
  StripDec(char32_t c, size_t start, size_t stop) : c_(c), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> cs;
      for (size_t i = 0; i < t.size();) {
        size_t b = i;
        cs.emplace_back(b, utf8_next(t, i));
      }
      size_t sc = 0;
      for (size_t i = 0; i < std::min(start_, cs.size()); ++i) {
        if (cs[i].second != c_) break;
        sc = i + 1;
      }
      size_t ec = cs.size();
      for (size_t i = 0; i < stop_ && i < cs.size(); ++i) {
        size_t idx = cs.size() - i - 1;
        if (cs[idx].second != c_) break;
        ec = idx;
      }
      if (ec < sc) ec = sc;
      size_t bb = sc < cs.size() ? cs[sc].first : t.size();
      size_t eb = ec < cs.size() ? cs[ec].first : t.size();
      t = t.substr(bb, eb - bb);
    }
  }

 private:
  char32_t c_;
  size_t start_, stop_;
};

class ReplaceDec : public Decoder {
 public:
  ReplaceDec(std::string literal, std::unique_ptr<Regex> re, std::string content)
      : literal_(std::move(literal)), re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      if (!re_) {
        t = replace_all(std::move(t), literal_, content_);
        continue;
      }
      std::vector<std::pair<size_t, size_t>> m;
      re_->find_all(t, m);
      std::string out;
      size_t prev = 0;
      for (auto [b, e] : m) {
        out.append(t, prev, b - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class BpeDec : public Decoder {
 public:
  explicit BpeDec(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(std::move(tokens[i]), suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class CtcDec : public Decoder {
 public:
  CtcDec(std::string pad, std::string delim, bool cleanup)
      : pad_(std::move(pad)), delim_(std::move(delim)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;
      std::string r = replace_all(tokens[i], pad_, "");
      if (cleanup_) r = replace_all(wordpiece_cleanup(std::move(r)), delim_, " ");
      if (!r.empty()) out.push_back(std::move(r));
    }
    tokens = std::move(out);
  }

 private:
  std::string pad_, delim_;
  bool cleanup_;
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(std::vector<std::unique_ptr<Decoder>> v) : v_(std::move(v)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& d : v_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> v_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  std::string type = json_string(j, "type", where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDec>(json_string_or(j, "prefix", "##", where), json_bool_or(j, "cleanup", true, where));
  }
  if (type == "Metaspace") {
    std::string rep = json_string_or(j, "replacement", "\xE2\x96\x81", where);
    bool prepend = true;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) prepend = json_string(j, "prepend_scheme", where) != "never";
    else prepend = json_bool_or(j, "add_prefix_space", true, where);
    return std::make_unique<MetaspaceDec>(rep, prepend);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (type == "Fuse") return std::make_unique<FuseDec>();
  if (type == "Strip") {
    std::string c = json_string(j, "content", where);
    size_t i = 0;
    char32_t ch = c.empty() ? U' ' : utf8_next(c, i);
    return std::make_unique<StripDec>(ch, j.value("start", 0u), j.value("stop", 0u));
  }
  if (type == "Replace") {
    std::string literal;
    std::unique_ptr<Regex> re;
    parse_pattern(j, where, literal, re);
    return std::make_unique<ReplaceDec>(literal, std::move(re), json_string(j, "content", where));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeDec>(json_string_or(j, "suffix", "</w>", where));
  if (type == "CTC") {
    return std::make_unique<CtcDec>(json_string_or(j, "pad_token", "<pad>", where),
                                    json_string_or(j, "word_delimiter_token", "|", where),
                                    json_bool_or(j, "cleanup", true, where));
  }
  if (type == "Sequence") {
    const json& arr = json_field(j, "decoders", where);
    IA_CHECK(arr.is_array(), ErrorKind::Format, "{}.decoders: expected an array, got {}", where, arr.type_name());
    std::vector<std::unique_ptr<Decoder>> v;
    for (size_t i = 0; i < arr.size(); ++i) v.push_back(make_decoder(arr[i], fmt::format("{}.decoders[{}]", where, i)));
    return std::make_unique<SequenceDec>(std::move(v));
  }
  fail(ErrorKind::Unsupported, "unsupported decoder {} (at {})", type, where);
}

}  // namespace ia::text
