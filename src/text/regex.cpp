#include "text/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "core/error.h"
#include "text/unicode.h"

namespace ia::text {

namespace {
void init_onig() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}
}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  init_onig();
  regex_t* re = nullptr;
  OnigErrorInfo einfo;
  auto p = reinterpret_cast<const OnigUChar*>(pattern.data());
  int r = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &einfo);
    fail(ErrorKind::Format, "invalid regex '{}': {}", pattern, reinterpret_cast<char*>(msg));
  }
  re_ = re;
}

Regex::~Regex() {
  if (re_) onig_free(static_cast<regex_t*>(re_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  auto re = static_cast<regex_t*>(re_);
  OnigRegion* region = onig_region_new();
  auto str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    int r = onig_search(re, str, end, str + last_end, end, region, ONIG_OPTION_NONE);
    if (r < 0) break;
    auto s = static_cast<size_t>(region->beg[0]), e = static_cast<size_t>(region->end[0]);
    if (e == s && have_last && last_match_end == e) {
      last_end += last_end < text.size() ? utf8_len(static_cast<unsigned char>(text[last_end])) : 1;
      continue;
    }
    last_end = e;
    last_match_end = e;
    have_last = true;
    out.emplace_back(s, e);
  }
  onig_region_free(region, 1);
}

}  // namespace ia::text
