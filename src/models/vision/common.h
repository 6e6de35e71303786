// Building blocks shared by the vision model files: Conv2d / BatchNorm2d loaded by HF name, image-size and
// label-count config helpers, pixel_values access, and NCHW <-> token layout helpers.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "models/model.h"
#include "ops/batch_norm.h"
#include "ops/conv.h"
#include "ops/ops.h"
#include "ops/pool.h"

namespace ia::vision {

struct Conv2d {
  Tensor weight, bias;
  Conv2dArgs args;
  // `w` points at the nn.Conv2d module; weight [out, in/groups, k, k].
  static Conv2d load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                     int64_t padding = 0, int64_t groups = 1, bool with_bias = true, int64_t dilation = 1);
  Tensor operator()(const Tensor& x) const { return ops::conv2d(x, weight, bias, args); }
  int64_t kernel() const { return weight.dim(2); }
};

struct BatchNorm2d {
  Tensor weight, bias, running_mean, running_var;
  float eps = 1e-5f;
  static BatchNorm2d load(const WeightLoader& w, int64_t channels, double eps = 1e-5);
  Tensor operator()(const Tensor& x) const {
    return ops::batch_norm(x, running_mean, running_var, weight, bias, eps);
  }
};

// Conv2d -> BatchNorm2d -> activation ("" = none), the conv block of the CNN families.
struct ConvBN {
  Conv2d conv;
  BatchNorm2d norm;
  std::string act;
  Tensor operator()(const Tensor& x) const {
    Tensor y = norm(conv(x));
    return act.empty() ? y : ops::activation(y, act);
  }
};

// config[key] as (height, width): an int or a 2-element list.
std::pair<int64_t, int64_t> hw_pair(const ModelConfig& c, const std::string& key);
std::pair<int64_t, int64_t> hw_pair_or(const ModelConfig& c, const std::string& key, int64_t fallback);
// config[key] as a list of ints (each >= min).
std::vector<int64_t> int_list(const ModelConfig& c, const std::string& key, int64_t min = 0);
std::vector<double> number_list(const ModelConfig& c, const std::string& key);
// len(id2label) when present, else num_labels (HF PretrainedConfig), else 2.
int64_t num_labels(const ModelConfig& c);

// inputs["pixel_values"] as contiguous f32 [B, C, H, W] on `device`, checking C.
Tensor pixel_values(const TensorMap& inputs, int64_t num_channels, Device device);

// [B, C, H, W] -> [B, H*W, C] (flatten(2).transpose(1, 2)).
Tensor to_tokens(const Tensor& x);
// [B, H*W, C] -> [B, C, H, W].
Tensor to_nchw(const Tensor& tokens, int64_t height, int64_t width);
// LayerNorm over the channel dim of an NCHW tensor (ConvNeXt "channels_first").
Tensor layer_norm_channels(const Tensor& x, const layers::LayerNorm& norm);
// Mean over the spatial dims: [B, C, H, W] -> [B, C].
Tensor spatial_mean(const Tensor& x);

void append_hidden_states(NamedTensors& out, const std::vector<Tensor>& hs, const std::string& prefix = "");

}  // namespace ia::vision
