#include "ops/group_norm.h"

#include "ops/ops.h"

IA_DEFINE_OP(group_norm)

namespace ia::ops {

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, float eps) {
  IA_CHECK(x.ndim() >= 2, ErrorKind::InvalidArgument, "group_norm: expects [N, C, ...], got {}", x.describe());
  const int64_t C = x.dim(1);
  IA_CHECK(groups >= 1 && C % groups == 0, ErrorKind::InvalidArgument,
           "group_norm: {} channels are not divisible into {} groups", C, groups);
  IA_CHECK(weight.defined() == bias.defined(), ErrorKind::InvalidArgument,
           "group_norm: weight and bias must both be given or both be absent");
  for (const Tensor* t : {&weight, &bias})
    IA_CHECK(!t->defined() || (t->numel() == C && t->device() == x.device()), ErrorKind::InvalidArgument,
             "group_norm: affine tensor {} for input {}", t->describe(), x.describe());
  Tensor xc = x.contiguous();
  if (xc.dtype() != DType::F32) xc = xc.to(DType::F32);
  Tensor w = weight.defined() ? weight.reshape({C}).contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.reshape({C}).contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::group_norm().get(x.device().type)(xc, groups, w, b, eps, out);
  return out;
}

}  // namespace ia::ops
