// CUDA kernel (host side): fused attention. Masks may arrive in any numeric dtype and on the host; they are
// brought to f32 on the device here (a few KiB) so the kernel reads one format.
#include "backends/cuda/cuda_device.h"
#include "ops/ops.h"

namespace ia::cuda {
namespace {

Tensor f32_on(const Tensor& t, const Tensor& like) {
  if (!t.defined()) return t;
  Tensor d = t.device() == like.device() ? t : t.contiguous().to(like.device());
  return d.dtype() == DType::F32 ? d.contiguous() : d.to(DType::F32).contiguous();
}

void attention_cuda(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args, Tensor& out) {
  AttentionParams p;
  p.B = q.dim(0), p.Hq = q.dim(1), p.Sq = q.dim(2), p.D = q.dim(3);
  p.Hkv = k.dim(1), p.Sk = k.dim(2), p.Dv = v.dim(3);
  IA_CHECK(p.D <= kAttentionMaxHeadDim && p.Dv <= kAttentionMaxHeadDim, ErrorKind::Unsupported,
           "attention: head dims {}/{} exceed the cuda kernel's {}", p.D, p.Dv, kAttentionMaxHeadDim);
  for (int i = 0; i < 3; ++i) p.qs[i] = q.strides()[i], p.ks[i] = k.strides()[i], p.vs[i] = v.strides()[i];
  p.q = static_cast<const float*>(q.raw_data());
  p.k = static_cast<const float*>(k.raw_data());
  p.v = static_cast<const float*>(v.raw_data());
  p.out = out.data<float>();
  p.scale = args.scale;
  p.softcap = args.softcap;
  p.causal = args.causal;
  p.q_offset = args.q_offset;
  p.window = args.sliding_window;
  const Tensor key_mask = f32_on(args.key_mask, out), query_mask = f32_on(args.query_mask, out);
  const Tensor bias = f32_on(args.bias, out);
  if (key_mask.defined()) p.key_mask = key_mask.data<float>();
  if (query_mask.defined()) p.query_mask = query_mask.data<float>();
  if (bias.defined()) {
    const Shape& bs = bias.shape();
    p.bias = bias.data<float>();
    p.bias_sq = bs[2] == 1 ? 0 : p.Sk;
    p.bias_sh = bs[1] == 1 ? 0 : bs[2] * p.Sk;
    p.bias_sb = bs[0] == 1 ? 0 : bs[1] * bs[2] * p.Sk;
  }
  check_launch(launch_attention(p, stream_of(out)), out, "attention");
}

}  // namespace
}  // namespace ia::cuda

IA_REGISTER_KERNEL(attention, ia::DeviceType::CUDA, ia::cuda::attention_cuda)
