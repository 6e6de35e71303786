// CUDA kernels: fill, strided copy with dtype conversion, broadcasting binary, unary activations, scale,
// embedding and gather_last, rotary, KV-cache writes, bias rows and the small-M linear (GEMV).
// Scalar semantics follow src/backends/cpu/ (f32 math, bf16 round-to-nearest-even, int wrap-around).
#include <cuda_fp16.h>

#include "backends/cuda/grid.cuh"
#include "backends/cuda/kernels.cuh"

namespace ia::cuda {
namespace {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t n) { return grid_blocks(n, kThreads); }

__device__ inline float bf16_to_f32(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }

__device__ inline uint16_t f32_to_bf16(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

__device__ inline float f16_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ inline uint16_t f32_to_f16(float f) { return __half_as_ushort(__float2half_rn(f)); }

__device__ inline bool is_int(DType t) { return !(t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64); }

__device__ inline double load_double(DType t, const char* p) {
  switch (t) {
    case DType::F32: return *reinterpret_cast<const float*>(p);
    case DType::F64: return *reinterpret_cast<const double*>(p);
    case DType::F16: return f16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::BF16: return bf16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::I64: return static_cast<double>(*reinterpret_cast<const int64_t*>(p));
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::I16: return *reinterpret_cast<const int16_t*>(p);
    case DType::I8: return *reinterpret_cast<const int8_t*>(p);
    case DType::U8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Bool: return *p ? 1.0 : 0.0;
  }
  return 0.0;
}

__device__ inline int64_t load_int(DType t, const char* p) {
  switch (t) {
    case DType::I64: return *reinterpret_cast<const int64_t*>(p);
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::I16: return *reinterpret_cast<const int16_t*>(p);
    case DType::I8: return *reinterpret_cast<const int8_t*>(p);
    case DType::U8: return *reinterpret_cast<const uint8_t*>(p);
    case DType::Bool: return *p ? 1 : 0;
    default: return static_cast<int64_t>(load_double(t, p));
  }
}

__device__ inline void store(DType t, char* p, double v, int64_t iv, bool int_path) {
  const int64_t i = int_path ? iv : static_cast<int64_t>(v);
  switch (t) {
    case DType::F32: *reinterpret_cast<float*>(p) = static_cast<float>(v); break;
    case DType::F64: *reinterpret_cast<double*>(p) = v; break;
    case DType::F16: *reinterpret_cast<uint16_t*>(p) = f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = f32_to_bf16(static_cast<float>(v)); break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = i; break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = static_cast<int32_t>(i); break;
    case DType::I16: *reinterpret_cast<int16_t*>(p) = static_cast<int16_t>(i); break;
    case DType::I8: *reinterpret_cast<int8_t*>(p) = static_cast<int8_t>(i); break;
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = static_cast<uint8_t>(i); break;
    case DType::Bool: *reinterpret_cast<uint8_t*>(p) = (int_path ? iv != 0 : v != 0.0) ? 1 : 0; break;
  }
}

__host__ __device__ inline int dsize(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    default: return 1;
  }
}

// Element offset (in elements) of linear output index i under a collapsed layout.
__device__ inline void offsets(const Layout& l, int64_t i, int64_t& oa, int64_t& ob) {
  oa = 0;
  ob = 0;
  for (int d = l.nd - 1; d >= 0; --d) {
    const int64_t c = i % l.shape[d];
    i /= l.shape[d];
    oa += c * l.stride_a[d];
    ob += c * l.stride_b[d];
  }
}

__global__ void fill_kernel(char* out, DType dt, int64_t n, double value) {
  const int es = dsize(dt);
  IA_GRID_STRIDE(i, n) store(dt, out + i * es, value, static_cast<int64_t>(value), false);
}

template <typename T>
__global__ void copy_same_kernel(T* dst, const T* src, Layout l, int64_t n) {
  IA_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    offsets(l, i, oa, ob);
    dst[i] = src[oa];
  }
}

__global__ void copy_convert_kernel(char* dst, DType dt, const char* src, DType st, Layout l, int64_t n) {
  const int des = dsize(dt), ses = dsize(st);
  const bool int_path = is_int(st) && is_int(dt);
  IA_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    offsets(l, i, oa, ob);
    const char* sp = src + oa * ses;
    if (int_path)
      store(dt, dst + i * des, 0.0, load_int(st, sp), true);
    else
      store(dt, dst + i * des, load_double(st, sp), 0, false);
  }
}

__device__ inline float apply_binary(BinaryCode op, float a, float b) {
  switch (op) {
    case BinaryCode::Add: return a + b;
    case BinaryCode::Sub: return a - b;
    case BinaryCode::Mul: return a * b;
    case BinaryCode::Div: return a / b;
    case BinaryCode::Max: return (a < b) ? b : a;  // std::max
    case BinaryCode::Min: return (b < a) ? b : a;  // std::min
    case BinaryCode::Pow: return powf(a, b);
  }
  return 0.0f;
}

__global__ void binary_contig_kernel(BinaryCode op, const float* a, const float* b, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) out[i] = apply_binary(op, a[i], b[i]);
}

// a contiguous [rows, N], b a row [N] broadcast over rows (bias adds, scaling by a vector).
__global__ void binary_row_kernel(BinaryCode op, const float* a, const float* b, float* out, int64_t n, int64_t N) {
  IA_GRID_STRIDE(i, n) out[i] = apply_binary(op, a[i], b[i % N]);
}

__global__ void binary_strided_kernel(BinaryCode op, const float* a, const float* b, float* out, Layout l, int64_t n) {
  IA_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    offsets(l, i, oa, ob);
    out[i] = apply_binary(op, a[oa], b[ob]);
  }
}

__device__ inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ inline float apply_unary(UnaryCode op, float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  switch (op) {
    case UnaryCode::Identity: return x;
    case UnaryCode::Relu: return x > 0 ? x : 0.0f;
    case UnaryCode::Relu6: return fminf(fmaxf(x, 0.0f), 6.0f);
    case UnaryCode::Gelu: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case UnaryCode::GeluTanh: return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case UnaryCode::GeluFast: return 0.5f * x * (1.0f + tanhf(x * kSqrt2OverPi * (1.0f + 0.044715f * x * x)));
    case UnaryCode::QuickGelu: return x * sigmoidf(1.702f * x);
    case UnaryCode::Silu: return x * sigmoidf(x);
    case UnaryCode::Sigmoid: return sigmoidf(x);
    case UnaryCode::Tanh: return tanhf(x);
    case UnaryCode::Exp: return expf(x);
    case UnaryCode::Log: return logf(x);
    case UnaryCode::Neg: return -x;
    case UnaryCode::Sqrt: return sqrtf(x);
    case UnaryCode::Rsqrt: return 1.0f / sqrtf(x);
    case UnaryCode::Abs: return fabsf(x);
    case UnaryCode::Softplus: return x > 20.0f ? x : log1pf(expf(x));
    case UnaryCode::Square: return x * x;
    case UnaryCode::Mish: return x * tanhf(x > 20.0f ? x : log1pf(expf(x)));
    case UnaryCode::HardSigmoid: return fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case UnaryCode::HardSwish: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    case UnaryCode::Sin: return sinf(x);
    case UnaryCode::Cos: return cosf(x);
    case UnaryCode::Erf: return erff(x);
    case UnaryCode::Recip: return 1.0f / x;
  }
  return x;
}

__global__ void unary_kernel(UnaryCode op, const float* x, float* y, int64_t n) {
  IA_GRID_STRIDE(i, n) y[i] = apply_unary(op, x[i]);
}

__global__ void scale_kernel(const float* x, float mul, float add, float* y, int64_t n) {
  IA_GRID_STRIDE(i, n) y[i] = x[i] * mul + add;
}

__device__ inline float load_float(DType t, const void* base, int64_t i) {
  switch (t) {
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    default: return static_cast<const float*>(base)[i];
  }
}

__global__ void embedding_kernel(const void* table, DType tdt, const void* ids, bool ids64, float* out, int64_t n,
                                 int64_t D, int64_t V, int* err) {
  IA_GRID_STRIDE(i, n) {
    const int64_t row = i / D, col = i % D;
    const int64_t id = ids64 ? static_cast<const int64_t*>(ids)[row] : static_cast<const int32_t*>(ids)[row];
    if (id < 0 || id >= V) {
      atomicOr(err, kEmbeddingIndex);
      out[i] = 0.0f;
    } else {
      out[i] = load_float(tdt, table, id * D + col);
    }
  }
}

__global__ void gather_last_kernel(const float* x, const int64_t* index, float* out, int64_t n, int64_t Sq, int64_t R,
                                   int64_t Sk, int* err) {
  IA_GRID_STRIDE(e, n) {
    const int64_t r = e / Sk, j = e % Sk, i = r % Sq;
    const int64_t idx = index[i * Sk + j];
    if (idx < 0 || idx >= R) {
      atomicOr(err, kGatherIndex);
      out[e] = 0.0f;
    } else {
      out[e] = x[r * R + idx];
    }
  }
}

struct Strides4 {
  int64_t s[3];
};

__global__ void rotary_kernel(const float* x, Strides4 xs, const float* cs, const float* sn, bool interleaved,
                              float* out, int64_t n, int64_t S, int64_t H, int64_t D, int64_t half) {
  IA_GRID_STRIDE(e, n) {
    const int64_t d = e % D;
    const int64_t h = (e / D) % H;
    const int64_t bs = e / (D * H);
    const int64_t b = bs / S, s = bs % S;
    const float* in = x + b * xs.s[0] + s * xs.s[1] + h * xs.s[2];
    float v;
    if (d >= 2 * half) {
      v = in[d];
    } else if (interleaved) {
      const int64_t p = d / 2;
      const float c = cs[bs * half + p], si = sn[bs * half + p];
      const float x0 = in[2 * p], x1 = in[2 * p + 1];
      v = (d % 2 == 0) ? x0 * c - x1 * si : x1 * c + x0 * si;
    } else {
      const int64_t p = d < half ? d : d - half;
      const float c = cs[bs * half + p], si = sn[bs * half + p];
      const float x0 = in[p], x1 = in[p + half];
      v = d < half ? x0 * c - x1 * si : x1 * c + x0 * si;
    }
    out[e] = v;
  }
}

__global__ void kv_write_kernel(float* cache, const float* src, Strides4 ss, int64_t n, int64_t S, int64_t H,
                                int64_t D, int64_t L, int64_t start) {
  IA_GRID_STRIDE(e, n) {  // e over [B, H, S, D]
    const int64_t d = e % D;
    const int64_t s = (e / D) % S;
    const int64_t h = (e / (D * S)) % H;
    const int64_t b = e / (D * S * H);
    cache[((b * H + h) * L + start + s) * D + d] = src[b * ss.s[0] + s * ss.s[1] + h * ss.s[2] + d];
  }
}

__global__ void bias_rows_kernel(float* out, const float* bias, int64_t n, int64_t N) {
  IA_GRID_STRIDE(i, n) out[i] = bias[i % N];
}

// One warp per output feature n; lanes stride over K (8 elements per step when VEC), M rows of x at once.
__global__ void quantize_rows_kernel(const float* x, int64_t K, float* out, int64_t rows) {
  IA_GRID_STRIDE(r, rows) quantize_row_at(x, K, r, out);
}

__global__ void dequant_int8_kernel(const int8_t* q, const float* scale, int64_t K, float* out, int64_t n) {
  IA_GRID_STRIDE(i, n) dequant_int8_at(q, scale, K, i, out);
}

template <typename W>
struct WeightLoad;
template <>
struct WeightLoad<float> {
  static constexpr int kVec = 4;
  __device__ static void load(const float* w, int64_t k, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(w + k);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
  __device__ static float one(const float* w, int64_t k) { return w[k]; }
};
template <>
struct WeightLoad<__half> {
  static constexpr int kVec = 8;
  __device__ static void load(const __half* w, int64_t k, float* out) {
    const uint4 v = *reinterpret_cast<const uint4*>(w + k);
    const __half2* h = reinterpret_cast<const __half2*>(&v);
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      out[2 * i] = f.x, out[2 * i + 1] = f.y;
    }
  }
  __device__ static float one(const __half* w, int64_t k) { return __half2float(w[k]); }
};
struct Bf16 {
  uint16_t bits;
};
template <>
struct WeightLoad<Bf16> {
  static constexpr int kVec = 8;
  __device__ static void load(const Bf16* w, int64_t k, float* out) {
    const uint4 v = *reinterpret_cast<const uint4*>(w + k);
    const uint32_t u[4] = {v.x, v.y, v.z, v.w};
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(u[i] << 16);
      out[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
  }
  __device__ static float one(const Bf16* w, int64_t k) { return bf16_to_f32(w[k].bits); }
};

template <>
struct WeightLoad<int8_t> {
  static constexpr int kVec = 16;
  __device__ static void load(const int8_t* w, int64_t k, float* out) {
    const int4 v = *reinterpret_cast<const int4*>(w + k);
    const int8_t* b = reinterpret_cast<const int8_t*>(&v);
    for (int i = 0; i < 16; ++i) out[i] = static_cast<float>(b[i]);
  }
  __device__ static float one(const int8_t* w, int64_t k) { return static_cast<float>(w[k]); }
};

constexpr int kGemvWarps = 4;

template <typename W, bool VEC>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const float* __restrict__ x, const W* __restrict__ w, const float* __restrict__ row_scale,
                const float* __restrict__ bias, float* __restrict__ out, int M, int64_t N, int64_t K) {
  const int lane = threadIdx.x & 31;
  const int64_t n = blockIdx.x * int64_t(kGemvWarps) + threadIdx.x / 32;
  if (n >= N) return;
  const W* wr = w + n * K;
  float acc[kGemvMaxRows];
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; ++m) acc[m] = 0.0f;
  constexpr int V = VEC ? WeightLoad<W>::kVec : 1;
  for (int64_t k = int64_t(lane) * V; k < K; k += 32 * V) {
    float wv[V];
    if constexpr (VEC)
      WeightLoad<W>::load(wr, k, wv);
    else
      wv[0] = WeightLoad<W>::one(wr, k);
#pragma unroll
    for (int m = 0; m < kGemvMaxRows; ++m) {
      if (m < M) {
        const float* xr = x + m * K + k;
#pragma unroll
        for (int t = 0; t < V; ++t) acc[m] += wv[t] * __ldg(xr + t);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; ++m) {
    if (m < M) {
      float v = acc[m];
      for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (row_scale) v *= row_scale[n];
      if (lane == 0) out[m * N + n] = v + (bias ? bias[n] : 0.0f);
    }
  }
}

template <typename W>
void gemv_typed(const float* x, const void* w, const float* row_scale, const float* bias, float* out, int64_t M,
                int64_t N, int64_t K, cudaStream_t s) {
  const W* wp = static_cast<const W*>(w);
  const bool vec = K % WeightLoad<W>::kVec == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const unsigned blocks = static_cast<unsigned>((N + kGemvWarps - 1) / kGemvWarps);
  if (vec)
    gemv_kernel<W, true><<<blocks, kGemvWarps * 32, 0, s>>>(x, wp, row_scale, bias, out, static_cast<int>(M), N, K);
  else
    gemv_kernel<W, false><<<blocks, kGemvWarps * 32, 0, s>>>(x, wp, row_scale, bias, out, static_cast<int>(M), N, K);
}

}  // namespace

cudaError_t launch_fill(void* out, DType dt, int64_t n, double value, cudaStream_t s) {
  if (n > 0) fill_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<char*>(out), dt, n, value);
  return cudaGetLastError();
}

cudaError_t launch_copy(void* dst, DType dt, const void* src, DType st, const Layout& l, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaGetLastError();
  if (dt == st) {
    switch (dsize(dt)) {
      case 8: copy_same_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), l, n); break;
      case 4: copy_same_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), l, n); break;
      case 2: copy_same_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<int16_t*>(dst), static_cast<const int16_t*>(src), l, n); break;
      default: copy_same_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<int8_t*>(dst), static_cast<const int8_t*>(src), l, n); break;
    }
  } else {
    copy_convert_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<char*>(dst), dt, static_cast<const char*>(src),
                                                         st, l, n);
  }
  return cudaGetLastError();
}

cudaError_t launch_binary(BinaryCode op, const float* a, const float* b, float* out, const Layout& l, int64_t n,
                          cudaStream_t s) {
  if (n <= 0) return cudaGetLastError();
  const int nd = l.nd;
  if (nd == 1 && l.stride_a[0] == 1 && l.stride_b[0] == 1) {
    binary_contig_kernel<<<grid_for(n), kThreads, 0, s>>>(op, a, b, out, n);
  } else if (nd == 2 && l.stride_a[1] == 1 && l.stride_a[0] == l.shape[1] && l.stride_b[0] == 0 &&
             l.stride_b[1] == 1) {
    binary_row_kernel<<<grid_for(n), kThreads, 0, s>>>(op, a, b, out, n, l.shape[1]);
  } else {
    binary_strided_kernel<<<grid_for(n), kThreads, 0, s>>>(op, a, b, out, l, n);
  }
  return cudaGetLastError();
}

cudaError_t launch_unary(UnaryCode op, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n > 0) unary_kernel<<<grid_for(n), kThreads, 0, s>>>(op, x, y, n);
  return cudaGetLastError();
}

cudaError_t launch_scale(const float* x, float mul, float add, float* y, int64_t n, cudaStream_t s) {
  if (n > 0) scale_kernel<<<grid_for(n), kThreads, 0, s>>>(x, mul, add, y, n);
  return cudaGetLastError();
}

cudaError_t launch_embedding(const void* table, DType tdt, const void* ids, bool ids64, float* out, int64_t rows,
                             int64_t D, int64_t V, int* err, cudaStream_t s) {
  const int64_t n = rows * D;
  if (n > 0) embedding_kernel<<<grid_for(n), kThreads, 0, s>>>(table, tdt, ids, ids64, out, n, D, V, err);
  return cudaGetLastError();
}

cudaError_t launch_gather_last(const float* x, const int64_t* index, float* out, int64_t outer, int64_t Sq, int64_t R,
                               int64_t Sk, int* err, cudaStream_t s) {
  const int64_t n = outer * Sq * Sk;
  if (n > 0) gather_last_kernel<<<grid_for(n), kThreads, 0, s>>>(x, index, out, n, Sq, R, Sk, err);
  return cudaGetLastError();
}

cudaError_t launch_rotary(const float* x, const int64_t* xs, const float* cos, const float* sin, bool interleaved,
                          float* out, int64_t B, int64_t S, int64_t H, int64_t D, int64_t half, cudaStream_t s) {
  const int64_t n = B * S * H * D;
  if (n > 0)
    rotary_kernel<<<grid_for(n), kThreads, 0, s>>>(x, Strides4{{xs[0], xs[1], xs[2]}}, cos, sin, interleaved, out, n,
                                                   S, H, D, half);
  return cudaGetLastError();
}

cudaError_t launch_kv_write(float* cache, const float* src, const int64_t* ss, int64_t B, int64_t S, int64_t H,
                            int64_t D, int64_t L, int64_t start, cudaStream_t s) {
  const int64_t n = B * H * S * D;
  if (n > 0)
    kv_write_kernel<<<grid_for(n), kThreads, 0, s>>>(cache, src, Strides4{{ss[0], ss[1], ss[2]}}, n, S, H, D, L,
                                                     start);
  return cudaGetLastError();
}

cudaError_t launch_bias_rows(float* out, const float* bias, int64_t M, int64_t N, cudaStream_t s) {
  const int64_t n = M * N;
  if (n > 0) bias_rows_kernel<<<grid_for(n), kThreads, 0, s>>>(out, bias, n, N);
  return cudaGetLastError();
}

cudaError_t launch_gemv(const float* x, const void* w, DType wdt, const float* bias, float* out, int64_t M, int64_t N,
                        int64_t K, cudaStream_t s) {
  if (M <= 0 || N <= 0) return cudaGetLastError();
  switch (wdt) {
    case DType::F16: gemv_typed<__half>(x, w, nullptr, bias, out, M, N, K, s); break;
    case DType::BF16: gemv_typed<Bf16>(x, w, nullptr, bias, out, M, N, K, s); break;
    default: gemv_typed<float>(x, w, nullptr, bias, out, M, N, K, s); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_gemv_int8(const float* x, const int8_t* w_q, const float* scale, const float* bias, float* out,
                             int64_t M, int64_t N, int64_t K, cudaStream_t s) {
  if (M > 0 && N > 0) gemv_typed<int8_t>(x, w_q, scale, bias, out, M, N, K, s);
  return cudaGetLastError();
}

cudaError_t launch_quantize_rows(const float* x, int64_t rows, int64_t K, float* out, cudaStream_t s) {
  if (rows > 0) quantize_rows_kernel<<<grid_for(rows), kThreads, 0, s>>>(x, K, out, rows);
  return cudaGetLastError();
}

cudaError_t launch_dequant_int8(const int8_t* w_q, const float* scale, int64_t rows, int64_t K, float* out,
                                cudaStream_t s) {
  const int64_t n = rows * K;
  if (n > 0) dequant_int8_kernel<<<grid_for(n), kThreads, 0, s>>>(w_q, scale, K, out, n);
  return cudaGetLastError();
}

}  // namespace ia::cuda
