// CPU kernels: linear (x @ W^T + b) and batched matmul, on OpenBLAS sgemm/sgemv split over the pool (blas.h). f16/bf16 weights are
// widened to f32 (row blocks for GEMM, on the fly for GEMV); weight-only int8 rows are dequantized the same way.
// GEMMs (M > 4) run on oneDNN instead where it has a native kernel for the weight dtype (onednn_matmul.h).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/onednn_matmul.h"
#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

void widen_rows(const Tensor& w, int64_t r0, int64_t r1, float* dst) {
  const int64_t K = w.dim(1);
  const uint16_t* h = static_cast<const uint16_t*>(w.raw_data()) + r0 * K;
  const int64_t n = (r1 - r0) * K;
  if (w.dtype() == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
  } else {
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(h[i]);
  }
}

// GEMMs on weights stored in another dtype: blocks of 128 weight rows widened to f32 by widen(r0, r1, dst) into a
// per-chunk scratch and multiplied there by a single-threaded GEMM (oneDNN's AVX-512 brgemm where present, else
// OpenBLAS), the blocks spread over the pool.
template <typename Widen>
void widened_gemm(const float* xp, int64_t M, int64_t K, int64_t N, const float* bp, float* op, Widen widen) {
  constexpr int64_t kRows = 128;
  const bool onednn = onednn_kernels().f32;  // AVX-512 brgemm per block (one thread each: inside the pool's team)
  parallel_for(0, (N + kRows - 1) / kRows, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> wb(static_cast<size_t>(kRows * K));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t n0 = blk * kRows, nb = std::min(kRows, N - n0);
      widen(n0, n0 + nb, wb.data());
      if (onednn) {
        onednn_gemm_f32(xp, M, K, wb.data(), nb, bp ? bp + n0 : nullptr, op + n0, N);
        continue;
      }
      if (bp)
        for (int64_t m = 0; m < M; ++m) std::memcpy(op + m * N + n0, bp + n0, nb * sizeof(float));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nb),
                  static_cast<int>(K), 1.0f, xp, static_cast<int>(K), wb.data(), static_cast<int>(K),
                  bp ? 1.0f : 0.0f, op + n0, static_cast<int>(N));
    }
  });
}

// Decode-time GEMV for 16-bit weights: each weight row is read once, widened in registers and dotted with up to
// 4 input rows (no f32 copy of the row), so the loop runs at memory bandwidth.
template <bool kBF16>
inline void half_row_dots(const uint16_t* wr, const float* xp, int64_t M, int64_t K, float* acc_out) {
  int64_t k = 0;
#ifdef IA_HAVE_AVX2
  __m256 acc[4][2];
  for (int m = 0; m < 4; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
  auto widen = [](const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (kBF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else return _mm256_cvtph_ps(h);
  };
  for (; k + 16 <= K; k += 16) {
    _mm_prefetch(reinterpret_cast<const char*>(wr + k + 512), _MM_HINT_T0);
    const __m256 w0 = widen(wr + k), w1 = widen(wr + k + 8);
    for (int64_t m = 0; m < M; ++m) {
      acc[m][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp + m * K + k), acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp + m * K + k + 8), acc[m][1]);
    }
  }
  for (int64_t m = 0; m < M; ++m) acc_out[m] = hsum256(_mm256_add_ps(acc[m][0], acc[m][1]));
#else
  for (int64_t m = 0; m < M; ++m) acc_out[m] = 0.0f;
#endif
  for (; k < K; ++k) {
    const float wv = kBF16 ? bf16_to_f32(wr[k]) : f16_to_f32(wr[k]);
    for (int64_t m = 0; m < M; ++m) acc_out[m] += wv * xp[m * K + k];
  }
}

// AVX-512 forms of the decode GEMVs (16 weights widened per instruction, half the AVX2 uops per byte), chosen at
// run time (have_avx512()).
#ifdef IA_HAVE_AVX2

// GCC 12 flags the intrinsics' own _mm512_undefined_* operands as (maybe-)uninitialized once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define IA_AVX512 __attribute__((target("avx512f,avx512bw"), always_inline)) inline
template <bool kBF16>
IA_AVX512 __m512 widen16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (kBF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}
IA_AVX512 __m512 widen16(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

template <bool kBF16>
__attribute__((target("avx512f,avx512bw"))) void half_row_dots_512(const uint16_t* wr, const float* xp, int64_t M,
                                                                    int64_t K, float* acc_out) {
  __m512 acc[4][2];
  for (int m = 0; m < 4; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    _mm_prefetch(reinterpret_cast<const char*>(wr + k + 512), _MM_HINT_T0);
    const __m512 w0 = widen16<kBF16>(wr + k), w1 = widen16<kBF16>(wr + k + 16);
    for (int64_t m = 0; m < M; ++m) {
      acc[m][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xp + m * K + k), acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xp + m * K + k + 16), acc[m][1]);
    }
  }
  for (int64_t m = 0; m < M; ++m) acc_out[m] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]));
  for (; k < K; ++k) {
    const float wv = kBF16 ? bf16_to_f32(wr[k]) : f16_to_f32(wr[k]);
    for (int64_t m = 0; m < M; ++m) acc_out[m] += wv * xp[m * K + k];
  }
}
#else
template <bool kBF16>
void half_row_dots_512(const uint16_t* wr, const float* xp, int64_t M, int64_t K, float* acc_out) {
  half_row_dots<kBF16>(wr, xp, M, K, acc_out);
}
#endif

void gemv_half(const Tensor& x, const Tensor& w, const float* bp, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  const uint16_t* wp = static_cast<const uint16_t*>(w.raw_data());
  float* op = out.data<float>();
  const bool bf16 = w.dtype() == DType::BF16;
  parallel_for(0, N, std::max<int64_t>(16, 65536 / std::max<int64_t>(K, 1)), [&](int64_t n0, int64_t n1) {
    float acc[4];
    const bool wide = have_avx512();
    for (int64_t n = n0; n < n1; ++n) {
      if (wide) bf16 ? half_row_dots_512<true>(wp + n * K, xp, M, K, acc)
                     : half_row_dots_512<false>(wp + n * K, xp, M, K, acc);
      else if (bf16) half_row_dots<true>(wp + n * K, xp, M, K, acc);
      else half_row_dots<false>(wp + n * K, xp, M, K, acc);
      for (int64_t m = 0; m < M; ++m) op[m * N + n] = acc[m] + (bp ? bp[n] : 0.0f);
    }
  });
}

// Whether linear_cpu runs this GEMM on oneDNN: more than 4 rows, f32 on its AVX-512 brgemm or bf16 on AMX /
// AVX512-BF16.
bool onednn_gemm(int64_t M, const Tensor& w) {
  const auto& k = onednn_kernels();
  return M > 4 && ((w.dtype() == DType::F32 && k.f32) || (w.dtype() == DType::BF16 && k.bf16));
}

void linear_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (M == 0 || N == 0) return;
  if (w.dtype() == DType::F32) {
    const float* wp = w.data<float>();
    if (M == 1) {
      if (bp) std::memcpy(op, bp, N * sizeof(float));
      sgemv(N, K, wp, xp, bp ? 1.0f : 0.0f, op);
      return;
    }
    if (onednn_gemm(M, w)) {  // AVX-512 brgemm
      onednn_linear(x, w, bp, out);
      return;
    }
    if (bp)
      for (int64_t m = 0; m < M; ++m) std::memcpy(op + m * N, bp, N * sizeof(float));
    sgemm(false, true, M, N, K, 1.0f, xp, K, wp, K, bp ? 1.0f : 0.0f, op, N);
    return;
  }
  IA_CHECK(w.dtype() == DType::F16 || w.dtype() == DType::BF16, ErrorKind::Unsupported,
           "linear: weight dtype {} not supported on cpu", dtype_name(w.dtype()));
  if (M <= 4) {  // GEMV: widen each weight row in registers, parallel over output features
    gemv_half(x, w, bp, out);
    return;
  }
  if (onednn_gemm(M, w)) {  // bf16: AMX / AVX512-BF16 tiles
    onednn_linear(x, w, bp, out);
    return;
  }
  widened_gemm(xp, M, K, N, bp, op, [&](int64_t r0, int64_t r1, float* dst) { widen_rows(w, r0, r1, dst); });
}

// linear then act: in oneDNN's epilogue when the GEMM runs there, else a separate pass over out.
void linear_act_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, UnaryOp act, Tensor& out) {
  if (onednn_gemm(x.dim(0), w) && onednn_has_epilogue(act) && w.dim(0) > 0) {
    onednn_linear(x, w, bias.defined() ? bias.data<float>() : nullptr, out, act);
    return;
  }
  linear_cpu(x, w, bias, out);
  kernels::unary().get(DeviceType::CPU)(act, out, out);
}

// Decode-time GEMV for int8 weights: each row is read once (1 byte per weight), widened to f32 in registers and
// dotted with MM (1..4, a compile-time count so the accumulators stay in registers) input rows; the row's scale
// is applied by the caller.
template <int MM>
inline void int8_row_dots(const int8_t* wr, const float* xp, int64_t K, float* acc_out) {
  int64_t k = 0;
#ifdef IA_HAVE_AVX2
  // V independent accumulators per input row (8 weights each): enough chains to hide the FMA latency, so the loop
  // is bound by the weight stream rather than by one accumulator's dependency chain.
  constexpr int V = MM == 1 ? 8 : MM == 2 ? 4 : 2;
  __m256 acc[MM][V];
  for (int m = 0; m < MM; ++m)
    for (int v = 0; v < V; ++v) acc[m][v] = _mm256_setzero_ps();
  auto widen = [](const int8_t* p, __m256& lo, __m256& hi) {  // two 8-byte loads widened in place (vpmovsxbd m64)
    lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8))));
  };
  for (; k + 8 * V <= K; k += 8 * V) {
    _mm_prefetch(reinterpret_cast<const char*>(wr + k + 1024), _MM_HINT_T0);
    for (int v = 0; v < V; v += 2) {
      __m256 lo, hi;
      widen(wr + k + 8 * v, lo, hi);
      for (int m = 0; m < MM; ++m) {
        acc[m][v] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xp + m * K + k + 8 * v), acc[m][v]);
        acc[m][v + 1] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xp + m * K + k + 8 * v + 8), acc[m][v + 1]);
      }
    }
  }
  for (; k + 16 <= K; k += 16) {
    __m256 lo, hi;
    widen(wr + k, lo, hi);
    for (int m = 0; m < MM; ++m) {
      acc[m][0] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xp + m * K + k), acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xp + m * K + k + 8), acc[m][1]);
    }
  }
  for (int m = 0; m < MM; ++m) {
    __m256 t = acc[m][0];
    for (int v = 1; v < V; ++v) t = _mm256_add_ps(t, acc[m][v]);
    acc_out[m] = hsum256(t);
  }
#else
  for (int m = 0; m < MM; ++m) acc_out[m] = 0.0f;
#endif
  for (; k < K; ++k)
    for (int m = 0; m < MM; ++m) acc_out[m] += static_cast<float>(wr[k]) * xp[m * K + k];
}

#ifdef IA_HAVE_AVX2
template <int MM>
__attribute__((target("avx512f,avx512bw"))) void int8_row_dots_512(const int8_t* wr, const float* xp, int64_t K,
                                                                    float* acc_out) {
  constexpr int V = MM == 1 ? 4 : 2;  // independent 16-wide accumulators per input row
  __m512 acc[MM][V];
  for (int m = 0; m < MM; ++m)
    for (int v = 0; v < V; ++v) acc[m][v] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 * V <= K; k += 16 * V) {
    _mm_prefetch(reinterpret_cast<const char*>(wr + k + 1024), _MM_HINT_T0);
    for (int v = 0; v < V; ++v) {
      const __m512 wv = widen16(wr + k + 16 * v);
      for (int m = 0; m < MM; ++m) acc[m][v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xp + m * K + k + 16 * v), acc[m][v]);
    }
  }
  for (; k + 16 <= K; k += 16) {
    const __m512 wv = widen16(wr + k);
    for (int m = 0; m < MM; ++m) acc[m][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xp + m * K + k), acc[m][0]);
  }
  for (int m = 0; m < MM; ++m) {
    __m512 t = acc[m][0];
    for (int v = 1; v < V; ++v) t = _mm512_add_ps(t, acc[m][v]);
    acc_out[m] = _mm512_reduce_add_ps(t);
  }
  for (; k < K; ++k)
    for (int m = 0; m < MM; ++m) acc_out[m] += static_cast<float>(wr[k]) * xp[m * K + k];
}
#else
template <int MM>
void int8_row_dots_512(const int8_t* wr, const float* xp, int64_t K, float* acc_out) {
  int8_row_dots<MM>(wr, xp, K, acc_out);
}
#endif

// One weight row against MM input rows; 5..8 rows (batched decode) as 4 + the rest, the row's second pass from L1.
template <int MM>
inline void int8_dots(bool wide, const int8_t* wr, const float* xp, int64_t K, float* acc) {
  if constexpr (MM > 4) {
    int8_dots<4>(wide, wr, xp, K, acc);
    int8_dots<MM - 4>(wide, wr, xp + 4 * K, K, acc + 4);
  } else if (wide) {
    int8_row_dots_512<MM>(wr, xp, K, acc);
  } else {
    int8_row_dots<MM>(wr, xp, K, acc);
  }
}

template <int MM>
void int8_gemv(const int8_t* wp, const float* xp, const float* sp, const float* bp, int64_t K, int64_t N, float* op) {
  parallel_for(0, N, std::max<int64_t>(16, 65536 / std::max<int64_t>(K, 1)), [&](int64_t n0, int64_t n1) {
    float acc[MM];
    const bool wide = have_avx512();
    for (int64_t n = n0; n < n1; ++n) {
      int8_dots<MM>(wide, wp + n * K, xp, K, acc);
      for (int m = 0; m < MM; ++m) op[m * N + n] = acc[m] * sp[n] + (bp ? bp[n] : 0.0f);
    }
  });
}

// GEMV (up to batched decode's 8 rows): int8 weights widened in registers, parallel over outputs. False for M > 8.
bool int8_gemv_rows(int64_t M, const int8_t* wp, const float* xp, const float* sp, const float* bp, int64_t K,
                    int64_t N, float* op) {
  switch (M) {
    case 1: int8_gemv<1>(wp, xp, sp, bp, K, N, op); return true;
    case 2: int8_gemv<2>(wp, xp, sp, bp, K, N, op); return true;
    case 3: int8_gemv<3>(wp, xp, sp, bp, K, N, op); return true;
    case 4: int8_gemv<4>(wp, xp, sp, bp, K, N, op); return true;
    case 5: int8_gemv<5>(wp, xp, sp, bp, K, N, op); return true;
    case 6: int8_gemv<6>(wp, xp, sp, bp, K, N, op); return true;
    case 7: int8_gemv<7>(wp, xp, sp, bp, K, N, op); return true;
    case 8: int8_gemv<8>(wp, xp, sp, bp, K, N, op); return true;
    default: return false;
  }
}

void linear_int8_cpu(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  const int8_t* wp = w.data<int8_t>();
  const float* sp = scale.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* op = out.data<float>();
  if (M == 0 || N == 0) return;
  if (int8_gemv_rows(M, wp, xp, sp, bp, K, N, op)) return;
  widened_gemm(xp, M, K, N, bp, op, [&](int64_t r0, int64_t r1, float* dst) {
    for (int64_t r = r0; r < r1; ++r) {
      const int8_t* q = wp + r * K;
      float* d = dst + (r - r0) * K;
      const float s = sp[r];
      for (int64_t k = 0; k < K; ++k) d[k] = static_cast<float>(q[k]) * s;
    }
  });
}

// One row of x to int8 steps of its absmax / 127, rounded half to even; returns the step (the row's scale).
float quantize_row(const float* r, int64_t K, int8_t* q) {
  int64_t k = 0;
  float amax = 0.0f;
#ifdef IA_HAVE_AVX2
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 vmax = _mm256_setzero_ps();
  for (; k + 8 <= K; k += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(r + k)));
  amax = hmax256(vmax);
#endif
  for (; k < K; ++k) amax = std::max(amax, std::fabs(r[k]));
  const float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
  k = 0;
#ifdef IA_HAVE_AVX2
  const __m256 vinv = _mm256_set1_ps(inv);
  for (; k + 16 <= K; k += 16) {  // cvtps rounds half to even (MXCSR default), as nearbyint below
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k), vinv));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k + 8), vinv));
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);  // 16 x i16 in order
    const __m128i p = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), p);
  }
#endif
  for (; k < K; ++k) q[k] = static_cast<int8_t>(std::nearbyint(r[k] * inv));
  return s;
}

// W8A8: rows of x quantized to int8 (scale absmax / 127, round half to even), int8 x int8 -> int32 products on
// oneDNN's VNNI / AMX kernels where it has them (else a portable int32 loop), rescaled by both scales; one row
// (batch-1 decode; up to 8 without oneDNN's kernel) runs the bandwidth-bound int8 GEMV on the quantized rows
// instead (oneDNN is faster from 2 rows here: batch-4 decode 87 vs 67 tok/s, batch 8 121 vs 62).
void linear_w8a8_cpu(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& bias, Tensor& out) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const float* xp = x.data<float>();
  const int8_t* wp = w.data<int8_t>();
  const float* sp = scale.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* op = out.data<float>();
  if (M == 0 || N == 0) return;
  std::vector<int8_t> xq(static_cast<size_t>(M * K));
  std::vector<float> xs(static_cast<size_t>(M));
  parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) xs[m] = quantize_row(xp + m * K, K, xq.data() + m * K);
  });
  // Decode: the int8 GEMV on the rows' int8 steps (equal to the int32 sums within f32 rounding).
  if (M == 1 || (M <= 8 && !onednn_kernels().s8)) {
    std::vector<float> xf(static_cast<size_t>(M * K));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) xf[m * K + k] = static_cast<float>(xq[m * K + k]) * xs[m];
    int8_gemv_rows(M, wp, xf.data(), sp, bp, K, N, op);
    return;
  }
  std::vector<int32_t> acc(static_cast<size_t>(M * N));
  if (onednn_kernels().s8) {
    onednn_gemm_s8(xq.data(), M, K, w, acc.data());
  } else {
    parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(M * K, 1)), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t m = 0; m < M; ++m) {
          int32_t s = 0;
          for (int64_t k = 0; k < K; ++k) s += int32_t(xq[m * K + k]) * int32_t(wp[n * K + k]);
          acc[m * N + n] = s;
        }
    });
  }
  parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n)
        op[m * N + n] = static_cast<float>(acc[m * N + n]) * (xs[m] * sp[n]) + (bp ? bp[n] : 0.0f);
  });
}

void matmul_cpu(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, float alpha) {
  const int64_t B = c.dim(0), M = c.dim(1), N = c.dim(2);
  const int64_t K = ta ? a.dim(1) : a.dim(2);
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* cp = c.data<float>();
  const int64_t as = a.dim(1) * a.dim(2), bs = b.dim(0) == 1 ? 0 : b.dim(1) * b.dim(2);
  const int lda = static_cast<int>(a.dim(2)), ldb = static_cast<int>(b.dim(2));
  if (B == 1) return sgemm(ta, tb, M, N, K, alpha, ap, lda, bp, ldb, 0.0f, cp, N);
  parallel_for(0, B, 1, [&](int64_t i0, int64_t i1) {  // one single-threaded GEMM per batch entry
    for (int64_t i = i0; i < i1; ++i)
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                  ap + i * as, lda, bp + i * bs, ldb, 0.0f, cp + i * M * N, N);
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(linear, ia::DeviceType::CPU, ia::cpu::linear_cpu)
IA_REGISTER_KERNEL(linear_act, ia::DeviceType::CPU, ia::cpu::linear_act_cpu)
IA_REGISTER_KERNEL(linear_int8, ia::DeviceType::CPU, ia::cpu::linear_int8_cpu)
IA_REGISTER_KERNEL(linear_w8a8, ia::DeviceType::CPU, ia::cpu::linear_w8a8_cpu)
IA_REGISTER_KERNEL(matmul, ia::DeviceType::CPU, ia::cpu::matmul_cpu)
