#include "ops/conv.h"

#include <algorithm>

#include "ops/ops.h"

IA_DEFINE_OP(conv2d)

namespace ia::ops {

std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0);
  return {total / 2, total - total / 2};
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& a) {
  IA_CHECK(x.ndim() == 4 && weight.ndim() == 4, ErrorKind::InvalidArgument,
           "conv2d: expects x [N, C, H, W] and weight [O, C/groups, KH, KW], got {} and {}", x.describe(),
           weight.describe());
  IA_CHECK(x.device() == weight.device() && (!bias.defined() || bias.device() == x.device()),
           ErrorKind::InvalidArgument, "conv2d: tensors on different devices ({} vs {})", x.describe(),
           weight.describe());
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = weight.dim(0), KH = weight.dim(2), KW = weight.dim(3);
  IA_CHECK(a.groups >= 1 && C % a.groups == 0 && O % a.groups == 0 && weight.dim(1) == C / a.groups,
           ErrorKind::InvalidArgument, "conv2d: input {} with weight {} and groups {}", x.describe(),
           weight.describe(), a.groups);
  IA_CHECK(a.stride_h >= 1 && a.stride_w >= 1 && a.dilation_h >= 1 && a.dilation_w >= 1 && a.pad_top >= 0 &&
               a.pad_bottom >= 0 && a.pad_left >= 0 && a.pad_right >= 0,
           ErrorKind::InvalidArgument, "conv2d: invalid stride/dilation/padding");
  IA_CHECK(!bias.defined() || bias.numel() == O, ErrorKind::InvalidArgument, "conv2d: bias {} for {} channels",
           bias.describe(), O);
  const int64_t Ho = (H + a.pad_top + a.pad_bottom - a.dilation_h * (KH - 1) - 1) / a.stride_h + 1;
  const int64_t Wo = (W + a.pad_left + a.pad_right - a.dilation_w * (KW - 1) - 1) / a.stride_w + 1;
  IA_CHECK(Ho > 0 && Wo > 0, ErrorKind::InvalidArgument, "conv2d: input {} too small for kernel {}x{}",
           x.describe(), KH, KW);
  auto f32c = [](const Tensor& t) {
    Tensor c = t.contiguous();
    return c.dtype() == DType::F32 ? c : c.to(DType::F32);
  };
  Tensor out = Tensor::empty({N, O, Ho, Wo}, DType::F32, x.device());
  count_flops(2ull * N * O * Ho * Wo * (C / a.groups) * KH * KW);
  kernels::conv2d().get(x.device().type)(f32c(x), f32c(weight), bias.defined() ? f32c(bias) : Tensor(), a, out);
  return out;
}

}  // namespace ia::ops
