#include "ops/decoding.h"

IA_DEFINE_OP(rotary)
IA_DEFINE_OP(kv_write)

namespace ia::ops {

Tensor rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved) {
  IA_CHECK(x.ndim() == 4 && x.dtype() == DType::F32, ErrorKind::InvalidArgument, "rotary: x must be f32 [B, S, H, D], got {}",
           x.describe());
  const int64_t B = x.dim(0), S = x.dim(1), D = x.dim(3);
  IA_CHECK(cos.ndim() == 3 && cos.shape() == sin.shape() && cos.dim(0) == B && cos.dim(1) == S &&
               2 * cos.dim(2) <= D && cos.dtype() == DType::F32 && sin.dtype() == DType::F32,
           ErrorKind::InvalidArgument, "rotary: cos {} / sin {} do not fit x {}", cos.describe(), sin.describe(),
           x.describe());
  IA_CHECK(x.device() == cos.device() && x.device() == sin.device(), ErrorKind::InvalidArgument,
           "rotary: tensors on different devices");
  Tensor xc = x.strides().back() == 1 ? x : x.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::rotary().get(x.device().type)(xc, cos.contiguous(), sin.contiguous(), interleaved, out);
  return out;
}

void kv_write_(Tensor& cache, const Tensor& src, int64_t start) {
  IA_CHECK(cache.ndim() == 4 && cache.is_contiguous() && cache.dtype() == DType::F32, ErrorKind::InvalidArgument,
           "kv_write_: cache must be contiguous f32 [B, H, L, D], got {}", cache.describe());
  IA_CHECK(src.ndim() == 4 && src.dim(0) == cache.dim(0) && src.dim(2) == cache.dim(1) && src.dim(3) == cache.dim(3),
           ErrorKind::InvalidArgument, "kv_write_: src {} does not fit cache {}", src.describe(), cache.describe());
  IA_CHECK(start >= 0 && start + src.dim(1) <= cache.dim(2), ErrorKind::InvalidArgument,
           "kv_write_: positions [{}, {}) exceed the cache capacity {}", start, start + src.dim(1), cache.dim(2));
  IA_CHECK(cache.device() == src.device(), ErrorKind::InvalidArgument, "kv_write_: tensors on different devices");
  Tensor s = src.dtype() == DType::F32 ? src : src.to(DType::F32);
  if (s.strides().back() != 1) s = s.contiguous();
  kernels::kv_write().get(cache.device().type)(cache, s, start);
}

}  // namespace ia::ops
