// tokenizer.json post-processors: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence.
#include <charconv>

#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

// HF ByteLevel::process_offsets: offsets exclude the leading/trailing spaces a token carries.
void trim_offsets(Encoding& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    const std::string& t = e.tokens[i];
    auto& off = e.offsets[i];
    std::vector<char32_t> cs;
    for (size_t k = 0; k < t.size();) cs.push_back(utf8_next(t, k));
    auto space = [](char32_t c) { return c == 0x120 || is_whitespace(c); };
    size_t lead = 0, trail = 0;
    while (lead < cs.size() && space(cs[lead])) ++lead;
    while (trail < cs.size() && space(cs[cs.size() - 1 - trail])) ++trail;
    if (lead > 0) {
      bool first = i == 0 || off.first == 0;
      if (first && add_prefix_space && lead == 1) lead = 0;
      off.first = std::min<uint32_t>(off.first + static_cast<uint32_t>(lead), off.second);
    }
    if (trail > 0 && off.second >= trail) off.second = std::max<uint32_t>(off.second - static_cast<uint32_t>(trail), off.first);
  }
}

Encoding special(uint32_t id, const std::string& tok, uint32_t type_id) {
  Encoding e;
  e.ids = {id};
  e.type_ids = {type_id};
  e.tokens = {tok};
  e.offsets = {{0, 0}};
  e.special_tokens_mask = {1};
  e.attention_mask = {1};
  e.sequence_ids = {-1};
  e.word_ids = {-1};
  return e;
}

void set_type(Encoding& e, uint32_t type_id, int32_t seq) {
  std::fill(e.type_ids.begin(), e.type_ids.end(), type_id);
  std::fill(e.sequence_ids.begin(), e.sequence_ids.end(), seq);
}

struct Piece {
  bool is_sequence;
  std::string id;  // "A"/"B" or the special token name
  uint32_t type_id;
};

class Template : public PostProcessor {
 public:
  Template(std::vector<Piece> single, std::vector<Piece> pair,
           std::map<std::string, std::pair<std::vector<uint32_t>, std::vector<std::string>>> specials)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {}
  size_t added_tokens(bool is_pair) const override {
    size_t n = 0;
    for (auto& p : is_pair ? pair_ : single_)
      if (!p.is_sequence) n += specials_.at(p.id).first.size();
    return n;
  }
  Encoding process(Encoding a, std::optional<Encoding> b, bool add_special) const override {
    Encoding out;
    for (auto& p : b ? pair_ : single_) {
      if (p.is_sequence) {
        bool second = p.id != "A";
        Encoding& src = second ? *b : a;
        set_type(src, p.type_id, second ? 1 : 0);
        out.append(src);
      } else if (add_special) {
        auto& sp = specials_.at(p.id);
        for (size_t k = 0; k < sp.first.size(); ++k) out.append(special(sp.first[k], sp.second[k], p.type_id));
      }
    }
    return out;
  }

 private:
  std::vector<Piece> single_, pair_;
  std::map<std::string, std::pair<std::vector<uint32_t>, std::vector<std::string>>> specials_;
};

class BertLike : public PostProcessor {
 public:
  BertLike(std::pair<std::string, uint32_t> cls, std::pair<std::string, uint32_t> sep, bool roberta, bool trim,
           bool add_prefix_space)
      : cls_(std::move(cls)), sep_(std::move(sep)), roberta_(roberta), trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool is_pair) const override { return is_pair ? (roberta_ ? 4 : 3) : 2; }
  void adjust(Encoding& e) const override {
    if (roberta_ && trim_) trim_offsets(e, add_prefix_space_);
  }
  Encoding process(Encoding a, std::optional<Encoding> b, bool add_special) const override {
    adjust(a);
    if (b) adjust(*b);
    if (!add_special) {
      set_type(a, 0, 0);
      if (b) set_type(*b, roberta_ ? 0 : 1, 1);
      return merge_encodings(std::move(a), std::move(b));
    }
    Encoding out = special(cls_.second, cls_.first, 0);
    set_type(a, 0, 0);
    out.append(a);
    out.append(special(sep_.second, sep_.first, 0));
    if (b) {
      uint32_t t = roberta_ ? 0 : 1;
      if (roberta_) out.append(special(sep_.second, sep_.first, 0));
      set_type(*b, t, 1);
      out.append(*b);
      out.append(special(sep_.second, sep_.first, t));
    }
    return out;
  }

 private:
  std::pair<std::string, uint32_t> cls_, sep_;
  bool roberta_, trim_, add_prefix_space_;
};

class ByteLevelPost : public PostProcessor {
 public:
  ByteLevelPost(bool trim, bool add_prefix_space) : trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool) const override { return 0; }
  void adjust(Encoding& e) const override {
    if (trim_) trim_offsets(e, add_prefix_space_);
  }
  Encoding process(Encoding a, std::optional<Encoding> b, bool) const override {
    adjust(a);
    if (b) adjust(*b);
    return merge_encodings(std::move(a), std::move(b));
  }

 private:
  bool trim_, add_prefix_space_;
};

class SequencePost : public PostProcessor {
 public:
  explicit SequencePost(std::vector<std::unique_ptr<PostProcessor>> v) : v_(std::move(v)) {}
  size_t added_tokens(bool is_pair) const override {
    size_t n = 0;
    for (auto& p : v_) n += p->added_tokens(is_pair);
    return n;
  }
  void adjust(Encoding& e) const override {
    for (auto& p : v_) p->adjust(e);
  }
  Encoding process(Encoding a, std::optional<Encoding> b, bool add_special) const override {
    if (v_.empty()) return merge_encodings(std::move(a), std::move(b));
    for (size_t i = 0; i + 1 < v_.size(); ++i) {
      v_[i]->adjust(a);
      if (b) v_[i]->adjust(*b);
    }
    return v_.back()->process(std::move(a), std::move(b), add_special);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> v_;
};

std::pair<std::string, uint32_t> token_pair(const json& j, const char* key, const std::string& where) {
  const json& v = json_field(j, key, where);
  IA_CHECK(v.is_array() && v.size() == 2 && v[0].is_string() && v[1].is_number_integer(), ErrorKind::Format,
           "{}.{}: expected [token, id]", where, key);
  return {v[0].get<std::string>(), v[1].get<uint32_t>()};
}

std::vector<Piece> parse_template(const json& j, const char* key, const std::string& where) {
  const json& arr = json_field(j, key, where);
  std::vector<Piece> out;
  if (arr.is_string()) {  // "$A:0 [SEP]:0" shorthand
    std::string s = arr.get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
      size_t e = s.find(' ', i);
      if (e == std::string::npos) e = s.size();
      std::string item = s.substr(i, e - i);
      i = e + 1;
      if (item.empty()) continue;
      uint32_t type_id = 0;
      size_t colon = item.rfind(':');
      if (colon != std::string::npos) {
        const std::string id = item.substr(colon + 1);
        const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), type_id);
        IA_CHECK(ec == std::errc() && end == id.data() + id.size(), ErrorKind::Format,
                 "post_processor template piece '{}': type id '{}' is not a 32-bit number", item, id);
        item = item.substr(0, colon);
      }
      if (item == "$A" || item == "$" || item == "$0") out.push_back({true, "A", type_id});
      else if (item == "$B" || item == "$1") out.push_back({true, "B", type_id});
      else out.push_back({false, item, type_id});
    }
    return out;
  }
  IA_CHECK(arr.is_array(), ErrorKind::Format, "{}.{}: expected an array, got {}", where, key, arr.type_name());
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string w = fmt::format("{}.{}[{}]", where, key, i);
    const json& p = arr[i];
    if (p.contains("Sequence")) {
      const json& s = p["Sequence"];
      out.push_back({true, json_string(s, "id", w + ".Sequence"), s.value("type_id", 0u)});
    } else if (p.contains("SpecialToken")) {
      const json& s = p["SpecialToken"];
      out.push_back({false, json_string(s, "id", w + ".SpecialToken"), s.value("type_id", 0u)});
    } else {
      fail(ErrorKind::Format, "{}: expected a 'Sequence' or 'SpecialToken' piece", w);
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  std::string type = json_string(j, "type", where);
  if (type == "TemplateProcessing") {
    auto single = parse_template(j, "single", where);
    auto pair = parse_template(j, "pair", where);
    std::map<std::string, std::pair<std::vector<uint32_t>, std::vector<std::string>>> specials;
    auto st = j.find("special_tokens");
    if (st != j.end() && st->is_object()) {
      for (auto it = st->begin(); it != st->end(); ++it) {
        std::string w = fmt::format("{}.special_tokens['{}']", where, it.key());
        const json& ids = json_field(it.value(), "ids", w);
        const json& toks = json_field(it.value(), "tokens", w);
        IA_CHECK(ids.is_array() && toks.is_array() && ids.size() == toks.size(), ErrorKind::Format,
                 "{}: 'ids' and 'tokens' must be arrays of the same length", w);
        specials[it.key()] = {ids.get<std::vector<uint32_t>>(), toks.get<std::vector<std::string>>()};
      }
    }
    for (auto* t : {&single, &pair})
      for (auto& p : *t)
        IA_CHECK(p.is_sequence || specials.count(p.id), ErrorKind::Format,
                 "{}: template uses special token '{}' missing from special_tokens", where, p.id);
    return std::make_unique<Template>(std::move(single), std::move(pair), std::move(specials));
  }
  if (type == "BertProcessing") {
    return std::make_unique<BertLike>(token_pair(j, "cls", where), token_pair(j, "sep", where), false, false, false);
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<BertLike>(token_pair(j, "cls", where), token_pair(j, "sep", where), true,
                                      json_bool_or(j, "trim_offsets", true, where),
                                      json_bool_or(j, "add_prefix_space", true, where));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPost>(json_bool_or(j, "trim_offsets", true, where),
                                           json_bool_or(j, "add_prefix_space", true, where));
  }
  if (type == "Sequence") {
    const json& arr = json_field(j, "processors", where);
    IA_CHECK(arr.is_array(), ErrorKind::Format, "{}.processors: expected an array, got {}", where, arr.type_name());
    std::vector<std::unique_ptr<PostProcessor>> v;
    for (size_t i = 0; i < arr.size(); ++i)
      v.push_back(make_post_processor(arr[i], fmt::format("{}.processors[{}]", where, i)));
    return std::make_unique<SequencePost>(std::move(v));
  }
  fail(ErrorKind::Unsupported, "unsupported post_processor {} (at {})", type, where);
}

}  // namespace ia::text
