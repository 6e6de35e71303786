// transformers' logits processors for one row of next-token scores, in the order GenerationMixin builds them
// (repetition penalty, no_repeat_ngram, encoder_no_repeat_ngram, bad words, min_length, forced BOS/EOS, suppress
// tokens, suppress at begin). Greedy search applies them to raw logits, beam search to log-softmax scores, as HF
// does. Dependency-free so GenerationRequest (models/model.h) can carry a set.
#pragma once
#include <cstdint>
#include <vector>

namespace ia::generation {

struct LogitsProcessors {
  float repetition_penalty = 1.0f;  // RepetitionPenaltyLogitsProcessor over the whole row (1: off)
  int64_t no_repeat_ngram_size = 0, encoder_no_repeat_ngram_size = 0;
  std::vector<std::vector<int64_t>> bad_words_ids;  // NoBadWordsLogitsProcessor ([eos] entries are ignored)
  int64_t min_length = 0;  // MinLengthLogitsProcessor: EOS banned while the row (prompt included) is shorter
  int64_t forced_bos_token_id = -1;          // forced when the row has length 1
  std::vector<int64_t> forced_eos_token_ids;  // forced when the row has length max_length - 1
  std::vector<int64_t> suppress_tokens;       // always -inf
  std::vector<int64_t> begin_suppress_tokens;  // -inf when the row has length begin_index
  int64_t begin_index = -1;

  // Modifies `scores` (V entries of one row) in place. `row` is the row's sequence so far (decoder-only: the
  // prompt with its padding, then generated ids; encoder-decoder: decoder start token, then generated ids),
  // `encoder` the row's encoder input ids, `max_length` the maximum row length (HF max_length).
  void apply(std::vector<float>& scores, const std::vector<int64_t>& row, const std::vector<int64_t>& encoder,
             const std::vector<int64_t>& eos_token_ids, int64_t max_length) const;
  bool any() const;
};

// Tokens that would complete an n-gram of `source` whose first n - 1 tokens equal the end of `prefix`
// (HF _get_ngrams/_get_generated_ngrams); none while prefix is shorter than n - 1.
std::vector<int64_t> ngram_banned_tokens(const std::vector<int64_t>& source, const std::vector<int64_t>& prefix,
                                         int64_t n);

}  // namespace ia::generation
