// zero-shot-image-classification (transformers ZeroShotImageClassificationPipeline): CLIP / SigLIP dual
// encoders score the image against hypothesis_template.format(label) for each candidate label;
// logits_per_image through softmax (CLIP) or sigmoid (SigLIP, whose text is padded to 64 tokens).
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "pipelines/text_model.h"
#include "pipelines/vision_model.h"

namespace ia::pipelines {
namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "zero-shot-image-classification";
  TextModel tm = TextModel::load(ctx);
  const vision::ImageProcessor processor = VisionModel::load_processor(ctx.model_dir);
  const bool siglip = tm.model->model_type().find("siglip") != std::string::npos;
  const std::string tmpl = ctx.param_string("hypothesis_template", "This is a photo of {}.");
  if (siglip) tm.max_length = std::min<int64_t>(tm.max_length > 0 ? tm.max_length : 64, 64);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    const std::vector<std::string> labels = candidate_labels(ctx, in, task);
    std::vector<text::Encoding> encs;
    for (const auto& l : labels)
      encs.push_back(tm.encode(task, format_hypothesis(tmpl, l, task), nullptr,
                               siglip ? Truncation::LongestFirst : Truncation::None));
    std::vector<const text::Encoding*> rows;
    for (const auto& e : encs) rows.push_back(&e);
    // SigLIP: padding="max_length" (64) and no attention mask, as its tokenizer returns only input_ids.
    TensorMap batch = tm.batch_inputs(rows, siglip ? static_cast<size_t>(tm.max_length) : 0);
    if (siglip) batch.erase("attention_mask");
    batch["pixel_values"] = processor.preprocess(std::vector<vision::ImageU8>{input_image(task, in)});
    const NamedTensors res = tm.model->forward(batch, ForwardOptions{});
    const std::vector<float> logits = host_floats(output_named(res, "logits_per_image", task));
    const std::vector<double> scores = siglip ? sigmoid(logits) : softmax(logits);
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    nlohmann::json r = nlohmann::json::array();
    for (size_t i : order) r.push_back({{"score", scores[i]}, {"label", labels[i]}});
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(zero_shot_image_classification,
                 {"zero-shot-image-classification",
                  {},
                  "CLIP/SigLIP image vs candidate_labels (hypothesis_template \"This is a photo of {}.\")",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return (cls == "CLIPModel" || cls == "SiglipModel") && ia::model_supports(c.model_type(), cls);
                  },
                  ia::pipelines::run})
