// Invariants every decoder-only architecture must hold, checked on each decoder conformance case in
// tests/data/conformance (their tiny configs and weights): incremental decoding with the KV cache equals a
// full recompute, a left-padded batch row equals the prompt alone, a seed reproduces sampled ids.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generation/generate.h"
#include "generation/generation_config.h"
#include "models/causal_lm.h"
#include "models/layers.h"

namespace fs = std::filesystem;
using namespace ia;

namespace {

std::vector<std::string> decoder_cases() {
  std::vector<std::string> out;
  const fs::path root = fs::path(IA_TEST_DATA_DIR) / "conformance";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    std::ifstream in(e.path() / "case.json");
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.value("family", "") == "decoder-only") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<CausalLM> load_lm(const std::string& dir) {
  auto m = load_model(dir);
  auto* lm = dynamic_cast<CausalLM*>(m.get());
  if (!lm) return nullptr;
  m.release();
  return std::unique_ptr<CausalLM>(lm);
}

std::vector<int64_t> prompt_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> ids(n);
  uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& v : ids) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v = static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(vocab - 3)) + 3;
  }
  return ids;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

}  // namespace

TEST(DecoderInvariants, HasCases) { EXPECT_FALSE(decoder_cases().empty()); }

TEST(DecoderInvariants, IncrementalDecodingEqualsFullRecompute) {
  for (const auto& dir : decoder_cases()) {
    SCOPED_TRACE(dir);
    auto lm = load_lm(dir);
    ASSERT_TRUE(lm);
    const int64_t S = 9, P = 4, V = lm->vocab_size();
    auto ids = prompt_ids(S, V, 7);
    TensorMap in{{"input_ids", Tensor::from_vector(ids, {1, S})}};
    Tensor full = lm->forward(in, {})[0].second;  // [1, S, V]
    auto state = lm->new_state(1, S);
    StepInput st;
    st.input_ids = Tensor::from_vector(std::vector<int64_t>(ids.begin(), ids.begin() + P), {1, P});
    st.attention_mask = layers::full_i64({1, P}, 1);
    st.position_ids = layers::arange(P).view({1, P});
    Tensor first = lm->step(*state, st);
    EXPECT_LE(max_diff(first.to_vector<float>(), full.slice(1, 0, P).contiguous().to_vector<float>()), 1e-4);
    for (int64_t t = P; t < S; ++t) {
      StepInput d;
      d.input_ids = Tensor::from_vector(std::vector<int64_t>{ids[t]}, {1, 1});
      d.attention_mask = layers::full_i64({1, t + 1}, 1);
      d.position_ids = Tensor::from_vector(std::vector<int64_t>{t}, {1, 1});
      Tensor l = lm->step(*state, d);
      EXPECT_LE(max_diff(l.to_vector<float>(), full.slice(1, t, t + 1).contiguous().to_vector<float>()), 1e-4)
          << "token " << t;
    }
    EXPECT_EQ(state->length(), S);
  }
}

TEST(DecoderInvariants, LeftPaddedRowEqualsPromptAlone) {
  for (const auto& dir : decoder_cases()) {
    SCOPED_TRACE(dir);
    auto lm = load_lm(dir);
    ASSERT_TRUE(lm);
    const int64_t V = lm->vocab_size(), n = 5, pad = 3;
    auto a = prompt_ids(n, V, 11), b = prompt_ids(n + pad, V, 12);
    generation::GenerationSettings s;
    s.max_new_tokens = 4;
    s.return_logits = true;
    auto alone = generation::generate(*lm, Tensor::from_vector(a, {1, n}), Tensor(), s);
    std::vector<int64_t> batch(pad, 0), mask(pad, 0);
    batch.insert(batch.end(), a.begin(), a.end());
    mask.insert(mask.end(), n, 1);
    batch.insert(batch.end(), b.begin(), b.end());
    mask.insert(mask.end(), n + pad, 1);
    auto both = generation::generate(*lm, Tensor::from_vector(batch, {2, n + pad}),
                                     Tensor::from_vector(mask, {2, n + pad}), s);
    auto row_ids = both.ids.select(0, 0).slice(0, pad, n + pad + 4).contiguous().to_vector<int64_t>();
    EXPECT_EQ(row_ids, alone.ids.to_vector<int64_t>());
    EXPECT_LE(max_diff(both.logits.select(0, 0).contiguous().to_vector<float>(), alone.logits.to_vector<float>()),
              1e-4);
  }
}

TEST(DecoderInvariants, SameSeedSameSampledIds) {
  for (const auto& dir : decoder_cases()) {
    SCOPED_TRACE(dir);
    auto lm = load_lm(dir);
    ASSERT_TRUE(lm);
    auto ids = prompt_ids(4, lm->vocab_size(), 3);
    generation::GenerationSettings s;
    s.max_new_tokens = 6;
    s.sampling.do_sample = true;
    s.sampling.temperature = 1.5f;
    s.sampling.top_k = 50;
    s.sampling.top_p = 0.95f;
    s.sampling.seed = 1234;
    Tensor prompt = Tensor::from_vector(ids, {1, 4});
    auto r1 = generation::generate(*lm, prompt, Tensor(), s);
    auto r2 = generation::generate(*lm, prompt, Tensor(), s);
    EXPECT_EQ(r1.ids.to_vector<int64_t>(), r2.ids.to_vector<int64_t>());
  }
}

TEST(DecoderGeneration, GreedyEqualsTopK1AndBadInputsFail) {
  auto cases = decoder_cases();
  ASSERT_FALSE(cases.empty());
  auto lm = load_lm(cases.front());
  ASSERT_TRUE(lm);
  const int64_t V = lm->vocab_size();
  auto ids = prompt_ids(5, V, 5);
  generation::GenerationSettings greedy;
  greedy.max_new_tokens = 5;
  auto g = generation::generate(*lm, Tensor::from_vector(ids, {1, 5}), Tensor(), greedy);
  generation::GenerationSettings k1 = greedy;
  k1.sampling.do_sample = true;
  k1.sampling.top_k = 1;
  k1.sampling.seed = 99;
  auto k = generation::generate(*lm, Tensor::from_vector(ids, {1, 5}), Tensor(), k1);
  EXPECT_EQ(g.ids.to_vector<int64_t>(), k.ids.to_vector<int64_t>());

  // EOS finishes a row and pads the rest.
  generation::GenerationSettings eos = greedy;
  auto first_new = g.ids.to_vector<int64_t>()[5];
  eos.eos_token_ids = {first_new};
  eos.pad_token_id = 0;
  auto e = generation::generate(*lm, Tensor::from_vector(ids, {1, 5}), Tensor(), eos);
  EXPECT_EQ(e.new_tokens, 1);
  EXPECT_EQ(e.finish_reason[0], "eos");

  EXPECT_THROW(generation::generate(*lm, Tensor::empty({1, 0}, DType::I64), Tensor(), greedy), Error);
  std::vector<int64_t> bad = ids;
  bad[2] = V;
  EXPECT_THROW(generation::generate(*lm, Tensor::from_vector(bad, {1, 5}), Tensor(), greedy), Error);
  if (lm->max_positions() > 0) {
    generation::GenerationSettings huge = greedy;
    huge.max_new_tokens = lm->max_positions();
    EXPECT_THROW(generation::generate(*lm, Tensor::from_vector(ids, {1, 5}), Tensor(), huge), Error);
  }
  generation::GenerationSettings badt = greedy;
  badt.sampling.do_sample = true;
  badt.sampling.temperature = 0.0f;
  EXPECT_THROW(generation::generate(*lm, Tensor::from_vector(ids, {1, 5}), Tensor(), badt), Error);
}

TEST(DecoderGeneration, GenerationConfigValidation) {
  using generation::GenerationConfig;
  auto g = GenerationConfig::parse(nlohmann::json{{"eos_token_id", {2, 7}}, {"max_length", 30}, {"do_sample", true},
                                                  {"temperature", 0.7}, {"_from_model_config", true}},
                                   "t");
  generation::GenerationSettings s;
  g.apply(s, 10);
  EXPECT_EQ(s.max_new_tokens, 20);
  EXPECT_TRUE(s.sampling.do_sample);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(s.pad_token_id, 2);
  EXPECT_THROW(GenerationConfig::parse(nlohmann::json{{"temprature", 0.7}}, "t"), Error);
  EXPECT_EQ(GenerationConfig::parse(nlohmann::json{{"num_beams", 4}}, "t").num_beams, 4);  // beam search
  EXPECT_THROW(GenerationConfig::parse(nlohmann::json{{"num_beams", 4}, {"num_beam_groups", 2}}, "t"), Error);
  EXPECT_THROW(GenerationConfig::parse(nlohmann::json{{"num_beams", 2}, {"num_return_sequences", 3}}, "t"), Error);
  EXPECT_THROW(GenerationConfig::parse(nlohmann::json{{"do_sample", true}, {"top_p", 1.5}}, "t"), Error);
  EXPECT_THROW(GenerationConfig::parse(nlohmann::json{{"max_new_tokens", -1}}, "t"), Error);
  EXPECT_NO_THROW(GenerationConfig::parse(nlohmann::json{{"num_beams", 1}, {"top_p", 1.5}}, "t"));  // not sampling
}
