// A thread-safe Oniguruma regex (Ruby syntax, UTF-8), the engine HF tokenizers itself uses for its patterns.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::text {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches [start, end) in byte offsets, iterated the way the `onig` crate does (an empty
  // match right after the previous match is skipped).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* re_ = nullptr;  // regex_t*
};

}  // namespace ia::text
