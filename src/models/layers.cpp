#include "models/layers.h"

#include <optional>
#include <tuple>

namespace ia::layers {

namespace {

// `--dtype int8` / `w8a8`: the int8 form of a loaded layer (other dtypes are applied by get_native). A layer
// stored as int8 stays int8 (w8a8 adds the activation quantization) unless a float dtype is asked for, which
// dequantizes it. The weight is then constant (backends may pack it once).
Linear as_requested(Linear l, const WeightLoader& w) {
  const std::optional<DType> want = w.matmul_dtype();
  if (l.scale.defined()) {
    if (want && *want != DType::I8) {
      l.weight = ops::mul(l.weight.to(DType::F32), l.scale.view({-1, 1})).to(*want);
      l.scale = Tensor();
      ++w.report().matmul_converted;
    } else if (want) {
      l.int8_activations = w.weight_format()->int8_activations;
      ++w.report().matmul_converted;
    }
  } else if (want == DType::I8) {
    l.quantize_int8();
    l.int8_activations = w.weight_format()->int8_activations;
    ++w.report().matmul_converted;
  }
  l.weight.storage()->mark_constant();
  return l;
}

// The layer's weight [out, in]: int8 rows and scales when stored so, else get_native's float weight.
void load_weight(Linear& l, const WeightLoader& w, int64_t in, int64_t out) {
  w.report().linear_weights.insert(w.full_name("weight"));
  if (auto q = w.get_int8("weight", {out, in})) {
    std::tie(l.weight, l.scale) = *q;
    return;
  }
  l.weight = w.get_native("weight", {out, in});
}

}  // namespace

Linear Linear::load(const WeightLoader& w, int64_t in, int64_t out, bool with_bias) {
  Linear l;
  load_weight(l, w, in, out);
  if (with_bias) l.bias = w.get("bias", {out});
  return as_requested(l, w);
}

void Linear::quantize_int8() {
  std::tie(weight, scale) = ops::quantize_int8_rows(weight);
}

Linear Linear::load_optional_bias(const WeightLoader& w, int64_t in, int64_t out) {
  Linear l;
  load_weight(l, w, in, out);
  l.bias = w.get_optional("bias", {out});
  return as_requested(l, w);
}

Linear Linear::load_conv1d(const WeightLoader& w, int64_t in, int64_t out) {
  Linear l;
  l.weight = w.get_native("weight", {in, out}).transpose(0, 1).contiguous();
  l.bias = w.get("bias", {out});
  return as_requested(l, w);
}

LayerNorm LayerNorm::load(const WeightLoader& w, int64_t dim, double eps, bool with_bias) {
  LayerNorm n;
  n.weight = w.get("weight", {dim});
  if (with_bias) n.bias = w.get("bias", {dim});
  n.eps = static_cast<float>(eps);
  return n;
}

RMSNorm RMSNorm::load(const WeightLoader& w, int64_t dim, double eps, bool unit_offset) {
  RMSNorm n;
  n.weight = w.get("weight", {dim});
  n.eps = static_cast<float>(eps);
  n.unit_offset = unit_offset;
  return n;
}

Embedding Embedding::load(const WeightLoader& w, int64_t num, int64_t dim) {
  Embedding e;
  e.weight = w.get("weight", {num, dim});
  return e;
}

Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t B = x.dim(0), S = x.dim(1), HD = x.dim(2);
  IA_CHECK(HD % heads == 0, ErrorKind::InvalidArgument, "split_heads: {} not divisible into {} heads", x.describe(),
           heads);
  return x.contiguous().view({B, S, heads, HD / heads}).transpose(1, 2);
}

Tensor merge_heads(const Tensor& x) { return x.contiguous().view({x.dim(0), x.dim(1), x.dim(2) * x.dim(3)}); }

Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved) {
  const int64_t B = x.dim(0), H = x.dim(1), S = x.dim(2), D = x.dim(3), half = D / 2;
  IA_CHECK(D % 2 == 0 && cos.numel() == S * half && sin.numel() == S * half, ErrorKind::InvalidArgument,
           "apply_rotary: x {} with cos {} sin {}", x.describe(), cos.describe(), sin.describe());
  const Tensor c = cos.reshape({1, 1, S, half}), s = sin.reshape({1, 1, S, half});
  if (interleaved) {
    Tensor xv = x.contiguous().view({B, H, S, half, 2});
    Tensor x0 = xv.select(-1, 0), x1 = xv.select(-1, 1);
    Tensor o0 = ops::sub(ops::mul(x0, c), ops::mul(x1, s));
    Tensor o1 = ops::add(ops::mul(x1, c), ops::mul(x0, s));
    return ops::concat({o0.unsqueeze(-1), o1.unsqueeze(-1)}, -1).view({B, H, S, D});
  }
  Tensor x1 = x.slice(-1, 0, half), x2 = x.slice(-1, half, D);
  return ops::concat({ops::sub(ops::mul(x1, c), ops::mul(x2, s)), ops::add(ops::mul(x2, c), ops::mul(x1, s))}, -1);
}

Tensor arange(int64_t n, int64_t start) {
  Tensor t = Tensor::empty({n}, DType::I64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + i;
  return t;
}

Tensor full_i64(const Shape& shape, int64_t value) {
  Tensor t = Tensor::empty(shape, DType::I64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

}  // namespace ia::layers
