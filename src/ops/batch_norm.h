// Inference batch normalization over dim 1 (nn.BatchNorm1d/2d in eval mode, running statistics).
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia::ops {

// x [N, C, ...]; mean/var/weight/bias [C] (weight/bias optional: affine=False). Computed as torch does:
// y = x * a + b with a = weight / sqrt(var + eps), b = bias - mean * a.
Tensor batch_norm(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& weight, const Tensor& bias,
                  float eps);

}  // namespace ia::ops

// Kernel: x contiguous f32 viewed as [N, C, S]; scale/shift f32 [C] (a and b above).
IA_DECLARE_OP(channel_affine, void (*)(const ia::Tensor& x, const ia::Tensor& scale, const ia::Tensor& shift,
                                       ia::Tensor& out))
