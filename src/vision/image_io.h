// Image files in and out. Reading decodes JPEG (libjpeg-turbo) and PNG (libpng) to 8-bit RGB exactly as
// transformers' load_image does with Pillow (open -> ImageOps.exif_transpose -> convert("RGB")); writing
// encodes 8-bit RGB PNGs (generated images, segmentation masks).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vision/image_processor.h"

namespace ia::vision {

// Pillow refuses images above 2 x MAX_IMAGE_PIXELS (DecompressionBombError); so do we, before allocating.
inline constexpr int64_t kMaxImagePixels = 2 * 89478485;

// Decodes an image file (format from its signature, not its name) to RGB. Grayscale is replicated to three
// channels, alpha is dropped (Pillow's convert("RGB") does not composite), palettes are expanded, 16-bit PNG
// samples keep their high byte (16-bit grayscale is clipped to 255, as Pillow's I;16 -> RGB), CMYK JPEGs are
// converted like Pillow (Adobe-inverted CMYK), and the EXIF orientation of a JPEG is applied.
// Errors (ia::Error naming `path`): unreadable file, unknown format, corrupt or truncated data, more than
// `max_pixels` pixels.
ImageU8 read_image(const std::string& path, int64_t max_pixels = kMaxImagePixels);
// The same from bytes in memory; `name` is used in error messages.
ImageU8 decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels = kMaxImagePixels);

// 8-bit RGB PNG (zlib level 6, no filters chosen adaptively beyond libpng's defaults): the same image gives the
// same bytes.
std::vector<uint8_t> encode_png(const ImageU8& img);
void write_png(const std::string& path, const ImageU8& img);

// Applies an EXIF orientation (1..8) like PIL.ImageOps.exif_transpose; 1 or unknown values leave it as is.
ImageU8 apply_exif_orientation(const ImageU8& img, int orientation);

}  // namespace ia::vision
