// ResNet (HF modeling_resnet.py): 7x7/2 conv stem + 3x3/2 max pool, stages of basic or bottleneck residual
// layers (conv + BatchNorm eval), global average pool; ResNetModel and ResNetForImageClassification.
#include "models/vision/common.h"

namespace ia::resnet {
namespace {

using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;
using vision::ConvBN;

// ResNetConvLayer: "convolution" (padding k/2, no bias) + "normalization" + activation.
ConvBN conv_layer(const WeightLoader& w, int64_t in, int64_t out, int64_t k, int64_t stride, const std::string& act) {
  ConvBN c;
  c.conv = Conv2d::load(w.pp("convolution"), in, out, k, stride, k / 2, 1, false);
  c.norm = BatchNorm2d::load(w.pp("normalization"), out);
  c.act = act;
  return c;
}

struct Layer {
  bool has_shortcut = false;
  ConvBN shortcut;
  std::vector<ConvBN> convs;
};

class ResNet : public Model {
 public:
  ResNet(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "ResNetForImageClassification";
    if (!classify_) IA_CHECK(cls == "ResNetModel", ErrorKind::Unsupported, "unsupported: resnet/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const int64_t emb = c.dim("embedding_size");
    const auto hidden = vision::int_list(c, "hidden_sizes", 1);
    const auto depths = vision::int_list(c, "depths", 0);
    IA_CHECK(!hidden.empty() && hidden.size() == depths.size(), ErrorKind::Format,
             "{}: hidden_sizes and depths must be non-empty lists of equal length", c.source());
    act_ = c.str_or("hidden_act", "relu");
    ops::activation_op(act_);
    const std::string type = c.str_or("layer_type", "bottleneck");
    IA_CHECK(type == "bottleneck" || type == "basic", ErrorKind::Unsupported, "{}: unsupported layer_type '{}'",
             c.source(), type);
    const bool bottleneck = type == "bottleneck";
    const bool in_bottleneck = c.flag_or("downsample_in_bottleneck", false);
    const bool first_stage = c.flag_or("downsample_in_first_stage", false);
    auto w = weights.base("resnet");
    stem_ = conv_layer(w.pp("embedder").pp("embedder"), channels_, emb, 7, 2, act_);
    int64_t in = emb;
    for (size_t s = 0; s < hidden.size(); ++s) {
      std::vector<Layer> stage;
      for (int64_t d = 0; d < depths[s]; ++d) {
        const int64_t out = hidden[s];
        const int64_t stride = d > 0 ? 1 : (s == 0 ? (first_stage ? 2 : 1) : 2);
        auto l = w.pp("encoder").pp("stages").pp(static_cast<int64_t>(s)).pp("layers").pp(d);
        Layer L;
        L.has_shortcut = in != out || stride != 1;
        if (L.has_shortcut) {
          L.shortcut.conv = Conv2d::load(l.pp("shortcut").pp("convolution"), in, out, 1, stride, 0, 1, false);
          L.shortcut.norm = BatchNorm2d::load(l.pp("shortcut").pp("normalization"), out);
        }
        auto seq = l.pp("layer");
        if (bottleneck) {
          const int64_t r = out / 4;
          L.convs.push_back(conv_layer(seq.pp(0), in, r, 1, in_bottleneck ? stride : 1, "relu"));
          L.convs.push_back(conv_layer(seq.pp(1), r, r, 3, in_bottleneck ? 1 : stride, "relu"));
          L.convs.push_back(conv_layer(seq.pp(2), r, out, 1, 1, ""));
        } else {
          L.convs.push_back(conv_layer(seq.pp(0), in, out, 3, stride, "relu"));
          L.convs.push_back(conv_layer(seq.pp(1), out, out, 3, 1, ""));
        }
        stage.push_back(std::move(L));
        in = out;
      }
      stages_.push_back(std::move(stage));
    }
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier").pp(1), hidden.back(), labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = vision::pixel_values(inputs, channels_, device());
    x = ops::pool2d(stem_(x), Pool2dArgs::make(PoolKind::Max, 3, 2, 1));
    std::vector<Tensor> hs;
    for (const auto& stage : stages_) {
      if (opts.output_hidden_states) hs.push_back(x);
      for (const auto& L : stage) {
        Tensor h = x;
        for (const auto& conv : L.convs) h = conv(h);
        x = ops::activation(ops::add(h, L.has_shortcut ? L.shortcut(x) : x), act_);
      }
    }
    if (opts.output_hidden_states) hs.push_back(x);
    Tensor pooled = ops::adaptive_avg_pool2d(x, 1, 1);
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) {
      Tensor flat = pooled.reshape({pooled.dim(0), -1});
      out.emplace_back("logits", classifier_.defined() ? classifier_(flat) : flat);
    }
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  bool classify_ = false;
  int64_t channels_ = 3;
  std::string act_;
  ConvBN stem_;
  std::vector<std::vector<Layer>> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<ResNet>(c, w, cls);
}

}  // namespace
}  // namespace ia::resnet

IA_REGISTER_MODEL(resnet, {"resnet", "vision", {"ResNetModel", "ResNetForImageClassification"}, ia::resnet::make})
