// CUDA kernels (host side) of the state-space recurrences: causal conv1d, selective scan, RWKV-4 WKV and the
// diagonal linear recurrence, each updating its state tensor in place (ssm.cu).
#include "backends/cuda/cuda_device.h"
#include "ops/ssm.h"

namespace ia::cuda {
namespace {

const float* opt(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void causal_conv1d_cuda(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& state, Tensor& out) {
  check_launch(launch_causal_conv1d(x.data<float>(), w.data<float>(), opt(bias), state.data<float>(), out.data<float>(),
                                    x.dim(0), x.dim(1), x.dim(2), w.dim(1), stream_of(out)),
               out, "causal_conv1d");
}

void selective_scan_cuda(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                         const Tensor& Dskip, Tensor& state, Tensor& out) {
  ScanGeom g;
  g.B = x.dim(0), g.S = x.dim(1), g.H = x.dim(2), g.P = x.dim(3), g.N = A.dim(1), g.G = Bm.dim(2);
  check_launch(launch_selective_scan(g, x.data<float>(), dt.data<float>(), A.data<float>(), Bm.data<float>(),
                                     Cm.data<float>(), opt(Dskip), state.data<float>(), out.data<float>(),
                                     stream_of(out)),
               out, "selective_scan");
}

void wkv_cuda(const Tensor& k, const Tensor& v, const Tensor& time_decay, const Tensor& time_first, Tensor& state,
              Tensor& out) {
  check_launch(launch_wkv(k.data<float>(), v.data<float>(), time_decay.data<float>(), time_first.data<float>(),
                          state.data<float>(), out.data<float>(), k.dim(0), k.dim(1), k.dim(2), stream_of(out)),
               out, "wkv");
}

void linear_recurrence_cuda(const Tensor& a, const Tensor& x, Tensor& state, Tensor& out) {
  check_launch(launch_linear_recurrence(a.data<float>(), x.data<float>(), state.data<float>(), out.data<float>(),
                                        x.dim(0), x.dim(1), x.dim(2), stream_of(out)),
               out, "linear_recurrence");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(causal_conv1d, ia::DeviceType::CUDA, ia::cuda::causal_conv1d_cuda)
IA_REGISTER_KERNEL(selective_scan, ia::DeviceType::CUDA, ia::cuda::selective_scan_cuda)
IA_REGISTER_KERNEL(wkv, ia::DeviceType::CUDA, ia::cuda::wkv_cuda)
IA_REGISTER_KERNEL(linear_recurrence, ia::DeviceType::CUDA, ia::cuda::linear_recurrence_cuda)
