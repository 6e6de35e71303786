#include "ops/pool.h"

IA_DEFINE_OP(pool2d)
IA_DEFINE_OP(adaptive_avg_pool2d)

namespace ia::ops {

namespace {

Tensor f32_contig(const Tensor& t) {
  Tensor c = t.contiguous();
  return c.dtype() == DType::F32 ? c : c.to(DType::F32);
}

// torch's pooling_output_shape: floor or ceil division, and with ceil_mode the last window must start inside
// the (left-padded) input.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, bool ceil_mode) {
  const int64_t num = in + 2 * pad - k + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace

Tensor pool2d(const Tensor& x, const Pool2dArgs& a) {
  IA_CHECK(x.ndim() == 4, ErrorKind::InvalidArgument, "pool2d: expects [N, C, H, W], got {}", x.describe());
  IA_CHECK(a.kernel_h >= 1 && a.kernel_w >= 1 && a.stride_h >= 1 && a.stride_w >= 1 && a.pad_h >= 0 &&
               a.pad_w >= 0 && 2 * a.pad_h <= a.kernel_h && 2 * a.pad_w <= a.kernel_w,
           ErrorKind::InvalidArgument, "pool2d: invalid kernel {}x{} stride {}x{} padding {}x{}", a.kernel_h,
           a.kernel_w, a.stride_h, a.stride_w, a.pad_h, a.pad_w);
  const int64_t Ho = pooled_size(x.dim(2), a.kernel_h, a.pad_h, a.stride_h, a.ceil_mode);
  const int64_t Wo = pooled_size(x.dim(3), a.kernel_w, a.pad_w, a.stride_w, a.ceil_mode);
  IA_CHECK(Ho > 0 && Wo > 0, ErrorKind::InvalidArgument, "pool2d: input {} too small for kernel {}x{}",
           x.describe(), a.kernel_h, a.kernel_w);
  Tensor out = Tensor::empty({x.dim(0), x.dim(1), Ho, Wo}, DType::F32, x.device());
  kernels::pool2d().get(x.device().type)(f32_contig(x), a, out);
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  IA_CHECK(x.ndim() == 4 && out_h >= 1 && out_w >= 1, ErrorKind::InvalidArgument,
           "adaptive_avg_pool2d: expects [N, C, H, W] and a positive output size, got {} -> {}x{}", x.describe(),
           out_h, out_w);
  Tensor out = Tensor::empty({x.dim(0), x.dim(1), out_h, out_w}, DType::F32, x.device());
  kernels::adaptive_avg_pool2d().get(x.device().type)(f32_contig(x), out);
  return out;
}

}  // namespace ia::ops
