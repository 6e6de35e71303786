// tokenizer.json normalizers: Unicode forms, case, accents, BERT cleanup, replace/prepend/strip, the
// sentencepiece precompiled charsmap, and sequences of them.
#include <cstring>
#include <memory>

#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

// Splits text into runs that normalize independently: a run starts at every code point below U+0300 (these
// never compose with what precedes them), so offsets stay exact outside the runs that actually change.
std::vector<std::pair<size_t, size_t>> norm_segments(std::string_view s) {
  std::vector<std::pair<size_t, size_t>> segs;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t b = i;
    char32_t c = utf8_next(s, i);
    if (c < 0x300 && b > start) {
      segs.emplace_back(start, b);
      start = b;
    }
  }
  if (start < s.size()) segs.emplace_back(start, s.size());
  return segs;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormForm f) : form_(f) {}
  void normalize(NormalizedString& s) const override {
    if (is_ascii(s.str())) return;
    s.replace_segments(norm_segments(s.str()), [&](std::string_view seg) { return text::normalize(seg, form_); });
  }

 private:
  NormForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::string& out) { append_lowercase(out, c); });
  }
};

class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::string& out) {
      if (!is_mark(c)) utf8_append(out, c);
    });
  }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip, bool lower)
      : clean_(clean), chinese_(chinese), strip_(strip), lower_(lower) {}
  void normalize(NormalizedString& s) const override {
    if (clean_) {
      s.map_chars([](char32_t c, std::string& out) {
        if (c == 0 || c == 0xFFFD) return;
        if (c == '\t' || c == '\n' || c == '\r' || is_whitespace(c)) {
          out.push_back(' ');
          return;
        }
        if (is_control_other(c)) return;
        utf8_append(out, c);
      });
    }
    if (chinese_) {
      s.map_chars([](char32_t c, std::string& out) {
        if (is_cjk(c)) {
          out.push_back(' ');
          utf8_append(out, c);
          out.push_back(' ');
        } else {
          utf8_append(out, c);
        }
      });
    }
    if (strip_) {
      UnicodeNormalizer(NormForm::NFD).normalize(s);
      s.map_chars([](char32_t c, std::string& out) {
        if (!is_nonspacing_mark(c)) utf8_append(out, c);
      });
    }
    if (lower_) Lowercase().normalize(s);
  }

 private:
  bool clean_, chinese_, strip_, lower_;
};

class Replace : public Normalizer {
 public:
  Replace(std::string literal, std::unique_ptr<Regex> re, std::string content)
      : literal_(std::move(literal)), re_(std::move(re)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    std::vector<std::pair<size_t, size_t>> ranges;
    if (re_) {
      re_->find_all(s.str(), ranges);
    } else if (!literal_.empty()) {
      size_t pos = 0;
      while ((pos = s.str().find(literal_, pos)) != std::string::npos) {
        ranges.emplace_back(pos, pos + literal_.size());
        pos += literal_.size();
      }
    }
    s.replace_ranges(ranges, content_);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(NormalizedString& s) const override { s.prepend(p_); }

 private:
  std::string p_;
};

class Strip : public Normalizer {
 public:
  Strip(bool l, bool r) : l_(l), r_(r) {}
  void normalize(NormalizedString& s) const override { s.strip(l_, r_); }

 private:
  bool l_, r_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::string& out) {
      std::string bytes = utf8_encode(c);
      for (unsigned char b : bytes) out += byte_to_unicode(b);
    });
  }
};

std::string base64_decode(std::string_view in, const std::string& where) {
  auto val = [&](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    IA_CHECK(v >= 0, ErrorKind::Format, "{}: invalid base64 character", where);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// SentencePiece's normalization rules: a Darts double-array trie mapping byte strings to offsets into a
// blob of NUL-terminated replacements.
class Precompiled : public Normalizer {
 public:
  Precompiled(const std::string& blob, const std::string& where) {
    IA_CHECK(blob.size() >= 4, ErrorKind::Format, "{}.precompiled_charsmap: truncated ({} bytes)", where, blob.size());
    uint32_t trie_size;
    std::memcpy(&trie_size, blob.data(), 4);
    IA_CHECK(trie_size % 4 == 0 && 4 + static_cast<size_t>(trie_size) <= blob.size(), ErrorKind::Format,
             "{}.precompiled_charsmap: trie size {} does not fit the {}-byte blob", where, trie_size, blob.size());
    array_.resize(trie_size / 4);
    std::memcpy(array_.data(), blob.data() + 4, trie_size);
    normalized_ = blob.substr(4 + trie_size);
  }

  void normalize(NormalizedString& s) const override {
    if (array_.empty()) return;
    const std::string& text = s.str();
    // Graphemes, then code points: the rule the HF implementation follows (see spm_precompiled).
    std::vector<std::pair<size_t, size_t>> segs;
    std::vector<std::string> reps;
    size_t i = 0;
    while (i < text.size()) {
      size_t g = grapheme_len(text, i);
      std::string_view gr(text.data() + i, g);
      std::string_view rep;
      if (g < 6 && transform(gr, rep)) {
        segs.emplace_back(i, i + g);
        reps.emplace_back(rep);
        i += g;
        continue;
      }
      size_t j = i;
      while (j < i + g) {
        size_t n = utf8_len(static_cast<unsigned char>(text[j]));
        if (j + n > i + g) n = i + g - j;
        if (transform(std::string_view(text.data() + j, n), rep)) {
          segs.emplace_back(j, j + n);
          reps.emplace_back(rep);
        }
        j += n;
      }
      i += g;
    }
    if (segs.empty()) return;
    size_t k = 0;
    s.replace_segments(segs, [&](std::string_view) { return reps[k++]; });
  }

 private:
  bool transform(std::string_view chunk, std::string_view& out) const {
    size_t node = 0;
    uint32_t unit = array_[node];
    node ^= offset(unit);
    for (unsigned char c : chunk) {
      if (c == 0) break;
      node ^= c;
      if (node >= array_.size()) return false;
      unit = array_[node];
      if (label(unit) != c) return false;
      node ^= offset(unit);
      if (has_leaf(unit)) {
        if (node >= array_.size()) return false;
        size_t idx = value(array_[node]);
        if (idx >= normalized_.size()) return false;
        size_t end = normalized_.find('\0', idx);
        if (end == std::string::npos) end = normalized_.size();
        out = std::string_view(normalized_).substr(idx, end - idx);
        return true;  // the first (shortest) prefix match wins
      }
    }
    return false;
  }
  static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
  static uint32_t value(uint32_t u) { return u & ((1u << 31) - 1); }
  static uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
  static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

  std::vector<uint32_t> array_;
  std::string normalized_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> v) : v_(std::move(v)) {}
  void normalize(NormalizedString& s) const override {
    for (auto& n : v_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> v_;
};

}  // namespace

// Reads a {"String": ...} / {"Regex": ...} pattern object.
void parse_pattern(const json& j, const std::string& where, std::string& literal, std::unique_ptr<Regex>& re) {
  const json& p = json_field(j, "pattern", where);
  if (p.is_string()) {
    literal = p.get<std::string>();
    return;
  }
  IA_CHECK(p.is_object(), ErrorKind::Format, "{}.pattern: expected an object, got {}", where, p.type_name());
  if (p.contains("String")) {
    literal = json_string(p, "String", where + ".pattern");
  } else if (p.contains("Regex")) {
    re = std::make_unique<Regex>(json_string(p, "Regex", where + ".pattern"));
  } else {
    fail(ErrorKind::Format, "{}.pattern: expected a 'String' or 'Regex' key", where);
  }
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  std::string type = json_string(j, "type", where);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "BertNormalizer") {
    bool lower = json_bool_or(j, "lowercase", true, where);
    bool strip = json_bool_or(j, "strip_accents", lower, where);
    return std::make_unique<BertNormalizer>(json_bool_or(j, "clean_text", true, where),
                                            json_bool_or(j, "handle_chinese_chars", true, where), strip, lower);
  }
  if (type == "Replace") {
    std::string literal;
    std::unique_ptr<Regex> re;
    parse_pattern(j, where, literal, re);
    return std::make_unique<Replace>(literal, std::move(re), json_string(j, "content", where));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(j, "prepend", where));
  if (type == "Strip") {
    return std::make_unique<Strip>(json_bool_or(j, "strip_left", true, where),
                                   json_bool_or(j, "strip_right", true, where));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Precompiled") {
    const json& pc = json_field(j, "precompiled_charsmap", where);
    if (pc.is_null()) return std::make_unique<SequenceNormalizer>(std::vector<std::unique_ptr<Normalizer>>{});
    IA_CHECK(pc.is_string(), ErrorKind::Format, "{}.precompiled_charsmap: expected a base64 string, got {}", where,
             pc.type_name());
    return std::make_unique<Precompiled>(base64_decode(pc.get<std::string>(), where + ".precompiled_charsmap"), where);
  }
  if (type == "Sequence") {
    const json& arr = json_field(j, "normalizers", where);
    IA_CHECK(arr.is_array(), ErrorKind::Format, "{}.normalizers: expected an array, got {}", where, arr.type_name());
    std::vector<std::unique_ptr<Normalizer>> v;
    for (size_t i = 0; i < arr.size(); ++i) v.push_back(make_normalizer(arr[i], fmt::format("{}.normalizers[{}]", where, i)));
    return std::make_unique<SequenceNormalizer>(std::move(v));
  }
  fail(ErrorKind::Unsupported, "unsupported normalizer {} (at {})", type, where);
}

}  // namespace ia::text
