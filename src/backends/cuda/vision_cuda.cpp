// CUDA kernels (host side) of the vision ops: conv2d (depthwise direct, else im2col + cuBLAS per sample and
// group, mirroring conv_cpu.cpp), pooling, interpolation, per-channel affine and group norm.
#include "backends/cuda/cuda_device.h"
#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/group_norm.h"
#include "ops/interpolate.h"
#include "ops/pool.h"

namespace ia::cuda {
namespace {

const float* opt(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void conv2d_cuda(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dArgs& a, Tensor& out) {
  ConvGeom g;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3);
  g.O = w.dim(0), g.KH = w.dim(2), g.KW = w.dim(3), g.Ho = out.dim(2), g.Wo = out.dim(3), g.G = a.groups;
  g.stride_h = a.stride_h, g.stride_w = a.stride_w, g.pad_top = a.pad_top, g.pad_left = a.pad_left;
  g.dilation_h = a.dilation_h, g.dilation_w = a.dilation_w;
  if (g.N == 0 || g.O == 0) return;
  DeviceContext& ctx = context(out.device().index);
  const int64_t Cg = g.C / g.G, Og = g.O / g.G, K = Cg * g.KH * g.KW, P = g.Ho * g.Wo;
  const float* bp = opt(bias);
  float* op = out.data<float>();
  if (Cg == 1 && g.G > 1) {
    check_launch(launch_conv2d_depthwise(g, x.data<float>(), w.data<float>(), bp, op, ctx.stream), out,
                 "conv2d (depthwise)");
    return;
  }
  const int p = as_int(P, "output pixels", out), og = as_int(Og, "output channels per group", w),
            k = as_int(K, "patch size", w);
  const bool pointwise = g.KH == 1 && g.KW == 1 && a.stride_h == 1 && a.stride_w == 1 && a.pad_top == 0 &&
                         a.pad_bottom == 0 && a.pad_left == 0 && a.pad_right == 0;
  Tensor col = pointwise ? Tensor() : Tensor::empty({K, P}, DType::F32, out.device());
  float beta = 0.0f;
  if (bp) {
    check_launch(launch_bias_planes(bp, P, g.O, op, out.numel(), ctx.stream), out, "conv2d (bias)");
    beta = 1.0f;
  }
  const float alpha = 1.0f;
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.G; ++grp) {
      const float* src = x.data<float>() + (n * g.C + grp * Cg) * g.H * g.W;
      if (!pointwise) {
        check_launch(launch_im2col(g, src, Cg, col.data<float>(), ctx.stream), out, "conv2d (im2col)");
        src = col.data<float>();
      }
      // Row-major out[Og, P] = W_g[Og, K] @ col[K, P] is column-major out^T = col^T W_g^T.
      check_blas(blas().gemm_ex(ctx.blas, CUBLAS_OP_N, CUBLAS_OP_N, p, og, k, &alpha, src, CUDA_R_32F, p,
                                w.data<float>() + grp * Og * K, CUDA_R_32F, k, &beta, op + (n * g.O + grp * Og) * P,
                                CUDA_R_32F, p, f32_compute(), CUBLAS_GEMM_DEFAULT),
                 ctx.index, "conv2d (cublasGemmEx)");
    }
  }
}

PoolGeom pool_geom(const Tensor& x, const Tensor& out) {
  PoolGeom g;
  g.H = x.dim(2), g.W = x.dim(3), g.Ho = out.dim(2), g.Wo = out.dim(3);
  return g;
}

void pool2d_cuda(const Tensor& x, const Pool2dArgs& a, Tensor& out) {
  PoolGeom g = pool_geom(x, out);
  g.kernel_h = a.kernel_h, g.kernel_w = a.kernel_w, g.stride_h = a.stride_h, g.stride_w = a.stride_w;
  g.pad_h = a.pad_h, g.pad_w = a.pad_w, g.max = a.kind == PoolKind::Max, g.count_include_pad = a.count_include_pad;
  check_launch(launch_pool2d(g, x.data<float>(), out.data<float>(), x.dim(0) * x.dim(1), stream_of(out)), out,
               "pool2d");
}

void adaptive_avg_pool2d_cuda(const Tensor& x, Tensor& out) {
  check_launch(launch_adaptive_avg_pool2d(pool_geom(x, out), x.data<float>(), out.data<float>(), x.dim(0) * x.dim(1),
                                          stream_of(out)),
               out, "adaptive_avg_pool2d");
}

// Source step per output step, as the CPU kernel's compute_scale (torch's area_pixel_compute_scale).
float interp_scale(int64_t in, int64_t out, bool align_corners, double scale) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return scale > 0.0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
}

void interpolate_cuda(const Tensor& x, const InterpolateArgs& a, Tensor& out) {
  InterpGeom g;
  g.H = x.dim(2), g.W = x.dim(3), g.Ho = out.dim(2), g.Wo = out.dim(3);
  g.mode = a.mode == InterpMode::Nearest ? kNearest : a.mode == InterpMode::Bicubic ? kBicubic : kBilinear;
  g.align_corners = a.align_corners;
  g.scale_h = interp_scale(g.H, g.Ho, a.align_corners, a.scale_h);
  g.scale_w = interp_scale(g.W, g.Wo, a.align_corners, a.scale_w);
  check_launch(launch_interpolate(g, x.data<float>(), out.data<float>(), x.dim(0) * x.dim(1), stream_of(out)), out,
               "interpolate");
}

void channel_affine_cuda(const Tensor& x, const Tensor& scale, const Tensor& shift, Tensor& out) {
  const int64_t N = x.dim(0), C = x.dim(1), S = (N && C) ? x.numel() / (N * C) : 0;
  check_launch(launch_channel_affine(x.data<float>(), scale.data<float>(), shift.data<float>(), N, C, S,
                                     out.data<float>(), stream_of(out)),
               out, "channel_affine");
}

void group_norm_cuda(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b, float eps, Tensor& out) {
  const int64_t N = x.dim(0), C = x.dim(1), S = (N && C) ? x.numel() / (N * C) : 0;
  if (x.numel() == 0) return;
  Tensor stats = Tensor::empty({2 * N * groups}, DType::F32, out.device());
  check_launch(launch_group_norm(x.data<float>(), opt(w), opt(b), N, C, S, groups, eps, stats.data<float>(),
                                 out.data<float>(), stream_of(out)),
               out, "group_norm");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(conv2d, ia::DeviceType::CUDA, ia::cuda::conv2d_cuda)
IA_REGISTER_KERNEL(pool2d, ia::DeviceType::CUDA, ia::cuda::pool2d_cuda)
IA_REGISTER_KERNEL(adaptive_avg_pool2d, ia::DeviceType::CUDA, ia::cuda::adaptive_avg_pool2d_cuda)
IA_REGISTER_KERNEL(interpolate, ia::DeviceType::CUDA, ia::cuda::interpolate_cuda)
IA_REGISTER_KERNEL(channel_affine, ia::DeviceType::CUDA, ia::cuda::channel_affine_cuda)
IA_REGISTER_KERNEL(group_norm, ia::DeviceType::CUDA, ia::cuda::group_norm_cuda)
