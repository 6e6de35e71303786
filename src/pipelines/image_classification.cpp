// image-classification (transformers ImageClassificationPipeline): the image processor's pixel_values through
// an image classification head; softmax / sigmoid per problem_type (function_to_apply), top_k labels
// (default 5, at most num_labels), best first.
#include <algorithm>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"
#include "pipelines/vision_model.h"

namespace ia::pipelines {
namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "image-classification";
  VisionModel vm = VisionModel::load(ctx);
  const ModelConfig& config = vm.model->config();
  const ClassificationFunction f = classification_function(config, ctx.param_string("function_to_apply", ""));
  const int64_t top_k = ctx.param_int("top_k", 5);
  IA_CHECK(top_k >= 1, ErrorKind::InvalidArgument, "{}: top_k must be >= 1, got {}", task, top_k);
  std::vector<vision::ImageU8> images;
  for (const auto& in : inputs) images.push_back(input_image(task, in));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : vm.forward_images(ctx, images, {"logits"}))
    out.push_back(classify(host_floats(row[0]), config, f, top_k));
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(image_classification,
                 {"image-classification",
                  {},
                  "Image labels from an image classification head (top_k, function_to_apply)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(
                        c, cls, {"ForImageClassification", "ForImageClassificationWithTeacher"});
                  },
                  ia::pipelines::run})
