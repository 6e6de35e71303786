// libFuzzer: HF image processors end to end. Mode 0: the input is an image (JPEG/PNG) decoded and preprocessed by
// each processor kind (fixed height x width resize, shortest edge + center crop, ConvNeXt crop_pct, no resize);
// mode 1: the input is a preprocessor_config.json applied to a small image (sizes, crops, means, resample ids from
// the file must be refused or honoured, never overrun). Outputs are checked for shape and finiteness.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "vision/image_io.h"
#include "vision/image_processor.h"

namespace {

const char* kConfigs[] = {
    R"({"image_processor_type": "ViTImageProcessor", "size": {"height": 24, "width": 24}, "resample": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})",
    R"({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 20}, "crop_size": {"height": 16,
        "width": 16}, "do_center_crop": true, "resample": 3, "image_mean": [0.48, 0.45, 0.40],
        "image_std": [0.26, 0.26, 0.27]})",
    R"({"feature_extractor_type": "ConvNextFeatureExtractor", "size": 24, "crop_pct": 0.875, "resample": 3,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]})",
    R"({"image_processor_type": "BitImageProcessor", "size": {"shortest_edge": 18}, "crop_size": {"height": 14,
        "width": 14}, "do_center_crop": true, "resample": 1, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})",
    R"({"image_processor_type": "ViTImageProcessor", "do_resize": false, "resample": 0,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})",
};

void check(const ia::Tensor& t) {
  if (t.ndim() != 3 || t.dim(0) != 3) __builtin_trap();
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i])) __builtin_trap();
}

ia::vision::ImageU8 small_image() {
  ia::vision::ImageU8 img;
  img.height = 7;
  img.width = 5;
  img.pixels.resize(7 * 5 * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 37);
  return img;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] & 1;
  try {
    if (mode == 0) {
      const ia::vision::ImageU8 img = ia::vision::decode_image(data + 1, size - 1, "fuzz.img", int64_t(1) << 18);
      for (const char* c : kConfigs) {
        const auto p = ia::vision::ImageProcessor::from_json(nlohmann::json::parse(c));
        if (!p.do_resize && img.height * img.width > (1 << 16)) continue;
        try {
          check(p.preprocess(img));
        } catch (const ia::Error&) {  // e.g. an image too small for the crop: refused, as HF refuses it
        }
      }
    } else {
      const nlohmann::json cfg = nlohmann::json::parse(data + 1, data + size, nullptr, false);
      if (cfg.is_discarded() || !cfg.is_object()) return 0;
      const auto p = ia::vision::ImageProcessor::from_json(cfg);
      check(p.preprocess(small_image()));
    }
  } catch (const ia::Error&) {
  }
  return 0;
}
