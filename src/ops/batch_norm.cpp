#include "ops/batch_norm.h"

#include "ops/ops.h"

IA_DEFINE_OP(channel_affine)

namespace ia::ops {

Tensor batch_norm(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& weight, const Tensor& bias,
                  float eps) {
  IA_CHECK(x.ndim() >= 2, ErrorKind::InvalidArgument, "batch_norm: expects [N, C, ...], got {}", x.describe());
  const int64_t C = x.dim(1);
  for (const Tensor* t : {&mean, &var, &weight, &bias})
    IA_CHECK(!t->defined() || (t->numel() == C && t->device() == x.device()), ErrorKind::InvalidArgument,
             "batch_norm: statistic/affine tensor {} for input {}", t->describe(), x.describe());
  IA_CHECK(mean.defined() && var.defined(), ErrorKind::InvalidArgument, "batch_norm: running mean/var required");
  Tensor a = unary(UnaryOp::Rsqrt, scale(var.reshape({C}), 1.0f, eps));
  if (weight.defined()) a = mul(a, weight.reshape({C}));
  Tensor mean_a = mul(mean.reshape({C}), a);
  Tensor b = bias.defined() ? sub(bias.reshape({C}), mean_a) : scale(mean_a, -1.0f);
  Tensor xc = x.contiguous();
  if (xc.dtype() != DType::F32) xc = xc.to(DType::F32);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::channel_affine().get(x.device().type)(xc, a, b, out);
  return out;
}

}  // namespace ia::ops
