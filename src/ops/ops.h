// Op front-ends: check shapes/dtypes, allocate outputs, dispatch to the kernel registered for the
// tensor's device (kernels live in src/backends/<device>/). Models compose these; they never touch kernels.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia {

enum class UnaryOp {
  Identity, Relu, Gelu /*erf*/, GeluTanh /*gelu_new, gelu_pytorch_tanh*/, GeluFast, QuickGelu, Silu, Sigmoid,
  Tanh, Exp, Log, Neg, Sqrt, Rsqrt, Abs, Softplus, Square, Relu6, Mish, HardSigmoid, HardSwish, Sin, Cos, Erf,
  Recip
};
enum class BinaryOp { Add, Sub, Mul, Div, Max, Min, Pow };
enum class ReduceOp { Sum, Mean, Max, Min };

// Attention over q [B, Hq, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv] (any strides, last dim contiguous;
// Hq a multiple of Hkv: GQA/MQA). Returns [B, Sq, Hq, Dv] (ready to flatten for the output projection).
// scores = scale * q.k (+ bias) (softcapped) (masked); masked = key_mask[b, j] == 0, or j after the query's
// absolute position (i + q_offset) when causal, or outside the sliding window. Like HF eager attention, a row
// whose keys are all masked attends uniformly to every key.
struct AttentionArgs {
  float scale = 1.0f;
  Tensor key_mask;         // optional [B, Sk], any numeric dtype; 0 = masked
  Tensor query_mask;       // optional [B, Sq]; 0 = every key masked for that query (DeBERTa's 2-D mask product)
  Tensor bias;             // optional f32 [Bb, Hb, Sqb, Sk], Bb in {1,B}, Hb in {1,Hq}, Sqb in {1,Sq}
  bool causal = false;
  int64_t q_offset = 0;    // absolute position of query 0 among the keys (Sk - Sq with a KV cache)
  int64_t sliding_window = 0;  // > 0: key j visible to query position p only if p - j < window
  float softcap = 0.0f;    // > 0: scores = softcap * tanh(scores / softcap)
};

namespace ops {

// Floating-point operations issued through linear/matmul/attention since the last reset (for benchmarks).
uint64_t flops_counted();
void reset_flops();
void count_flops(uint64_t n);

// In-place and copies.
void fill_(Tensor& out, double value);
void copy_(Tensor& dst, const Tensor& src);      // same device; converts dtype; src may be strided/broadcast
void transfer_(Tensor& dst, const Tensor& src);  // across devices, same dtype, both contiguous

// Linear algebra.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());  // x @ W^T + b
// act(x @ W^T + b): the activation fused into the GEMM's epilogue where the backend has a linear_act kernel,
// else linear then unary.
Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, UnaryOp act);
// Weight-only int8: x @ (W_q * scale)^T + b with W_q i8 [N, K] and per-output-row scales f32 [N].
Tensor linear_int8(const Tensor& x, const Tensor& weight_q, const Tensor& scale, const Tensor& bias = Tensor());
// W8A8 (`--dtype w8a8`): linear_int8 with each row of x also quantized to int8 at run time (scale = row absmax /
// 127, round half to even), products accumulated as int32: ONNX Runtime's dynamic quantization, llama.cpp's Q8.
Tensor linear_w8a8(const Tensor& x, const Tensor& weight_q, const Tensor& scale, const Tensor& bias = Tensor());
// Symmetric per-output-row int8 quantization of a 2-D float weight [N, K]: scale[n] = max_k |w[n, k]| / 127
// (1 for an all-zero row), W_q = round-half-away(w / scale) in [-127, 127]. Returns {W_q, scale} on w's device.
std::pair<Tensor, Tensor> quantize_int8_rows(const Tensor& weight);
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false, float alpha = 1.0f);

// Elementwise (broadcasting like torch; float math in f32).
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor unary(UnaryOp op, const Tensor& x);
Tensor scale(const Tensor& x, float mul, float add = 0.0f);  // x * mul + add
Tensor activation(const Tensor& x, const std::string& hf_name);  // HF ACT2FN names: gelu, gelu_new, silu, ...
UnaryOp activation_op(const std::string& hf_name);               // throws Unsupported naming the activation

// Normalization and softmax (over the last dim).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, bool unit_offset = false);
Tensor softmax(const Tensor& x);

// Indexing and shape.
Tensor embedding(const Tensor& table, const Tensor& ids);  // table [V, D], ids int [...] -> [..., D]
Tensor index_select(const Tensor& x, const Tensor& index);  // rows of x (dim 0)
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor reduce(ReduceOp op, const Tensor& x);  // over last dim, keeps rank-1 shape
Tensor argmax(const Tensor& x);               // over last dim -> i64
// out[..., i, j] = x[..., i, index[i, j]]: x [..., Sq, R], index i64 [Sq, Sk] (shared by leading dims).
Tensor gather_last(const Tensor& x, const Tensor& index);

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args);

}  // namespace ops
}  // namespace ia

// Kernel tables (signatures of what a backend implements; inputs contiguous unless noted).
IA_DECLARE_OP(fill, void (*)(ia::Tensor& out, double value))
IA_DECLARE_OP(copy, void (*)(ia::Tensor& dst, const ia::Tensor& src))  // src strided
IA_DECLARE_OP(to_host, void (*)(ia::Tensor& dst_host, const ia::Tensor& src))
IA_DECLARE_OP(from_host, void (*)(ia::Tensor& dst, const ia::Tensor& src_host))
IA_DECLARE_OP(linear, void (*)(const ia::Tensor& x2d, const ia::Tensor& w, const ia::Tensor& bias, ia::Tensor& out))
IA_DECLARE_OP(linear_act, void (*)(const ia::Tensor& x2d, const ia::Tensor& w, const ia::Tensor& bias,
                                   ia::UnaryOp act, ia::Tensor& out))
IA_DECLARE_OP(linear_int8, void (*)(const ia::Tensor& x2d, const ia::Tensor& w_q, const ia::Tensor& scale,
                                    const ia::Tensor& bias, ia::Tensor& out))
IA_DECLARE_OP(linear_w8a8, void (*)(const ia::Tensor& x2d, const ia::Tensor& w_q, const ia::Tensor& scale,
                                    const ia::Tensor& bias, ia::Tensor& out))
IA_DECLARE_OP(matmul, void (*)(const ia::Tensor& a, const ia::Tensor& b, ia::Tensor& c, bool ta, bool tb, float alpha))
IA_DECLARE_OP(binary, void (*)(ia::BinaryOp op, const ia::Tensor& a, const ia::Tensor& b, ia::Tensor& out))  // a,b strided
IA_DECLARE_OP(unary, void (*)(ia::UnaryOp op, const ia::Tensor& x, ia::Tensor& out))
IA_DECLARE_OP(scale, void (*)(const ia::Tensor& x, float mul, float add, ia::Tensor& out))
IA_DECLARE_OP(layer_norm, void (*)(const ia::Tensor& x, const ia::Tensor& w, const ia::Tensor& b, float eps, ia::Tensor& out))
IA_DECLARE_OP(rms_norm, void (*)(const ia::Tensor& x, const ia::Tensor& w, float eps, bool unit_offset, ia::Tensor& out))
IA_DECLARE_OP(softmax, void (*)(const ia::Tensor& x, ia::Tensor& out))
IA_DECLARE_OP(embedding, void (*)(const ia::Tensor& table, const ia::Tensor& ids, ia::Tensor& out))
IA_DECLARE_OP(concat, void (*)(const std::vector<ia::Tensor>& xs, int dim, ia::Tensor& out))
IA_DECLARE_OP(reduce, void (*)(ia::ReduceOp op, const ia::Tensor& x, ia::Tensor& out))
IA_DECLARE_OP(gather_last, void (*)(const ia::Tensor& x, const ia::Tensor& index, ia::Tensor& out))
IA_DECLARE_OP(argmax, void (*)(const ia::Tensor& x, ia::Tensor& out))
IA_DECLARE_OP(attention, void (*)(const ia::Tensor& q, const ia::Tensor& k, const ia::Tensor& v, const ia::AttentionArgs& args, ia::Tensor& out))
