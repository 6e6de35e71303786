// The CUDA runtime side of the backend: per-device context (stream, cuBLAS handle, kernel error word), the caching
// device allocator, cuBLAS loaded with dlopen, and turning CUDA errors into ia::Error naming the device.
// Everything runs on one non-blocking stream per device; freed blocks are reused in stream order.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "backends/cuda/caching_allocator.h"
#include "backends/cuda/kernels.cuh"
#include "core/tensor.h"

namespace ia::cuda {

// GEMM precision for f32 linear/matmul. F32 (default) is exact fp32 (no TF32) for conformance; the others let
// cuBLAS use tensor cores: IA_CUDA_MATH=tf32|bf16|fp16 (IA_CUDA_ALLOW_TF32=1 is the same as tf32).
enum class MathMode { F32, TF32, BF16, F16 };
MathMode math_mode();
const char* math_mode_name(MathMode m);
// The cuBLAS compute type of f32 GEMMs under the math mode (CUBLAS_COMPUTE_32F by default).
cublasComputeType_t f32_compute();

// The cuBLAS entry points we use, resolved from libcublas.so.13 at first use.
struct Blas {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;
  cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t) = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                            const void*, const void*, cudaDataType, int, long long, const void*,
                                            cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                            long long, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  const char* (*status_string)(cublasStatus_t) = nullptr;  // optional
  std::string path;
};

struct DeviceContext {
  int index = 0;
  std::string name;  // "NVIDIA H100 80GB HBM3"
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  int* error_word = nullptr;         // pinned host memory: KernelError flags set by kernels
  int* error_word_device = nullptr;  // the same word as kernels address it
  CachingAllocator* allocator = nullptr;
};

// Whether CUDA can run here; `why` gets the reason when not ("no CUDA-capable device is detected", ...).
bool runtime_available(std::string* why);

// The context of cuda:index, created on first use, made current on this thread. Throws ia::Error (Backend)
// "cuda:N: not available (<reason>)" when the device cannot be used.
DeviceContext& context(int index);

const Blas& blas();  // throws ia::Error (Backend) when libcublas cannot be loaded

// Throws ia::Error naming the device and `what` unless e == cudaSuccess (OutOfMemory for allocation failures).
void check(cudaError_t e, int device, const char* what);
void check_blas(cublasStatus_t st, int device, const char* what);

// Waits for the device's stream and reports kernel-detected errors (index out of range) as ia::Error.
void synchronize(int device);

// The stream of the tensor's device (making that device current), after checking it is a CUDA tensor.
cudaStream_t stream_of(const Tensor& t);
// Launch check: throws ia::Error (Backend) naming the device and op unless e == cudaSuccess.
inline void check_launch(cudaError_t e, const Tensor& t, const char* op) { check(e, t.device().index, op); }

// Collapses `shape` with the element strides of one or two operands into the fewest dims (size-1 dims dropped,
// adjacent dims merged where both operands are contiguous across them). Throws Unsupported above kMaxDims.
Layout collapse(const Shape& shape, const Shape& stride_a, const Shape& stride_b);

// v as a cuBLAS int; throws Unsupported naming the tensor and `what` beyond INT_MAX.
int as_int(int64_t v, const char* what, const Tensor& t);

// Free/total memory of the device as the driver sees it, formatted for error messages.
std::string memory_report(int device);

}  // namespace ia::cuda
