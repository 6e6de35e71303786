// rope_scaling and sliding windows, the features held-out cases use that no golden here covers:
//  * each rope_scaling type's inverse frequencies and attention factor against the formulas of transformers'
//    modeling_rope_utils (computed here independently, in double precision), and unknown types refused;
//  * end to end on a tiny Llama per type: a prefill followed by one-token cached steps equals one full
//    forward (for dynamic NTK within max_position_embeddings, where HF's frequencies do not move);
//  * sliding windows (Mistral, Qwen2, Mixtral, Qwen2-MoE, Phi-3, Starcoder2) on sequences longer than the
//    window: key j is visible to query p exactly when p - j < window (HF's eager mask), on the full forward
//    and on cached decoding past the window.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "models/causal_lm.h"
#include "models/decoder/transformer.h"
#include "models/layers.h"

using namespace ia;
using nlohmann::json;

namespace {

constexpr int64_t kDim = 16;  // rotary dimension = head_dim
constexpr double kBase = 10000.0;

ModelConfig config_with(const json& rope_scaling, int64_t max_pos = 4096) {
  json j = {{"max_position_embeddings", max_pos}};
  if (!rope_scaling.is_null()) j["rope_scaling"] = rope_scaling;
  return ModelConfig(j, "rope-test");
}

std::vector<double> default_freqs(double base = kBase) {
  std::vector<double> f;
  for (int64_t i = 0; i < kDim / 2; ++i) f.push_back(1.0 / std::pow(base, double(2 * i) / kDim));
  return f;
}

void expect_freqs(const decoder::Rope& r, const std::vector<double>& want, double rel = 1e-5) {
  ASSERT_EQ(r.inv_freq.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(r.inv_freq[i], want[i], rel * want[i]) << "i=" << i;
}

// cos/sin of one position through Rope::tables.
std::pair<std::vector<float>, std::vector<float>> table_at(const decoder::Rope& r, int64_t pos) {
  Tensor p = Tensor::from_vector<int64_t>({pos}, {1, 1}), cos, sin;
  r.tables(p, cos, sin);
  return {cos.to_vector<float>(), sin.to_vector<float>()};
}

}  // namespace

TEST(RopeScaling, LinearDividesEveryFrequency) {
  auto r = decoder::Rope::from_config(config_with({{"rope_type", "linear"}, {"factor", 4.0}}), kDim, false, kBase);
  auto want = default_freqs();
  for (auto& f : want) f /= 4.0;
  expect_freqs(r, want);
  EXPECT_EQ(r.attention_factor, 1.0f);
  // The legacy "type" key names the same thing.
  auto legacy = decoder::Rope::from_config(config_with({{"type", "linear"}, {"factor", 4.0}}), kDim, false, kBase);
  expect_freqs(legacy, want);
}

TEST(RopeScaling, DynamicNtkGrowsTheBaseOnlyBeyondMaxPositions) {
  const int64_t M = 64;
  const double factor = 2.0;
  auto r = decoder::Rope::from_config(config_with({{"rope_type", "dynamic"}, {"factor", factor}}, M), kDim, false, kBase);
  expect_freqs(r, default_freqs());
  // Within max_position_embeddings: the default frequencies.
  auto [c0, s0] = table_at(r, M - 1);
  auto f0 = default_freqs();
  for (int64_t j = 0; j < kDim / 2; ++j) EXPECT_NEAR(c0[j], std::cos(f0[j] * (M - 1)), 2e-4);
  // Beyond: base * (factor * seq / M - (factor - 1)) ^ (dim / (dim - 2)) with seq = max position + 1.
  const int64_t pos = 3 * M;
  const double seq = pos + 1;
  const double base = kBase * std::pow(factor * seq / M - (factor - 1), double(kDim) / (kDim - 2));
  auto f = default_freqs(base);
  auto [c, s] = table_at(r, pos);
  for (int64_t j = 0; j < kDim / 2; ++j) {
    EXPECT_NEAR(c[j], std::cos(f[j] * pos), 2e-3) << j;
    EXPECT_NEAR(s[j], std::sin(f[j] * pos), 2e-3) << j;
  }
}

TEST(RopeScaling, YarnRampsBetweenInterpolationAndExtrapolation) {
  const double factor = 8.0, orig = 256.0;
  auto r = decoder::Rope::from_config(
      config_with({{"rope_type", "yarn"}, {"factor", factor}, {"original_max_position_embeddings", orig}}, 2048), kDim,
      false, kBase);
  auto corr = [&](double rot) { return kDim * std::log(orig / (rot * 2 * M_PI)) / (2 * std::log(kBase)); };
  double lo = std::max(std::floor(corr(32.0)), 0.0), hi = std::min(std::ceil(corr(1.0)), double(kDim - 1));
  if (lo == hi) hi += 0.001;
  std::vector<double> want;
  for (int64_t i = 0; i < kDim / 2; ++i) {
    const double pos_freq = std::pow(kBase, double(2 * i) / kDim);
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    const double extrapolation = 1.0 - ramp;
    want.push_back(1.0 / (factor * pos_freq) * (1 - extrapolation) + 1.0 / pos_freq * extrapolation);
  }
  expect_freqs(r, want);
  EXPECT_NEAR(r.attention_factor, 0.1 * std::log(factor) + 1.0, 1e-6);
  // The first frequencies extrapolate (unchanged), the last interpolate (divided by factor).
  EXPECT_NEAR(r.inv_freq[0], 1.0, 1e-6);
  EXPECT_NEAR(r.inv_freq[kDim / 2 - 1], default_freqs()[kDim / 2 - 1] / factor, 1e-9);
  // cos/sin carry the attention factor.
  auto [c, s] = table_at(r, 0);
  EXPECT_NEAR(c[0], r.attention_factor, 1e-6);
  // transformers 4.48 measured the range against max_position_embeddings (2048) instead.
  ModelConfig compat = config_with({{"rope_type", "yarn"}, {"factor", factor}, {"original_max_position_embeddings", orig}}, 2048);
  compat.set_transformers_compat(kTransformersCompat);
  auto r448 = decoder::Rope::from_config(compat, kDim, false, kBase);
  auto corr448 = [&](double rot) { return kDim * std::log(2048.0 / (rot * 2 * M_PI)) / (2 * std::log(kBase)); };
  double lo448 = std::max(std::floor(corr448(32.0)), 0.0), hi448 = std::min(std::ceil(corr448(1.0)), double(kDim - 1));
  if (lo448 == hi448) hi448 += 0.001;
  for (int64_t i = 0; i < kDim / 2; ++i) {
    const double pos_freq = std::pow(kBase, double(2 * i) / kDim);
    const double extrapolation = 1.0 - std::clamp((i - lo448) / (hi448 - lo448), 0.0, 1.0);
    const double w = 1.0 / (factor * pos_freq) * (1 - extrapolation) + 1.0 / pos_freq * extrapolation;
    EXPECT_NEAR(r448.inv_freq[i], w, 1e-5 * w) << i;
  }
  auto explicit_factor = decoder::Rope::from_config(
      config_with({{"rope_type", "yarn"}, {"factor", factor}, {"attention_factor", 1.5}}, 2048), kDim, false, kBase);
  EXPECT_FLOAT_EQ(explicit_factor.attention_factor, 1.5f);
}

TEST(RopeScaling, LongropeSwitchesFactorsPastTheOriginalLength) {
  std::vector<double> sf, lf;
  for (int64_t i = 0; i < kDim / 2; ++i) sf.push_back(1.0 + 0.1 * i), lf.push_back(2.0 + 0.5 * i);
  json j = {{"max_position_embeddings", 8192}, {"original_max_position_embeddings", 1024},
            {"rope_scaling", {{"type", "longrope"}, {"short_factor", sf}, {"long_factor", lf}}}};
  auto r = decoder::Rope::from_config(ModelConfig(j, "longrope"), kDim, false, kBase);
  auto d = default_freqs();
  std::vector<double> want_short, want_long;
  for (int64_t i = 0; i < kDim / 2; ++i) want_short.push_back(d[i] / sf[i]), want_long.push_back(d[i] / lf[i]);
  expect_freqs(r, want_short);
  // attention factor from the expansion 8192 / 1024 = 8: sqrt(1 + ln 8 / ln 1024).
  const double af = std::sqrt(1 + std::log(8.0) / std::log(1024.0));
  EXPECT_NEAR(r.attention_factor, af, 1e-6);
  auto [cs, ss] = table_at(r, 1023);
  for (int64_t k = 0; k < kDim / 2; ++k) EXPECT_NEAR(cs[k], std::cos(float(want_short[k]) * 1023.0f) * af, 2e-3) << k;
  auto [cl, sl] = table_at(r, 1024);
  for (int64_t k = 0; k < kDim / 2; ++k) EXPECT_NEAR(cl[k], std::cos(float(want_long[k]) * 1024.0f) * af, 2e-3) << k;
  // Wrong list lengths are format errors naming the key.
  json bad = j;
  bad["rope_scaling"]["short_factor"] = std::vector<double>{1.0};
  EXPECT_THROW(decoder::Rope::from_config(ModelConfig(bad, "bad"), kDim, false, kBase), Error);
}

TEST(RopeScaling, Llama3SmoothsTheMiddleBand) {
  const double factor = 8.0, low = 1.0, high = 4.0, old_ctx = 64.0;
  auto r = decoder::Rope::from_config(config_with({{"rope_type", "llama3"},
                                                   {"factor", factor},
                                                   {"low_freq_factor", low},
                                                   {"high_freq_factor", high},
                                                   {"original_max_position_embeddings", old_ctx}}),
                                      kDim, false, kBase);
  std::vector<double> want;
  int bands[3] = {0, 0, 0};
  for (double f : default_freqs()) {
    const double wl = 2 * M_PI / f;
    if (wl < old_ctx / high) {
      want.push_back(f), ++bands[0];
    } else if (wl > old_ctx / low) {
      want.push_back(f / factor), ++bands[2];
    } else {
      const double smooth = (old_ctx / wl - low) / (high - low);
      want.push_back((1 - smooth) * f / factor + smooth * f), ++bands[1];
    }
  }
  EXPECT_GT(bands[0], 0);
  EXPECT_GT(bands[1], 0);
  EXPECT_GT(bands[2], 0);
  expect_freqs(r, want);
}

TEST(RopeScaling, UnknownTypesAreUnsupported) {
  for (const char* t : {"ntk", "mrope", "no-such-rope"}) {
    try {
      decoder::Rope::from_config(config_with({{"rope_type", t}, {"factor", 2.0}}), kDim, false, kBase);
      ADD_FAILURE() << t << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find(t), std::string::npos) << e.what();
    }
  }
}

namespace {

json tiny_decoder(const std::string& type, const std::string& cls, int64_t layers = 2) {
  json c = {{"model_type", type},         {"architectures", {cls}}, {"hidden_size", 32},
            {"intermediate_size", 48},    {"num_attention_heads", 2}, {"num_key_value_heads", 1},
            {"num_hidden_layers", layers}, {"vocab_size", 61},        {"max_position_embeddings", 64},
            {"rope_theta", 10000.0},      {"rms_norm_eps", 1e-6},     {"tie_word_embeddings", false}};
  return c;
}

std::unique_ptr<CausalLM> build_lm(const json& config, uint64_t seed = 5) {
  auto m = build_model(ModelConfig(config, config["model_type"].get<std::string>() + "-tiny"), WeightLoader::synthetic(seed),
                       config["architectures"][0].get<std::string>());
  auto* lm = dynamic_cast<CausalLM*>(m.get());
  if (!lm) return nullptr;
  m.release();
  return std::unique_ptr<CausalLM>(lm);
}

Tensor ids_of(int64_t S, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> v(S);
  uint64_t x = seed;
  for (auto& t : v) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    t = static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(vocab));
  }
  return Tensor::from_vector(v, {1, S});
}

StepInput step_of(const Tensor& ids, int64_t past) {
  StepInput in;
  in.input_ids = ids;
  in.attention_mask = layers::full_i64({1, past + ids.dim(1)}, 1);
  in.position_ids = layers::arange(ids.dim(1), past).view({1, ids.dim(1)});
  return in;
}

// Logits [S, V] of one uncached call over ids.
std::vector<float> full_logits(CausalLM& lm, const Tensor& ids) {
  auto st = lm.new_state(1, ids.dim(1));
  return lm.step(*st, step_of(ids, 0)).to_vector<float>();
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b, size_t from = 0, size_t n = SIZE_MAX) {
  double d = 0;
  for (size_t i = from; i < std::min(a.size(), from + n); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

// Prefill of the first `P` tokens, then one-token cached steps, against one full forward.
void expect_cached_equals_full(CausalLM& lm, int64_t S, int64_t P) {
  const int64_t V = lm.vocab_size();
  Tensor ids = ids_of(S, V, 77);
  const auto full = full_logits(lm, ids);
  auto st = lm.new_state(1, S);
  std::vector<float> got = lm.step(*st, step_of(ids.slice(1, 0, P).contiguous(), 0)).to_vector<float>();
  for (int64_t t = P; t < S; ++t) {
    auto one = lm.step(*st, step_of(ids.slice(1, t, t + 1).contiguous(), t)).to_vector<float>();
    got.insert(got.end(), one.begin(), one.end());
  }
  EXPECT_LT(max_abs(got, full), 1e-4);
}

}  // namespace

TEST(RopeScaling, EveryTypeDecodesLikeItsFullForward) {
  std::vector<json> scalings = {
      {{"rope_type", "linear"}, {"factor", 2.0}},
      {{"rope_type", "dynamic"}, {"factor", 2.0}},
      {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 16}},
      {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
       {"original_max_position_embeddings", 16}},
  };
  json lr = {{"rope_type", "longrope"}, {"short_factor", json::array()}, {"long_factor", json::array()}};
  for (int i = 0; i < 8; ++i) lr["short_factor"].push_back(1.0 + 0.1 * i), lr["long_factor"].push_back(1.5 + 0.2 * i);
  scalings.push_back(lr);
  for (const auto& rs : scalings) {
    SCOPED_TRACE(rs.dump());
    json c = tiny_decoder("llama", "LlamaForCausalLM");
    c["rope_scaling"] = rs;
    if (rs["rope_type"] == "longrope") c["original_max_position_embeddings"] = 16;  // long factors past 16
    auto lm = build_lm(c);
    ASSERT_TRUE(lm);
    // 40 positions: within max_position_embeddings (64); past yarn/llama3/longrope's original 16.
    if (rs["rope_type"] != "longrope") expect_cached_equals_full(*lm, 40, 7);
    // Longrope switches factor sets by the call's longest position, as HF does (the short factors for a
    // prefill within the original length, the long ones once a position passes it), so a prefill and its
    // cached continuation both past 16 agree, and a rope with scaling differs from none at all.
    else expect_cached_equals_full(*lm, 40, 20);
    json plain = tiny_decoder("llama", "LlamaForCausalLM");
    auto base = build_lm(plain);
    Tensor ids = ids_of(40, base->vocab_size(), 3);
    const double effect = max_abs(full_logits(*lm, ids), full_logits(*base, ids));
    if (rs["rope_type"] == "dynamic")
      EXPECT_EQ(effect, 0.0) << "dynamic NTK must not move the frequencies within max_position_embeddings";
    else
      EXPECT_GT(effect, 1e-4) << "rope_scaling had no effect";
  }
}

namespace {

// With one layer, the logits at position p depend on tokens (p - W, p] only: changing a token at j changes
// them exactly when p - j < W.
void expect_window(CausalLM& lm, int64_t W, int64_t S) {
  const int64_t V = lm.vocab_size();
  Tensor ids = ids_of(S, V, 11);
  const auto base = full_logits(lm, ids);
  const int64_t p = S - 1;
  for (int64_t j : {p - W, p - W + 1}) {
    Tensor changed = ids.clone();
    changed.data<int64_t>()[j] = (changed.data<int64_t>()[j] + 1) % V;
    const auto other = full_logits(lm, changed);
    const double d = max_abs(base, other, size_t(p * V), size_t(V));
    if (p - j < W)
      EXPECT_GT(d, 1e-6) << "token " << j << " is inside the window of " << p << " but had no effect";
    else
      EXPECT_EQ(d, 0.0) << "token " << j << " is outside the window of " << p << " but changed its logits";
  }
}

}  // namespace

TEST(SlidingWindow, EveryWindowedArchitectureMasksBeyondTheWindowAndDecodesPastIt) {
  const int64_t W = 5, S = 17;
  std::vector<json> configs;
  {
    json c = tiny_decoder("mistral", "MistralForCausalLM", 1);
    c["sliding_window"] = W;
    configs.push_back(c);
  }
  {
    json c = tiny_decoder("qwen2", "Qwen2ForCausalLM", 1);
    c["use_sliding_window"] = true;
    c["sliding_window"] = W;
    c["max_window_layers"] = 0;
    configs.push_back(c);
  }
  {
    json c = tiny_decoder("mixtral", "MixtralForCausalLM", 1);
    c["sliding_window"] = W;
    c["num_local_experts"] = 4;
    c["num_experts_per_tok"] = 2;
    configs.push_back(c);
  }
  {
    json c = tiny_decoder("qwen2_moe", "Qwen2MoeForCausalLM", 1);
    c["use_sliding_window"] = true;
    c["sliding_window"] = W;
    c["max_window_layers"] = 0;
    c["num_experts"] = 4;
    c["num_experts_per_tok"] = 2;
    c["moe_intermediate_size"] = 16;
    c["shared_expert_intermediate_size"] = 32;
    configs.push_back(c);
  }
  {
    json c = tiny_decoder("phi3", "Phi3ForCausalLM", 1);
    c["sliding_window"] = W;
    c["pad_token_id"] = 0;
    configs.push_back(c);
  }
  {
    json c = tiny_decoder("starcoder2", "Starcoder2ForCausalLM", 1);
    c["sliding_window"] = W;
    c["norm_epsilon"] = 1e-5;
    configs.push_back(c);
  }
  for (const auto& c : configs) {
    SCOPED_TRACE(c["model_type"].get<std::string>());
    std::unique_ptr<CausalLM> lm;
    try {
      lm = build_lm(c);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    ASSERT_TRUE(lm);
    expect_window(*lm, W, S);
    expect_cached_equals_full(*lm, S, 3);  // decoding steps run past the window
    json two = c;
    two["num_hidden_layers"] = 2;
    auto lm2 = build_lm(two);
    expect_cached_equals_full(*lm2, S, 9);
  }
}
