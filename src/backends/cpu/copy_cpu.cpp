// CPU kernels: fill, strided copy with dtype conversion, concat.
#include <cstring>

#include "backends/cpu/vec_math.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::cpu {
namespace {

template <typename T>
inline double load_as_double(const uint8_t* p) {
  return static_cast<double>(*reinterpret_cast<const T*>(p));
}

inline double load_elem(DType t, const uint8_t* p) {
  switch (t) {
    case DType::F32: return load_as_double<float>(p);
    case DType::F64: return load_as_double<double>(p);
    case DType::F16: return f16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::BF16: return bf16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::I64: return load_as_double<int64_t>(p);
    case DType::I32: return load_as_double<int32_t>(p);
    case DType::I16: return load_as_double<int16_t>(p);
    case DType::I8: return load_as_double<int8_t>(p);
    case DType::U8: return load_as_double<uint8_t>(p);
    case DType::Bool: return *p ? 1.0 : 0.0;
  }
  return 0.0;
}

inline int64_t load_int(DType t, const uint8_t* p) {
  switch (t) {
    case DType::I64: return *reinterpret_cast<const int64_t*>(p);
    case DType::I32: return *reinterpret_cast<const int32_t*>(p);
    case DType::I16: return *reinterpret_cast<const int16_t*>(p);
    case DType::I8: return *reinterpret_cast<const int8_t*>(p);
    case DType::U8: return *p;
    case DType::Bool: return *p ? 1 : 0;
    default: return static_cast<int64_t>(load_elem(t, p));
  }
}

inline void store_elem(DType t, uint8_t* p, double v, int64_t iv, bool is_int) {
  switch (t) {
    case DType::F32: *reinterpret_cast<float*>(p) = static_cast<float>(v); break;
    case DType::F64: *reinterpret_cast<double*>(p) = v; break;
    case DType::F16: *reinterpret_cast<uint16_t*>(p) = f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = f32_to_bf16(static_cast<float>(v)); break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = is_int ? iv : static_cast<int64_t>(v); break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = static_cast<int32_t>(is_int ? iv : static_cast<int64_t>(v)); break;
    case DType::I16: *reinterpret_cast<int16_t*>(p) = static_cast<int16_t>(is_int ? iv : static_cast<int64_t>(v)); break;
    case DType::I8: *reinterpret_cast<int8_t*>(p) = static_cast<int8_t>(is_int ? iv : static_cast<int64_t>(v)); break;
    case DType::U8: *p = static_cast<uint8_t>(is_int ? iv : static_cast<int64_t>(v)); break;
    case DType::Bool: *p = (is_int ? iv != 0 : v != 0.0) ? 1 : 0; break;
  }
}

bool is_integral(DType t) { return !dtype_is_float(t); }

void fill_cpu(Tensor& out, double value) {
  const int64_t n = out.numel();
  uint8_t* p = static_cast<uint8_t*>(out.raw_data());
  if (out.dtype() == DType::F32) {
    float* f = reinterpret_cast<float*>(p);
    std::fill(f, f + n, static_cast<float>(value));
    return;
  }
  const size_t es = dtype_size(out.dtype());
  for (int64_t i = 0; i < n; ++i)
    store_elem(out.dtype(), p + i * es, value, static_cast<int64_t>(value), false);
}

// Fast f16/bf16 -> f32 row conversion.
void convert_row(DType st, const uint8_t* s, float* d, int64_t n) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(s);
  if (st == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(h[i]);
  } else {
#ifdef __F16C__
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
    for (; i < n; ++i) d[i] = f16_to_f32(h[i]);
#else
    for (int64_t i = 0; i < n; ++i) d[i] = f16_to_f32(h[i]);
#endif
  }
}

void copy_cpu(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const DType dt = dst.dtype(), st = src.dtype();
  if (dt == st && src.is_contiguous()) {
    std::memcpy(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  const int nd = src.ndim();
  const Shape& shape = src.shape();
  const Shape& strides = src.strides();
  const size_t ses = dtype_size(st), des = dtype_size(dt);
  const int64_t inner = nd ? shape[nd - 1] : 1;
  const int64_t inner_stride = nd ? strides[nd - 1] : 1;
  const int64_t rows = inner ? n / inner : 0;
  const uint8_t* sbase = static_cast<const uint8_t*>(src.raw_data());
  uint8_t* dbase = static_cast<uint8_t*>(dst.raw_data());
  const bool int_path = is_integral(st) && is_integral(dt);
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = 0, rem = r;
      for (int d = nd - 2; d >= 0; --d) {
        off += (rem % shape[d]) * strides[d];
        rem /= shape[d];
      }
      const uint8_t* s = sbase + off * static_cast<int64_t>(ses);
      uint8_t* d = dbase + r * inner * static_cast<int64_t>(des);
      if (dt == st && inner_stride == 1) {
        std::memcpy(d, s, inner * ses);
      } else if (dt == DType::F32 && inner_stride == 1 && (st == DType::F16 || st == DType::BF16)) {
        convert_row(st, s, reinterpret_cast<float*>(d), inner);
      } else if (dt == DType::F32 && st == DType::F32) {
        const float* sf = reinterpret_cast<const float*>(s);
        float* df = reinterpret_cast<float*>(d);
        for (int64_t i = 0; i < inner; ++i) df[i] = sf[i * inner_stride];
      } else {
        for (int64_t i = 0; i < inner; ++i) {
          const uint8_t* sp = s + i * inner_stride * static_cast<int64_t>(ses);
          if (int_path)
            store_elem(dt, d + i * des, 0.0, load_int(st, sp), true);
          else
            store_elem(dt, d + i * des, load_elem(st, sp), 0, false);
        }
      }
    }
  });
}

void concat_cpu(const std::vector<Tensor>& xs, int dim, Tensor& out) {
  const Shape& shape = out.shape();
  int64_t outer = 1;
  for (int i = 0; i < dim; ++i) outer *= shape[i];
  int64_t inner = 1;
  for (int i = dim + 1; i < out.ndim(); ++i) inner *= shape[i];
  const size_t es = dtype_size(out.dtype());
  uint8_t* o = static_cast<uint8_t*>(out.raw_data());
  const int64_t out_row = shape[dim] * inner;
  int64_t col = 0;
  for (const Tensor& x : xs) {
    const int64_t xr = x.dim(dim) * inner;
    const uint8_t* s = static_cast<const uint8_t*>(x.raw_data());
    for (int64_t r = 0; r < outer; ++r) std::memcpy(o + (r * out_row + col) * es, s + r * xr * es, xr * es);
    col += xr;
  }
}

}  // namespace
}  // namespace ia::cpu

IA_REGISTER_KERNEL(fill, ia::DeviceType::CPU, ia::cpu::fill_cpu)
IA_REGISTER_KERNEL(copy, ia::DeviceType::CPU, ia::cpu::copy_cpu)
IA_REGISTER_KERNEL(concat, ia::DeviceType::CPU, ia::cpu::concat_cpu)
// Host <-> host transfers are plain copies; device backends register their own to_host/from_host.
IA_REGISTER_KERNEL(to_host, ia::DeviceType::CPU, ia::cpu::copy_cpu)
IA_REGISTER_KERNEL(from_host, ia::DeviceType::CPU, ia::cpu::copy_cpu)
