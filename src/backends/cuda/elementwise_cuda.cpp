// CUDA kernels (host side): broadcasting binary ops, unary activations, affine scale, embedding, gather_last.
#include "backends/cuda/cuda_device.h"
#include "ops/ops.h"

namespace ia::cuda {
namespace {

static_assert(static_cast<int>(UnaryOp::Recip) == static_cast<int>(UnaryCode::Recip) &&
              static_cast<int>(UnaryOp::Softplus) == static_cast<int>(UnaryCode::Softplus) &&
              static_cast<int>(UnaryOp::HardSwish) == static_cast<int>(UnaryCode::HardSwish));
static_assert(static_cast<int>(BinaryOp::Pow) == static_cast<int>(BinaryCode::Pow) &&
              static_cast<int>(BinaryOp::Max) == static_cast<int>(BinaryCode::Max));

// A device pointer to tensor data that must be on `like`'s device (moves host tensors over; small index tensors).
Tensor on_device_of(const Tensor& t, const Tensor& like) { return t.device() == like.device() ? t : t.to(like.device()); }

void binary_cuda(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const Layout l = collapse(out.shape(), a.strides(), b.strides());
  check_launch(launch_binary(static_cast<BinaryCode>(op), static_cast<const float*>(a.raw_data()),
                             static_cast<const float*>(b.raw_data()), out.data<float>(), l, out.numel(), stream_of(out)),
               out, "binary");
}

void unary_cuda(UnaryOp op, const Tensor& x, Tensor& out) {
  check_launch(launch_unary(static_cast<UnaryCode>(op), x.data<float>(), out.data<float>(), x.numel(), stream_of(out)),
               out, "unary");
}

void scale_cuda(const Tensor& x, float mul, float add, Tensor& out) {
  check_launch(launch_scale(x.data<float>(), mul, add, out.data<float>(), x.numel(), stream_of(out)), out, "scale");
}

// Out-of-range ids set a flag in the device's error word; the next synchronisation throws InvalidArgument.
void embedding_cuda(const Tensor& table, const Tensor& ids, Tensor& out) {
  IA_CHECK(table.dtype() == DType::F32 || table.dtype() == DType::F16 || table.dtype() == DType::BF16,
           ErrorKind::Unsupported, "embedding: table dtype {} on cuda", dtype_name(table.dtype()));
  Tensor idx = on_device_of(ids, out);
  DeviceContext& ctx = context(out.device().index);
  check_launch(launch_embedding(table.raw_data(), table.dtype(), idx.raw_data(), idx.dtype() == DType::I64,
                                out.data<float>(), idx.numel(), table.dim(1), table.dim(0), ctx.error_word_device,
                                ctx.stream),
               out, "embedding");
}

void gather_last_cuda(const Tensor& x, const Tensor& index, Tensor& out) {
  const int64_t R = x.dim(-1), Sq = index.dim(0), Sk = index.dim(1);
  const int64_t outer = Sq * R != 0 ? x.numel() / (Sq * R) : 0;
  Tensor idx = on_device_of(index, out);
  DeviceContext& ctx = context(out.device().index);
  check_launch(launch_gather_last(x.data<float>(), idx.data<int64_t>(), out.data<float>(), outer, Sq, R, Sk,
                                  ctx.error_word_device, ctx.stream),
               out, "gather_last");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(binary, ia::DeviceType::CUDA, ia::cuda::binary_cuda)
IA_REGISTER_KERNEL(unary, ia::DeviceType::CUDA, ia::cuda::unary_cuda)
IA_REGISTER_KERNEL(scale, ia::DeviceType::CUDA, ia::cuda::scale_cuda)
IA_REGISTER_KERNEL(embedding, ia::DeviceType::CUDA, ia::cuda::embedding_cuda)
IA_REGISTER_KERNEL(gather_last, ia::DeviceType::CUDA, ia::cuda::gather_last_cuda)
