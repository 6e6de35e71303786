// MobileNetV2 (HF modeling_mobilenet_v2.py): stem (3x3/2 conv, optional 1x1 expansion, depthwise 3x3, 1x1
// projection) + 16 inverted residual blocks with depth multiplier, TF "SAME" padding (tf_padding), relu6,
// dilation past output_stride, BatchNorm eval; MobileNetV2Model and MobileNetV2ForImageClassification.
#include <cmath>

#include "models/vision/common.h"

namespace ia::mobilenet_v2 {
namespace {

using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;

struct Config {
  int64_t channels = 3, divisible_by = 8, min_depth = 8, output_stride = 32;
  double depth_multiplier = 1.0, expand_ratio = 6.0, eps = 1e-3;
  bool tf_padding = true, first_layer_is_expansion = true, finegrained_output = true;
  std::string act = "relu6";
};

// HF make_divisible.
int64_t make_divisible(double value, int64_t divisor, int64_t min_value) {
  int64_t v = std::max<int64_t>(min_value, static_cast<int64_t>(value + static_cast<double>(divisor) / 2.0) / divisor * divisor);
  if (static_cast<double>(v) < 0.9 * value) v += divisor;
  return v;
}

// Python's int(round(x)) (half to even).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

int64_t apply_depth_multiplier(const Config& k, int64_t channels) {
  return make_divisible(static_cast<double>(py_round(static_cast<double>(channels) * k.depth_multiplier)),
                        k.divisible_by, k.min_depth);
}

// MobileNetV2ConvLayer: conv (TF "SAME" padding computed per input when tf_padding) -> BatchNorm -> activation.
struct ConvLayer {
  Conv2d conv;
  BatchNorm2d norm;
  bool tf_padding = false, activation = true;
  std::string act;

  static ConvLayer load(const WeightLoader& w, const Config& k, int64_t in, int64_t out, int64_t kernel,
                        int64_t stride = 1, int64_t groups = 1, int64_t dilation = 1, bool activation = true) {
    ConvLayer c;
    const int64_t padding = k.tf_padding ? 0 : (kernel - 1) / 2 * dilation;
    c.conv = Conv2d::load(w.pp("convolution"), in, out, kernel, stride, padding, groups, false, dilation);
    c.norm = BatchNorm2d::load(w.pp("normalization"), out, k.eps);
    c.tf_padding = k.tf_padding;
    c.activation = activation;
    c.act = k.act;
    return c;
  }

  Tensor operator()(const Tensor& x) const {
    Conv2dArgs a = conv.args;
    if (tf_padding) {  // HF apply_tf_padding (pads scale with the dilation; the kernel extent does not)
      const int64_t K = conv.kernel();
      auto along = [&](int64_t in, int64_t s) { return std::max<int64_t>(in % s == 0 ? K - s : K - in % s, 0); };
      const int64_t ph = along(x.dim(2), a.stride_h), pw = along(x.dim(3), a.stride_w);
      a.pad_left = pw / 2 * a.dilation_w;
      a.pad_right = (pw - pw / 2) * a.dilation_w;
      a.pad_top = ph / 2 * a.dilation_h;
      a.pad_bottom = (ph - ph / 2) * a.dilation_h;
    }
    Tensor y = norm(ops::conv2d(x, conv.weight, conv.bias, a));
    return activation ? ops::activation(y, act) : y;
  }
};

struct InvertedResidual {
  ConvLayer expand, depthwise, reduce;
  bool residual = false;
  Tensor operator()(const Tensor& x) const {
    Tensor y = reduce(depthwise(expand(x)));
    return residual ? ops::add(x, y) : y;
  }
};

class MobileNetV2 : public Model {
 public:
  MobileNetV2(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "MobileNetV2ForImageClassification";
    if (!classify_) IA_CHECK(cls == "MobileNetV2Model", ErrorKind::Unsupported, "unsupported: mobilenet_v2/{}", cls);
    Config k;
    k.channels = c.dim_or("num_channels", 3, 1);
    k.depth_multiplier = c.number_or("depth_multiplier", 1.0);
    IA_CHECK(k.depth_multiplier > 0, ErrorKind::Format, "{}: depth_multiplier must be > 0", c.source());
    k.divisible_by = c.dim_or("depth_divisible_by", 8, 1);
    k.min_depth = c.dim_or("min_depth", 8, 1);
    k.expand_ratio = c.number_or("expand_ratio", 6.0);
    k.output_stride = c.dim_or("output_stride", 32, 1);
    k.first_layer_is_expansion = c.flag_or("first_layer_is_expansion", true);
    k.finegrained_output = c.flag_or("finegrained_output", true);
    k.tf_padding = c.flag_or("tf_padding", true);
    k.eps = c.number_or("layer_norm_eps", 1e-3);
    k.act = c.str_or("hidden_act", "relu6");
    ops::activation_op(k.act);
    channels_ = k.channels;

    std::vector<int64_t> ch{16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320};
    for (auto& v : ch) v = apply_depth_multiplier(k, v);
    const int64_t strides[16] = {2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1};
    auto w = weights.base("mobilenet_v2");
    auto stem = w.pp("conv_stem");
    const int64_t expanded = apply_depth_multiplier(k, 32);
    first_conv_ = ConvLayer::load(stem.pp("first_conv"), k, k.channels, expanded, 3, 2);
    if (!k.first_layer_is_expansion) stem_expand_ = ConvLayer::load(stem.pp("expand_1x1"), k, expanded, expanded, 1);
    stem_dw_ = ConvLayer::load(stem.pp("conv_3x3"), k, expanded, expanded, 3, 1, expanded);
    stem_reduce_ = ConvLayer::load(stem.pp("reduce_1x1"), k, expanded, ch[0], 1, 1, 1, 1, false);
    int64_t current_stride = 2, dilation = 1;
    for (int64_t i = 0; i < 16; ++i) {
      int64_t stride = strides[i], layer_dilation = 1;
      if (current_stride == k.output_stride) {
        stride = 1;
        layer_dilation = dilation;
        dilation *= strides[i];
      } else {
        current_stride *= stride;
      }
      const int64_t in = ch[i], out = ch[i + 1];
      const int64_t exp = make_divisible(static_cast<double>(py_round(static_cast<double>(in) * k.expand_ratio)),
                                         k.divisible_by, k.min_depth);
      auto l = w.pp("layer").pp(i);
      InvertedResidual r;
      r.residual = stride == 1 && in == out;
      r.expand = ConvLayer::load(l.pp("expand_1x1"), k, in, exp, 1);
      r.depthwise = ConvLayer::load(l.pp("conv_3x3"), k, exp, exp, 3, stride, exp, layer_dilation);
      r.reduce = ConvLayer::load(l.pp("reduce_1x1"), k, exp, out, 1, 1, 1, 1, false);
      layers_.push_back(std::move(r));
    }
    const int64_t out_channels =
        k.finegrained_output && k.depth_multiplier < 1.0 ? 1280 : apply_depth_multiplier(k, 1280);
    conv_1x1_ = ConvLayer::load(w.pp("conv_1x1"), k, ch.back(), out_channels, 1);
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), out_channels, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = first_conv_(vision::pixel_values(inputs, channels_, device()));
    if (stem_expand_.conv.weight.defined()) x = stem_expand_(x);
    x = stem_reduce_(stem_dw_(x));
    std::vector<Tensor> hs;
    for (const auto& L : layers_) {
      x = L(x);
      if (opts.output_hidden_states) hs.push_back(x);
    }
    Tensor last = conv_1x1_(x);
    Tensor pooled = vision::spatial_mean(last);
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", last);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  bool classify_ = false;
  int64_t channels_ = 3;
  ConvLayer first_conv_, stem_expand_, stem_dw_, stem_reduce_, conv_1x1_;
  std::vector<InvertedResidual> layers_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<MobileNetV2>(c, w, cls);
}

}  // namespace
}  // namespace ia::mobilenet_v2

IA_REGISTER_MODEL(mobilenet_v2, {"mobilenet_v2", "vision", {"MobileNetV2Model", "MobileNetV2ForImageClassification"},
                                 ia::mobilenet_v2::make})
