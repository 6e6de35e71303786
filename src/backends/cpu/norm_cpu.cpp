// CPU kernels over the last dim: layer norm, RMS norm, softmax, reductions, argmax; embedding gather.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

// One row: mean, then variance about it (two passes over 16 float partial sums, so the rounding of the
// accumulation stays near 1e-7 relative, as torch's), then (x - mean) * inv * w + b.
void layer_norm_row(const float* xr, float* yr, int64_t D, const float* wp, const float* bp, float eps) {
  int64_t i = 0;
  float sum = 0.0f, var = 0.0f;
#ifdef IA_HAVE_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; i + 16 <= D; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(xr + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(xr + i + 8));
  }
  sum = hsum256(_mm256_add_ps(a0, a1));
#endif
  for (; i < D; ++i) sum += xr[i];
  const float mean = sum / static_cast<float>(D);
  i = 0;
#ifdef IA_HAVE_AVX2
  const __m256 vm = _mm256_set1_ps(mean);
  a0 = _mm256_setzero_ps();
  a1 = _mm256_setzero_ps();
  for (; i + 16 <= D; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), d1 = _mm256_sub_ps(_mm256_loadu_ps(xr + i + 8), vm);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
  }
  var = hsum256(_mm256_add_ps(a0, a1));
#endif
  for (; i < D; ++i) var += (xr[i] - mean) * (xr[i] - mean);
  const float inv = 1.0f / std::sqrt(var / static_cast<float>(D) + eps);
  i = 0;
#ifdef IA_HAVE_AVX2
  const __m256 vi = _mm256_set1_ps(inv);
  for (; i + 8 <= D; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), vi);
    if (wp) v = _mm256_mul_ps(v, _mm256_loadu_ps(wp + i));
    if (bp) v = _mm256_add_ps(v, _mm256_loadu_ps(bp + i));
    _mm256_storeu_ps(yr + i, v);
  }
#endif
  for (; i < D; ++i) {
    float v = (xr[i] - mean) * inv;
    if (wp) v *= wp[i];
    if (bp) v += bp[i];
    yr[i] = v;
  }
}

void layer_norm_cpu(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out) {
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  const float* xp = x.data<float>();
  const float* wp = w.defined() ? w.data<float>() : nullptr;
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  float* op = out.data<float>();
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) layer_norm_row(xp + r * D, op + r * D, D, wp, bp, eps);
  });
}

void rms_norm_cpu(const Tensor& x, const Tensor& w, float eps, bool unit_offset, Tensor& out) {
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  const float* xp = x.data<float>();
  const float* wp = w.defined() ? w.data<float>() : nullptr;
  float* op = out.data<float>();
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xp + r * D;
      float* yr = op + r * D;
      double ss = 0.0;
      for (int64_t i = 0; i < D; ++i) ss += double(xr[i]) * xr[i];
      const float inv = 1.0f / std::sqrt(static_cast<float>(ss / D) + eps);
      for (int64_t i = 0; i < D; ++i) {
        float v = xr[i] * inv;
        if (wp) v *= unit_offset ? 1.0f + wp[i] : wp[i];
        yr[i] = v;
      }
    }
  });
}

void softmax_row(const float* x, float* y, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  double s = 0.0;
  int64_t i = 0;
#ifdef IA_HAVE_AVX2
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(y + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  s = hsum256(acc);
#endif
  for (; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  const float inv = static_cast<float>(1.0 / s);
  for (int64_t j = 0; j < n; ++j) y[j] *= inv;
}

void softmax_cpu(const Tensor& x, Tensor& out) {
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) softmax_row(xp + r * D, op + r * D, D);
  });
}

void reduce_cpu(ReduceOp op, const Tensor& x, Tensor& out) {
  const int64_t D = x.dim(-1), rows = out.numel();
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * D;
    double acc = op == ReduceOp::Max   ? -std::numeric_limits<double>::infinity()
                 : op == ReduceOp::Min ? std::numeric_limits<double>::infinity()
                                       : 0.0;
    for (int64_t i = 0; i < D; ++i) {
      if (op == ReduceOp::Max) acc = std::max<double>(acc, xr[i]);
      else if (op == ReduceOp::Min) acc = std::min<double>(acc, xr[i]);
      else acc += xr[i];
    }
    if (op == ReduceOp::Mean) acc /= D;
    o[r] = static_cast<float>(acc);
  }
}

void argmax_cpu(const Tensor& x, Tensor& out) {
  const int64_t D = x.dim(-1), rows = out.numel();
  const float* xp = x.data<float>();
  int64_t* o = out.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * D;
    int64_t best = 0;
    for (int64_t i = 1; i < D; ++i)
      if (xr[i] > xr[best]) best = i;  // first maximum wins, like torch.argmax
    o[r] = best;
  }
}

void gather_last_cpu(const Tensor& x, const Tensor& index, Tensor& out) {
  const int64_t R = x.dim(-1), Sq = index.dim(0), Sk = index.dim(1);
  const int64_t outer = x.numel() / (Sq * R);
  const float* xp = x.data<float>();
  const int64_t* ip = index.data<int64_t>();
  for (int64_t i = 0; i < Sq * Sk; ++i)
    IA_CHECK(ip[i] >= 0 && ip[i] < R, ErrorKind::InvalidArgument, "gather_last: index {} out of range [0, {})", ip[i], R);
  float* o = out.data<float>();
  parallel_for(0, outer * Sq, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t i = r % Sq;
      const float* xr = xp + r * R;
      for (int64_t j = 0; j < Sk; ++j) o[r * Sk + j] = xr[ip[i * Sk + j]];
    }
  });
}

void embedding_cpu(const Tensor& table, const Tensor& ids, Tensor& out) {
  const int64_t V = table.dim(0), D = table.dim(1), n = ids.numel();
  float* o = out.data<float>();
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) {
    idx[i] = ids.dtype() == DType::I64 ? ids.data<int64_t>()[i] : ids.data<int32_t>()[i];
    IA_CHECK(idx[i] >= 0 && idx[i] < V, ErrorKind::InvalidArgument, "embedding: id {} out of range [0, {})", idx[i],
             V);
  }
  const uint8_t* base = static_cast<const uint8_t*>(table.raw_data());
  const size_t es = dtype_size(table.dtype());
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = base + idx[i] * D * es;
    float* dst = o + i * D;
    switch (table.dtype()) {
      case DType::F32: std::memcpy(dst, row, D * sizeof(float)); break;
      case DType::F16:
        for (int64_t j = 0; j < D; ++j) dst[j] = f16_to_f32(reinterpret_cast<const uint16_t*>(row)[j]);
        break;
      case DType::BF16:
        for (int64_t j = 0; j < D; ++j) dst[j] = bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[j]);
        break;
      default: fail(ErrorKind::Unsupported, "embedding: table dtype {} on cpu", dtype_name(table.dtype()));
    }
  }
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(layer_norm, ia::DeviceType::CPU, ia::cpu::layer_norm_cpu)
IA_REGISTER_KERNEL(rms_norm, ia::DeviceType::CPU, ia::cpu::rms_norm_cpu)
IA_REGISTER_KERNEL(softmax, ia::DeviceType::CPU, ia::cpu::softmax_cpu)
IA_REGISTER_KERNEL(reduce, ia::DeviceType::CPU, ia::cpu::reduce_cpu)
IA_REGISTER_KERNEL(argmax, ia::DeviceType::CPU, ia::cpu::argmax_cpu)
IA_REGISTER_KERNEL(gather_last, ia::DeviceType::CPU, ia::cpu::gather_last_cpu)
IA_REGISTER_KERNEL(embedding, ia::DeviceType::CPU, ia::cpu::embedding_cpu)
