#include "models/diffusion/random_pipeline.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "models/model.h"

namespace ia::diffusion {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int64_t int_or(const json& c, const char* k, int64_t fallback) {
  return c.contains(k) && c[k].is_number_integer() ? c[k].get<int64_t>() : fallback;
}

void write_json(const fs::path& p, const json& j) {
  std::ofstream out(p);
  IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot write", p.string());
  out << j.dump(2) << "\n";
}

// Builds the component from its config with synthetic weights and saves what the loader made.
void write_component(const fs::path& sub, const json& config, const std::string& hf_class, const std::string& file,
                     uint64_t seed) {
  fs::create_directories(sub);
  write_json(sub / "config.json", config);
  WeightLoader w = WeightLoader::synthetic(seed);
  w.report().keep_synthesized = true;
  build_model(ModelConfig::load((sub / "config.json").string()), w, hf_class);
  NamedTensors tensors = w.report().synthesized;
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  save_safetensors((sub / file).string(), tensors, {{"format", "pt"}});
}

}  // namespace

json default_vae_config(const json& unet) {
  return {{"_class_name", "AutoencoderKL"},
          {"act_fn", "silu"},
          {"block_out_channels", {16, 32}},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
          {"in_channels", 3},
          {"out_channels", 3},
          {"latent_channels", int_or(unet, "in_channels", 4)},
          {"layers_per_block", 1},
          {"norm_num_groups", 8},
          {"sample_size", 2 * int_or(unet, "sample_size", 8)},
          {"scaling_factor", 0.18215}};
}

json default_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"}, {"beta_start", 0.00085},        {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000}, {"set_alpha_to_one", false},
          {"skip_prk_steps", true},          {"steps_offset", 1},           {"timestep_spacing", "leading"},
          {"prediction_type", "epsilon"}};
}

json default_text_config(const json& unet) {
  int64_t hidden = 32;
  if (unet.contains("cross_attention_dim") && unet["cross_attention_dim"].is_number_integer())
    hidden = unet["cross_attention_dim"].get<int64_t>();
  return {{"model_type", "clip_text_model"}, {"architectures", {"CLIPTextModel"}},
          {"hidden_size", hidden},           {"intermediate_size", 2 * hidden},
          {"num_attention_heads", 2},        {"num_hidden_layers", 2},
          {"vocab_size", 49408},             {"max_position_embeddings", 77},
          {"hidden_act", "quick_gelu"},      {"layer_norm_eps", 1e-5},
          {"bos_token_id", 49406},           {"eos_token_id", 49407},
          {"pad_token_id", 1}};
}

void write_random_pipeline(const std::string& dir_str, const RandomPipelineSpec& spec) {
  const fs::path dir(dir_str);
  fs::create_directories(dir);
  json unet = spec.unet_config;
  unet["_class_name"] = "UNet2DConditionModel";
  const json vae = spec.vae_config.is_null() ? default_vae_config(unet) : spec.vae_config;
  const json text = spec.text_config.is_null() ? default_text_config(unet) : spec.text_config;
  const json sched = spec.scheduler_config.is_null() ? default_scheduler_config() : spec.scheduler_config;
  write_json(dir / "model_index.json",
             {{"_class_name", "StableDiffusionPipeline"},
              {"_diffusers_version", "0.32.2"},
              {"unet", {"diffusers", "UNet2DConditionModel"}},
              {"vae", {"diffusers", "AutoencoderKL"}},
              {"text_encoder", {"transformers", "CLIPTextModel"}},
              {"tokenizer", {"transformers", "CLIPTokenizer"}},
              {"scheduler", {"diffusers", sched.value("_class_name", "PNDMScheduler")}},
              {"safety_checker", {nullptr, nullptr}},
              {"feature_extractor", {nullptr, nullptr}},
              {"requires_safety_checker", false}});
  write_component(dir / "unet", unet, "UNet2DConditionModel", "diffusion_pytorch_model.safetensors", spec.seed);
  write_component(dir / "vae", vae, "AutoencoderKL", "diffusion_pytorch_model.safetensors", spec.seed + 1);
  write_component(dir / "text_encoder", text, "CLIPTextModel", "model.safetensors", spec.seed + 2);
  fs::create_directories(dir / "scheduler");
  write_json(dir / "scheduler" / "scheduler_config.json", sched);
  IA_CHECK(fs::is_directory(spec.tokenizer_dir), ErrorKind::NotFound, "{}: tokenizer directory not found",
           spec.tokenizer_dir);
  fs::create_directories(dir / "tokenizer");
  for (const auto& e : fs::directory_iterator(spec.tokenizer_dir))
    if (e.is_regular_file())
      fs::copy_file(e.path(), dir / "tokenizer" / e.path().filename(), fs::copy_options::overwrite_existing);
}

}  // namespace ia::diffusion
