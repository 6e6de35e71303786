// UTF-8 helpers and the Unicode character properties the tokenizer pipeline needs (categories, whitespace,
// punctuation, case mapping, normalization forms, grapheme clusters), matching Rust's `char` semantics.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ia::text {

// Decodes one code point at s[i], advancing i. Invalid bytes decode as U+FFFD and advance by one byte.
char32_t utf8_next(std::string_view s, size_t& i);
// Length in bytes of the UTF-8 sequence starting with byte `lead` (1 for invalid lead bytes).
inline size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
}
void utf8_append(std::string& out, char32_t c);
std::string utf8_encode(char32_t c);
bool utf8_valid(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal ill-formed subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);
size_t utf8_char_count(std::string_view s);

bool is_whitespace(char32_t c);       // Unicode White_Space (Rust char::is_whitespace)
bool is_punctuation(char32_t c);      // ASCII punctuation or Unicode P* categories
bool is_control_other(char32_t c);    // Cc, Cf, Cn, Co, Cs (BERT's "control" test)
bool is_mark(char32_t c);             // Mn, Mc, Me
bool is_nonspacing_mark(char32_t c);  // Mn
bool is_numeric(char32_t c);          // Nd, Nl, No
bool is_alphabetic(char32_t c);       // L*, Nl, marks, Other_Alphabetic approximation
bool is_word_char(char32_t c);        // regex \w: alphabetic, marks, Nd, Pc, join controls
bool is_cjk(char32_t c);              // the CJK ideograph blocks BERT pads with spaces

// Rust char::to_lowercase (full mapping): appends the lowercase form of c.
void append_lowercase(std::string& out, char32_t c);

enum class NormForm { NFC, NFD, NFKC, NFKD };
// Normalizes a UTF-8 string (invalid input is replaced first).
std::string normalize(std::string_view s, NormForm form);

// Byte length of the extended grapheme cluster starting at s[i].
size_t grapheme_len(std::string_view s, size_t i);

}  // namespace ia::text
