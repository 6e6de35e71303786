#include "generation/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace ia::generation {

EarlyStopping parse_early_stopping(const std::string& s) {
  if (s == "true" || s == "True" || s == "1") return EarlyStopping::True;
  if (s == "false" || s == "False" || s == "0") return EarlyStopping::False;
  if (s == "never") return EarlyStopping::Never;
  fail(ErrorKind::InvalidArgument, "early_stopping must be true, false or \"never\", got '{}'", s);
}

std::string to_string(EarlyStopping e) {
  switch (e) {
    case EarlyStopping::True: return "true";
    case EarlyStopping::False: return "false";
    case EarlyStopping::Never: return "never";
  }
  return "false";
}

void log_softmax_inplace(std::vector<float>& row) {
  float mx = -std::numeric_limits<float>::infinity();
  for (float v : row) mx = std::max(mx, v);
  if (!std::isfinite(mx)) return;  // all -inf: leave as is
  double sum = 0.0;
  for (float v : row) sum += std::exp(static_cast<double>(v - mx));
  const float lse = static_cast<float>(std::log(sum));
  for (float& v : row) v = (v - mx) - lse;
}

namespace {

// BeamHypotheses: the num_beams best finished hypotheses of one batch row.
struct Hypothesis {
  double score;
  std::vector<int64_t> tokens;
  std::vector<int64_t> beam_indices;
};

class Hypotheses {
 public:
  Hypotheses(int64_t num_beams, double length_penalty, EarlyStopping early, int64_t max_length)
      : num_beams_(num_beams), length_penalty_(length_penalty), early_(early), max_length_(max_length) {}

  size_t size() const { return beams_.size(); }
  const std::vector<Hypothesis>& beams() const { return beams_; }

  void add(std::vector<int64_t> tokens, double sum_logprobs, std::vector<int64_t> beam_indices,
           int64_t generated_len) {
    const double score = sum_logprobs / std::pow(static_cast<double>(generated_len), length_penalty_);
    if (static_cast<int64_t>(beams_.size()) < num_beams_ || score > worst_score_) {
      beams_.push_back({score, std::move(tokens), std::move(beam_indices)});
      if (static_cast<int64_t>(beams_.size()) > num_beams_) {
        // Drop the worst (the earliest added among equal scores, as sorting (score, index) pairs does).
        std::vector<size_t> order(beams_.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return beams_[a].score < beams_[b].score; });
        worst_score_ = beams_[order[1]].score;
        beams_.erase(beams_.begin() + static_cast<std::ptrdiff_t>(order[0]));
      } else {
        worst_score_ = std::min(score, worst_score_);
      }
    }
  }

  bool is_done(double best_sum_logprobs, int64_t cur_len, int64_t prompt_len) const {
    if (static_cast<int64_t>(beams_.size()) < num_beams_) return false;
    if (early_ == EarlyStopping::True) return true;
    double denom_len = static_cast<double>(cur_len - prompt_len);
    if (early_ == EarlyStopping::Never && length_penalty_ > 0.0) {
      IA_CHECK(max_length_ > prompt_len, ErrorKind::InvalidArgument,
               "beam search: max_length {} is not larger than the decoder prompt length {}", max_length_, prompt_len);
      denom_len = static_cast<double>(max_length_ - prompt_len);
    }
    const double highest_attainable = best_sum_logprobs / std::pow(denom_len, length_penalty_);
    return worst_score_ >= highest_attainable;
  }

 private:
  int64_t num_beams_;
  double length_penalty_;
  EarlyStopping early_;
  int64_t max_length_;
  std::vector<Hypothesis> beams_;
  double worst_score_ = 1e9;
};

struct Candidate {
  float score;
  int64_t flat;  // beam * V + token
};

}  // namespace

BeamSearchOutput beam_search(const BeamModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             int64_t V, const BeamSearchSettings& s) {
  const int64_t K = s.num_beams, B = static_cast<int64_t>(prompts.size()), R = B * K;
  IA_CHECK(K >= 2, ErrorKind::InvalidArgument, "beam search: num_beams must be > 1, got {} (1 is greedy search)", K);
  IA_CHECK(s.num_return_sequences >= 1 && s.num_return_sequences <= K, ErrorKind::InvalidArgument,
           "beam search: num_return_sequences ({}) must be between 1 and num_beams ({})", s.num_return_sequences, K);
  IA_CHECK(B > 0 && !prompts[0].empty(), ErrorKind::InvalidArgument, "beam search: empty prompt");
  IA_CHECK(V >= 2, ErrorKind::InvalidArgument, "beam search: vocabulary of {} tokens", V);
  IA_CHECK(s.length_penalty == s.length_penalty, ErrorKind::InvalidArgument, "beam search: length_penalty is NaN");
  const int64_t P = static_cast<int64_t>(prompts[0].size());
  for (const auto& p : prompts)
    IA_CHECK(static_cast<int64_t>(p.size()) == P, ErrorKind::InvalidArgument,
             "beam search: prompts of different lengths ({} and {}); left-pad them", P, p.size());
  IA_CHECK(s.encoder_ids.empty() || static_cast<int64_t>(s.encoder_ids.size()) == B, ErrorKind::InvalidArgument,
           "beam search: {} encoder rows for a batch of {}", s.encoder_ids.size(), B);
  IA_CHECK(s.processors.encoder_no_repeat_ngram_size == 0 || !s.encoder_ids.empty(), ErrorKind::InvalidArgument,
           "beam search: encoder_no_repeat_ngram_size needs the encoder input ids");

  std::vector<std::vector<int64_t>> seqs(R), row_beams(R);
  std::vector<float> beam_scores(R, 0.0f);
  for (int64_t r = 0; r < R; ++r) {
    seqs[r] = prompts[r / K];
    if (r % K != 0) beam_scores[r] = -1e9f;  // only the first beam's tokens are considered at step 0
  }
  std::vector<Hypotheses> hyps;
  for (int64_t b = 0; b < B; ++b) hyps.emplace_back(K, s.length_penalty, s.early_stopping, s.max_length);
  std::vector<char> done(B, 0);
  const int64_t n_eos = static_cast<int64_t>(s.eos_token_ids.size());
  const int64_t keep = std::min<int64_t>(std::max<int64_t>(2, 1 + n_eos) * K, K * V);
  auto is_eos = [&](int64_t t) {
    return std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), t) != s.eos_token_ids.end();
  };
  BeamSearchOutput out;
  std::vector<std::vector<float>> step_logits;
  static const std::vector<int64_t> kNoEncoder;

  while (true) {
    std::vector<float> logits = model.next_logits(seqs);
    IA_CHECK(static_cast<int64_t>(logits.size()) == R * V, ErrorKind::InvalidArgument,
             "beam search: the model returned {} logits for {} rows x {} tokens", logits.size(), R, V);
    if (s.return_logits) step_logits.push_back(logits);
    const int64_t cur_len = static_cast<int64_t>(seqs[0].size()) + 1;  // the length next_scores are computed on
    std::vector<float> next_scores(R, 0.0f);
    std::vector<int64_t> next_tokens(R, s.pad_token_id >= 0 ? s.pad_token_id : 0), beam_idx(R);
    std::iota(beam_idx.begin(), beam_idx.end(), 0);
    std::vector<float> scores(static_cast<size_t>(K * V));
    std::vector<float> row(V);
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;  // HF pads finished batch rows (their rows never reach the output)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t r = b * K + k;
        std::copy(logits.begin() + r * V, logits.begin() + (r + 1) * V, row.begin());
        log_softmax_inplace(row);
        s.processors.apply(row, seqs[r], s.encoder_ids.empty() ? kNoEncoder : s.encoder_ids[b], s.eos_token_ids,
                           s.max_length);
        for (int64_t v = 0; v < V; ++v) scores[k * V + v] = row[v] + beam_scores[r];
      }
      // topk(keep, sorted): highest score first; equal scores by lower flat index.
      std::vector<Candidate> cand(static_cast<size_t>(K * V));
      for (int64_t i = 0; i < K * V; ++i) cand[i] = {scores[i], i};
      auto better = [](const Candidate& a, const Candidate& c) {
        const bool an = std::isnan(a.score), cn = std::isnan(c.score);
        if (an != cn) return !an;
        return a.score > c.score || (a.score == c.score && a.flat < c.flat);
      };
      std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(), better);
      // BeamSearchScorer.process
      int64_t filled = 0;
      for (int64_t rank = 0; rank < keep && filled < K; ++rank) {
        const int64_t token = cand[rank].flat % V, src = b * K + cand[rank].flat / V;
        if (is_eos(token)) {
          if (rank >= K) continue;  // an EOS outside the top num_beams candidates is not a hypothesis
          std::vector<int64_t> bi = row_beams[src];
          bi.push_back(src);
          hyps[b].add(seqs[src], static_cast<double>(cand[rank].score), std::move(bi), cur_len - P);
        } else {
          const int64_t r = b * K + filled;
          next_scores[r] = cand[rank].score;
          next_tokens[r] = token;
          beam_idx[r] = src;
          ++filled;
        }
      }
      IA_CHECK(filled == K, ErrorKind::InvalidArgument,
               "beam search: fewer than {} non-EOS candidates among the top {} (batch row {})", K, keep, b);
      done[b] = hyps[b].is_done(static_cast<double>(cand[0].score), cur_len, P);
    }
    std::vector<std::vector<int64_t>> nseqs(R), nbeams(R);
    for (int64_t r = 0; r < R; ++r) {
      nseqs[r] = seqs[beam_idx[r]];
      nseqs[r].push_back(next_tokens[r]);
      nbeams[r] = row_beams[beam_idx[r]];
      nbeams[r].push_back(beam_idx[r]);
    }
    seqs.swap(nseqs);
    row_beams.swap(nbeams);
    beam_scores = next_scores;
    ++out.steps;
    bool identity = true;
    for (int64_t r = 0; r < R; ++r) identity = identity && beam_idx[r] == r;
    const bool all_done = std::all_of(done.begin(), done.end(), [](char d) { return d != 0; });
    if (all_done || static_cast<int64_t>(seqs[0].size()) >= s.max_length) break;
    if (!identity && model.reorder) model.reorder(beam_idx);
  }

  // BeamSearchScorer.finalize
  for (int64_t b = 0; b < B; ++b) {
    if (done[b]) continue;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = b * K + k;
      hyps[b].add(seqs[r], static_cast<double>(beam_scores[r]), row_beams[r],
                  static_cast<int64_t>(seqs[r].size()) - P);
    }
  }
  const int64_t N = s.num_return_sequences;
  std::vector<const Hypothesis*> best;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<const Hypothesis*> sorted;
    for (const auto& h : hyps[b].beams()) sorted.push_back(&h);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Hypothesis* a, const Hypothesis* c) { return a->score < c->score; });
    for (int64_t j = 0; j < N; ++j) {
      best.push_back(sorted.back());
      sorted.pop_back();
    }
  }
  size_t max_len = 0, min_len = std::numeric_limits<size_t>::max();
  for (const auto* h : best) {
    max_len = std::max(max_len, h->tokens.size());
    min_len = std::min(min_len, h->tokens.size());
  }
  const size_t sent_max_len = std::min<size_t>(max_len + 1, static_cast<size_t>(std::max<int64_t>(s.max_length, 1)));
  IA_CHECK(min_len == max_len || s.pad_token_id >= 0, ErrorKind::InvalidArgument,
           "beam search: returned sequences differ in length and no pad_token_id is set");
  for (const auto* h : best) {
    std::vector<int64_t> seq(std::max(sent_max_len, h->tokens.size()), s.pad_token_id >= 0 ? s.pad_token_id : 0);
    std::copy(h->tokens.begin(), h->tokens.end(), seq.begin());
    if (h->tokens.size() < sent_max_len && !s.eos_token_ids.empty()) seq[h->tokens.size()] = s.eos_token_ids[0];
    out.sequences.push_back(std::move(seq));
    out.sequence_scores.push_back(static_cast<float>(h->score));
    std::vector<int64_t> bi(sent_max_len, -1);
    std::copy(h->beam_indices.begin(), h->beam_indices.begin() + std::min(h->beam_indices.size(), sent_max_len),
              bi.begin());
    out.beam_indices.push_back(std::move(bi));
  }
  if (s.return_logits) {
    const int64_t T = static_cast<int64_t>(step_logits.size());
    out.logits.resize(static_cast<size_t>(R * T * V));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < R; ++r)
        std::copy(step_logits[t].begin() + r * V, step_logits[t].begin() + (r + 1) * V,
                  out.logits.begin() + (r * T + t) * V);
  }
  return out;
}

BeamSearchOutput greedy_search(const BeamModel& model, const std::vector<std::vector<int64_t>>& prompts,
                               int64_t V, const BeamSearchSettings& s) {
  const int64_t B = static_cast<int64_t>(prompts.size());
  IA_CHECK(B > 0 && !prompts[0].empty(), ErrorKind::InvalidArgument, "greedy search: empty prompt");
  for (const auto& p : prompts)
    IA_CHECK(p.size() == prompts[0].size(), ErrorKind::InvalidArgument, "greedy search: prompts of different lengths");
  static const std::vector<int64_t> kNoEncoder;
  std::vector<std::vector<int64_t>> seqs = prompts;
  std::vector<char> done(B, 0);
  BeamSearchOutput out;
  std::vector<float> row(V);
  while (true) {
    const std::vector<float> logits = model.next_logits(seqs);
    IA_CHECK(static_cast<int64_t>(logits.size()) == B * V, ErrorKind::InvalidArgument,
             "greedy search: the model returned {} logits for {} rows x {} tokens", logits.size(), B, V);
    if (s.return_logits) out.logits.insert(out.logits.end(), logits.begin(), logits.end());
    for (int64_t b = 0; b < B; ++b) {
      int64_t next = s.pad_token_id >= 0 ? s.pad_token_id : 0;
      if (!done[b]) {
        std::copy(logits.begin() + b * V, logits.begin() + (b + 1) * V, row.begin());
        s.processors.apply(row, seqs[b], s.encoder_ids.empty() ? kNoEncoder : s.encoder_ids[b], s.eos_token_ids,
                           s.max_length);
        next = std::max_element(row.begin(), row.end()) - row.begin();
        if (std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), next) != s.eos_token_ids.end()) done[b] = 1;
      }
      seqs[b].push_back(next);
    }
    ++out.steps;
    if (std::all_of(done.begin(), done.end(), [](char d) { return d != 0; }) ||
        static_cast<int64_t>(seqs[0].size()) >= s.max_length)
      break;
  }
  if (s.return_logits) {  // [B, steps, V] from [steps, B, V]
    std::vector<float> l(out.logits.size());
    for (int64_t t = 0; t < out.steps; ++t)
      for (int64_t b = 0; b < B; ++b)
        std::copy(out.logits.begin() + (t * B + b) * V, out.logits.begin() + (t * B + b + 1) * V,
                  l.begin() + (b * out.steps + t) * V);
    out.logits.swap(l);
  }
  out.sequences = std::move(seqs);
  return out;
}

}  // namespace ia::generation
