// Reading audio files for the speech models: libsndfile decodes (WAV, FLAC, Ogg/Vorbis, ...), channels are
// averaged to mono (librosa.to_mono / transformers' ffmpeg_read -ac 1) and other sample rates are resampled
// with libsoxr at its HQ setting (what librosa.load(sr=...) uses by default, res_type="soxr_hq").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ia::audio {

struct AudioClip {
  std::vector<float> samples;  // mono, in [-1, 1] (int PCM / 2^(bits-1), as soundfile returns)
  int64_t sample_rate = 0;
  int64_t source_rate = 0;      // the file's rate before resampling
  int64_t source_channels = 0;
};

struct ReadOptions {
  int64_t sample_rate = 16000;  // target rate; 0 keeps the file's rate
  // Longest clip accepted, checked from the header before decoding (memory stays bounded); longer files are an
  // InvalidArgument naming the file. 0: no limit.
  double max_seconds = 600.0;
};

// Throws ia::Error naming the file: Io (missing/unreadable), Format (not decodable, empty, corrupt data),
// InvalidArgument (longer than max_seconds).
AudioClip read_audio(const std::string& path, const ReadOptions& opts = {});

// libsoxr HQ resampling of mono samples (`what` names the source in errors).
std::vector<float> resample(const std::vector<float>& samples, int64_t from_rate, int64_t to_rate,
                            const std::string& what);

}  // namespace ia::audio
