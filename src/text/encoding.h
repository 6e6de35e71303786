// The result of encoding one input (or pair): ids plus everything aligned with them.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ia::text {

struct Encoding {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;  // byte offsets into the input the token came from
  std::vector<uint8_t> special_tokens_mask;
  std::vector<uint8_t> attention_mask;
  std::vector<int32_t> sequence_ids;  // 0 / 1 for the first / second input, -1 for special tokens
  std::vector<int32_t> word_ids;      // pre-tokenizer split (word) of each token in its input, -1 for special/pad
  std::vector<Encoding> overflowing;  // windows cut off by truncation

  size_t size() const { return ids.size(); }
  void append(const Encoding& o);
  // Keeps `max_len` tokens (from the left or right end); the rest go to `overflowing` in stride windows.
  void truncate(size_t max_len, size_t stride, bool left);
  void pad(size_t target, uint32_t pad_id, uint32_t pad_type_id, const std::string& pad_token, bool left);
};

}  // namespace ia::text
