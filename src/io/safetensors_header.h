// The safetensors header parser on its own (no mapping, no tensors), so that it can be checked in isolation
// (fuzz/fuzz_safetensors.cpp) exactly as SafetensorsFile::open runs it.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace ia {

// The validated header of a safetensors file held in memory (`size` bytes at `data`): tensors with offsets inside
// the data section, which starts at `data_start`, and the __metadata__ object. Format errors name `path`.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  nlohmann::json metadata;
  size_t data_start = 0;
};
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path);

}  // namespace ia
