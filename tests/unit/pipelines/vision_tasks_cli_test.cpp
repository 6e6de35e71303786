// `run` image tasks end to end on tiny random ViT / SegFormer / CLIP / SigLIP checkpoints (configs of the HF
// conformance cases) with a real image: scores equal the model's own softmax (computed here in-process),
// segment masks partition the image, dual-encoder scores are softmax (CLIP) or sigmoid (SigLIP).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "models/model.h"
#include "pipeline_test_util.h"
#include "pipelines/text_model.h"
#include "vision/image_io.h"
#include "vision/image_processor.h"

using namespace ia_test;
using nlohmann::json;

namespace {

const std::string kImage = std::string(IA_TEST_DATA_DIR) + "/images/australia.jpg";

json case_config(const std::string& name) {
  return json::parse(slurp(fs::path(IA_TEST_DATA_DIR) / "conformance" / name / "config.json"));
}

json square_processor(int64_t s) {
  return {{"image_processor_type", "ViTImageProcessor"}, {"size", {{"height", s}, {"width", s}}},
          {"image_mean", {0.5, 0.5, 0.5}}, {"image_std", {0.5, 0.5, 0.5}}, {"resample", 2}};
}

fs::path vision_model(const std::string& name, const json& cfg, const std::string& cls,
                      const std::vector<std::string>& data = {}) {
  fs::path d = make_model(name, cfg, cls, data);
  std::ofstream(d / "preprocessor_config.json") << square_processor(32).dump();
  return d;
}

}  // namespace

TEST(PipelineImageClassification, TopFiveOfTheModelsSoftmax) {
  const fs::path d = vision_model("vit-cls", case_config("vit"), "ViTForImageClassification");
  json j = run_json("run image-classification " + d.string() + " " + kImage);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 5u);
  // In-process: the same image processor and model.
  auto proc = ia::vision::ImageProcessor::from_json(square_processor(32));
  auto model = ia::load_model(d.string());
  ia::Tensor px = proc.preprocess(std::vector<ia::vision::ImageU8>{ia::vision::read_image(kImage)});
  std::vector<float> logits;
  for (auto& [n, t] : model->forward({{"pixel_values", px}}, {}))
    if (n == "logits") logits = t.contiguous().to_vector<float>();
  const auto p = ia::pipelines::softmax(logits);
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(j[k]["label"], "LABEL_" + std::to_string(order[k]));
    EXPECT_NEAR(j[k]["score"].get<double>(), p[order[k]], 1e-6);
  }
  json two = run_json("run image-classification " + d.string() + " " + kImage + " --top-k 2");
  EXPECT_EQ(two.size(), 2u);
  CliResult r = run_cli("run image-classification " + d.string() + " /nonexistent.jpg");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("nonexistent.jpg"), std::string::npos) << r.err;
}

TEST(PipelineImageFeatureExtraction, HiddenStatesWithBatchDimension) {
  json cfg = case_config("vit");
  const fs::path d = vision_model("vit-base", cfg, "ViTModel");
  json j = run_json("run image-feature-extraction " + d.string() + " " + kImage);
  // [1, 1 + (32/patch)^2, hidden]
  const int64_t patch = cfg["patch_size"], tokens = 1 + (32 / patch) * (32 / patch);
  ASSERT_EQ(j.size(), 1u);
  ASSERT_EQ(j[0].size(), static_cast<size_t>(tokens));
  EXPECT_EQ(j[0][0].size(), cfg["hidden_size"].get<size_t>());
  json pooled = run_json("run image-feature-extraction " + d.string() + " " + kImage + " --param pool=true");
  ASSERT_EQ(pooled.size(), 1u);
  EXPECT_EQ(pooled[0].size(), cfg["hidden_size"].get<size_t>());
}

TEST(PipelineImageSegmentation, MasksPartitionTheImage) {
  const fs::path d = vision_model("segformer", case_config("segformer"), "SegformerForSemanticSegmentation");
  json j = run_json("run image-segmentation " + d.string() + " " + kImage);
  const auto img = ia::vision::read_image(kImage);
  ASSERT_TRUE(j.is_array());
  ASSERT_FALSE(j.empty());
  std::vector<int> covered(static_cast<size_t>(img.height * img.width), 0);
  int prev = -1;
  for (const auto& seg : j) {
    EXPECT_TRUE(seg["score"].is_null());
    const std::string label = seg["label"];
    const int id = std::stoi(label.substr(6));  // LABEL_<id>, in id order
    EXPECT_GT(id, prev);
    prev = id;
    ASSERT_EQ(seg["mask"]["size"], json({img.height, img.width}));
    int64_t pos = 0;
    bool on = false;
    for (const auto& c : seg["mask"]["counts"]) {
      for (int64_t k = 0; k < c.get<int64_t>(); ++k) covered[static_cast<size_t>(pos + k)] += on;
      pos += c.get<int64_t>();
      on = !on;
    }
    EXPECT_EQ(pos, img.height * img.width);
  }
  for (int c : covered) ASSERT_EQ(c, 1);  // every pixel in exactly one mask
  const fs::path out = scratch_dir("masks");
  json files = run_json("run image-segmentation " + d.string() + " " + kImage + " -o " + out.string());
  ASSERT_EQ(files.size(), j.size());
  for (const auto& seg : files) {
    const auto m = ia::vision::read_image(seg["mask"].get<std::string>());
    EXPECT_EQ(m.height, img.height);
    EXPECT_EQ(m.width, img.width);
  }
}

TEST(PipelineZeroShotImage, ClipSoftmaxAndSiglipSigmoid) {
  json clip = case_config("clip");
  clip["text_config"]["vocab_size"] = 49408;
  clip["text_config"]["eos_token_id"] = 49407;
  clip["text_config"]["max_position_embeddings"] = 77;
  const fs::path c = vision_model("clip", clip, "CLIPModel", {"tokenizers/openai__clip-vit-base-patch32"});
  json j = run_json("run zero-shot-image-classification " + c.string() + " " + kImage +
                    " --candidate-labels beach,city,forest");
  ASSERT_EQ(j.size(), 3u);
  double sum = 0;
  for (size_t i = 0; i < 3; ++i) {
    sum += j[i]["score"].get<double>();
    if (i) EXPECT_GE(j[i - 1]["score"].get<double>(), j[i]["score"].get<double>());
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);

  json sig = case_config("siglip");
  sig["text_config"]["vocab_size"] = 49408;
  sig["text_config"]["max_position_embeddings"] = 64;
  const fs::path s = vision_model("siglip", sig, "SiglipModel", {"tokenizers/openai__clip-vit-base-patch32"});
  json k = run_json("run zero-shot-image-classification " + s.string() + " " + kImage +
                    " --candidate-labels beach,city --param 'hypothesis_template=a photo of a {}'");
  ASSERT_EQ(k.size(), 2u);
  for (const auto& x : k) {
    EXPECT_GT(x["score"].get<double>(), 0.0);
    EXPECT_LT(x["score"].get<double>(), 1.0);
  }
  CliResult r = run_cli("run zero-shot-image-classification " + s.string() + " " + kImage +
                        " --candidate-labels beach --param hypothesis_template=nolabel");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("hypothesis_template"), std::string::npos) << r.err;
}
