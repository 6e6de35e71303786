// image-segmentation, semantic subtask (transformers ImageSegmentationPipeline with SegFormer's
// post_process_semantic_segmentation): logits upsampled bilinearly (align_corners=False) to the image's size,
// argmax per pixel, one {"score": null, "label", "mask"} per label present, in label-id order. The mask is
// the path of a 0/255 PNG written under --output DIR, or without --output a compact run-length form
// {"size": [height, width], "counts": [...]}: row-major runs alternating 0 and 255, starting with 0.
#include <filesystem>

#include "core/error.h"
#include "ops/interpolate.h"
#include "pipelines/text_model.h"
#include "pipelines/vision_model.h"
#include "vision/image_io.h"

namespace ia::pipelines {
namespace {
namespace fs = std::filesystem;

nlohmann::json run_length(const std::vector<int64_t>& seg, int64_t label, int64_t h, int64_t w) {
  nlohmann::json counts = nlohmann::json::array();
  bool on = false;
  int64_t run = 0;
  for (int64_t v : seg) {
    if ((v == label) != on) {
      counts.push_back(run);
      run = 0;
      on = !on;
    }
    ++run;
  }
  counts.push_back(run);
  return {{"size", {h, w}}, {"counts", counts}};
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "image-segmentation";
  const std::string subtask = ctx.param_string("subtask", "semantic");
  IA_CHECK(subtask == "semantic", ErrorKind::Unsupported,
           "{}: subtask '{}' is not supported (SegFormer semantic segmentation only)", task, subtask);
  VisionModel vm = VisionModel::load(ctx);
  const ModelConfig& config = vm.model->config();
  const std::string out_dir = ctx.param_string("output", "");
  if (!out_dir.empty()) fs::create_directories(out_dir);
  nlohmann::json out = nlohmann::json::array();
  for (size_t n = 0; n < inputs.size(); ++n) {
    const vision::ImageU8 img = input_image(task, inputs[n]);
    const auto rows = vm.forward_images(ctx, {img}, {"logits"});
    const Tensor& logits = rows[0][0];  // [labels, h, w]
    const int64_t L = logits.dim(0), H = img.height, W = img.width;
    InterpolateArgs args;
    args.mode = InterpMode::Bilinear;
    args.align_corners = false;
    const std::vector<float> up = host_floats(ops::interpolate(logits.unsqueeze(0), H, W, args));
    std::vector<int64_t> seg(static_cast<size_t>(H * W));
    std::vector<bool> present(static_cast<size_t>(L), false);
    for (int64_t p = 0; p < H * W; ++p) {
      int64_t best = 0;
      for (int64_t l = 1; l < L; ++l)
        if (up[static_cast<size_t>(l * H * W + p)] > up[static_cast<size_t>(best * H * W + p)]) best = l;
      seg[static_cast<size_t>(p)] = best;
      present[static_cast<size_t>(best)] = true;
    }
    nlohmann::json ann = nlohmann::json::array();
    for (int64_t l = 0; l < L; ++l) {
      if (!present[static_cast<size_t>(l)]) continue;
      nlohmann::json mask;
      if (!out_dir.empty()) {
        vision::ImageU8 m;
        m.height = H;
        m.width = W;
        m.pixels.resize(static_cast<size_t>(H * W * 3));
        for (int64_t p = 0; p < H * W; ++p)
          for (int c = 0; c < 3; ++c) m.pixels[static_cast<size_t>(p * 3 + c)] = seg[static_cast<size_t>(p)] == l ? 255 : 0;
        const fs::path file = fs::path(out_dir) / fmt::format("mask-{}-{}.png", n, l);
        vision::write_png(file.string(), m);
        mask = file.string();
      } else {
        mask = run_length(seg, l, H, W);
      }
      ann.push_back({{"score", nullptr}, {"label", id2label(config, l)}, {"mask", mask}});
    }
    out.push_back(std::move(ann));
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(image_segmentation,
                 {"image-segmentation",
                  {},
                  "SegFormer semantic segmentation: one mask per label (PNG files with -o DIR, else run lengths)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForSemanticSegmentation"});
                  },
                  ia::pipelines::run})
