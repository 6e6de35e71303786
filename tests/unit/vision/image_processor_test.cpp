// HF image processors against the processor goldens (../shared/conformance/processors, too large to copy):
// preprocessor_config.json + the decoded PNG -> pixel_values within 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/safetensors.h"
#include "vision/image_processor.h"

using namespace ia;
namespace fs = std::filesystem;

namespace {

fs::path processors_dir() { return fs::path(IA_SOURCE_DIR).parent_path() / "shared" / "conformance" / "processors"; }

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
  const fs::path dir = processors_dir() / name;
  if (!fs::exists(dir / "case.json")) GTEST_SKIP() << "processor golden " << dir << " not found";
  const auto cj = read_json(dir / "case.json");
  const std::string key = cj["inputs"][0]["decoded"]["key"];
  Tensor decoded = find(processors_dir() / "decode" / "expected.safetensors", key);
  ASSERT_TRUE(decoded.defined()) << key;
  vision::ImageU8 img{decoded.dim(0), decoded.dim(1), decoded.to_vector<uint8_t>()};
  auto proc = vision::ImageProcessor::from_json(read_json(dir / "preprocessor_config.json"), cj["hf_class"]);
  Tensor got = proc.preprocess(std::vector<vision::ImageU8>{img});
  Tensor want = find(dir / "expected.safetensors", "pixel_values");
  ASSERT_EQ(got.shape(), want.shape()) << name;
  auto g = got.to_vector<float>(), w = want.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < w.size(); ++i) worst = std::max(worst, std::fabs(double(g[i]) - w[i]));
  EXPECT_LE(worst, 1e-5) << name;
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
