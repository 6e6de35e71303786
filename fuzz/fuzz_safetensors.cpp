// libFuzzer: the safetensors header parser (length prefix, JSON header, dtypes, shapes, offsets, metadata).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ia::SafetensorsHeader h = ia::parse_safetensors_header(data, size, "fuzz.safetensors");
    size_t cursor = 0;
    for (const auto& t : h.tensors) cursor += t.end - t.begin;  // validated: the data section is covered exactly
    if (h.data_start + cursor != size) __builtin_trap();
    (void)h.metadata.dump();
  } catch (const ia::Error&) {
  }
  return 0;
}
