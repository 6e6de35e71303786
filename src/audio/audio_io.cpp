#include "audio/audio_io.h"

#include <sndfile.h>
#include <soxr.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace ia::audio {

std::vector<float> resample(const std::vector<float>& samples, int64_t from_rate, int64_t to_rate,
                            const std::string& what) {
  IA_CHECK(from_rate > 0 && to_rate > 0, ErrorKind::InvalidArgument, "{}: cannot resample {} Hz to {} Hz", what,
           from_rate, to_rate);
  if (from_rate == to_rate || samples.empty()) return samples;
  // librosa.resample: ceil(n * ratio) output samples (util.fix_length after soxr).
  const size_t out_len = static_cast<size_t>(
      std::ceil(static_cast<double>(samples.size()) * static_cast<double>(to_rate) / static_cast<double>(from_rate)));
  std::vector<float> out(out_len + 16, 0.0f);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  size_t done = 0;
  const soxr_error_t err = soxr_oneshot(static_cast<double>(from_rate), static_cast<double>(to_rate), 1,
                                        samples.data(), samples.size(), nullptr, out.data(), out.size(), &done, &io,
                                        &q, nullptr);
  IA_CHECK(err == nullptr, ErrorKind::Backend, "{}: libsoxr resampling {} Hz -> {} Hz failed: {}", what, from_rate,
           to_rate, err ? err : "");
  out.resize(done);
  out.resize(out_len, 0.0f);
  return out;
}

AudioClip read_audio(const std::string& path, const ReadOptions& opts) {
  namespace fs = std::filesystem;
  std::error_code ec;
  IA_CHECK(fs::exists(path, ec), ErrorKind::Io, "{}: no such audio file", path);
  IA_CHECK(fs::is_regular_file(path, ec), ErrorKind::Io, "{}: not a regular file", path);
  IA_CHECK(fs::file_size(path, ec) > 0, ErrorKind::Format, "{}: empty file (no audio)", path);
  SF_INFO info{};
  SNDFILE* raw = sf_open(path.c_str(), SFM_READ, &info);
  IA_CHECK(raw != nullptr, ErrorKind::Format, "{}: cannot decode audio ({})", path, sf_strerror(nullptr));
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> file(raw, sf_close);
  IA_CHECK(info.channels > 0 && info.samplerate > 0, ErrorKind::Format, "{}: invalid header ({} channels, {} Hz)",
           path, info.channels, info.samplerate);
  IA_CHECK(info.frames > 0, ErrorKind::Format, "{}: no audio samples", path);
  const double seconds = static_cast<double>(info.frames) / info.samplerate;
  IA_CHECK(opts.max_seconds <= 0 || seconds <= opts.max_seconds, ErrorKind::InvalidArgument,
           "{}: {:.1f} s of audio exceeds the limit of {:.0f} s (long-form audio is not supported)", path, seconds,
           opts.max_seconds);

  AudioClip clip;
  clip.source_rate = info.samplerate;
  clip.source_channels = info.channels;
  clip.samples.reserve(static_cast<size_t>(info.frames));
  const int64_t C = info.channels, block = 1 << 15;
  std::vector<float> buf(static_cast<size_t>(block * C));
  int64_t total = 0;
  while (total < info.frames) {
    const sf_count_t got = sf_readf_float(file.get(), buf.data(), block);
    IA_CHECK(sf_error(file.get()) == SF_ERR_NO_ERROR, ErrorKind::Format, "{}: corrupt audio data after {} frames ({})",
             path, total, sf_strerror(file.get()));
    if (got <= 0) break;
    for (sf_count_t f = 0; f < got; ++f) {
      if (C == 1) {
        clip.samples.push_back(buf[f]);
        continue;
      }
      float sum = 0.0f;
      for (int64_t c = 0; c < C; ++c) sum += buf[f * C + c];
      clip.samples.push_back(sum / static_cast<float>(C));
    }
    total += got;
  }
  IA_CHECK(total == info.frames, ErrorKind::Format, "{}: truncated or corrupt audio: decoded {} of {} frames", path,
           total, info.frames);
  clip.sample_rate = info.samplerate;
  if (opts.sample_rate > 0 && opts.sample_rate != info.samplerate) {
    clip.samples = resample(clip.samples, info.samplerate, opts.sample_rate, path);
    clip.sample_rate = opts.sample_rate;
  }
  return clip;
}

}  // namespace ia::audio
