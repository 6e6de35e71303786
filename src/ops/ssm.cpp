#include "ops/ssm.h"

IA_DEFINE_OP(causal_conv1d)
IA_DEFINE_OP(selective_scan)
IA_DEFINE_OP(wkv)
IA_DEFINE_OP(linear_recurrence)

namespace ia::ops {
namespace {

Tensor f32c(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor r = t.dtype() == DType::F32 ? t : t.to(DType::F32);
  return r.is_contiguous() ? r : r.contiguous();
}

void check_state(const Tensor& state, const Shape& want, const char* op) {
  IA_CHECK(state.defined() && state.dtype() == DType::F32 && state.is_contiguous() && state.shape() == want,
           ErrorKind::InvalidArgument, "{}: state must be contiguous f32 {}, got {}", op, shape_str(want),
           state.defined() ? state.describe() : std::string("undefined"));
}

}  // namespace

Tensor causal_conv1d_(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& state) {
  IA_CHECK(x.ndim() == 3, ErrorKind::InvalidArgument, "causal_conv1d_: x must be [B, S, C], got {}", x.describe());
  const int64_t B = x.dim(0), S = x.dim(1), C = x.dim(2);
  IA_CHECK(weight.ndim() == 2 && weight.dim(0) == C && weight.dim(1) >= 1, ErrorKind::InvalidArgument,
           "causal_conv1d_: weight must be [{}, K], got {}", C, weight.describe());
  const int64_t K = weight.dim(1);
  IA_CHECK(!bias.defined() || (bias.ndim() == 1 && bias.dim(0) == C), ErrorKind::InvalidArgument,
           "causal_conv1d_: bias must be [{}], got {}", C, bias.describe());
  check_state(state, {B, C, K - 1}, "causal_conv1d_");
  Tensor out = Tensor::empty({B, S, C}, DType::F32, x.device());
  kernels::causal_conv1d().get(x.device().type)(f32c(x), f32c(weight), f32c(bias), state, out);
  return out;
}

Tensor selective_scan_(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                       const Tensor& Dskip, Tensor& state) {
  IA_CHECK(x.ndim() == 4, ErrorKind::InvalidArgument, "selective_scan_: x must be [B, S, H, P], got {}",
           x.describe());
  const int64_t B = x.dim(0), S = x.dim(1), H = x.dim(2), P = x.dim(3);
  IA_CHECK(dt.shape() == Shape({B, S, H}), ErrorKind::InvalidArgument,
           "selective_scan_: dt must be [{}, {}, {}], got {}", B, S, H, dt.describe());
  IA_CHECK(A.ndim() == 2 && A.dim(0) == H, ErrorKind::InvalidArgument, "selective_scan_: A must be [{}, N], got {}", H,
           A.describe());
  const int64_t N = A.dim(1);
  IA_CHECK(Bm.ndim() == 4 && Bm.dim(0) == B && Bm.dim(1) == S && Bm.dim(3) == N && Bm.dim(2) >= 1 &&
               H % Bm.dim(2) == 0 && Cm.shape() == Bm.shape(),
           ErrorKind::InvalidArgument, "selective_scan_: B {} / C {} must be [{}, {}, G, {}] with {} % G == 0",
           Bm.describe(), Cm.describe(), B, S, N, H);
  IA_CHECK(!Dskip.defined() || Dskip.shape() == Shape({H}), ErrorKind::InvalidArgument,
           "selective_scan_: D must be [{}], got {}", H, Dskip.describe());
  check_state(state, {B, H, P, N}, "selective_scan_");
  Tensor out = Tensor::empty({B, S, H, P}, DType::F32, x.device());
  kernels::selective_scan().get(x.device().type)(f32c(x), f32c(dt), f32c(A), f32c(Bm), f32c(Cm), f32c(Dskip), state,
                                                 out);
  return out;
}

Tensor wkv_(const Tensor& k, const Tensor& v, const Tensor& time_decay, const Tensor& time_first, Tensor& state) {
  IA_CHECK(k.ndim() == 3 && v.shape() == k.shape(), ErrorKind::InvalidArgument, "wkv_: k {} and v {} must be [B, S, C]",
           k.describe(), v.describe());
  const int64_t B = k.dim(0), S = k.dim(1), C = k.dim(2);
  IA_CHECK(time_decay.numel() == C && time_first.numel() == C, ErrorKind::InvalidArgument,
           "wkv_: time_decay {} / time_first {} must have {} elements", time_decay.describe(),
           time_first.describe(), C);
  check_state(state, {B, 3, C}, "wkv_");
  Tensor out = Tensor::empty({B, S, C}, DType::F32, k.device());
  kernels::wkv().get(k.device().type)(f32c(k), f32c(v), f32c(time_decay).view({C}), f32c(time_first).view({C}), state,
                                      out);
  return out;
}

Tensor linear_recurrence_(const Tensor& a, const Tensor& x, Tensor& state) {
  IA_CHECK(x.ndim() == 3 && a.shape() == x.shape(), ErrorKind::InvalidArgument,
           "linear_recurrence_: a {} and x {} must be [B, S, C]", a.describe(), x.describe());
  check_state(state, {x.dim(0), x.dim(2)}, "linear_recurrence_");
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::linear_recurrence().get(x.device().type)(f32c(a), f32c(x), state, out);
  return out;
}

}  // namespace ia::ops
