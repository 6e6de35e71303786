// HF image processors on the real image files (tests/data/images, decoded by vision::read_image with
// libpng/libjpeg like Pillow) against the processor goldens: every value within the golden's tolerance (1e-5)
// when ../shared/conformance/processors is present, else against the digest in tests/data/processors (shape,
// sum and every 61st value of pixel_values; make_digests.py there writes them).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/safetensors.h"
#include "vision/image_io.h"
#include "vision/image_processor.h"

using namespace ia;
namespace fs = std::filesystem;

namespace {

fs::path processors_dir() { return fs::path(IA_SOURCE_DIR).parent_path() / "shared" / "conformance" / "processors"; }
fs::path data_dir() { return fs::path(IA_TEST_DATA_DIR); }

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

Tensor find(const fs::path& file, const std::string& key) {
  for (auto& [n, t] : load_safetensors(file.string()))
    if (n == key) return t;
  return Tensor();
}

void check_case(const std::string& name) {
  const auto digest = read_json(data_dir() / "processors" / (name + ".json"));
  const vision::ImageU8 img = vision::read_image((data_dir() / "images" / digest["asset"].get<std::string>()).string());
  auto proc = vision::ImageProcessor::from_json(digest["preprocessor_config"], digest["hf_class"]);
  Tensor got = proc.preprocess(std::vector<vision::ImageU8>{img});
  ASSERT_EQ(got.shape(), digest["shape"].get<Shape>()) << name;
  const auto g = got.to_vector<float>();
  const double tol = digest["tolerance"].get<double>();
  const fs::path golden = processors_dir() / name / "expected.safetensors";
  double worst = 0;
  if (fs::exists(golden)) {
    const auto w = find(golden, "pixel_values").to_vector<float>();
    ASSERT_EQ(w.size(), g.size());
    for (size_t i = 0; i < w.size(); ++i) worst = std::max(worst, std::fabs(double(g[i]) - w[i]));
  } else {
    const auto samples = digest["samples"].get<std::vector<double>>();
    const size_t stride = digest["stride"].get<size_t>();
    ASSERT_EQ(samples.size(), (g.size() + stride - 1) / stride);
    for (size_t i = 0; i < samples.size(); ++i) worst = std::max(worst, std::fabs(g[i * stride] - samples[i]));
    double sum = 0;
    for (float v : g) sum += v;
    EXPECT_NEAR(sum, digest["sum"].get<double>(), tol * static_cast<double>(g.size())) << name;
  }
  std::cout << name << " (" << digest["asset"].get<std::string>() << ") pixel_values max abs error " << worst
            << (fs::exists(golden) ? " (full golden)" : " (digest)") << "\n";
  EXPECT_LE(worst, tol) << name;
}

}  // namespace

TEST(ImageProcessor, ViT) { check_case("vit"); }
TEST(ImageProcessor, DeiT) { check_case("deit"); }
TEST(ImageProcessor, Beit) { check_case("beit"); }
TEST(ImageProcessor, ConvNext) { check_case("convnext"); }
TEST(ImageProcessor, Clip) { check_case("clip"); }
TEST(ImageProcessor, Siglip) { check_case("siglip"); }
TEST(ImageProcessor, Blip) { check_case("blip"); }
TEST(ImageProcessor, Dinov2Bit) { check_case("dinov2"); }
TEST(ImageProcessor, MobileNetV2) { check_case("mobilenet_v2"); }

TEST(ImageProcessor, PilResizeIdentityAndCrop) {
  vision::ImageU8 img{3, 4, {}};
  for (int i = 0; i < 36; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 7));
  EXPECT_EQ(vision::pil_resize(img, 3, 4, vision::Resample::Bicubic).pixels, img.pixels);
  auto c = vision::center_crop(img, 1, 2);
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{img.pixels[15], img.pixels[16], img.pixels[17], img.pixels[18],
                                            img.pixels[19], img.pixels[20]}));
  EXPECT_THROW(vision::ImageProcessor::from_json(nlohmann::json::object(), "NoSuchImageProcessor"), Error);
}
