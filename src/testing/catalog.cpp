#include "testing/catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "io/diffusers_config.h"
#include "models/model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ia::suite {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

json CatalogEntry::to_json() const {
  json j;
  j["id"] = id;
  j["family"] = family;
  j["model_type"] = model_type;
  j["architecture"] = architecture;
  j["task"] = task;
  j["params"] = params;
  j["tags"] = tags;
  if (!norm.empty()) j["norm"] = norm;
  if (!position.empty()) j["position"] = position;
  j["config"] = config;
  return j;
}

CatalogEntry CatalogEntry::from_json(const json& j, const std::string& source) {
  IA_CHECK(j.is_object(), ErrorKind::Format, "{}: catalog entry is not a JSON object", source);
  CatalogEntry e;
  e.source = source;
  auto req = [&](const char* k) {
    IA_CHECK(j.contains(k) && j[k].is_string() && !j[k].get<std::string>().empty(), ErrorKind::Format,
             "{}: catalog entry {} lacks string field '{}'", source, j.value("id", "?"), k);
    return j[k].get<std::string>();
  };
  e.id = req("id");
  e.family = req("family");
  e.model_type = req("model_type");
  e.architecture = req("architecture");
  e.task = req("task");
  const auto& fams = all_families();
  IA_CHECK(std::find(fams.begin(), fams.end(), e.family) != fams.end(), ErrorKind::Format,
           "{}: {} has unknown family '{}'", source, e.id, e.family);
  e.params = j.value("params", int64_t(0));
  e.tags = j.value("tags", std::vector<std::string>{});
  e.norm = j.value("norm", "");
  e.position = j.value("position", "");
  e.config = j.value("config", json::object());
  IA_CHECK(e.config.is_object(), ErrorKind::Format, "{}: {} 'config' is not an object", source, e.id);
  e.config["model_type"] = e.model_type;
  if (!e.config.contains("architectures")) e.config["architectures"] = json::array({e.architecture});
  return e;
}

Catalog Catalog::load(const std::string& dir) {
  Catalog c;
  c.dir_ = dir;
  IA_CHECK(fs::is_directory(dir), ErrorKind::NotFound, "{}: catalog directory not found", dir);
  std::vector<fs::path> files;
  for (const auto& de : fs::directory_iterator(dir))
    if (de.path().extension() == ".jsonl") files.push_back(de.path());
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> seen;  // lower-cased id -> where it first appeared
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      json j = json::parse(line, nullptr, false);
      const std::string where = f.string() + ":" + std::to_string(n);
      IA_CHECK(!j.is_discarded(), ErrorKind::Format, "{}: invalid JSON", where);
      CatalogEntry e = CatalogEntry::from_json(j, where);
      // Hub ids are case-insensitive: "Org/Model" and "org/model" name the same repository.
      auto [it, fresh] = seen.emplace(lower(e.id), where + " (" + e.id + ")");
      IA_CHECK(fresh, ErrorKind::Format, "{}: duplicate catalog id '{}' (ids are case-insensitive; first at {})",
               where, e.id, it->second);
      c.entries_.push_back(std::move(e));
    }
  }
  return c;
}

const CatalogEntry* Catalog::find(const std::string& id) const {
  const std::string key = lower(id);
  for (const auto& e : entries_)
    if (lower(e.id) == key) return &e;
  return nullptr;
}

std::vector<const CatalogEntry*> Catalog::family(const std::string& family) const {
  std::vector<const CatalogEntry*> out;
  for (const auto& e : entries_)
    if (e.family == family) out.push_back(&e);
  return out;
}

std::string default_catalog_dir() {
  if (const char* d = std::getenv("IA_CATALOG_DIR"); d && *d) return d;
  if (fs::is_directory("catalog") && fs::exists("catalog/encoder-only.jsonl")) return "catalog";
  return std::string(IA_SOURCE_DIR) + "/catalog";
}

// ---- classification and the family template -------------------------------------------------------------------

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::map<std::string, std::string>& known_types() {
  static const std::map<std::string, std::string> m = {
      {"mamba", "state-space"}, {"mamba2", "state-space"}, {"falcon_mamba", "state-space"},
      {"rwkv", "state-space"}, {"recurrent_gemma", "state-space"}, {"jamba", "state-space"},
      {"mixtral", "mixture-of-experts"}, {"olmoe", "mixture-of-experts"}, {"qwen2_moe", "mixture-of-experts"},
      {"qwen3_moe", "mixture-of-experts"}, {"switch_transformers", "mixture-of-experts"},
      {"deepseek_v2", "mixture-of-experts"}, {"deepseek_v3", "mixture-of-experts"}, {"dbrx", "mixture-of-experts"},
      {"rag", "rag"}, {"whisper", "speech"}, {"speech_to_text", "speech"}, {"wav2vec2", "speech"},
      {"hubert", "speech"}, {"wavlm", "speech"}, {"clap", "speech"}, {"encodec", "speech"},
      {"musicgen", "speech"}, {"bark", "speech"}, {"vits", "speech"}, {"speecht5", "speech"},
      {"clip", "multimodal"}, {"siglip", "multimodal"}, {"chinese_clip", "multimodal"}, {"altclip", "multimodal"},
      {"align", "multimodal"}, {"groupvit", "multimodal"}, {"xclip", "multimodal"},
      {"blip", "vision-encoder-text-decoder"}, {"blip-2", "vision-encoder-text-decoder"},
      {"vision-encoder-decoder", "vision-encoder-text-decoder"}, {"git", "vision-encoder-text-decoder"},
      {"pix2struct", "vision-encoder-text-decoder"}, {"llava", "multimodal"}, {"llava_next", "multimodal"},
      {"idefics", "multimodal"}, {"idefics2", "multimodal"}, {"idefics3", "multimodal"},
      {"paligemma", "multimodal"}, {"qwen2_vl", "multimodal"}, {"qwen2_5_vl", "multimodal"},
      {"mllama", "multimodal"}, {"gemma3", "multimodal"}, {"t5", "encoder-decoder"}, {"bart", "encoder-decoder"},
  };
  return m;
}

std::string family_from_shape(const json& cfg) {
  const std::string type = cfg.value("model_type", "");
  std::string arch;
  if (cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty() &&
      cfg["architectures"][0].is_string())
    arch = cfg["architectures"][0].get<std::string>();
  if (cfg.contains("_class_name")) return "diffusion";
  if (cfg.contains("num_local_experts") || cfg.contains("num_experts")) return "mixture-of-experts";
  if (cfg.contains("state_size") || cfg.contains("mamba_d_state")) return "state-space";
  const bool vision_tower = cfg.contains("vision_config") || cfg.contains("image_size") || cfg.contains("encoder");
  const bool text_tower = cfg.contains("text_config") || cfg.contains("decoder");
  if (contains(arch, "ForCTC") || contains(arch, "Audio") || contains(arch, "Speech") ||
      cfg.contains("num_mel_bins") || cfg.contains("conv_dim"))
    return "speech";
  if (contains(arch, "ImageClassification") || contains(arch, "ObjectDetection") ||
      contains(arch, "Segmentation") || contains(arch, "DepthEstimation") || contains(arch, "VideoClassification"))
    return "vision";
  // Image-text dual encoders (CLIP-style "...Model" with both towers) and VLMs are multimodal, as the engine
  // and the HF goldens file CLIP and SigLIP; captioning/VQA encoder-decoders are vision-encoder-text-decoder.
  if (cfg.contains("vision_config") && cfg.contains("text_config"))
    return (ends_with(arch, "ForConditionalGeneration") && !contains(arch, "Blip")) || ends_with(arch, "Model")
               ? "multimodal"
               : "vision-encoder-text-decoder";
  if (vision_tower && text_tower) return "vision-encoder-text-decoder";
  if (cfg.contains("image_size") || cfg.contains("num_channels")) return "vision";
  if (ends_with(arch, "ForCausalLM") || ends_with(arch, "LMHeadModel")) return "decoder-only";
  if (ends_with(arch, "ForConditionalGeneration") || ends_with(arch, "MTModel") || cfg.contains("decoder_layers") ||
      cfg.value("is_encoder_decoder", false))
    return "encoder-decoder";
  return "encoder-only";
}

std::string task_for(const std::string& family, const std::string& arch, const json& cfg) {
  static const std::vector<std::pair<std::string, std::string>> by_suffix = {
      {"ForMaskedLM", "fill-mask"},
      {"ForSequenceClassification", "text-classification"},
      {"ForTokenClassification", "token-classification"},
      {"ForQuestionAnswering", "question-answering"},
      {"ForCausalLM", "text-generation"},
      {"LMHeadModel", "text-generation"},
      {"ForImageClassification", "image-classification"},
      {"ForObjectDetection", "object-detection"},
      {"ForSemanticSegmentation", "image-segmentation"},
      {"ForDepthEstimation", "depth-estimation"},
      {"ForCTC", "automatic-speech-recognition"},
      {"ForAudioClassification", "audio-classification"},
      {"ForVideoClassification", "video-classification"},
  };
  for (const auto& [suf, task] : by_suffix)
    if (ends_with(arch, suf)) return task;
  // CLIP-style dual encoders: zero-shot image classification (X-CLIP matches videos, not images).
  if (family == "multimodal" && ends_with(arch, "Model") &&
      (cfg.contains("projection_dim") || cfg.contains("logit_scale_init_value")))
    return arch == "XCLIPModel" ? "video-classification" : "zero-shot-image-classification";
  if (family == "speech") return "automatic-speech-recognition";
  if (family == "vision-encoder-text-decoder") return "image-to-text";
  if (family == "multimodal") return "image-text-to-text";
  if (family == "diffusion") return "text-to-image";
  if (family == "encoder-decoder" || family == "rag") return "text2text-generation";
  if (family == "decoder-only" || family == "mixture-of-experts" || family == "state-space") return "text-generation";
  if (family == "vision") return "image-feature-extraction";
  return "feature-extraction";
}

// Fields of an HF config.json that do not shape the computation (bookkeeping, tokenizer and training settings).
bool bookkeeping_field(const std::string& k) {
  static const std::set<std::string> drop = {
      "_name_or_path", "transformers_version", "torch_dtype", "dtype", "task_specific_params", "label2id",
      "architectures_auto_map", "auto_map", "_commit_hash", "use_cache", "gradient_checkpointing",
      "output_attentions", "output_hidden_states", "return_dict", "problem_type", "finetuning_task",
      "tokenizer_class", "prefix", "initializer_range", "initializer_factor", "classifier_dropout", "summary_type",
      "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout", "_diffusers_version"};
  return drop.count(k) || ends_with(k, "dropout") || ends_with(k, "dropout_prob") || ends_with(k, "_pdrop") ||
         ends_with(k, "dropout_rate");
}

json shaping_fields(const json& cfg) {
  json out = json::object();
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    if (bookkeeping_field(it.key()) || it.value().is_null()) continue;
    if (it.key() == "id2label" && it.value().is_object()) {
      out["num_labels"] = it.value().size();
      continue;
    }
    out[it.key()] = it.value().is_object() ? shaping_fields(it.value()) : it.value();
  }
  return out;
}

int64_t int_field(const json& c, std::initializer_list<const char*> keys, int64_t fallback) {
  for (const char* k : keys)
    if (c.contains(k) && c[k].is_number_integer()) return c[k].get<int64_t>();
  return fallback;
}

// A rough parameter count for a transformer config (embedding + 12 H^2 per layer, FFN ratio honoured).
int64_t estimate_params(const json& c) {
  int64_t total = 0;
  for (const char* sub : {"text_config", "vision_config", "encoder", "decoder", "audio_config", "generator",
                          "question_encoder"})
    if (c.contains(sub) && c[sub].is_object()) total += estimate_params(c[sub]);
  const int64_t h = int_field(c, {"hidden_size", "d_model", "n_embd", "dim", "emb_dim"}, 0);
  if (h == 0) return total;
  const int64_t layers = int_field(c, {"num_hidden_layers", "n_layer", "num_layers", "n_layers"}, 0) +
                         int_field(c, {"encoder_layers"}, 0) + int_field(c, {"decoder_layers"}, 0);
  const int64_t ffn = int_field(c, {"intermediate_size", "ffn_dim", "d_ff", "n_inner", "encoder_ffn_dim", "dff"}, 4 * h);
  const int64_t vocab = int_field(c, {"vocab_size"}, 0);
  const int64_t gated = c.value("hidden_act", std::string()) == "silu" ? 3 : 2;
  return total + vocab * h + layers * (4 * h * h + gated * h * ffn);
}

std::string norm_for(const json& c) {
  if (c.contains("rms_norm_eps")) return "rmsnorm(pre)";
  if (c.contains("layer_norm_epsilon") && c.contains("relative_attention_num_buckets")) return "rmsnorm(pre,T5)";
  if (c.contains("normalization_type")) return c["normalization_type"].get<std::string>();
  if (c.contains("norm_num_groups")) return "groupnorm+layernorm";
  return "layernorm";
}

std::string position_for(const json& c) {
  if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) {
    const auto& rs = c["rope_scaling"];
    return "rope(" + rs.value("rope_type", rs.value("type", std::string("scaled"))) + ")";
  }
  if (c.value("alibi", false) || (c.contains("attn_config") && c["attn_config"].value("alibi", false)))
    return "alibi";
  if (c.contains("rope_theta") || c.contains("rotary_dim") || c.contains("rotary_pct") ||
      c.contains("partial_rotary_factor"))
    return c.contains("sliding_window") && !c["sliding_window"].is_null() ? "rope+sliding_window" : "rope";
  if (c.contains("relative_attention_num_buckets")) return "relative_buckets";
  if (c.contains("position_embedding_type")) return c["position_embedding_type"].get<std::string>();
  if (c.contains("_class_name")) return "timestep(sinusoidal)";
  if (c.contains("state_size")) return "none(recurrent)";
  return "absolute";
}

}  // namespace

std::string classify_family(const json& cfg, const Catalog* catalog) {
  const std::string type = cfg.value("model_type", "");
  if (!type.empty()) {
    if (const ModelSpec* s = find_model_type(type)) return s->family;
    if (catalog)
      for (const auto& e : catalog->entries())
        if (e.model_type == type) return e.family;
    auto it = known_types().find(type);
    if (it != known_types().end()) return it->second;
  }
  return family_from_shape(cfg);
}

CatalogEntry entry_from_hf_config(const std::string& id, const json& cfg, const Catalog* catalog) {
  IA_CHECK(cfg.is_object(), ErrorKind::Format, "{}: config is not a JSON object", id);
  CatalogEntry e;
  e.id = id;
  e.model_type = cfg.value("model_type", "");
  if (e.model_type.empty() && cfg.contains("_class_name")) {
    // diffusers: model_type is the denoiser class in snake case (UNet2DConditionModel -> unet_2d_condition).
    e.model_type = diffusers_model_type(cfg["_class_name"].get<std::string>());
  }
  IA_CHECK(!e.model_type.empty(), ErrorKind::Format, "{}: config has neither 'model_type' nor '_class_name'", id);
  if (cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty())
    e.architecture = cfg["architectures"][0].get<std::string>();
  else if (cfg.contains("_class_name"))
    e.architecture = cfg["_class_name"].get<std::string>();
  else if (const ModelSpec* s = find_model_type(e.model_type))
    e.architecture = s->hf_classes.front();
  IA_CHECK(!e.architecture.empty(), ErrorKind::Format, "{}: config names no architecture ('architectures')", id);
  json with_type = cfg;
  with_type["model_type"] = e.model_type;
  e.family = classify_family(with_type, catalog);
  e.task = task_for(e.family, e.architecture, cfg);
  e.config = shaping_fields(cfg);
  e.config["model_type"] = e.model_type;
  e.config["architectures"] = json::array({e.architecture});
  e.params = estimate_params(cfg);
  e.norm = norm_for(cfg);
  e.position = position_for(cfg);
  return e;
}

void append_entry(const std::string& dir, const CatalogEntry& e) {
  if (fs::is_directory(dir)) {
    Catalog c = Catalog::load(dir);
    IA_CHECK(c.find(e.id) == nullptr, ErrorKind::InvalidArgument, "{} is already in the catalog ({})", e.id,
             c.find(e.id)->source);
  } else {
    fs::create_directories(dir);
  }
  const fs::path file = fs::path(dir) / (e.family + ".jsonl");
  std::ofstream out(file, std::ios::app);
  IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot open for append", file.string());
  out << e.to_json().dump() << "\n";
}

// ---- tiny configs ------------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kTinyVocab = 256;
constexpr int64_t kTinyPositions = 64;
constexpr int64_t kTinyWindow = 4;
constexpr int64_t kTinyHeadDim = 8;

const std::vector<std::string> kWidthKeys = {"hidden_size", "d_model", "n_embd", "dim", "emb_dim", "embed_dim"};
const std::vector<std::string> kHeadKeys = {"num_attention_heads", "n_head", "n_heads", "num_heads",
                                            "encoder_attention_heads", "decoder_attention_heads", "attention_heads",
                                            "num_encoder_attention_heads", "num_decoder_attention_heads"};
const std::vector<std::string> kKvKeys = {"num_key_value_heads", "num_kv_heads"};
const std::set<std::string> kLayerKeys = {
    "num_hidden_layers", "n_layer", "num_layers", "n_layers", "encoder_layers", "decoder_layers",
    "num_decoder_layers", "num_encoder_layers", "speech_encoder_layers", "t2u_encoder_layers", "t2u_decoder_layers",
    "l_layers", "x_layers", "r_layers", "num_single_layers", "depth", "num_global_layers", "layers"};
// Sizes proportional to the model width.
const std::set<std::string> kWidthRelative = {
    "intermediate_size", "ffn_dim", "d_ff", "n_inner", "dff", "d_inner", "encoder_ffn_dim", "decoder_ffn_dim",
    "embedding_size", "word_embed_proj_dim", "intra_bottleneck_size", "true_hidden_size", "input_embedding_size",
    "output_embedding_size", "moe_intermediate_size", "shared_expert_intermediate_size", "mlp_dim",
    "attention_hidden_size", "lru_width", "speech_encoder_intermediate_size", "decoder_hidden_size",
    "decoder_intermediate_size", "mit_hidden_size", "patch_embeds_hidden_size", "entity_emb_size",
    "decoder_ffn_dim", "hidden_dim"};
// Sizes that connect to another tower or a fixed-width interface: a small absolute width.
const std::set<std::string> kCrossWidth = {
    "projection_dim", "cross_attention_hidden_size", "encoder_hidden_size", "cross_attention_dim",
    "joint_attention_dim", "caption_channels", "pooled_projection_dim", "caption_projection_dim", "visual_feat_dim",
    "visual_embedding_dim", "retrieval_vector_size", "speaker_embedding_dim", "project_dim", "out_hidden_size",
    "vision_output_dim", "feature_projection_input_dim", "encoder_hid_dim", "fusion_hidden_size", "head_hidden_size",
    "xvector_output_dim", "codebook_dim", "flow_size", "upsample_initial_channel", "mask_feature_size",
    "fpn_feature_size", "feature_size", "hidden_dim_decoder", "proj_codevector_dim", "reduce_dim",
    "projection_intermediate_dim", "tdnn_out", "perceiver_dim", "xpath_unit_hidden_size", "coordinate_size",
    "shape_size", "channel_shrink_ratio_hidden"};
const std::set<std::string> kPositionKeys = {
    "max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "context_length", "max_target_positions",
    "max_2d_position_embeddings", "max_encoder_position_embeddings", "max_decoder_position_embeddings",
    "block_size", "max_combined_length", "max_length", "seq_len", "original_max_position_embeddings",
    "max_xpath_subs_unit_embeddings", "max_xpath_tag_unit_embeddings", "max_relative_positions",
    "encoder_max_relative_position", "max_bucket_distance", "relative_attention_max_distance",
    "relative_max_distance", "left_max_position_embeddings"};
const std::set<std::string> kWindowKeys = {"sliding_window", "window_size", "local_attention", "local_radius",
                                           "attention_window_size", "attention_window", "chunk_size",
                                           "global_block_size", "block_size_local"};
const std::set<std::string> kVocabKeys = {"vocab_size", "src_vocab_size", "tgt_vocab_size", "input_vocab_size",
                                          "output_vocab_size", "entity_vocab_size", "additional_vocab_size_total",
                                          "unit_hifi_gan_vocab_size", "codebook_size", "num_buckets_vocab"};
const std::set<std::string> kImageKeys = {"image_size", "spec_size"};
const std::set<std::string> kExpertKeys = {"num_local_experts", "num_experts"};
const std::set<std::string> kLayerIndexLists = {"global_attn_indexes", "fullatt_block_indexes",
                                                "cross_attention_layers", "intermediate_layers_indices",
                                                "backbone_out_indices", "out_indices", "extract_layers"};

int64_t round_to(double v, int64_t multiple, int64_t min) {
  const int64_t r = static_cast<int64_t>(std::llround(v / static_cast<double>(multiple))) * multiple;
  return std::max(r, min);
}

struct SpecialIds {
  int64_t orig_vocab = 0;
  int64_t map(int64_t id) const {
    if (id < 0 || id < kTinyVocab / 2) return id;
    if (orig_vocab > 0 && id >= orig_vocab - kTinyVocab / 2) return kTinyVocab - (orig_vocab - id);
    return kTinyVocab / 2 + id % (kTinyVocab / 4);
  }
};

bool is_special_id_key(const std::string& k) {
  return ends_with(k, "_token_id") || ends_with(k, "_token_index") || ends_with(k, "_token_ids") || k == "pad_id" ||
         k == "tag_pad_id" || k == "subs_pad_id";
}

void scale_object(json& c, int depth);

void scale_child(json& v, int depth) {
  if (v.is_object()) scale_object(v, depth + 1);
}

// Scales one config level (nested towers are scaled independently with their own widths).
void scale_object(json& c, int depth) {
  if (depth > 6) return;
  // Heads and GQA ratio.
  int64_t heads = 0, kv = 0;
  std::string head_key, kv_key;
  for (const auto& k : kHeadKeys)
    if (c.contains(k) && c[k].is_number_integer()) {
      heads = c[k].get<int64_t>();
      head_key = k;
      break;
    }
  for (const auto& k : kKvKeys)
    if (c.contains(k) && c[k].is_number_integer()) {
      kv = c[k].get<int64_t>();
      kv_key = k;
      break;
    }
  int64_t tiny_heads = 4, tiny_kv = 4;
  if (heads > 0 && heads < 4) tiny_heads = heads;
  if (heads > 0 && kv > 0 && kv < heads && heads % kv == 0) {
    const int64_t ratio = heads / kv;
    tiny_kv = ratio >= 4 ? 1 : 2;
    tiny_heads = tiny_kv * ratio;
  } else {
    tiny_kv = tiny_heads;
  }
  if (c.value("multi_query", false)) tiny_kv = 1;
  // Width.
  int64_t width = 0;
  std::string width_key;
  for (const auto& k : kWidthKeys)
    if (c.contains(k) && c[k].is_number_integer()) {
      width = c[k].get<int64_t>();
      width_key = k;
      break;
    }
  const int64_t tiny_width = tiny_heads * kTinyHeadDim;
  const double f = width > 0 ? static_cast<double>(tiny_width) / static_cast<double>(width) : 0.0;
  int64_t orig_head_dim = heads > 0 && width > 0 ? width / heads : 0;
  if (!head_key.empty()) c[head_key] = tiny_heads;
  for (const auto& k : kHeadKeys)
    if (k != head_key && c.contains(k) && c[k].is_number_integer()) c[k] = tiny_heads;
  if (!kv_key.empty()) c[kv_key] = tiny_kv;
  if (!width_key.empty()) c[width_key] = tiny_width;
  for (const auto& k : kWidthKeys)
    if (k != width_key && c.contains(k) && c[k].is_number_integer()) c[k] = tiny_width;
  // Explicit head dims: keep "head_dim != width / heads" when the original had it.
  for (const char* k : {"head_dim", "d_kv", "d_head", "attention_head_dim_explicit", "key_dim_explicit"})
    if (c.contains(k) && c[k].is_number_integer()) {
      const int64_t hd = c[k].get<int64_t>();
      c[k] = (orig_head_dim > 0 && hd != orig_head_dim) ? 2 * kTinyHeadDim : kTinyHeadDim;
    }
  if (c.contains("rotary_dim") && c["rotary_dim"].is_number_integer() && orig_head_dim > 0)
    c["rotary_dim"] = std::max<int64_t>(2, round_to(kTinyHeadDim * c["rotary_dim"].get<double>() / orig_head_dim, 2, 2));
  // Partial rotary (Phi): int(head_dim * factor) rotary dims must stay even and non-zero at the tiny head size.
  if (c.contains("partial_rotary_factor") && c["partial_rotary_factor"].is_number()) {
    const int64_t hd = c.contains("head_dim") && c["head_dim"].is_number_integer() ? c["head_dim"].get<int64_t>()
                                                                                   : kTinyHeadDim;
    const double prf = c["partial_rotary_factor"].get<double>();
    const int64_t rd = static_cast<int64_t>(hd * prf);
    if (rd % 2 != 0 || rd == 0) c["partial_rotary_factor"] = static_cast<double>(round_to(hd * prf, 2, 2)) / hd;
  }
  if (c.contains("query_pre_attn_scalar") && c["query_pre_attn_scalar"].is_number())
    c["query_pre_attn_scalar"] = kTinyHeadDim;
  // Layers: 2, or enough to keep layer patterns (alternating windows, periodic blocks, index lists).
  int64_t layers = 2;
  if (c.contains("global_attn_every_n_layers")) {
    c["global_attn_every_n_layers"] = 2;
    layers = 3;
  }
  if (c.contains("sliding_window_pattern")) {
    c["sliding_window_pattern"] = 2;
    layers = std::max<int64_t>(layers, 2);
  }
  if (c.contains("block_types") && c["block_types"].is_array())
    layers = std::max<int64_t>(layers, static_cast<int64_t>(c["block_types"].size()));
  if (c.contains("attn_layer_period")) {
    c["attn_layer_period"] = 2;
    c["attn_layer_offset"] = 1;
    if (c.contains("expert_layer_period")) {
      c["expert_layer_period"] = 2;
      c["expert_layer_offset"] = 1;
    }
    layers = std::max<int64_t>(layers, 2);
  }
  if (c.contains("decoder_sparse_step")) c["decoder_sparse_step"] = 1;
  for (const auto& k : kLayerIndexLists)
    if (c.contains(k) && c[k].is_array()) layers = std::max<int64_t>(layers, static_cast<int64_t>(c[k].size()));
  for (const auto& k : kLayerIndexLists)
    if (c.contains(k) && c[k].is_array()) {
      json v = json::array();
      const int64_t n = static_cast<int64_t>(c[k].size());
      const int64_t base = k == "out_indices" ? 1 : 0;
      const bool single = k == "global_attn_indexes" || k == "fullatt_block_indexes" || k == "cross_attention_layers";
      if (single) v.push_back(layers - 1);
      else
        for (int64_t i = 0; i < n; ++i) v.push_back(base + i);
      c[k] = v;
    }
  int64_t orig_layers = 0;
  for (auto it = c.begin(); it != c.end(); ++it)
    if (kLayerKeys.count(it.key()) && it.value().is_number_integer() && it.value().get<int64_t>() > 0) {
      orig_layers = std::max(orig_layers, it.value().get<int64_t>());
      it.value() = std::min<int64_t>(it.value().get<int64_t>(), layers);
    }
  if (c.contains("num_sparse_encoder_layers")) c["num_sparse_encoder_layers"] = 1;
  if (c.contains("num_sparse_decoder_layers")) c["num_sparse_decoder_layers"] = 1;
  // Per-layer lists (longformer attention_window) follow the layer count.
  for (auto it = c.begin(); it != c.end(); ++it)
    if (it.value().is_array() && orig_layers > 2 && static_cast<int64_t>(it.value().size()) == orig_layers &&
        !kLayerIndexLists.count(it.key())) {
      json v = json::array();
      for (int64_t i = 0; i < layers; ++i) v.push_back(it.value()[i]);
      it.value() = v;
    }
  if (c.contains("attention_types") && c["attention_types"].is_array()) {
    json at = c["attention_types"];
    for (auto& group : at)
      if (group.is_array() && group.size() == 2 && group[1].is_number_integer()) group[1] = 1;
    c["attention_types"] = at;
  }
  // Width-relative and cross-tower sizes.
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string& k = it.key();
    auto& v = it.value();
    if (kWidthRelative.count(k) && v.is_number_integer() && f > 0)
      v = round_to(v.get<double>() * f, 4, 4);
    else if (kWidthRelative.count(k) && v.is_number_integer())
      v = 32;
    else if (kCrossWidth.count(k) && v.is_number_integer())
      v = 32;
  }
  // Vocabulary and special token ids.
  SpecialIds ids;
  for (auto it = c.begin(); it != c.end(); ++it)
    if (kVocabKeys.count(it.key()) && it.value().is_number_integer()) {
      if (it.key() == "vocab_size") ids.orig_vocab = it.value().get<int64_t>();
      if (it.value().get<int64_t>() > kTinyVocab) it.value() = kTinyVocab;
    }
  if (ids.orig_vocab > kTinyVocab || ids.orig_vocab == 0) {
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (!is_special_id_key(it.key())) continue;
      if (it.value().is_number_integer()) it.value() = ids.map(it.value().get<int64_t>());
      if (it.value().is_array())
        for (auto& x : it.value())
          if (x.is_number_integer()) x = ids.map(x.get<int64_t>());
    }
  }
  // Positions keep their offset (RoBERTa's 514 = 512 + pad + 1 -> 66).
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (!kPositionKeys.count(it.key()) || !it.value().is_number_integer()) continue;
    const int64_t p = it.value().get<int64_t>();
    if (p <= kTinyPositions) continue;
    int64_t pow2 = 1;
    while (pow2 * 2 <= p) pow2 *= 2;
    const int64_t offset = p - pow2;
    it.value() = kTinyPositions + (offset <= 4 ? offset : 0);
  }
  if (c.contains("max_source_positions") && c["max_source_positions"].is_number_integer())
    c["max_source_positions"] = 16;  // whisper: 2x frames of mel input
  // Windows smaller than the test sequences, so windowing is exercised.
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (!kWindowKeys.count(it.key())) continue;
    if (it.value().is_number_integer() && it.value().get<int64_t>() > kTinyWindow) it.value() = kTinyWindow;
    if (it.value().is_array())
      for (auto& x : it.value())
        if (x.is_number_integer() && x.get<int64_t>() > kTinyWindow) x = kTinyWindow;
  }
  // Rope scaling: keep the type and factors, shrink lengths and per-dimension lists.
  if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) {
    auto& rs = c["rope_scaling"];
    if (rs.contains("original_max_position_embeddings")) rs["original_max_position_embeddings"] = 16;
    for (const char* k : {"short_factor", "long_factor"})
      if (rs.contains(k) && rs[k].is_array()) {
        const double first = rs[k].empty() ? 1.0 : rs[k][0].get<double>();
        rs[k] = json(std::vector<double>(static_cast<size_t>(kTinyHeadDim / 2), first));
      }
    if (rs.contains("mrope_section") && rs["mrope_section"].is_array()) rs["mrope_section"] = {1, 1, 2};
  }
  if (c.contains("axes_dims_rope")) c["axes_dims_rope"] = {2, 2, 4};
  // Vision / audio sizes.
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string& k = it.key();
    auto& v = it.value();
    if (kImageKeys.count(k)) {
      if (v.is_number_integer()) v = 32;
      if (v.is_array()) v = {32, 32};
    } else if (k == "patch_size" || k == "patch_sizes_vision") {
      if (v.is_number_integer() && v.get<int64_t>() > 4) v = 8;
      if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[0].get<int64_t>() > 4) v = {8, 8};
    } else if (k == "num_frames") {
      v = 2;
    } else if (k == "num_labels" && v.is_number_integer()) {
      v = std::min<int64_t>(v.get<int64_t>(), 5);
    } else if (kExpertKeys.count(k) && v.is_number_integer()) {
      v = std::min<int64_t>(v.get<int64_t>(), 4);
    } else if (k == "num_experts_per_tok" && v.is_number_integer()) {
      v = std::min<int64_t>(v.get<int64_t>(), 2);
    } else if (k == "expert_capacity") {
      v = 8;
    } else if (k == "conv_dim" && v.is_array()) {
      for (auto& x : v) x = 16;
    } else if (k == "tdnn_dim" && v.is_array()) {
      for (auto& x : v) x = 16;
    } else if (k == "num_conv_pos_embeddings") {
      v = 8;
    } else if (k == "num_conv_pos_embedding_groups") {
      v = 2;
    } else if (k == "num_codevectors_per_group") {
      v = 8;
    } else if (k == "state_size" || k == "mamba_d_state") {
      v = std::min<int64_t>(v.get<int64_t>(), 8);
    } else if (k == "n_groups") {
      v = std::min<int64_t>(v.get<int64_t>(), 2);
    } else if (k == "mamba_dt_rank") {
      v = 4;
    } else if (k == "num_query_tokens" || k == "latent_query_num" || k == "mm_tokens_per_image" ||
               k == "num_queries" || k == "num_detection_tokens" || k == "resampler_n_latents") {
      v = 4;
    } else if (k == "hidden_sizes" && v.is_array()) {
      int64_t w = 8;
      for (auto& x : v) {
        x = w;
        w *= 2;
      }
    } else if ((k == "depths" || k == "depth" || k == "block_repeats" || k == "num_block_repeats") && v.is_array()) {
      for (auto& x : v)
        if (x.is_number_integer()) x = 1;
    } else if (k == "block_sizes" && v.is_array()) {
      for (auto& x : v) x = 1;
    } else if (k == "transformer_layers_per_block" && v.is_array()) {
      for (auto& x : v) x = 1;
    } else if (k == "block_out_channels" && v.is_array()) {
      int64_t w = 16;
      for (auto& x : v) {
        x = w;
        w = std::min<int64_t>(w * 2, 32);
      }
    } else if (k == "norm_num_groups") {
      v = 8;
    } else if (k == "layers_per_block") {
      v = 1;
    } else if (k == "sample_size") {
      v = 8;
    } else if (k == "attention_head_dim") {
      if (v.is_number_integer()) v = std::min<int64_t>(v.get<int64_t>(), 8);
      if (v.is_array())
        for (auto& x : v) x = 2;
    } else if (k == "cross_attention_dim" && v.is_number_integer()) {
      v = 32;
    } else if (k == "addition_time_embed_dim") {
      v = 8;
    } else if (k == "projection_class_embeddings_input_dim") {
      v = 8 * 6 + 32;
    } else if (k == "pos_embed_max_size") {
      v = 16;
    } else if (k == "num_hash_buckets") {
      v = 64;
    } else if (k == "type_vocab_sizes" && v.is_array()) {
      for (auto& x : v) x = std::min<int64_t>(x.get<int64_t>(), 8);
    } else if (k == "num_random_blocks") {
      v = 1;
    } else if (k == "num_landmarks" || k == "segment_means_seq_len") {
      v = 4;
    } else if (k == "conv_kernel_size" && v.is_number_integer() && v.get<int64_t>() > 9) {
      v = 3;
    } else if (k == "neck_hidden_sizes" && v.is_array()) {
      for (auto& x : v) x = 16;
    } else if (k == "embed_dims" && v.is_array()) {
      int64_t w = 8;
      for (auto& x : v) {
        x = w;
        w *= 2;
      }
    } else if (k == "id2label" && v.is_object()) {
      json small = json::object();
      for (int i = 0; i < std::min<int>(static_cast<int>(v.size()), 5); ++i) small[std::to_string(i)] = "LABEL_" + std::to_string(i);
      v = small;
    }
  }
  if (c.contains("embed_dim") && c.contains("depths") && c["depths"].is_array()) {
    // Hierarchical (swin-like) towers: small stage-1 width, stage heads capped at 2.
    c["embed_dim"] = 16;
    if (c.contains("num_heads") && c["num_heads"].is_array())
      for (auto& x : c["num_heads"]) x = std::min<int64_t>(x.get<int64_t>(), 2);
    if (c.contains("num_attention_heads") && c["num_attention_heads"].is_array())
      for (auto& x : c["num_attention_heads"]) x = std::min<int64_t>(x.get<int64_t>(), 2);
  }
  if (c.contains("num_attention_heads") && c["num_attention_heads"].is_array())
    for (auto& x : c["num_attention_heads"]) x = std::min<int64_t>(x.get<int64_t>(), 2);
  // EfficientNet: the classifier reads the top conv, whose width is round_filters(1280).
  if (c.contains("hidden_dim") && c.contains("width_coefficient") && c.contains("depth_divisor") &&
      c["width_coefficient"].is_number() && c["depth_divisor"].is_number_integer()) {
    const double divisor = c["depth_divisor"].get<double>();
    const double ch = 1280.0 * c["width_coefficient"].get<double>();
    double d = std::max(divisor, std::floor(static_cast<double>(static_cast<int64_t>(ch + divisor / 2)) / divisor) * divisor);
    if (d < 0.9 * ch) d += divisor;
    c["hidden_dim"] = static_cast<int64_t>(d);
  }
  // LeViT: the patch embedding always downsamples by 16 (four stride-2 convs); keep patch_size 16 and a 4x4 grid.
  const std::string type = c.contains("model_type") && c["model_type"].is_string() ? c["model_type"].get<std::string>() : "";
  if (type == "levit") {
    if (c.contains("key_dim") && c["key_dim"].is_array())
      for (auto& x : c["key_dim"]) x = 4;
    c["patch_size"] = 16;
    c["image_size"] = 64;
  }
  // mamba2: heads * head_dim == expand * width.
  if (c.contains("n_groups") && c.contains("head_dim") && c.contains("num_heads") && c.contains("expand")) {
    const int64_t inner = c["expand"].get<int64_t>() * c["hidden_size"].get<int64_t>();
    c["head_dim"] = kTinyHeadDim;
    c["num_heads"] = inner / kTinyHeadDim;
    // n_groups must divide the heads; keep it above 1 where the real config has groups.
    const int64_t heads = inner / kTinyHeadDim;
    int64_t g = c["n_groups"].is_number_integer() ? c["n_groups"].get<int64_t>() : 1;
    while (g > 1 && heads % g != 0) --g;
    c["n_groups"] = g;
  }
  for (auto it = c.begin(); it != c.end(); ++it) scale_child(it.value(), depth);
  // Once the towers are scaled: a text decoder cross-attending to the vision tower (BLIP) reads the vision width.
  // (BlipTextConfig defaults encoder_hidden_size to 768, so BLIP configs often leave it out.)
  const bool blip = c.contains("model_type") && c["model_type"] == "blip";
  if (c.contains("text_config") && c["text_config"].is_object() &&
      (blip || c["text_config"].contains("encoder_hidden_size")) && c.contains("vision_config") &&
      c["vision_config"].is_object() && c["vision_config"].contains("hidden_size"))
    c["text_config"]["encoder_hidden_size"] = c["vision_config"]["hidden_size"];
}

}  // namespace

json make_tiny_config(const CatalogEntry& e) {
  json c = e.config;
  // HF defaults the engine falls back to are made explicit first, so the scaling maps them into the tiny
  // vocabulary like any written id (BlipTextConfig: bos [DEC] = 30522 of 30524, sep 102, pad 0).
  if (e.model_type == "blip" && c.contains("text_config") && c["text_config"].is_object()) {
    auto& tc = c["text_config"];
    if (!tc.contains("vocab_size")) tc["vocab_size"] = 30524;
    if (!tc.contains("bos_token_id")) tc["bos_token_id"] = 30522;
    if (!tc.contains("sep_token_id")) tc["sep_token_id"] = 102;
    if (!tc.contains("pad_token_id")) tc["pad_token_id"] = 0;
  }
  scale_object(c, 0);
  c["model_type"] = e.model_type;
  c["architectures"] = json::array({e.architecture});
  c["_ia_tiny_of"] = e.id;
  return c;
}

}  // namespace ia::suite
