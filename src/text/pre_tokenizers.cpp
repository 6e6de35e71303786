// tokenizer.json pre-tokenizers: ByteLevel, Whitespace(Split), BertPreTokenizer, Metaspace, Split, Punctuation,
// Digits, CharDelimiterSplit and Sequence.
#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) re_ = std::make_unique<Regex>(kGpt2Pattern);
  }
  void pre_tokenize(PreTokenizedString& pts) const override {
    pts.split([&](size_t, NormalizedString&& ns, std::vector<NormalizedString>& out) {
      if (add_prefix_space_ && (ns.empty() || ns.str()[0] != ' ')) ns.prepend(" ");
      if (re_) split_by(ns, find_regex(*re_, ns.str()), SplitBehavior::Isolated, out);
      else out.push_back(std::move(ns));
    });
    for (auto& s : pts.splits) {
      if (s.has_tokens) continue;
      s.normalized.map_chars([](char32_t c, std::string& out) {
        if (c < 0x80) {
          out += byte_to_unicode(static_cast<uint8_t>(c));
          return;
        }
        std::string bytes = utf8_encode(c);
        for (unsigned char b : bytes) out += byte_to_unicode(b);
      });
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> pred, SplitBehavior b) : pred_(std::move(pred)), b_(b) {}
  void pre_tokenize(PreTokenizedString& pts) const override {
    pts.split([&](size_t, NormalizedString&& ns, std::vector<NormalizedString>& out) {
      split_by(ns, find_chars(pred_, ns.str()), b_, out);
    });
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior b_;
};

class BertPre : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& pts) const override {
    pts.split([&](size_t, NormalizedString&& ns, std::vector<NormalizedString>& out) {
      std::vector<NormalizedString> words;
      split_by(ns, find_chars(is_whitespace, ns.str()), SplitBehavior::Removed, words);
      for (auto& w : words) split_by(w, find_chars(is_punctuation, w.str()), SplitBehavior::Isolated, out);
    });
  }
};

class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(std::string literal, std::unique_ptr<Regex> re, SplitBehavior b, bool inv)
      : literal_(std::move(literal)), re_(std::move(re)), b_(b), invert_(inv) {}
  void pre_tokenize(PreTokenizedString& pts) const override {
    pts.split([&](size_t, NormalizedString&& ns, std::vector<NormalizedString>& out) {
      Matches m = re_ ? find_regex(*re_, ns.str()) : find_string(literal_, ns.str());
      if (invert_) invert(m);
      split_by(ns, std::move(m), b_, out);
    });
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> re_;
  SplitBehavior b_;
  bool invert_;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePre : public PreTokenizer {
 public:
  MetaspacePre(std::string rep, PrependScheme scheme, bool split)
      : rep_(std::move(rep)), scheme_(scheme), split_(split) {}
  void pre_tokenize(PreTokenizedString& pts) const override {
    pts.split([&](size_t, NormalizedString&& ns, std::vector<NormalizedString>& out) {
      std::vector<std::pair<size_t, size_t>> spaces;
      for (size_t i = 0; i < ns.size(); ++i)
        if (ns.str()[i] == ' ') spaces.emplace_back(i, i + 1);
      ns.replace_ranges(spaces, rep_);
      bool starts = ns.str().compare(0, rep_.size(), rep_) == 0;
      if (scheme_ == PrependScheme::Always && !starts) ns.prepend(rep_);
      if (scheme_ == PrependScheme::First && !starts && ns.original_range(0, ns.size()).first == 0) ns.prepend(rep_);
      if (split_) split_by(ns, find_string(rep_, ns.str()), SplitBehavior::MergedWithNext, out);
      else out.push_back(std::move(ns));
    });
  }

 private:
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> v) : v_(std::move(v)) {}
  void pre_tokenize(PreTokenizedString& pts) const override {
    for (auto& p : v_) p->pre_tokenize(pts);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> v_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  std::string type = json_string(j, "type", where);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPre>(json_bool_or(j, "add_prefix_space", true, where),
                                          json_bool_or(j, "use_regex", true, where));
  }
  if (type == "Whitespace") {
    return std::make_unique<RegexSplit>("", std::make_unique<Regex>(R"(\w+|[^\w\s]+)"), SplitBehavior::Removed, true);
  }
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_whitespace, SplitBehavior::Removed);
  if (type == "BertPreTokenizer") return std::make_unique<BertPre>();
  if (type == "Punctuation") {
    return std::make_unique<CharSplit>(is_punctuation,
                                       parse_split_behavior(json_string_or(j, "behavior", "Isolated", where)));
  }
  if (type == "Digits") {
    bool individual = json_bool_or(j, "individual_digits", false, where);
    return std::make_unique<CharSplit>([](char32_t c) { return c >= '0' && c <= '9'; },
                                       individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "CharDelimiterSplit") {
    std::string d = json_string(j, "delimiter", where);
    size_t i = 0;
    char32_t dc = utf8_next(d, i);
    return std::make_unique<CharSplit>([dc](char32_t c) { return c == dc; }, SplitBehavior::Removed);
  }
  if (type == "Split") {
    std::string literal;
    std::unique_ptr<Regex> re;
    parse_pattern(j, where, literal, re);
    return std::make_unique<RegexSplit>(literal, std::move(re), parse_split_behavior(json_string(j, "behavior", where)),
                                        json_bool_or(j, "invert", false, where));
  }
  if (type == "Metaspace") {
    std::string rep = json_string_or(j, "replacement", "\xE2\x96\x81", where);
    PrependScheme scheme = PrependScheme::Always;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      std::string s = json_string(j, "prepend_scheme", where);
      if (s == "always") scheme = PrependScheme::Always;
      else if (s == "first") scheme = PrependScheme::First;
      else if (s == "never") scheme = PrependScheme::Never;
      else fail(ErrorKind::Format, "{}.prepend_scheme: expected always, first or never, got '{}'", where, s);
    } else if (!json_bool_or(j, "add_prefix_space", true, where)) {
      scheme = PrependScheme::Never;
    }
    return std::make_unique<MetaspacePre>(rep, scheme, json_bool_or(j, "split", true, where));
  }
  if (type == "Sequence") {
    const json& arr = json_field(j, "pretokenizers", where);
    IA_CHECK(arr.is_array(), ErrorKind::Format, "{}.pretokenizers: expected an array, got {}", where, arr.type_name());
    std::vector<std::unique_ptr<PreTokenizer>> v;
    for (size_t i = 0; i < arr.size(); ++i)
      v.push_back(make_pre_tokenizer(arr[i], fmt::format("{}.pretokenizers[{}]", where, i)));
    return std::make_unique<SequencePre>(std::move(v));
  }
  fail(ErrorKind::Unsupported, "unsupported pre_tokenizer {} (at {})", type, where);
}

}  // namespace ia::text
