// Every CPU op against a naive reference loop.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <tuple>

#include "backends/cpu/onednn_matmul.h"
#include "ops/ops.h"

using namespace ia;

namespace {

Tensor randn(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(shape_numel(shape));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, shape);
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1.0f + std::fabs(b[i]))) << "at " << i;
}

}  // namespace

TEST(Ops, LinearMatchesNaive) {
  for (int64_t M : {1, 3, 17}) {
    Tensor x = randn({M, 13}, 1), w = randn({7, 13}, 2), b = randn({7}, 3);
    auto out = ops::linear(x, w, b).to_vector<float>();
    auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), bv = b.to_vector<float>();
    std::vector<float> ref(M * 7);
    for (int64_t m = 0; m < M; ++m)
      for (int n = 0; n < 7; ++n) {
        double s = bv[n];
        for (int k = 0; k < 13; ++k) s += double(xv[m * 13 + k]) * wv[n * 13 + k];
        ref[m * 7 + n] = static_cast<float>(s);
      }
    expect_close(out, ref, 1e-5f);
    for (DType dt : {DType::F16, DType::BF16}) {  // half-precision weights are widened exactly
      Tensor wh = w.to(dt);
      auto out_h = ops::linear(x, wh, b).to_vector<float>();
      // bf16 GEMMs on oneDNN (M > 4) also round the activations to bf16, as torch's bf16 matmul does
      const bool bf16_acts = dt == DType::BF16 && M > 4 && cpu::onednn_kernels().bf16;
      auto ref_h = ops::linear(bf16_acts ? x.to(DType::BF16).to(DType::F32) : x, wh.to(DType::F32), b).to_vector<float>();
      expect_close(out_h, ref_h, 1e-5f);
    }
  }
}

// Constant weights (a loaded layer's) may be packed once by the backend and reused: the result must match the
// same weights read in place, across row counts, with and without bias, for f32 and bf16, and a new weight at a
// recycled address must not see the old one's pack.
TEST(Ops, LinearOnConstantWeightsMatchesInPlace) {
  for (DType dt : {DType::F32, DType::BF16}) {
    for (int round = 0; round < 3; ++round) {
      Tensor w = randn({40, 72}, 20 + round).to(dt), b = randn({40}, 30 + round);
      Tensor wc = w.to(DType::F32).to(dt);  // same values, separate storage
      wc.storage()->mark_constant();
      for (int64_t M : {9, 33, 9, 6}) {
        Tensor x = randn({M, 72}, 40 + M);
        expect_close(ops::linear(x, wc, b).to_vector<float>(), ops::linear(x, w, b).to_vector<float>(), 1e-5f);
        expect_close(ops::linear(x, wc).to_vector<float>(), ops::linear(x, w).to_vector<float>(), 1e-5f);
      }
      const bool onednn = dt == DType::F32 ? cpu::onednn_kernels().f32 : cpu::onednn_kernels().bf16;
      if (onednn && !std::getenv("IA_PREPACK")) {
        EXPECT_GT(cpu::onednn_packed_bytes(), 0u);  // wc's pack lives
      }
    }
  }
}

// The fused epilogue (oneDNN post-op on the GEMM path) equals linear followed by the unary op, for each
// activation it fuses and one it does not (Mish: a separate pass), on GEMV and GEMM row counts.
TEST(Ops, LinearActMatchesLinearThenUnary) {
  for (DType dt : {DType::F32, DType::BF16}) {
    for (UnaryOp act : {UnaryOp::Gelu, UnaryOp::GeluTanh, UnaryOp::Silu, UnaryOp::QuickGelu, UnaryOp::Relu,
                        UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Mish, UnaryOp::Identity}) {
      for (int64_t M : {2, 24}) {
        Tensor x = randn({M, 80}, 50 + M), w = randn({36, 80}, 51, 0.3f).to(dt), b = randn({36}, 52);
        expect_close(ops::linear_act(x, w, b, act).to_vector<float>(),
                     ops::unary(act, ops::linear(x, w, b)).to_vector<float>(), 2e-5f);
      }
    }
  }
}

TEST(Ops, MatmulTransposesAndBroadcasts) {
  Tensor a = randn({2, 3, 4, 5}, 4), b = randn({3, 6, 5}, 5);
  auto out = ops::matmul(a, b, false, true);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 4, 6}));
  auto av = a.to_vector<float>(), bv = b.to_vector<float>(), ov = out.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int h = 0; h < 3; ++h)
      for (int m = 0; m < 4; ++m)
        for (int n = 0; n < 6; ++n) {
          double s = 0;
          for (int k = 0; k < 5; ++k) s += double(av[((i * 3 + h) * 4 + m) * 5 + k]) * bv[(h * 6 + n) * 5 + k];
          ASSERT_NEAR(ov[((i * 3 + h) * 4 + m) * 6 + n], s, 1e-4);
        }
  auto t = ops::matmul(a.transpose(-1, -2).contiguous(), b, true, true).to_vector<float>();
  expect_close(t, ov, 1e-5f);
}

TEST(Ops, BinaryBroadcastsStridedInputs) {
  Tensor a = randn({2, 3, 4}, 6), b = randn({3, 1}, 7);
  auto out = ops::sub(a.transpose(1, 2), b.transpose(0, 1)).to_vector<float>();  // [2,4,3] - [1,3]
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) ASSERT_FLOAT_EQ(out[(i * 4 + j) * 3 + k], av[(i * 3 + k) * 4 + j] - bv[k]);
}

TEST(Ops, UnaryActivationsMatchFormulas) {
  Tensor x = randn({1000}, 8, 3.0f);
  auto xv = x.to_vector<float>();
  auto check = [&](const char* name, auto f) {
    auto y = ops::activation(x, name).to_vector<float>();
    for (size_t i = 0; i < xv.size(); ++i) ASSERT_NEAR(y[i], f(double(xv[i])), 2e-6 * (1 + std::fabs(f(double(xv[i]))))) << name << " x=" << xv[i];
  };
  const double c = std::sqrt(2.0 / M_PI);
  check("gelu", [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  check("gelu_new", [&](double v) { return 0.5 * v * (1 + std::tanh(c * (v + 0.044715 * v * v * v))); });
  check("gelu_pytorch_tanh", [&](double v) { return 0.5 * v * (1 + std::tanh(c * (v + 0.044715 * v * v * v))); });
  check("gelu_fast", [&](double v) { return 0.5 * v * (1 + std::tanh(v * c * (1 + 0.044715 * v * v))); });
  check("quick_gelu", [](double v) { return v / (1 + std::exp(-1.702 * v)); });
  check("relu", [](double v) { return v > 0 ? v : 0; });
  check("silu", [](double v) { return v / (1 + std::exp(-v)); });
  check("tanh", [](double v) { return std::tanh(v); });
  EXPECT_THROW(ops::activation(x, "swiglu_unknown"), Error);
}

TEST(Ops, NormsAndSoftmax) {
  Tensor x = randn({3, 10}, 9, 2.0f), w = randn({10}, 10), b = randn({10}, 11);
  auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), bv = b.to_vector<float>();
  auto ln = ops::layer_norm(x, w, b, 1e-5f).to_vector<float>();
  auto rms = ops::rms_norm(x, w, 1e-6f, true).to_vector<float>();
  auto sm = ops::softmax(x).to_vector<float>();
  for (int r = 0; r < 3; ++r) {
    double mean = 0, var = 0, ss = 0, mx = -1e30, se = 0;
    for (int i = 0; i < 10; ++i) mean += xv[r * 10 + i], ss += double(xv[r * 10 + i]) * xv[r * 10 + i], mx = std::max(mx, double(xv[r * 10 + i]));
    mean /= 10;
    for (int i = 0; i < 10; ++i) var += (xv[r * 10 + i] - mean) * (xv[r * 10 + i] - mean), se += std::exp(xv[r * 10 + i] - mx);
    var /= 10;
    for (int i = 0; i < 10; ++i) {
      ASSERT_NEAR(ln[r * 10 + i], (xv[r * 10 + i] - mean) / std::sqrt(var + 1e-5) * wv[i] + bv[i], 1e-5);
      ASSERT_NEAR(rms[r * 10 + i], xv[r * 10 + i] / std::sqrt(ss / 10 + 1e-6) * (1 + wv[i]), 1e-5);
      ASSERT_NEAR(sm[r * 10 + i], std::exp(xv[r * 10 + i] - mx) / se, 1e-6);
    }
  }
}

TEST(Ops, IndexingOps) {
  Tensor table = randn({5, 3}, 12);
  Tensor ids = Tensor::from_vector<int64_t>({4, 0, 2}, {1, 3});
  auto e = ops::embedding(table, ids);
  ASSERT_EQ(e.shape(), (Shape{1, 3, 3}));
  auto tv = table.to_vector<float>(), ev = e.to_vector<float>();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ev[i], tv[12 + i]);
  EXPECT_THROW(ops::embedding(table, Tensor::from_vector<int64_t>({5}, {1})), Error);  // out of vocabulary
  auto c = ops::concat({table.slice(0, 0, 2), table.slice(0, 2, 5)}, 0).to_vector<float>();
  EXPECT_EQ(c, tv);
  auto cc = ops::concat({table, table}, 1);
  EXPECT_EQ(cc.shape(), (Shape{5, 6}));
  EXPECT_EQ(cc.to_vector<float>()[4], tv[1]);
  EXPECT_EQ(ops::argmax(Tensor::from_vector<float>({1, 5, 5, 2}, {1, 4})).to_vector<int64_t>()[0], 1);
  EXPECT_FLOAT_EQ(ops::reduce(ReduceOp::Sum, Tensor::from_vector<float>({1, 2, 3}, {3})).item(), 6.0f);
  EXPECT_FLOAT_EQ(ops::reduce(ReduceOp::Mean, Tensor::from_vector<float>({1, 2, 3}, {3})).item(), 2.0f);
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 10, 11, 12}, {2, 3});
  Tensor idx = Tensor::from_vector<int64_t>({2, 0, 1, 1}, {2, 2});
  EXPECT_EQ(ops::gather_last(x, idx).to_vector<float>(), (std::vector<float>{2, 0, 11, 11}));
}

// Naive attention with the op's documented semantics.
std::vector<float> naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a) {
  const int64_t B = q.dim(0), Hq = q.dim(1), Sq = q.dim(2), D = q.dim(3), Hkv = k.dim(1), Sk = k.dim(2);
  auto qv = q.contiguous().to_vector<float>(), kv = k.contiguous().to_vector<float>(), vv = v.contiguous().to_vector<float>();
  std::vector<double> km = a.key_mask.defined() ? a.key_mask.to_vector<double>() : std::vector<double>(B * Sk, 1);
  std::vector<double> qm = a.query_mask.defined() ? a.query_mask.to_vector<double>() : std::vector<double>(B * Sq, 1);
  std::vector<float> bias = a.bias.defined() ? a.bias.contiguous().to_vector<float>() : std::vector<float>();
  std::vector<float> out(B * Sq * Hq * D, 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        const int64_t kh = h / (Hq / Hkv), pos = i + a.q_offset;
        std::vector<double> s(Sk);
        std::vector<bool> vis(Sk);
        bool any = false;
        for (int64_t j = 0; j < Sk; ++j) {
          double d = 0;
          for (int64_t x = 0; x < D; ++x) d += double(qv[((b * Hq + h) * Sq + i) * D + x]) * kv[((b * Hkv + kh) * Sk + j) * D + x];
          d *= a.scale;
          if (!bias.empty()) d += bias[((b * Hq + h) * Sq + i) * Sk + j];
          if (a.softcap > 0) d = a.softcap * std::tanh(d / a.softcap);
          vis[j] = km[b * Sk + j] != 0 && qm[b * Sq + i] != 0 && !(a.causal && j > pos) &&
                   !(a.sliding_window > 0 && pos - j >= a.sliding_window);
          s[j] = d;
          any = any || vis[j];
        }
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < Sk; ++j)
          if (!any || vis[j]) mx = std::max(mx, s[j]);
        for (int64_t j = 0; j < Sk; ++j) s[j] = any ? (vis[j] ? std::exp(s[j] - mx) : 0.0) : 1.0, sum += s[j];
        for (int64_t j = 0; j < Sk; ++j)
          for (int64_t x = 0; x < D; ++x) out[((b * Sq + i) * Hq + h) * D + x] += float(s[j] / sum * vv[((b * Hkv + kh) * Sk + j) * D + x]);
      }
  return out;
}

// Small shapes (scalar tails only) and shapes that cross the kernel's 16-query blocks, 8/4-row groups, 32-key panels
// and 16/32/64-feature vector blocks with tails; each with no mask (the vectorized softmax), key/query masks,
// causal, sliding window, bias + softcap, and fully masked rows.
TEST(Ops, AttentionMatchesNaiveAcrossFeatures) {
  for (const auto& [Sq, Sk, D] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {5, 7, 8}, {37, 53, 24}, {1, 70, 64}, {20, 33, 96}, {16, 64, 128}}) {
    SCOPED_TRACE("Sq=" + std::to_string(Sq) + " Sk=" + std::to_string(Sk) + " D=" + std::to_string(D));
    const int64_t B = 2, Hq = 4, Hkv = 2;
    Tensor q = randn({B, Sq, Hq, D}, 13).transpose(1, 2);  // strided view, as models pass it
    Tensor k = randn({B, Hkv, Sk, D}, 14), v = randn({B, Hkv, Sk, D}, 15);
    auto mask = [](int64_t n, auto visible) {
      std::vector<int64_t> m(2 * n);
      for (int64_t i = 0; i < 2 * n; ++i) m[i] = visible(i / n, i % n) ? 1 : 0;
      return Tensor::from_vector<int64_t>(m, {2, n});
    };
    std::vector<AttentionArgs> cases(6);
    for (auto& c : cases) c.scale = 0.35f;
    cases[1].key_mask = mask(Sk, [&](int64_t b, int64_t j) { return b == 0 || j < Sk - 3; });
    cases[2].causal = true, cases[2].q_offset = Sk - Sq;
    cases[3].causal = true, cases[3].q_offset = Sk - Sq, cases[3].sliding_window = 3;
    cases[4].softcap = 1.5f, cases[4].bias = randn({B, Hq, Sq, Sk}, 16);
    cases[5].key_mask = mask(Sk, [](int64_t b, int64_t) { return b == 1; });  // batch 0: every key masked
    cases[5].query_mask = mask(Sq, [](int64_t b, int64_t i) { return b == 1 || i % 3 != 0; });
    for (size_t c = 0; c < cases.size(); ++c) {
      SCOPED_TRACE("case " + std::to_string(c));
      auto got = ops::attention(q, k, v, cases[c]).to_vector<float>();
      expect_close(got, naive_attention(q, k, v, cases[c]), 1e-5f);
    }
    // Queries, keys and values whose feature stride is not 1 (the kernel packs them instead of reading rows).
    Tensor qt = randn({B, Hq, D, Sq}, 17).transpose(2, 3), kt = randn({B, Hkv, D, Sk}, 18).transpose(2, 3),
           vt = randn({B, Hkv, D, Sk}, 19).transpose(2, 3);
    expect_close(ops::attention(qt, kt, vt, cases[1]).to_vector<float>(), naive_attention(qt, kt, vt, cases[1]),
                 1e-5f);
  }
}

TEST(Ops, CopyConvertsAndRejectsMismatch) {
  Tensor x = randn({3, 4}, 17);
  Tensor y = Tensor::empty({4, 3}, DType::BF16);
  ops::copy_(y, x.transpose(0, 1));
  auto yv = y.to_vector<float>(), xv = x.to_vector<float>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(yv[i * 3 + j], xv[j * 4 + i], 1e-2 * (1 + std::fabs(xv[j * 4 + i])));
  Tensor bad = Tensor::empty({2, 2}, DType::F32);
  EXPECT_THROW(ops::copy_(bad, x), Error);
  EXPECT_THROW(ops::linear(x, randn({5, 3}, 18)), Error);
}
