#include "generation/logits_process.h"

#include <algorithm>
#include <limits>

namespace ia::generation {

std::vector<int64_t> ngram_banned_tokens(const std::vector<int64_t>& source, const std::vector<int64_t>& prefix,
                                         int64_t n) {
  std::vector<int64_t> out;
  const int64_t k = n - 1;
  if (n <= 0 || static_cast<int64_t>(prefix.size()) < k) return out;
  for (size_t i = 0; i + n <= source.size(); ++i)
    if (std::equal(source.begin() + i, source.begin() + i + k, prefix.end() - k)) out.push_back(source[i + k]);
  return out;
}

bool LogitsProcessors::any() const {
  return repetition_penalty != 1.0f || no_repeat_ngram_size > 0 || encoder_no_repeat_ngram_size > 0 ||
         !bad_words_ids.empty() || min_length > 0 || forced_bos_token_id >= 0 || !forced_eos_token_ids.empty() ||
         !suppress_tokens.empty() || (!begin_suppress_tokens.empty() && begin_index >= 0);
}

void LogitsProcessors::apply(std::vector<float>& scores, const std::vector<int64_t>& row,
                             const std::vector<int64_t>& encoder, const std::vector<int64_t>& eos_token_ids,
                             int64_t max_length) const {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t V = static_cast<int64_t>(scores.size()), cur_len = static_cast<int64_t>(row.size());
  auto ban = [&](int64_t t) {
    if (t >= 0 && t < V) scores[t] = kNegInf;
  };
  if (repetition_penalty != 1.0f) {
    std::vector<char> seen(V, 0);
    for (int64_t t : row)
      if (t >= 0 && t < V) seen[t] = 1;
    for (int64_t t = 0; t < V; ++t)
      if (seen[t]) scores[t] = scores[t] < 0 ? scores[t] * repetition_penalty : scores[t] / repetition_penalty;
  }
  if (no_repeat_ngram_size > 0)
    for (int64_t t : ngram_banned_tokens(row, row, no_repeat_ngram_size)) ban(t);
  if (encoder_no_repeat_ngram_size > 0)
    for (int64_t t : ngram_banned_tokens(encoder, row, encoder_no_repeat_ngram_size)) ban(t);
  for (const auto& bad : bad_words_ids) {
    if (bad.empty()) continue;
    if (bad.size() == 1 && std::find(eos_token_ids.begin(), eos_token_ids.end(), bad[0]) != eos_token_ids.end())
      continue;
    const size_t k = bad.size() - 1;
    if (row.size() >= k && std::equal(bad.begin(), bad.end() - 1, row.end() - k)) ban(bad.back());
  }
  if (cur_len < min_length)
    for (int64_t e : eos_token_ids) ban(e);
  auto force = [&](const std::vector<int64_t>& ids) {
    std::vector<float> forced(V, kNegInf);
    for (int64_t t : ids)
      if (t >= 0 && t < V) forced[t] = 0.0f;
    scores.swap(forced);
  };
  if (forced_bos_token_id >= 0 && cur_len == 1) force({forced_bos_token_id});
  if (!forced_eos_token_ids.empty() && cur_len == max_length - 1) force(forced_eos_token_ids);
  for (int64_t t : suppress_tokens) ban(t);
  if (begin_index >= 0 && cur_len == begin_index)
    for (int64_t t : begin_suppress_tokens) ban(t);
}

}  // namespace ia::generation
