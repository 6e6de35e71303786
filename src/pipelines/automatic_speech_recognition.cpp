// `run automatic-speech-recognition`: transformers' AutomaticSpeechRecognitionPipeline for one clip per input
// (no chunking, no timestamps). Audio file -> feature extractor (preprocessor_config.json) -> model -> text:
// CTC argmax decoding for the wav2vec2 family (Wav2Vec2CTCTokenizer rules from vocab.json), generation plus
// tokenizer decoding for Whisper (init tokens from generation_config.json: forced_decoder_ids, language/task,
// <|notimestamps|>, language detection; suppress_tokens, begin_suppress_tokens) and Speech2Text.
// Output per input: {"text": ...}.
#include <filesystem>
#include <fstream>
#include <optional>

#include "audio/audio_io.h"
#include "audio/feature_extractors.h"
#include "core/error.h"
#include "models/model.h"
#include "models/seq2seq/seq2seq.h"
#include "ops/ops.h"
#include "pipelines/pipeline.h"
#include "text/tokenizer.h"

namespace ia::pipelines {
namespace {

namespace fs = std::filesystem;

bool is_ctc_model(const std::string& type, const std::string& cls) {
  return (type == "wav2vec2" || type == "hubert" || type == "data2vec-audio" || type == "wavlm") &&
         cls.size() > 6 && cls.compare(cls.size() - 6, 6, "ForCTC") == 0;
}

bool is_generative_model(const std::string& type, const std::string& cls) {
  return (type == "whisper" && cls == "WhisperForConditionalGeneration") ||
         (type == "speech_to_text" && cls == "Speech2TextForConditionalGeneration");
}

nlohmann::json read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in.good()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: not a JSON object", p.string());
  return j;
}

std::vector<int64_t> id_list(const nlohmann::json& j, const char* key) {
  std::vector<int64_t> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (j[key].is_number_integer()) return {j[key].get<int64_t>()};
  IA_CHECK(j[key].is_array(), ErrorKind::Format, "generation_config.json: '{}' must be a list of token ids", key);
  for (const auto& x : j[key]) out.push_back(x.get<int64_t>());
  return out;
}

// One input: an audio file path, or {"raw"|"array": [samples], "sampling_rate": N} like transformers.
audio::Clip load_clip(const nlohmann::json& in, int64_t rate) {
  if (in.is_string()) {
    audio::ReadOptions ro;
    ro.sample_rate = rate;
    return audio::read_audio(in.get<std::string>(), ro).samples;
  }
  IA_CHECK(in.is_object(), ErrorKind::InvalidArgument,
           "automatic-speech-recognition: an input is an audio file path or {{\"raw\": [...], \"sampling_rate\": N}}");
  const char* key = in.contains("raw") ? "raw" : "array";
  IA_CHECK(in.contains(key) && in[key].is_array() && in.contains("sampling_rate"), ErrorKind::InvalidArgument,
           "automatic-speech-recognition: an object input needs 'raw' (or 'array') samples and 'sampling_rate'");
  audio::Clip c = in[key].get<std::vector<float>>();
  IA_CHECK(!c.empty(), ErrorKind::InvalidArgument, "automatic-speech-recognition: empty 'raw' samples");
  return audio::resample(c, in["sampling_rate"].get<int64_t>(), rate, "raw input");
}

// Wav2Vec2CTCTokenizer.decode as the pipeline calls it for CTC (skip_special_tokens=False): collapse repeats,
// drop the pad (blank) token, word delimiter -> space, strip.
class CtcDecoder {
 public:
  explicit CtcDecoder(const std::string& dir) {
    const fs::path vp = fs::path(dir) / "vocab.json";
    const nlohmann::json vocab = read_json_file(vp);
    IA_CHECK(!vocab.empty(), ErrorKind::NotFound, "{}: no vocab.json (the CTC vocabulary)", dir);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const int64_t id = it.value().get<int64_t>();
      if (static_cast<int64_t>(tokens_.size()) <= id) tokens_.resize(id + 1);
      tokens_[id] = it.key();
    }
    const nlohmann::json tc = read_json_file(fs::path(dir) / "tokenizer_config.json");
    auto token = [&](const char* key, const std::string& fallback) {
      if (!tc.contains(key) || tc[key].is_null()) return fallback;
      if (tc[key].is_string()) return tc[key].get<std::string>();
      return tc[key].value("content", fallback);
    };
    pad_ = token("pad_token", "<pad>");
    delimiter_ = token("word_delimiter_token", "|");
  }

  std::string operator()(const std::vector<int64_t>& ids) const {
    std::string out;
    int64_t prev = -1;
    for (int64_t id : ids) {
      if (id == prev) continue;
      prev = id;
      IA_CHECK(id >= 0 && id < static_cast<int64_t>(tokens_.size()), ErrorKind::Format,
               "CTC id {} is outside vocab.json ({} tokens)", id, tokens_.size());
      const std::string& t = tokens_[id];
      if (t == pad_) continue;
      out += t == delimiter_ ? std::string(" ") : t;
    }
    const size_t a = out.find_first_not_of(' '), b = out.find_last_not_of(' ');
    return a == std::string::npos ? std::string() : out.substr(a, b - a + 1);
  }

 private:
  std::vector<std::string> tokens_;
  std::string pad_, delimiter_;
};

// WhisperGenerationMixin._retrieve_init_tokens without timestamps: <|startoftranscript|>, the language
// (given, forced, or detected from the first decoder step), the task, <|notimestamps|>.
std::vector<int64_t> whisper_init_tokens(Model& model, const audio::FeatureMap& features, const nlohmann::json& gc,
                                         int64_t start, const RunContext& ctx) {
  std::vector<std::optional<int64_t>> tokens{start};
  if (gc.contains("forced_decoder_ids") && gc["forced_decoder_ids"].is_array())
    for (const auto& pair : gc["forced_decoder_ids"]) {
      IA_CHECK(pair.is_array() && pair.size() == 2, ErrorKind::Format,
               "generation_config.json: forced_decoder_ids entries are [position, token]");
      const int64_t pos = pair[0].get<int64_t>();
      if (static_cast<int64_t>(tokens.size()) <= pos) tokens.resize(pos + 1);
      tokens[pos] = pair[1].is_null() ? std::nullopt : std::optional<int64_t>(pair[1].get<int64_t>());
    }
  const nlohmann::json lang_to_id = gc.value("lang_to_id", nlohmann::json::object());
  const nlohmann::json task_to_id = gc.value("task_to_id", nlohmann::json::object());
  const bool multilingual = gc.value("is_multilingual", !lang_to_id.empty());
  if (ctx.has_param("language")) {
    std::string lang = ctx.param_string("language", "");
    if (lang.rfind("<|", 0) != 0) lang = "<|" + lang + "|>";
    IA_CHECK(lang_to_id.contains(lang), ErrorKind::InvalidArgument,
             "language {} is not in this model's generation_config.json lang_to_id", lang);
    if (tokens.size() < 2) tokens.resize(2);
    tokens[1] = lang_to_id[lang].get<int64_t>();
  } else if (multilingual && !lang_to_id.empty() && (tokens.size() < 2 || !tokens[1])) {
    // detect_language: the first decoder step after <|startoftranscript|>, argmax over the language tokens.
    TensorMap in = features;
    in["decoder_input_ids"] = Tensor::from_vector<int64_t>({start}, {1, 1});
    Tensor logits;
    for (auto& [n, t] : model.forward(in, {}))
      if (n == "logits") logits = t;
    const std::vector<float> lv = logits.to(Device::cpu()).contiguous().to_vector<float>();
    int64_t best = -1;
    for (auto it = lang_to_id.begin(); it != lang_to_id.end(); ++it) {
      const int64_t id = it.value().get<int64_t>();
      if (id >= 0 && id < static_cast<int64_t>(lv.size()) && (best < 0 || lv[id] > lv[best] ||
                                                              (lv[id] == lv[best] && id < best)))
        best = id;
    }
    if (best >= 0) {
      if (tokens.size() < 2) tokens.resize(2);
      tokens[1] = best;
    }
  }
  if (ctx.has_param("task")) {
    const std::string task = ctx.param_string("task", "");
    IA_CHECK(task_to_id.contains(task), ErrorKind::InvalidArgument,
             "task {} is not in this model's generation_config.json task_to_id", task);
    if (tokens.size() < 3) tokens.resize(3);
    tokens[2] = task_to_id[task].get<int64_t>();
  } else if (multilingual && task_to_id.contains("transcribe")) {
    bool has_task = false;
    for (const auto& t : tokens)
      for (auto it = task_to_id.begin(); it != task_to_id.end(); ++it)
        has_task = has_task || (t && *t == it.value().get<int64_t>());
    if (!has_task) {
      if (tokens.size() < 3) tokens.resize(3);
      if (!tokens[2]) tokens[2] = task_to_id["transcribe"].get<int64_t>();
    }
  }
  std::vector<int64_t> out;
  for (const auto& t : tokens)
    if (t) out.push_back(*t);
  if (gc.contains("no_timestamps_token_id") && gc["no_timestamps_token_id"].is_number_integer()) {
    const int64_t nt = gc["no_timestamps_token_id"].get<int64_t>();
    if (out.back() != nt) out.push_back(nt);
  }
  return out;
}

nlohmann::json run_asr(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  LoadOptions lo;
  lo.device = ctx.device;
  auto model = load_model(ctx.model_dir, lo);
  const auto extractor = audio::load_feature_extractor(ctx.model_dir);
  const bool ctc = is_ctc_model(model->model_type(), model->hf_class());
  IA_CHECK(ctx.param_int("num_beams", 1) == 1, ErrorKind::Unsupported,
           "unsupported: num_beams > 1 for automatic-speech-recognition (greedy decoding only)");
  IA_CHECK(!ctx.param_bool("return_timestamps", false), ErrorKind::Unsupported,
           "unsupported: return_timestamps for automatic-speech-recognition");
  std::optional<CtcDecoder> ctc_decoder;
  std::optional<text::Tokenizer> tokenizer;
  if (ctc)
    ctc_decoder.emplace(ctx.model_dir);
  else
    tokenizer.emplace(text::Tokenizer::from_dir(ctx.model_dir));
  const nlohmann::json gc = read_json_file(fs::path(ctx.model_dir) / "generation_config.json");
  const ModelConfig& cfg = model->config();

  nlohmann::json out = nlohmann::json::array();
  for (const auto& input : inputs) {
    const audio::Clip clip = load_clip(input, extractor->sampling_rate());
    const audio::FeatureMap features = (*extractor)({clip});
    TensorMap in(features.begin(), features.end());
    if (ctc) {
      Tensor logits;
      for (auto& [n, t] : model->forward(in, {}))
        if (n == "logits") logits = t;
      IA_CHECK(logits.defined(), ErrorKind::Backend, "{}: the model returned no logits", ctx.model_dir);
      const Tensor ids = ops::argmax(logits.to(Device::cpu())).contiguous();  // [1, frames]
      out.push_back({{"text", (*ctc_decoder)(ids.to_vector<int64_t>())}});
      continue;
    }
    auto* s2s = dynamic_cast<seq2seq::Seq2SeqLM*>(model.get());
    IA_CHECK(s2s, ErrorKind::Unsupported, "unsupported: {} is not an encoder-decoder model", model->hf_class());
    GenerationRequest req;
    seq2seq::DecoderPromptRules rules;
    const int64_t start = gc.value("decoder_start_token_id", cfg.dim_or("decoder_start_token_id", 0, 0));
    req.decoder_start_token_id = start;
    req.eos_token_ids = id_list(gc.contains("eos_token_id") ? gc : cfg.json(), "eos_token_id");
    req.pad_token_id = gc.value("pad_token_id", cfg.dim_or("pad_token_id", 0, 0));
    rules.suppress_tokens = id_list(gc.contains("suppress_tokens") ? gc : cfg.json(), "suppress_tokens");
    rules.begin_suppress_tokens =
        id_list(gc.contains("begin_suppress_tokens") ? gc : cfg.json(), "begin_suppress_tokens");
    if (model->model_type() == "whisper") {
      rules.decoder_prompt = whisper_init_tokens(*model, features, gc, start, ctx);
      in.erase("attention_mask");
    }
    const int64_t prompt = rules.decoder_prompt.empty() ? 1 : static_cast<int64_t>(rules.decoder_prompt.size());
    const int64_t max_length = gc.value("max_length", cfg.dim_or("max_length", 20, 1));
    int64_t max_new = ctx.param_int("max_new_tokens", max_length - prompt);
    const int64_t target = cfg.dim_or("max_target_positions", 0, 0);
    if (target > 0) max_new = std::min(max_new, target - prompt);
    IA_CHECK(max_new >= 1, ErrorKind::InvalidArgument, "automatic-speech-recognition: max_new_tokens {} < 1",
             max_new);
    req.max_new_tokens = max_new;
    const Tensor seq = [&] {
      for (auto& [n, t] : s2s->generate(in, req, rules))
        if (n == "generated_ids") return t;
      return Tensor();
    }();
    std::vector<uint32_t> ids;
    for (int64_t t : seq.to_vector<int64_t>()) ids.push_back(static_cast<uint32_t>(t));
    out.push_back({{"text", tokenizer->decode(ids, /*skip_special_tokens=*/true)}});
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(automatic_speech_recognition,
                 {"automatic-speech-recognition",
                  {},
                  "Transcribe audio files (wav/flac): Whisper, Speech2Text, wav2vec2-family CTC",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::is_ctc_model(c.model_type(), cls) ||
                           ia::pipelines::is_generative_model(c.model_type(), cls);
                  },
                  ia::pipelines::run_asr})
