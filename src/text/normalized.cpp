#include "text/normalized.h"

#include "core/error.h"
#include "text/unicode.h"

namespace ia::text {

std::pair<uint32_t, uint32_t> NormalizedString::original_range(size_t b, size_t e) const {
  if (align_.empty()) return {static_cast<uint32_t>(base_ + b), static_cast<uint32_t>(base_ + e)};
  if (b >= e) {
    if (b < align_.size()) return {align_[b].first, align_[b].first};
    if (!align_.empty()) return {align_.back().second, align_.back().second};
    return {base_, base_};
  }
  return {align_[b].first, align_[e - 1].second};
}

NormalizedString NormalizedString::slice(size_t b, size_t e) const {
  NormalizedString r;
  r.text_ = text_.substr(b, e - b);
  if (align_.empty()) {
    r.base_ = static_cast<uint32_t>(base_ + b);
  } else {
    r.align_.assign(align_.begin() + static_cast<long>(b), align_.begin() + static_cast<long>(e));
    r.base_ = b < align_.size() ? align_[b].first : base_;
  }
  return r;
}

void NormalizedString::materialize() {
  if (!align_.empty() || text_.empty()) return;
  align_.resize(text_.size());
  size_t i = 0;
  while (i < text_.size()) {
    size_t n = utf8_len(static_cast<unsigned char>(text_[i]));
    if (i + n > text_.size()) n = text_.size() - i;
    for (size_t k = 0; k < n; ++k) align_[i + k] = {base_ + static_cast<uint32_t>(i), base_ + static_cast<uint32_t>(i + n)};
    i += n;
  }
}

void NormalizedString::map_chars(const std::function<void(char32_t, std::string&)>& fn) {
  std::string out;
  out.reserve(text_.size());
  std::vector<std::pair<uint32_t, uint32_t>> al;
  bool changed = false;
  size_t i = 0;
  while (i < text_.size()) {
    size_t b = i;
    char32_t c = utf8_next(text_, i);
    size_t before = out.size();
    fn(c, out);
    if (!changed) {
      if (out.size() - before == i - b && out.compare(before, i - b, text_, b, i - b) == 0) continue;
      changed = true;
      // Backfill alignment for the unchanged prefix.
      materialize();
      al.assign(align_.begin(), align_.begin() + static_cast<long>(b));
    }
    auto r = original_range(b, i);
    for (size_t k = before; k < out.size(); ++k) al.push_back(r);
  }
  if (!changed) return;
  text_ = std::move(out);
  align_ = std::move(al);
  if (align_.empty()) base_ = 0, text_.clear();
}

void NormalizedString::replace_ranges(const std::vector<std::pair<size_t, size_t>>& ranges, std::string_view content) {
  if (ranges.empty()) return;
  materialize();
  std::string out;
  std::vector<std::pair<uint32_t, uint32_t>> al;
  out.reserve(text_.size());
  al.reserve(text_.size());
  size_t prev = 0;
  for (auto [b, e] : ranges) {
    out.append(text_, prev, b - prev);
    al.insert(al.end(), align_.begin() + static_cast<long>(prev), align_.begin() + static_cast<long>(b));
    auto r = original_range(b, e);
    out.append(content);
    for (size_t k = 0; k < content.size(); ++k) al.push_back(r);
    prev = e;
  }
  out.append(text_, prev, std::string::npos);
  al.insert(al.end(), align_.begin() + static_cast<long>(prev), align_.end());
  text_ = std::move(out);
  align_ = std::move(al);
  if (text_.empty()) align_.clear();
}

void NormalizedString::replace_segments(const std::vector<std::pair<size_t, size_t>>& segs,
                                        const std::function<std::string(std::string_view)>& fn) {
  std::string out;
  std::vector<std::pair<uint32_t, uint32_t>> al;
  bool changed = false;
  size_t prev = 0;
  for (auto [b, e] : segs) {
    std::string rep = fn(std::string_view(text_).substr(b, e - b));
    if (!changed && rep.size() == e - b && rep.compare(0, rep.size(), text_, b, e - b) == 0) continue;
    if (!changed) {
      changed = true;
      materialize();
      out.reserve(text_.size());
    }
    out.append(text_, prev, b - prev);
    al.insert(al.end(), align_.begin() + static_cast<long>(prev), align_.begin() + static_cast<long>(b));
    if (rep.size() == e - b && rep.compare(0, rep.size(), text_, b, e - b) == 0) {
      al.insert(al.end(), align_.begin() + static_cast<long>(b), align_.begin() + static_cast<long>(e));
    } else {
      auto r = original_range(b, e);
      for (size_t k = 0; k < rep.size(); ++k) al.push_back(r);
    }
    out += rep;
    prev = e;
  }
  if (!changed) return;
  out.append(text_, prev, std::string::npos);
  al.insert(al.end(), align_.begin() + static_cast<long>(prev), align_.end());
  text_ = std::move(out);
  align_ = std::move(al);
  if (text_.empty()) align_.clear();
}

void NormalizedString::prepend(std::string_view s) {
  if (text_.empty() || s.empty()) return;
  materialize();
  size_t n = utf8_len(static_cast<unsigned char>(text_[0]));
  auto r = original_range(0, std::min(n, text_.size()));
  text_.insert(0, s);
  align_.insert(align_.begin(), s.size(), r);
}

void NormalizedString::append(std::string_view s) {
  if (text_.empty() || s.empty()) return;
  materialize();
  size_t i = text_.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(text_[i]) & 0xC0) == 0x80) --i;
  auto r = original_range(i, text_.size());
  text_.append(s);
  align_.insert(align_.end(), s.size(), r);
}

void NormalizedString::strip(bool left, bool right) {
  size_t b = 0, e = text_.size();
  if (left) {
    while (b < e) {
      size_t j = b;
      if (!is_whitespace(utf8_next(text_, j))) break;
      b = j;
    }
  }
  if (right) {
    while (e > b) {
      size_t k = e - 1;
      while (k > b && (static_cast<unsigned char>(text_[k]) & 0xC0) == 0x80) --k;
      size_t j = k;
      if (!is_whitespace(utf8_next(text_, j))) break;
      e = k;
    }
  }
  if (b == 0 && e == text_.size()) return;
  *this = slice(b, e);
}

SplitBehavior parse_split_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  fail(ErrorKind::Format, "unsupported split behavior '{}' (expected Removed, Isolated, MergedWithPrevious, "
       "MergedWithNext or Contiguous)", s);
}

Matches find_regex(const Regex& re, std::string_view s) {
  Matches m;
  if (s.empty()) {
    m.emplace_back(0, 0, false);
    return m;
  }
  std::vector<std::pair<size_t, size_t>> found;
  re.find_all(s, found);
  size_t prev = 0;
  for (auto [b, e] : found) {
    if (prev != b) m.emplace_back(prev, b, false);
    m.emplace_back(b, e, true);
    prev = e;
  }
  if (prev != s.size()) m.emplace_back(prev, s.size(), false);
  return m;
}

Matches find_string(std::string_view pattern, std::string_view s) {
  Matches m;
  if (s.empty()) {
    m.emplace_back(0, 0, false);
    return m;
  }
  size_t prev = 0;
  if (!pattern.empty()) {
    size_t pos = 0;
    while ((pos = s.find(pattern, pos)) != std::string_view::npos) {
      if (prev != pos) m.emplace_back(prev, pos, false);
      m.emplace_back(pos, pos + pattern.size(), true);
      pos += pattern.size();
      prev = pos;
    }
  }
  if (prev != s.size()) m.emplace_back(prev, s.size(), false);
  return m;
}

Matches find_chars(const std::function<bool(char32_t)>& pred, std::string_view s) {
  Matches m;
  if (s.empty()) {
    m.emplace_back(0, 0, false);
    return m;
  }
  size_t last = 0, i = 0;
  while (i < s.size()) {
    size_t b = i;
    char32_t c = utf8_next(s, i);
    if (pred(c)) {
      if (last < b) m.emplace_back(last, b, false);
      m.emplace_back(b, i, true);
      last = i;
    }
  }
  if (s.size() > last) m.emplace_back(last, s.size(), false);
  return m;
}

void invert(Matches& m) {
  for (auto& t : m) std::get<2>(t) = !std::get<2>(t);
}

void split_by(const NormalizedString& ns, Matches matches, SplitBehavior behavior, std::vector<NormalizedString>& out) {
  // (start, end, remove)
  std::vector<std::tuple<size_t, size_t, bool>> pieces;
  pieces.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto& [b, e, m] : matches) pieces.emplace_back(b, e, false);
      break;
    case SplitBehavior::Removed:
      pieces = std::move(matches);
      break;
    case SplitBehavior::Contiguous: {
      bool prev = false;
      for (auto& [b, e, m] : matches) {
        if (m == prev && !pieces.empty()) std::get<1>(pieces.back()) = e;
        else pieces.emplace_back(b, e, false);
        prev = m;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool prev = false;
      for (auto& [b, e, m] : matches) {
        if (m && !prev && !pieces.empty()) std::get<1>(pieces.back()) = e;
        else pieces.emplace_back(b, e, false);
        prev = m;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        auto& [b, e, m] = *it;
        if (m && !prev && !pieces.empty()) std::get<0>(pieces.back()) = b;
        else pieces.emplace_back(b, e, false);
        prev = m;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  for (auto& [b, e, remove] : pieces) {
    if (remove || b == e) continue;
    out.push_back(ns.slice(b, e));
  }
}

void PreTokenizedString::split(
    const std::function<void(size_t, NormalizedString&&, std::vector<NormalizedString>&)>& fn) {
  std::vector<Split> next;
  next.reserve(splits.size());
  std::vector<NormalizedString> pieces;
  for (size_t i = 0; i < splits.size(); ++i) {
    auto& s = splits[i];
    if (s.has_tokens) {
      next.push_back(std::move(s));
      continue;
    }
    pieces.clear();
    fn(i, std::move(s.normalized), pieces);
    for (auto& p : pieces) {
      if (p.empty()) continue;
      next.push_back(Split{std::move(p), {}, false});
    }
  }
  splits = std::move(next);
}

}  // namespace ia::text
