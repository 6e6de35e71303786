// Building blocks shared by model files: Linear, LayerNorm, RMSNorm, Embedding loaded by HF name, and
// head-splitting helpers for attention.
#pragma once
#include <string>

#include "io/weights.h"
#include "ops/ops.h"

namespace ia::layers {

struct Linear {
  Tensor weight, bias;
  Tensor scale;  // f32 [out] when weight is int8 (ops::quantize_int8_rows), else undefined
  bool int8_activations = false;  // W8A8: int8 weights times activations quantized per row (ops::linear_w8a8)
  // `w` points at the module ("...attention.self.query"); loads weight [out, in] and bias [out]. The weight keeps
  // f16/bf16 storage (the kernels widen on the fly) and takes the loader's `--dtype` (int8: weight-only, per row).
  static Linear load(const WeightLoader& w, int64_t in, int64_t out, bool with_bias = true);
  static Linear load_optional_bias(const WeightLoader& w, int64_t in, int64_t out);
  // GPT-2's Conv1D: weight stored [in, out], transposed to [out, in] at load.
  static Linear load_conv1d(const WeightLoader& w, int64_t in, int64_t out);
  Tensor operator()(const Tensor& x) const {
    if (!scale.defined()) return ops::linear(x, weight, bias);
    return int8_activations ? ops::linear_w8a8(x, weight, scale, bias) : ops::linear_int8(x, weight, scale, bias);
  }
  // act(layer(x)): fused into the GEMM where the backend can (ops::linear_act).
  Tensor operator()(const Tensor& x, UnaryOp act) const {
    if (!scale.defined()) return ops::linear_act(x, weight, bias, act);
    return act == UnaryOp::Identity ? (*this)(x) : ops::unary(act, (*this)(x));
  }
  bool defined() const { return weight.defined(); }
  // Replaces a float weight by its int8 quantization (weight-only, per output row).
  void quantize_int8();
};

struct LayerNorm {
  Tensor weight, bias;
  float eps = 1e-5f;
  static LayerNorm load(const WeightLoader& w, int64_t dim, double eps, bool with_bias = true);
  Tensor operator()(const Tensor& x) const { return ops::layer_norm(x, weight, bias, eps); }
};

struct RMSNorm {
  Tensor weight;
  float eps = 1e-6f;
  bool unit_offset = false;  // Gemma: x * (1 + w)
  static RMSNorm load(const WeightLoader& w, int64_t dim, double eps, bool unit_offset = false);
  Tensor operator()(const Tensor& x) const { return ops::rms_norm(x, weight, eps, unit_offset); }
};

struct Embedding {
  Tensor weight;
  static Embedding load(const WeightLoader& w, int64_t num, int64_t dim);
  Tensor operator()(const Tensor& ids) const { return ops::embedding(weight, ids); }
};

// [B, S, H*D] -> [B, H, S, D] view (no copy).
Tensor split_heads(const Tensor& x, int64_t heads);
// [B, S, H, D] (attention output) -> [B, S, H*D].
Tensor merge_heads(const Tensor& x);

// Rotary embedding composed from elementwise ops, for encoders: x [B, H, S, D], cos/sin [S, D/2] (one angle
// per feature pair). interleaved: pairs (2i, 2i+1) (RoFormer/GPT-J); else pairs (i, i + D/2) (rotate_half).
Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved);

// Host helpers for building index tensors.
Tensor arange(int64_t n, int64_t start = 0);  // i64 [n]
// An i64 [B, S] tensor of `value`.
Tensor full_i64(const Shape& shape, int64_t value);

}  // namespace ia::layers
