// libFuzzer: JPEG/PNG decoding to RGB (signature sniffing, EXIF orientation, palettes, 16-bit, CMYK, size bound).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "vision/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // A small pixel bound keeps each run fast; the bound itself is what is checked before allocation.
    ia::vision::ImageU8 img = ia::vision::decode_image(data, size, "fuzz.img", int64_t(1) << 22);
    if (img.pixels.size() != static_cast<size_t>(img.height * img.width * 3)) __builtin_trap();
  } catch (const ia::Error&) {
  }
  return 0;
}
