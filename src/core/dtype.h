// Element types, devices, and scalar conversions (fp16/bf16 <-> fp32) shared by every backend.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace ia {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);               // "f32", "bf16", ...
DType dtype_from_name(const std::string& s);   // accepts our names and safetensors names ("F32", "BF16", ...)
const char* dtype_safetensors_name(DType t);   // "F32", ...
bool dtype_is_float(DType t);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int16_t>() { return DType::I16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::I8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

enum class DeviceType : uint8_t { CPU = 0, CUDA, ROCm, MPS, OpenVINO, QNN };
constexpr int kNumDeviceTypes = 6;
const char* device_type_name(DeviceType t);  // "cpu", "cuda", ...

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  std::string str() const;
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1", "rocm:0", "mps", "openvino", "qnn"
  static Device cpu() { return {}; }
};

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {  // round to nearest even, NaN preserved (as torch does)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace ia
