// libFuzzer: audio decoding and the HF feature extractors. Mode 0: the input is an audio file (WAV/FLAC/Ogg...)
// read through libsndfile + libsoxr at 16 kHz (at most 5 s), then featurized; mode 1: the input is raw 16-bit
// PCM at 16 kHz (any length, including empty and single-sample clips) fed to every extractor, batched with a
// second clip; mode 2: the input is a preprocessor_config.json whose extractor runs on a short fixed clip.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "audio/audio_io.h"
#include "audio/feature_extractors.h"
#include "core/error.h"

namespace {

// Small windows keep each run fast: Whisper over 1 s chunks, the others as configured by HF.
const char* kConfigs[] = {
    R"({"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 16, "chunk_length": 1, "n_fft": 400,
        "hop_length": 160, "sampling_rate": 16000})",
    R"({"feature_extractor_type": "Speech2TextFeatureExtractor", "num_mel_bins": 20, "sampling_rate": 16000})",
    R"({"feature_extractor_type": "Wav2Vec2FeatureExtractor", "do_normalize": true, "sampling_rate": 16000})",
};

std::string scratch_dir() {
  static const std::string d = [] {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    std::string p = base + "/ia-fuzz-audio-" + std::to_string(getpid());
    std::filesystem::create_directories(p);
    return p;
  }();
  return d;
}

std::unique_ptr<ia::audio::FeatureExtractor> extractor(const std::string& json) {
  const std::string dir = scratch_dir();
  std::ofstream(dir + "/preprocessor_config.json", std::ios::trunc) << json;
  return ia::audio::load_feature_extractor(dir);
}

void check(const ia::audio::FeatureMap& m, const std::string& who) {
  for (const auto& [name, t] : m) {
    if (t.dtype() != ia::DType::F32) continue;
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(p[i])) {
        std::fprintf(stderr, "%s: %s[%lld] = %f\n", who.c_str(), name.c_str(), static_cast<long long>(i), p[i]);
        __builtin_trap();
      }
  }
}

void featurize(const ia::audio::Clip& clip) {
  static std::vector<std::unique_ptr<ia::audio::FeatureExtractor>> all = [] {
    std::vector<std::unique_ptr<ia::audio::FeatureExtractor>> v;
    for (const char* c : kConfigs) v.push_back(extractor(c));
    return v;
  }();
  const ia::audio::Clip other(1234, 0.25f);
  for (const auto& fe : all) {
    try {
      check((*fe)({clip}, false), fe->hf_class() + " on the clip");
      check((*fe)({clip, other}, true), fe->hf_class() + " on the clip batched with a constant one");
    } catch (const ia::Error&) {  // e.g. a clip shorter than one analysis window: refused with a message
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  try {
    if (mode == 0) {
      const std::string path = scratch_dir() + "/clip";
      {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
      }
      ia::audio::ReadOptions o;
      o.sample_rate = 16000;
      o.max_seconds = 5.0;
      const ia::audio::AudioClip a = ia::audio::read_audio(path, o);
      for (float v : a.samples)
        if (!std::isfinite(v)) __builtin_trap();
      featurize(a.samples);
    } else if (mode == 1) {
      ia::audio::Clip clip((size - 1) / 2);
      for (size_t i = 0; i < clip.size(); ++i) {
        int16_t s;
        std::memcpy(&s, data + 1 + 2 * i, 2);
        clip[i] = static_cast<float>(s) / 32768.0f;
      }
      featurize(clip);
    } else {
      auto fe = extractor(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
      ia::audio::Clip clip(4000);
      for (size_t i = 0; i < clip.size(); ++i) clip[i] = 0.3f * std::sin(0.05f * static_cast<float>(i));
      check((*fe)({clip}, true), fe->hf_class() + " from the input's config");
    }
  } catch (const ia::Error&) {
  }
  return 0;
}
