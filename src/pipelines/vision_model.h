// What the image tasks share: a vision model with the HF image processor of its preprocessor_config.json,
// images read from the inputs (a path, or {"image": path}) and batched forward passes over pixel_values.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "pipelines/pipeline.h"
#include "vision/image_processor.h"

namespace ia::pipelines {

struct VisionModel {
  std::string dir;
  std::unique_ptr<Model> model;
  vision::ImageProcessor processor;

  // The image processor of preprocessor_config.json in `dir`.
  static vision::ImageProcessor load_processor(const std::string& dir);
  // Loads preprocessor_config.json and the model (hf_class: "" = config.architectures[0]) from ctx.model_dir.
  static VisionModel load(const RunContext& ctx, const std::string& hf_class = "");
  // Runs the images in batches of ctx.batch_size; returns, per image, the named outputs ([...] without the
  // batch dimension, on the host, f32). `extra` inputs (e.g. text for CLIP) are passed to every batch.
  std::vector<std::vector<Tensor>> forward_images(const RunContext& ctx, const std::vector<vision::ImageU8>& images,
                                                  const std::vector<std::string>& outputs,
                                                  const TensorMap& extra = {}) const;
};

// The image of an input: a path string, or an object's "image" path; read as RGB (vision::read_image, whose
// errors name the file). Every image task reads its inputs through this.
vision::ImageU8 input_image(const std::string& task, const nlohmann::json& input);

}  // namespace ia::pipelines
