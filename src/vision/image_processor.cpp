#include "vision/image_processor.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "vision/image_io.h"

namespace ia::vision {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

double filter_value(Resample r, double x) {
  switch (r) {
    case Resample::Bilinear:
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    case Resample::Bicubic: {
      constexpr double a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    }
    case Resample::Box: return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case Resample::Hamming:
      if (x < 0.0) x = -x;
      if (x == 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x *= M_PI;
      return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
    case Resample::Lanczos: {
      auto sinc = [](double v) {
        if (v == 0.0) return 1.0;
        v *= M_PI;
        return std::sin(v) / v;
      };
      return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
    }
    case Resample::Nearest: break;
  }
  return 0.0;
}

double filter_support(Resample r) {
  switch (r) {
    case Resample::Bilinear: return 1.0;
    case Resample::Bicubic: return 2.0;
    case Resample::Box: return 0.5;
    case Resample::Hamming: return 1.0;
    case Resample::Lanczos: return 3.0;
    case Resample::Nearest: break;
  }
  return 0.0;
}

// Pillow precompute_coeffs + normalize_coeffs_8bpc for one axis.
struct Coeffs {
  int64_t ksize = 0;
  std::vector<int64_t> bounds;  // (xmin, count) per output
  std::vector<int32_t> k;       // fixed-point weights, ksize per output
};

Coeffs precompute(int64_t in_size, double in0, double in1, int64_t out_size, Resample r) {
  Coeffs c;
  const double scale = (in1 - in0) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = filter_support(r) * filterscale;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(out_size * 2);
  c.k.assign(out_size * c.ksize, 0);
  std::vector<double> kk(c.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = filter_value(r, (static_cast<double>(x + xmin) - center + 0.5) * ss);
      kk[x] = w;
      ww += w;
    }
    for (int64_t x = 0; x < c.ksize; ++x) {
      double v = x < xmax ? (ww != 0.0 ? kk[x] / ww : kk[x]) : 0.0;
      c.k[xx * c.ksize + x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                                    : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

ImageU8 nearest_resize(const ImageU8& img, int64_t height, int64_t width) {
  // Pillow's affine nearest: source = floor((dst + 0.5) * in / out).
  ImageU8 out{height, width, std::vector<uint8_t>(height * width * 3)};
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = std::min<int64_t>(
        static_cast<int64_t>((static_cast<double>(y) + 0.5) * img.height / static_cast<double>(height)), img.height - 1);
    for (int64_t x = 0; x < width; ++x) {
      const int64_t sx = std::min<int64_t>(
          static_cast<int64_t>((static_cast<double>(x) + 0.5) * img.width / static_cast<double>(width)), img.width - 1);
      for (int c = 0; c < 3; ++c) out.pixels[(y * width + x) * 3 + c] = img.pixels[(sy * img.width + sx) * 3 + c];
    }
  }
  return out;
}

}  // namespace

ImageU8 pil_resize(const ImageU8& img, int64_t height, int64_t width, Resample r) {
  IA_CHECK(height > 0 && width > 0 && img.height > 0 && img.width > 0 &&
               static_cast<int64_t>(img.pixels.size()) == img.height * img.width * 3,
           ErrorKind::InvalidArgument, "pil_resize: {}x{} image to {}x{}", img.height, img.width, height, width);
  // The output is bounded like a decoded image (Pillow's decompression-bomb limit); found by fuzzing a config
  // whose size asked for a 224224-pixel shortest edge.
  IA_CHECK(width <= kMaxImagePixels / height, ErrorKind::OutOfMemory,
           "pil_resize: a {}x{} output is more than {} pixels (the image size limit): refused", height, width,
           kMaxImagePixels);
  if (height == img.height && width == img.width) return img;
  if (r == Resample::Nearest) return nearest_resize(img, height, width);
  const bool need_h = width != img.width, need_v = height != img.height;
  const Coeffs cv = precompute(img.height, 0.0, static_cast<double>(img.height), height, r);
  const int64_t y_first = cv.bounds[0], y_last = cv.bounds[height * 2 - 2] + cv.bounds[height * 2 - 1];
  ImageU8 cur = img;
  int64_t row0 = 0;  // rows of `cur` start at this source row
  if (need_h) {
    const Coeffs ch = precompute(img.width, 0.0, static_cast<double>(img.width), width, r);
    const int64_t rows = need_v ? y_last - y_first : img.height;
    row0 = need_v ? y_first : 0;
    ImageU8 tmp{rows, width, std::vector<uint8_t>(rows * width * 3)};
    for (int64_t y = 0; y < rows; ++y) {
      const uint8_t* src = img.pixels.data() + (y + row0) * img.width * 3;
      for (int64_t xx = 0; xx < width; ++xx) {
        const int64_t xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1];
        const int32_t* k = ch.k.data() + xx * ch.ksize;
        for (int c = 0; c < 3; ++c) {
          int64_t ss = int64_t(1) << (kPrecisionBits - 1);
          for (int64_t x = 0; x < xmax; ++x) ss += int64_t(src[(x + xmin) * 3 + c]) * k[x];
          tmp.pixels[(y * width + xx) * 3 + c] = clip8(ss);
        }
      }
    }
    cur = std::move(tmp);
  }
  if (!need_v) return cur;
  ImageU8 out{height, width, std::vector<uint8_t>(height * width * 3)};
  for (int64_t yy = 0; yy < height; ++yy) {
    const int64_t ymin = cv.bounds[yy * 2] - row0, ymax = cv.bounds[yy * 2 + 1];
    const int32_t* k = cv.k.data() + yy * cv.ksize;
    for (int64_t x = 0; x < width * 3; ++x) {
      int64_t ss = int64_t(1) << (kPrecisionBits - 1);
      for (int64_t y = 0; y < ymax; ++y) ss += int64_t(cur.pixels[(y + ymin) * width * 3 + x]) * k[y];
      out.pixels[yy * width * 3 + x] = clip8(ss);
    }
  }
  return out;
}

ImageU8 center_crop(const ImageU8& img, int64_t height, int64_t width) {
  IA_CHECK(height > 0 && width > 0, ErrorKind::InvalidArgument, "center_crop: crop size {}x{} is not positive", height,
           width);
  IA_CHECK(height <= img.height && width <= img.width, ErrorKind::Unsupported,
           "center_crop: {}x{} crop of a {}x{} image (padding not supported)", height, width, img.height, img.width);
  const int64_t top = (img.height - height) / 2, left = (img.width - width) / 2;
  ImageU8 out{height, width, std::vector<uint8_t>(height * width * 3)};
  for (int64_t y = 0; y < height; ++y)
    std::copy_n(img.pixels.data() + ((top + y) * img.width + left) * 3, width * 3, out.pixels.data() + y * width * 3);
  return out;
}

namespace {

ImageProcessor parse_processor(const nlohmann::json& j, const std::string& cls_in) {
  ImageProcessor p;
  std::string cls = cls_in;
  if (cls.empty()) cls = j.value("image_processor_type", std::string());
  if (cls.empty()) {
    cls = j.value("feature_extractor_type", std::string());
    const auto pos = cls.find("FeatureExtractor");
    if (pos != std::string::npos) cls = cls.substr(0, pos) + "ImageProcessor";
  }
  p.hf_class = cls;
  // Class defaults (HF __init__ signatures).
  const std::vector<float> imagenet_std_mean{0.5f, 0.5f, 0.5f}, imagenet_mean{0.485f, 0.456f, 0.406f},
      imagenet_std{0.229f, 0.224f, 0.225f}, clip_mean{0.48145466f, 0.4578275f, 0.40821073f},
      clip_std{0.26862954f, 0.26130258f, 0.27577711f};
  bool square = true;  // legacy int size -> (size, size); else -> shortest_edge
  int64_t size = 224, crop = 224;
  if (cls == "ViTImageProcessor") {
    p.resample = Resample::Bilinear, p.mean = p.std = imagenet_std_mean;
  } else if (cls == "DeiTImageProcessor") {
    size = 256, p.do_center_crop = true, p.resample = Resample::Bicubic, p.mean = imagenet_mean, p.std = imagenet_std;
  } else if (cls == "BeitImageProcessor") {
    size = 256, p.do_center_crop = true, p.resample = Resample::Bicubic, p.mean = p.std = imagenet_std_mean;
  } else if (cls == "ConvNextImageProcessor") {
    square = false, p.crop_pct = 224.0 / 256.0, p.resample = Resample::Bilinear, p.mean = imagenet_mean,
    p.std = imagenet_std;
  } else if (cls == "CLIPImageProcessor" || cls == "BitImageProcessor") {
    square = false, p.do_center_crop = true, p.resample = Resample::Bicubic, p.mean = clip_mean, p.std = clip_std;
  } else if (cls == "MobileNetV2ImageProcessor" || cls == "MobileNetV1ImageProcessor") {
    square = false, size = 256, p.do_center_crop = true, p.resample = Resample::Bilinear,
    p.mean = p.std = imagenet_std_mean;
  } else if (cls == "BlipImageProcessor") {
    size = 384, p.resample = Resample::Bicubic, p.mean = clip_mean, p.std = clip_std;
  } else if (cls == "SiglipImageProcessor") {
    p.resample = Resample::Bicubic, p.mean = p.std = imagenet_std_mean;
  } else if (cls == "SegformerImageProcessor") {
    size = 512, p.resample = Resample::Bilinear, p.mean = imagenet_mean, p.std = imagenet_std;
  } else {
    fail(ErrorKind::Unsupported, "unsupported image processor '{}'", cls);
  }
  p.do_resize = j.value("do_resize", p.do_resize);
  p.do_center_crop = j.value("do_center_crop", p.do_center_crop);
  p.do_rescale = j.value("do_rescale", p.do_rescale);
  p.do_normalize = j.value("do_normalize", p.do_normalize);
  if (j.contains("resample") && j["resample"].is_number_integer()) {
    const int r = j["resample"].get<int>();
    IA_CHECK(r >= 0 && r <= 5, ErrorKind::Unsupported, "unsupported resample {}", r);
    p.resample = static_cast<Resample>(r);
  }
  if (j.contains("rescale_factor") && j["rescale_factor"].is_number()) p.rescale_factor = j["rescale_factor"];
  if (j.contains("crop_pct") && j["crop_pct"].is_number()) p.crop_pct = j["crop_pct"];
  auto floats = [&](const char* key, std::vector<float>& dst) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (j[key].is_number()) dst.assign(3, j[key].get<float>());
    else dst = j[key].get<std::vector<float>>();
    IA_CHECK(dst.size() == 3, ErrorKind::Format, "{}: expected 3 values", key);
  };
  floats("image_mean", p.mean);
  floats("image_std", p.std);
  // size: int (legacy) or {"height","width"} / {"shortest_edge"}.
  const nlohmann::json s = j.contains("size") && !j["size"].is_null() ? j["size"] : nlohmann::json(size);
  if (s.is_number_integer()) {
    if (square) p.size_height = p.size_width = s.get<int64_t>();
    else p.shortest_edge = s.get<int64_t>();
  } else if (s.contains("shortest_edge")) {
    p.shortest_edge = s["shortest_edge"].get<int64_t>();
    IA_CHECK(!s.contains("longest_edge"), ErrorKind::Unsupported, "size.longest_edge is not supported");
  } else {
    IA_CHECK(s.contains("height") && s.contains("width"), ErrorKind::Format, "unsupported size {}", s.dump());
    p.size_height = s["height"].get<int64_t>();
    p.size_width = s["width"].get<int64_t>();
  }
  const nlohmann::json cs = j.contains("crop_size") && !j["crop_size"].is_null() ? j["crop_size"] : nlohmann::json(crop);
  if (cs.is_number_integer()) {
    p.crop_height = p.crop_width = cs.get<int64_t>();
  } else {
    p.crop_height = cs.at("height").get<int64_t>();
    p.crop_width = cs.at("width").get<int64_t>();
  }
  return p;
}

}  // namespace

ImageProcessor ImageProcessor::from_json(const nlohmann::json& j, const std::string& cls) {
  // A field of the wrong JSON type or a missing key is a Format error naming the JSON library's reason (found by
  // fuzzing: crop_size {"height": 3} escaped as nlohmann::json::out_of_range).
  try {
    return parse_processor(j, cls);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::Format, "preprocessor_config.json: {}", e.what());
  }
}

Tensor ImageProcessor::preprocess(const ImageU8& input) const {
  ImageU8 img = input;
  if (do_resize) {
    if (shortest_edge > 0) {
      int64_t target = shortest_edge;
      bool crop_after = false;
      if (crop_pct > 0.0) {  // ConvNeXt: shortest edge int(size / crop_pct), crop (size, size); >= 384 warps
        if (shortest_edge < 384) {
          target = static_cast<int64_t>(static_cast<double>(shortest_edge) / crop_pct);
          crop_after = true;
        } else {
          img = pil_resize(img, shortest_edge, shortest_edge, resample);
          target = 0;
        }
      }
      if (target > 0) {  // get_resize_output_image_size(default_to_square=False)
        const int64_t s = std::min(img.height, img.width), l = std::max(img.height, img.width);
        const double long_edge = static_cast<double>(target) * static_cast<double>(l) / static_cast<double>(s);
        IA_CHECK(long_edge < static_cast<double>(kMaxImagePixels), ErrorKind::OutOfMemory,
                 "resize: shortest edge {} makes the {}x{} image's long edge {:.0f} pixels: refused", target,
                 img.height, img.width, long_edge);
        const int64_t new_long = static_cast<int64_t>(long_edge);
        const int64_t h = img.height <= img.width ? target : new_long, w = img.height <= img.width ? new_long : target;
        img = pil_resize(img, h, w, resample);
      }
      if (crop_after) img = center_crop(img, shortest_edge, shortest_edge);
    } else {
      img = pil_resize(img, size_height, size_width, resample);
    }
  }
  if (do_center_crop && crop_pct == 0.0) img = center_crop(img, crop_height, crop_width);
  const int64_t H = img.height, W = img.width;
  Tensor out = Tensor::empty({3, H, W}, DType::F32);
  float* o = out.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < H * W; ++i) {
      float v = static_cast<float>(img.pixels[i * 3 + c]);
      if (do_rescale) v = static_cast<float>(static_cast<double>(img.pixels[i * 3 + c]) * rescale_factor);
      if (do_normalize) v = (v - mean[c]) / std[c];
      o[c * H * W + i] = v;
    }
  return out;
}

Tensor ImageProcessor::preprocess(const std::vector<ImageU8>& imgs) const {
  IA_CHECK(!imgs.empty(), ErrorKind::InvalidArgument, "preprocess: no images");
  std::vector<Tensor> outs;
  for (const auto& im : imgs) outs.push_back(preprocess(im).unsqueeze(0));
  for (const auto& t : outs)
    IA_CHECK(t.shape() == outs[0].shape(), ErrorKind::InvalidArgument, "preprocess: images resize to different sizes");
  Tensor out = Tensor::empty({static_cast<int64_t>(outs.size()), 3, outs[0].dim(2), outs[0].dim(3)}, DType::F32);
  for (size_t i = 0; i < outs.size(); ++i)
    std::copy_n(outs[i].data<float>(), outs[i].numel(), out.data<float>() + i * outs[i].numel());
  return out;
}

}  // namespace ia::vision
