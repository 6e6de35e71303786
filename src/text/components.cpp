#include "text/components.h"

#include <algorithm>

#include "core/error.h"
#include "text/unicode.h"

namespace ia::text {

const json& json_field(const json& j, const char* key, const std::string& where) {
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: expected a JSON object, got {}", where, j.type_name());
  auto it = j.find(key);
  IA_CHECK(it != j.end(), ErrorKind::Format, "{}: missing field '{}'", where, key);
  return *it;
}

std::string json_string(const json& j, const char* key, const std::string& where) {
  const json& v = json_field(j, key, where);
  IA_CHECK(v.is_string(), ErrorKind::Format, "{}.{}: expected a string, got {}", where, key, v.type_name());
  return v.get<std::string>();
}

std::string json_string_or(const json& j, const char* key, const std::string& fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  IA_CHECK(it->is_string(), ErrorKind::Format, "{}.{}: expected a string, got {}", where, key, it->type_name());
  return it->get<std::string>();
}

bool json_bool_or(const json& j, const char* key, bool fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  IA_CHECK(it->is_boolean(), ErrorKind::Format, "{}.{}: expected a boolean, got {}", where, key, it->type_name());
  return it->get<bool>();
}

namespace {
struct ByteTable {
  std::string fwd[256];
  int rev[0x200];
  ByteTable() {
    std::fill(std::begin(rev), std::end(rev), -1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      fwd[b] = utf8_encode(c);
      rev[c] = b;
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}
}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return byte_table().fwd[b]; }
int unicode_to_byte(char32_t c) { return c < 0x200 ? byte_table().rev[c] : -1; }

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (auto& t : tokens) out += t;
  return out;
}

void Encoding::append(const Encoding& o) {
  ids.insert(ids.end(), o.ids.begin(), o.ids.end());
  type_ids.insert(type_ids.end(), o.type_ids.begin(), o.type_ids.end());
  tokens.insert(tokens.end(), o.tokens.begin(), o.tokens.end());
  offsets.insert(offsets.end(), o.offsets.begin(), o.offsets.end());
  special_tokens_mask.insert(special_tokens_mask.end(), o.special_tokens_mask.begin(), o.special_tokens_mask.end());
  attention_mask.insert(attention_mask.end(), o.attention_mask.begin(), o.attention_mask.end());
  sequence_ids.insert(sequence_ids.end(), o.sequence_ids.begin(), o.sequence_ids.end());
  word_ids.insert(word_ids.end(), o.word_ids.begin(), o.word_ids.end());
}

namespace {
Encoding sub_encoding(const Encoding& e, size_t b, size_t n) {
  Encoding r;
  auto cut = [&](const auto& v, auto& dst) { dst.assign(v.begin() + static_cast<long>(b), v.begin() + static_cast<long>(b + n)); };
  cut(e.ids, r.ids);
  cut(e.type_ids, r.type_ids);
  cut(e.tokens, r.tokens);
  cut(e.offsets, r.offsets);
  cut(e.special_tokens_mask, r.special_tokens_mask);
  cut(e.attention_mask, r.attention_mask);
  cut(e.sequence_ids, r.sequence_ids);
  cut(e.word_ids, r.word_ids);
  return r;
}
}  // namespace

void Encoding::truncate(size_t max_len, size_t stride, bool left) {
  size_t n = ids.size();
  if (max_len >= n) return;
  if (max_len == 0) {
    overflowing.push_back(*this);
    *this = Encoding{};
    return;
  }
  IA_CHECK(stride < max_len, ErrorKind::InvalidArgument, "truncation stride {} must be smaller than max_length {}",
           stride, max_len);
  // Windows of max_len tokens, each overlapping the previous by `stride` (HF Encoding::truncate).
  size_t step = max_len - stride;
  std::vector<std::pair<size_t, size_t>> windows;  // (start, len)
  if (!left) {
    for (size_t s = 0; s < n; s += step) {
      windows.emplace_back(s, std::min(max_len, n - s));
      if (s + max_len >= n) break;
    }
  } else {
    for (size_t e = n;; e = e > step ? e - step : 0) {
      size_t s = e > max_len ? e - max_len : 0;
      windows.emplace_back(s, e - s);
      if (s == 0) break;
    }
  }
  Encoding first = sub_encoding(*this, windows[0].first, windows[0].second);
  for (size_t i = 1; i < windows.size(); ++i) first.overflowing.push_back(sub_encoding(*this, windows[i].first, windows[i].second));
  *this = std::move(first);
}

void Encoding::pad(size_t target, uint32_t pad_id, uint32_t pad_type_id, const std::string& pad_token, bool left) {
  for (auto& o : overflowing) o.pad(target, pad_id, pad_type_id, pad_token, left);
  if (ids.size() >= target) return;
  size_t k = target - ids.size();
  auto grow = [&](auto& v, auto value) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    if (left) v.insert(v.begin(), k, static_cast<V>(value));
    else v.insert(v.end(), k, static_cast<V>(value));
  };
  grow(ids, pad_id);
  grow(type_ids, pad_type_id);
  if (left) tokens.insert(tokens.begin(), k, pad_token);
  else tokens.insert(tokens.end(), k, pad_token);
  if (left) offsets.insert(offsets.begin(), k, {0, 0});
  else offsets.insert(offsets.end(), k, {0, 0});
  grow(special_tokens_mask, 1);
  grow(attention_mask, 0);
  grow(sequence_ids, -1);
  grow(word_ids, -1);
}

Encoding merge_encodings(Encoding a, std::optional<Encoding> b) {
  if (b) {
    for (auto& s : b->sequence_ids) s = 1;
    a.append(*b);
  }
  return a;
}

}  // namespace ia::text
