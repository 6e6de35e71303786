#include "models/diffusion/stable_diffusion.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ops/ops.h"

namespace ia::diffusion {
namespace fs = std::filesystem;

namespace {

// model_index.json must list the component, and its subfolder must exist.
fs::path component(const ModelConfig& index, const fs::path& dir, const std::string& name) {
  IA_CHECK(index.json().contains(name) && index.json()[name].is_array(), ErrorKind::Format,
           "{}: no '{}' component", index.source(), name);
  const fs::path sub = dir / name;
  IA_CHECK(fs::is_directory(sub), ErrorKind::NotFound, "{}: missing subfolder '{}' (listed in model_index.json)",
           sub.string(), name);
  return sub;
}

template <typename T>
std::unique_ptr<T> load_as(const fs::path& sub, const std::string& cls, Device device) {
  LoadOptions lo;
  lo.hf_class = cls;
  lo.device = device;
  std::unique_ptr<Model> m = load_model(sub.string(), lo);
  T* typed = dynamic_cast<T*>(m.get());
  IA_CHECK(typed != nullptr, ErrorKind::Unsupported, "{}: expected a {}", sub.string(), cls);
  m.release();
  return std::unique_ptr<T>(typed);
}

// An HF config field's class name (config.json _class_name / architectures[0]).
std::string config_class(const fs::path& sub) {
  ModelConfig c = ModelConfig::load((sub / "config.json").string());
  auto a = c.architectures();
  return a.empty() ? "" : a[0];
}

}  // namespace

std::unique_ptr<StableDiffusionPipeline> StableDiffusionPipeline::load(const std::string& dir_str, Device device) {
  const fs::path dir(dir_str);
  const fs::path index_path = dir / "model_index.json";
  IA_CHECK(fs::exists(index_path), ErrorKind::NotFound, "{}: no model_index.json (not a diffusers pipeline directory)",
           dir_str);
  const ModelConfig index = ModelConfig::load(index_path.string());
  const std::string cls = index.str_or("_class_name", "");
  IA_CHECK(cls == "StableDiffusionPipeline", ErrorKind::Unsupported,
           "{}: _class_name '{}' is not supported (StableDiffusionPipeline)", index.source(), cls);
  auto p = std::unique_ptr<StableDiffusionPipeline>(new StableDiffusionPipeline());
  p->dir_ = dir_str;
  const fs::path unet_dir = component(index, dir, "unet"), vae_dir = component(index, dir, "vae");
  const fs::path te_dir = component(index, dir, "text_encoder"), tok_dir = component(index, dir, "tokenizer");
  const fs::path sched_dir = component(index, dir, "scheduler");

  p->unet_ = load_as<UNet2DConditionModel>(unet_dir, "UNet2DConditionModel", device);
  p->vae_ = load_as<AutoencoderKL>(vae_dir, "AutoencoderKL", device);
  const std::string te_cls = config_class(te_dir);
  IA_CHECK(te_cls == "CLIPTextModel" || te_cls == "CLIPTextModelWithProjection", ErrorKind::Unsupported,
           "{}: text encoder class '{}' is not supported (CLIPTextModel)", (te_dir / "config.json").string(), te_cls);
  LoadOptions lo;
  lo.hf_class = te_cls;
  lo.device = device;
  p->text_encoder_ = load_model(te_dir.string(), lo);
  const ModelConfig& tc = p->text_encoder_->config();
  const int64_t hidden = tc.dim_or("hidden_size", 512);
  IA_CHECK(hidden == p->unet_->cross_attention_dim(), ErrorKind::Format,
           "{}: hidden_size {} does not match cross_attention_dim {} of {}", tc.source(), hidden,
           p->unet_->cross_attention_dim(), p->unet_->config().source());
  IA_CHECK(p->unet_->addition_embed_type().empty(), ErrorKind::Unsupported,
           "{}: addition_embed_type '{}' needs the SDXL pipeline, which is not supported",
           p->unet_->config().source(), p->unet_->addition_embed_type());
  IA_CHECK(p->unet_->in_channels() == p->vae_->latent_channels(), ErrorKind::Format,
           "{}: in_channels {} does not match latent_channels {} of {}", p->unet_->config().source(),
           p->unet_->in_channels(), p->vae_->latent_channels(), p->vae_->config().source());

  p->tokenizer_ = std::make_unique<text::Tokenizer>(text::Tokenizer::from_dir(tok_dir));
  const auto& raw = p->tokenizer_->config().raw;
  const int64_t max_pos = tc.dim_or("max_position_embeddings", 77);
  p->max_length_ = raw.is_object() && raw.contains("model_max_length") && raw["model_max_length"].is_number_integer()
                       ? std::min<int64_t>(raw["model_max_length"].get<int64_t>(), max_pos)
                       : max_pos;
  const std::string pad = p->tokenizer_->config().pad_token.value_or("<|endoftext|>");
  auto pad_id = p->tokenizer_->token_to_id(pad);
  IA_CHECK(pad_id.has_value(), ErrorKind::Format, "{}: pad token '{}' is not in the vocabulary", tok_dir.string(), pad);
  p->pad_id_ = *pad_id;

  const fs::path sched_cfg = sched_dir / "scheduler_config.json";
  IA_CHECK(fs::exists(sched_cfg), ErrorKind::NotFound, "{}: missing", sched_cfg.string());
  p->scheduler_ = load_scheduler(sched_cfg.string());
  p->sample_size_ = p->unet_->config().dim_or("sample_size", 64);
  return p;
}

Tensor StableDiffusionPipeline::encode_prompt(const std::string& prompt) const {
  text::Encoding enc = tokenizer_->encode(prompt, true);
  std::vector<int64_t> ids(enc.ids.begin(), enc.ids.end());
  if (static_cast<int64_t>(ids.size()) > max_length_) {  // truncation keeps the closing special token
    const int64_t last = ids.back();
    ids.resize(static_cast<size_t>(max_length_));
    ids.back() = last;
  }
  ids.resize(static_cast<size_t>(max_length_), pad_id_);
  TensorMap in;
  in["input_ids"] = Tensor::from_vector<int64_t>(ids, {1, max_length_});
  for (auto& [n, t] : text_encoder_->forward(in, {}))
    if (n == "last_hidden_state") return t;
  fail(ErrorKind::Backend, "{}: text encoder returned no last_hidden_state", dir_);
}

TextToImageResult StableDiffusionPipeline::generate(const TextToImageRequest& req,
                                                    const std::function<void(int64_t, int64_t)>& progress) const {
  const int64_t H = req.height > 0 ? req.height : default_height();
  const int64_t W = req.width > 0 ? req.width : default_height();
  IA_CHECK(H % 8 == 0 && W % 8 == 0, ErrorKind::InvalidArgument,
           "height and width must be divisible by 8, got height {} and width {}", H, W);
  const int64_t f = vae_->scale_factor();
  IA_CHECK(H % f == 0 && W % f == 0, ErrorKind::InvalidArgument,
           "height {} and width {} must be multiples of the VAE scale factor {}", H, W, f);
  IA_CHECK(req.num_inference_steps >= 1, ErrorKind::InvalidArgument, "num_inference_steps must be >= 1, got {}",
           req.num_inference_steps);
  const bool cfg = req.guidance_scale > 1.0;
  Tensor embeds = encode_prompt(req.prompt);
  if (cfg) embeds = ops::concat({encode_prompt(req.negative_prompt), embeds}, 0);

  scheduler_->set_timesteps(req.num_inference_steps);
  TorchGenerator gen(req.seed);
  const Shape shape = {1, unet_->in_channels(), H / f, W / f};
  Tensor latents = ops::mul(gen.randn(shape), Tensor::scalar(scheduler_->init_noise_sigma()));
  const int64_t n = scheduler_->num_steps();
  for (int64_t i = 0; i < n; ++i) {
    Tensor model_in = cfg ? ops::concat({latents, latents}, 0) : latents;
    model_in = scheduler_->scale_model_input(model_in, i);
    const Tensor t = Tensor::from_vector<float>({static_cast<float>(scheduler_->timestep(i))}, {1});
    Tensor noise = unet_->denoise(model_in, t, embeds);
    if (cfg) {  // uncond + guidance * (text - uncond)
      Tensor uncond = noise.slice(0, 0, 1), text = noise.slice(0, 1, 2);
      noise = ops::add(uncond, ops::mul(Tensor::scalar(static_cast<float>(req.guidance_scale)), ops::sub(text, uncond)));
    }
    latents = scheduler_->step(noise, i, latents, &gen);
    if (progress) progress(i + 1, n);
  }
  TextToImageResult r;
  r.latents = latents;
  r.height = H;
  r.width = W;
  Tensor z = ops::div(latents, Tensor::scalar(static_cast<float>(vae_->scaling_factor())));
  if (vae_->shift_factor() != 0.0) z = ops::add(z, Tensor::scalar(static_cast<float>(vae_->shift_factor())));
  Tensor img = vae_->decode(z).contiguous();  // [1, 3, H, W] in [-1, 1]
  // VaeImageProcessor.postprocess: (x / 2 + 0.5).clamp(0, 1); then PIL conversion (x * 255).round() as uint8.
  const std::vector<float> v = img.to_vector<float>();
  const int64_t C = img.dim(1), plane = H * W;
  IA_CHECK(C == 3, ErrorKind::Unsupported, "{}: VAE produces {} channels; only RGB (3) images are written", dir_, C);
  r.image.height = H;
  r.image.width = W;
  r.image.pixels.resize(static_cast<size_t>(plane * 3));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < plane; ++p) {
      const float x = std::clamp(v[static_cast<size_t>(c * plane + p)] / 2.0f + 0.5f, 0.0f, 1.0f);
      r.image.pixels[static_cast<size_t>(p * 3 + c)] = static_cast<uint8_t>(std::nearbyint(x * 255.0f));
    }
  return r;
}

}  // namespace ia::diffusion
