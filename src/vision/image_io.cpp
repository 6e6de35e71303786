// JPEG/PNG decoding to Pillow-identical RGB and PNG encoding (see image_io.h). libjpeg and libpng report errors
// through longjmp: the decoding functions below keep only trivially destructible locals between setjmp and the
// last library call, and turn a failure into an ia::Error afterwards.
#include "vision/image_io.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "core/error.h"

namespace ia::vision {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr int64_t kMaxFileBytes = int64_t(1) << 30;

void check_pixels(int64_t w, int64_t h, int64_t max_pixels, const std::string& name) {
  IA_CHECK(w > 0 && h > 0, ErrorKind::Format, "{}: image has no pixels ({}x{})", name, w, h);
  // w <= max / h, not w * h <= max: header dimensions reach 2^32 each and their product overflows.
  IA_CHECK(w <= max_pixels / h, ErrorKind::OutOfMemory,
           "{}: image of {}x{} = {} pixels exceeds the limit of {} pixels (decompression bomb check)", name, w, h,
           static_cast<long double>(w) * static_cast<long double>(h), max_pixels);
}

// ---- EXIF orientation (APP1 "Exif\0\0" + TIFF IFD0 tag 0x0112) ----

int exif_orientation(const uint8_t* p, size_t n) {
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 0;
  const uint8_t* t = p + 6;
  const size_t tn = n - 6;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') le = true;
  else if (t[0] == 'M' && t[1] == 'M') le = false;
  else return 0;
  auto u16 = [&](size_t off) -> uint32_t { return le ? t[off] | (t[off + 1] << 8) : (t[off] << 8) | t[off + 1]; };
  auto u32 = [&](size_t off) -> uint32_t {
    return le ? t[off] | (t[off + 1] << 8) | (t[off + 2] << 16) | (uint32_t(t[off + 3]) << 24)
              : (uint32_t(t[off]) << 24) | (t[off + 1] << 16) | (t[off + 2] << 8) | t[off + 3];
  };
  if (u16(2) != 42) return 0;
  const size_t ifd = u32(4);
  if (ifd + 2 > tn) return 0;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > tn) return 0;
    if (u16(e) == 0x0112 && u16(e + 2) == 3) return static_cast<int>(u16(e + 8));
  }
  return 0;
}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void jpeg_error_exit(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_emit_message(j_common_ptr c, int level) {
  // Warnings (level -1): Pillow fails on a premature end of data ("image file is truncated") and ignores the rest.
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegError*>(c->err)->truncated = true;
}

struct JpegHeader {
  int64_t width = 0, height = 0;
  int components = 0;  // output components: 1 gray, 3 RGB, 4 CMYK
  int orientation = 0;
};

// Decodes into `pixels` (allocated by `alloc` once the header is known). Returns false with err->message set.
bool jpeg_decode(const uint8_t* data, size_t size, JpegError* err, JpegHeader* hdr, int64_t max_pixels,
                 std::vector<uint8_t>* pixels) {
  jpeg_decompress_struct c;
  c.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = jpeg_error_exit;
  err->mgr.emit_message = jpeg_emit_message;
  err->truncated = false;
  err->message[0] = 0;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&c);
    return false;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&c, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&c, TRUE);
  hdr->width = c.image_width;
  hdr->height = c.image_height;
  if (hdr->width <= 0 || hdr->height <= 0 || hdr->width * hdr->height > max_pixels) {
    jpeg_destroy_decompress(&c);
    return true;  // the caller reports the size
  }
  for (jpeg_saved_marker_ptr m = c.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && !hdr->orientation) hdr->orientation = exif_orientation(m->data, m->data_length);
  if (c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK) c.out_color_space = JCS_CMYK;
  else if (c.jpeg_color_space == JCS_GRAYSCALE) c.out_color_space = JCS_GRAYSCALE;
  else c.out_color_space = JCS_RGB;
  c.dct_method = JDCT_ISLOW;  // Pillow's default
  c.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&c);
  hdr->components = c.output_components;
  const size_t stride = static_cast<size_t>(c.output_width) * c.output_components;
  pixels->resize(stride * c.output_height);
  while (c.output_scanline < c.output_height && !err->truncated) {
    JSAMPROW row = pixels->data() + stride * c.output_scanline;
    jpeg_read_scanlines(&c, &row, 1);
  }
  if (!err->truncated) jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return true;
}

// Pillow's MULDIV255 and cmyk2rgb, on Adobe-inverted CMYK ("CMYK;I" rawmode).
inline uint8_t muldiv255(int a, int b) {
  const int t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

ImageU8 decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  JpegError err;
  JpegHeader hdr;
  std::vector<uint8_t> raw;
  if (!jpeg_decode(data, size, &err, &hdr, max_pixels, &raw))
    fail(ErrorKind::Format, "{}: corrupt JPEG: {}", name, err.message);
  check_pixels(hdr.width, hdr.height, max_pixels, name);
  IA_CHECK(!err.truncated, ErrorKind::Format, "{}: truncated JPEG (premature end of data)", name);
  ImageU8 img;
  img.height = hdr.height;
  img.width = hdr.width;
  const size_t n = static_cast<size_t>(hdr.width * hdr.height);
  if (hdr.components == 3) {
    img.pixels = std::move(raw);
  } else if (hdr.components == 1) {
    img.pixels.resize(n * 3);
    for (size_t i = 0; i < n; ++i) img.pixels[3 * i] = img.pixels[3 * i + 1] = img.pixels[3 * i + 2] = raw[i];
  } else if (hdr.components == 4) {
    img.pixels.resize(n * 3);
    for (size_t i = 0; i < n; ++i) {
      const int nk = raw[4 * i + 3];  // inverted K: 255 - k
      for (int ch = 0; ch < 3; ++ch) {
        const int c = 255 - raw[4 * i + ch];
        img.pixels[3 * i + ch] = static_cast<uint8_t>(std::max(0, nk - muldiv255(c, nk)));
      }
    }
  } else {
    fail(ErrorKind::Unsupported, "{}: JPEG with {} colour components is not supported", name, hdr.components);
  }
  return apply_exif_orientation(img, hdr.orientation);
}

// ---- PNG ----

struct PngState {
  const uint8_t* data;
  size_t size, pos;
  std::jmp_buf jump;
  char message[256];
  png_bytep* rows;  // row pointers of the image being read; freed on error too
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  std::longjmp(s->jump, 1);
}

void png_warning_fn(png_structp, png_const_charp) {}

void png_read_fn(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "truncated PNG (premature end of data)");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

struct PngHeader {
  int64_t width = 0, height = 0;
  int channels = 0;  // after transforms: 1 gray, 3 RGB
  bool gray16 = false;
};

bool png_decode(PngState* s, PngHeader* hdr, int64_t max_pixels, std::vector<uint8_t>* pixels) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_error_fn, png_warning_fn);
  if (!png) {
    std::snprintf(s->message, sizeof(s->message), "libpng could not be initialised");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (setjmp(s->jump)) {
    delete[] s->rows;
    s->rows = nullptr;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  if (!info) png_error(png, "libpng could not be initialised");
  png_set_read_fn(png, s, png_read_fn);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  hdr->width = w;
  hdr->height = h;
  if (hdr->width * hdr->height > max_pixels) {
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
  }
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // transparency ignored, like Pillow P -> RGB
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  hdr->gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (depth == 16 && !hdr->gray16) png_set_strip_16(png);  // Pillow's ;16B rawmodes keep the high byte
  if (hdr->gray16) png_set_swap(png);                       // little-endian, as Pillow's I;16
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  hdr->channels = png_get_channels(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  pixels->resize(stride * h);
  s->rows = new png_bytep[h];
  for (png_uint_32 y = 0; y < h; ++y) s->rows[y] = pixels->data() + stride * y;
  png_read_image(png, s->rows);
  delete[] s->rows;
  s->rows = nullptr;
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

ImageU8 decode_png(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  // The IHDR chunk comes first (signature, length, "IHDR", width, height): check the size before libpng reads on.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t o) { return int64_t(data[o]) << 24 | int64_t(data[o + 1]) << 16 | data[o + 2] << 8 | data[o + 3]; };
    check_pixels(be32(16), be32(20), max_pixels, name);
  }
  PngState s{data, size, 0, {}, {0}, nullptr};
  PngHeader hdr;
  std::vector<uint8_t> raw;
  if (!png_decode(&s, &hdr, max_pixels, &raw)) fail(ErrorKind::Format, "{}: corrupt PNG: {}", name, s.message);
  check_pixels(hdr.width, hdr.height, max_pixels, name);
  ImageU8 img;
  img.height = hdr.height;
  img.width = hdr.width;
  const size_t n = static_cast<size_t>(hdr.width * hdr.height);
  if (hdr.channels == 3) {
    img.pixels = std::move(raw);
  } else if (hdr.channels == 1) {
    img.pixels.resize(n * 3);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t v = hdr.gray16 ? (raw[2 * i + 1] == 0 ? raw[2 * i] : 255) : raw[i];
      img.pixels[3 * i] = img.pixels[3 * i + 1] = img.pixels[3 * i + 2] = v;
    }
  } else {
    fail(ErrorKind::Unsupported, "{}: PNG with {} channels after conversion is not supported", name, hdr.channels);
  }
  return img;
}

void png_write_fn(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

void png_flush_fn(png_structp) {}

struct PngWriteState {
  std::jmp_buf jump;
  char message[256];
};

void png_write_error_fn(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  std::longjmp(s->jump, 1);
}

bool png_encode(const ImageU8& img, std::vector<uint8_t>* out, PngWriteState* s) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, png_write_error_fn, png_warning_fn);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (setjmp(s->jump)) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  if (!info) png_error(png, "libpng could not be initialised");
  png_set_write_fn(png, out, png_write_fn, png_flush_fn);
  png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  png_write_info(png, info);
  for (int64_t y = 0; y < img.height; ++y)
    png_write_row(png, const_cast<png_bytep>(img.pixels.data() + static_cast<size_t>(y * img.width * 3)));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

ImageU8 apply_exif_orientation(const ImageU8& img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const int64_t H = img.height, W = img.width;
  const bool swap = orientation >= 5;
  ImageU8 out;
  out.height = swap ? W : H;
  out.width = swap ? H : W;
  out.pixels.resize(img.pixels.size());
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sy = y, sx = x;  // source pixel (PIL ImageOps.exif_transpose's method per orientation)
      switch (orientation) {
        case 2: sx = W - 1 - x; break;                      // FLIP_LEFT_RIGHT
        case 3: sy = H - 1 - y; sx = W - 1 - x; break;      // ROTATE_180
        case 4: sy = H - 1 - y; break;                      // FLIP_TOP_BOTTOM
        case 5: sy = x; sx = y; break;                      // TRANSPOSE
        case 6: sy = H - 1 - x; sx = y; break;              // ROTATE_270 (90 degrees clockwise)
        case 7: sy = H - 1 - x; sx = W - 1 - y; break;      // TRANSVERSE
        case 8: sy = x; sx = W - 1 - y; break;              // ROTATE_90 (counter-clockwise)
      }
      std::memcpy(&out.pixels[static_cast<size_t>((y * out.width + x) * 3)],
                  &img.pixels[static_cast<size_t>((sy * W + sx) * 3)], 3);
    }
  return out;
}

ImageU8 decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  IA_CHECK(size > 0, ErrorKind::Format, "{}: empty image file", name);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(data, size, name, max_pixels);
  if (size >= 8 && std::memcmp(data, kPngSignature, 8) == 0) return decode_png(data, size, name, max_pixels);
  fail(ErrorKind::Unsupported, "{}: unsupported image format (supported: JPEG, PNG)", name);
}

ImageU8 read_image(const std::string& path, int64_t max_pixels) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  IA_CHECK(in.good(), ErrorKind::Io, "{}: cannot open image file", path);
  const std::streamoff n = in.tellg();
  IA_CHECK(n >= 0 && n <= kMaxFileBytes, ErrorKind::OutOfMemory, "{}: image file of {} bytes exceeds the {} byte limit",
           path, static_cast<int64_t>(n), kMaxFileBytes);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), n);
  IA_CHECK(in.good() || n == 0, ErrorKind::Io, "{}: read error", path);
  return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

std::vector<uint8_t> encode_png(const ImageU8& img) {
  IA_CHECK(img.height > 0 && img.width > 0 && img.pixels.size() == static_cast<size_t>(img.height * img.width * 3),
           ErrorKind::InvalidArgument, "encode_png: {}x{} RGB image needs {} bytes, has {}", img.height, img.width,
           img.height * img.width * 3, img.pixels.size());
  std::vector<uint8_t> out;
  PngWriteState s{{}, {0}};
  if (!png_encode(img, &out, &s)) fail(ErrorKind::Backend, "PNG encoding failed: {}", s.message);
  return out;
}

void write_png(const std::string& path, const ImageU8& img) {
  const std::vector<uint8_t> bytes = encode_png(img);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot create file", path);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  IA_CHECK(out.good(), ErrorKind::Io, "{}: write failed (disk full?)", path);
}

}  // namespace ia::vision
