// Names that come from untrusted files (Hub listings, safetensors indexes, CAR/manifest entries, diffusers
// subfolders) turned into paths under a directory only when they cannot escape it; and JSON parsing with a
// nesting bound, so a hostile file cannot exhaust the stack of the recursive json copy/compare/dump.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace ia {

// Why `name` is not a safe relative path ("" when it is): empty, absolute, a NUL or other control byte, a
// backslash, an empty, "." or ".." component.
std::string unsafe_path_reason(std::string_view name);
inline bool is_safe_relative_path(std::string_view name) { return unsafe_path_reason(name).empty(); }

// `base / name`, or ErrorKind::Format "<what>: unsafe path '<name>' (<reason>): refused".
std::filesystem::path checked_join(const std::filesystem::path& base, std::string_view name, std::string_view what);

// Deepest nesting accepted in JSON read from files (HF configs nest 3-4 levels, tokenizer.json ~6).
constexpr int kMaxJsonDepth = 200;

// Refuses (ErrorKind::Format naming `source`) JSON text nested deeper than kMaxJsonDepth, before it is parsed.
void check_json_depth(std::string_view text, const std::string& source);

}  // namespace ia
