#include "models/vision/common.h"

namespace ia::vision {

Conv2d Conv2d::load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                    int64_t padding, int64_t groups, bool with_bias, int64_t dilation) {
  IA_CHECK(groups >= 1 && in % groups == 0 && out % groups == 0, ErrorKind::Format,
           "{}: {} -> {} channels not divisible into {} groups", w.prefix(), in, out, groups);
  Conv2d c;
  c.weight = w.get("weight", {out, in / groups, kernel, kernel});
  if (with_bias) c.bias = w.get("bias", {out});
  c.args = Conv2dArgs::make(stride, padding, groups, dilation);
  return c;
}

BatchNorm2d BatchNorm2d::load(const WeightLoader& w, int64_t channels, double eps) {
  BatchNorm2d b;
  b.weight = w.get("weight", {channels});
  b.bias = w.get("bias", {channels});
  b.running_mean = w.get("running_mean", {channels});
  b.running_var = w.get("running_var", {channels});
  b.eps = static_cast<float>(eps);
  return b;
}

std::pair<int64_t, int64_t> hw_pair(const ModelConfig& c, const std::string& key) {
  IA_CHECK(c.has(key), ErrorKind::Format, "{}: missing field '{}'", c.source(), key);
  const auto& v = c.json()[key];
  if (v.is_array()) {
    IA_CHECK(v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() && v[0].get<int64_t>() > 0 &&
                 v[1].get<int64_t>() > 0,
             ErrorKind::Format, "{}: '{}' must be a positive int or [h, w], got {}", c.source(), key, v.dump());
    return {v[0].get<int64_t>(), v[1].get<int64_t>()};
  }
  const int64_t s = c.dim(key);
  return {s, s};
}

std::pair<int64_t, int64_t> hw_pair_or(const ModelConfig& c, const std::string& key, int64_t fallback) {
  return c.has(key) ? hw_pair(c, key) : std::pair<int64_t, int64_t>{fallback, fallback};
}

std::vector<int64_t> int_list(const ModelConfig& c, const std::string& key, int64_t min) {
  IA_CHECK(c.has(key) && c.json()[key].is_array(), ErrorKind::Format, "{}: '{}' must be a list", c.source(), key);
  std::vector<int64_t> out;
  for (const auto& v : c.json()[key]) {
    IA_CHECK(v.is_number_integer() && v.get<int64_t>() >= min, ErrorKind::Format,
             "{}: '{}' must hold integers >= {}, got {}", c.source(), key, min, c.json()[key].dump());
    out.push_back(v.get<int64_t>());
  }
  return out;
}

std::vector<double> number_list(const ModelConfig& c, const std::string& key) {
  IA_CHECK(c.has(key) && c.json()[key].is_array(), ErrorKind::Format, "{}: '{}' must be a list", c.source(), key);
  std::vector<double> out;
  for (const auto& v : c.json()[key]) {
    IA_CHECK(v.is_number(), ErrorKind::Format, "{}: '{}' must hold numbers, got {}", c.source(), key,
             c.json()[key].dump());
    out.push_back(v.get<double>());
  }
  return out;
}

int64_t num_labels(const ModelConfig& c) {
  if (c.has("id2label") && c.json()["id2label"].is_object()) return static_cast<int64_t>(c.json()["id2label"].size());
  return c.dim_or("num_labels", 2, 0);
}

Tensor pixel_values(const TensorMap& inputs, int64_t num_channels, Device device) {
  auto it = inputs.find("pixel_values");
  IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument, "missing input 'pixel_values'");
  const Tensor& p = it->second;
  IA_CHECK(p.ndim() == 4, ErrorKind::InvalidArgument, "pixel_values must be [batch, channels, height, width], got {}",
           p.describe());
  IA_CHECK(p.dim(1) == num_channels, ErrorKind::InvalidArgument,
           "pixel_values has {} channels, the config's num_channels is {}", p.dim(1), num_channels);
  Tensor x = p.to(device);
  if (x.dtype() != DType::F32) x = x.to(DType::F32);
  return x.contiguous();
}

Tensor to_tokens(const Tensor& x) {
  return x.reshape({x.dim(0), x.dim(1), x.dim(2) * x.dim(3)}).transpose(1, 2).contiguous();
}

Tensor to_nchw(const Tensor& tokens, int64_t height, int64_t width) {
  IA_CHECK(tokens.ndim() == 3 && tokens.dim(1) == height * width, ErrorKind::InvalidArgument,
           "to_nchw: {} is not {}x{} tokens", tokens.describe(), height, width);
  return tokens.transpose(1, 2).contiguous().view({tokens.dim(0), tokens.dim(2), height, width});
}

Tensor layer_norm_channels(const Tensor& x, const layers::LayerNorm& norm) {
  Tensor nhwc = x.permute({0, 2, 3, 1}).contiguous();
  return norm(nhwc).permute({0, 3, 1, 2}).contiguous();
}

Tensor spatial_mean(const Tensor& x) {
  return ops::reduce(ReduceOp::Mean, x.reshape({x.dim(0), x.dim(1), x.dim(2) * x.dim(3)}));
}

void append_hidden_states(NamedTensors& out, const std::vector<Tensor>& hs, const std::string& prefix) {
  for (size_t i = 0; i < hs.size(); ++i) out.emplace_back(prefix + "hidden_states." + std::to_string(i), hs[i]);
}

}  // namespace ia::vision
