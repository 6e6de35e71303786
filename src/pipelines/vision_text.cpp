#include "pipelines/vision_text.h"

#include <filesystem>
#include <fstream>

#include "generation/generation_config.h"
#include "vision/image_io.h"

namespace ia::pipelines {
namespace fs = std::filesystem;

VisionTextModel VisionTextModel::load(const RunContext& ctx) {
  const fs::path dir(ctx.model_dir);
  const fs::path pp = dir / "preprocessor_config.json";
  std::ifstream in(pp);
  IA_CHECK(in.good(), ErrorKind::NotFound, "{}: no preprocessor_config.json (the image processor settings)",
           ctx.model_dir);
  const nlohmann::json pj = nlohmann::json::parse(in, nullptr, false);
  IA_CHECK(pj.is_object(), ErrorKind::Format, "{}: not a JSON object", pp.string());
  LoadOptions lo;
  lo.device = ctx.device;
  auto model = load_model(ctx.model_dir, lo);
  IA_CHECK(model->can_generate(), ErrorKind::Unsupported, "unsupported: {}/{} cannot generate text",
           model->model_type(), model->hf_class());
  return VisionTextModel{std::move(model), text::Tokenizer::from_dir(dir), vision::ImageProcessor::from_json(pj)};
}

GenerationRequest generation_request(const RunContext& ctx, int64_t prompt_len) {
  IA_CHECK(ctx.param_int("num_beams", 1) == 1, ErrorKind::Unsupported,
           "unsupported: num_beams {} for vision-language generation (greedy only)", ctx.param_int("num_beams", 1));
  IA_CHECK(!ctx.param_bool("do_sample", false), ErrorKind::Unsupported,
           "unsupported: do_sample for vision-language generation (greedy only)");
  const auto g = generation::GenerationConfig::load_dir(ctx.model_dir);
  GenerationRequest req;
  if (ctx.has_param("max_new_tokens")) req.max_new_tokens = ctx.param_int("max_new_tokens", 20);
  else if (g.max_new_tokens) req.max_new_tokens = *g.max_new_tokens;
  else req.max_new_tokens = std::max<int64_t>(0, g.max_length.value_or(20) - prompt_len);
  IA_CHECK(req.max_new_tokens >= 0, ErrorKind::InvalidArgument, "max_new_tokens must be >= 0, got {}",
           req.max_new_tokens);
  req.eos_token_ids = g.eos_token_ids;
  if (g.pad_token_id) req.pad_token_id = *g.pad_token_id;
  else if (!g.eos_token_ids.empty()) req.pad_token_id = g.eos_token_ids.front();
  return req;
}

std::string decode_generated(const text::Tokenizer& tok, const Tensor& ids, int64_t from) {
  const auto v = ids.to_vector<int64_t>();
  std::vector<uint32_t> out;
  for (size_t i = static_cast<size_t>(from); i < v.size(); ++i) out.push_back(static_cast<uint32_t>(v[i]));
  return tok.decode(out, true);
}

}  // namespace ia::pipelines
