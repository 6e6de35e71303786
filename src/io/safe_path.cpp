#include "io/safe_path.h"

#include <fmt/format.h>

#include "core/error.h"

namespace ia {

std::string unsafe_path_reason(std::string_view name) {
  if (name.empty()) return "empty";
  if (name.front() == '/') return "absolute";
  for (unsigned char c : name) {
    if (c == 0) return "NUL byte";
    if (c < 0x20 || c == 0x7f) return "control character";
    if (c == '\\') return "backslash";
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty()) return "empty component";
    if (part == "." || part == "..") return fmt::format("'{}' component", part);
    start = end + 1;
  }
  return "";
}

namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += c < 0x20 || c == 0x7f ? fmt::format("\\x{:02x}", c) : std::string(1, char(c));
  return out;
}

}  // namespace

std::filesystem::path checked_join(const std::filesystem::path& base, std::string_view name, std::string_view what) {
  const std::string why = unsafe_path_reason(name);
  IA_CHECK(why.empty(), ErrorKind::Format, "{}: unsafe path '{}' ({}): refused", what, printable(name), why);
  return base / std::string(name);
}

void check_json_depth(std::string_view text, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      IA_CHECK(++depth <= kMaxJsonDepth, ErrorKind::Format, "{}: JSON nested deeper than {} levels (at byte {})",
               source, kMaxJsonDepth, i);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace ia
