// Vision ops (conv2d, pooling, batch norm, interpolate) against naive reference loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/interpolate.h"
#include "ops/ops.h"
#include "ops/pool.h"

using namespace ia;

namespace {

Tensor randn(const Shape& shape, uint64_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(shape_numel(shape));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, shape);
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1.0f + std::fabs(b[i]))) << "at " << i;
}

std::vector<float> conv_ref(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dArgs& a, Shape& out) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  const int64_t Cg = C / a.groups, Og = O / a.groups;
  const int64_t Ho = (H + a.pad_top + a.pad_bottom - a.dilation_h * (KH - 1) - 1) / a.stride_h + 1;
  const int64_t Wo = (W + a.pad_left + a.pad_right - a.dilation_w * (KW - 1) - 1) / a.stride_w + 1;
  out = {N, O, Ho, Wo};
  auto xv = x.to_vector<float>(), wv = w.to_vector<float>();
  std::vector<float> bv = b.defined() ? b.to_vector<float>() : std::vector<float>(O, 0.0f);
  std::vector<float> r(N * O * Ho * Wo);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double s = bv[o];
          const int64_t g = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
                const int64_t iw = ow * a.stride_w - a.pad_left + kw * a.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += double(xv[((n * C + g * Cg + c) * H + ih) * W + iw]) * wv[((o * Cg + c) * KH + kh) * KW + kw];
              }
          r[((n * O + o) * Ho + oh) * Wo + ow] = static_cast<float>(s);
        }
  return r;
}

}  // namespace

TEST(VisionOps, Conv2dMatchesNaive) {
  struct Case {
    int64_t C, O, K, groups;
    Conv2dArgs args;
  };
  Conv2dArgs asym = Conv2dArgs::make(2);
  asym.pad_right = asym.pad_bottom = 1;  // TF "SAME"-style
  Conv2dArgs dil = Conv2dArgs::make(1, 2, 1, 2);
  dil.stride_w = 2;
  const std::vector<Case> cases = {
      {3, 5, 3, 1, Conv2dArgs::make(1, 1)},   // plain 3x3
      {4, 6, 1, 1, Conv2dArgs::make(1, 0)},   // pointwise
      {3, 8, 4, 1, Conv2dArgs::make(4, 0)},   // patchify
      {6, 6, 3, 6, Conv2dArgs::make(1, 1, 6)},  // depthwise
      {4, 8, 3, 4, Conv2dArgs::make(2, 1, 4)},  // depthwise multiplier 2
      {8, 6, 3, 2, Conv2dArgs::make(2, 1, 2)},  // grouped
      {3, 4, 3, 1, asym},
      {3, 4, 3, 1, dil},
  };
  int seed = 10;
  for (const auto& c : cases) {
    Conv2dArgs a = c.args;
    a.groups = c.groups;
    Tensor x = randn({2, c.C, 9, 11}, seed++), w = randn({c.O, c.C / c.groups, c.K, c.K}, seed++),
           b = randn({c.O}, seed++);
    for (bool with_bias : {true, false}) {
      Shape shape;
      auto ref = conv_ref(x, w, with_bias ? b : Tensor(), a, shape);
      Tensor got = ops::conv2d(x, w, with_bias ? b : Tensor(), a);
      ASSERT_EQ(got.shape(), shape);
      expect_close(got.to_vector<float>(), ref, 1e-5f);
    }
  }
  EXPECT_THROW(ops::conv2d(randn({1, 3, 4, 4}, 1), randn({4, 2, 3, 3}, 2), Tensor(), Conv2dArgs::make(1)), Error);
}

TEST(VisionOps, SamePaddingMatchesTf) {
  EXPECT_EQ(ops::same_padding(32, 3, 2), (std::pair<int64_t, int64_t>{0, 1}));
  EXPECT_EQ(ops::same_padding(33, 3, 2), (std::pair<int64_t, int64_t>{1, 1}));
  EXPECT_EQ(ops::same_padding(8, 5, 1), (std::pair<int64_t, int64_t>{2, 2}));
}

TEST(VisionOps, PoolingMatchesNaive) {
  Tensor x = randn({2, 3, 7, 8}, 3);
  auto xv = x.to_vector<float>();
  // Max pool 3/2 pad 1 (ResNet stem).
  Tensor m = ops::pool2d(x, Pool2dArgs::make(PoolKind::Max, 3, 2, 1));
  ASSERT_EQ(m.shape(), (Shape{2, 3, 4, 4}));
  auto mv = m.to_vector<float>();
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oh = 0; oh < 4; ++oh)
      for (int64_t ow = 0; ow < 4; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t ih = oh * 2 - 1; ih < oh * 2 + 2; ++ih)
          for (int64_t iw = ow * 2 - 1; iw < ow * 2 + 2; ++iw)
            if (ih >= 0 && ih < 7 && iw >= 0 && iw < 8) best = std::max(best, xv[(p * 7 + ih) * 8 + iw]);
        ASSERT_EQ(mv[(p * 4 + oh) * 4 + ow], best);
      }
  // Avg pool 3/2 pad 1 ceil_mode, with and without counting the padding.
  for (bool include : {true, false}) {
    Pool2dArgs a = Pool2dArgs::make(PoolKind::Avg, 3, 2, 1, true);
    a.count_include_pad = include;
    Tensor av = ops::pool2d(x, a);
    ASSERT_EQ(av.shape(), (Shape{2, 3, 4, 5}));  // ceil((7+2-3)/2)+1 = 4, ceil((8+2-3)/2)+1 = 5
    auto v = av.to_vector<float>();
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t oh = 0; oh < 4; ++oh)
        for (int64_t ow = 0; ow < 5; ++ow) {
          const int64_t h0 = oh * 2 - 1, w0 = ow * 2 - 1;
          const int64_t h1 = std::min<int64_t>(h0 + 3, 7 + 1), w1 = std::min<int64_t>(w0 + 3, 8 + 1);
          double s = 0;
          int64_t n = 0;
          for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min<int64_t>(h1, 7); ++ih)
            for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min<int64_t>(w1, 8); ++iw, ++n)
              s += xv[(p * 7 + ih) * 8 + iw];
          const double div = include ? double((h1 - h0) * (w1 - w0)) : double(n);
          ASSERT_NEAR(v[(p * 4 + oh) * 5 + ow], s / div, 1e-5);
        }
  }
  // A window larger than the input with ceil_mode (EfficientNet's pooler) averages the whole map.
  Tensor g = ops::pool2d(x, Pool2dArgs::make(PoolKind::Avg, 20, 20, 0, true));
  ASSERT_EQ(g.shape(), (Shape{2, 3, 1, 1}));
  expect_close(g.reshape({6}).to_vector<float>(),
               ops::reduce(ReduceOp::Mean, x.reshape({6, 56})).to_vector<float>(), 1e-5f);
  // Adaptive average pooling: uneven bins.
  Tensor ad = ops::adaptive_avg_pool2d(x, 3, 5);
  auto adv = ad.to_vector<float>();
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 5; ++ow) {
        const int64_t h0 = oh * 7 / 3, h1 = ((oh + 1) * 7 + 2) / 3, w0 = ow * 8 / 5, w1 = ((ow + 1) * 8 + 4) / 5;
        double s = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) s += xv[(p * 7 + ih) * 8 + iw];
        ASSERT_NEAR(adv[(p * 3 + oh) * 5 + ow], s / double((h1 - h0) * (w1 - w0)), 1e-5);
      }
}

TEST(VisionOps, BatchNormMatchesNaive) {
  Tensor x = randn({2, 4, 3, 5}, 4), mean = randn({4}, 5), w = randn({4}, 6), b = randn({4}, 7);
  Tensor var = ops::unary(UnaryOp::Abs, randn({4}, 8));
  auto xv = x.to_vector<float>(), mv = mean.to_vector<float>(), vv = var.to_vector<float>(),
       wv = w.to_vector<float>(), bv = b.to_vector<float>();
  for (bool affine : {true, false}) {
    auto got = ops::batch_norm(x, mean, var, affine ? w : Tensor(), affine ? b : Tensor(), 1e-3f).to_vector<float>();
    std::vector<float> ref(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) {
      const size_t c = (i / 15) % 4;
      const double y = (xv[i] - mv[c]) / std::sqrt(double(vv[c]) + 1e-3);
      ref[i] = static_cast<float>(affine ? y * wv[c] + bv[c] : y);
    }
    expect_close(got, ref, 1e-5f);
  }
}

TEST(VisionOps, InterpolateKnownValues) {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3}, {1, 1, 2, 2});
  InterpolateArgs bl;
  auto up = ops::interpolate(x, 4, 4, bl).to_vector<float>();
  // torch.nn.functional.interpolate(arange(4).view(1,1,2,2), scale_factor=2, mode="bilinear")
  expect_close(up, {0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3}, 1e-6f);
  bl.align_corners = true;
  auto ac = ops::interpolate(x, 3, 3, bl).to_vector<float>();
  expect_close(ac, {0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3}, 1e-6f);
  InterpolateArgs nn;
  nn.mode = InterpMode::Nearest;
  expect_close(ops::interpolate(x, 4, 4, nn).to_vector<float>(),
               {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}, 0.0f);
}

// Naive bicubic (torch upsample_bicubic2d, align_corners=False): Keys kernel A = -0.75, clamped taps.
std::vector<float> bicubic_ref(const std::vector<float>& x, int64_t H, int64_t W, int64_t Ho, int64_t Wo, double sh,
                               double sw) {
  auto kernel = [](double d) {
    const double A = -0.75, a = std::fabs(d);
    if (a <= 1) return (A + 2) * a * a * a - (A + 3) * a * a + 1;
    if (a < 2) return A * a * a * a - 5 * A * a * a + 8 * A * a - 4 * A;
    return 0.0;
  };
  std::vector<float> out(Ho * Wo);
  for (int64_t i = 0; i < Ho; ++i)
    for (int64_t j = 0; j < Wo; ++j) {
      const double ri = sh * (i + 0.5) - 0.5, rj = sw * (j + 0.5) - 0.5;
      const int64_t fi = static_cast<int64_t>(std::floor(ri)), fj = static_cast<int64_t>(std::floor(rj));
      double acc = 0;
      for (int64_t a = -1; a <= 2; ++a)
        for (int64_t b = -1; b <= 2; ++b) {
          const int64_t y = std::clamp<int64_t>(fi + a, 0, H - 1), z = std::clamp<int64_t>(fj + b, 0, W - 1);
          acc += kernel(ri - double(fi + a)) * kernel(rj - double(fj + b)) * x[y * W + z];
        }
      out[i * Wo + j] = static_cast<float>(acc);
    }
  return out;
}

TEST(VisionOps, InterpolateBicubicMatchesNaive) {
  InterpolateArgs bc;
  bc.mode = InterpMode::Bicubic;
  Tensor x = randn({1, 2, 5, 6}, 9);
  // Same size: identity (weights are exactly 0/1).
  EXPECT_EQ(ops::interpolate(x, 5, 6, bc).to_vector<float>(), x.to_vector<float>());
  Tensor y = randn({1, 1, 7, 9}, 11);
  auto yv = y.to_vector<float>();
  for (auto [Ho, Wo] : {std::pair<int64_t, int64_t>{12, 5}, {4, 16}, {7, 9}}) {
    auto got = ops::interpolate(y, Ho, Wo, bc).to_vector<float>();
    expect_close(got, bicubic_ref(yv, 7, 9, Ho, Wo, 7.0 / Ho, 9.0 / Wo), 1e-5f);
  }
  // Explicit scale factors change the source mapping (torch's scale_factor path).
  InterpolateArgs sf = bc;
  sf.scale_h = sf.scale_w = 1.4;
  expect_close(ops::interpolate(y, 10, 12, sf).to_vector<float>(), bicubic_ref(yv, 7, 9, 10, 12, 1 / 1.4, 1 / 1.4),
               1e-5f);
}
