// `run automatic-speech-recognition` end to end on jfk.wav with tiny random checkpoints built here: a
// Whisper (real whisper-tiny tokenizer, HF's whisper-tiny feature-extractor settings) and a wav2vec2 CTC model
// (the wav2vec2 conformance weights with a character vocabulary). The features the pipeline feeds the model
// equal the processor goldens; the transcription is deterministic and decoded through the real tokenizer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "audio/audio_io.h"
#include "audio/feature_extractors.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/model.h"
#include "pipelines/pipeline.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;
using namespace ia;

namespace {

fs::path data() { return fs::path(IA_TEST_DATA_DIR); }
std::string jfk() { return (data() / "speech" / "audio" / "jfk.wav").string(); }

// A whisper-tiny-shaped config scaled down (d_model 64, 2 + 2 layers) with whisper-tiny's vocabulary and
// positions, so the real tokenizer and 30 s log-mel inputs apply.
nlohmann::json tiny_whisper_config() {
  return {{"model_type", "whisper"},       {"architectures", {"WhisperForConditionalGeneration"}},
          {"d_model", 64},                 {"encoder_layers", 2},
          {"decoder_layers", 2},           {"encoder_attention_heads", 4},
          {"decoder_attention_heads", 4},  {"encoder_ffn_dim", 128},
          {"decoder_ffn_dim", 128},        {"num_mel_bins", 80},
          {"max_source_positions", 1500},  {"max_target_positions", 448},
          {"vocab_size", 51865},           {"activation_function", "gelu"},
          {"decoder_start_token_id", 50258}, {"eos_token_id", 50257},
          {"pad_token_id", 50257},         {"bos_token_id", 50257},
          {"scale_embedding", false}};
}

// whisper-tiny's generation rules (multilingual: language detected, <|transcribe|>, <|notimestamps|>).
nlohmann::json whisper_generation_config() {
  return {{"decoder_start_token_id", 50258},
          {"eos_token_id", 50257},
          {"pad_token_id", 50257},
          {"max_length", 448},
          {"is_multilingual", true},
          {"forced_decoder_ids", {{1, nullptr}, {2, 50359}}},
          {"lang_to_id", {{"<|en|>", 50259}, {"<|de|>", 50261}, {"<|fr|>", 50265}}},
          {"task_to_id", {{"transcribe", 50359}, {"translate", 50358}}},
          {"no_timestamps_token_id", 50363},
          {"begin_suppress_tokens", {220, 50257}},
          {"suppress_tokens", {1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93,
                               50358, 50359, 50360, 50361, 50362}}};
}

void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2) << "\n"; }

// Random weights for `config` (the loader synthesises every tensor the model asks for), saved like HF.
void write_random_checkpoint(const fs::path& dir, const nlohmann::json& config, uint64_t seed) {
  fs::create_directories(dir);
  write_json(dir / "config.json", config);
  const ModelConfig cfg = ModelConfig::load((dir / "config.json").string());
  WeightLoader w = WeightLoader::synthetic(seed);
  w.report().keep_synthesized = true;
  build_model(cfg, w, config["architectures"][0].get<std::string>());
  NamedTensors tensors(w.report().synthesized.begin(), w.report().synthesized.end());
  save_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to(DType::F32).contiguous().to_vector<float>(), y = b.to(DType::F32).contiguous().to_vector<float>();
  double m = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(x[i]) - y[i]));
  return m;
}

Tensor golden(const std::string& processor, const std::string& name) {
  for (auto& [n, t] : load_safetensors((data() / "speech" / "processors" / processor / "expected.safetensors").string()))
    if (n == name) return t;
  return Tensor();
}

class AsrPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ia_asr_" + std::to_string(getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

}  // namespace

TEST_F(AsrPipeline, WhisperTranscribesJfkDeterministically) {
  const fs::path dir = root_ / "whisper";
  write_random_checkpoint(dir, tiny_whisper_config(), 7);
  write_json(dir / "generation_config.json", whisper_generation_config());
  fs::copy_file(data() / "speech" / "processors" / "whisper" / "preprocessor_config.json",
                dir / "preprocessor_config.json");
  for (const char* f : {"tokenizer.json.gz", "tokenizer_config.json"})
    fs::copy_file(data() / "speech" / "whisper-tokenizer" / f, dir / f);

  // The features the pipeline computes for jfk.wav are HF's (processor golden, whisper-tiny settings).
  const auto fe = audio::load_feature_extractor(dir.string());
  const auto features = (*fe)({audio::read_audio(jfk()).samples});
  EXPECT_LT(max_abs_diff(features.at("input_features"), golden("whisper", "input_features")), 1e-4);

  pipelines::RunContext ctx;
  ctx.model_dir = dir.string();
  ctx.params["max_new_tokens"] = 6;
  const nlohmann::json a = pipelines::run_task("automatic-speech-recognition", ctx, {jfk()});
  const nlohmann::json b = pipelines::run_task("automatic-speech-recognition", ctx, {jfk()});
  ASSERT_TRUE(a.is_array() && a.size() == 1);
  ASSERT_TRUE(a[0].is_object() && a[0].contains("text") && a[0]["text"].is_string());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[0].size(), 1u);  // {"text": ...} like transformers

  // Decoding matches the tokenizer's own decode of what greedy generation produced: no special tokens remain.
  const std::string text = a[0]["text"];
  EXPECT_EQ(text.find("<|"), std::string::npos) << text;
  ctx.params["language"] = "fr";
  const nlohmann::json fr = pipelines::run_task("automatic-speech-recognition", ctx, {jfk()});
  EXPECT_TRUE(fr[0]["text"].is_string());
  ctx.params["language"] = "xx";
  EXPECT_THROW(pipelines::run_task("automatic-speech-recognition", ctx, {jfk()}), Error);
  ctx.params.erase("language");
  const std::string missing = (root_ / "nope.wav").string();
  try {
    pipelines::run_task("automatic-speech-recognition", ctx, {missing});
    ADD_FAILURE() << "missing file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST_F(AsrPipeline, Wav2Vec2CtcTranscribesJfkDeterministically) {
  const fs::path dir = root_ / "wav2vec2";
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(data() / "conformance" / "wav2vec2" / f, dir / f);
  fs::copy_file(data() / "speech" / "processors" / "wav2vec2" / "preprocessor_config.json",
                dir / "preprocessor_config.json");
  // facebook/wav2vec2-base-960h's character vocabulary (32 entries).
  const std::vector<std::string> chars = {"<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I",
                                          "H",     "S",   "R",    "D",     "L", "U", "M", "W", "C", "F", "G",
                                          "Y",     "P",   "B",    "V",     "K", "'", "X", "J", "Q", "Z"};
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < chars.size(); ++i) vocab[chars[i]] = i;
  write_json(dir / "vocab.json", vocab);
  write_json(dir / "tokenizer_config.json", {{"pad_token", "<pad>"}, {"word_delimiter_token", "|"}});

  pipelines::RunContext ctx;
  ctx.model_dir = dir.string();
  const nlohmann::json a = pipelines::run_task("automatic-speech-recognition", ctx, {jfk()});
  ASSERT_TRUE(a.is_array() && a.size() == 1 && a[0]["text"].is_string());
  // Determinism on the first 2 s of the clip given as raw samples (transformers' {"raw", "sampling_rate"} input).
  const auto clip = audio::read_audio(jfk()).samples;
  const nlohmann::json raw = {{"raw", std::vector<float>(clip.begin(), clip.begin() + 32000)}, {"sampling_rate", 16000}};
  const nlohmann::json b = pipelines::run_task("automatic-speech-recognition", ctx, {raw});
  const nlohmann::json c = pipelines::run_task("automatic-speech-recognition", ctx, {raw});
  ASSERT_TRUE(b[0]["text"].is_string());
  EXPECT_EQ(b, c);
  const std::string text = a[0]["text"];
  EXPECT_EQ(text.find("<pad>"), std::string::npos);
  EXPECT_TRUE(text.empty() || (text.front() != ' ' && text.back() != ' '));
}
