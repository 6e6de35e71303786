// Ops for autoregressive decoding: rotary position embeddings and in-place KV-cache writes.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace ia::ops {

// Rotary position embedding over the first `rot_dim` = 2 * cos.dim(-1) features of each head.
// x [B, S, H, D] f32 (any strides, last dim contiguous); cos/sin [B, S, rot_dim/2] f32.
// interleaved = false (GPT-NeoX/Llama "rotate_half"): pairs (i, i + rot_dim/2);
// interleaved = true (GPT-J "rotate_every_two"): pairs (2i, 2i + 1). Features past rot_dim pass through.
// Returns a contiguous [B, S, H, D] tensor.
Tensor rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool interleaved);

// Writes src [B, S, H, D] (any strides, last dim contiguous, f32) into cache [B, H, L, D] (contiguous, f32)
// at sequence positions [start, start + S), in place. No allocation.
void kv_write_(Tensor& cache, const Tensor& src, int64_t start);

}  // namespace ia::ops

IA_DECLARE_OP(rotary, void (*)(const ia::Tensor& x, const ia::Tensor& cos, const ia::Tensor& sin, bool interleaved,
                               ia::Tensor& out))
IA_DECLARE_OP(kv_write, void (*)(ia::Tensor& cache, const ia::Tensor& src, int64_t start))
