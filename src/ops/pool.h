// 2-D pooling over NCHW tensors with torch semantics: max/avg pooling (padding, ceil_mode,
// count_include_pad) and adaptive average pooling.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia {

enum class PoolKind { Max, Avg };

struct Pool2dArgs {
  PoolKind kind = PoolKind::Max;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;  // torch's default stride is the kernel size
  int64_t pad_h = 0, pad_w = 0;        // symmetric; max pooling pads with -inf, avg with zeros
  bool ceil_mode = false;
  bool count_include_pad = true;       // avg only
  static Pool2dArgs make(PoolKind kind, int64_t kernel, int64_t stride, int64_t padding = 0, bool ceil_mode = false) {
    Pool2dArgs a;
    a.kind = kind;
    a.kernel_h = a.kernel_w = kernel;
    a.stride_h = a.stride_w = stride;
    a.pad_h = a.pad_w = padding;
    a.ceil_mode = ceil_mode;
    return a;
  }
};

namespace ops {

// x [N, C, H, W] -> [N, C, Ho, Wo] (nn.MaxPool2d / nn.AvgPool2d).
Tensor pool2d(const Tensor& x, const Pool2dArgs& args);
// nn.AdaptiveAvgPool2d((out_h, out_w)): bin i covers [floor(i*H/out_h), ceil((i+1)*H/out_h)).
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace ops
}  // namespace ia

// Kernels: x contiguous f32 [N, C, H, W]; out contiguous [N, C, Ho, Wo] (shape already decided).
IA_DECLARE_OP(pool2d, void (*)(const ia::Tensor& x, const ia::Pool2dArgs& args, ia::Tensor& out))
IA_DECLARE_OP(adaptive_avg_pool2d, void (*)(const ia::Tensor& x, ia::Tensor& out))
