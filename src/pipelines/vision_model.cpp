// Image processor + model loading, image inputs and batched pixel_values forward passes.
#include "pipelines/vision_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "pipelines/text_model.h"
#include "vision/image_io.h"

namespace ia::pipelines {
namespace fs = std::filesystem;

vision::ImageProcessor VisionModel::load_processor(const std::string& dir) {
  const fs::path pc = fs::path(dir) / "preprocessor_config.json";
  IA_CHECK(fs::exists(pc), ErrorKind::NotFound, "{}: no preprocessor_config.json (the image processor settings)", dir);
  std::ifstream in(pc);
  auto j = nlohmann::json::parse(in, nullptr, false);
  IA_CHECK(!j.is_discarded() && j.is_object(), ErrorKind::Format, "{}: not a JSON object", pc.string());
  return vision::ImageProcessor::from_json(j);
}

VisionModel VisionModel::load(const RunContext& ctx, const std::string& hf_class) {
  VisionModel m;
  m.dir = ctx.model_dir;
  m.processor = load_processor(ctx.model_dir);
  LoadOptions lo;
  lo.hf_class = hf_class;
  lo.device = ctx.device;
  m.model = load_model(ctx.model_dir, lo);
  return m;
}

std::vector<std::vector<Tensor>> VisionModel::forward_images(const RunContext& ctx,
                                                             const std::vector<vision::ImageU8>& images,
                                                             const std::vector<std::string>& outputs,
                                                             const TensorMap& extra) const {
  std::vector<std::vector<Tensor>> out;
  const size_t bs = static_cast<size_t>(std::max<int64_t>(ctx.batch_size, 1));
  for (size_t lo = 0; lo < images.size(); lo += bs) {
    std::vector<vision::ImageU8> batch(images.begin() + static_cast<long>(lo),
                                       images.begin() + static_cast<long>(std::min(images.size(), lo + bs)));
    TensorMap in = extra;
    in["pixel_values"] = processor.preprocess(batch);
    NamedTensors res = model->forward(in, ForwardOptions{});
    std::vector<Tensor> host;
    for (const auto& name : outputs)
      host.push_back(output_named(res, name, dir).to(Device::cpu()).to(DType::F32).contiguous());
    for (size_t b = 0; b < batch.size(); ++b) {
      std::vector<Tensor> row;
      for (const Tensor& t : host) row.push_back(t.select(0, static_cast<int64_t>(b)).contiguous());
      out.push_back(std::move(row));
    }
  }
  return out;
}

vision::ImageU8 input_image(const std::string& task, const nlohmann::json& input) {
  std::string path;
  if (input.is_string()) path = input.get<std::string>();
  else if (input.is_object() && input.contains("image") && input["image"].is_string()) path = input["image"];
  IA_CHECK(!path.empty(), ErrorKind::InvalidArgument, "{}: expected an image path (or {{\"image\": path}}), got {}",
           task, input.dump().substr(0, 200));
  return vision::read_image(path);
}

}  // namespace ia::pipelines
