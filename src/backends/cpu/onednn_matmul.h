// bf16 GEMMs of the CPU linear on oneDNN (Debian libdnnl): AMX / AVX512-BF16 tile kernels with f32 accumulation,
// chosen at run time only where oneDNN has a native (non-reference) kernel for this CPU. Weights stay in the
// checkpoint's row-major layout (no packed copy); activations are rounded to bf16, as PyTorch's bf16 matmul does.
#pragma once
#include "core/tensor.h"

namespace ia::cpu {

// Whether bf16 linear runs on oneDNN here: a native kernel exists and IA_ONEDNN is not "0". Decided once.
bool onednn_bf16_available();
// out[M, N] = bf16(x[M, K]) @ w[N, K]^T + bias (f32 output, f32 accumulation); w bf16, x/out f32 contiguous.
void onednn_linear_bf16(const Tensor& x, const Tensor& w, const float* bias, Tensor& out);

}  // namespace ia::cpu
