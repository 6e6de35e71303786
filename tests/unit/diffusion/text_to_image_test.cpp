// `run text-to-image` end to end on a tiny random diffusers directory: a PNG libpng can open, identical bytes for
// the same seed, different bytes for another seed, and one-line errors naming the file/field for bad input.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "models/diffusion/random_pipeline.h"
#include "models/diffusion/stable_diffusion.h"

namespace ia::diffusion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json tiny_unet() {
  return {{"_class_name", "UNet2DConditionModel"},
          {"block_out_channels", {16, 32}},
          {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
          {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
          {"layers_per_block", 1},
          {"attention_head_dim", 2},
          {"cross_attention_dim", 32},
          {"norm_num_groups", 8},
          {"sample_size", 8}};
}

fs::path make_pipeline(const std::string& name, const json& unet = tiny_unet(), json text = nullptr) {
  const fs::path dir = fs::temp_directory_path() / ("ia_t2i_" + name);
  fs::remove_all(dir);
  RandomPipelineSpec spec;
  spec.unet_config = unet;
  spec.text_config = text;
  spec.tokenizer_dir = std::string(IA_TEST_DATA_DIR) + "/tokenizers/openai__clip-vit-base-patch32";
  spec.seed = 11;
  write_random_pipeline(dir.string(), spec);
  return dir;
}

struct CliResult {
  int code = -1;
  std::string output;  // stdout + stderr
};

CliResult run_cli(const std::string& args) {
  CliResult r;
  const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TextToImage, WritesPngDeterministicForSeed) {
  const fs::path dir = make_pipeline("ok");
  const fs::path a = dir / "a.png", b = dir / "b.png", c = dir / "c.png";
  const std::string common = "run text-to-image " + dir.string() + " --prompt \"a red cube\" --steps 3 ";
  CliResult ra = run_cli(common + "--seed 7 -o " + a.string() + " --json");
  ASSERT_EQ(ra.code, 0) << ra.output;
  EXPECT_NE(ra.output.find("denoising"), std::string::npos) << "progress bar on stderr";
  CliResult rb = run_cli(common + "--seed 7 -o " + b.string());
  ASSERT_EQ(rb.code, 0) << rb.output;
  CliResult rc = run_cli(common + "--seed 8 --guidance 1 --height 24 --width 32 -o " + c.string());
  ASSERT_EQ(rc.code, 0) << rc.output;
  EXPECT_EQ(read_bytes(a), read_bytes(b));
  EXPECT_FALSE(read_bytes(a).empty());

  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&img, a.string().c_str())) << img.message;
  EXPECT_EQ(img.width, 16u);  // sample_size 8 x VAE scale factor 2
  EXPECT_EQ(img.height, 16u);
  img.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> px(PNG_IMAGE_SIZE(img));
  ASSERT_TRUE(png_image_finish_read(&img, nullptr, px.data(), 0, nullptr)) << img.message;
  png_image other;
  std::memset(&other, 0, sizeof other);
  other.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_file(&other, c.string().c_str())) << other.message;
  EXPECT_EQ(other.width, 32u);
  EXPECT_EQ(other.height, 24u);
  png_image_free(&other);
  fs::remove_all(dir);
}

TEST(TextToImage, LibraryRunIsDeterministicAndFinite) {
  const fs::path dir = make_pipeline("lib");
  auto pipe = StableDiffusionPipeline::load(dir.string());
  TextToImageRequest req;
  req.prompt = "hello";
  req.num_inference_steps = 2;
  req.seed = 3;
  auto x = pipe->generate(req);
  auto y = pipe->generate(req);
  EXPECT_EQ(x.image.pixels, y.image.pixels);
  EXPECT_EQ(x.latents.shape(), (Shape{1, 4, 8, 8}));
  for (float v : x.latents.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  fs::remove_all(dir);
}

TEST(TextToImage, BadInputGivesOneLineErrorNamingTheField) {
  const fs::path dir = make_pipeline("bad");
  const std::string base = "run text-to-image " + dir.string() + " --prompt x --steps 1 -o " + (dir / "x.png").string();
  auto expect_error = [&](const CliResult& r, const std::string& needle) {
    EXPECT_NE(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect_error(run_cli(base + " --height 20"), "divisible by 8");

  json unet = tiny_unet();
  unet["down_block_types"] = {"CrossAttnDownBlock2D", "KDownBlock2D"};
  fs::path cfg = dir / "unet" / "config.json";
  std::string saved = read_bytes(cfg);
  std::ofstream(cfg) << unet.dump();
  expect_error(run_cli(base), "KDownBlock2D");
  std::ofstream(cfg) << saved;

  json text = default_text_config(tiny_unet());
  text["hidden_size"] = 16;
  text["intermediate_size"] = 32;
  const fs::path mismatch = make_pipeline("mismatch", tiny_unet(), text);
  expect_error(run_cli("run text-to-image " + mismatch.string() + " --prompt x -o " + (mismatch / "x.png").string()),
               "cross_attention_dim");
  fs::remove_all(mismatch);

  fs::remove_all(dir / "vae");
  expect_error(run_cli(base), "vae");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ia::diffusion
