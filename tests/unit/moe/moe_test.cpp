// Mixture-of-experts invariants on the MoE conformance cases in tests/data/conformance (tiny configs): cached
// decoding equals a full recompute, forward reports one router_logits entry per MoE layer, and the sparse expert
// dispatch equals a dense all-experts reference while running each token through its k experts only.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/causal_lm.h"
#include "models/layers.h"
#include "models/moe/moe.h"

namespace fs = std::filesystem;
using namespace ia;

namespace {

std::vector<std::string> moe_cases() {
  std::vector<std::string> out;
  const fs::path root = fs::path(IA_TEST_DATA_DIR) / "conformance";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    std::ifstream in(e.path() / "case.json");
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.value("family", "") == "mixture-of-experts" &&
        j.value("hf_class", "").find("ForCausalLM") != std::string::npos)
      out.push_back(e.path().string());
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

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(n);
  uint64_t x = seed;
  for (auto& f : v) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    f = static_cast<float>((x >> 40) % 2001) / 1000.0f - 1.0f;
  }
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST(MoeInvariants, HasCases) { EXPECT_FALSE(moe_cases().empty()); }

TEST(MoeInvariants, IncrementalDecodingEqualsFullRecompute) {
  for (const auto& dir : moe_cases()) {
    SCOPED_TRACE(dir);
    auto lm = load_lm(dir);
    ASSERT_TRUE(lm);
    const int64_t S = 9, P = 4, V = lm->vocab_size();
    auto ids = prompt_ids(S, V, 7);
    TensorMap in{{"input_ids", Tensor::from_vector(ids, {1, S})}};
    auto outs = lm->forward(in, {});
    Tensor full = outs[0].second;  // [1, S, V]
    int64_t routers = 0;
    for (const auto& [name, t] : outs)
      if (name.rfind("router_logits.", 0) == 0) {
        EXPECT_EQ(t.ndim(), 2);
        EXPECT_EQ(t.dim(0), S);
        ++routers;
      }
    EXPECT_GT(routers, 0);
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

TEST(MoeDispatch, SparseEqualsDenseReference) {
  const int64_t T = 11, H = 8, I = 6, E = 5, K = 2;
  moe::Router router;
  router.gate.weight = random_tensor({E, H}, 1);
  router.experts = E;
  router.top_k = K;
  router.norm_p = 1.0f;
  moe::Experts experts;
  experts.act = "silu";
  for (int64_t e = 0; e < E; ++e) {
    moe::Expert x;
    x.gate.weight = random_tensor({I, H}, 10 + e);
    x.up.weight = random_tensor({I, H}, 20 + e);
    x.down.weight = random_tensor({H, I}, 30 + e);
    experts.experts.push_back(x);
  }
  Tensor x = random_tensor({T, H}, 2);
  moe::Routing r = router.route(router.gate(x));
  ops::reset_flops();
  Tensor sparse = experts(x, r);
  // Sparse: each token goes through its K experts only (3 linears of 2*H*I flops per row).
  EXPECT_EQ(ops::flops_counted(), static_cast<uint64_t>(T * K * 3 * 2 * H * I));
  // Dense reference: every expert on every token, weighted by the routing (0 for unrouted experts).
  std::vector<float> ref(T * H, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const auto& ex = experts.experts[e];
    auto y = ex.down(ops::mul(ops::activation(ex.gate(x), "silu"), ex.up(x))).to_vector<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < K; ++j)
        if (r.experts[t * K + j] == e)
          for (int64_t h = 0; h < H; ++h) ref[t * H + h] += r.weights[t * K + j] * y[t * H + h];
  }
  EXPECT_LE(max_diff(sparse.to_vector<float>(), ref), 1e-5);
  for (int64_t t = 0; t < T; ++t) EXPECT_NEAR(r.weights[t * K] + r.weights[t * K + 1], 1.0f, 1e-6);
}

TEST(MoeRouting, RulesHoldTheirInvariants) {
  const int64_t T = 7, E = 5;
  Tensor logits = random_tensor({T, E}, 3);
  const auto l = logits.to_vector<float>();
  auto softmax_row = [&](int64_t t) {
    std::vector<float> p(l.begin() + t * E, l.begin() + (t + 1) * E);
    float m = *std::max_element(p.begin(), p.end()), s = 0.0f;
    for (auto& v : p) s += (v = std::exp(v - m));
    for (auto& v : p) v /= s;
    return p;
  };
  moe::Router r;
  r.experts = E;
  r.top_k = 2;
  // Softmax then top-k without renormalisation: the weights are the top-2 probabilities, largest first.
  auto a = r.route(logits);
  for (int64_t t = 0; t < T; ++t) {
    auto p = softmax_row(t);
    std::vector<float> sorted = p;
    std::sort(sorted.rbegin(), sorted.rend());
    EXPECT_NEAR(a.weights[t * 2], sorted[0], 1e-6);
    EXPECT_NEAR(a.weights[t * 2 + 1], sorted[1], 1e-6);
    EXPECT_NEAR(p[a.experts[t * 2]], sorted[0], 1e-6);
  }
  // DBRX p = 2: the top-k weights have unit L2 norm.
  r.norm_p = 2.0f;
  auto b = r.route(logits);
  for (int64_t t = 0; t < T; ++t)
    EXPECT_NEAR(b.weights[t * 2] * b.weights[t * 2] + b.weights[t * 2 + 1] * b.weights[t * 2 + 1], 1.0f, 1e-5);
  // GraniteMoE: top-k of the logits, softmax over those k -> sums to 1, same experts as softmax-then-top-k.
  r.norm_p = 0.0f;
  r.kind = moe::RouterKind::TopKSoftmax;
  auto c = r.route(logits);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_NEAR(c.weights[t * 2] + c.weights[t * 2 + 1], 1.0f, 1e-6);
    EXPECT_EQ(c.experts[t * 2], a.experts[t * 2]);
    EXPECT_EQ(c.experts[t * 2 + 1], a.experts[t * 2 + 1]);
  }
  // Sparsemixer: with jitter 0 only the picked expert survives the mask (multiplier 1); with a huge jitter no
  // expert is masked, so the first multiplier is the plain softmax probability of the top expert.
  r.kind = moe::RouterKind::SparseMixer;
  r.jitter_eps = 0.0f;
  auto d = r.route(logits);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(d.experts[t * 2], a.experts[t * 2]);
    EXPECT_EQ(d.experts[t * 2 + 1], a.experts[t * 2 + 1]);
    EXPECT_NEAR(d.weights[t * 2], 1.0f, 1e-6);
    EXPECT_NEAR(d.weights[t * 2 + 1], 1.0f, 1e-6);
  }
  r.jitter_eps = 1e6f;
  auto e = r.route(logits);
  for (int64_t t = 0; t < T; ++t) EXPECT_NEAR(e.weights[t * 2], a.weights[t * 2], 1e-6);
}
