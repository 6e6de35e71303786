// tokenizer.json models: BPE (byte fallback, ignore_merges, subword prefix / word suffix), WordPiece,
// WordLevel and Unigram (Viterbi), with the exact tie-breaking of HF tokenizers.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "core/error.h"
#include "text/components.h"
#include "text/unicode.h"

namespace ia::text {

namespace {

// Open-addressing hash map from 64-bit keys to 64-bit values (merge tables, trie edges).
class FlatMap64 {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, 0);
    mask_ = cap - 1;
    size_ = 0;
  }
  void set(uint64_t k, uint64_t v) {
    if (keys_.empty() || (size_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(k);
    if (keys_[i] == kEmpty) ++size_;
    keys_[i] = k;
    vals_[i] = v;
  }
  const uint64_t* get(uint64_t k) const {
    if (keys_.empty()) return nullptr;
    size_t i = hash(k) & mask_;
    while (true) {
      if (keys_[i] == k) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  size_t slot(uint64_t k) const {
    size_t i = hash(k) & mask_;
    while (keys_[i] != kEmpty && keys_[i] != k) i = (i + 1) & mask_;
    return i;
  }
  void grow() {
    std::vector<uint64_t> ok = std::move(keys_), ov = std::move(vals_);
    reserve(std::max<size_t>(16, ok.size()));
    for (size_t i = 0; i < ok.size(); ++i)
      if (ok[i] != kEmpty) set(ok[i], ov[i]);
  }
  std::vector<uint64_t> keys_, vals_;
  size_t mask_ = 0, size_ = 0;
};

struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct SvEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
using Vocab = std::unordered_map<std::string, uint32_t, SvHash, SvEq>;

std::vector<std::string> reverse_vocab(const Vocab& v) {
  uint32_t max_id = 0;
  for (auto& [k, id] : v) max_id = std::max(max_id, id);
  std::vector<std::string> r(v.empty() ? 0 : max_id + 1);
  for (auto& [k, id] : v) r[id] = k;
  return r;
}

Vocab to_vocab(std::unordered_map<std::string, uint32_t> in) {
  Vocab v;
  v.reserve(in.size());
  for (auto& [k, id] : in) v.emplace(k, id);
  return v;
}

Vocab parse_vocab_object(const json& j, const std::string& where) {
  const json& v = json_field(j, "vocab", where);
  IA_CHECK(v.is_object(), ErrorKind::Format, "{}.vocab: expected an object of token -> id, got {}", where, v.type_name());
  Vocab vocab;
  vocab.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    IA_CHECK(it.value().is_number_unsigned() || it.value().is_number_integer(), ErrorKind::Format,
             "{}.vocab['{}']: expected an integer id, got {}", where, it.key(), it.value().type_name());
    vocab.emplace(it.key(), it.value().get<uint32_t>());
  }
  return vocab;
}

bool is_set(const std::vector<std::string>& v, uint32_t id) { return id < v.size() && !v[id].empty(); }

// ---------------------------------------------------------------------------------------------------- BPE

class Bpe : public Model {
 public:
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opt)
      : vocab_(std::move(vocab)), opt_(std::move(opt)) {
    vocab_r_ = reverse_vocab(vocab_);
    merges_.reserve(merges.size());
    size_t plen = opt_.continuing_subword_prefix.size();
    for (size_t r = 0; r < merges.size(); ++r) {
      auto& [a, b] = merges[r];
      auto ia = vocab_.find(a), ib = vocab_.find(b);
      IA_CHECK(ia != vocab_.end() && ib != vocab_.end(), ErrorKind::Format,
               "model.merges[{}]: token '{}' of merge '{} {}' is not in the vocab", r,
               ia == vocab_.end() ? a : b, a, b);
      std::string merged = a + (b.size() >= plen ? b.substr(plen) : b);
      auto im = vocab_.find(merged);
      IA_CHECK(im != vocab_.end(), ErrorKind::Format, "model.merges[{}]: merged token '{}' is not in the vocab", r,
               merged);
      merges_.set((uint64_t(ia->second) << 32) | ib->second, (uint64_t(r) << 32) | im->second);
    }
    if (opt_.unk_token) {
      auto it = vocab_.find(*opt_.unk_token);
      if (it != vocab_.end()) unk_id_ = it->second;
    }
    if (opt_.byte_fallback) {
      for (int b = 0; b < 256; ++b) {
        auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
        byte_ids_[b] = it == vocab_.end() ? -1 : static_cast<int64_t>(it->second);
      }
    }
  }

  void tokenize(std::string_view word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    if (opt_.ignore_merges) {
      auto it = vocab_.find(word);
      if (it != vocab_.end()) {
        out.push_back(Token{it->second, it->first, 0, static_cast<uint32_t>(word.size())});
        return;
      }
    }
    std::vector<std::pair<uint32_t, uint32_t>> syms;  // (id, byte length)
    bool cacheable = word.size() < kMaxCachedLength;
    if (!cacheable || !cache_get(word, syms)) {
      merge_word(word, syms);
      if (cacheable) cache_put(word, syms);
    }
    uint32_t off = 0;
    for (auto [id, len] : syms) {
      out.push_back(Token{id, vocab_r_[id], off, off + len});
      off += len;
    }
  }

  std::optional<uint32_t> token_to_id(std::string_view t) const override {
    auto it = vocab_.find(t);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* id_to_token(uint32_t id) const override { return is_set(vocab_r_, id) ? &vocab_r_[id] : nullptr; }
  size_t vocab_size() const override { return vocab_.size(); }
  const char* type() const override { return "BPE"; }

 private:
  static constexpr size_t kMaxCachedLength = 256;
  static constexpr size_t kShards = 64;
  static constexpr size_t kShardCapacity = 4096;

  struct Symbol {
    uint32_t id;
    int32_t prev, next;
    uint32_t len;
  };

  void merge_word(std::string_view w, std::vector<std::pair<uint32_t, uint32_t>>& result) const {
    std::vector<Symbol> syms;
    syms.reserve(w.size());
    auto add = [&](uint32_t id, uint32_t len) {
      int32_t idx = static_cast<int32_t>(syms.size());
      syms.push_back(Symbol{id, idx - 1, idx + 1, len});
    };
    std::optional<std::pair<uint32_t, uint32_t>> unk;
    std::string buf;
    size_t i = 0;
    while (i < w.size()) {
      size_t b = i;
      size_t n = utf8_len(static_cast<unsigned char>(w[i]));
      if (i + n > w.size()) n = w.size() - i;
      i += n;
      bool first = b == 0, last = i >= w.size();
      std::string_view piece = w.substr(b, n);
      if ((!first && !opt_.continuing_subword_prefix.empty()) || (last && !opt_.end_of_word_suffix.empty())) {
        buf.clear();
        if (!first) buf += opt_.continuing_subword_prefix;
        buf += piece;
        if (last) buf += opt_.end_of_word_suffix;
        piece = buf;
      }
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        if (unk) {
          add(unk->first, unk->second);
          unk.reset();
        }
        add(it->second, static_cast<uint32_t>(n));
        continue;
      }
      if (opt_.byte_fallback) {
        bool all = true;
        for (unsigned char c : piece) all = all && byte_ids_[c] >= 0;
        if (all) {
          for (unsigned char c : piece) add(static_cast<uint32_t>(byte_ids_[c]), 1);
          continue;
        }
      }
      if (unk_id_) {
        if (unk && opt_.fuse_unk) {
          unk->second += static_cast<uint32_t>(n);
        } else {
          if (unk) add(unk->first, unk->second);
          unk = std::make_pair(*unk_id_, static_cast<uint32_t>(n));
        }
      }
    }
    if (unk) add(unk->first, unk->second);
    if (!syms.empty()) syms.back().next = -1;

    // Lowest rank first, then leftmost position.
    using Item = std::tuple<uint32_t, int32_t, uint32_t>;  // rank, pos, new id
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue;
    auto lookup = [&](uint32_t a, uint32_t b) { return merges_.get((uint64_t(a) << 32) | b); };
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      if (auto m = lookup(syms[k].id, syms[k + 1].id))
        queue.emplace(static_cast<uint32_t>(*m >> 32), static_cast<int32_t>(k), static_cast<uint32_t>(*m));
    }
    while (!queue.empty()) {
      auto [rank, pos, new_id] = queue.top();
      queue.pop();
      Symbol& cur = syms[pos];
      if (cur.len == 0 || cur.next == -1) continue;
      Symbol right = syms[cur.next];
      auto m = lookup(cur.id, right.id);
      if (!m || static_cast<uint32_t>(*m) != new_id) continue;
      int32_t right_pos = cur.next;
      cur.id = new_id;
      cur.len += right.len;
      cur.next = right.next;
      syms[right_pos].len = 0;
      if (right.next != -1) syms[right.next].prev = pos;
      if (cur.prev >= 0) {
        if (auto m2 = lookup(syms[cur.prev].id, cur.id))
          queue.emplace(static_cast<uint32_t>(*m2 >> 32), cur.prev, static_cast<uint32_t>(*m2));
      }
      if (cur.next != -1) {
        if (auto m2 = lookup(cur.id, syms[cur.next].id))
          queue.emplace(static_cast<uint32_t>(*m2 >> 32), pos, static_cast<uint32_t>(*m2));
      }
    }
    result.clear();
    for (auto& s : syms)
      if (s.len != 0) result.emplace_back(s.id, s.len);
  }

  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<std::pair<uint32_t, uint32_t>>, SvHash, SvEq> map;
  };
  size_t shard_of(std::string_view w) const { return std::hash<std::string_view>{}(w) % kShards; }
  bool cache_get(std::string_view w, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
    Shard& s = shards_[shard_of(w)];
    std::shared_lock lock(s.mu);
    auto it = s.map.find(w);
    if (it == s.map.end()) return false;
    out = it->second;
    return true;
  }
  void cache_put(std::string_view w, const std::vector<std::pair<uint32_t, uint32_t>>& v) const {
    Shard& s = shards_[shard_of(w)];
    std::unique_lock lock(s.mu);
    if (s.map.size() < kShardCapacity) s.map.emplace(std::string(w), v);
  }

  Vocab vocab_;
  std::vector<std::string> vocab_r_;
  FlatMap64 merges_;
  BpeOptions opt_;
  std::optional<uint32_t> unk_id_;
  int64_t byte_ids_[256] = {};
  mutable Shard shards_[kShards];
};

// ---------------------------------------------------------------------------------------------- WordPiece

class WordPiece : public Model {
 public:
  WordPiece(Vocab vocab, std::string unk, std::string prefix, size_t max_chars)
      : vocab_(std::move(vocab)), unk_(std::move(unk)), prefix_(std::move(prefix)), max_chars_(max_chars) {
    vocab_r_ = reverse_vocab(vocab_);
  }
  void tokenize(std::string_view w, std::vector<Token>& out) const override {
    auto push_unk = [&] {
      auto it = vocab_.find(unk_);
      IA_CHECK(it != vocab_.end(), ErrorKind::Format, "WordPiece: unk_token '{}' is not in the vocab", unk_);
      out.push_back(Token{it->second, unk_, 0, static_cast<uint32_t>(w.size())});
    };
    if (utf8_char_count(w) > max_chars_) {
      push_unk();
      return;
    }
    size_t mark = out.size();
    size_t start = 0;
    std::string buf;
    while (start < w.size()) {
      size_t end = w.size();
      bool found = false;
      while (start < end) {
        std::string_view sub = w.substr(start, end - start);
        if (start > 0) {
          buf.assign(prefix_);
          buf.append(sub);
          sub = buf;
        }
        auto it = vocab_.find(sub);
        if (it != vocab_.end()) {
          out.push_back(Token{it->second, it->first, static_cast<uint32_t>(start), static_cast<uint32_t>(end)});
          found = true;
          break;
        }
        // step back one character
        size_t k = end - 1;
        while (k > start && (static_cast<unsigned char>(w[k]) & 0xC0) == 0x80) --k;
        end = k;
      }
      if (!found) {
        out.resize(mark);
        push_unk();
        return;
      }
      start = end;
    }
  }
  std::optional<uint32_t> token_to_id(std::string_view t) const override {
    auto it = vocab_.find(t);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* id_to_token(uint32_t id) const override { return is_set(vocab_r_, id) ? &vocab_r_[id] : nullptr; }
  size_t vocab_size() const override { return vocab_.size(); }
  const char* type() const override { return "WordPiece"; }

 private:
  Vocab vocab_;
  std::vector<std::string> vocab_r_;
  std::string unk_, prefix_;
  size_t max_chars_;
};

class WordLevel : public Model {
 public:
  WordLevel(Vocab vocab, std::string unk) : vocab_(std::move(vocab)), unk_(std::move(unk)) {
    vocab_r_ = reverse_vocab(vocab_);
  }
  void tokenize(std::string_view w, std::vector<Token>& out) const override {
    auto it = vocab_.find(w);
    if (it == vocab_.end()) {
      it = vocab_.find(unk_);
      IA_CHECK(it != vocab_.end(), ErrorKind::InvalidArgument,
               "WordLevel: '{}' is not in the vocab and unk_token '{}' is missing", std::string(w), unk_);
    }
    out.push_back(Token{it->second, it->first, 0, static_cast<uint32_t>(w.size())});
  }
  std::optional<uint32_t> token_to_id(std::string_view t) const override {
    auto it = vocab_.find(t);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* id_to_token(uint32_t id) const override { return is_set(vocab_r_, id) ? &vocab_r_[id] : nullptr; }
  size_t vocab_size() const override { return vocab_.size(); }
  const char* type() const override { return "WordLevel"; }

 private:
  Vocab vocab_;
  std::vector<std::string> vocab_r_;
  std::string unk_;
};

// ------------------------------------------------------------------------------------------------ Unigram

class Unigram : public Model {
 public:
  Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<uint32_t> unk_id, bool byte_fallback)
      : pieces_(std::move(pieces)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
    IA_CHECK(!unk_id_ || *unk_id_ < pieces_.size(), ErrorKind::Format, "model.unk_id {} is out of range (vocab size {})",
             *unk_id_, pieces_.size());
    vocab_.reserve(pieces_.size());
    node_value_.push_back(-1);
    double min_score = INFINITY;
    for (size_t id = 0; id < pieces_.size(); ++id) {
      const std::string& p = pieces_[id].first;
      vocab_.emplace(p, static_cast<uint32_t>(id));
      min_score = std::min(min_score, pieces_[id].second);
      if (p.empty()) continue;
      uint64_t node = 0;
      for (unsigned char c : p) {
        uint64_t key = (node << 8) | c;
        auto nx = edges_.get(key);
        if (nx) {
          node = *nx;
        } else {
          uint64_t n = node_value_.size();
          node_value_.push_back(-1);
          edges_.set(key, n);
          node = n;
        }
      }
      if (node_value_[node] < 0) node_value_[node] = static_cast<int64_t>(id);
    }
    unk_score_ = min_score - 10.0;
  }

  void tokenize(std::string_view s, std::vector<Token>& out) const override {
    if (s.empty()) return;
    struct Node {
      int64_t id = -1;
      double score = 0;
      int64_t starts_at = -1;
    };
    std::vector<Node> best(s.size() + 1);
    size_t start = 0;
    while (start < s.size()) {
      double base = best[start].score;
      size_t mblen = utf8_len(static_cast<unsigned char>(s[start]));
      if (start + mblen > s.size()) mblen = s.size() - start;
      bool single = false;
      uint64_t node = 0;
      for (size_t k = start; k < s.size(); ++k) {
        auto nx = edges_.get((node << 8) | static_cast<unsigned char>(s[k]));
        if (!nx) break;
        node = *nx;
        int64_t id = node_value_[node];
        if (id < 0) continue;
        size_t end = k + 1;
        double cand = base + pieces_[static_cast<size_t>(id)].second;
        Node& t = best[end];
        if (t.starts_at < 0 || cand > t.score) {
          t.score = cand;
          t.starts_at = static_cast<int64_t>(start);
          t.id = id;
        }
        if (end - start == mblen) single = true;
      }
      if (!single) {
        IA_CHECK(unk_id_.has_value(), ErrorKind::Format, "Unigram: text needs an unknown token but the model has no unk_id");
        Node& t = best[start + mblen];
        double cand = base + unk_score_;
        if (t.starts_at < 0 || cand > t.score) {
          t.score = cand;
          t.starts_at = static_cast<int64_t>(start);
          t.id = *unk_id_;
        }
      }
      start += mblen;
    }
    // Backtrack; consecutive unknown pieces are fused into one.
    std::vector<std::pair<size_t, size_t>> pieces;
    size_t end = s.size();
    size_t unk_end = 0;
    bool in_unk = false;
    while (end > 0) {
      const Node& nd = best[end];
      size_t st = static_cast<size_t>(nd.starts_at);
      if (unk_id_ && nd.id == static_cast<int64_t>(*unk_id_)) {
        if (!in_unk) unk_end = end;
        in_unk = true;
      } else {
        if (in_unk) pieces.emplace_back(end, unk_end);
        in_unk = false;
        pieces.emplace_back(st, end);
      }
      end = st;
    }
    if (in_unk) pieces.emplace_back(0, unk_end);
    std::reverse(pieces.begin(), pieces.end());
    for (auto [b, e] : pieces) {
      std::string_view p = s.substr(b, e - b);
      auto it = vocab_.find(p);
      if (it != vocab_.end()) {
        out.push_back(Token{it->second, it->first, static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
        continue;
      }
      if (byte_fallback_) {
        std::vector<Token> bytes;
        for (unsigned char c : p) {
          std::string bt = fmt::format("<0x{:02X}>", c);
          auto bi = vocab_.find(bt);
          if (bi == vocab_.end()) break;
          bytes.push_back(Token{bi->second, bt, static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
        }
        if (bytes.size() == p.size()) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      out.push_back(Token{*unk_id_, std::string(p), static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
    }
  }
  std::optional<uint32_t> token_to_id(std::string_view t) const override {
    auto it = vocab_.find(t);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* id_to_token(uint32_t id) const override {
    return id < pieces_.size() ? &pieces_[id].first : nullptr;
  }
  size_t vocab_size() const override { return pieces_.size(); }
  const char* type() const override { return "Unigram"; }

 private:
  std::vector<std::pair<std::string, double>> pieces_;
  Vocab vocab_;
  FlatMap64 edges_;  // (node << 8 | byte) -> child node
  std::vector<int64_t> node_value_;
  std::optional<uint32_t> unk_id_;
  bool byte_fallback_;
  double unk_score_ = 0;
};

std::vector<std::pair<std::string, std::string>> parse_merges(const json& j, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> merges;
  auto it = j.find("merges");
  if (it == j.end() || it->is_null()) return merges;
  IA_CHECK(it->is_array(), ErrorKind::Format, "{}.merges: expected an array, got {}", where, it->type_name());
  merges.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      IA_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, ErrorKind::Format,
               "{}.merges[{}]: expected 'a b', got '{}'", where, i, s);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      IA_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), ErrorKind::Format,
               "{}.merges[{}]: expected a string or a [a, b] pair", where, i);
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return merges;
}

std::optional<std::string> opt_string(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  IA_CHECK(it->is_string(), ErrorKind::Format, "{}.{}: expected a string, got {}", where, key, it->type_name());
  return it->get<std::string>();
}

}  // namespace

std::unique_ptr<Model> make_bpe(std::unordered_map<std::string, uint32_t> vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                const BpeOptions& opt) {
  return std::make_unique<Bpe>(to_vocab(std::move(vocab)), merges, opt);
}

std::unique_ptr<Model> make_wordpiece(std::unordered_map<std::string, uint32_t> vocab, std::string unk_token,
                                      std::string prefix, size_t max_input_chars_per_word) {
  return std::make_unique<WordPiece>(to_vocab(std::move(vocab)), std::move(unk_token), std::move(prefix),
                                     max_input_chars_per_word);
}

std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<uint32_t> unk_id,
                                    bool byte_fallback) {
  return std::make_unique<Unigram>(std::move(pieces), unk_id, byte_fallback);
}

std::unique_ptr<Model> make_model(const json& j, const std::string& where) {
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: expected an object, got {}", where, j.type_name());
  std::string type = json_string_or(j, "type", "", where);
  if (type.empty()) {  // older files omit the type: infer it from the fields
    if (j.contains("merges")) type = "BPE";
    else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) type = "WordPiece";
    else if (j.contains("vocab") && j["vocab"].is_array()) type = "Unigram";
    else if (j.contains("vocab")) type = "WordLevel";
    else fail(ErrorKind::Format, "{}: missing field 'type'", where);
  }
  if (type == "BPE") {
    auto dropout = j.find("dropout");
    IA_CHECK(dropout == j.end() || dropout->is_null() || (dropout->is_number() && dropout->get<double>() == 0.0),
             ErrorKind::Unsupported, "{}.dropout: BPE dropout is not supported (inference only)", where);
    BpeOptions opt;
    opt.unk_token = opt_string(j, "unk_token", where);
    opt.continuing_subword_prefix = opt_string(j, "continuing_subword_prefix", where).value_or("");
    opt.end_of_word_suffix = opt_string(j, "end_of_word_suffix", where).value_or("");
    opt.fuse_unk = json_bool_or(j, "fuse_unk", false, where);
    opt.byte_fallback = json_bool_or(j, "byte_fallback", false, where);
    opt.ignore_merges = json_bool_or(j, "ignore_merges", false, where);
    return std::make_unique<Bpe>(parse_vocab_object(j, where), parse_merges(j, where), opt);
  }
  if (type == "WordPiece") {
    auto max_chars = j.value("max_input_chars_per_word", 100);
    return std::make_unique<WordPiece>(parse_vocab_object(j, where), json_string_or(j, "unk_token", "[UNK]", where),
                                       json_string_or(j, "continuing_subword_prefix", "##", where),
                                       static_cast<size_t>(max_chars));
  }
  if (type == "WordLevel") {
    return std::make_unique<WordLevel>(parse_vocab_object(j, where), json_string_or(j, "unk_token", "<unk>", where));
  }
  if (type == "Unigram") {
    const json& v = json_field(j, "vocab", where);
    IA_CHECK(v.is_array(), ErrorKind::Format, "{}.vocab: expected an array of [piece, score], got {}", where,
             v.type_name());
    std::vector<std::pair<std::string, double>> pieces;
    pieces.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      IA_CHECK(v[i].is_array() && v[i].size() == 2 && v[i][0].is_string() && v[i][1].is_number(), ErrorKind::Format,
               "{}.vocab[{}]: expected [piece, score]", where, i);
      pieces.emplace_back(v[i][0].get<std::string>(), v[i][1].get<double>());
    }
    std::optional<uint32_t> unk;
    auto u = j.find("unk_id");
    if (u != j.end() && !u->is_null()) {
      IA_CHECK(u->is_number_integer(), ErrorKind::Format, "{}.unk_id: expected an integer", where);
      unk = u->get<uint32_t>();
    }
    return std::make_unique<Unigram>(std::move(pieces), unk, json_bool_or(j, "byte_fallback", false, where));
  }
  fail(ErrorKind::Unsupported, "unsupported model {} (at {})", type, where);
}

}  // namespace ia::text
