// The audio front-end against HF goldens: libsndfile/libsoxr reading, and the Whisper (80 and 128 mel),
// Speech2Text and Wav2Vec2 feature extractors compared with tests/data/speech/processors (transformers
// 4.48 on the real clips). Each test prints its max abs error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "audio/audio_io.h"
#include "audio/feature_extractors.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using namespace ia;

namespace {

fs::path speech_dir() { return fs::path(IA_TEST_DATA_DIR) / "speech"; }
std::string clip_path(const std::string& name) { return (speech_dir() / "audio" / name).string(); }

Tensor golden(const std::string& processor, const std::string& name) {
  for (auto& [n, t] : load_safetensors((speech_dir() / "processors" / processor / "expected.safetensors").string()))
    if (n == name) return t;
  ADD_FAILURE() << processor << ": golden '" << name << "' missing";
  return Tensor();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  const auto x = a.to(DType::F32).contiguous().to_vector<float>(), y = b.to(DType::F32).contiguous().to_vector<float>();
  double m = 0.0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(x[i]) - y[i]));
  return m;
}

std::unique_ptr<audio::FeatureExtractor> extractor(const std::string& processor) {
  return audio::load_feature_extractor((speech_dir() / "processors" / processor).string());
}

// The error's message names the file and fits on one line.
void expect_error(const std::function<void()>& f, ErrorKind kind, const std::string& path) {
  try {
    f();
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

// A canonical 44-byte PCM WAV header: 16 kHz mono 16-bit, `data_bytes` of samples announced.
std::string wav_header(uint32_t data_bytes) {
  std::string h(44, '\0');
  auto u32 = [&](size_t at, uint32_t v) { std::memcpy(&h[at], &v, 4); };
  auto u16 = [&](size_t at, uint16_t v) { std::memcpy(&h[at], &v, 2); };
  std::memcpy(&h[0], "RIFF", 4);
  u32(4, 36 + data_bytes);
  std::memcpy(&h[8], "WAVEfmt ", 8);
  u32(16, 16);
  u16(20, 1);
  u16(22, 1);
  u32(24, 16000);
  u32(28, 32000);
  u16(32, 2);
  u16(34, 16);
  std::memcpy(&h[36], "data", 4);
  u32(40, data_bytes);
  return h;
}

}  // namespace

TEST(AudioIo, ReadsWavAsSoundfileDoes) {
  const auto clip = audio::read_audio(clip_path("jfk.wav"));
  EXPECT_EQ(clip.sample_rate, 16000);
  EXPECT_EQ(clip.source_rate, 16000);
  EXPECT_EQ(clip.samples.size(), 176000u);
  for (float s : clip.samples) {  // int16 / 32768
    const float q = s * 32768.0f;
    ASSERT_EQ(q, std::round(q));
  }
}

TEST(AudioIo, FlacIsMixedToMonoAndResampledWithSoxr) {
  audio::ReadOptions keep;
  keep.sample_rate = 0;
  const auto native = audio::read_audio(clip_path("jfk.flac"), keep);
  EXPECT_EQ(native.source_rate, 44100);
  EXPECT_EQ(native.source_channels, 2);
  const auto clip = audio::read_audio(clip_path("jfk.flac"));
  EXPECT_EQ(clip.sample_rate, 16000);
  const size_t expected = static_cast<size_t>(std::ceil(native.samples.size() * 16000.0 / 44100.0));
  EXPECT_EQ(clip.samples.size(), expected);  // librosa.resample length: ceil(n * ratio)
  // Same speech as jfk.wav: both clips carry comparable energy.
  const auto wav = audio::read_audio(clip_path("jfk.wav"));
  auto rms = [](const std::vector<float>& x) {
    double s = 0.0;
    for (float v : x) s += static_cast<double>(v) * v;
    return std::sqrt(s / x.size());
  };
  EXPECT_NEAR(rms(clip.samples) / rms(wav.samples), 1.0, 0.5);
  EXPECT_EQ(audio::read_audio(clip_path("jfk.flac")).samples, clip.samples);  // deterministic
}

TEST(AudioIo, BadFilesGiveOneLineErrorsNamingTheFile) {
  const fs::path tmp = fs::temp_directory_path() / ("ia_audio_bad_" + std::to_string(getpid()));
  fs::create_directories(tmp);
  const std::string missing = (tmp / "missing.wav").string();
  expect_error([&] { audio::read_audio(missing); }, ErrorKind::Io, missing);
  const std::string empty = (tmp / "empty.wav").string();
  std::ofstream(empty).close();
  expect_error([&] { audio::read_audio(empty); }, ErrorKind::Format, empty);
  const std::string garbage = (tmp / "garbage.flac").string();
  std::ofstream(garbage) << "this is not audio at all, just some text pretending to be a flac file";
  expect_error([&] { audio::read_audio(garbage); }, ErrorKind::Format, garbage);
  // A WAV header announcing 11 s of samples, with no sample data after it.
  const std::string truncated = (tmp / "truncated.wav").string();
  std::ofstream(truncated, std::ios::binary) << wav_header(352000);
  expect_error([&] { audio::read_audio(truncated); }, ErrorKind::Format, truncated);
  // A 2-hour file is refused from its header, before anything is decoded (sparse file: no disk or memory used).
  const std::string two_hours = (tmp / "two_hours.wav").string();
  const uint32_t two_hours_bytes = 2u * 3600u * 16000u * 2u;
  std::ofstream(two_hours, std::ios::binary) << wav_header(two_hours_bytes);
  fs::resize_file(two_hours, 44 + static_cast<uintmax_t>(two_hours_bytes));
  expect_error([&] { audio::read_audio(two_hours); }, ErrorKind::InvalidArgument, two_hours);
  audio::ReadOptions shorter;
  shorter.max_seconds = 5;
  expect_error([&] { audio::read_audio(clip_path("jfk.wav"), shorter); }, ErrorKind::InvalidArgument,
               clip_path("jfk.wav"));
  fs::remove_all(tmp);
}

TEST(WhisperFeatureExtractor, MelFiltersMatchHF) {
  auto fe = audio::WhisperFeatureExtractor::from_json(nlohmann::json::object(), "defaults");
  const Tensor ours = Tensor::from_vector<float>(fe.mel_filters(), {201, 80});
  const double err = max_abs_diff(ours, golden("whisper", "mel_filters"));
  std::cout << "whisper mel_filters max abs error " << err << "\n";
  EXPECT_LT(err, 1e-6);
}

TEST(WhisperFeatureExtractor, Jfk80MelMatchesHF) {
  const auto fe = extractor("whisper");
  const auto out = (*fe)({audio::read_audio(clip_path("jfk.wav")).samples});
  const double err = max_abs_diff(out.at("input_features"), golden("whisper", "input_features"));
  std::cout << "whisper (80 mel, jfk.wav) input_features max abs error " << err << "\n";
  EXPECT_LT(err, 1e-4);
  EXPECT_FALSE(out.count("attention_mask"));
  const auto with_mask = (*fe)({audio::read_audio(clip_path("jfk.wav")).samples}, true);
  const auto m = with_mask.at("attention_mask").to_vector<int64_t>();
  ASSERT_EQ(m.size(), 3000u);
  EXPECT_EQ(std::count(m.begin(), m.end(), 1), 1100);  // 176000 samples / hop 160
}

TEST(WhisperFeatureExtractor, LibriSpeech128MelMatchesHF) {
  const auto fe = extractor("whisper-large-v3");
  const auto out = (*fe)({audio::read_audio(clip_path("librispeech_1272-141231-0002.wav")).samples});
  const double err = max_abs_diff(out.at("input_features"), golden("whisper-large-v3", "input_features"));
  std::cout << "whisper-large-v3 (128 mel, LibriSpeech) input_features max abs error " << err << "\n";
  EXPECT_LT(err, 1e-4);
  const Tensor filters = Tensor::from_vector<float>(
      static_cast<const audio::WhisperFeatureExtractor&>(*fe).mel_filters(), {201, 128});
  EXPECT_LT(max_abs_diff(filters, golden("whisper-large-v3", "mel_filters")), 1e-6);
}

TEST(Speech2TextFeatureExtractor, JfkFbankCmvnMatchesHF) {
  const auto fe = extractor("speech_to_text");
  const auto out = (*fe)({audio::read_audio(clip_path("jfk.wav")).samples});
  const double err = max_abs_diff(out.at("input_features"), golden("speech_to_text", "input_features"));
  std::cout << "speech_to_text (jfk.wav) input_features max abs error " << err << "\n";
  EXPECT_LT(err, 1e-4);  // float64 like HF numpy path (the golden allows 5e-3 for float32 implementations)
  EXPECT_EQ(max_abs_diff(out.at("attention_mask"), golden("speech_to_text", "attention_mask")), 0.0);
}

TEST(Wav2Vec2FeatureExtractor, PaddedBatchMatchesHF) {
  const auto fe = extractor("wav2vec2");
  const auto out = (*fe)({audio::read_audio(clip_path("jfk.wav")).samples,
                          audio::read_audio(clip_path("librispeech_1272-141231-0002.wav")).samples});
  const double err = max_abs_diff(out.at("input_values"), golden("wav2vec2", "input_values"));
  std::cout << "wav2vec2 (jfk + LibriSpeech, padded) input_values max abs error " << err << "\n";
  EXPECT_LT(err, 1e-5);
  EXPECT_EQ(max_abs_diff(out.at("attention_mask"), golden("wav2vec2", "attention_mask")), 0.0);
}

TEST(FeatureExtractors, UnknownTypeAndMissingConfigAreErrors) {
  EXPECT_THROW(audio::load_feature_extractor(fs::temp_directory_path().string()), Error);
  const auto fe = extractor("whisper");
  EXPECT_THROW((*fe)({}), Error);
  EXPECT_THROW((*fe)({audio::Clip{}}), Error);
}
