// Spatial resampling of NCHW tensors (torch.nn.functional.interpolate): nearest, bilinear and bicubic
// (A = -0.75), with align_corners and optional explicit scale factors, no antialiasing.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia {

enum class InterpMode { Nearest, Bilinear, Bicubic };

struct InterpolateArgs {
  InterpMode mode = InterpMode::Bilinear;
  bool align_corners = false;
  // > 0: the scale_factor the caller passed to torch (source index = dst / scale); 0: in / out sizes.
  double scale_h = 0.0, scale_w = 0.0;
};

namespace ops {

// x [N, C, H, W] -> [N, C, out_h, out_w].
Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, const InterpolateArgs& args);

}  // namespace ops
}  // namespace ia

// Kernel: x contiguous f32; out contiguous [N, C, out_h, out_w].
IA_DECLARE_OP(interpolate, void (*)(const ia::Tensor& x, const ia::InterpolateArgs& args, ia::Tensor& out))
