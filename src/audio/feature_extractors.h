// transformers' audio feature extractors, HF-exact: WhisperFeatureExtractor (log-mel of a reflect-padded STFT,
// slaney mel filters), Speech2TextFeatureExtractor (Kaldi-compatible fbank + utterance CMVN, HF's numpy path) and
// Wav2Vec2FeatureExtractor (zero-mean unit-variance samples). Each reads preprocessor_config.json and turns a
// batch of mono 16 kHz clips into the model's input tensors by HF name. See docs/speech.md.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ia::audio {

using Clip = std::vector<float>;
using FeatureMap = std::map<std::string, Tensor>;

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual std::string hf_class() const = 0;
  virtual int64_t sampling_rate() const = 0;
  // The model inputs for `batch` (one clip per row): "input_features" or "input_values", and "attention_mask"
  // (i64) when the extractor returns one (return_attention_mask, or `attention_mask` = true).
  virtual FeatureMap operator()(const std::vector<Clip>& batch, bool attention_mask = false) const = 0;
};

// transformers.audio_utils.mel_filter_bank: [num_frequency_bins, num_mel_filters] triangular filters, float64.
// norm: "" or "slaney"; mel_scale: "htk", "slaney" or "kaldi".
std::vector<double> mel_filter_bank(int64_t num_frequency_bins, int64_t num_mel_filters, double min_frequency,
                                    double max_frequency, double sampling_rate, const std::string& norm,
                                    const std::string& mel_scale, bool triangularize_in_mel_space = false);

class WhisperFeatureExtractor : public FeatureExtractor {
 public:
  int64_t feature_size = 80, sampling_rate_ = 16000, hop_length = 160, n_fft = 400, n_samples = 480000;
  float padding_value = 0.0f;
  bool return_attention_mask = false;

  static WhisperFeatureExtractor from_json(const nlohmann::json& j, const std::string& source);
  std::string hf_class() const override { return "WhisperFeatureExtractor"; }
  int64_t sampling_rate() const override { return sampling_rate_; }
  int64_t frames() const { return n_samples / hop_length; }  // nb_max_frames
  // [1 + n_fft / 2, feature_size] as float32 (HF's self.mel_filters, then cast by the torch path).
  std::vector<float> mel_filters() const;
  // input_features [B, feature_size, frames()]; attention_mask [B, frames()] (1 where frame * hop < length).
  FeatureMap operator()(const std::vector<Clip>& batch, bool attention_mask = false) const override;
};

class Speech2TextFeatureExtractor : public FeatureExtractor {
 public:
  int64_t num_mel_bins = 80, sampling_rate_ = 16000;
  float padding_value = 0.0f;
  bool do_ceptral_normalize = true, normalize_means = true, normalize_vars = true, return_attention_mask = true;

  static Speech2TextFeatureExtractor from_json(const nlohmann::json& j, const std::string& source);
  std::string hf_class() const override { return "Speech2TextFeatureExtractor"; }
  int64_t sampling_rate() const override { return sampling_rate_; }
  // Kaldi fbank frames of one clip: [1 + (n - 400) / 160, num_mel_bins] log energies (before CMVN).
  std::vector<float> fbank(const Clip& clip, int64_t& frames) const;
  // input_features [B, longest, num_mel_bins] (right-padded), attention_mask [B, longest].
  FeatureMap operator()(const std::vector<Clip>& batch, bool attention_mask = false) const override;
};

class Wav2Vec2FeatureExtractor : public FeatureExtractor {
 public:
  int64_t sampling_rate_ = 16000;
  float padding_value = 0.0f;
  bool do_normalize = true, return_attention_mask = false;

  static Wav2Vec2FeatureExtractor from_json(const nlohmann::json& j, const std::string& source);
  std::string hf_class() const override { return "Wav2Vec2FeatureExtractor"; }
  int64_t sampling_rate() const override { return sampling_rate_; }
  // input_values [B, longest] (padding=True); each row normalised over its own length when an attention mask
  // is returned, else over the padded row (HF); attention_mask [B, longest].
  FeatureMap operator()(const std::vector<Clip>& batch, bool attention_mask = false) const override;
};

// The extractor named by `dir`/preprocessor_config.json (feature_extractor_type); NotFound when the file is
// missing, Unsupported for other extractor types.
std::unique_ptr<FeatureExtractor> load_feature_extractor(const std::string& dir);

}  // namespace ia::audio
