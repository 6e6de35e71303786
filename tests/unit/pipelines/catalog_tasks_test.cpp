// Catalog honesty: every entry's task is a transformers (or diffusers) pipeline name, and where the engine
// implements the entry's class and `run` registers its task, that task accepts the model; dual encoders are
// filed as multimodal like the engine files them; ids are unique case-insensitively; corrected config facts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "models/model.h"
#include "pipelines/pipeline.h"
#include "testing/catalog.h"

using ia::suite::Catalog;

namespace {

const Catalog& catalog() {
  static Catalog c = Catalog::load(std::string(IA_SOURCE_DIR) + "/catalog");
  return c;
}

// transformers 4.48 SUPPORTED_TASKS (and their aliases), plus diffusers' text-to-image.
const std::set<std::string>& pipeline_names() {
  static const std::set<std::string> s = {
      "audio-classification", "automatic-speech-recognition", "text-to-audio", "text-to-speech",
      "feature-extraction", "text-classification", "sentiment-analysis", "token-classification", "ner",
      "question-answering", "table-question-answering", "visual-question-answering", "vqa",
      "document-question-answering", "fill-mask", "summarization", "translation", "text2text-generation",
      "text-generation", "zero-shot-classification", "zero-shot-image-classification",
      "zero-shot-audio-classification", "image-classification", "image-feature-extraction", "image-segmentation",
      "image-to-text", "image-text-to-text", "object-detection", "zero-shot-object-detection", "depth-estimation",
      "video-classification", "mask-generation", "image-to-image", "text-to-image"};
  return s;
}

}  // namespace

TEST(CatalogTasks, EveryTaskIsAPipelineName) {
  for (const auto& e : catalog().entries())
    EXPECT_TRUE(pipeline_names().count(e.task)) << e.id << ": task '" << e.task << "' is not a pipeline name";
}

TEST(CatalogTasks, RegisteredTasksAcceptTheirImplementedModels) {
  int checked = 0;
  for (const auto& e : catalog().entries()) {
    if (!ia::model_supports(e.model_type, e.architecture)) continue;
    // The text / vision / dual-encoder tasks; speech, generation and diffusion tasks check their own families.
    if (e.family != "encoder-only" && e.family != "vision" && e.family != "multimodal") continue;
    const ia::pipelines::TaskSpec* t = ia::pipelines::find_task(e.task);
    if (!t) continue;
    ++checked;
    EXPECT_TRUE(t->accepts(ia::ModelConfig(e.config, e.id), e.architecture))
        << e.id << " (" << e.architecture << "): task " << e.task << " does not accept it";
  }
  EXPECT_GT(checked, 50);
}

TEST(CatalogTasks, ElectraDiscriminatorsAndXclipAreNotMislabelled) {
  for (const auto& e : catalog().entries()) {
    if (e.architecture == "ElectraForPreTraining") {
      EXPECT_NE(e.task, "text-classification") << e.id;
    }
    if (e.model_type == "xclip") {
      EXPECT_EQ(e.task, "video-classification") << e.id;
    }
  }
}

TEST(CatalogTasks, DualEncodersAreMultimodalLikeTheEngine) {
  for (const char* type : {"clip", "siglip"}) {
    const ia::ModelSpec* spec = ia::find_model_type(type);
    ASSERT_NE(spec, nullptr) << type;
    EXPECT_EQ(spec->family, "multimodal");
    int n = 0;
    for (const auto& e : catalog().entries())
      if (e.model_type == type) {
        EXPECT_EQ(e.family, spec->family) << e.id;
        ++n;
      }
    EXPECT_GT(n, 0) << type;
  }
  // A new CLIP-style config is filed the same way, with its zero-shot task.
  nlohmann::json cfg = {{"model_type", "chinese_clip"}, {"architectures", {"ChineseCLIPModel"}},
                        {"text_config", {{"vocab_size", 100}}}, {"vision_config", {{"image_size", 224}}},
                        {"projection_dim", 512}};
  auto e = ia::suite::entry_from_hf_config("org/some-clip", cfg);
  EXPECT_EQ(e.family, "multimodal");
  EXPECT_EQ(e.task, "zero-shot-image-classification");
}

TEST(CatalogTasks, CorrectedConfigFacts) {
  const auto* phi = catalog().find("microsoft/Phi-3.5-mini-instruct");
  ASSERT_NE(phi, nullptr);
  const auto& rs = phi->config["rope_scaling"];
  ASSERT_EQ(rs["long_factor"].size(), 48u);
  EXPECT_NEAR(rs["long_factor"][47].get<double>(), 64.84, 1e-2);  // not the 1.0 placeholders
  EXPECT_NEAR(rs["short_factor"][47].get<double>(), 2.84, 1e-2);
  for (const auto& e : catalog().entries())
    if (e.model_type == "qwen2") {
      EXPECT_FALSE(e.config.contains("attention_bias")) << e.id << ": Qwen2Config has no attention_bias";
    }
  EXPECT_EQ(catalog().find("Qwen/Qwen2-1.5B")->config["max_position_embeddings"], 131072);
  EXPECT_EQ(catalog().find("google/pegasus-xsum")->config["normalize_before"], true);
  // Hub ids are case-insensitive.
  EXPECT_EQ(catalog().find("QWEN/qwen2-1.5b"), catalog().find("Qwen/Qwen2-1.5B"));
}

TEST(CatalogTasks, CaseInsensitiveDuplicateIdsAreRejected) {
  const auto dir = std::filesystem::temp_directory_path() / ("ia-catalog-dup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "encoder-only.jsonl")
      << R"({"id": "Org/Model", "family": "encoder-only", "model_type": "bert", "architecture": "BertModel", "task": "feature-extraction"})"
      << "\n"
      << R"({"id": "org/model", "family": "encoder-only", "model_type": "bert", "architecture": "BertModel", "task": "feature-extraction"})"
      << "\n";
  try {
    Catalog::load(dir.string());
    ADD_FAILURE() << "duplicate ids differing in case were accepted";
  } catch (const ia::Error& e) {
    EXPECT_NE(std::string(e.what()).find("case-insensitive"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}
