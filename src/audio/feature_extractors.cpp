#include "audio/feature_extractors.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace ia::audio {
namespace {

using cd = std::complex<double>;

// Mixed-radix decimation-in-time FFT of any size (radix = smallest prime factor at each level), float64.
class Fft {
 public:
  explicit Fft(int64_t n) : n_(n), tw_(n) {
    for (int64_t k = 0; k < n; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n);
      tw_[k] = cd(std::cos(a), std::sin(a));
    }
  }
  // out[k] = sum_j in[j] exp(-2 pi i j k / n), k in [0, n).
  void operator()(const double* in, cd* out) const { rec(in, 1, out, n_, 1); }

 private:
  void rec(const double* in, int64_t stride, cd* out, int64_t n, int64_t tw_step) const {
    if (n == 1) {
      out[0] = cd(in[0], 0.0);
      return;
    }
    int64_t p = 2;
    while (n % p != 0 && p * p <= n) ++p;
    if (n % p != 0) p = n;
    const int64_t m = n / p;
    for (int64_t r = 0; r < p; ++r) rec(in + r * stride, stride * p, out + r * m, m, tw_step * p);
    cd tmp[64];
    std::vector<cd> big;
    cd* y = tmp;
    if (p > 64) {
      big.resize(p);
      y = big.data();
    }
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t r = 0; r < p; ++r) y[r] = out[r * m + k];
      for (int64_t q = 0; q < p; ++q) {
        const int64_t kk = k + q * m;
        cd s = y[0];
        for (int64_t r = 1; r < p; ++r) s += tw_[(r * kk * tw_step) % n_] * y[r];
        out[kk] = s;
      }
    }
  }
  int64_t n_;
  std::vector<cd> tw_;
};

double hertz_to_mel(double f, const std::string& scale) {
  if (scale == "htk") return 2595.0 * std::log10(1.0 + f / 700.0);
  if (scale == "kaldi") return 1127.0 * std::log(1.0 + f / 700.0);
  const double min_log_hertz = 1000.0, min_log_mel = 15.0, logstep = 27.0 / std::log(6.4);
  return f >= min_log_hertz ? min_log_mel + std::log(f / min_log_hertz) * logstep : 3.0 * f / 200.0;
}

double mel_to_hertz(double m, const std::string& scale) {
  if (scale == "htk") return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
  if (scale == "kaldi") return 700.0 * (std::exp(m / 1127.0) - 1.0);
  const double min_log_hertz = 1000.0, min_log_mel = 15.0, logstep = std::log(6.4) / 27.0;
  return m >= min_log_mel ? min_log_hertz * std::exp(logstep * (m - min_log_mel)) : 200.0 * m / 3.0;
}

// numpy.linspace(start, stop, num).
std::vector<double> linspace(double start, double stop, int64_t num) {
  std::vector<double> v(num);
  const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
  for (int64_t i = 0; i < num; ++i) v[i] = start + static_cast<double>(i) * step;
  if (num > 1) v[num - 1] = stop;
  return v;
}

template <typename T>
T json_or(const nlohmann::json& j, const char* key, T fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(ErrorKind::Format, "{}: field '{}' has the wrong type", source, key);
  }
}

void check_batch(const std::vector<Clip>& batch, const std::string& who) {
  IA_CHECK(!batch.empty(), ErrorKind::InvalidArgument, "{}: empty batch", who);
  for (size_t i = 0; i < batch.size(); ++i)
    IA_CHECK(!batch[i].empty(), ErrorKind::InvalidArgument, "{}: clip {} has no samples", who, i);
}

Tensor mask_tensor(const std::vector<int64_t>& lengths, int64_t width) {
  std::vector<int64_t> m(lengths.size() * width, 0);
  for (size_t b = 0; b < lengths.size(); ++b)
    std::fill(m.begin() + b * width, m.begin() + b * width + std::min(lengths[b], width), 1);
  return Tensor::from_vector<int64_t>(m, {static_cast<int64_t>(lengths.size()), width});
}

}  // namespace

std::vector<double> mel_filter_bank(int64_t num_frequency_bins, int64_t num_mel_filters, double min_frequency,
                                    double max_frequency, double sampling_rate, const std::string& norm,
                                    const std::string& mel_scale, bool triangularize_in_mel_space) {
  IA_CHECK(norm.empty() || norm == "slaney", ErrorKind::Unsupported, "unsupported mel filter norm '{}'", norm);
  IA_CHECK(mel_scale == "htk" || mel_scale == "slaney" || mel_scale == "kaldi", ErrorKind::Unsupported,
           "unsupported mel scale '{}'", mel_scale);
  const std::vector<double> mel_freqs = linspace(hertz_to_mel(min_frequency, mel_scale),
                                                 hertz_to_mel(max_frequency, mel_scale), num_mel_filters + 2);
  std::vector<double> filter_freqs(mel_freqs.size()), fft_freqs;
  if (triangularize_in_mel_space) {
    const double bin_width = sampling_rate / static_cast<double>(num_frequency_bins * 2);
    for (int64_t i = 0; i < num_frequency_bins; ++i)
      fft_freqs.push_back(hertz_to_mel(bin_width * static_cast<double>(i), mel_scale));
    filter_freqs = mel_freqs;
  } else {
    for (size_t i = 0; i < mel_freqs.size(); ++i) filter_freqs[i] = mel_to_hertz(mel_freqs[i], mel_scale);
    fft_freqs = linspace(0.0, std::floor(sampling_rate / 2.0), num_frequency_bins);
  }
  // _create_triangular_filter_bank: max(0, min(down slope, up slope)).
  std::vector<double> out(num_frequency_bins * num_mel_filters);
  for (int64_t f = 0; f < num_frequency_bins; ++f)
    for (int64_t m = 0; m < num_mel_filters; ++m) {
      const double down = -(filter_freqs[m] - fft_freqs[f]) / (filter_freqs[m + 1] - filter_freqs[m]);
      const double up = (filter_freqs[m + 2] - fft_freqs[f]) / (filter_freqs[m + 2] - filter_freqs[m + 1]);
      double v = std::max(0.0, std::min(down, up));
      if (norm == "slaney") v *= 2.0 / (filter_freqs[m + 2] - filter_freqs[m]);
      out[f * num_mel_filters + m] = v;
    }
  return out;
}

// ---------------------------------------------------------------------------------------------- Whisper

namespace {

// A size read from preprocessor_config.json, refused outside [lo, hi] before anything is allocated from it
// (found by fuzzing: feature_size / chunk_length in the millions asked for terabytes).
int64_t bounded(const nlohmann::json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi,
                const std::string& source) {
  const int64_t v = json_or<int64_t>(j, key, fallback, source);
  IA_CHECK(v >= lo && v <= hi, ErrorKind::Format, "{}: {} = {} is out of range [{}, {}]", source, key, v, lo, hi);
  return v;
}

}  // namespace

WhisperFeatureExtractor WhisperFeatureExtractor::from_json(const nlohmann::json& j, const std::string& source) {
  WhisperFeatureExtractor fe;
  fe.feature_size = bounded(j, "feature_size", 80, 1, 1024, source);
  fe.sampling_rate_ = bounded(j, "sampling_rate", 16000, 1, 384000, source);
  fe.hop_length = bounded(j, "hop_length", 160, 1, 65536, source);
  fe.n_fft = bounded(j, "n_fft", 400, 2, 65536, source);
  const int64_t chunk = bounded(j, "chunk_length", 30, 1, 3600, source);
  fe.n_samples = bounded(j, "n_samples", chunk * fe.sampling_rate_, 1, 3600 * fe.sampling_rate_, source);
  IA_CHECK(fe.feature_size * (fe.n_samples / fe.hop_length) <= (int64_t(1) << 28), ErrorKind::Format,
           "{}: {} mel bins x {} frames per clip is more than 2^28 features", source, fe.feature_size,
           fe.n_samples / fe.hop_length);
  fe.padding_value = json_or<float>(j, "padding_value", 0.0f, source);
  fe.return_attention_mask = json_or<bool>(j, "return_attention_mask", false, source);
  IA_CHECK(fe.feature_size > 0 && fe.hop_length > 0 && fe.n_fft > 1 && fe.n_samples >= fe.hop_length &&
               fe.sampling_rate_ > 0,
           ErrorKind::Format, "{}: invalid WhisperFeatureExtractor settings", source);
  return fe;
}

std::vector<float> WhisperFeatureExtractor::mel_filters() const {
  const std::vector<double> f = mel_filter_bank(1 + n_fft / 2, feature_size, 0.0, 8000.0,
                                                static_cast<double>(sampling_rate_), "slaney", "slaney");
  return std::vector<float>(f.begin(), f.end());
}

FeatureMap WhisperFeatureExtractor::operator()(const std::vector<Clip>& batch, bool attention_mask) const {
  check_batch(batch, hf_class());
  const int64_t B = static_cast<int64_t>(batch.size()), bins = 1 + n_fft / 2, T = frames(), M = feature_size;
  IA_CHECK(n_samples > n_fft / 2, ErrorKind::InvalidArgument, "{}: n_samples {} too short for n_fft {}", hf_class(),
           n_samples, n_fft);
  const std::vector<float> filters = mel_filters();
  // torch.hann_window(n_fft) (periodic).
  std::vector<double> window(n_fft);
  for (int64_t i = 0; i < n_fft; ++i)
    window[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * static_cast<double>(i) / n_fft));
  const Fft fft(n_fft);
  std::vector<float> out(B * M * T);
  std::vector<int64_t> lengths;
  std::vector<double> frame(n_fft);
  std::vector<cd> spec(n_fft);
  std::vector<float> power(bins);
  for (int64_t b = 0; b < B; ++b) {
    // Pad with padding_value (or truncate) to n_samples, then reflect-pad n_fft / 2 on both sides (center=True).
    std::vector<float> x(n_samples, padding_value);
    const int64_t len = std::min<int64_t>(static_cast<int64_t>(batch[b].size()), n_samples);
    std::copy(batch[b].begin(), batch[b].begin() + len, x.begin());
    lengths.push_back(len);
    const int64_t half = n_fft / 2, N = n_samples;
    auto at = [&](int64_t i) {
      int64_t j = i - half;
      if (j < 0) j = -j;
      if (j >= N) j = 2 * N - 2 - j;
      return static_cast<double>(x[j]);
    };
    std::vector<float> mel(M * T);
    for (int64_t t = 0; t < T; ++t) {  // the STFT's last frame is dropped
      for (int64_t i = 0; i < n_fft; ++i) frame[i] = at(t * hop_length + i) * window[i];
      fft(frame.data(), spec.data());
      for (int64_t k = 0; k < bins; ++k) {
        const float re = static_cast<float>(spec[k].real()), im = static_cast<float>(spec[k].imag());
        power[k] = re * re + im * im;
      }
      for (int64_t m = 0; m < M; ++m) {
        float s = 0.0f;
        for (int64_t k = 0; k < bins; ++k) s += filters[k * M + m] * power[k];
        mel[m * T + t] = s;
      }
    }
    float mx = -std::numeric_limits<float>::infinity();
    for (float& v : mel) {
      v = std::log10(std::max(v, 1e-10f));
      mx = std::max(mx, v);
    }
    float* o = out.data() + b * M * T;
    for (int64_t i = 0; i < M * T; ++i) o[i] = (std::max(mel[i], mx - 8.0f) + 4.0f) / 4.0f;
  }
  FeatureMap fm;
  fm["input_features"] = Tensor::from_vector<float>(out, {B, M, T});
  if (attention_mask || return_attention_mask) {
    // HF: the sample-level padding mask, every hop_length-th entry.
    std::vector<int64_t> frames_real;
    for (int64_t len : lengths) frames_real.push_back((len + hop_length - 1) / hop_length);
    fm["attention_mask"] = mask_tensor(frames_real, T);
  }
  return fm;
}

// ---------------------------------------------------------------------------------------------- Speech2Text

Speech2TextFeatureExtractor Speech2TextFeatureExtractor::from_json(const nlohmann::json& j,
                                                                   const std::string& source) {
  Speech2TextFeatureExtractor fe;
  fe.num_mel_bins = bounded(j, "num_mel_bins", 80, 1, 1024, source);
  fe.sampling_rate_ = bounded(j, "sampling_rate", 16000, 1, 384000, source);
  fe.padding_value = json_or<float>(j, "padding_value", 0.0f, source);
  fe.do_ceptral_normalize = json_or<bool>(j, "do_ceptral_normalize", true, source);
  fe.normalize_means = json_or<bool>(j, "normalize_means", true, source);
  fe.normalize_vars = json_or<bool>(j, "normalize_vars", true, source);
  fe.return_attention_mask = json_or<bool>(j, "return_attention_mask", true, source);
  IA_CHECK(fe.num_mel_bins > 0 && fe.sampling_rate_ > 0, ErrorKind::Format,
           "{}: invalid Speech2TextFeatureExtractor settings", source);
  return fe;
}

std::vector<float> Speech2TextFeatureExtractor::fbank(const Clip& clip, int64_t& frames) const {
  constexpr int64_t kFrame = 400, kHop = 160, kFft = 512, kBins = kFft / 2 + 1;
  const int64_t M = num_mel_bins;
  IA_CHECK(static_cast<int64_t>(clip.size()) >= kFrame, ErrorKind::InvalidArgument,
           "{}: {} samples are fewer than one 400-sample frame", hf_class(), clip.size());
  frames = 1 + (static_cast<int64_t>(clip.size()) - kFrame) / kHop;
  // Kaldi mel banks (HF numpy path): 256 FFT bins triangularised in mel space, plus a zero row for Nyquist.
  const std::vector<double> banks = mel_filter_bank(kFft / 2, M, 20.0, static_cast<double>(sampling_rate_ / 2),
                                                    static_cast<double>(sampling_rate_), "", "kaldi", true);
  std::vector<double> window(kFrame);  // povey: symmetric hann ^ 0.85
  for (int64_t i = 0; i < kFrame; ++i)
    window[i] = std::pow(0.5 - 0.5 * std::cos(2.0 * M_PI * static_cast<double>(i) / (kFrame - 1)), 0.85);
  const Fft fft(kFft);
  std::vector<double> buf(kFft);
  std::vector<cd> spec(kFft);
  std::vector<double> power(kBins);
  std::vector<float> out(frames * M);
  const double floor = std::numeric_limits<float>::epsilon();
  for (int64_t t = 0; t < frames; ++t) {
    std::fill(buf.begin(), buf.end(), 0.0);
    double mean = 0.0;
    for (int64_t i = 0; i < kFrame; ++i) {
      buf[i] = static_cast<double>(clip[t * kHop + i] * 32768.0f);  // Kaldi's int16 scale, float32 like HF
      mean += buf[i];
    }
    mean /= kFrame;
    for (int64_t i = 0; i < kFrame; ++i) buf[i] -= mean;  // remove_dc_offset
    for (int64_t i = kFrame - 1; i >= 1; --i) buf[i] -= 0.97 * buf[i - 1];  // pre-emphasis
    buf[0] *= 1.0 - 0.97;
    for (int64_t i = 0; i < kFrame; ++i) buf[i] *= window[i];
    fft(buf.data(), spec.data());
    for (int64_t k = 0; k < kBins; ++k) {  // HF stores the spectrum as complex64
      const double re = static_cast<float>(spec[k].real()), im = static_cast<float>(spec[k].imag());
      power[k] = re * re + im * im;
    }
    for (int64_t m = 0; m < M; ++m) {
      double s = 0.0;
      for (int64_t k = 0; k < kBins - 1; ++k) s += banks[k * M + m] * power[k];
      out[t * M + m] = static_cast<float>(std::log(std::max(floor, s)));
    }
  }
  return out;
}

FeatureMap Speech2TextFeatureExtractor::operator()(const std::vector<Clip>& batch, bool attention_mask) const {
  check_batch(batch, hf_class());
  const int64_t B = static_cast<int64_t>(batch.size()), M = num_mel_bins;
  std::vector<std::vector<float>> feats(B);
  std::vector<int64_t> lengths(B);
  int64_t T = 0;
  for (int64_t b = 0; b < B; ++b) {
    feats[b] = fbank(batch[b], lengths[b]);
    T = std::max(T, lengths[b]);
  }
  std::vector<float> out(B * T * M, padding_value);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = lengths[b];
    std::vector<double> x(feats[b].begin(), feats[b].end());
    if (do_ceptral_normalize) {  // utterance_cmvn over the unpadded frames (population std)
      for (int64_t m = 0; m < M; ++m) {
        double mean = 0.0;
        for (int64_t t = 0; t < n; ++t) mean += x[t * M + m];
        mean /= static_cast<double>(n);
        if (normalize_means)
          for (int64_t t = 0; t < n; ++t) x[t * M + m] -= mean;
        if (normalize_vars) {
          double mu = 0.0, var = 0.0;
          for (int64_t t = 0; t < n; ++t) mu += x[t * M + m];
          mu /= static_cast<double>(n);
          for (int64_t t = 0; t < n; ++t) var += (x[t * M + m] - mu) * (x[t * M + m] - mu);
          const double sd = std::sqrt(var / static_cast<double>(n));
          // HF divides by it anyway and returns NaN features (found by fuzzing: digital silence, one frame).
          IA_CHECK(sd > 0.0, ErrorKind::InvalidArgument,
                   "{}: clip {} cannot be normalized (utterance CMVN): mel bin {} is constant over its {} frame(s), "
                   "so its variance is 0 (a silent or constant clip, or one shorter than 2 frames = 560 samples)",
                   hf_class(), b, m, n);
          for (int64_t t = 0; t < n; ++t) x[t * M + m] /= sd;
        }
      }
    }
    for (int64_t i = 0; i < n * M; ++i) out[b * T * M + i] = static_cast<float>(x[i]);
  }
  FeatureMap fm;
  fm["input_features"] = Tensor::from_vector<float>(out, {B, T, M});
  if (attention_mask || return_attention_mask) fm["attention_mask"] = mask_tensor(lengths, T);
  return fm;
}

// ---------------------------------------------------------------------------------------------- Wav2Vec2

Wav2Vec2FeatureExtractor Wav2Vec2FeatureExtractor::from_json(const nlohmann::json& j, const std::string& source) {
  Wav2Vec2FeatureExtractor fe;
  const int64_t feature_size = json_or<int64_t>(j, "feature_size", 1, source);
  IA_CHECK(feature_size == 1, ErrorKind::Unsupported, "{}: unsupported Wav2Vec2FeatureExtractor feature_size {}",
           source, feature_size);
  fe.sampling_rate_ = bounded(j, "sampling_rate", 16000, 1, 384000, source);
  fe.padding_value = json_or<float>(j, "padding_value", 0.0f, source);
  fe.do_normalize = json_or<bool>(j, "do_normalize", true, source);
  fe.return_attention_mask = json_or<bool>(j, "return_attention_mask", false, source);
  const std::string side = json_or<std::string>(j, "padding_side", "right", source);
  IA_CHECK(side == "right", ErrorKind::Unsupported, "{}: unsupported padding_side '{}'", source, side);
  return fe;
}

FeatureMap Wav2Vec2FeatureExtractor::operator()(const std::vector<Clip>& batch, bool attention_mask) const {
  check_batch(batch, hf_class());
  const int64_t B = static_cast<int64_t>(batch.size());
  const bool with_mask = attention_mask || return_attention_mask;
  int64_t L = 0;
  std::vector<int64_t> lengths;
  for (const auto& c : batch) {
    lengths.push_back(static_cast<int64_t>(c.size()));
    L = std::max(L, lengths.back());
  }
  std::vector<float> out(B * L, padding_value);
  for (int64_t b = 0; b < B; ++b) {
    float* row = out.data() + b * L;
    std::copy(batch[b].begin(), batch[b].end(), row);
    if (!do_normalize) continue;
    // zero_mean_unit_var_norm: statistics over the row's own length with a mask, else over the padded row.
    const int64_t n = with_mask ? lengths[b] : L;
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += row[i];
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= static_cast<double>(n);
    const double inv = 1.0 / std::sqrt(var + 1e-7);
    for (int64_t i = 0; i < L; ++i) row[i] = static_cast<float>((row[i] - mean) * inv);
    if (with_mask)
      for (int64_t i = n; i < L; ++i) row[i] = padding_value;
  }
  FeatureMap fm;
  fm["input_values"] = Tensor::from_vector<float>(out, {B, L});
  if (with_mask) fm["attention_mask"] = mask_tensor(lengths, L);
  return fm;
}

std::unique_ptr<FeatureExtractor> load_feature_extractor(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "preprocessor_config.json").string();
  std::ifstream in(path);
  IA_CHECK(in.good(), ErrorKind::NotFound, "{}: no preprocessor_config.json (the audio feature extractor settings)",
           dir);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: not a JSON object", path);
  const std::string type = json_or<std::string>(j, "feature_extractor_type", "", path);
  if (type == "WhisperFeatureExtractor")
    return std::make_unique<WhisperFeatureExtractor>(WhisperFeatureExtractor::from_json(j, path));
  if (type == "Speech2TextFeatureExtractor")
    return std::make_unique<Speech2TextFeatureExtractor>(Speech2TextFeatureExtractor::from_json(j, path));
  if (type == "Wav2Vec2FeatureExtractor")
    return std::make_unique<Wav2Vec2FeatureExtractor>(Wav2Vec2FeatureExtractor::from_json(j, path));
  fail(ErrorKind::Unsupported, "{}: unsupported feature_extractor_type '{}'", path, type);
}

}  // namespace ia::audio
