// CUDA kernels (host side) for decoding ops: rotary embedding and in-place KV-cache writes.
#include "backends/cuda/cuda_device.h"
#include "ops/decoding.h"

namespace ia::cuda {
namespace {

void rotary_cuda(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved, Tensor& out) {
  const int64_t xs[3] = {x.strides()[0], x.strides()[1], x.strides()[2]};
  check_launch(launch_rotary(static_cast<const float*>(x.raw_data()), xs, cos.data<float>(), sin.data<float>(),
                             interleaved, out.data<float>(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), cos.dim(2),
                             stream_of(out)),
               out, "rotary");
}

void kv_write_cuda(Tensor& cache, const Tensor& src, int64_t start) {
  const int64_t ss[3] = {src.strides()[0], src.strides()[1], src.strides()[2]};
  check_launch(launch_kv_write(cache.data<float>(), static_cast<const float*>(src.raw_data()), ss, src.dim(0),
                               src.dim(1), src.dim(2), src.dim(3), cache.dim(2), start, stream_of(cache)),
               cache, "kv_write");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(rotary, ia::DeviceType::CUDA, ia::cuda::rotary_cuda)
IA_REGISTER_KERNEL(kv_write, ia::DeviceType::CUDA, ia::cuda::kv_write_cuda)
