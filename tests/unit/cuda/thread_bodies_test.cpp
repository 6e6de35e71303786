// The per-thread bodies of the CUDA vision / state-space / int8 kernels (src/backends/cuda/thread_bodies.h), run
// on the host over their whole grid and compared with the CPU backend (exactly where no multiply-add is involved:
// FMA contraction may differ between the two compilations). This checks the index arithmetic and the
// numerics of what each GPU thread computes on machines without a GPU; the launches, block reductions (group norm
// statistics) and cuBLAS calls around them are checked only by `test-backend-ops --device cuda` on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cuda/thread_bodies.h"
#include "core/dispatch.h"
#include "core/tensor.h"
#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/group_norm.h"
#include "ops/interpolate.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/ssm.h"

namespace {

using namespace ia;
using namespace ia::cuda;

std::mt19937 rng(7);

Tensor uniform(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = u(rng);
  return Tensor::from_vector(v, shape);
}

template <class F>
void grid(int64_t n, F body) {
  for (int64_t i = 0; i < n; ++i) body(i);
}

// Max |a - b| relative to max |a| (1 when a is all zeros).
double rel_err(const Tensor& ref, const Tensor& got) {
  const auto a = ref.to_vector<float>(), b = got.to_vector<float>();
  EXPECT_EQ(a.size(), b.size());
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return std::isnan(a[i]) && std::isnan(b[i]) ? err : INFINITY;
    err = std::max(err, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(a[i])));
  }
  return err / (scale > 0 ? scale : 1.0);
}

// conv2d as vision.cu + vision_cuda.cpp do it: bias planes, then per (sample, group) im2col and a GEMM.
Tensor conv2d_emulated(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dArgs& a, const Shape& os) {
  ConvGeom g;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3), g.O = w.dim(0), g.KH = w.dim(2), g.KW = w.dim(3);
  g.Ho = os[2], g.Wo = os[3], g.G = a.groups, g.stride_h = a.stride_h, g.stride_w = a.stride_w;
  g.pad_top = a.pad_top, g.pad_left = a.pad_left, g.dilation_h = a.dilation_h, g.dilation_w = a.dilation_w;
  Tensor out = Tensor::zeros(os, DType::F32);
  float* op = out.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  const int64_t Cg = g.C / g.G, Og = g.O / g.G, K = Cg * g.KH * g.KW, P = g.Ho * g.Wo;
  if (Cg == 1 && g.G > 1) {
    grid(out.numel(), [&](int64_t i) { conv2d_depthwise_at(g, x.data<float>(), w.data<float>(), bp, i, op); });
    return out;
  }
  if (bp) grid(out.numel(), [&](int64_t i) { bias_planes_at(bp, P, g.O, i, op); });
  std::vector<float> col(static_cast<size_t>(K * P));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t grp = 0; grp < g.G; ++grp) {
      const float* src = x.data<float>() + (n * g.C + grp * Cg) * g.H * g.W;
      grid(K * P, [&](int64_t i) { im2col_at(g, src, i, col.data()); });
      const float* wg = w.data<float>() + grp * Og * K;
      float* dst = op + (n * g.O + grp * Og) * P;
      for (int64_t o = 0; o < Og; ++o)
        for (int64_t p = 0; p < P; ++p) {
          double acc = 0.0;
          for (int64_t k = 0; k < K; ++k) acc += double(wg[o * K + k]) * col[k * P + p];
          dst[o * P + p] += static_cast<float>(acc);
        }
    }
  return out;
}

TEST(CudaThreadBodies, Conv2dIm2colDepthwiseAndPointwiseMatchTheCpuKernel) {
  Conv2dArgs asym = Conv2dArgs::make(2, 0, 1, 2);
  asym.pad_bottom = 1, asym.pad_left = 1;
  struct Case {
    Shape x, w;
    Conv2dArgs args;
    bool bias;
  };
  for (const Case& c : std::vector<Case>{{{2, 3, 9, 11}, {4, 3, 3, 3}, Conv2dArgs::make(1, 1), true},
                                         {{1, 5, 13, 10}, {6, 5, 3, 3}, asym, false},
                                         {{2, 4, 8, 8}, {6, 2, 3, 3}, Conv2dArgs::make(1, 1, 2), true},
                                         {{2, 8, 9, 9}, {8, 1, 3, 3}, Conv2dArgs::make(2, 1, 8), true},
                                         {{1, 4, 6, 7}, {8, 1, 5, 5}, Conv2dArgs::make(1, 2, 4), false},
                                         {{2, 16, 5, 6}, {8, 16, 1, 1}, Conv2dArgs::make(1), true},
                                         {{1, 3, 16, 16}, {32, 3, 4, 4}, Conv2dArgs::make(4), true}}) {
    const Tensor x = uniform(c.x), w = uniform(c.w, -0.5f, 0.5f), b = c.bias ? uniform({c.w[0]}) : Tensor();
    const Tensor ref = ops::conv2d(x, w, b, c.args);
    EXPECT_LT(rel_err(ref, conv2d_emulated(x, w, b, c.args, ref.shape())), 1e-5) << shape_str(c.x) << shape_str(c.w);
  }
}

TEST(CudaThreadBodies, PoolingMatchesTheCpuKernelBitForBit) {
  Pool2dArgs excl = Pool2dArgs::make(PoolKind::Avg, 3, 1, 1);
  excl.count_include_pad = false;
  for (const auto& [shape, args] : std::vector<std::pair<Shape, Pool2dArgs>>{
           {{2, 3, 11, 11}, Pool2dArgs::make(PoolKind::Max, 3, 2, 1)},
           {{1, 4, 10, 9}, Pool2dArgs::make(PoolKind::Max, 3, 2, 0, true)},
           {{2, 5, 8, 6}, Pool2dArgs::make(PoolKind::Avg, 2, 2)},
           {{1, 3, 7, 5}, excl},
           {{1, 2, 8, 8}, Pool2dArgs::make(PoolKind::Avg, 3, 2, 1, true)}}) {
    const Tensor x = uniform(shape);
    const Tensor ref = ops::pool2d(x, args);
    PoolGeom g;
    g.H = shape[2], g.W = shape[3], g.Ho = ref.dim(2), g.Wo = ref.dim(3), g.kernel_h = args.kernel_h;
    g.kernel_w = args.kernel_w, g.stride_h = args.stride_h, g.stride_w = args.stride_w, g.pad_h = args.pad_h;
    g.pad_w = args.pad_w, g.max = args.kind == PoolKind::Max, g.count_include_pad = args.count_include_pad;
    Tensor got = Tensor::zeros(ref.shape(), DType::F32);
    grid(got.numel(), [&](int64_t i) { pool2d_at(g, x.data<float>(), i, got.data<float>()); });
    EXPECT_EQ(rel_err(ref, got), 0.0) << shape_str(shape);
  }
  for (const auto& [shape, oh, ow] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
           {{2, 3, 7, 7}, 3, 3}, {{1, 4, 10, 13}, 4, 5}, {{1, 2, 5, 3}, 7, 4}}) {
    const Tensor x = uniform(shape);
    const Tensor ref = ops::adaptive_avg_pool2d(x, oh, ow);
    PoolGeom g;
    g.H = shape[2], g.W = shape[3], g.Ho = oh, g.Wo = ow;
    Tensor got = Tensor::zeros(ref.shape(), DType::F32);
    grid(got.numel(), [&](int64_t i) { adaptive_avg_pool2d_at(g, x.data<float>(), i, got.data<float>()); });
    EXPECT_EQ(rel_err(ref, got), 0.0) << shape_str(shape);
  }
}

TEST(CudaThreadBodies, InterpolateMatchesTheCpuKernel) {
  struct Case {
    InterpMode mode;
    bool align;
    double scale;
    Shape shape;
    int64_t oh, ow;
  };
  for (const Case& c : std::vector<Case>{{InterpMode::Nearest, false, 0.0, {2, 3, 5, 7}, 10, 14},
                                         {InterpMode::Nearest, false, 0.0, {1, 2, 9, 8}, 4, 3},
                                         {InterpMode::Bilinear, false, 0.0, {2, 2, 8, 8}, 13, 11},
                                         {InterpMode::Bilinear, true, 0.0, {1, 3, 6, 5}, 11, 9},
                                         {InterpMode::Bilinear, false, 2.0, {1, 4, 5, 6}, 10, 12},
                                         {InterpMode::Bicubic, false, 0.0, {1, 3, 6, 6}, 12, 9},
                                         {InterpMode::Bicubic, true, 0.0, {2, 2, 16, 12}, 7, 5}}) {
    InterpolateArgs a;
    a.mode = c.mode, a.align_corners = c.align, a.scale_h = a.scale_w = c.scale;
    const Tensor x = uniform(c.shape);
    const Tensor ref = ops::interpolate(x, c.oh, c.ow, a);
    InterpGeom g;
    g.H = c.shape[2], g.W = c.shape[3], g.Ho = c.oh, g.Wo = c.ow, g.align_corners = c.align;
    g.mode = c.mode == InterpMode::Nearest ? kNearest : c.mode == InterpMode::Bicubic ? kBicubic : kBilinear;
    auto scale = [&](int64_t in, int64_t out) {  // vision_cuda.cpp's interp_scale
      if (c.align) return out > 1 ? float(in - 1) / float(out - 1) : 0.0f;
      return c.scale > 0 ? float(1.0 / c.scale) : float(in) / float(out);
    };
    g.scale_h = scale(g.H, g.Ho), g.scale_w = scale(g.W, g.Wo);
    Tensor got = Tensor::zeros(ref.shape(), DType::F32);
    grid(got.numel(), [&](int64_t i) { interpolate_at(g, x.data<float>(), i, got.data<float>()); });
    EXPECT_LT(rel_err(ref, got), 1e-6) << shape_str(c.shape) << " -> " << c.oh << "x" << c.ow;
  }
}

TEST(CudaThreadBodies, ChannelAffineAndGroupNormMatchTheCpuKernels) {
  const Tensor x = uniform({2, 8, 5, 5}, -2.0f, 3.0f), w = uniform({8}), b = uniform({8});
  {
    Tensor ref = Tensor::empty(x.shape(), DType::F32), got = Tensor::empty(x.shape(), DType::F32);
    kernels::channel_affine().get(DeviceType::CPU)(x, w, b, ref);
    grid(x.numel(), [&](int64_t i) {
      channel_affine_at(x.data<float>(), w.data<float>(), b.data<float>(), 8, 25, i, got.data<float>());
    });
    EXPECT_EQ(rel_err(ref, got), 0.0);
  }
  for (const int64_t G : {1, 4, 8}) {
    for (const bool affine : {true, false}) {
      const Tensor ref = ops::group_norm(x, G, affine ? w : Tensor(), affine ? b : Tensor(), 1e-5f);
      const int64_t count = (8 / G) * 25;
      std::vector<float> stats(static_cast<size_t>(2 * 2 * G));
      for (int64_t p = 0; p < 2 * G; ++p) {  // what group_norm_stats_kernel's block reductions produce
        const float* src = x.data<float>() + p * count;
        double s = 0.0, sq = 0.0;
        for (int64_t i = 0; i < count; ++i) s += src[i];
        const double mean = s / double(count);
        for (int64_t i = 0; i < count; ++i) sq += (src[i] - mean) * (src[i] - mean);
        group_norm_stats(sq, mean, count, 1e-5f, stats.data() + 2 * p);
      }
      Tensor got = Tensor::empty(x.shape(), DType::F32);
      grid(x.numel(), [&](int64_t i) {
        group_norm_apply_at(x.data<float>(), stats.data(), affine ? w.data<float>() : nullptr,
                            affine ? b.data<float>() : nullptr, 8, 25, G, i, got.data<float>());
      });
      EXPECT_LT(rel_err(ref, got), 1e-6) << "groups " << G;
    }
  }
}

TEST(CudaThreadBodies, StateSpaceRecurrencesMatchTheCpuKernelsIncludingTheirStates) {
  for (const auto& [B, S, C, K] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {2, 6, 10, 4}, {3, 1, 16, 4}, {1, 2, 7, 4}, {2, 9, 5, 2}}) {
    const Tensor x = uniform({B, S, C}), w = uniform({C, K}), bias = uniform({C}), st0 = uniform({B, C, K - 1});
    Tensor st_ref = st0.clone(), st_got = st0.clone();
    const Tensor ref = ops::causal_conv1d_(x, w, bias, st_ref);
    Tensor got = Tensor::zeros({B, S, C}, DType::F32);
    grid(B * C, [&](int64_t bc) {
      causal_conv1d_at(x.data<float>(), w.data<float>(), bias.data<float>(), st_got.data<float>(), got.data<float>(),
                       S, C, K, bc);
    });
    EXPECT_LT(rel_err(ref, got), 1e-6) << "causal_conv1d S=" << S;
    EXPECT_LT(rel_err(st_ref, st_got), 1e-6) << "causal_conv1d state S=" << S;
  }
  for (const auto& g : std::vector<ScanGeom>{{2, 5, 12, 1, 4, 1}, {1, 7, 4, 3, 8, 2}, {2, 1, 6, 2, 16, 3}}) {
    const Tensor x = uniform({g.B, g.S, g.H, g.P}), dt = uniform({g.B, g.S, g.H}, 0.01f, 0.5f);
    const Tensor A = uniform({g.H, g.N}, -2.0f, -0.1f), Bm = uniform({g.B, g.S, g.G, g.N});
    const Tensor Cm = uniform({g.B, g.S, g.G, g.N}), D = uniform({g.H}), st0 = uniform({g.B, g.H, g.P, g.N});
    Tensor st_ref = st0.clone(), st_got = st0.clone();
    const Tensor ref = ops::selective_scan_(x, dt, A, Bm, Cm, D, st_ref);
    Tensor got = Tensor::zeros(x.shape(), DType::F32);
    grid(g.B * g.H * g.P, [&](int64_t i) {
      selective_scan_at(g, x.data<float>(), dt.data<float>(), A.data<float>(), Bm.data<float>(), Cm.data<float>(),
                        D.data<float>(), st_got.data<float>(), got.data<float>(), i);
    });
    EXPECT_LT(rel_err(ref, got), 1e-6) << "selective_scan H=" << g.H << " P=" << g.P;
    EXPECT_LT(rel_err(st_ref, st_got), 1e-6) << "selective_scan state";
  }
  {
    const int64_t B = 2, S = 6, C = 8;
    const Tensor k = uniform({B, S, C}, -2.0f, 2.0f), v = uniform({B, S, C}), td = uniform({C}), tf = uniform({C});
    Tensor st_ref = Tensor::zeros({B, 3, C}, DType::F32);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) st_ref.data<float>()[(b * 3 + 2) * C + c] = -1e38f;
    Tensor st_got = st_ref.clone();
    const Tensor ref = ops::wkv_(k, v, td, tf, st_ref);
    Tensor got = Tensor::zeros({B, S, C}, DType::F32);
    grid(B * C, [&](int64_t bc) {
      wkv_at(k.data<float>(), v.data<float>(), td.data<float>(), tf.data<float>(), st_got.data<float>(),
             got.data<float>(), S, C, bc);
    });
    EXPECT_LT(rel_err(ref, got), 1e-6) << "wkv";
    EXPECT_LT(rel_err(st_ref, st_got), 1e-6) << "wkv state";
  }
  {
    const int64_t B = 2, S = 9, C = 16;
    const Tensor a = uniform({B, S, C}, 0.0f, 1.0f), x = uniform({B, S, C}), st0 = uniform({B, C});
    Tensor st_ref = st0.clone(), st_got = st0.clone();
    const Tensor ref = ops::linear_recurrence_(a, x, st_ref);
    Tensor got = Tensor::zeros({B, S, C}, DType::F32);
    grid(B * C, [&](int64_t bc) {
      linear_recurrence_at(a.data<float>(), x.data<float>(), st_got.data<float>(), got.data<float>(), S, C, bc);
    });
    EXPECT_LT(rel_err(ref, got), 1e-6);
    EXPECT_LT(rel_err(st_ref, st_got), 1e-6);
  }
}

TEST(CudaThreadBodies, Int8DequantizationThenGemmMatchesTheCpuInt8Linear) {
  const int64_t M = 12, K = 96, N = 40;
  const Tensor x = uniform({M, K}), bias = uniform({N});
  auto [q, scale] = ops::quantize_int8_rows(uniform({N, K}, -0.5f, 0.5f));
  const Tensor ref = ops::linear_int8(x, q, scale, bias);
  std::vector<float> wf(static_cast<size_t>(N * K));
  grid(N * K, [&](int64_t i) { dequant_int8_at(q.data<int8_t>(), scale.data<float>(), K, i, wf.data()); });
  Tensor got = Tensor::zeros({M, N}, DType::F32);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = bias.data<float>()[n];
      for (int64_t k = 0; k < K; ++k) acc += double(x.data<float>()[m * K + k]) * wf[n * K + k];
      got.data<float>()[m * N + n] = static_cast<float>(acc);
    }
  EXPECT_LT(rel_err(ref, got), 1e-5);
}

TEST(CudaThreadBodies, RowQuantizationThenInt8GemmMatchesTheCpuW8a8Linear) {
  const int64_t M = 12, K = 96, N = 40;
  const Tensor x = uniform({M, K}), bias = uniform({N});
  auto [q, scale] = ops::quantize_int8_rows(uniform({N, K}, -0.5f, 0.5f));
  const Tensor ref = ops::linear_w8a8(x, q, scale, bias);
  Tensor xq = Tensor::zeros({M, K}, DType::F32);
  grid(M, [&](int64_t row) { quantize_row_at(x.data<float>(), K, row, xq.data<float>()); });
  EXPECT_LT(rel_err(ref, ops::linear_int8(xq, q, scale, bias)), 1e-6);
}

}  // namespace
