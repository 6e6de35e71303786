// Beam search against independent references: exhaustive enumeration on a toy model whose logits are a hash of
// the sequence (num_beams >= vocab^steps, early_stopping "never", so beam search must return the global best
// hypothesis under HF's length-penalised score), hand-checked length penalty and early stopping, and on the
// tiny gpt2 / llama / t5 / bart conformance models: cached, reordered decoding equals recomputing every row from
// scratch, and every returned sequences_score equals the recomputed sum of log-probs / generated_len^penalty.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "generation/beam_generate.h"
#include "generation/beam_search.h"
#include "models/causal_lm.h"
#include "models/layers.h"
#include "models/model.h"
#include "beam_test_util.h"

namespace fs = std::filesystem;
using namespace ia;
using namespace ia::generation;
using namespace ia::beam_test;

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Toy logits: a hash of (sequence, token) mapped to [-2, 2).
float toy_logit(const std::vector<int64_t>& seq, int64_t v, uint64_t salt) {
  uint64_t x = salt * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(v) * 0xBF58476D1CE4E5B9ULL;
  for (int64_t t : seq) {
    x ^= static_cast<uint64_t>(t) + 0x9E3779B97F4A7C15ULL + (x << 6) + (x >> 2);
    x *= 0x94D049BB133111EBULL;
  }
  x ^= x >> 31;
  return static_cast<float>((x >> 11) * (1.0 / 9007199254740992.0)) * 4.0f - 2.0f;
}

BeamModel toy_model(int64_t V, uint64_t salt, int64_t* calls = nullptr) {
  BeamModel m;
  m.next_logits = [=](const std::vector<std::vector<int64_t>>& seqs) {
    if (calls) ++*calls;
    std::vector<float> out;
    for (const auto& s : seqs)
      for (int64_t v = 0; v < V; ++v) out.push_back(toy_logit(s, v, salt));
    return out;
  };
  m.reorder = [](const std::vector<int64_t>&) {};  // the toy recomputes from the whole sequence
  return m;
}


struct Best {
  double score = -INFINITY;
  std::vector<int64_t> seq;  // as HF returns it: tokens, then EOS when the hypothesis ended on one
};

// Every finished hypothesis: ends with EOS after t >= 1 new tokens (score: sum of its t log-probs / t^lp), or
// reaches max_new new tokens (score: sum / max_new^lp). `banned(row, v)` masks tokens like a logits processor.
void enumerate(std::vector<int64_t>& row, double sum, int64_t gen, int64_t max_new, int64_t V, int64_t eos,
               double lp, uint64_t salt, const std::function<bool(const std::vector<int64_t>&, int64_t)>& banned,
               Best& best) {
  std::vector<float> l;
  for (int64_t v = 0; v < V; ++v) l.push_back(toy_logit(row, v, salt));
  auto lsm = log_softmax_d(l);
  for (int64_t v = 0; v < V; ++v) {
    if (banned && banned(row, v)) continue;
    const double s = sum + lsm[v];
    const int64_t t = gen + 1;
    if (v == eos || t == max_new) {
      const double score = s / std::pow(double(t), lp);
      if (score > best.score) {
        best.score = score;
        best.seq = row;
        best.seq.push_back(v);
      }
      continue;
    }
    row.push_back(v);
    enumerate(row, s, t, max_new, V, eos, lp, salt, banned, best);
    row.pop_back();
  }
}

TEST(BeamSearch, ExhaustiveBeamsFindTheGlobalBestHypothesis) {
  const int64_t V = 3, N = 3, eos = 0;
  for (double lp : {1.0, 0.0, 2.0, -1.0}) {
    for (uint64_t salt : {1u, 2u, 3u, 4u, 5u}) {
      SCOPED_TRACE("length_penalty " + std::to_string(lp) + " salt " + std::to_string(salt));
      BeamSearchSettings s;
      s.num_beams = 27;  // V^N: nothing is ever pruned
      s.length_penalty = lp;
      s.early_stopping = EarlyStopping::Never;
      s.max_length = 2 + N;
      s.eos_token_ids = {eos};
      s.pad_token_id = 2;
      const std::vector<std::vector<int64_t>> prompt{{1, 2}};
      auto r = beam_search(toy_model(V, salt), prompt, V, s);
      Best best;
      std::vector<int64_t> row = prompt[0];
      enumerate(row, 0.0, 0, N, V, eos, lp, salt, nullptr, best);
      ASSERT_EQ(r.sequences.size(), 1u);
      EXPECT_NEAR(r.sequence_scores[0], best.score, 1e-5);
      // A hypothesis ending at max_length without EOS is returned as is; one that ended on EOS carries it.
      std::vector<int64_t> want = best.seq;
      if (want.back() != eos || static_cast<int64_t>(want.size()) > s.max_length) want.resize(s.max_length);
      std::vector<int64_t> got = r.sequences[0];
      got.resize(want.size());
      EXPECT_EQ(got, want);
    }
  }
}

TEST(BeamSearch, ExhaustiveWithoutEosAndWithNoRepeatNgram) {
  const int64_t V = 3, N = 3;
  auto repeats_bigram = [](const std::vector<int64_t>& row, int64_t v) {
    if (row.empty()) return false;
    for (size_t i = 0; i + 1 < row.size(); ++i)
      if (row[i] == row.back() && row[i + 1] == v) return true;
    return false;
  };
  for (uint64_t salt : {7u, 8u, 9u}) {
    for (bool ngram : {false, true}) {
      SCOPED_TRACE("salt " + std::to_string(salt) + (ngram ? " no_repeat_ngram_size 2" : ""));
      BeamSearchSettings s;
      s.num_beams = 27;
      s.max_length = 1 + N;
      s.num_return_sequences = 3;
      if (ngram) s.processors.no_repeat_ngram_size = 2;
      auto r = beam_search(toy_model(V, salt), {{2}}, V, s);
      Best best;
      std::vector<int64_t> row{2};
      // No EOS: every hypothesis has N new tokens; eos = -1 never matches.
      enumerate(row, 0.0, 0, N, V, -1, 1.0, salt, ngram ? std::function(repeats_bigram) : nullptr, best);
      ASSERT_EQ(r.sequences.size(), 3u);
      EXPECT_EQ(r.sequences[0], best.seq);
      EXPECT_NEAR(r.sequence_scores[0], best.score, 1e-5);
      EXPECT_GE(r.sequence_scores[0], r.sequence_scores[1]);
      EXPECT_GE(r.sequence_scores[1], r.sequence_scores[2]);
      EXPECT_EQ(r.steps, N);
      if (ngram)
        for (const auto& seq : r.sequences)
          for (size_t i = 0; i + 1 < seq.size(); ++i)
            for (size_t j = i + 1; j + 1 < seq.size(); ++j)
              EXPECT_FALSE(seq[i] == seq[j] && seq[i + 1] == seq[j + 1]) << "repeated bigram";
    }
  }
}

// A scripted model: next-token log-probs chosen by hand per sequence (rows are compared by their last tokens).
BeamModel scripted(const std::function<std::vector<float>(const std::vector<int64_t>&)>& probs) {
  BeamModel m;
  m.next_logits = [=](const std::vector<std::vector<int64_t>>& seqs) {
    std::vector<float> out;
    for (const auto& s : seqs)
      for (float p : probs(s)) out.push_back(std::log(p));  // log-probs are their own log_softmax
    return out;
  };
  return m;
}

TEST(BeamSearch, HandCheckedLengthPenaltyAndEarlyStopping) {
  // Tokens: 0 = EOS, 1, 2, 3 (3 is never likely). From the prompt [3]: EOS .4, "1" .35, "2" .25. After [3, 1]:
  // EOS .9. After [3, 2]: "1" .97. After [3, 2, 1]: EOS .99. Every other row: uniform.
  auto probs = [](const std::vector<int64_t>& s) -> std::vector<float> {
    const std::vector<int64_t> tail(s.begin() + 1, s.end());
    if (tail.empty()) return {0.4f, 0.35f, 0.25f, 0.0f};
    if (tail == std::vector<int64_t>{1}) return {0.9f, 0.05f, 0.05f, 0.0f};
    if (tail == std::vector<int64_t>{2}) return {0.01f, 0.97f, 0.02f, 0.0f};
    if (tail == std::vector<int64_t>{2, 1}) return {0.99f, 0.005f, 0.005f, 0.0f};
    return {0.25f, 0.25f, 0.25f, 0.25f};
  };
  BeamSearchSettings s;
  s.num_beams = 2;
  s.max_length = 8;
  s.eos_token_ids = {0};
  s.pad_token_id = 3;
  // Step 1: [3]+EOS is a hypothesis, log .4 / 1 = -0.916; beams [3,1] (log .35) and [3,2] (log .25).
  // Step 2: [3,1]+EOS = (log .35 + log .9) / 2 = -0.578; beams [3,2,1] and [3,1,1]. Two hypotheses now, so
  // early_stopping=True stops: best [3,1,EOS].
  s.early_stopping = EarlyStopping::True;
  auto r = beam_search(scripted(probs), {{3}}, 4, s);
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.sequences[0], (std::vector<int64_t>{3, 1, 0}));
  EXPECT_NEAR(r.sequence_scores[0], (std::log(0.35) + std::log(0.9)) / 2, 1e-6);
  // early_stopping=False: after step 2 the best candidate (-1.155) / 2 = -0.578 beats the worst kept (-0.916): go
  // on. Step 3: [3,2,1]+EOS = (log .25 + log .97 + log .99) / 3 = -0.476 evicts [3,EOS]; worst kept -0.578 and
  // the best candidate -1.427 / 3 = -0.476 still beats it (the beams are now [3,1,1,1] and [3,1,1,2]). Step 4:
  // every candidate is log .35 + log .05 + 2 log .25 = -6.82, over 4 = -1.70 < -0.578: stop before max_length.
  // Best = [3,2,1,EOS].
  s.early_stopping = EarlyStopping::False;
  r = beam_search(scripted(probs), {{3}}, 4, s);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.sequences[0], (std::vector<int64_t>{3, 2, 1, 0}));
  EXPECT_NEAR(r.sequence_scores[0], (std::log(0.25) + std::log(0.97) + std::log(0.99)) / 3, 1e-6);
  // "never" with length_penalty 1 bounds by max_length: step 3's -1.427 / 7 = -0.20 goes on, step 4's
  // -6.82 / 7 = -0.97 < -0.578 stops.
  s.early_stopping = EarlyStopping::Never;
  r = beam_search(scripted(probs), {{3}}, 4, s);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.sequences[0], (std::vector<int64_t>{3, 2, 1, 0}));
  // length_penalty 0 scores by the plain sum: after step 2 the hypotheses are [3,EOS] (-0.916) and [3,1,EOS]
  // (-1.155); the best candidate -1.155 cannot beat the worst kept -1.155: stop. Shorter sequences get EOS
  // then pad.
  s.early_stopping = EarlyStopping::False;
  s.length_penalty = 0.0;
  s.num_return_sequences = 2;
  r = beam_search(scripted(probs), {{3}}, 4, s);
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.sequences[0], (std::vector<int64_t>{3, 0, 3}));
  EXPECT_NEAR(r.sequence_scores[0], std::log(0.4), 1e-6);
  EXPECT_EQ(r.sequences[1], (std::vector<int64_t>{3, 1, 0}));
  EXPECT_NEAR(r.sequence_scores[1], std::log(0.35) + std::log(0.9), 1e-6);
}

TEST(BeamSearch, BadSettingsFail) {
  BeamSearchSettings s;
  s.max_length = 4;
  s.num_beams = 1;
  EXPECT_THROW(beam_search(toy_model(3, 1), {{1}}, 3, s), Error);
  s.num_beams = 2;
  s.num_return_sequences = 3;
  EXPECT_THROW(beam_search(toy_model(3, 1), {{1}}, 3, s), Error);
  s.num_return_sequences = 1;
  EXPECT_THROW(beam_search(toy_model(3, 1), {{1}, {1, 2}}, 3, s), Error);
  EXPECT_EQ(parse_early_stopping("never"), EarlyStopping::Never);
  EXPECT_THROW(parse_early_stopping("sometimes"), Error);
}

// ---- real tiny models ------------------------------------------------------------------------------------

std::string case_dir(const std::string& name) { return (fs::path(IA_TEST_DATA_DIR) / "conformance" / name).string(); }

const Tensor& output(const NamedTensors& out, const std::string& name) {
  for (const auto& [n, t] : out)
    if (n == name) return t;
  throw std::runtime_error("no output " + name);
}

struct Prompt {
  Tensor ids, mask;
  std::vector<std::vector<int64_t>> rows, masks;
};

// Two rows: row 0 left-padded by 3 (decoder-only) / right-padded (encoder input), row 1 full.
Prompt make_prompt(int64_t V, int64_t pad, bool left) {
  Prompt p;
  const int64_t S = 7;
  std::vector<int64_t> ids, mask;
  for (int64_t b = 0; b < 2; ++b) {
    std::vector<int64_t> r, m;
    for (int64_t i = 0; i < S; ++i) {
      const bool real = b == 1 || (left ? i >= 3 : i < S - 3);
      r.push_back(real ? 3 + (b * 31 + i * 13) % (V - 3) : pad);
      m.push_back(real);
    }
    ids.insert(ids.end(), r.begin(), r.end());
    mask.insert(mask.end(), m.begin(), m.end());
    p.rows.push_back(r);
    p.masks.push_back(m);
  }
  p.ids = Tensor::from_vector(ids, {2, S});
  p.mask = Tensor::from_vector(mask, {2, S});
  return p;
}

// HF decoder-only positions: cumsum(mask) - 1, padding at 1.
Tensor positions(const std::vector<std::vector<int64_t>>& masks) {
  const int64_t R = masks.size(), L = masks[0].size();
  std::vector<int64_t> pos;
  for (const auto& m : masks) {
    int64_t run = 0;
    for (int64_t v : m) {
      run += v;
      pos.push_back(v ? run - 1 : 1);
    }
  }
  return Tensor::from_vector(pos, {R, L});
}


// Next-token logits of every row by a full forward pass (no cache, no reordering).
std::vector<float> recompute(Model& m, bool encdec, const Prompt& p, int64_t K,
                             const std::vector<std::vector<int64_t>>& seqs) {
  const int64_t R = seqs.size(), L = seqs[0].size();
  NamedTensors out;
  if (encdec) {
    std::vector<std::vector<int64_t>> enc, em;
    for (int64_t r = 0; r < R; ++r) {
      enc.push_back(p.rows[r / K]);
      em.push_back(p.masks[r / K]);
    }
    out = m.forward({{"input_ids", flat(enc)}, {"attention_mask", flat(em)}, {"decoder_input_ids", flat(seqs)}}, {});
  } else {
    std::vector<std::vector<int64_t>> masks;
    for (int64_t r = 0; r < R; ++r) {
      auto mk = p.masks[r / K];
      mk.resize(L, 1);
      masks.push_back(mk);
    }
    out = m.forward({{"input_ids", flat(seqs)}, {"attention_mask", flat(masks)}, {"position_ids", positions(masks)}},
                    {});
  }
  const Tensor& logits = output(out, "logits");
  return logits.slice(1, L - 1, L).contiguous().to_vector<float>();
}

void check_case(const std::string& name, bool encdec) {
  SCOPED_TRACE(name);
  auto m = load_model(case_dir(name));
  const int64_t V = m->config().dim("vocab_size"), pad = m->config().dim_or("pad_token_id", 0);
  const int64_t start = encdec ? m->config().dim_or("decoder_start_token_id", 0) : -1;
  Prompt p = make_prompt(V, pad, !encdec);
  BeamRequest req;
  req.base.max_new_tokens = 6;
  req.base.pad_token_id = pad;
  req.num_beams = 3;
  req.num_return_sequences = 2;
  req.length_penalty = 0.7;
  req.processors = LogitsProcessors{};
  // EOS: the second token greedy decoding picks for row 1, so hypotheses finish at different lengths.
  const TensorMap in{{"input_ids", p.ids}, {"attention_mask", p.mask}};
  GenerationRequest greedy = req.base;
  greedy.eos_token_ids = {-1};  // no EOS stop: all max_new_tokens tokens
  const auto g = output(m->generate(in, greedy), "generated_ids");
  const int64_t P = encdec ? 1 : p.ids.dim(1);
  req.base.eos_token_ids = {g.to_vector<int64_t>()[g.dim(1) + P + 1]};
  for (auto es : {EarlyStopping::False, EarlyStopping::True, EarlyStopping::Never}) {
    SCOPED_TRACE("early_stopping " + to_string(es));
    req.early_stopping = es;
    const NamedTensors got = generate_beams(*m, in, req);
    const Tensor& ids = output(got, "generated_ids");
    const auto scores = output(got, "generated_sequences_scores").to_vector<float>();
    ASSERT_EQ(ids.dim(0), 4);

    // Reference: the same search with every row recomputed from scratch.
    BeamModel ref;
    ref.next_logits = [&](const std::vector<std::vector<int64_t>>& seqs) {
      return recompute(*m, encdec, p, req.num_beams, seqs);
    };
    BeamSearchSettings bs;
    bs.num_beams = req.num_beams;
    bs.num_return_sequences = req.num_return_sequences;
    bs.length_penalty = req.length_penalty;
    bs.early_stopping = es;
    bs.max_length = P + req.base.max_new_tokens;
    bs.eos_token_ids = req.base.eos_token_ids;
    bs.pad_token_id = pad;
    std::vector<std::vector<int64_t>> prompts = encdec ? std::vector<std::vector<int64_t>>(2, {start}) : p.rows;
    auto r = beam_search(ref, prompts, V, bs);
    std::vector<int64_t> want;
    for (const auto& s : r.sequences) want.insert(want.end(), s.begin(), s.end());
    EXPECT_EQ(ids.to_vector<int64_t>(), want);
    for (size_t i = 0; i < scores.size(); ++i) EXPECT_NEAR(scores[i], r.sequence_scores[i], 1e-5);

    // Each score = sum of the generated tokens' log-probs (EOS included) / generated_len^length_penalty.
    const auto flat_ids = ids.to_vector<int64_t>();
    const int64_t L = ids.dim(1);
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t b = i / 2;
      std::vector<int64_t> seq(flat_ids.begin() + i * L, flat_ids.begin() + (i + 1) * L);
      int64_t end = L;
      for (int64_t t = P; t < L; ++t)
        if (seq[t] == req.base.eos_token_ids[0]) {
          end = t + 1;
          break;
        }
      double sum = 0.0;
      for (int64_t t = P; t < end; ++t) {
        Prompt one = p;
        one.rows = {p.rows[b]};
        one.masks = {p.masks[b]};
        auto lsm = log_softmax_d(recompute(*m, encdec, one, 1, {std::vector<int64_t>(seq.begin(), seq.begin() + t)}));
        sum += lsm[seq[t]];
      }
      EXPECT_NEAR(scores[i], sum / std::pow(double(end - P), req.length_penalty), 2e-4) << "sequence " << i;
    }
  }
}

TEST(BeamSearchModels, Gpt2CachedEqualsRecomputeAndScores) { check_case("gpt2", false); }
TEST(BeamSearchModels, LlamaCachedEqualsRecomputeAndScores) { check_case("llama", false); }
TEST(BeamSearchModels, T5CachedEqualsRecomputeAndScores) { check_case("t5", true); }
TEST(BeamSearchModels, BartCachedEqualsRecomputeAndScores) { check_case("bart", true); }

TEST(BeamSearchModels, PaddedRowEqualsRowAlone) {
  auto m = load_model(case_dir("llama"));
  const int64_t V = m->config().dim("vocab_size");
  Prompt p = make_prompt(V, 0, true);
  BeamRequest req;
  req.base.max_new_tokens = 5;
  req.num_beams = 4;
  req.num_return_sequences = 2;
  req.processors = LogitsProcessors{};
  const auto both = output(generate_beams(*m, {{"input_ids", p.ids}, {"attention_mask", p.mask}}, req), "generated_ids");
  const std::vector<int64_t> row0(p.rows[0].begin() + 3, p.rows[0].end());
  const auto alone = output(generate_beams(*m, {{"input_ids", Tensor::from_vector(row0, {1, 4})}}, req), "generated_ids");
  for (int64_t i = 0; i < 2; ++i)
    EXPECT_EQ(both.select(0, i).slice(0, 3, both.dim(1)).contiguous().to_vector<int64_t>(),
              alone.select(0, i).contiguous().to_vector<int64_t>());
}

}  // namespace
