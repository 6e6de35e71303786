// 2-D convolution (NCHW, torch.nn.Conv2d semantics: groups, stride, dilation, zero padding that may be
// asymmetric for TF "SAME" models).
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia {

struct Conv2dArgs {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  // zero padding
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  // Symmetric settings in one call: stride s, padding p, dilation d (torch's int arguments).
  static Conv2dArgs make(int64_t stride, int64_t padding = 0, int64_t groups = 1, int64_t dilation = 1) {
    Conv2dArgs a;
    a.stride_h = a.stride_w = stride;
    a.pad_top = a.pad_bottom = a.pad_left = a.pad_right = padding;
    a.groups = groups;
    a.dilation_h = a.dilation_w = dilation;
    return a;
  }
};

namespace ops {

// x [N, C, H, W], weight [O, C/groups, KH, KW], bias [O] (optional) -> [N, O, Ho, Wo] with
// Ho = (H + pad_top + pad_bottom - dilation_h*(KH-1) - 1) / stride_h + 1 (likewise Wo).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args);

// TF "SAME" padding for one spatial dim: (before, after) so that out = ceil(in / stride).
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation = 1);

}  // namespace ops
}  // namespace ia

// Kernel: x, weight, bias contiguous f32; out contiguous [N, O, Ho, Wo].
IA_DECLARE_OP(conv2d, void (*)(const ia::Tensor& x, const ia::Tensor& w, const ia::Tensor& bias,
                               const ia::Conv2dArgs& args, ia::Tensor& out))
