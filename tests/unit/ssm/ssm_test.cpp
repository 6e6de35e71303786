// State-space invariants on the state-space conformance cases in tests/data/conformance (tiny configs), default
// semantics: a prefill followed by one-token steps through the recurrent state gives the logits of a full
// recompute at every position, at real positions and lengths beyond chunk_size / attention windows; and the
// recurrent ops split over chunks equal one call over the whole sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/causal_lm.h"
#include "models/layers.h"
#include "ops/ssm.h"

namespace fs = std::filesystem;
using namespace ia;

namespace {

std::vector<std::string> ssm_cases() {
  std::vector<std::string> out;
  const fs::path root = fs::path(IA_TEST_DATA_DIR) / "conformance";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    std::ifstream in(e.path() / "case.json");
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.value("family", "") == "state-space") out.push_back(e.path().string());
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

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(n);
  uint64_t x = seed;
  for (auto& f : v) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    f = lo + (hi - lo) * static_cast<float>((x >> 40) % 10001) / 10000.0f;
  }
  return Tensor::from_vector(v, shape);
}

Tensor random_ids(int64_t B, int64_t S, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> ids(B * S);
  uint64_t x = seed;
  for (auto& v : ids) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v = static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(vocab));
  }
  return Tensor::from_vector(ids, {B, S});
}

double max_diff(const Tensor& a, const Tensor& b) {
  auto x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double d = x.size() == y.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) d = std::max(d, std::fabs(double(x[i]) - double(y[i])));
  return d;
}

// The new tokens at their real positions past..past+S-1 (every row unpadded).
StepInput step_input(const Tensor& ids, int64_t past) {
  StepInput in;
  in.input_ids = ids;
  in.attention_mask = layers::full_i64({ids.dim(0), past + ids.dim(1)}, 1);
  std::vector<int64_t> pos;
  for (int64_t b = 0; b < ids.dim(0); ++b)
    for (int64_t t = 0; t < ids.dim(1); ++t) pos.push_back(past + t);
  in.position_ids = Tensor::from_vector(pos, {ids.dim(0), ids.dim(1)});
  return in;
}

// A sequence long enough to cross Mamba-2's chunk boundaries and RecurrentGemma's attention window twice.
int64_t invariant_length(const ModelConfig& cfg) {
  int64_t S = 11;
  if (cfg.has("chunk_size")) S = std::max<int64_t>(S, 2 * cfg.dim("chunk_size") + 3);
  if (cfg.has("attention_window_size")) S = std::max<int64_t>(S, 2 * cfg.dim("attention_window_size") + 3);
  return S;
}

// Prefill of the first half, then one-token steps, against one multi-token call over the whole sequence.
void expect_stepwise_equals_full(CausalLM& lm, int64_t S) {
  const int64_t B = 2, P = S / 2, V = lm.vocab_size();
  Tensor ids = random_ids(B, S, V, 1234);
  auto full_state = lm.new_state(B, S);
  Tensor full = lm.step(*full_state, step_input(ids, 0));  // [B, S, V]
  auto state = lm.new_state(B, S);
  Tensor pre = lm.step(*state, step_input(ids.slice(1, 0, P).contiguous(), 0));
  EXPECT_LT(max_diff(pre, full.slice(1, 0, P)), 1e-4);
  for (int64_t t = P; t < S; ++t) {
    Tensor one = lm.step(*state, step_input(ids.slice(1, t, t + 1).contiguous(), t));
    EXPECT_LT(max_diff(one, full.slice(1, t, t + 1)), 1e-4) << "position " << t;
  }
  EXPECT_EQ(state->length(), S);
}

}  // namespace

TEST(SsmInvariants, HasCases) { EXPECT_FALSE(ssm_cases().empty()); }

TEST(SsmInvariants, StepwiseStateEqualsFullRecompute) {
  // The default (intended) semantics: any split of the sequence gives the same logits, beyond Mamba-2's
  // chunk_size and RecurrentGemma's attention window too.
  for (const auto& dir : ssm_cases()) {
    SCOPED_TRACE(dir);
    auto lm = load_lm(dir);
    ASSERT_TRUE(lm);
    expect_stepwise_equals_full(*lm, invariant_length(lm->config()));
  }
}

TEST(SsmInvariants, Mamba2GroupedHeadsStepwiseEqualsFull) {
  // n_groups > 1: head h reads group h / (H / G) on every path (upstream's repeat_interleave).
  const fs::path dir = fs::path(IA_TEST_DATA_DIR) / "conformance" / "mamba2";
  ModelConfig base = ModelConfig::load((dir / "config.json").string());
  nlohmann::json j = base.json();
  j["n_groups"] = 2;
  auto m = build_model(ModelConfig(j, "mamba2-n_groups-2"), WeightLoader::synthetic(7), "Mamba2ForCausalLM");
  auto* lm = dynamic_cast<CausalLM*>(m.get());
  ASSERT_TRUE(lm);
  expect_stepwise_equals_full(*lm, invariant_length(lm->config()));
}

TEST(SsmInvariants, TransformersCompatReproducesTheChunkQuirk) {
  // Under transformers_compat 4.48 Mamba-2's multi-token path is 4.48's chunked SSD, whose inter-chunk pass
  // differs from the recurrence once a sequence spans several chunks; the default path does not.
  const std::string dir = (fs::path(IA_TEST_DATA_DIR) / "conformance" / "mamba2").string();
  LoadOptions compat;
  compat.transformers_compat = kTransformersCompat;
  auto quirky = load_model(dir, compat), exact = load_model(dir);
  auto* q = dynamic_cast<CausalLM*>(quirky.get());
  auto* e = dynamic_cast<CausalLM*>(exact.get());
  ASSERT_TRUE(q && e);
  const int64_t S = invariant_length(e->config());
  Tensor ids = random_ids(1, S, e->vocab_size(), 99);
  auto sq = q->new_state(1, S), se = e->new_state(1, S);
  Tensor lq = q->step(*sq, step_input(ids, 0)), le = e->step(*se, step_input(ids, 0));
  EXPECT_GT(max_diff(lq, le), 1e-3);
  LoadOptions other;
  other.transformers_compat = "4.40";
  EXPECT_THROW(load_model(dir, other), Error);
}

TEST(SsmOps, ChunkedCallsEqualOneCall) {
  const int64_t B = 2, S = 9, H = 4, P = 3, N = 5, G = 2, C = 6, K = 4;
  Tensor x = random_tensor({B, S, H, P}, 1);
  Tensor dt = random_tensor({B, S, H}, 2, 0.01f, 0.5f);
  Tensor A = random_tensor({H, N}, 3, -2.0f, -0.1f);
  Tensor Bm = random_tensor({B, S, G, N}, 4), Cm = random_tensor({B, S, G, N}, 5), D = random_tensor({H}, 6);
  Tensor s_full = Tensor::zeros({B, H, P, N}, DType::F32), s_step = Tensor::zeros({B, H, P, N}, DType::F32);
  Tensor y_full = ops::selective_scan_(x, dt, A, Bm, Cm, D, s_full);
  for (int64_t t = 0; t < S; ++t) {
    auto sl = [&](const Tensor& v) { return v.slice(1, t, t + 1).contiguous(); };
    Tensor y = ops::selective_scan_(sl(x), sl(dt), A, sl(Bm), sl(Cm), D, s_step);
    EXPECT_LT(max_diff(y, y_full.slice(1, t, t + 1)), 1e-6);
  }
  EXPECT_LT(max_diff(s_full, s_step), 1e-6);

  Tensor cx = random_tensor({B, S, C}, 7), w = random_tensor({C, K}, 8), bias = random_tensor({C}, 9);
  Tensor c_full = Tensor::zeros({B, C, K - 1}, DType::F32), c_step = Tensor::zeros({B, C, K - 1}, DType::F32);
  Tensor cy = ops::causal_conv1d_(cx, w, bias, c_full);
  // Reference: zero-padded causal convolution.
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < S; ++t)
      for (int64_t c = 0; c < C; ++c) {
        float acc = bias.data<float>()[c];
        for (int64_t k = 0; k < K; ++k) {
          const int64_t src = t - (K - 1) + k;
          if (src >= 0) acc += w.data<float>()[c * K + k] * cx.data<float>()[(b * S + src) * C + c];
        }
        EXPECT_NEAR(cy.data<float>()[(b * S + t) * C + c], acc, 1e-5);
      }
  Tensor first = ops::causal_conv1d_(cx.slice(1, 0, 2).contiguous(), w, bias, c_step);
  Tensor rest = ops::causal_conv1d_(cx.slice(1, 2, S).contiguous(), w, bias, c_step);
  EXPECT_LT(max_diff(first, cy.slice(1, 0, 2)), 1e-6);
  EXPECT_LT(max_diff(rest, cy.slice(1, 2, S)), 1e-6);
  EXPECT_LT(max_diff(c_full, c_step), 1e-6);

  Tensor k = random_tensor({B, S, C}, 10, -3.0f, 3.0f), v = random_tensor({B, S, C}, 11);
  Tensor td = random_tensor({C}, 12), tf = random_tensor({C}, 13);
  auto fresh = [&] {
    Tensor s = Tensor::zeros({B, 3, C}, DType::F32);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) s.data<float>()[(b * 3 + 2) * C + c] = -1e30f;
    return s;
  };
  Tensor w_full = fresh(), w_step = fresh();
  Tensor wy = ops::wkv_(k, v, td, tf, w_full);
  for (int64_t t = 0; t < S; ++t) {
    Tensor y = ops::wkv_(k.slice(1, t, t + 1).contiguous(), v.slice(1, t, t + 1).contiguous(), td, tf, w_step);
    EXPECT_LT(max_diff(y, wy.slice(1, t, t + 1)), 1e-6);
  }
  EXPECT_LT(max_diff(w_full, w_step), 1e-6);

  Tensor a = random_tensor({B, S, C}, 14, 0.0f, 1.0f), lx = random_tensor({B, S, C}, 15);
  Tensor l_full = Tensor::zeros({B, C}, DType::F32), l_step = Tensor::zeros({B, C}, DType::F32);
  Tensor ly = ops::linear_recurrence_(a, lx, l_full);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      float h = 0.0f;
      for (int64_t t = 0; t < S; ++t) {
        const int64_t i = (b * S + t) * C + c;
        h = a.data<float>()[i] * h + lx.data<float>()[i];
        EXPECT_NEAR(ly.data<float>()[i], h, 1e-6);
      }
    }
  ops::linear_recurrence_(a.slice(1, 0, 4).contiguous(), lx.slice(1, 0, 4).contiguous(), l_step);
  ops::linear_recurrence_(a.slice(1, 4, S).contiguous(), lx.slice(1, 4, S).contiguous(), l_step);
  EXPECT_LT(max_diff(l_full, l_step), 1e-6);
}
