// CUDA kernels (host side) over the last dim: layer norm, RMS norm, softmax, reductions, argmax.
#include "backends/cuda/cuda_device.h"
#include "ops/ops.h"

namespace ia::cuda {
namespace {

static_assert(static_cast<int>(ReduceOp::Min) == static_cast<int>(ReduceCode::Min));

int64_t rows_of(const Tensor& x) {
  const int64_t D = x.ndim() ? x.dim(-1) : 1;
  return D ? x.numel() / D : 0;
}

const float* opt(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void layer_norm_cuda(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out) {
  check_launch(launch_layer_norm(x.data<float>(), opt(w), opt(b), eps, out.data<float>(), rows_of(x), x.dim(-1),
                                 stream_of(out)),
               out, "layer_norm");
}

void rms_norm_cuda(const Tensor& x, const Tensor& w, float eps, bool unit_offset, Tensor& out) {
  check_launch(launch_rms_norm(x.data<float>(), opt(w), eps, unit_offset, out.data<float>(), rows_of(x), x.dim(-1),
                               stream_of(out)),
               out, "rms_norm");
}

void softmax_cuda(const Tensor& x, Tensor& out) {
  check_launch(launch_softmax(x.data<float>(), out.data<float>(), rows_of(x), x.dim(-1), stream_of(out)), out,
               "softmax");
}

void reduce_cuda(ReduceOp op, const Tensor& x, Tensor& out) {
  check_launch(launch_reduce(static_cast<ReduceCode>(op), x.data<float>(), out.data<float>(), out.numel(), x.dim(-1),
                             stream_of(out)),
               out, "reduce");
}

void argmax_cuda(const Tensor& x, Tensor& out) {
  check_launch(launch_argmax(x.data<float>(), out.data<int64_t>(), out.numel(), x.dim(-1), stream_of(out)), out,
               "argmax");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(layer_norm, ia::DeviceType::CUDA, ia::cuda::layer_norm_cuda)
IA_REGISTER_KERNEL(rms_norm, ia::DeviceType::CUDA, ia::cuda::rms_norm_cuda)
IA_REGISTER_KERNEL(softmax, ia::DeviceType::CUDA, ia::cuda::softmax_cuda)
IA_REGISTER_KERNEL(reduce, ia::DeviceType::CUDA, ia::cuda::reduce_cuda)
IA_REGISTER_KERNEL(argmax, ia::DeviceType::CUDA, ia::cuda::argmax_cuda)
