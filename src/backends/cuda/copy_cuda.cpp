// CUDA kernels (host side): fill, strided copy with dtype conversion, host<->device transfers, concat.
#include "backends/cuda/cuda_device.h"
#include "ops/ops.h"

namespace ia::cuda {
namespace {

void fill_cuda(Tensor& out, double value) {
  check_launch(launch_fill(out.raw_data(), out.dtype(), out.numel(), value, stream_of(out)), out, "fill");
}

void copy_cuda(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = stream_of(dst);
  if (dst.dtype() == src.dtype() && src.is_contiguous()) {
    check(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s),
          dst.device().index, "copy (cudaMemcpyAsync)");
    return;
  }
  const Layout l = collapse(src.shape(), src.strides(), src.strides());
  check_launch(launch_copy(dst.raw_data(), dst.dtype(), src.raw_data(), src.dtype(), l, n, s), dst, "copy");
}

void to_host_cuda(Tensor& dst_host, const Tensor& src) {
  const int dev = src.device().index;
  cudaStream_t s = stream_of(src);
  check(cudaMemcpyAsync(dst_host.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDeviceToHost, s), dev,
        "to_host (cudaMemcpyAsync)");
  synchronize(dev);
}

// Pageable host memory: cudaMemcpyAsync returns once the source has been staged, so the host buffer may be freed.
void from_host_cuda(Tensor& dst, const Tensor& src_host) {
  check(cudaMemcpyAsync(dst.raw_data(), src_host.raw_data(), src_host.nbytes(), cudaMemcpyHostToDevice,
                        stream_of(dst)),
        dst.device().index, "from_host (cudaMemcpyAsync)");
}

void concat_cuda(const std::vector<Tensor>& xs, int dim, Tensor& out) {
  const Shape& shape = out.shape();
  int64_t outer = 1;
  for (int i = 0; i < dim; ++i) outer *= shape[i];
  int64_t inner = 1;
  for (int i = dim + 1; i < out.ndim(); ++i) inner *= shape[i];
  const size_t es = dtype_size(out.dtype());
  const size_t out_row = static_cast<size_t>(shape[dim] * inner) * es;
  cudaStream_t s = stream_of(out);
  uint8_t* o = static_cast<uint8_t*>(out.raw_data());
  size_t col = 0;
  for (const Tensor& x : xs) {
    const size_t xr = static_cast<size_t>(x.dim(dim) * inner) * es;
    if (xr > 0 && outer > 0)
      check(cudaMemcpy2DAsync(o + col, out_row, x.raw_data(), xr, xr, static_cast<size_t>(outer),
                              cudaMemcpyDeviceToDevice, s),
            out.device().index, "concat (cudaMemcpy2DAsync)");
    col += xr;
  }
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(fill, ia::DeviceType::CUDA, ia::cuda::fill_cuda)
IA_REGISTER_KERNEL(copy, ia::DeviceType::CUDA, ia::cuda::copy_cuda)
IA_REGISTER_KERNEL(to_host, ia::DeviceType::CUDA, ia::cuda::to_host_cuda)
IA_REGISTER_KERNEL(from_host, ia::DeviceType::CUDA, ia::cuda::from_host_cuda)
IA_REGISTER_KERNEL(concat, ia::DeviceType::CUDA, ia::cuda::concat_cuda)
