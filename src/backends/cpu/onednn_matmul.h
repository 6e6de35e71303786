// GEMMs of the CPU linear on oneDNN (Debian libdnnl), chosen at run time per weight dtype only where oneDNN has a
// native kernel for this CPU: f32 on AVX-512 brgemm (faster than OpenBLAS' AVX2 kernels that DYNAMIC_ARCH picks
// on CPUs it does not know), bf16 on AMX / AVX512-BF16 (activations rounded to bf16, as PyTorch's bf16 matmul
// does), and the int8 x int8 -> int32 GEMM of W8A8 on VNNI / AMX. Weights stay in their row-major layout (no
// packed copy), except constant weights (Storage::constant), which are packed once into oneDNN's layout.
#pragma once
#include "core/tensor.h"
#include "ops/ops.h"

namespace ia::cpu {

// Which weight dtypes' GEMMs run on oneDNN here (IA_ONEDNN=0: none). Decided once.
struct OnednnKernels {
  bool f32 = false, bf16 = false, s8 = false;
};
const OnednnKernels& onednn_kernels();

// out[M, N] = act(x[M, K] @ w[N, K]^T + bias); w f32 or bf16 (x then rounded to bf16), f32 accumulation and
// output; act applied in the GEMM's epilogue (only those onednn_has_epilogue accepts).
void onednn_linear(const Tensor& x, const Tensor& w, const float* bias, Tensor& out,
                   UnaryOp act = UnaryOp::Identity);
bool onednn_has_epilogue(UnaryOp act);
// Bytes held by packed copies of constant weights (bounded by IA_PREPACK_MIB, default a quarter of RAM).
size_t onednn_packed_bytes();
// One block of a widened GEMM (weights widened to f32 per block of rows): out[M, nb] with row stride ldo =
// x[M, K] @ w[nb, K]^T + bias (bias may be null). Only where onednn_kernels().f32.
void onednn_gemm_f32(const float* x, int64_t M, int64_t K, const float* w, int64_t nb, const float* bias, float* out,
                     int64_t ldo);
// The int8 GEMM of W8A8: acc[M, N] = xq[M, K] @ w[N, K]^T in int32, xq and w int8 (the caller scales).
void onednn_gemm_s8(const int8_t* xq, int64_t M, int64_t K, const Tensor& w, int32_t* acc);

}  // namespace ia::cpu
