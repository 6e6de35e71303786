// Image decoding against Pillow (transformers' load_image) on the real test images, bad-input errors, PNG round
// trips and the EXIF orientation transforms.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <jpeglib.h>

#include "core/error.h"
#include "io/sha256.h"
#include "vision/image_io.h"

using namespace ia;
namespace fs = std::filesystem;

namespace {

fs::path images_dir() { return fs::path(IA_TEST_DATA_DIR) / "images"; }

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string expect_error(const std::vector<uint8_t>& bytes, ErrorKind kind) {
  try {
    vision::decode_image(bytes.data(), bytes.size(), "test.img");
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// A PNG written by libpng's simplified API (gray, RGBA, ...), for formats encode_png does not produce.
std::vector<uint8_t> simple_png(int w, int h, png_uint_32 format, const std::vector<uint8_t>& pixels) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = format;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, pixels.data(), 0, nullptr));
  std::vector<uint8_t> out(size);
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, pixels.data(), 0, nullptr));
  out.resize(size);
  return out;
}

std::vector<uint8_t> cmyk_jpeg(int w, int h, const uint8_t cmyk[4]) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(w) * 4);
  for (int x = 0; x < w; ++x) std::copy(cmyk, cmyk + 4, row.begin() + 4 * x);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  free(buf);
  return out;
}

void put_u32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

}  // namespace

TEST(ImageIo, DecodesLikePillow) {
  std::ifstream in(images_dir() / "decoded.json");
  const auto want = nlohmann::json::parse(in);
  ASSERT_EQ(want.size(), 4u);
  for (auto it = want.begin(); it != want.end(); ++it) {
    const auto img = vision::read_image((images_dir() / it.key()).string());
    EXPECT_EQ(img.height, it.value()["shape"][0].get<int64_t>()) << it.key();
    EXPECT_EQ(img.width, it.value()["shape"][1].get<int64_t>()) << it.key();
    int64_t sums[3] = {0, 0, 0};
    for (size_t i = 0; i < img.pixels.size(); ++i) sums[i % 3] += img.pixels[i];
    for (int c = 0; c < 3; ++c) EXPECT_EQ(sums[c], it.value()["channel_sums"][c].get<int64_t>()) << it.key();
    const auto d = sha256(img.pixels.data(), img.pixels.size());
    EXPECT_EQ(to_hex(d.data(), d.size()), it.value()["sha256"].get<std::string>()) << it.key();
  }
}

TEST(ImageIo, PngRoundTripIsExactAndDeterministic) {
  vision::ImageU8 img{3, 5, {}};
  for (int i = 0; i < 3 * 5 * 3; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 17));
  const auto a = vision::encode_png(img), b = vision::encode_png(img);
  EXPECT_EQ(a, b);
  const auto back = vision::decode_image(a.data(), a.size(), "roundtrip.png");
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.pixels, img.pixels);
  const vision::ImageU8 one{1, 1, {1, 2, 3}};
  const auto p = vision::encode_png(one);
  EXPECT_EQ(vision::decode_image(p.data(), p.size(), "1x1.png").pixels, one.pixels);
}

TEST(ImageIo, GrayAndAlphaConvertLikePillow) {
  const auto gray = simple_png(2, 1, PNG_FORMAT_GRAY, {10, 200});
  EXPECT_EQ(vision::decode_image(gray.data(), gray.size(), "g.png").pixels,
            (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
  // convert("RGB") drops alpha without compositing.
  const auto rgba = simple_png(2, 1, PNG_FORMAT_RGBA, {1, 2, 3, 0, 4, 5, 6, 128});
  EXPECT_EQ(vision::decode_image(rgba.data(), rgba.size(), "a.png").pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  const auto ga = simple_png(1, 1, PNG_FORMAT_GA, {77, 0});
  EXPECT_EQ(vision::decode_image(ga.data(), ga.size(), "ga.png").pixels, (std::vector<uint8_t>{77, 77, 77}));
}

TEST(ImageIo, CmykJpegConvertsLikePillow) {
  const uint8_t stored[4] = {255 - 40, 255 - 100, 255 - 160, 255 - 30};  // Adobe-inverted C, M, Y, K
  const auto jpg = cmyk_jpeg(8, 8, stored);
  const auto img = vision::decode_image(jpg.data(), jpg.size(), "cmyk.jpg");
  const int nk = 255 - 30;
  const int want[3] = {nk - (40 * nk + 127) / 255, nk - (100 * nk + 127) / 255, nk - (160 * nk + 127) / 255};
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(img.pixels[c], want[c], 2) << c;
}

TEST(ImageIo, BadInputsAreClearErrors) {
  auto jpg = read_bytes(images_dir() / "llama_cute.jpg");
  jpg.resize(jpg.size() / 2);
  EXPECT_NE(expect_error(jpg, ErrorKind::Format).find("truncated JPEG"), std::string::npos);
  auto png = read_bytes(images_dir() / "exceltable.png");
  png.resize(png.size() / 2);
  EXPECT_NE(expect_error(png, ErrorKind::Format).find("corrupt PNG"), std::string::npos);
  EXPECT_NE(expect_error({'G', 'I', 'F', '8', '9', 'a', 0, 0}, ErrorKind::Unsupported).find("unsupported image format"),
            std::string::npos);
  EXPECT_NE(expect_error({}, ErrorKind::Format).find("empty"), std::string::npos);
  std::vector<uint8_t> garbage_jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x13, 0x37};
  EXPECT_NE(expect_error(garbage_jpeg, ErrorKind::Format).find("JPEG"), std::string::npos);

  // A 20000x20000 PNG header: refused before any pixel buffer is allocated.
  std::vector<uint8_t> bomb = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr = {'I', 'H', 'D', 'R'};
  put_u32(ihdr, 20000);
  put_u32(ihdr, 20000);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  put_u32(bomb, 13);
  bomb.insert(bomb.end(), ihdr.begin(), ihdr.end());
  put_u32(bomb, static_cast<uint32_t>(crc32(0, ihdr.data(), static_cast<uInt>(ihdr.size()))));
  EXPECT_NE(expect_error(bomb, ErrorKind::OutOfMemory).find("exceeds the limit"), std::string::npos);

  try {
    vision::read_image("/nonexistent/image.png");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/image.png"), std::string::npos);
  }
}

TEST(ImageIo, ExifOrientations) {
  // 2 rows x 3 columns; pixel value = 10 * row + column in every channel.
  vision::ImageU8 img{2, 3, {}};
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) img.pixels.push_back(static_cast<uint8_t>(10 * y + x));
  auto first_channel = [](const vision::ImageU8& i) {
    std::vector<int> v;
    for (size_t k = 0; k < i.pixels.size(); k += 3) v.push_back(i.pixels[k]);
    return v;
  };
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 1)), (std::vector<int>{0, 1, 2, 10, 11, 12}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 2)), (std::vector<int>{2, 1, 0, 12, 11, 10}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 3)), (std::vector<int>{12, 11, 10, 2, 1, 0}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 4)), (std::vector<int>{10, 11, 12, 0, 1, 2}));
  const auto t = vision::apply_exif_orientation(img, 5);
  EXPECT_EQ(t.height, 3);
  EXPECT_EQ(first_channel(t), (std::vector<int>{0, 10, 1, 11, 2, 12}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 6)), (std::vector<int>{10, 0, 11, 1, 12, 2}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 7)), (std::vector<int>{12, 2, 11, 1, 10, 0}));
  EXPECT_EQ(first_channel(vision::apply_exif_orientation(img, 8)), (std::vector<int>{2, 12, 1, 11, 0, 10}));
}
