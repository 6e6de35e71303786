// Group normalization over NCHW-style tensors (torch.nn.GroupNorm): per sample, channels split into groups, each
// group normalized over its channels and spatial positions, then a per-channel affine.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia::ops {

// x [N, C, ...], C divisible by groups; weight/bias [C] (both undefined: affine=False). Biased variance, like torch.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps);

}  // namespace ia::ops

// Kernel: x contiguous f32 viewed as [N, C, S]; weight/bias f32 [C] or undefined; out contiguous like x.
IA_DECLARE_OP(group_norm, void (*)(const ia::Tensor& x, int64_t groups, const ia::Tensor& weight,
                                   const ia::Tensor& bias, float eps, ia::Tensor& out))
