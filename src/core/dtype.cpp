#include "core/dtype.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::I16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::Bool: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::F64: return "f64";
    case DType::I64: return "i64";
    case DType::I32: return "i32";
    case DType::I16: return "i16";
    case DType::I8: return "i8";
    case DType::U8: return "u8";
    case DType::Bool: return "bool";
  }
  return "?";
}

const char* dtype_safetensors_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

DType dtype_from_name(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "f32" || l == "float32" || l == "float") return DType::F32;
  if (l == "f16" || l == "float16" || l == "half") return DType::F16;
  if (l == "bf16" || l == "bfloat16") return DType::BF16;
  if (l == "f64" || l == "float64") return DType::F64;
  if (l == "i64" || l == "int64") return DType::I64;
  if (l == "i32" || l == "int32") return DType::I32;
  if (l == "i16" || l == "int16") return DType::I16;
  if (l == "i8" || l == "int8") return DType::I8;
  if (l == "u8" || l == "uint8") return DType::U8;
  if (l == "bool") return DType::Bool;
  fail(ErrorKind::Unsupported, "unsupported dtype '{}'", s);
}

bool dtype_is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda";
    case DeviceType::ROCm: return "rocm";
    case DeviceType::MPS: return "mps";
    case DeviceType::OpenVINO: return "openvino";
    case DeviceType::QNN: return "qnn";
  }
  return "?";
}

std::string Device::str() const {
  if (type == DeviceType::CPU || type == DeviceType::MPS || type == DeviceType::OpenVINO ||
      type == DeviceType::QNN)
    return device_type_name(type);
  return std::string(device_type_name(type)) + ":" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  std::string name = s;
  int index = 0;
  auto colon = s.find(':');
  if (colon != std::string::npos) {
    name = s.substr(0, colon);
    const std::string idx = s.substr(colon + 1);
    IA_CHECK(!idx.empty() && std::all_of(idx.begin(), idx.end(), ::isdigit), ErrorKind::InvalidArgument,
             "invalid device '{}': index must be a non-negative integer", s);
    index = std::stoi(idx);
  }
  for (int i = 0; i < kNumDeviceTypes; ++i) {
    auto t = static_cast<DeviceType>(i);
    if (name == device_type_name(t)) return Device{t, index};
  }
  fail(ErrorKind::InvalidArgument, "invalid device '{}': expected cpu, cuda[:N], rocm[:N], mps, openvino or qnn", s);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (absu >= 0x477ff000u) return sign | 0x7c00;  // overflow -> inf (rounds up past 65504)
  if (absu < 0x38800000u) {                       // subnormal or zero in f16
    if (absu < 0x33000000u) return sign;          // rounds to zero
    const uint32_t e = absu >> 23;
    const uint32_t m = (absu & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - e;  // value in units of 2^-24 is m >> shift
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = m >> shift;
    if (rem > half || (rem == half && (r & 1))) ++r;
    return sign | uint16_t(r);
  }
  uint32_t r = absu - 0x38000000u;  // rebias exponent 127 -> 15
  const uint32_t rem = r & 0x1fff;
  r >>= 13;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;
  return sign | uint16_t(r);
}

}  // namespace ia
