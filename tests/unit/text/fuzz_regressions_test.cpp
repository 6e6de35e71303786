// Inputs the fuzzers (fuzz/, scripts/fuzz.sh) found crashing, kept in tests/data/fuzz/<target>/: each must now
// fail with an ia::Error (or succeed), never escape as another exception or crash. Plus the minimal cases.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "audio/feature_extractors.h"
#include "vision/image_io.h"
#include "vision/image_processor.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `parse` on every file of tests/data/fuzz/<target>; returns how many there were.
size_t replay(const std::string& target, const std::function<void(const std::string&)>& parse) {
  size_t n = 0;
  const fs::path dir = fs::path(IA_TEST_DATA_DIR) / "fuzz" / target;
  if (!fs::is_directory(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++n;
    try {
      parse(read_all(e.path()));
    } catch (const ia::Error&) {
    } catch (const std::exception& ex) {
      ADD_FAILURE() << e.path() << " escaped as " << typeid(ex).name() << ": " << ex.what();
    }
  }
  return n;
}

}  // namespace

TEST(FuzzRegressions, ChatTemplateCrashInputs) {
  const nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::array()}, {"eos_token", "</s>"}};
  EXPECT_GE(replay("chat_template", [&](const std::string& s) { ia::text::ChatTemplate(s).render(ctx); }), 1u);
}

TEST(FuzzRegressions, ChatTemplateIntegerLiterals) {
  const nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  EXPECT_EQ(ia::text::ChatTemplate("{{ 1_000 + 1 }}").render(ctx), "1001");
  EXPECT_EQ(ia::text::ChatTemplate("{{ 9223372036854775807 }}").render(ctx), "9223372036854775807");
  try {
    ia::text::ChatTemplate("{{ 99999999999999999999 }}");
    FAIL() << "a literal beyond 64 bits was accepted";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("integer literal 99999999999999999999 does not fit in 64 bits"),
              std::string::npos)
        << e.what();
  }
}

TEST(FuzzRegressions, TokenizerNumbersThatAreNotNumbers) {
  const std::string base = R"({"model": {"type": "WordLevel", "vocab": {"a": 0, "[CLS]": 1}, "unk_token": "a"},
    "post_processor": {"type": "TemplateProcessing", "single": "[CLS] $A:99999999999", "pair": "$A $B:1",
                       "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}}}})";
  try {
    ia::text::Tokenizer::from_json_string(base, "t.json").encode("a");
    FAIL() << "a type id beyond 32 bits was accepted";
  } catch (const ia::Error& e) {
    EXPECT_NE(std::string(e.what()).find("type id '99999999999' is not a 32-bit number"), std::string::npos)
        << e.what();
  }
}

TEST(FuzzRegressions, ImageDimensionsWhoseProductOverflows) {
  // A PNG header of 3781885952 x 3764387840: w * h overflowed int64 in the bomb check (UBSan in fuzz_image).
  EXPECT_GE(replay("image",
                   [](const std::string& s) {
                     try {
                       ia::vision::decode_image(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "crash.png");
                       ADD_FAILURE() << "an image of more than 2^64 pixels decoded";
                     } catch (const ia::Error& e) {
                       EXPECT_EQ(e.kind(), ia::ErrorKind::OutOfMemory) << e.what();
                       EXPECT_NE(std::string(e.what()).find("image of 3781885952x3764387840 = "), std::string::npos)
                           << e.what();
                       EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
                     }
                   }),
            1u);
}

// fuzz_image_processor mode 1 (a preprocessor_config.json after the mode byte): a legacy CLIP size of 224224 asked
// pil_resize for a 224224 x 313913 image (ASan: allocation of 211 GB); a crop_size without "width" escaped as
// nlohmann::json::out_of_range. Output sizes are now bounded like decoded images, before anything is allocated,
// and malformed fields are Format errors.
TEST(FuzzRegressions, ImageProcessorConfigsAskingForHugeOutputsAreRefused) {
  ia::vision::ImageU8 img{7, 5, std::vector<uint8_t>(7 * 5 * 3, 100)};
  EXPECT_GE(replay("image_processor",
                   [&](const std::string& s) {
                     const auto cfg = nlohmann::json::parse(s.substr(1), nullptr, false);
                     ia::vision::ImageProcessor::from_json(cfg).preprocess(img);
                     ADD_FAILURE() << "a crash input was accepted";
                   }),
            2u);
  auto expect_refused = [&](const char* json, ia::ErrorKind kind, const char* words) {
    try {
      ia::vision::ImageProcessor::from_json(nlohmann::json::parse(json)).preprocess(img);
      ADD_FAILURE() << json << " was accepted";
    } catch (const ia::Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_refused(R"({"image_processor_type": "ViTImageProcessor", "size": {"height": 100000, "width": 100000}})",
                 ia::ErrorKind::OutOfMemory, "100000x100000 output is more than 178956970 pixels");
  expect_refused(R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 4000000000}})",
                 ia::ErrorKind::OutOfMemory, "long edge");
  expect_refused(R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 4}, "do_center_crop": true,
                     "crop_size": {"height": 0, "width": 3}})",
                 ia::ErrorKind::InvalidArgument, "crop size 0x3 is not positive");
  expect_refused(R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 4}, "do_center_crop": true,
                     "crop_size": {"height": 3}})",
                 ia::ErrorKind::Format, "preprocessor_config.json: ");
  expect_refused(R"({"image_processor_type": "ViTImageProcessor", "size": {"height": "9", "width": 6}})",
                 ia::ErrorKind::Format, "preprocessor_config.json: ");
  // What fits still works.
  const auto ok = ia::vision::ImageProcessor::from_json(
      nlohmann::json::parse(R"({"image_processor_type": "ViTImageProcessor", "size": {"height": 9, "width": 6}})"));
  EXPECT_EQ(ok.preprocess(img).shape(), (ia::Shape{3, 9, 6}));
}

// fuzz_audio mode 1 (raw PCM): a silent clip made Speech2TextFeatureExtractor's utterance CMVN divide 0 by a zero
// standard deviation, returning NaN features (as HF's numpy code does, with a RuntimeWarning). Now refused.
TEST(FuzzRegressions, Speech2TextCmvnOfAConstantClipIsRefusedNotNaN) {
  const auto fe = ia::audio::Speech2TextFeatureExtractor::from_json(nlohmann::json::object(), "test");
  EXPECT_GE(replay("audio",
                   [&](const std::string& s) {
                     if (s[0] != 1) return;  // mode 1: raw PCM (the crash input is all zero samples)
                     ia::audio::Clip clip((s.size() - 1) / 2, 0.0f);
                     fe({clip, ia::audio::Clip(1234, 0.25f)}, true);
                     ADD_FAILURE() << "constant clips were normalized";
                   }),
            1u);
  for (const ia::audio::Clip& bad : {ia::audio::Clip(16000, 0.0f), ia::audio::Clip(16000, 0.5f)}) {
    try {
      fe({bad}, false);
      ADD_FAILURE() << "a constant clip was normalized";
    } catch (const ia::Error& e) {
      EXPECT_EQ(e.kind(), ia::ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("cannot be normalized (utterance CMVN)"), std::string::npos) << e.what();
    }
  }
  ia::audio::Clip tone(16000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.3f * std::sin(0.05f * static_cast<float>(i) * (1 + i % 7));
  const auto out = fe({tone}, false).at("input_features");
  for (float v : out.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
}

// fuzz_audio mode 2 (a preprocessor_config.json after the mode byte): chunk_length 1e8 and feature_size 1e8 asked
// Whisper's extractor for terabytes. Sizes in extractor configs are now bounded, naming the field.
TEST(FuzzRegressions, FeatureExtractorConfigSizesAreBounded) {
  EXPECT_GE(replay("audio",
                   [&](const std::string& s) {
                     if (s[0] != 2) return;
                     const auto j = nlohmann::json::parse(s.substr(1));
                     try {
                       ia::audio::WhisperFeatureExtractor::from_json(j, "cfg");
                       ADD_FAILURE() << s.substr(1) << " was accepted";
                     } catch (const ia::Error& e) {
                       EXPECT_EQ(e.kind(), ia::ErrorKind::Format);
                       EXPECT_NE(std::string(e.what()).find("is out of range"), std::string::npos) << e.what();
                     }
                   }),
            2u);
  try {
    ia::audio::WhisperFeatureExtractor::from_json(nlohmann::json{{"feature_size", 100000000}}, "cfg.json");
    FAIL();
  } catch (const ia::Error& e) {
    EXPECT_EQ(std::string(e.what()), "cfg.json: feature_size = 100000000 is out of range [1, 1024]");
  }
  // HF's own settings (Whisper large-v3: 128 mel bins, 30 s chunks) stay accepted.
  const auto w = ia::audio::WhisperFeatureExtractor::from_json(nlohmann::json{{"feature_size", 128}}, "cfg.json");
  EXPECT_EQ(w.frames(), 3000);
}
