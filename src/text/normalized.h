// NormalizedString: a piece of text being normalized and split, that remembers which bytes of the original
// input each of its bytes came from (for offsets); plus the split behaviors and the pre-tokenized string that
// the HF pipeline passes from stage to stage.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/regex.h"

namespace ia::text {

struct Token {
  uint32_t id = 0;
  std::string value;
  uint32_t start = 0, end = 0;  // byte offsets (relative to the word while in a model, then original input)
};

class NormalizedString {
 public:
  NormalizedString() = default;
  NormalizedString(std::string text, uint32_t original_base) : text_(std::move(text)), base_(original_base) {}

  const std::string& str() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }

  // Original byte range of the normalized byte range [b, e).
  std::pair<uint32_t, uint32_t> original_range(size_t b, size_t e) const;
  NormalizedString slice(size_t b, size_t e) const;

  // Rewrites every character: fn(c, out) appends its replacement (possibly nothing) to out; the new bytes are
  // aligned to the original range of the character they replace.
  void map_chars(const std::function<void(char32_t, std::string&)>& fn);
  // Replaces each [start, end) range (sorted, non-overlapping) with `content`, aligned to the replaced range.
  void replace_ranges(const std::vector<std::pair<size_t, size_t>>& ranges, std::string_view content);
  // Adds text before the first / after the last character (nothing when empty), aligned to that character.
  void prepend(std::string_view s);
  void append(std::string_view s);
  void strip(bool left, bool right);
  // Replaces the text by segments: seg_fn(segment) returns the replacement for each segment [b, e) listed.
  void replace_segments(const std::vector<std::pair<size_t, size_t>>& segs,
                        const std::function<std::string(std::string_view)>& fn);

 private:
  void materialize();
  std::string text_;
  std::vector<std::pair<uint32_t, uint32_t>> align_;  // empty: identity mapping starting at base_
  uint32_t base_ = 0;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_split_behavior(const std::string& s);

// A match list covering the whole string: (start, end, is_match) in order.
using Matches = std::vector<std::tuple<size_t, size_t, bool>>;
Matches find_regex(const Regex& re, std::string_view s);
Matches find_string(std::string_view pattern, std::string_view s);
Matches find_chars(const std::function<bool(char32_t)>& pred, std::string_view s);
void invert(Matches& m);
// Applies a split behavior, appending the non-empty resulting pieces of `ns` to out.
void split_by(const NormalizedString& ns, Matches matches, SplitBehavior behavior, std::vector<NormalizedString>& out);

struct Split {
  NormalizedString normalized;
  std::vector<Token> tokens;
  bool has_tokens = false;  // already tokenized (an added token, or after the model ran)
};

struct PreTokenizedString {
  std::vector<Split> splits;
  // Replaces every untokenized split by the pieces fn produces (empty pieces are dropped).
  void split(const std::function<void(size_t index, NormalizedString&&, std::vector<NormalizedString>&)>& fn);
};

}  // namespace ia::text
