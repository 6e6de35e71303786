// CPU kernels: broadcasting binary ops, unary activations, affine scale.
#include <algorithm>
#include <cmath>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

inline float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Max: return std::max(a, b);
    case BinaryOp::Min: return std::min(a, b);
    case BinaryOp::Pow: return std::pow(a, b);
  }
  return 0.0f;
}

template <BinaryOp OP>
void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = apply(OP, a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply(OP, a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply(OP, av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = apply(OP, a[i * sa], b[i * sb]);
  }
}

template <BinaryOp OP>
void binary_impl(const Tensor& a, const Tensor& b, Tensor& out) {
  const int nd = out.ndim();
  const int64_t n = out.numel();
  if (n == 0) return;
  const Shape& shape = out.shape();
  const int64_t inner = nd ? shape[nd - 1] : 1;
  const int64_t rows = n / inner;
  const int64_t sa_in = nd ? a.strides()[nd - 1] : 1, sb_in = nd ? b.strides()[nd - 1] : 1;
  const float* ap = static_cast<const float*>(a.raw_data());
  const float* bp = static_cast<const float*>(b.raw_data());
  float* op = out.data<float>();
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0, rem = r;
      for (int d = nd - 2; d >= 0; --d) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        oa += i * a.strides()[d];
        ob += i * b.strides()[d];
      }
      binary_row<OP>(ap + oa, sa_in, bp + ob, sb_in, op + r * inner, inner);
    }
  });
}

void binary_cpu(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case BinaryOp::Add: return binary_impl<BinaryOp::Add>(a, b, out);
    case BinaryOp::Sub: return binary_impl<BinaryOp::Sub>(a, b, out);
    case BinaryOp::Mul: return binary_impl<BinaryOp::Mul>(a, b, out);
    case BinaryOp::Div: return binary_impl<BinaryOp::Div>(a, b, out);
    case BinaryOp::Max: return binary_impl<BinaryOp::Max>(a, b, out);
    case BinaryOp::Min: return binary_impl<BinaryOp::Min>(a, b, out);
    case BinaryOp::Pow: return binary_impl<BinaryOp::Pow>(a, b, out);
  }
}

inline float sigmoidf(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float unary_scalar(UnaryOp op, float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  switch (op) {
    case UnaryOp::Identity: return x;
    case UnaryOp::Relu: return x > 0 ? x : 0.0f;
    case UnaryOp::Relu6: return std::min(std::max(x, 0.0f), 6.0f);
    case UnaryOp::Gelu: return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
    case UnaryOp::GeluTanh: return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case UnaryOp::GeluFast: return 0.5f * x * (1.0f + std::tanh(x * kSqrt2OverPi * (1.0f + 0.044715f * x * x)));
    case UnaryOp::QuickGelu: return x * sigmoidf(1.702f * x);
    case UnaryOp::Silu: return x * sigmoidf(x);
    case UnaryOp::Sigmoid: return sigmoidf(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Neg: return -x;
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return 1.0f / std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Softplus: return x > 20.0f ? x : std::log1p(std::exp(x));
    case UnaryOp::Square: return x * x;
    case UnaryOp::Mish: return x * std::tanh(x > 20.0f ? x : std::log1p(std::exp(x)));
    case UnaryOp::HardSigmoid: return std::min(std::max(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case UnaryOp::HardSwish: return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::Erf: return std::erf(x);
    case UnaryOp::Recip: return 1.0f / x;
  }
  return x;
}

// Vectorized chunk; returns how many elements it handled.
int64_t unary_vec(UnaryOp op, const float* x, float* y, int64_t n) {
  int64_t i = 0;
#ifdef IA_HAVE_AVX2
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  switch (op) {
    case UnaryOp::Gelu: {
      const __m256 r2 = _mm256_set1_ps(0.7071067811865476f);
      for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = erf256(_mm256_mul_ps(v, r2));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
      }
      break;
    }
    case UnaryOp::GeluTanh: {
      const __m256 c = _mm256_set1_ps(0.7978845608028654f), k = _mm256_set1_ps(0.044715f);
      for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 inner = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(k, _mm256_mul_ps(v, v)), v, v));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, tanh256(inner))));
      }
      break;
    }
    case UnaryOp::Silu:
    case UnaryOp::Sigmoid:
    case UnaryOp::QuickGelu: {
      const float a = op == UnaryOp::QuickGelu ? -1.702f : -1.0f;
      const __m256 va = _mm256_set1_ps(a);
      for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_mul_ps(va, v))));
        _mm256_storeu_ps(y + i, op == UnaryOp::Sigmoid ? s : _mm256_mul_ps(v, s));
      }
      break;
    }
    case UnaryOp::Relu:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_setzero_ps()));
      break;
    case UnaryOp::Exp:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp256(_mm256_loadu_ps(x + i)));
      break;
    case UnaryOp::Tanh:
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh256(_mm256_loadu_ps(x + i)));
      break;
    default: break;
  }
#endif
  return i;
}

void unary_cpu(UnaryOp op, const Tensor& x, Tensor& out) {
  const float* xp = x.data<float>();
  float* yp = out.data<float>();
  parallel_for(0, x.numel(), 16384, [&](int64_t lo, int64_t hi) {
    int64_t done = unary_vec(op, xp + lo, yp + lo, hi - lo);
    for (int64_t i = lo + done; i < hi; ++i) yp[i] = unary_scalar(op, xp[i]);
  });
}

void scale_cpu(const Tensor& x, float mul, float add, Tensor& out) {
  const float* xp = x.data<float>();
  float* yp = out.data<float>();
  parallel_for(0, x.numel(), 32768, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) yp[i] = xp[i] * mul + add;
  });
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(binary, ia::DeviceType::CPU, ia::cpu::binary_cpu)
IA_REGISTER_KERNEL(unary, ia::DeviceType::CPU, ia::cpu::unary_cpu)
IA_REGISTER_KERNEL(scale, ia::DeviceType::CPU, ia::cpu::scale_cpu)
