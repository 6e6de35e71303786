// image-feature-extraction (transformers ImageFeatureExtractionPipeline): the vision backbone's
// last_hidden_state per image as a nested list with its batch dimension ([1, tokens, hidden], or [1, C, H, W]
// for convolutional backbones); pool=true returns pooler_output instead.
#include "core/error.h"
#include "pipelines/text_model.h"
#include "pipelines/vision_model.h"

namespace ia::pipelines {
namespace {

nlohmann::json nested(const std::vector<float>& v, const Shape& shape, size_t dim, size_t& at) {
  nlohmann::json a = nlohmann::json::array();
  for (int64_t i = 0; i < shape[dim]; ++i) {
    if (dim + 1 == shape.size()) a.push_back(v[at++]);
    else a.push_back(nested(v, shape, dim + 1, at));
  }
  return a;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "image-feature-extraction";
  VisionModel vm = VisionModel::load(ctx);
  const bool pool = ctx.param_bool("pool", false);
  // A head checkpoint returns its backbone's outputs under "base.".
  std::string name = hidden_state_output(*vm.model);
  if (pool) name = name == "last_hidden_state" ? "pooler_output" : "base.pooler_output";
  std::vector<vision::ImageU8> images;
  for (const auto& in : inputs) images.push_back(input_image(task, in));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : vm.forward_images(ctx, images, {name})) {
    Shape shape = row[0].shape();
    shape.insert(shape.begin(), 1);
    size_t at = 0;
    out.push_back(nested(host_floats(row[0]), shape, 0, at));
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(image_feature_extraction,
                 {"image-feature-extraction",
                  {},
                  "Image embeddings (last_hidden_state, or pooler_output with pool=true) of a vision backbone",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    const ia::ModelSpec* m = ia::find_model_type(c.model_type());
                    return m && m->family == "vision" && ia::model_supports(c.model_type(), cls);
                  },
                  ia::pipelines::run})
