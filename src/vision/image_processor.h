// HF image processors (ViT, DeiT, BEiT, ConvNeXt, CLIP, BiT/DINOv2, MobileNetV2, BLIP, SigLIP, SegFormer) from a
// preprocessor_config.json: Pillow-exact uint8 resize (Resample.c: separable, antialiased, 22-bit fixed-point
// weights, each pass rounded and clipped), center crop, rescale (float64 then float32), normalize (float32).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ia::vision {

// An 8-bit RGB image, HWC.
struct ImageU8 {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;
};

// PIL resample ids, as HF stores them in "resample".
enum class Resample { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

// PIL Image.resize(size=(width, height), resample) on an RGB image.
ImageU8 pil_resize(const ImageU8& img, int64_t height, int64_t width, Resample resample);
// HF center_crop on an HWC uint8 array: top = (H - h) / 2, left = (W - w) / 2 (crop must fit).
ImageU8 center_crop(const ImageU8& img, int64_t height, int64_t width);

struct ImageProcessor {
  std::string hf_class;
  bool do_resize = true, do_center_crop = false, do_rescale = true, do_normalize = true;
  int64_t size_height = 0, size_width = 0, shortest_edge = 0;  // either (height, width) or shortest_edge
  int64_t crop_height = 0, crop_width = 0;
  double crop_pct = 0.0;  // ConvNeXt
  Resample resample = Resample::Bilinear;
  double rescale_factor = 1.0 / 255.0;
  std::vector<float> mean, std;

  // preprocessor_config.json contents; the class comes from image_processor_type / feature_extractor_type
  // unless given. Legacy int sizes are interpreted as each HF class does.
  static ImageProcessor from_json(const nlohmann::json& config, const std::string& hf_class = "");
  // One image -> f32 [3, H, W]; a batch (same output size) -> [N, 3, H, W] ("pixel_values").
  Tensor preprocess(const ImageU8& img) const;
  Tensor preprocess(const std::vector<ImageU8>& imgs) const;
};

}  // namespace ia::vision
