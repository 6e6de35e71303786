#include "ops/interpolate.h"

IA_DEFINE_OP(interpolate)

namespace ia::ops {

Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, const InterpolateArgs& args) {
  IA_CHECK(x.ndim() == 4 && out_h >= 1 && out_w >= 1, ErrorKind::InvalidArgument,
           "interpolate: expects [N, C, H, W] and a positive size, got {} -> {}x{}", x.describe(), out_h, out_w);
  IA_CHECK(args.mode != InterpMode::Nearest || !args.align_corners, ErrorKind::InvalidArgument,
           "interpolate: align_corners is only valid for bilinear/bicubic");
  Tensor xc = x.contiguous();
  if (xc.dtype() != DType::F32) xc = xc.to(DType::F32);
  Tensor out = Tensor::empty({x.dim(0), x.dim(1), out_h, out_w}, DType::F32, x.device());
  kernels::interpolate().get(x.device().type)(xc, args, out);
  return out;
}

}  // namespace ia::ops
