// Inputs and HF output specs of each family's test class (see model_test.h for the checks they share).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "audio/audio_io.h"
#include "audio/feature_extractors.h"
#include "models/diffusion/random_pipeline.h"
#include "models/diffusion/stable_diffusion.h"
#include "models/layers.h"
#include "testing/catalog.h"
#include "testing/model_test.h"
#include "vision/image_io.h"
#include "vision/image_processor.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace ia::suite {

namespace {

int64_t max_len(const std::vector<Row>& rows) {
  int64_t s = 0;
  for (const auto& r : rows) s = std::max(s, r.length);
  return s;
}

int64_t int_or(const json& c, const char* k, int64_t fallback) {
  return c.contains(k) && c[k].is_number_integer() ? c[k].get<int64_t>() : fallback;
}

int64_t image_size(const json& c) {
  for (const json* x : {&c, c.contains("vision_config") ? &c["vision_config"] : &c}) {
    if (x->contains("image_size")) {
      const json& v = (*x)["image_size"];
      if (v.is_number_integer()) return v.get<int64_t>();
      if (v.is_array() && !v.empty()) return v[0].get<int64_t>();
    }
  }
  return 32;
}

int64_t channels(const json& c) {
  if (c.contains("vision_config")) return int_or(c["vision_config"], "num_channels", 3);
  return int_or(c, "num_channels", 3);
}

// The suite's real images (tests/data/images beside the catalog), decoded once like Pillow.
const std::vector<vision::ImageU8>& suite_images() {
  static const std::vector<vision::ImageU8> images = [] {
    const auto dir = std::filesystem::path(default_catalog_dir()).parent_path() / "tests" / "data" / "images";
    std::vector<vision::ImageU8> out;
    for (const char* f : {"coco_000000039769_two_cats.png", "australia.jpg", "llama_cute.jpg"})
      out.push_back(vision::read_image((dir / f).string()));
    return out;
  }();
  return images;
}

// The HF image processor class a model's checkpoints use ("" when the suite has none for it).
std::string processor_class(const std::string& model_type) {
  static const std::map<std::string, std::string> by_type = {
      {"llava", "CLIPImageProcessor"},  {"clip", "CLIPImageProcessor"},       {"chinese_clip", "CLIPImageProcessor"},
      {"blip", "BlipImageProcessor"},   {"siglip", "SiglipImageProcessor"},   {"vision-encoder-decoder", "ViTImageProcessor"},
      {"trocr", "ViTImageProcessor"},   {"altclip", "CLIPImageProcessor"}};
  auto it = by_type.find(model_type);
  return it == by_type.end() ? "" : it->second;
}

// pixel_values [B, 3, s, s] of real images (row r gets image r.id) through the model's HF image processor
// configured for the tiny image size; undefined when the model has no processor here or is not RGB.
Tensor real_pixels(const std::vector<Row>& rows, const std::string& model_type, int64_t s, int64_t c) {
  const std::string cls = processor_class(model_type);
  if (cls.empty() || c != 3) return Tensor();
  json pj = {{"size", {{"height", s}, {"width", s}}}};
  if (cls == "CLIPImageProcessor") pj = {{"size", {{"shortest_edge", s}}}, {"crop_size", {{"height", s}, {"width", s}}}};
  const auto proc = vision::ImageProcessor::from_json(pj, cls);
  std::vector<vision::ImageU8> imgs;
  for (const Row& r : rows) imgs.push_back(suite_images()[static_cast<size_t>(r.id) % suite_images().size()]);
  return proc.preprocess(imgs);
}

// Decoder ids [B, T] starting with decoder_start_token_id, deterministic per row.
Tensor decoder_ids(const std::vector<Row>& rows, int64_t start, int64_t vocab, int64_t T) {
  std::vector<int64_t> v;
  for (const auto& r : rows)
    for (int64_t t = 0; t < T; ++t) v.push_back(t == 0 ? start : 4 + (r.id * 31 + t * 7) % std::max<int64_t>(1, vocab - 4));
  return Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(rows.size()), T});
}

int64_t decoder_start(const json& c, int64_t fallback) {
  if (c.contains("decoder_start_token_id") && c["decoder_start_token_id"].is_number_integer())
    return c["decoder_start_token_id"].get<int64_t>();
  return fallback;
}

constexpr int64_t kDecoderLen = 5;

}  // namespace

// ---- encoder-only -------------------------------------------------------------------------------------------------

TensorMap EncoderOnlyModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  if (int_or(cfg(), "type_vocab_size", 0) > 0)
    in["token_type_ids"] = layers::full_i64({static_cast<int64_t>(rows.size()), max_len(rows)}, 0);
  return in;
}

std::vector<ExpectedOutput> EncoderOnlyModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size()), S = max_len(rows), H = width();
  const std::string s = suffix();
  if (s == "Model") return {{"last_hidden_state", {B, S, H}}};
  if (s == "ForMaskedLM") return {{"logits", {B, S, vocab()}}};
  if (s == "ForSequenceClassification") return {{"logits", {B, num_labels()}}};
  if (s == "ForTokenClassification") return {{"logits", {B, S, num_labels()}}};
  if (s == "ForQuestionAnswering") return {{"start_logits", {B, S}}, {"end_logits", {B, S}}};
  return {};
}

// ---- decoder-only -------------------------------------------------------------------------------------------------

TensorMap DecoderOnlyModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  return in;
}

std::vector<ExpectedOutput> DecoderOnlyModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size()), S = max_len(rows);
  const std::string s = suffix();
  if (s == "ForCausalLM" || s == "LMHeadModel") return {{"logits", {B, S, vocab()}}};
  if (s == "Model") return {{"last_hidden_state", {B, S, width()}}};
  return {};
}

// ---- encoder-decoder ----------------------------------------------------------------------------------------------

TensorMap EncoderDecoderModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  in["decoder_input_ids"] = decoder_ids(rows, decoder_start(cfg(), pad_id()), vocab(), kDecoderLen);
  return in;
}

std::vector<ExpectedOutput> EncoderDecoderModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  const std::string s = suffix();
  if (s == "ForConditionalGeneration" || s == "MarianMTModel")
    return {{"logits", {B, kDecoderLen, vocab()}}, {"encoder_last_hidden_state", {B, max_len(rows), -1}}};
  if (entry_.architecture == "MarianMTModel") return {{"logits", {B, kDecoderLen, vocab()}}};
  return {};
}

TensorMap EncoderDecoderModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  TensorMap in = prompt;
  in["decoder_input_ids"] = ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  in.erase("decoder_attention_mask");
  return in;
}

// ---- vision -------------------------------------------------------------------------------------------------------

TensorMap VisionModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  const int64_t s = image_size(cfg()), c = channels(cfg());
  if (cfg().contains("num_frames"))
    in["pixel_values"] = random_floats(rows, {int_or(cfg(), "num_frames", 2), c, s, s}, 11);
  else
    in["pixel_values"] = random_floats(rows, {c, s, s}, 11);
  return in;
}

std::vector<ExpectedOutput> VisionModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  const std::string s = suffix();
  if (s == "ForImageClassification" || entry_.architecture.find("VideoClassification") != std::string::npos)
    return {{"logits", {B, num_labels()}}};
  if (s == "Model") return {{"last_hidden_state", {B, -1, -1}}};
  return {};
}

// ---- vision + text ------------------------------------------------------------------------------------------------

TensorMap VisionTextModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  const int64_t s = image_size(cfg()), c = channels(cfg());
  in["pixel_values"] = real_pixels(rows, entry_.model_type, s, c);
  if (!in["pixel_values"].defined()) in["pixel_values"] = random_floats(rows, {c, s, s}, 13);
  const std::string& a = entry_.architecture;
  if (a == "VisionEncoderDecoderModel" || a.find("ForConditionalGeneration") != std::string::npos) {
    in["decoder_input_ids"] = decoder_ids(rows, decoder_start(cfg(), pad_id()), vocab(), kDecoderLen);
    if (a.find("Blip") != std::string::npos || a.find("Git") != std::string::npos) {
      in["input_ids"] = in["decoder_input_ids"];
      in.erase("decoder_input_ids");
    }
    return in;
  }
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  return in;
}

std::vector<ExpectedOutput> VisionTextModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  const std::string& a = entry_.architecture;
  if (suffix() == "Model" && a != "VisionEncoderDecoderModel")
    return {{"logits_per_image", {B, B}}, {"logits_per_text", {B, B}}};
  if (a == "VisionEncoderDecoderModel" || a.find("ForConditionalGeneration") != std::string::npos)
    return {{"logits", {B, kDecoderLen, vocab()}}};
  return {};
}

bool VisionTextModelTest::batch_coupled(const std::string& output) const {
  return output == "logits_per_image" || output == "logits_per_text";
}

TensorMap VisionTextModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  TensorMap in = prompt;
  const char* key = prompt.count("decoder_input_ids") ? "decoder_input_ids" : "input_ids";
  in[key] = ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  in.erase("attention_mask");
  return in;
}

int64_t VisionTextModelTest::recompute_offset(const TensorMap& prompt) const {
  if (prompt.count("decoder_input_ids")) return prompt.at("decoder_input_ids").dim(1) - 1;
  if (!prompt.count("input_ids")) return 0;
  // BLIP's generate drops the prompt's last token (the processor's [SEP]) before decoding.
  const bool blip = entry_.architecture.find("Blip") != std::string::npos;
  return prompt.at("input_ids").dim(1) - (blip ? 2 : 1);
}

// ---- speech -------------------------------------------------------------------------------------------------------

namespace {
bool mel_input(const json& c) { return c.contains("num_mel_bins") || c.contains("input_feat_per_channel"); }
bool seq2seq_speech(const json& c) { return c.contains("decoder_layers"); }

// The suite's real speech: tests/data/speech/audio/jfk.wav beside the catalog (11 s, 16 kHz), read once.
const audio::Clip& suite_audio() {
  static const audio::Clip clip = [] {
    const auto path = std::filesystem::path(default_catalog_dir()).parent_path() / "tests" / "data" / "speech" /
                      "audio" / "jfk.wav";
    return audio::read_audio(path.string()).samples;
  }();
  return clip;
}

// Row r's excerpt of the clip: n samples from r.id seconds in (wrapping around the clip).
audio::Clip excerpt(const Row& r, int64_t n) {
  const audio::Clip& a = suite_audio();
  audio::Clip out(n);
  const int64_t size = static_cast<int64_t>(a.size());
  for (int64_t i = 0; i < n; ++i) out[i] = a[(r.id * 16000 + i) % size];
  return out;
}
}  // namespace

std::vector<Row> SpeechModelTest::batch_rows() const {
  // Raw-audio models whose feature extractor normalizes per group (feat_extract_norm "group") must not be given
  // padding (HF: no attention_mask); they get equal lengths and a batch invariance check.
  if (!mel_input(cfg()) && cfg().value("feat_extract_norm", std::string("group")) == "group") return {{1, 3200}, {2, 3200}};
  if (mel_input(cfg())) return {{1, 1}, {2, 1}};
  return {{1, 3200}, {2, 2400}};
}

bool SpeechModelTest::batch_coupled(const std::string& output) const {
  return output == "logits_per_audio" || output == "logits_per_text";
}

// Real speech through the real feature extractors (HF settings, sized to the config).
TensorMap SpeechModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  const json& c = cfg();
  std::vector<audio::Clip> clips;
  if (c.contains("num_mel_bins")) {  // Whisper: log-mel of 2 * max_source_positions frames
    audio::WhisperFeatureExtractor fe;
    fe.feature_size = int_or(c, "num_mel_bins", 80);
    fe.n_samples = 2 * int_or(c, "max_source_positions", 16) * fe.hop_length;
    for (const auto& r : rows) clips.push_back(excerpt(r, std::min<int64_t>(fe.n_samples, 160000)));
    in["input_features"] = fe(clips).at("input_features");
  } else if (c.contains("input_feat_per_channel")) {  // Speech2Text: 32 fbank frames + CMVN
    audio::Speech2TextFeatureExtractor fe;
    fe.num_mel_bins = int_or(c, "input_feat_per_channel", 80);
    for (const auto& r : rows) clips.push_back(excerpt(r, 400 + 31 * 160));
    for (auto& [n, t] : fe(clips)) in[n] = t;
  } else {  // wav2vec2 family: normalised samples, padded; a mask where HF's extractor returns one
    audio::Wav2Vec2FeatureExtractor fe;
    fe.return_attention_mask = c.value("feat_extract_norm", std::string("group")) == "layer";
    for (const auto& r : rows) clips.push_back(excerpt(r, r.length));
    for (auto& [n, t] : fe(clips)) in[n] = t;
  }
  if (seq2seq_speech(c))
    in["decoder_input_ids"] = decoder_ids(rows, decoder_start(c, pad_id()), vocab(), kDecoderLen);
  return in;
}

std::vector<ExpectedOutput> SpeechModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  const std::string s = suffix();
  if (s == "ForCTC") return {{"logits", {B, -1, vocab()}}};
  if (s == "ForConditionalGeneration" && seq2seq_speech(cfg())) return {{"logits", {B, kDecoderLen, vocab()}}};
  if (s == "ForAudioClassification" || entry_.architecture.find("ForSequenceClassification") != std::string::npos)
    return {{"logits", {B, num_labels()}}};
  if (s == "Model" && !seq2seq_speech(cfg())) return {{"last_hidden_state", {B, -1, width()}}};
  return {};
}

std::string SpeechModelTest::padding_variance() const {
  if (entry_.model_type != "data2vec-audio") return "";
  // Data2VecAudioPositionalConvEmbedding: padded frames are zeroed once, then several conv layers (each with a
  // bias, LayerNorm and GELU) run over them, so from the second layer on the valid frames next to the padding
  // read non-zero values that the row alone never sees.
  return "HF's data2vec-audio is not padding-invariant (" +
         std::to_string(int_or(cfg(), "num_conv_pos_embeddings", 5)) +
         " stacked positional conv layers read the padded frames after the first)";
}

TensorMap SpeechModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  TensorMap in = prompt;
  in["decoder_input_ids"] = ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  return in;
}

// ---- multimodal ---------------------------------------------------------------------------------------------------

std::vector<Row> MultimodalModelTest::batch_rows() const { return {{1, 12}, {2, 12}}; }

bool MultimodalModelTest::dual_encoder() const {
  return suffix() == "Model" && cfg().contains("text_config") && cfg().contains("vision_config");
}

bool MultimodalModelTest::batch_coupled(const std::string& output) const {
  return dual_encoder() && (output == "logits_per_image" || output == "logits_per_text");
}

int64_t MultimodalModelTest::image_token() const {
  for (const char* k : {"image_token_index", "image_token_id"})
    if (cfg().contains(k) && cfg()[k].is_number_integer()) return cfg()[k].get<int64_t>();
  return -1;
}

int64_t MultimodalModelTest::image_tokens() const {
  if (dual_encoder() || image_token() < 0) return 0;
  // One placeholder per image feature, as the processors expand <image>: the vision tower's patches, plus its
  // CLS position when vision_feature_select_strategy is "full" (LLaVA's "default" drops it).
  const int64_t s = image_size(cfg());
  const int64_t patch = cfg().contains("vision_config") ? int_or(cfg()["vision_config"], "patch_size", 8) : 8;
  const bool full = cfg().value("vision_feature_select_strategy", std::string("default")) == "full";
  return (s / patch) * (s / patch) + (full ? 1 : 0);
}

std::vector<Row> MultimodalModelTest::with_image_tokens(std::vector<Row> rows) const {
  for (Row& r : rows) r.length += image_tokens();
  return rows;
}

TensorMap MultimodalModelTest::make_inputs(const std::vector<Row>& text_rows) const {
  TensorMap in;
  const int64_t s = image_size(cfg()), c = channels(cfg());
  const std::vector<Row> rows = with_image_tokens(text_rows);
  in["pixel_values"] = real_pixels(rows, entry_.model_type, s, c);
  if (!in["pixel_values"].defined()) in["pixel_values"] = random_floats(rows, {c, s, s}, 23);
  Tensor ids = token_ids(rows, pad_id());
  // Image placeholder tokens first, as the processors lay them out, then the row's text tokens.
  const int64_t n = image_tokens();
  int64_t* p = ids.data<int64_t>();
  for (int64_t b = 0; b < ids.dim(0); ++b)
    for (int64_t t = 0; t < n; ++t) p[b * ids.dim(1) + t] = image_token();
  in["input_ids"] = ids;
  in["attention_mask"] = attention_mask(rows);
  return in;
}

std::vector<ExpectedOutput> MultimodalModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  if (dual_encoder()) return {{"logits_per_image", {B, B}}, {"logits_per_text", {B, B}}};
  if (suffix() == "ForConditionalGeneration" || suffix() == "ForCausalLM")
    return {{"logits", {B, max_len(with_image_tokens(rows)), vocab()}}};
  return {};
}

// ---- diffusion ----------------------------------------------------------------------------------------------------

TensorMap DiffusionModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  const json& c = cfg();
  const int64_t ch = int_or(c, "in_channels", 4), s = int_or(c, "sample_size", 8);
  in["sample"] = random_floats(rows, {ch, s, s}, 29);
  std::vector<float> t(rows.size(), 500.0f);
  in["timestep"] = Tensor::from_vector<float>(t, {static_cast<int64_t>(rows.size())});
  int64_t cross = int_or(c, "cross_attention_dim", int_or(c, "joint_attention_dim", int_or(c, "caption_channels", 32)));
  in["encoder_hidden_states"] = random_floats(rows, {8, cross}, 31);
  if (c.value("addition_embed_type", json()) == "text_time") {  // SDXL micro-conditioning
    const int64_t time_dim = int_or(c, "addition_time_embed_dim", 8);
    const int64_t text_dim = int_or(c, "projection_class_embeddings_input_dim", 6 * time_dim + 32) - 6 * time_dim;
    in["text_embeds"] = random_floats(rows, {text_dim}, 37);
    std::vector<float> ids;
    for (size_t r = 0; r < rows.size(); ++r) ids.insert(ids.end(), {64, 64, 0, 0, 64, 64});  // size, crop, target
    in["time_ids"] = Tensor::from_vector<float>(ids, {static_cast<int64_t>(rows.size()), 6});
  }
  return in;
}

std::vector<ModelTest::NamedCheck> DiffusionModelTest::family_checks(const TestOptions& o) const {
  return {{"pipeline", [this, o]() -> std::string {
             IA_CHECK(entry_.architecture == "StableDiffusionPipeline", ErrorKind::Unsupported,
                      "unsupported: text-to-image pipeline {}", entry_.architecture);
             if (o.weights == "hub") return "skipped: the pipeline check builds random weights";
             fs::path cases = fs::path(o.conformance_dir);
             if (!cases.has_filename()) cases = cases.parent_path();
             const fs::path tok = cases.parent_path() / "tokenizers" / "openai__clip-vit-base-patch32";
             if (o.conformance_dir.empty() || !fs::is_directory(tok))
               return "skipped: no CLIP tokenizer next to the conformance cases (tests/data/tokenizers)";
             const fs::path dir = fs::temp_directory_path() /
                                  ("ia_suite_pipeline_" + std::to_string(std::hash<std::string>()(entry_.id)));
             fs::remove_all(dir);
             diffusion::RandomPipelineSpec spec;
             spec.unet_config = cfg();
             spec.tokenizer_dir = tok.string();
             spec.seed = o.seed;
             diffusion::write_random_pipeline(dir.string(), spec);
             auto pipe = diffusion::StableDiffusionPipeline::load(dir.string(), o.device);
             diffusion::TextToImageRequest req;
             req.prompt = "a photo of a cat";
             req.num_inference_steps = 2;
             req.seed = 1;
             auto a = pipe->generate(req), b = pipe->generate(req);
             fs::remove_all(dir);
             const int64_t side = pipe->default_height();
             if (a.image.height != side || a.image.width != side)
               return "image " + std::to_string(a.image.width) + "x" + std::to_string(a.image.height) + ", expected " +
                      std::to_string(side) + "x" + std::to_string(side);
             for (float v : a.latents.to_vector<float>())
               if (!std::isfinite(v)) return std::string("non-finite latents");
             if (a.image.pixels != b.image.pixels) return std::string("same seed gave different images");
             return std::string();
           }}};
}

std::vector<ExpectedOutput> DiffusionModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const json& c = cfg();
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t out = int_or(c, "out_channels", int_or(c, "in_channels", 4)), s = int_or(c, "sample_size", 8);
  if (entry_.model_type == "unet_2d_condition") return {{"sample", {B, out, s, s}}};
  return {{"sample", {B, out, -1, -1}}};
}

// ---- mixture of experts -------------------------------------------------------------------------------------------

namespace {
bool moe_seq2seq(const json& c) { return c.contains("num_decoder_layers") || c.contains("decoder_layers"); }
}  // namespace

TensorMap MoEModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  if (moe_seq2seq(cfg())) in["decoder_input_ids"] = decoder_ids(rows, decoder_start(cfg(), pad_id()), vocab(), kDecoderLen);
  return in;
}

std::vector<ExpectedOutput> MoEModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size());
  if (moe_seq2seq(cfg())) return {{"logits", {B, kDecoderLen, vocab()}}};
  return {{"logits", {B, max_len(rows), vocab()}}};
}

TensorMap MoEModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  if (!moe_seq2seq(cfg())) return ModelTest::recompute_inputs(prompt, ids);
  TensorMap in = prompt;
  in["decoder_input_ids"] = ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  return in;
}

int64_t MoEModelTest::recompute_offset(const TensorMap& prompt) const {
  return moe_seq2seq(cfg()) ? 0 : ModelTest::recompute_offset(prompt);
}

// ---- state space --------------------------------------------------------------------------------------------------

TensorMap StateSpaceModelTest::make_inputs(const std::vector<Row>& rows) const {
  TensorMap in;
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  return in;
}

std::vector<ExpectedOutput> StateSpaceModelTest::expected_outputs(const std::vector<Row>& rows) const {
  return {{"logits", {static_cast<int64_t>(rows.size()), max_len(rows), vocab()}}};
}

// ---- RAG ----------------------------------------------------------------------------------------------------------

TensorMap RAGModelTest::make_inputs(const std::vector<Row>& rows) const {
  // The retrieved corpus: n_docs passages per question (context ids) and their retrieval scores.
  TensorMap in;
  const int64_t n_docs = int_or(cfg(), "n_docs", 5);
  const json& gen = cfg().contains("generator") ? cfg()["generator"] : cfg();
  const int64_t gen_vocab = int_or(gen, "vocab_size", 256);
  in["input_ids"] = token_ids(rows, pad_id());
  in["attention_mask"] = attention_mask(rows);
  std::vector<Row> docs;
  for (const auto& r : rows)
    for (int64_t d = 0; d < n_docs; ++d) docs.push_back({r.id * 100 + d, 10});
  Tensor ctx = token_ids(docs, 1);
  int64_t* p = ctx.data<int64_t>();
  for (int64_t i = 0; i < ctx.numel(); ++i) p[i] = 4 + p[i] % std::max<int64_t>(1, gen_vocab - 4);
  in["context_input_ids"] = ctx;
  in["context_attention_mask"] = attention_mask(docs);
  in["doc_scores"] = random_floats(rows, {n_docs}, 37);
  in["decoder_input_ids"] = decoder_ids(rows, decoder_start(gen, 2), gen_vocab, kDecoderLen);
  return in;
}

std::vector<ExpectedOutput> RAGModelTest::expected_outputs(const std::vector<Row>& rows) const {
  const int64_t B = static_cast<int64_t>(rows.size()), n_docs = int_or(cfg(), "n_docs", 5);
  const json& gen = cfg().contains("generator") ? cfg()["generator"] : cfg();
  return {{"logits", {B * n_docs, kDecoderLen, int_or(gen, "vocab_size", 256)}}, {"doc_scores", {B, n_docs}}};
}

TensorMap RAGModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  TensorMap in = prompt;
  in["decoder_input_ids"] = ids.slice(1, 0, ids.dim(1) - 1).contiguous();
  return in;
}

}  // namespace ia::suite
