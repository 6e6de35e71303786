#include "ops/ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>

IA_DEFINE_OP(fill)
IA_DEFINE_OP(copy)
IA_DEFINE_OP(to_host)
IA_DEFINE_OP(from_host)
IA_DEFINE_OP(linear)
IA_DEFINE_OP(linear_act)
IA_DEFINE_OP(linear_int8)
IA_DEFINE_OP(linear_w8a8)
IA_DEFINE_OP(matmul)
IA_DEFINE_OP(binary)
IA_DEFINE_OP(unary)
IA_DEFINE_OP(scale)
IA_DEFINE_OP(layer_norm)
IA_DEFINE_OP(rms_norm)
IA_DEFINE_OP(softmax)
IA_DEFINE_OP(embedding)
IA_DEFINE_OP(concat)
IA_DEFINE_OP(reduce)
IA_DEFINE_OP(argmax)
IA_DEFINE_OP(gather_last)
IA_DEFINE_OP(attention)

namespace ia::ops {

namespace {
std::atomic<uint64_t> g_flops{0};
}  // namespace

uint64_t flops_counted() { return g_flops.load(); }
void reset_flops() { g_flops.store(0); }
void count_flops(uint64_t n) { g_flops.fetch_add(n, std::memory_order_relaxed); }

namespace {

void same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (!b.defined()) return;
  IA_CHECK(a.device() == b.device(), ErrorKind::InvalidArgument, "{}: tensors on different devices ({} vs {})", op,
           a.describe(), b.describe());
}

void require_float(const char* op, const Tensor& t) {
  IA_CHECK(t.dtype() == DType::F32, ErrorKind::Unsupported, "{}: expects f32, got {}", op, t.describe());
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    IA_CHECK(da == db || da == 1 || db == 1, ErrorKind::InvalidArgument, "{}: cannot broadcast {} with {}", op,
             shape_str(a), shape_str(b));
    out[i] = std::max(da, db);
  }
  return out;
}

Tensor f32_contig(const Tensor& t) {
  Tensor c = t.contiguous();
  return c.dtype() == DType::F32 ? c : c.to(DType::F32);
}

}  // namespace

void fill_(Tensor& out, double value) {
  IA_CHECK(out.is_contiguous(), ErrorKind::InvalidArgument, "fill_: non-contiguous {}", out.describe());
  kernels::fill().get(out.device().type)(out, value);
}

void copy_(Tensor& dst, const Tensor& src) {
  same_device("copy_", dst, src);
  IA_CHECK(dst.is_contiguous(), ErrorKind::InvalidArgument, "copy_: destination {} not contiguous", dst.describe());
  IA_CHECK(dst.shape() == src.shape(), ErrorKind::InvalidArgument, "copy_: shape {} into {}", src.describe(),
           dst.describe());
  kernels::copy().get(dst.device().type)(dst, src);
}

void transfer_(Tensor& dst, const Tensor& src) {
  IA_CHECK(dst.is_contiguous() && src.is_contiguous() && dst.dtype() == src.dtype() && dst.numel() == src.numel(),
           ErrorKind::InvalidArgument, "transfer_: {} -> {}", src.describe(), dst.describe());
  if (dst.device().is_cpu() && src.device().is_cpu()) {
    kernels::copy().get(DeviceType::CPU)(dst, src);
  } else if (dst.device().is_cpu()) {
    kernels::to_host().get(src.device().type)(dst, src);
  } else if (src.device().is_cpu()) {
    kernels::from_host().get(dst.device().type)(dst, src);
  } else {
    Tensor host = Tensor::empty(src.shape(), src.dtype());
    kernels::to_host().get(src.device().type)(host, src);
    kernels::from_host().get(dst.device().type)(dst, host);
  }
}

namespace {

// linear and linear_act: checks, shapes and FLOP count; `run` calls the kernel on (x2d, w, bias, out2d).
template <typename Run>
Tensor linear_with(const char* name, const Tensor& x, const Tensor& weight, const Tensor& bias, Run run) {
  same_device(name, x, weight);
  same_device(name, x, bias);
  require_float(name, x);
  IA_CHECK(weight.ndim() == 2, ErrorKind::InvalidArgument, "{}: weight must be 2-D, got {}", name,
           weight.describe());
  const int64_t K = x.dim(-1), N = weight.dim(0);
  IA_CHECK(weight.dim(1) == K, ErrorKind::InvalidArgument, "{}: input {} vs weight {}", name, x.describe(),
           weight.describe());
  IA_CHECK(!bias.defined() || (bias.numel() == N), ErrorKind::InvalidArgument, "{}: bias {} for {} outputs", name,
           bias.describe(), N);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor x2 = x.contiguous().view({-1, K});
  Tensor out = Tensor::empty(out_shape, DType::F32, x.device());
  Tensor out2 = out.view({x2.dim(0), N});
  count_flops(2ull * x2.dim(0) * N * K);
  run(x2, weight.contiguous(), bias.defined() ? f32_contig(bias) : Tensor(), out2);
  return out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_with("linear", x, weight, bias, [&](const Tensor& x2, const Tensor& w, const Tensor& b, Tensor& o) {
    kernels::linear().get(x.device().type)(x2, w, b, o);
  });
}

Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, UnaryOp act) {
  if (act == UnaryOp::Identity) return linear(x, weight, bias);
  const DeviceType d = x.device().type;
  if (!kernels::linear_act().has(d)) return unary(act, linear(x, weight, bias));
  return linear_with("linear_act", x, weight, bias,
                     [&](const Tensor& x2, const Tensor& w, const Tensor& b, Tensor& o) {
                       kernels::linear_act().get(d)(x2, w, b, act, o);
                     });
}

namespace {

// linear_int8 and linear_w8a8: the same checks and shapes, different kernels.
template <typename Kernel>
Tensor int8_linear(const char* name, Kernel& kernel, const Tensor& x, const Tensor& weight_q, const Tensor& scale,
                   const Tensor& bias) {
  same_device(name, x, weight_q);
  same_device(name, x, scale);
  same_device(name, x, bias);
  require_float(name, x);
  IA_CHECK(weight_q.ndim() == 2 && weight_q.dtype() == DType::I8, ErrorKind::InvalidArgument,
           "{}: weight must be i8 [out, in], got {}", name, weight_q.describe());
  const int64_t K = x.dim(-1), N = weight_q.dim(0);
  IA_CHECK(weight_q.dim(1) == K, ErrorKind::InvalidArgument, "{}: input {} vs weight {}", name, x.describe(),
           weight_q.describe());
  IA_CHECK(scale.defined() && scale.numel() == N, ErrorKind::InvalidArgument, "{}: scale {} for {} outputs", name,
           scale.defined() ? scale.describe() : "missing", N);
  IA_CHECK(!bias.defined() || bias.numel() == N, ErrorKind::InvalidArgument, "{}: bias {} for {} outputs", name,
           bias.describe(), N);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor x2 = f32_contig(x).view({-1, K});
  Tensor out = Tensor::empty(out_shape, DType::F32, x.device());
  Tensor out2 = out.view({x2.dim(0), N});
  count_flops(2ull * x2.dim(0) * N * K);
  kernel.get(x.device().type)(x2, weight_q.contiguous(), f32_contig(scale),
                              bias.defined() ? f32_contig(bias) : Tensor(), out2);
  return out;
}

}  // namespace

Tensor linear_int8(const Tensor& x, const Tensor& weight_q, const Tensor& scale, const Tensor& bias) {
  return int8_linear("linear_int8", kernels::linear_int8(), x, weight_q, scale, bias);
}

Tensor linear_w8a8(const Tensor& x, const Tensor& weight_q, const Tensor& scale, const Tensor& bias) {
  return int8_linear("linear_w8a8", kernels::linear_w8a8(), x, weight_q, scale, bias);
}

std::pair<Tensor, Tensor> quantize_int8_rows(const Tensor& weight) {
  IA_CHECK(weight.defined() && weight.ndim() == 2 && dtype_is_float(weight.dtype()), ErrorKind::InvalidArgument,
           "quantize_int8_rows: expected a 2-D float weight, got {}", weight.defined() ? weight.describe() : "nothing");
  const Tensor w = weight.to(Device::cpu()).to(DType::F32).contiguous();
  const int64_t N = w.dim(0), K = w.dim(1);
  Tensor q = Tensor::empty({N, K}, DType::I8), scale = Tensor::empty({N}, DType::F32);
  const float* wp = w.data<float>();
  int8_t* qp = q.data<int8_t>();
  float* sp = scale.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(wp[n * K + k]));
    const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    sp[n] = s;
    for (int64_t k = 0; k < K; ++k)
      qp[n * K + k] = static_cast<int8_t>(std::clamp(std::round(wp[n * K + k] / s), -127.0f, 127.0f));
  }
  return {q.to(weight.device()), scale.to(weight.device())};
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float alpha) {
  same_device("matmul", a, b);
  require_float("matmul", a);
  require_float("matmul", b);
  IA_CHECK(a.ndim() >= 2 && b.ndim() >= 2, ErrorKind::InvalidArgument, "matmul: {} x {}", a.describe(),
           b.describe());
  const int64_t M = trans_a ? a.dim(-1) : a.dim(-2);
  const int64_t Ka = trans_a ? a.dim(-2) : a.dim(-1);
  const int64_t Kb = trans_b ? b.dim(-1) : b.dim(-2);
  const int64_t N = trans_b ? b.dim(-2) : b.dim(-1);
  IA_CHECK(Ka == Kb, ErrorKind::InvalidArgument, "matmul: inner dims differ: {} x {}", a.describe(), b.describe());
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes("matmul", batch_a, batch_b);
  const int64_t B = shape_numel(batch);
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), a.shape().end() - 2, a.shape().end());
  eb.insert(eb.end(), b.shape().end() - 2, b.shape().end());
  Tensor a3 = (batch_a == batch ? a : a.expand(ea)).contiguous().view({B, a.dim(-2), a.dim(-1)});
  Tensor b3 = shape_numel(batch_b) == 1 ? b.contiguous().view({1, b.dim(-2), b.dim(-1)})
                                        : (batch_b == batch ? b : b.expand(eb)).contiguous().view({B, b.dim(-2), b.dim(-1)});
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, DType::F32, a.device());
  Tensor c3 = out.view({B, M, N});
  count_flops(2ull * B * M * N * Ka);
  kernels::matmul().get(a.device().type)(a3, b3, c3, trans_a, trans_b, alpha);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  same_device("binary", a, b);
  Shape shape = broadcast_shapes("binary", a.shape(), b.shape());
  Tensor af = a.dtype() == DType::F32 ? a : a.to(DType::F32);
  Tensor bf = b.dtype() == DType::F32 ? b : b.to(DType::F32);
  Tensor out = Tensor::empty(shape, DType::F32, a.device());
  kernels::binary().get(a.device().type)(op, af.shape() == shape ? af : af.expand(shape),
                                         bf.shape() == shape ? bf : bf.expand(shape), out);
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x) {
  Tensor xc = f32_contig(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::unary().get(x.device().type)(op, xc, out);
  return out;
}

Tensor scale(const Tensor& x, float mul, float add) {
  Tensor xc = f32_contig(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::scale().get(x.device().type)(xc, mul, add, out);
  return out;
}

UnaryOp activation_op(const std::string& name) {
  if (name == "gelu" || name == "gelu_python") return UnaryOp::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_accurate") return UnaryOp::GeluTanh;
  if (name == "gelu_fast") return UnaryOp::GeluFast;
  if (name == "quick_gelu") return UnaryOp::QuickGelu;
  if (name == "relu") return UnaryOp::Relu;
  if (name == "relu6") return UnaryOp::Relu6;
  if (name == "silu" || name == "swish") return UnaryOp::Silu;
  if (name == "sigmoid") return UnaryOp::Sigmoid;
  if (name == "tanh") return UnaryOp::Tanh;
  if (name == "mish") return UnaryOp::Mish;
  if (name == "linear" || name == "identity") return UnaryOp::Identity;
  if (name == "hardswish") return UnaryOp::HardSwish;
  if (name == "hardsigmoid") return UnaryOp::HardSigmoid;
  fail(ErrorKind::Unsupported, "unsupported activation '{}'", name);
}

Tensor activation(const Tensor& x, const std::string& hf_name) {
  UnaryOp op = activation_op(hf_name);
  if (op == UnaryOp::Identity) return x;
  return unary(op, x);
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  same_device("layer_norm", x, weight);
  same_device("layer_norm", x, bias);
  const int64_t D = x.dim(-1);
  IA_CHECK(!weight.defined() || weight.numel() == D, ErrorKind::InvalidArgument, "layer_norm: weight {} for {}",
           weight.describe(), x.describe());
  IA_CHECK(!bias.defined() || bias.numel() == D, ErrorKind::InvalidArgument, "layer_norm: bias {} for {}",
           bias.describe(), x.describe());
  Tensor xc = f32_contig(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::layer_norm().get(x.device().type)(xc, weight.defined() ? f32_contig(weight) : Tensor(),
                                             bias.defined() ? f32_contig(bias) : Tensor(), eps, out);
  return out;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset) {
  same_device("rms_norm", x, weight);
  const int64_t D = x.dim(-1);
  IA_CHECK(!weight.defined() || weight.numel() == D, ErrorKind::InvalidArgument, "rms_norm: weight {} for {}",
           weight.describe(), x.describe());
  Tensor xc = f32_contig(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::rms_norm().get(x.device().type)(xc, weight.defined() ? f32_contig(weight) : Tensor(), eps, unit_offset,
                                           out);
  return out;
}

Tensor softmax(const Tensor& x) {
  Tensor xc = f32_contig(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  kernels::softmax().get(x.device().type)(xc, out);
  return out;
}

Tensor embedding(const Tensor& table, const Tensor& ids) {
  same_device("embedding", table, ids);
  IA_CHECK(table.ndim() == 2, ErrorKind::InvalidArgument, "embedding: table must be 2-D, got {}", table.describe());
  IA_CHECK(ids.dtype() == DType::I64 || ids.dtype() == DType::I32, ErrorKind::InvalidArgument,
           "embedding: ids must be integer, got {}", ids.describe());
  Shape shape = ids.shape();
  shape.push_back(table.dim(1));
  Tensor out = Tensor::empty(shape, DType::F32, table.device());
  kernels::embedding().get(table.device().type)(table.contiguous(), ids.contiguous(), out);
  return out;
}

Tensor index_select(const Tensor& x, const Tensor& index) {
  Tensor x2 = x.contiguous().view({x.dim(0), -1});
  Tensor rows = embedding(x2.dtype() == DType::F32 ? x2 : x2.to(DType::F32), index);
  Shape shape = index.shape();
  shape.insert(shape.end(), x.shape().begin() + 1, x.shape().end());
  return rows.view(shape);
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  IA_CHECK(!xs.empty(), ErrorKind::InvalidArgument, "concat of no tensors");
  const int n = xs[0].ndim();
  if (dim < 0) dim += n;
  IA_CHECK(dim >= 0 && dim < n, ErrorKind::InvalidArgument, "concat: dim out of range for {}", xs[0].describe());
  Shape shape = xs[0].shape();
  shape[dim] = 0;
  std::vector<Tensor> cs;
  for (const Tensor& x : xs) {
    same_device("concat", xs[0], x);
    IA_CHECK(x.ndim() == n && x.dtype() == xs[0].dtype(), ErrorKind::InvalidArgument, "concat: {} with {}",
             xs[0].describe(), x.describe());
    for (int i = 0; i < n; ++i)
      IA_CHECK(i == dim || x.dim(i) == xs[0].dim(i), ErrorKind::InvalidArgument, "concat: {} with {}",
               xs[0].describe(), x.describe());
    shape[dim] += x.dim(dim);
    cs.push_back(x.contiguous());
  }
  Tensor out = Tensor::empty(shape, xs[0].dtype(), xs[0].device());
  kernels::concat().get(out.device().type)(cs, dim, out);
  return out;
}

Tensor reduce(ReduceOp op, const Tensor& x) {
  Tensor xc = f32_contig(x);
  Shape shape = x.shape();
  IA_CHECK(!shape.empty(), ErrorKind::InvalidArgument, "reduce of a scalar");
  shape.pop_back();
  Tensor out = Tensor::empty(shape, DType::F32, x.device());
  kernels::reduce().get(x.device().type)(op, xc, out);
  return out;
}

Tensor argmax(const Tensor& x) {
  Tensor xc = f32_contig(x);
  Shape shape = x.shape();
  IA_CHECK(!shape.empty(), ErrorKind::InvalidArgument, "argmax of a scalar");
  shape.pop_back();
  Tensor out = Tensor::empty(shape, DType::I64, x.device());
  kernels::argmax().get(x.device().type)(xc, out);
  return out;
}

Tensor gather_last(const Tensor& x, const Tensor& index) {
  same_device("gather_last", x, index);
  IA_CHECK(x.ndim() >= 2 && index.ndim() == 2 && index.dim(0) == x.dim(-2) && index.dtype() == DType::I64,
           ErrorKind::InvalidArgument, "gather_last: x {} index {}", x.describe(), index.describe());
  Shape shape = x.shape();
  shape.back() = index.dim(1);
  Tensor out = Tensor::empty(shape, DType::F32, x.device());
  kernels::gather_last().get(x.device().type)(f32_contig(x), index.contiguous(), out);
  return out;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) {
  same_device("attention", q, k);
  same_device("attention", q, v);
  IA_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, ErrorKind::InvalidArgument,
           "attention: q/k/v must be [B, H, S, D]: {} {} {}", q.describe(), k.describe(), v.describe());
  const int64_t B = q.dim(0), Hq = q.dim(1), Sq = q.dim(2), D = q.dim(3);
  const int64_t Hkv = k.dim(1), Sk = k.dim(2);
  IA_CHECK(k.dim(0) == B && v.dim(0) == B && k.dim(3) == D && v.dim(1) == Hkv && v.dim(2) == Sk && Hkv > 0 &&
               Hq % Hkv == 0,
           ErrorKind::InvalidArgument, "attention: incompatible q {} k {} v {}", q.describe(), k.describe(),
           v.describe());
  auto last_contig = [](const Tensor& t) {
    Tensor f = t.dtype() == DType::F32 ? t : t.to(DType::F32);
    return f.strides().back() == 1 ? f : f.contiguous();
  };
  if (args.key_mask.defined())
    IA_CHECK(args.key_mask.ndim() == 2 && args.key_mask.dim(0) == B && args.key_mask.dim(1) == Sk,
             ErrorKind::InvalidArgument, "attention: key_mask {} for batch {} keys {}", args.key_mask.describe(), B,
             Sk);
  if (args.query_mask.defined())
    IA_CHECK(args.query_mask.ndim() == 2 && args.query_mask.dim(0) == B && args.query_mask.dim(1) == Sq,
             ErrorKind::InvalidArgument, "attention: query_mask {} for batch {} queries {}",
             args.query_mask.describe(), B, Sq);
  AttentionArgs a = args;
  if (a.key_mask.defined()) a.key_mask = a.key_mask.contiguous();
  if (a.query_mask.defined()) a.query_mask = a.query_mask.contiguous();
  if (a.bias.defined()) {
    IA_CHECK(a.bias.ndim() == 4 && (a.bias.dim(0) == 1 || a.bias.dim(0) == B) &&
                 (a.bias.dim(1) == 1 || a.bias.dim(1) == Hq) && (a.bias.dim(2) == 1 || a.bias.dim(2) == Sq) &&
                 a.bias.dim(3) == Sk,
             ErrorKind::InvalidArgument, "attention: bias {} for scores [{}, {}, {}, {}]", a.bias.describe(), B, Hq,
             Sq, Sk);
    a.bias = f32_contig(a.bias);
  }
  Tensor out = Tensor::empty({B, Sq, Hq, v.dim(3)}, DType::F32, q.device());
  count_flops(2ull * B * Hq * Sq * Sk * (D + v.dim(3)));
  kernels::attention().get(q.device().type)(last_contig(q), last_contig(k), last_contig(v), a, out);
  return out;
}

}  // namespace ia::ops
