#include "pipelines/vision_text.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "generation/beam_generate.h"
#include "generation/generation_config.h"
#include "pipelines/generation_task.h"
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

Tensor generate_text(const RunContext& ctx, Model& model, const TensorMap& inputs, int64_t prompt_len,
                     const std::string& task) {
  const GenerationPlan plan = plan_generation(ctx, model.config(), "");
  const auto& g = plan.config;
  IA_CHECK(!g.do_sample.value_or(false), ErrorKind::Unsupported,
           "unsupported: do_sample for {} (greedy and beam search are implemented)", task);
  generation::BeamRequest req = beam_request(plan, task);
  if (g.max_new_tokens) req.base.max_new_tokens = *g.max_new_tokens;
  else req.base.max_new_tokens = g.max_length.value_or(20) - prompt_len;
  req.base.max_new_tokens = std::max<int64_t>(1, req.base.max_new_tokens);
  if (g.pad_token_id) req.base.pad_token_id = *g.pad_token_id;
  else if (!g.eos_token_ids.empty()) req.base.pad_token_id = g.eos_token_ids.front();
  req.processors = g.processors(prompt_len);
  const NamedTensors out = generation::generate_beams(model, inputs, req);
  return out.front().second;
}

std::string decode_generated(const text::Tokenizer& tok, const Tensor& ids, int64_t from, int64_t row) {
  const auto v = ids.select(0, row).contiguous().to_vector<int64_t>();
  std::vector<uint32_t> out;
  for (size_t i = static_cast<size_t>(from); i < v.size(); ++i) out.push_back(static_cast<uint32_t>(v[i]));
  return tok.decode(out, true);
}

}  // namespace ia::pipelines
