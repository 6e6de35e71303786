// text-to-image: diffusers' StableDiffusionPipeline on a diffusers-layout directory, one PNG per prompt.
// Parameters (diffusers' names): negative_prompt, num_inference_steps, guidance_scale, seed, height, width, output.
// A progress bar goes to stderr; the result names the PNG written.

#include <cstdio>
#include <filesystem>

#include "models/diffusion/stable_diffusion.h"
#include "pipelines/pipeline.h"
#include "vision/image_io.h"

namespace ia::pipelines {
namespace {

namespace fs = std::filesystem;

std::string prompt_of(const nlohmann::json& in) {
  if (in.is_string()) return in.get<std::string>();
  IA_CHECK(in.is_object() && in.contains("text") && in["text"].is_string(), ErrorKind::InvalidArgument,
           "text-to-image: each input must be a prompt string or {{\"text\": ...}}, got {}", in.dump());
  return in["text"].get<std::string>();
}

// out.png for the first prompt, out-1.png, out-2.png, ... for the next ones.
std::string output_path(const std::string& base, size_t i) {
  if (i == 0) return base;
  fs::path p(base);
  return (p.parent_path() / (p.stem().string() + "-" + std::to_string(i) + p.extension().string())).string();
}

void draw_progress(int64_t step, int64_t total) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(total, 1));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\rdenoising [%s] %lld/%lld", bar.c_str(), static_cast<long long>(step),
               static_cast<long long>(total));
  if (step == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string output = ctx.param_string("output", "");
  IA_CHECK(!output.empty(), ErrorKind::InvalidArgument, "text-to-image: give the PNG to write with -o/--output");
  auto pipe = diffusion::StableDiffusionPipeline::load(ctx.model_dir, ctx.device);
  diffusion::TextToImageRequest req;
  req.negative_prompt = ctx.param_string("negative_prompt", "");
  req.num_inference_steps = ctx.param_int("num_inference_steps", 50);
  req.guidance_scale = ctx.param_double("guidance_scale", 7.5);
  req.seed = static_cast<uint64_t>(ctx.param_int("seed", 0));
  req.height = ctx.param_int("height", 0);
  req.width = ctx.param_int("width", 0);
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    req.prompt = prompt_of(inputs[i]);
    auto r = pipe->generate(req, draw_progress);
    const std::string path = output_path(output, i);
    vision::write_png(path, r.image);
    out.push_back({{"image", path}, {"height", r.height}, {"width", r.width}, {"seed", req.seed},
                   {"num_inference_steps", req.num_inference_steps}, {"guidance_scale", req.guidance_scale}});
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(text_to_image, {"text-to-image",
                                 {},
                                 "diffusers Stable Diffusion: prompt -> PNG (-o), --steps/--guidance/--seed/--height/--width",
                                 [](const ia::ModelConfig& c, const std::string& cls) {
                                   return c.has("_class_name") && cls.size() > 8 &&
                                          cls.compare(cls.size() - 8, 8, "Pipeline") == 0;
                                 },
                                 ia::pipelines::run})
